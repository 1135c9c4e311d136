"""`can(action, thing)`: whether the signed-in person may do something, asked of the same functions
the services enforce it with, so a page offers only what its viewer can do (an observer is never
shown "Log an issue" only to get 403)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from crisis.auth.models import ACTING_ROLES, User
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.issues import service as issues
from crisis.reviews import service as reviews
from crisis.units import service as units


def _any_acting(session: Session, user: User, thing: Any) -> bool:
    scope = units.acting_scope(session=session, user=user)
    return scope.everything or bool(scope.unit_ids)


def _comment(session: Session, user: User, thing: Any) -> bool:
    # crisis.incidents.service.comment: whoever sees the incident and holds an acting role somewhere.
    return any(m.role in ACTING_ROLES for m in user.memberships)


RULES: dict[str, Callable[[Session, User, Any], bool]] = {
    "log_issue": _any_acting,
    "change_issue": lambda session, user, issue: issues.can_act(session=session, user=user, issue=issue),
    "act": lambda session, user, incident: incidents.can_act(session=session, user=user, incident=incident),
    "lead": lambda session, user, incident: incidents.can_lead(session=session, user=user, incident=incident),
    "comment": _comment,
    "approve_statement": lambda session, user, statement: statements.can_approve(
        session=session, user=user, statement=statement
    ),
    "write_review": lambda session, user, review: reviews.can_write(session=session, user=user, review=review),
    "approve_review": lambda session, user, review: reviews.can_approve(session=session, user=user, review=review),
    "plan_roster": lambda session, user, unit: unit.id in units.roster_scope(session=session, user=user),
    "administer": lambda session, user, unit: unit.id in units.admin_scope(session=session, user=user),
}


def can(*, session: Session, user: Any, action: str, thing: Any = None) -> bool:
    """False for visitors who are not signed in; KeyError for an action nobody defined (a typo in a
    template must not quietly hide a button)."""
    rule = RULES[action]
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(rule(session, user, thing))
