"""Repeating stages (`cycle: {every: 6h, until: stage_complete}`): a stage such as the disaster
situation updates runs in windows of `every` from its start, until the team completes it (when the
emergency status ends), or, with `until: emergency_ends`, while the incident's emergency status is in
force: ending the status ends the window it falls in and opens no other until a status is declared
again. Each window is a CycleRun, measured on its own: a situation update published
inside the window makes it on time; a window that ends without one is missed (its deadline timer,
a `stage_due` timer numbered by the cycle, tells the commander). Completing the stage ends the
window it is in, which is neither on time nor missed. A severity change applies from the next window.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

if TYPE_CHECKING:  # crisis.incidents.models imports this module for its table
    from crisis.incidents.models import StageRun


class CycleRun(db.Model):
    """One window of a repeating stage."""

    __tablename__ = "cycle_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_run_id: Mapped[int] = mapped_column(ForeignKey("stage_run.id"), index=True)
    number: Mapped[int] = mapped_column()  # 0 for the first window
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the update that made it on time
    # The emergency status ended inside it (`until: emergency_ends`): no window follows it.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("stage_run_id", "number"),)

    def outcome(self, now: datetime, ended_at: datetime | None = None) -> str:
        """`on_time`, `missed`, `open` (still running) or `ended` (the stage completed inside it)."""
        if self.updated_at is not None:
            return "on_time"
        ended_at = self.ended_at or ended_at
        if ended_at is not None and ended_at < self.due_at:
            return "ended"
        return "missed" if now >= self.due_at else "open"


def cycle(*, session: Session, run: StageRun, number: int) -> CycleRun | None:
    return session.scalar(select(CycleRun).where(CycleRun.stage_run_id == run.id, CycleRun.number == number))


def open_cycle(*, session: Session, run: StageRun, number: int, started_at: datetime) -> CycleRun:
    """The window `number` of a repeating stage, written once; its deadline at the severity now.
    The stage's own deadline (due_at) follows the window."""
    existing = cycle(session=session, run=run, number=number)
    if existing is not None:
        return existing
    spec = run.spec.cycle
    assert spec is not None  # nosec B101  # type narrowing: only cycle stages have cycles
    window = CycleRun(
        stage_run_id=run.id,
        number=number,
        started_at=started_at,
        due_at=started_at + spec.every_for(run.incident.severity),
    )
    session.add(window)
    run.due_at = window.due_at
    run.target_seconds = int((window.due_at - started_at).total_seconds())
    session.flush()
    return window


def cycles(*, session: Session, run: StageRun) -> list[CycleRun]:
    return list(session.scalars(select(CycleRun).where(CycleRun.stage_run_id == run.id).order_by(CycleRun.number)))


def current_cycle(*, session: Session, run: StageRun, at: datetime) -> CycleRun | None:
    """The window `at` falls in, if it was opened and not ended with the emergency status."""
    return session.scalar(
        select(CycleRun).where(
            CycleRun.stage_run_id == run.id,
            CycleRun.started_at <= at,
            CycleRun.due_at > at,
            CycleRun.ended_at.is_(None),
        )
    )
