from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db


class AuditEvent(db.Model):
    """One security-relevant act. Append-only: nothing in the app updates or deletes a row."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Who did it; None for someone not signed in (a failed sign-in) or the command line.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # The e-mail as it was at the time (or the one attempted at a failed sign-in): never a password.
    actor_email: Mapped[str] = mapped_column(String(254), default="")
    # The unit the act concerns: its admins (and central admins) see the event. None: central only.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    kind: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")

    actor = relationship("User")
    unit = relationship("Unit")

    __table_args__ = (
        Index("ix_audit_event_at_id", "at", "id"),
        Index("ix_audit_event_unit_at", "unit_id", "at"),
        Index("ix_audit_event_kind_at", "kind", "at"),
    )


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _append_only(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise RuntimeError("audit events are append-only")
