from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

# Added to an event's data when retention removed personal values from it (crisis.system.retention).
RETENTION_FLAG = "retention_anonymised_at"


class TimelineEvent(db.Model):
    """Append-only record of what happened, who did it and when."""

    __tablename__ = "timeline_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor = relationship("User")

    __table_args__ = (Index("ix_timeline_subject", "subject_type", "subject_id", "occurred_at"),)


@event.listens_for(TimelineEvent, "before_update")
@event.listens_for(TimelineEvent, "before_delete")
def _append_only(mapper: Any, connection: Any, target: TimelineEvent) -> None:
    raise RuntimeError("timeline events are append-only")
