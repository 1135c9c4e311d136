"""Recording and reading the audit trail.

`record` is called from the code paths that sign people in and out and change who may do what;
it only adds a row (the caller commits, as everywhere). Admins read the events of the units they
administer; admins of a central unit read every event, including those that concern no unit
(sign-in attempts for unknown e-mail addresses, SOP publications).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import has_request_context, request
from flask_babel import format_date
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from crisis import clock
from crisis.audit.models import AuditEvent
from crisis.errors import NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.units import service as units

# What an event's details are called on screen; values that are roles, yes/no or a source are put in
# words by the page (templates/audit/list.html). Internal ids are not shown.
DETAIL_LABELS = {
    "email": _l("E-mail"),
    "name": _l("Name"),
    "role": _l("Role"),
    "before": _l("Before"),
    "after": _l("After"),
    "source": _l("Source"),
    "prefix": _l("Token begins with"),
    "known_email": _l("Known address"),
    "host": _l("Host"),
    "active": _l("Active"),
    "by_mail": _l("By e-mail"),
    "problem": _l("Problem"),
    "key": _l("SOP"),
    "version": _l("Version"),
}
DETAIL_HIDDEN = frozenset({"membership_id"})
ROLE_DETAILS = frozenset({"role", "before", "after"})
SOURCE_LABELS = {"import": _l("bulk import of people"), "invitation": _l("invitation link")}

KIND_LABELS = {
    "auth.sign_in": _l("Signed in"),
    "auth.sign_in_failed": _l("Sign-in failed"),
    "auth.sign_out": _l("Signed out"),
    "auth.password_changed": _l("Password changed"),
    "auth.password_set": _l("Password chosen through an invitation"),
    "token.created": _l("API token created"),
    "token.revoked": _l("API token revoked"),
    "user.created": _l("User created"),
    "user.invited": _l("Invited to choose a password"),
    "user.invitation_not_mailed": _l("The invitation e-mail could not be sent"),
    "user.disabled": _l("User disabled"),
    "user.enabled": _l("User enabled"),
    "membership.added": _l("Role added"),
    "membership.role_changed": _l("Role changed"),
    "membership.removed": _l("Role removed"),
    "playbook.published": _l("SOP published"),
    "collective_leave.added": _l("Collective leave day entered"),
    "collective_leave.removed": _l("Collective leave day removed"),
    "webhook.created": _l("Webhook created"),
    "webhook.updated": _l("Webhook changed"),
}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# An event's target is kept as a reference ("user:12", "playbook:hoax-clarification@v3"), which stays
# true when the thing is renamed. The page names it in words: each layer that owns a kind of thing
# gives a namer (references -> words, in one query), connected in `crisis.wiring`, since the audit
# trail sits below the packages whose things it names.
Namer = Callable[[Session, list[str]], dict[str, str]]
_namers: dict[str, Namer] = {}


def name_targets(kind: str, namer: Namer) -> None:
    """Connect the namer of one kind of target ("user", "token", "webhook", "playbook")."""
    _namers[kind] = namer


def ids_of(references: list[str]) -> list[int]:
    """The numeric ids among a namer's references ("12" of "user:12")."""
    return [int(reference) for reference in references if reference.isdigit()]


def _day(reference: str) -> str | None:
    try:
        return format_date(date.fromisoformat(reference), "full")
    except ValueError:
        return None


def target_words(*, session: Session, events: list[AuditEvent]) -> dict[str, str]:
    """Each event's target in words, by its stored reference: one query per kind of thing on the page.
    A thing no longer on record says so. A target of no known form or kind is shown as it is, so
    nothing disappears."""
    wanted: dict[str, set[str]] = {}
    for event in events:
        kind, sep, reference = (event.target or "").partition(":")
        if sep and reference and (kind == "day" or kind in _namers):
            wanted.setdefault(kind, set()).add(reference)
    words = {event.target: event.target for event in events if event.target}
    for kind, references in wanted.items():
        if kind == "day":
            named = {reference: word for reference in references if (word := _day(reference))}
        else:
            named = _namers[kind](session, sorted(references))
        for reference in references:
            words[f"{kind}:{reference}"] = named.get(reference) or str(_l("no longer on record"))
    return words


def _request_origin() -> tuple[str, str]:
    if not has_request_context():
        return "", ""
    return (request.remote_addr or "")[:64], (request.user_agent.string or "")[:300]


def unit_of(user: Any) -> int | None:
    """The unit an act on or by this person concerns: their first (primary) unit."""
    memberships = getattr(user, "memberships", None) or []
    return memberships[0].unit_id if memberships else None


def record(
    *,
    session: Session,
    kind: str,
    actor: Any | None = None,
    actor_email: str | None = None,
    unit_id: int | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Add one event. The client address and browser come from the current request, if any."""
    if kind not in KIND_LABELS:
        raise ValueError(f"unknown audit kind {kind!r}")
    remote_addr, user_agent = _request_origin()
    email = actor_email if actor_email is not None else (getattr(actor, "email", "") or "")
    row = AuditEvent(
        at=now or clock.now(),
        actor_id=getattr(actor, "id", None),
        actor_email=email[:254],
        unit_id=unit_id,
        kind=kind,
        target=target[:200],
        detail=detail or {},
        remote_addr=remote_addr,
        user_agent=user_agent,
    )
    session.add(row)
    return row


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    person: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def _parse_day(value: Any, field: str, errors: dict[str, str]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[field] = str(_l("Give a date as YYYY-MM-DD."))
        return None


def filters_for(
    *, kind: Any = None, person: Any = None, start: Any = None, end: Any = None, zone: str = "Asia/Jakarta"
) -> Filters:
    """Filters from what a person typed: days are whole days in their zone, both ends included."""
    errors: dict[str, str] = {}
    kind = kind or None
    if kind is not None and kind not in KIND_LABELS:
        errors["kind"] = str(_l("Choose one of the kinds listed."))
    person = (person or "").strip() or None
    if person is not None and len(person) > 254:
        errors["person"] = str(_l("At most 254 characters."))
    first = _parse_day(start, "from", errors)
    last = _parse_day(end, "to", errors)
    if first and last and last < first:
        errors["to"] = str(_l("The end date is before the start date."))
    if errors:
        raise ValidationFailed(errors)
    tz = ZoneInfo(zone)
    return Filters(
        kind=kind,
        person=person,
        start=datetime.combine(first, datetime.min.time(), tz) if first else None,
        end=datetime.combine(last + timedelta(days=1), datetime.min.time(), tz) if last else None,
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_cursor(event: AuditEvent) -> str:
    # Exact microseconds: a float timestamp could land a row on the wrong side of the page break.
    return f"{(event.at - EPOCH) // MICROSECOND}.{event.id}"


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    micros, _sep, event_id = (cursor or "").partition(".")
    try:
        return EPOCH + int(micros) * MICROSECOND, int(event_id)
    except (ValueError, OverflowError):
        raise ValidationFailed({"cursor": str(_l("This page link is not valid; start from the first page."))}) from None


def can_read(*, session: Session, user: Any) -> bool:
    return units.is_admin_anywhere(user)


def list_events(
    *, session: Session, actor: Any, filters: Filters, cursor: str | None = None, limit: int = PAGE_SIZE
) -> tuple[list[AuditEvent], str | None]:
    """Newest first, one page; the second value is the cursor of the next page (None at the end).
    Keyset paging on (at, id): a page never repeats or skips rows when new events arrive."""
    if not units.is_admin_anywhere(actor):
        raise NotPermitted(_l("Only administrators read the audit trail."))
    scope = units.admin_scope(session=session, user=actor)
    query = select(AuditEvent).options(selectinload(AuditEvent.unit))
    if not scope.everything:
        query = query.where(scope.filter(AuditEvent.unit_id))
    if filters.kind:
        query = query.where(AuditEvent.kind == filters.kind)
    if filters.person:
        query = query.where(AuditEvent.actor_email.icontains(filters.person.lower(), autoescape=True))
    if filters.start:
        query = query.where(AuditEvent.at >= filters.start)
    if filters.end:
        query = query.where(AuditEvent.at < filters.end)
    if cursor:
        moment, event_id = _decode_cursor(cursor)
        query = query.where(or_(AuditEvent.at < moment, and_(AuditEvent.at == moment, AuditEvent.id < event_id)))
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    rows = list(session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1])
    return rows, None
