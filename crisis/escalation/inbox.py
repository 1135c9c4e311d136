"""Reading notices: a person's in-app inbox, an incident's notices and timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from crisis import clock
from crisis.auth.models import User
from crisis.escalation.models import Timer
from crisis.incidents import service as incidents
from crisis.incidents.presenters import Describer
from crisis.notify import words
from crisis.notify.models import Notice


def notices_for_incident(*, session: Session, incident_id: int) -> list[Notice]:
    return list(
        session.scalars(
            select(Notice).where(Notice.incident_id == incident_id).order_by(Notice.queued_at.desc(), Notice.id.desc())
        )
    )


def list_for_incident(*, session: Session, user: User, incident_id: int) -> list[Notice]:
    """Whoever sees the incident (its units' tree, or a unit involved in it) sees its notices, as on
    the incident page."""
    incidents.get(session=session, user=user, incident_id=incident_id)  # 404 out of sight
    return notices_for_incident(session=session, incident_id=incident_id)


def inbox(*, session: Session, user: User, limit: int = 100) -> list[Notice]:
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.recipient_user_id == user.id, Notice.channel == "inapp")
            .order_by(Notice.queued_at.desc(), Notice.id.desc())
            .limit(limit)
        )
    )


def unread_count(session: Session, user: Any) -> int:
    """Unread in-app notices of a person (0 for anonymous visitors): the badge in the header."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return (
        session.scalar(
            select(func.count(Notice.id)).where(
                Notice.recipient_user_id == user.id, Notice.channel == "inapp", Notice.read_at.is_(None)
            )
        )
        or 0
    )


def mark_read(*, session: Session, user: User, notice_id: int | None = None, now: datetime | None = None) -> int:
    """Mark one (or every) in-app notice of this person read."""
    conditions = [Notice.recipient_user_id == user.id, Notice.channel == "inapp", Notice.read_at.is_(None)]
    if notice_id is not None:
        conditions.append(Notice.id == notice_id)
    result = session.execute(
        update(Notice)
        .where(*conditions)
        .values(read_at=now or clock.now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def timers_for_incident(*, session: Session, incident_id: int) -> list[Timer]:
    return list(
        session.scalars(select(Timer).where(Timer.incident_id == incident_id).order_by(Timer.fire_at, Timer.id))
    )


# --- notices as people read them ---------------------------------------------------------------


@dataclass(frozen=True)
class NoticeLine:
    """One notice in sentences (crisis.notify.words), for the inbox and an incident's notices table."""

    notice: Notice
    about: str
    to: str
    fallback: str
    channel: str
    status: str
    technical: str  # the recorded error, for administrators


def notice_lines(*, session: Session, notices: list[Notice], lang: str, zone: str) -> list[NoticeLine]:
    """The notices in the reader's language and zone; stage titles from each incident's snapshot and
    units' and people's names looked up once per incident."""
    describers: dict[int, Describer] = {}
    lines = []
    for notice in notices:
        describer = describers.get(notice.incident_id)
        if describer is None:
            describer = describers[notice.incident_id] = Describer(
                notice.incident, lang=lang, zone=zone, session=session, time_format="d MMM yyyy HH:mm"
            )
        names = describer.names()
        lines.append(
            NoticeLine(
                notice=notice,
                about=words.about(notice, names),
                to=words.recipient(notice, names),
                fallback=words.fallback_sentence(notice, names),
                channel=names.notice_channel(notice.channel),
                status=words.status(notice, names),
                technical=notice.last_error if notice.status != "cancelled" else "",
            )
        )
    return lines
