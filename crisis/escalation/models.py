"""The deadline engine's rows: timers, one per future deadline or escalation step (the clock lives in
the database). The notices they produce are crisis.notify.models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

# inject: an exercise scenario's timed inject (crisis.exercises), step_index = its position.
# media_query: a journalist\'s question past its answer target (crisis.escalation.media).
TIMER_KINDS = ("stage_due", "escalation_step", "update_due", "review_due", "inject", "media_query")
TIMER_STATES = ("pending", "claimed", "fired", "cancelled")


UNACKED_STEP = "kind = 'escalation_step' AND state = 'fired' AND acknowledged_at IS NULL"


class Timer(db.Model):
    """One future deadline or escalation step. `pending` -> `claimed` -> `fired` | `cancelled`."""

    __tablename__ = "timer"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    stage_run_id: Mapped[int | None] = mapped_column(ForeignKey("stage_run.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # A journalist's question past its answer target (kind media_query).
    media_query_id: Mapped[int | None] = mapped_column(ForeignKey("media_query.id"), index=True)
    step_index: Mapped[int | None] = mapped_column()  # escalation steps: position in the stage's policy
    repeat_index: Mapped[int] = mapped_column(default=0)  # 0: the step itself; 1..max: its repeats
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(String(32), default="")
    attempt: Mapped[int] = mapped_column(default=0)  # how many times it was claimed
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # someone acknowledged this step

    incident = relationship("Incident")
    stage_run = relationship("StageRun")

    __table_args__ = (
        CheckConstraint(
            "kind IN ('stage_due','escalation_step','update_due','review_due','inject','media_query')", name="kind"
        ),
        CheckConstraint("state IN ('pending','claimed','fired','cancelled')", name="state"),
        # The claim query: pending timers, oldest first. Partial, so fired history never slows it.
        Index(
            "ix_timer_pending_fire_at",
            "fire_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # Claims whose lease ran out (a lost message, a killed worker).
        Index(
            "ix_timer_claimed_at",
            "claimed_at",
            postgresql_where=text("state = 'claimed'"),
            sqlite_where=text("state = 'claimed'"),
        ),
        # Escalations nobody has acknowledged, by incident (the situation room).
        Index(
            "ix_timer_unacked_step",
            "incident_id",
            postgresql_where=text(UNACKED_STEP),
            sqlite_where=text(UNACKED_STEP),
        ),
    )

    @property
    def lateness_seconds(self) -> float | None:
        if self.fired_at is None:
            return None
        return (self.fired_at - self.fire_at).total_seconds()
