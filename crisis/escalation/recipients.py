"""Who a notice goes to: role selectors resolved at fire time against the unit tree and the duty
roster, falling back up the tree; and the personal channels each person receives notices on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from crisis.auth.models import Membership, User
from crisis.auth.roster import on_duty
from crisis.escalation.models import Timer
from crisis.incidents.models import Incident, StageRun
from crisis.playbooks.snapshot import stage_spec
from crisis.playbooks.spec import RoleSelector
from crisis.units.models import Unit, UnitKind
from crisis.units.service import ancestors


@dataclass(frozen=True)
class Recipient:
    user: User
    selector: str
    unit: Unit | None  # where the selector found them
    fallback_from: str | None = None  # the unit code first asked, when the tree was climbed


def unit_chain(unit: Unit) -> list[Unit]:
    return [unit, *ancestors(unit)]


def _selector_unit(session: Session, selector: RoleSelector, own: Unit) -> Unit | None:
    chain = unit_chain(own)
    if selector.scope == "own":
        return own
    if selector.scope == "parent":
        return own.parent
    if selector.scope == "province":
        return next((u for u in chain if u.kind == UnitKind.province), None)
    if selector.scope == "central":
        return next((u for u in chain if u.kind == UnitKind.central), None)
    return session.scalar(select(Unit).where(Unit.code == selector.scope))


def members_in_role(session: Session, role: str, unit: Unit, at: datetime) -> list[User]:
    if role == "on_duty":
        return on_duty(session=session, unit_id=unit.id, at=at)
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.unit_id == unit.id, Membership.role == role, User.active)
            .order_by(User.id)
        )
    )


People = Callable[[str, Unit], list[User]]


def resolve_selector(
    *, session: Session, incident: Incident, selector: RoleSelector, at: datetime, people: People | None = None
) -> tuple[list[Recipient], dict[str, Any] | None]:
    """Who a selector means right now. Nobody there: the same role one level up, and so on to the
    root; the second value describes the fallback (None when there was none). `people(role, unit)`
    looks people up (a batch of firings passes one that remembers its answers)."""
    lookup = people or (lambda role, unit: members_in_role(session, role, unit, at))
    if selector.role == "commander":
        commander = incident.commander
        if commander is not None and commander.active:
            return [Recipient(commander, str(selector), incident.unit)], None
        selector = RoleSelector("head", "own")
    target = _selector_unit(session, selector, incident.unit)
    start = target or incident.unit
    for unit in unit_chain(start):
        found = lookup(selector.role, unit)
        if found:
            moved = target is None or unit.id != target.id
            asked = target.code if target is not None else selector.scope
            fallback = {"selector": str(selector), "from_unit": asked, "to_unit": unit.code} if moved else None
            return [Recipient(user, str(selector), unit, asked if moved else None) for user in found], fallback
    return [], {"selector": str(selector), "from_unit": target.code if target else selector.scope, "to_unit": None}


def selectors_for(timer: Timer, run: StageRun | None) -> list[RoleSelector]:
    if timer.kind == "escalation_step":
        assert run is not None and timer.step_index is not None  # nosec B101  # type narrowing, as above
        # Only the selectors told at the incident's severity now (a selector may be gated by severity).
        step = stage_spec(run.incident, run.position).escalation[timer.step_index]
        return list(step.notify_for(run.incident.severity))
    if timer.kind == "review_due":
        return [RoleSelector("commander", "own"), RoleSelector("head", "own")]
    if timer.kind == "inject":  # an exercise's inject: the selectors its scenario names
        exercise = timer.incident.exercise
        assert exercise is not None and timer.step_index is not None  # nosec B101  # only exercises plan injects
        return [
            RoleSelector.from_canonical(s) for s in exercise.scenario_snapshot["injects"][timer.step_index]["notify"]
        ]
    return [RoleSelector("commander", "own")]  # stage_due, update_due
