"""Working days: a stage target written `5wd` ends on the fifth working day after its start, at the
same local clock time, in the owning unit's zone. Saturdays, Sundays, Indonesia's public holidays
(the `holidays` package) and the collective leave days (cuti bersama) an administrator enters per
year are skipped. Cuti bersama changes every year by joint ministerial decree, so it is a table here,
not a rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import Date, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crisis import clock
from crisis.audit import service as audit
from crisis.dbtypes import UTCDateTime
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.i18n import lazy_gettext as _l
from crisis.playbooks.spec import MAX_WORKING_DAYS, Span, WorkingDays


class CollectiveLeave(db.Model):
    """A collective leave day (cuti bersama): not a working day for any unit."""

    __tablename__ = "collective_leave"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


@lru_cache(maxsize=16)
def public_holidays(year: int) -> frozenset[date]:
    """Indonesia's public holidays of a year, from the `holidays` package."""
    return frozenset(holidays.country_holidays("ID", years=year))


def collective_leave(session: Session, first: date, last: date) -> set[date]:
    return set(session.scalars(select(CollectiveLeave.day).where(CollectiveLeave.day.between(first, last))))


def is_working_day(day: date, leave: set[date] | frozenset[date] = frozenset()) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year) and day not in leave


def add_working_days(
    start: datetime, days: int, *, zone: str, session: Session, leave: set[date] | None = None
) -> datetime:
    """The moment `days` working days after `start`: the same local clock time on the `days`-th
    working day after the start's local date (a start on a weekend or holiday counts from the next
    working day the same way). `leave`: the collective leave days, when the caller has them already
    (a generator planning thousands of stages reads them once)."""
    local = start.astimezone(ZoneInfo(zone))
    if leave is None:
        # Generous window for the lookup: even at a third of days off it holds `days` working days.
        leave = collective_leave(session, local.date(), local.date() + timedelta(days=days * 3 + 30))
    day, counted = local.date(), 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, leave):
            counted += 1
    end = datetime.combine(day, local.timetz())
    return end.astimezone(start.tzinfo)


def add_span(start: datetime, span: Span, *, zone: str, session: Session) -> datetime:
    """`start` plus a timedelta, or plus working days in the zone."""
    if isinstance(span, WorkingDays):
        return add_working_days(start, span.days, zone=zone, session=session)
    return start + span


def add_leave(*, session: Session, day: date, name: str, actor: Any = None) -> CollectiveLeave:
    """Enter a collective leave day; refused for a day already entered or a weekend (it is no working
    day anyway) and without a name. Audited: it moves deadlines counted in working days."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": str(_l("Name the collective leave day, e.g. Cuti bersama Natal."))})
    if len(name) > 200:
        raise ValidationFailed({"name": str(_l("The name is at most 200 characters."))})
    if day.weekday() >= 5:
        raise ValidationFailed({"day": str(_l("This day is a Saturday or Sunday: it is not a working day anyway."))})
    if session.scalar(select(CollectiveLeave).where(CollectiveLeave.day == day)) is not None:
        raise ValidationFailed({"day": str(_l("This day is already entered as collective leave."))})
    leave = CollectiveLeave(day=day, name=name)
    session.add(leave)
    session.flush()
    audit.record(
        session=session,
        kind="collective_leave.added",
        actor=actor,
        target=f"day:{day.isoformat()}",
        detail={"name": name},
    )
    return leave


def remove_leave(*, session: Session, day: date, actor: Any = None) -> bool:
    leave = session.scalar(select(CollectiveLeave).where(CollectiveLeave.day == day))
    if leave is None:
        return False
    session.delete(leave)
    session.flush()
    audit.record(
        session=session,
        kind="collective_leave.removed",
        actor=actor,
        target=f"day:{day.isoformat()}",
        detail={"name": leave.name},
    )
    return True


def list_leave(*, session: Session, year: int | None = None) -> list[CollectiveLeave]:
    query = select(CollectiveLeave).order_by(CollectiveLeave.day)
    if year is not None:
        query = query.where(CollectiveLeave.day.between(date(year, 1, 1), date(year, 12, 31)))
    return list(session.scalars(query))


__all__ = ["MAX_WORKING_DAYS", "CollectiveLeave", "add_leave", "add_span", "add_working_days", "is_working_day"]
