"""The evaluation's rows: per-unit KPI targets, monthly reports, and the precomputed measures the
dashboard reads (one row per incident, and one per shared key message and unit).

The precomputed rows are written only by crisis.reports.service.refresh_measures from the
definitions in crisis.reviews.definitions (in SQL: crisis.reports.measures); an incident's rows are
recomputed when its timeline moved past `stamp` (every change to what is measured writes a timeline
event on the incident: a statement approved, a publication recorded, a unit involved) or when `now`
leaves [valid_from, valid_until): a review or action item falling due changes what is judged
without any event.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

REPORT_STATES = ("building", "built", "sent", "failed")


class KpiTarget(db.Model):
    """A head's target for their unit (and everything below it): e.g. 90 % of holding statements
    within 60 minutes is measure `time_to_holding_statement`, threshold 3600 s, share 0.9."""

    __tablename__ = "kpi_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    measure: Mapped[str] = mapped_column(String(40))
    threshold_seconds: Mapped[int | None] = mapped_column()  # time measures only
    comparison: Mapped[str] = mapped_column(String(2), default="<=")
    target_share: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    unit = relationship("Unit")

    __table_args__ = (
        UniqueConstraint("unit_id", "measure"),
        CheckConstraint("comparison IN ('<=','>=')", name="comparison"),
        CheckConstraint("target_share > 0 AND target_share <= 1", name="share"),
    )


class MonthlyReport(db.Model):
    """The evaluation of one unit's subtree for one calendar month (in the unit's zone), as a PDF.
    UNIQUE (unit_id, month): two schedulers racing to create it build it once."""

    __tablename__ = "monthly_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    month: Mapped[date] = mapped_column(Date)  # the first day of the month reported on
    status: Mapped[str] = mapped_column(String(16), default="building")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    pdf: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    pdf_size: Mapped[int] = mapped_column(default=0)

    unit = relationship("Unit")

    __table_args__ = (
        UniqueConstraint("unit_id", "month", name="uq_monthly_report_unit_month"),
        CheckConstraint("status IN ('building','built','sent','failed')", name="status"),
    )


# What the dashboard's per-unit, per-week and headline groupings read besides the index keys.
MEASURED_INCLUDE = [
    "state",
    "severity",
    "playbook_key",
    "tta",
    "ths",
    "tfs",
    "ttr",
    "st_judged",
    "st_met",
    "st_breached",
    "rv_judged",
    "rv_on_time",
    "ai_judged",
    "ai_on_time",
    "esc_sent",
    "esc_acknowledged",
]


class IncidentMeasure(db.Model):
    """The measures of one incident (cancelled ones too: counted, never measured). Times in
    seconds from the incident's start; counts of what is judged and what was on time."""

    __tablename__ = "incident_measure"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column()
    playbook_key: Mapped[str] = mapped_column(String(64))
    severity: Mapped[int] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tta: Mapped[float | None] = mapped_column(Float)  # time to acknowledge
    ths: Mapped[float | None] = mapped_column(Float)  # time to holding statement
    tfs: Mapped[float | None] = mapped_column(Float)  # time to first statement
    ttr: Mapped[float | None] = mapped_column(Float)  # time to resolve
    # Computed in Python after the row (crisis.reports.service.practice_measures), from the review's
    # definitions: time to detect (issue first seen → incident opened), the update intervals judged
    # against the SOP's cadence and those kept, and for a review with both entered, the people the
    # hoax and the clarification reached.
    ttd: Mapped[float | None] = mapped_column(Float)
    upd_judged: Mapped[int] = mapped_column(default=0, server_default="0")
    upd_kept: Mapped[int] = mapped_column(default=0, server_default="0")
    hoax_reach: Mapped[int | None] = mapped_column(BigInteger)
    clar_reach: Mapped[int | None] = mapped_column(BigInteger)
    st_judged: Mapped[int] = mapped_column(default=0)
    st_met: Mapped[int] = mapped_column(default=0)
    st_breached: Mapped[int] = mapped_column(default=0)
    rv_judged: Mapped[int] = mapped_column(default=0)
    rv_on_time: Mapped[int] = mapped_column(default=0)
    ai_judged: Mapped[int] = mapped_column(default=0)
    ai_on_time: Mapped[int] = mapped_column(default=0)
    esc_sent: Mapped[int] = mapped_column(default=0)
    esc_acknowledged: Mapped[int] = mapped_column(default=0)
    # Journalists' questions judged (answered, declined, or open when the incident ended) and those
    # answered by their target (crisis.reviews.definitions, rate media_on_time).
    mq_judged: Mapped[int] = mapped_column(default=0, server_default="0")
    mq_on_time: Mapped[int] = mapped_column(default=0, server_default="0")
    # Its stage runs, judged: the keys in position order (space-separated), and one bit per position
    # (1 << position) in each mask (all 0 when cancelled: counted, never measured). The per-stage
    # compliance and the stage x unit heat map add up these bits per position over ~50,000 incident
    # rows instead of reading ~250,000 stage runs.
    stage_keys: Mapped[str] = mapped_column(Text, default="", server_default="")
    stages_judged: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    stages_met: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    stages_breached: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The definition it was computed by (crisis.reports.measures.DEFINITION): an older one is recomputed.
    definition: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The newest timeline event of the incident and how many it had when computed (a count also
    # catches an event that committed after a newer one).
    stamp: Mapped[int] = mapped_column(default=0)
    events: Mapped[int] = mapped_column(default=0)
    # The figures hold for `now` in [valid_from, valid_until): the due times of pending reviews and
    # open action items on either side of the moment they were computed for (NULL: unbounded).
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Covering indexes (PostgreSQL INCLUDE; plain indexes elsewhere): the dashboard's groupings read
        # only these, in the order they group by, so no grouping sorts ~50,000 rows or reads the wide
        # rows (crisis.reports.dashboard). The columns: those filtered on and aggregated.
        Index("ix_incident_measure_started_cover", "started_at", postgresql_include=["unit_id", *MEASURED_INCLUDE]),
        Index("ix_incident_measure_unit_cover", "unit_id", "started_at", postgresql_include=MEASURED_INCLUDE),
        Index(
            "ix_incident_measure_unit_stages",
            "unit_id",
            "stage_keys",
            postgresql_include=[
                "started_at",
                "state",
                "severity",
                "playbook_key",
                "stages_judged",
                "stages_met",
                "stages_breached",
            ],
        ),
        Index("ix_incident_measure_playbook_key", "playbook_key"),
        Index("ix_incident_measure_severity", "severity"),
        Index("ix_incident_measure_stamp", "stamp"),
        Index("ix_incident_measure_valid_from", "valid_from"),
        Index("ix_incident_measure_valid_until", "valid_until"),
        Index("ix_incident_measure_definition", "definition"),
    )


class KeyMessageLag(db.Model):
    """One approved key-messages statement and one unit other than the incident's owner that shares
    it: involved in the incident (asked to publish) or recorded a publication of it. `lag`: seconds
    from the statement's approval to the unit's first publication (NULL: not published). Carries
    its incident's filter columns so the dashboard's lag section reads this table alone."""

    __tablename__ = "key_message_lag"

    statement_id: Mapped[int] = mapped_column(ForeignKey("statement.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(primary_key=True)  # the unit that shares the statement
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    owner_unit_id: Mapped[int] = mapped_column()  # the incident's unit: what the unit filter applies to
    playbook_key: Mapped[str] = mapped_column(String(64))
    severity: Mapped[int] = mapped_column()
    incident_state: Mapped[str] = mapped_column(String(16))
    incident_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    involved: Mapped[int] = mapped_column(SmallInteger, default=0)  # 1: the unit is involved in the incident
    lag: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_key_message_lag_started_at", "incident_started_at"),
        # The dashboard's grouping per unit reads this alone, in unit order (no sort, no wide rows).
        Index(
            "ix_key_message_lag_unit_cover",
            "unit_id",
            postgresql_include=[
                "incident_started_at",
                "incident_state",
                "owner_unit_id",
                "severity",
                "playbook_key",
                "involved",
                "lag",
            ],
        ),
    )
