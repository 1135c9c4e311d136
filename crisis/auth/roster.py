"""The duty roster: who is on duty in a unit at a moment, and the shifts its supervisors plan."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.auth.models import User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import DutyShift

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
    if errors:
        raise ValidationFailed(errors)
    shift = DutyShift(unit_id=unit.id, user_id=user_id, starts_at=starts_at, ends_at=ends_at, note=note or "")
    session.add(shift)
    session.flush()
    timeline.record(
        session=session,
        kind="duty_shift.created",
        subject_type="unit",
        subject_id=unit.id,
        actor_id=actor.id,
        unit_id=unit.id,
        data={
            "shift_id": shift.id,
            "user_id": user_id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return shift


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
