from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from crisis import clock
from crisis.timeline.models import TimelineEvent

_APPEND = insert(TimelineEvent.__table__)


def _row(
    *,
    kind: str,
    subject_type: str,
    subject_id: int,
    actor_id: int | None = None,
    unit_id: int | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "actor_id": actor_id,
        "unit_id": unit_id,
        "data": data or {},
        "occurred_at": now or clock.now(),
    }


def record(*, session: Session, **event: Any) -> TimelineEvent:
    """Add an event (kind, subject_type, subject_id; actor_id, unit_id, data, now) to the session."""
    added = TimelineEvent(**_row(**event))
    session.add(added)
    return added


def append(*, session: Session, **event: Any) -> None:
    """record() as one INSERT sent at once, for busy paths that need no event object back: the
    session's unit of work (about half a millisecond per flush) is not involved."""
    session.connection().execute(_APPEND, _row(**event))


def event_row(**event: Any) -> dict[str, Any]:
    """An event as `append_many` writes it (the arguments of `record`, without the session)."""
    return _row(**event)


def append_many(*, session: Session, events: list[dict[str, Any]]) -> None:
    """Rows from `event_row` in one statement, in their order (ids ascending), outside the unit of work."""
    if events:
        session.connection().execute(_APPEND, events)


def list_for_subject(*, session: Session, subject_type: str, subject_id: int) -> list[TimelineEvent]:
    return list(
        session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.subject_type == subject_type, TimelineEvent.subject_id == subject_id)
            .options(selectinload(TimelineEvent.actor))  # one query for the people, not one lookup per event
            .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
        )
    )
