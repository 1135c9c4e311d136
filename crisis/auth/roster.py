"""The duty roster: who is on duty in a unit at a moment, and the shifts its supervisors plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.auth.models import Membership, Role, User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.timefmt import format_local
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import DutyShift, Unit

# A shift is planned for at most two weeks at a time.
MAX_SHIFT = timedelta(days=14)


def list_shifts(*, session: Session, actor: User, unit_id: int, start: datetime, end: datetime) -> list[DutyShift]:
    units.get(session=session, user=actor, unit_id=unit_id)
    return list(
        session.scalars(
            select(DutyShift)
            .where(DutyShift.unit_id == unit_id, DutyShift.ends_at > start, DutyShift.starts_at < end)
            .order_by(DutyShift.starts_at)
        )
    )


def on_duty(*, session: Session, unit_id: int, at: datetime) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(DutyShift, DutyShift.user_id == User.id)
            .where(DutyShift.unit_id == unit_id, DutyShift.starts_at <= at, DutyShift.ends_at > at, User.active)
            .order_by(User.name)
        )
    )


def on_duty_by_unit(*, session: Session, unit_ids: list[int], at: datetime) -> dict[int, list[User]]:
    """on_duty() of several units in one query: unit id → its people on duty (units with nobody are absent)."""
    found: dict[int, list[User]] = {}
    if not unit_ids:
        return found
    rows = session.execute(
        select(DutyShift.unit_id, User)
        .join(DutyShift, DutyShift.user_id == User.id)
        .where(
            DutyShift.unit_id.in_(sorted(set(unit_ids))),
            DutyShift.starts_at <= at,
            DutyShift.ends_at > at,
            User.active,
        )
        .order_by(User.name)
    )
    for unit_id, user in rows:
        found.setdefault(unit_id, []).append(user)
    return found


def create_shift(
    *,
    session: Session,
    actor: User,
    unit_id: int,
    user_id: int,
    starts_at: datetime,
    ends_at: datetime,
    note: str = "",
) -> DutyShift:
    unit = units.get(session=session, user=actor, unit_id=unit_id)
    if unit.id not in units.roster_scope(session=session, user=actor):
        raise NotPermitted(_l("Only supervisors, heads and administrators plan the duty roster."))
    errors: dict[str, str] = {}
    user = session.get(User, user_id)
    if user is None or not user.active:
        errors["user_id"] = str(_l("No such active user."))
    elif not any(m.unit_id == unit.id for m in user.memberships):
        errors["user_id"] = str(_l("This person has no role in the unit."))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        errors["starts_at"] = str(_l("Give the time with its zone."))
    elif ends_at <= starts_at:
        errors["ends_at"] = str(_l("The shift must end after it starts."))
    elif ends_at - starts_at > MAX_SHIFT:
        errors["ends_at"] = str(_l("A shift lasts at most 14 days."))
    if len(note or "") > 200:
        errors["note"] = str(_l("At most 200 characters."))
    if not errors:
        clash = _first_clash(session=session, user_id=user_id, starts_at=starts_at, ends_at=ends_at)
        if clash is not None:
            errors["starts_at"] = clash_message(clash, user=user, zone=unit.timezone)
    if errors:
        raise ValidationFailed(errors)
    return _add(
        session=session, actor=actor, unit=unit, user_id=user_id, starts_at=starts_at, ends_at=ends_at, note=note
    )


def _add(
    *, session: Session, actor: User | None, unit: Unit, user_id: int, starts_at: datetime, ends_at: datetime, note: str
) -> DutyShift:
    shift = DutyShift(unit_id=unit.id, user_id=user_id, starts_at=starts_at, ends_at=ends_at, note=note or "")
    session.add(shift)
    session.flush()
    timeline.record(
        session=session,
        kind="duty_shift.created",
        subject_type="unit",
        subject_id=unit.id,
        actor_id=actor.id if actor else None,
        unit_id=unit.id,
        data={
            "shift_id": shift.id,
            "user_id": user_id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return shift


def _first_clash(*, session: Session, user_id: int, starts_at: datetime, ends_at: datetime) -> DutyShift | None:
    """A shift of the same person (in any unit: one person is in one place) overlapping the window."""
    return session.scalar(
        select(DutyShift)
        .where(DutyShift.user_id == user_id, DutyShift.starts_at < ends_at, DutyShift.ends_at > starts_at)
        .order_by(DutyShift.starts_at)
        .limit(1)
    )


def clash_message(clash: DutyShift, *, user: User, zone: str) -> str:
    """'Ani is already on duty in 33.74 Kota Semarang from 7 Des 2026 07:00 WIB to 7 Des 2026 19:00 WIB.'"""
    return str(
        _l(
            "%(person)s is already on duty in %(unit)s from %(start)s to %(end)s.",
            person=user.name,
            unit=f"{clash.unit.code} {clash.unit.name}",
            start=format_local(clash.starts_at, zone),
            end=format_local(clash.ends_at, zone),
        )
    )


def delete_shift(*, session: Session, actor: User, shift_id: int) -> None:
    shift = session.get(DutyShift, shift_id)
    if shift is None or shift.unit_id not in units.visible_scope(session=session, user=actor):
        raise NotFound(_l("Shift not found."))
    if shift.unit_id not in units.roster_scope(session=session, user=actor):
        raise NotPermitted(_l("Only supervisors, heads and administrators plan the duty roster."))
    data = {"shift_id": shift.id, "user_id": shift.user_id, "starts_at": shift.starts_at.isoformat()}
    unit_id = shift.unit_id
    session.delete(shift)
    session.flush()
    timeline.record(
        session=session,
        kind="duty_shift.deleted",
        subject_type="unit",
        subject_id=unit_id,
        actor_id=actor.id,
        unit_id=unit_id,
        data=data,
    )


# Recurring duty patterns -----------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One shift of a weekly pattern, as wall-clock times in the unit's zone: e.g. day 07:00–19:00,
    night 19:00–07:00 (an end at or before the start is on the next day)."""

    starts: time
    ends: time
    weekdays: frozenset[int] = frozenset(range(7))  # Monday 0 … Sunday 6

    def window(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        end_day = day + timedelta(days=1) if self.ends <= self.starts else day
        # Wall-clock times in the zone (zoneinfo resolves any offset), stored in UTC.
        starts_at = datetime.combine(day, self.starts, tzinfo=zone).astimezone(UTC)
        ends_at = datetime.combine(end_day, self.ends, tzinfo=zone).astimezone(UTC)
        return starts_at, ends_at


DAY_AND_NIGHT = (Slot(time(7), time(19)), Slot(time(19), time(7)))
# The patterns offered on the roster page and the command line, by name.
PATTERNS: dict[str, tuple[Slot, ...]] = {
    "day-night": DAY_AND_NIGHT,
    "three-shifts": (Slot(time(7), time(15)), Slot(time(15), time(23)), Slot(time(23), time(7))),
    "office-hours": (Slot(time(8), time(16), frozenset(range(5))),),
}
PATTERN_LABELS = {
    "day-night": _l("Day 07:00–19:00 and night 19:00–07:00, every day"),
    "three-shifts": _l("Three shifts: 07:00–15:00, 15:00–23:00, 23:00–07:00, every day"),
    "office-hours": _l("Office hours 08:00–16:00, Monday to Friday"),
}
MAX_PATTERN_WEEKS = 8


@dataclass(frozen=True)
class PlannedShift:
    user_id: int
    starts_at: datetime
    ends_at: datetime


def rotation(
    *, zone: str, slots: tuple[Slot, ...], people: list[int], first_day: date, weeks: int
) -> list[PlannedShift]:
    """People in turn: the shifts of the pattern, day by day and slot by slot, go to the next person
    in the list, so with day and night shifts and three people each works every third shift."""
    tz = ZoneInfo(zone)
    planned: list[PlannedShift] = []
    turn = 0
    for offset in range(weeks * 7):
        day = first_day + timedelta(days=offset)
        for slot in sorted(slots, key=lambda s: s.starts):
            if day.weekday() not in slot.weekdays:
                continue
            starts_at, ends_at = slot.window(day, tz)
            planned.append(PlannedShift(people[turn % len(people)], starts_at, ends_at))
            turn += 1
    return planned


def plan_rotation(
    *,
    session: Session,
    actor: User | None,
    unit_id: int,
    people: list[int],
    first_day: date,
    weeks: int,
    slots: tuple[Slot, ...] = DAY_AND_NIGHT,
    note: str = "",
) -> list[DutyShift]:
    """Generate a weekly rotation's shifts for the coming weeks; all or nothing. A shift already on
    the roster exactly as planned is kept (running the same plan twice adds nothing); any other
    overlap of a person's shifts refuses the whole plan, naming each person and time.
    actor=None is the command line on the server itself."""
    if actor is None:
        found = session.get(Unit, unit_id)
        if found is None:
            raise NotFound(_l("Unit not found."))
        unit = found
    else:
        unit = units.get(session=session, user=actor, unit_id=unit_id)
        if unit.id not in units.roster_scope(session=session, user=actor):
            raise NotPermitted(_l("Only supervisors, heads and administrators plan the duty roster."))
    errors: dict[str, list[str]] = {}
    members = {m.user_id: m.user for m in session.scalars(select(Membership).where(Membership.unit_id == unit.id))}
    if not people:
        errors["people"] = [str(_l("Choose at least one person."))]
    for user_id in people:
        if user_id not in members or not members[user_id].active:
            errors.setdefault("people", []).append(str(_l("This person has no role in the unit.")))
    if len(set(people)) != len(people):
        errors.setdefault("people", []).append(str(_l("Each person once; the order is the turn.")))
    if not 1 <= weeks <= MAX_PATTERN_WEEKS:
        errors["weeks"] = [str(_l("Between 1 and %(most)d weeks.", most=MAX_PATTERN_WEEKS))]
    if not slots:
        errors["slots"] = [str(_l("Choose at least one shift."))]
    if errors:
        raise ValidationFailed(errors)
    planned = rotation(zone=unit.timezone, slots=slots, people=people, first_day=first_day, weeks=weeks)
    if not planned:
        raise ValidationFailed({"slots": [str(_l("The pattern has no shift on any day."))]})
    start, end = min(p.starts_at for p in planned), max(p.ends_at for p in planned)
    existing = list(
        session.scalars(
            select(DutyShift).where(
                DutyShift.user_id.in_(sorted(set(people))), DutyShift.starts_at < end, DutyShift.ends_at > start
            )
        )
    )
    already = {(s.unit_id, s.user_id, s.starts_at, s.ends_at) for s in existing}
    clashes: list[str] = []
    to_add: list[PlannedShift] = []
    accepted: list[DutyShift] = []
    for shift in planned:
        if (unit.id, shift.user_id, shift.starts_at, shift.ends_at) in already:
            continue
        for other in [*existing, *accepted]:  # the plan's own shifts count too (slots that overlap)
            if other.user_id == shift.user_id and other.starts_at < shift.ends_at and other.ends_at > shift.starts_at:
                clashes.append(clash_message(other, user=members[shift.user_id], zone=unit.timezone))
                break
        to_add.append(shift)
        # Unsaved, only to name the clash: a shift of this plan.
        accepted.append(DutyShift(unit=unit, user_id=shift.user_id, starts_at=shift.starts_at, ends_at=shift.ends_at))
    if clashes:
        raise ValidationFailed({"people": list(dict.fromkeys(clashes))})
    return [
        _add(
            session=session,
            actor=actor,
            unit=unit,
            user_id=shift.user_id,
            starts_at=shift.starts_at,
            ends_at=shift.ends_at,
            note=note,
        )
        for shift in to_add
    ]


# Gaps: times nobody is on duty ------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    unit: Unit
    starts_at: datetime
    ends_at: datetime


def gaps(*, session: Session, unit: Unit, start: datetime, end: datetime) -> list[Gap]:
    """The stretches of [start, end) in which nobody is on duty in the unit."""
    return gaps_of_units(session=session, units_=[unit], start=start, end=end).get(unit.id, [])


def gaps_of_units(*, session: Session, units_: list[Unit], start: datetime, end: datetime) -> dict[int, list[Gap]]:
    """gaps() of several units in one query."""
    if not units_:
        return {}
    rows = session.execute(
        select(DutyShift.unit_id, DutyShift.starts_at, DutyShift.ends_at)
        .join(User, User.id == DutyShift.user_id)
        .where(
            DutyShift.unit_id.in_(sorted({u.id for u in units_})),
            DutyShift.ends_at > start,
            DutyShift.starts_at < end,
            User.active,
        )
        .order_by(DutyShift.unit_id, DutyShift.starts_at)
    )
    windows: dict[int, list[tuple[datetime, datetime]]] = {}
    for unit_id, starts_at, ends_at in rows:
        windows.setdefault(unit_id, []).append((starts_at, ends_at))
    found: dict[int, list[Gap]] = {}
    for unit in units_:
        covered_until = start
        for starts_at, ends_at in windows.get(unit.id, []):
            if starts_at > covered_until:
                found.setdefault(unit.id, []).append(Gap(unit, covered_until, starts_at))
            covered_until = max(covered_until, ends_at)
        if covered_until < end:
            found.setdefault(unit.id, []).append(Gap(unit, covered_until, end))
    return found


def gaps_for_head(*, session: Session, user: User, now: datetime, hours: int = 24) -> list[Gap]:
    """Gaps in the next hours of the units this person heads (the console's warning)."""
    headed = [m.unit for m in user.memberships if m.role == Role.head]
    found = gaps_of_units(session=session, units_=headed, start=now, end=now + timedelta(hours=hours))
    return [gap for unit in headed for gap in found.get(unit.id, [])]
