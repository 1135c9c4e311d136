from __future__ import annotations

from datetime import datetime

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
