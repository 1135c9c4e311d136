"""Notices that something waits for someone: a statement to approve, a review to approve, a unit
drawn into another unit's incident. Hook handlers (crisis.hooks, connected in crisis.wiring): they
run in the transaction of the action that caused them and flush, never commit.

Each goes to the nearest people who can act on it, not to everyone who could: a regency's draft
tells the regency's supervisors and head, and only when it has none (or only the author) the unit
above, and so on up the tree. The idempotency key names the thing and its version, so a
statement sent back and submitted again is told again, and a second run of the same hook is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from crisis.auth.models import Role, User
from crisis.escalation.recipients import members_in_role, unit_chain
from crisis.incidents.models import Incident, InvolvedUnit, Statement
from crisis.incidents.statements import REACHES_DOWN, SIGNER_ROLES
from crisis.notify import service as notify
from crisis.reviews.models import Review
from crisis.units.models import Unit

REVIEW_APPROVERS = (Role.head,)  # crisis.reviews.service.can_approve


def nearest(
    session: Session,
    unit: Unit,
    roles: Iterable[str],
    *,
    at: datetime,
    besides: int | None | Iterable[int],
    reach_up: bool = True,
) -> list[User]:
    """The people with one of `roles` in `unit`, else (`reach_up`) in the first unit above it that has
    any, other than the people `besides` (who asked for the approval, or already signed)."""
    excluded = {besides} if besides is None or isinstance(besides, int) else set(besides)
    for candidate in unit_chain(unit) if reach_up else [unit]:
        found: dict[int, User] = {}
        for role in roles:
            for person in members_in_role(session, str(role), candidate, at):
                if person.id not in excluded:
                    found.setdefault(person.id, person)
        if found:
            return list(found.values())
    return []


def _payload(kind: str, incident: Incident, actor: User | None, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "severity": incident.severity,
        "incident_ref": incident.reference,
        "incident_title": incident.title,
        "owner_unit": incident.unit.code,
        "actor_name": actor.name if actor is not None else "",
        **extra,
    }


def _tell(
    session: Session, people: Iterable[User], incident: Incident, key: str, payload: dict[str, Any], now: datetime
) -> int:
    written = 0
    for person in people:
        written += len(
            notify.inform(session=session, user=person, incident_id=incident.id, key=key, payload=payload, now=now)
        )
    return written


def statement_submitted(*, session: Session, statement: Statement, actor: User | None, now: datetime, **_: Any) -> int:
    """A statement waits for a signature: the nearest people who may sign the step it waits for (the
    supervisors and heads over the owning unit for the first step of the usual chain; a legal reviewer
    of the unit or above; the institution head of the unit itself), besides its author and whoever
    already signed it."""
    incident = statement.incident
    role = statement.awaiting_role
    if role is None:
        return 0
    besides = {statement.drafted_by_id, *(s.signed_by_id for s in statement.current_signatures)}
    people = nearest(
        session, incident.unit, sorted(SIGNER_ROLES[role]), at=now, besides=besides, reach_up=REACHES_DOWN[role]
    )
    payload = _payload(
        "statement_submitted",
        incident,
        actor,
        statement_id=statement.id,
        statement_title=statement.title,
        statement_kind=statement.kind,
        step_role=role,
    )
    key = f"statement:{statement.id}:v{statement.version}:step{statement.awaiting_step}:approval"
    return _tell(session, people, incident, key, payload, now)


def review_submitted(*, session: Session, review: Review, actor: User | None, now: datetime, **_: Any) -> int:
    """A review waits for approval: the nearest heads over the owning unit."""
    incident = review.incident
    besides = actor.id if actor is not None else None
    people = nearest(session, incident.unit, REVIEW_APPROVERS, at=now, besides=besides)
    payload = _payload(
        "review_submitted", incident, actor, review_id=review.id, review_due_at=review.due_at.isoformat()
    )
    return _tell(session, people, incident, f"review:{review.id}:v{review.version}:approval", payload, now)


def unit_involved(
    *, session: Session, incident: Incident, involved: InvolvedUnit, actor: User | None, now: datetime, **_: Any
) -> int:
    """Another unit is drawn in: its heads and whoever is on duty there now (the unit above when it
    has neither)."""
    unit = involved.unit or session.get(Unit, involved.unit_id)
    people = nearest(session, unit, (Role.head, "on_duty"), at=now, besides=actor.id if actor else None)
    payload = _payload(
        "unit_involved", incident, actor, involved_unit=unit.code, involved_unit_name=unit.name, unit_id=unit.id
    )
    return _tell(session, people, incident, f"involved:{involved.id}", payload, now)
