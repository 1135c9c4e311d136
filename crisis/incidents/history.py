"""What happened on an incident, as its page shows it: comments, timeline events, change stamps."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, selectinload

from crisis.auth.models import User
from crisis.incidents.models import (
    Comment,
    Incident,
)
from crisis.timeline import service as timeline
from crisis.timeline.models import RETENTION_FLAG, TimelineEvent


def comments(*, session: Session, incident: Incident) -> list[Comment]:
    return list(
        session.scalars(
            select(Comment)
            .where(Comment.incident_id == incident.id)
            .options(selectinload(Comment.author))
            .order_by(Comment.created_at, Comment.id)  # equal times: the order written
        )
    )


def events(*, session: Session, incident: Incident) -> list[Any]:
    return timeline.list_for_subject(session=session, subject_type="incident", subject_id=incident.id)


def page_comments(*, session: Session, incident: Incident) -> list[Any]:
    """comments() as the page shows them: plain rows (id, incident_id, author_id, author_name, body,
    created_at), not objects; building 200 of those cost more than rendering them."""
    return list(session.execute(_page_comments_query(), {"incident_id": incident.id}))


@functools.cache
def _page_comments_query() -> Select[Any]:
    """Built once, the incident a parameter: building it (and its cache key) for every page cost a
    third of running it."""
    return (
        select(
            Comment.id,
            Comment.incident_id,
            Comment.author_id,
            User.name.label("author_name"),
            Comment.body,
            Comment.created_at,
        )
        .join(User, User.id == Comment.author_id)
        .where(Comment.incident_id == bindparam("incident_id"))
        .order_by(Comment.created_at, Comment.id)  # equal times: the order written
    )


def page_events(*, session: Session, incident: Incident) -> list[Any]:
    """events() as the page shows them: plain rows with the actor's name (actor_name, None when no one
    acted), in the same order. Without their data (decoding 200 JSON documents that the page's kept
    rows do not need cost more than reading them): `retention_flag` is the one value of it a kept
    row's key needs, and `event_data` reads the rest for the rows to render."""
    return list(session.execute(_page_events_query(), {"incident_id": incident.id}))


@functools.cache
def _page_events_query() -> Select[Any]:
    """Built once, as _page_comments_query."""
    return (
        select(
            TimelineEvent.id,
            TimelineEvent.subject_type,
            TimelineEvent.subject_id,
            TimelineEvent.kind,
            TimelineEvent.occurred_at,
            TimelineEvent.actor_id,
            User.name.label("actor_name"),
            TimelineEvent.data[RETENTION_FLAG].as_string().label("retention_flag"),
        )
        .outerjoin(User, User.id == TimelineEvent.actor_id)
        .where(TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == bindparam("incident_id"))
        .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
    )


def event_data(*, session: Session, event_ids: list[int]) -> dict[int, Any]:
    """The data of these timeline events, by id."""
    if not event_ids:
        return {}
    rows = session.execute(select(TimelineEvent.id, TimelineEvent.data).where(TimelineEvent.id.in_(event_ids)))
    return dict(rows.all())


def page_stamp(*, incident: Incident, events: list[Any]) -> str:
    """change_stamp() of a page that read all of the incident's events (page_events): its newest is
    among them, so no query is needed."""
    return f"{incident.version}.{max((event.id for event in events), default=0)}"


def change_stamp(*, session: Session, incident: Incident) -> str:
    """Changes whenever anything on the incident page would: its version and newest timeline event."""
    from sqlalchemy import func

    # max() over the incident's own events, read through ix_timeline_subject. Written as a plain
    # max(id) with the filter, PostgreSQL walks the primary key backwards from the newest event of
    # all and filters: 5,500 rows for the newest incident of a busy database, all of them for an old one.
    events = (
        select(TimelineEvent.id)
        .where(TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == incident.id)
        .offset(0)  # a fence: keeps the planner from turning max() into that backward walk
        .subquery()
    )
    newest = session.scalar(select(func.max(events.c.id)))
    return f"{incident.version}.{newest or 0}"
