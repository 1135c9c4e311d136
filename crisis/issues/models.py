from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

CHANNELS = ("x", "instagram", "tiktok", "facebook", "youtube", "whatsapp", "online_news", "lapor", "hotline", "other")
SENTIMENTS = ("negative", "mixed", "neutral", "positive")
MAX_COUNT = 2_000_000_000  # reach and engagement: 32-bit columns; no post reaches more people than this
# What practitioners weigh beyond the numbers (crisis/issues/risk.py gives each its points).
SENSITIVITIES = ("sara", "politics", "children", "deaths", "security")
NEWS_TIERS = ("none", "local", "regional", "national")
ACTORS = ("influencer", "legislator", "religious_figure", "institution_head")
EMERGENCY_STATUSES = ("none", "alert", "response", "transition")  # siaga, tanggap, transisi darurat
# The issue's risk_inputs: news_tier (NEWS_TIERS), news_articles (articles counted), sensitivities
# (SENSITIVITIES), actors (who posts or is named: ACTORS), whatsapp_groups and whatsapp_forwards
# (estimates), and for disasters deaths, displaced and emergency_status (EMERGENCY_STATUSES).
RISK_INPUT_DEFAULTS: dict[str, Any] = {
    "news_tier": "none",
    "news_articles": 0,
    "sensitivities": (),
    "actors": (),
    "whatsapp_groups": 0,
    "whatsapp_forwards": 0,
    "deaths": 0,
    "displaced": 0,
    "emergency_status": "none",
}
ISSUE_STATES = ("new", "monitoring", "escalated", "dismissed", "merged")
ANONYMISED = "[anonymised]"  # what a reporter's name and contact become after the retention period


class Issue(db.Model):
    """What a duty officer logs: something emerging that may grow into an incident."""

    __tablename__ = "issue"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    logged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reach: Mapped[int] = mapped_column(default=0)  # people who saw it (views, followers reached)
    engagement: Mapped[int] = mapped_column(default=0)  # likes + shares + comments
    sentiment: Mapped[str] = mapped_column(String(16), default="neutral")
    mainstream_pickup: Mapped[bool] = mapped_column(default=False)  # carried by news media (news_tier != none)
    # What practitioners weigh beyond the numbers, one JSON object (RISK_INPUT_DEFAULTS; read and
    # written through the properties of the same names below): one column rather than nine keeps the
    # issue INSERT, the busiest write, a statement the driver keeps converted (tests/test_load_paths.py).
    risk_inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The member of the public behind a complaint: personal data, anonymised after retention.
    source_person: Mapped[str] = mapped_column(String(200), default="")
    source_contact: Mapped[str] = mapped_column(String(200), default="")
    # When the retention sweep (crisis/system/retention.py) replaced the two fields above by a marker.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="new")
    state_reason: Mapped[str] = mapped_column(Text, default="")  # why dismissed
    risk_score: Mapped[int] = mapped_column(default=0)
    suggested_severity: Mapped[int] = mapped_column(default=1)
    risk_factors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
    # Optimistic concurrency: a stale writer gets a conflict instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)

    unit = relationship("Unit")
    logged_by = relationship("User")
    evidence: Mapped[list[IssueEvidence]] = relationship(back_populates="issue", order_by="IssueEvidence.id")
    notes: Mapped[list[MonitoringNote]] = relationship(back_populates="issue", order_by="MonitoringNote.id")
    # The incident this issue was escalated into (the incident holds the link).
    incident = relationship("Incident", primaryjoin="Issue.id == Incident.issue_id", uselist=False, viewonly=True)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_issue_unit_state_created", "unit_id", "state", "created_at"),
        # The duplicate check's candidates: a unit's newest issues of the last 48 hours, read
        # backwards and stopping at 500, not every issue of the window sorted, and on PostgreSQL
        # from the index alone (what it reads is included).
        Index(
            "ix_issue_unit_created",
            "unit_id",
            "created_at",
            postgresql_include=["id", "state", "updated_at", "title"],
        ),
        # The console's riskiest open issues of a whole country: read from the top, twenty rows.
        Index(
            "ix_issue_open_risk",
            "risk_score",
            "created_at",
            "id",
            postgresql_where=text("state IN ('new', 'monitoring')"),
            sqlite_where=text("state IN ('new', 'monitoring')"),
        ),
    )

    @property
    def reporter_anonymised(self) -> bool:
        """The reporter's data went at the end of the retention period and nothing new was entered since."""
        return self.anonymised_at is not None and {self.source_person, self.source_contact} <= {"", ANONYMISED}


def _risk_input(name: str) -> property:
    def get(issue: Issue) -> Any:
        inputs = issue.risk_inputs or {}
        if name in inputs:
            return inputs[name]
        if name == "news_tier":  # issues logged before the tiers: the yes/no pickup was national news
            return "national" if issue.mainstream_pickup else "none"
        default = RISK_INPUT_DEFAULTS[name]
        return list(default) if isinstance(default, tuple) else default

    def set_(issue: Issue, value: Any) -> None:
        issue.risk_inputs = {**(issue.risk_inputs or {}), name: list(value) if isinstance(value, tuple) else value}

    return property(get, set_, doc=f"risk_inputs[{name!r}]")


for _name in RISK_INPUT_DEFAULTS:
    setattr(Issue, _name, _risk_input(_name))


class IssueEvidence(db.Model):
    __tablename__ = "issue_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Normalised form (scheme/host lower-case, no tracking parameters) for duplicate detection.
    url_key: Mapped[str] = mapped_column(String(2000), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    issue: Mapped[Issue] = relationship(back_populates="evidence")


class MonitoringNote(db.Model):
    """A timestamped observation while an issue is monitored, with the figures at that moment."""

    __tablename__ = "monitoring_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text)
    reach: Mapped[int | None] = mapped_column()
    engagement: Mapped[int | None] = mapped_column()
    sentiment: Mapped[str | None] = mapped_column(String(16))  # the tone at the time, if judged
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    issue: Mapped[Issue] = relationship(back_populates="notes")
    author = relationship("User")
