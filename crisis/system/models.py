from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db


class SchedulerHeartbeat(db.Model):
    """The last tick of each scheduler process; /readyz reads the newest."""

    __tablename__ = "scheduler_heartbeat"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ticks: Mapped[int] = mapped_column(default=0)


class WorkerCheck(db.Model):
    """A round trip through the task queue: written by the web side, completed by a worker."""

    __tablename__ = "worker_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(200))


class RetentionRun(db.Model):
    """One pass of the personal-data retention sweep: what it did, for the record. `day` is set by
    the scheduler's daily run (UNIQUE: two schedulers run it once a day) and empty for a CLI run."""

    __tablename__ = "retention_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date | None] = mapped_column(unique=True)
    trigger: Mapped[str] = mapped_column(String(16))  # scheduler | cli
    retention_years: Mapped[int] = mapped_column()
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)  # issues logged before this were in scope
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issues_anonymised: Mapped[int] = mapped_column(default=0)
    events_redacted: Mapped[int] = mapped_column(default=0)
    answers_redacted: Mapped[int] = mapped_column(default=0)  # stored Idempotency-Key answers
