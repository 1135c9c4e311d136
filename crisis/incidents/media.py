"""The media desk: every journalist's question during an incident, logged, assigned and answered
on time — with an approved statement or key messages of the incident, or with a text approved like
a statement — or declined with the holding line given (the desk's rule: never "no comment").

Each query has an answer target (`due_at`): received_at plus the SOP's `media_answer_within` at the
incident's severity, or the journalist's own deadline if that is sooner. The deadline engine
escalates a query still open at its target (crisis.escalation.media, through the
MEDIA_QUERY_CHANGED hook); answering or declining cancels its timers in the same transaction.

Who may: the owning unit's team, the commander and the acting members of an involved unit log,
assign, edit, answer and decline; a text answer is approved by a supervisor or head over the owning
unit who did not write it (as a statement is). The role is checked before the state, so who may not
act learns nothing of the query's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis import clock, hooks, moments
from crisis.auth.models import ACTING_ROLES, Membership, User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import service as incidents
from crisis.incidents.models import (
    MEDIA_CHANNELS,
    MEDIA_OUTLET_TYPES,
    Incident,
    MediaQuery,
    Statement,
)
from crisis.incidents.statements import APPROVER_ROLES
from crisis.playbooks.snapshot import playbook_spec
from crisis.units import service as units

OUTLET_TYPE_LABELS = {
    "national_tv": _l("National TV"),
    "national_print_online": _l("National print or online media"),
    "regional": _l("Regional or local media"),
    "international": _l("International media"),
    "community": _l("Community or other media"),
}
MEDIA_CHANNEL_LABELS = {
    "phone": _l("Phone"),
    "whatsapp": "WhatsApp",
    "email": _l("E-mail"),
    "in_person": _l("In person"),
    "press_conference": _l("Press conference"),
    "social_media": _l("Social media message"),
    "other": _l("Other"),
}
MEDIA_STATE_LABELS = {
    "open": _l("Waiting for an answer"),
    "answered": _l("Answered"),
    "declined": _l("Declined with a holding line"),
}
# A holding line that says nothing breaks the desk's rule; these are refused as the holding line.
NO_COMMENT = frozenset({"no comment", "no comments", "tidak ada komentar", "tanpa komentar", "no comment."})
ACTIONS = ("assign", "edit", "answer", "draft_answer", "approve_answer", "decline")
MAX_NAME = 200


def answer_target(incident: Incident) -> timedelta:
    """The SOP's media_answer_within at the incident's severity now (4 hours when it sets none)."""
    return playbook_spec(incident).settings.media_answer_within_for(incident.severity)


def due_at_for(incident: Incident, received_at: datetime, journalist_deadline: datetime | None) -> datetime:
    """The answer target: from when the question came, or the journalist's own deadline if sooner."""
    due = received_at + answer_target(incident)
    return min(due, journalist_deadline) if journalist_deadline is not None else due


# --- who -----------------------------------------------------------------------------------------


def _involved_unit_ids(incident: Incident) -> set[int]:
    return {i.unit_id for i in incident.involved if i.released_at is None}


def can_work(*, session: Session, user: User, incident: Incident) -> bool:
    """The owning unit's team, the commander, and the acting members of an involved unit."""
    if incidents.can_act(session=session, user=user, incident=incident):
        return True
    acting = {m.unit_id for m in user.memberships if m.role in ACTING_ROLES}
    return bool(acting & _involved_unit_ids(incident))


def can_approve_answer(*, session: Session, user: User, query: MediaQuery) -> bool:
    """A supervisor or head over the owning unit (central: any), who did not write the text."""
    if query.answer_drafted_by_id == user.id:
        return False
    lead_units = {m.unit_id for m in user.memberships if m.role in APPROVER_ROLES}
    if not lead_units:
        return False
    if any(m.unit.kind == "central" for m in user.memberships if m.role in APPROVER_ROLES):
        return True
    return query.incident.unit_id in units.subtree_ids(session=session, root_ids=lead_units)


def assignable(*, session: Session, incident: Incident) -> list[User]:
    """Who a query may be assigned to: active people with an acting role in the owning or an
    involved unit, and the commander."""
    unit_ids = {incident.unit_id} | _involved_unit_ids(incident)
    people = list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.unit_id.in_(sorted(unit_ids)),
                Membership.role.in_([r.value for r in ACTING_ROLES]),
                User.active,
            )
            .order_by(User.name, User.id)
            .distinct()
        )
    )
    commander = incident.commander
    if commander is not None and commander.active and all(p.id != commander.id for p in people):
        people.insert(0, commander)
    return people


def _require_work(*, session: Session, user: User, incident: Incident) -> None:
    if not can_work(session=session, user=user, incident=incident):
        raise NotPermitted(_l("Only the incident's team and its involved units work on its media queries."))


# --- reading -------------------------------------------------------------------------------------


def get(*, session: Session, user: User, query_id: int, lock: bool = False) -> MediaQuery:
    """A media query of an incident the user may see (else not found, whatever the reason)."""
    query = session.get(MediaQuery, query_id)
    if query is None:
        raise NotFound(_l("Media query not found."))
    incidents.get(session=session, user=user, incident_id=query.incident_id, lock=lock, reload_runs=False)
    if lock:
        session.refresh(query, with_for_update=True)
    return query


def list_for_incident(*, session: Session, user: User, incident_id: int) -> list[MediaQuery]:
    incident = incidents.get(session=session, user=user, incident_id=incident_id)
    return list(
        session.scalars(
            select(MediaQuery)
            .where(MediaQuery.incident_id == incident.id)
            .order_by(MediaQuery.received_at, MediaQuery.id)
        )
    )


@dataclass(frozen=True)
class Figures:
    """Measures of a set of queries: received, answered (or declined) on time, the median time to
    answer, each by outlet type too."""

    received: int
    closed: int  # answered or declined
    on_time: int
    median_seconds: float | None  # from received to answered/declined, of those closed

    @property
    def median(self) -> timedelta | None:
        return None if self.median_seconds is None else timedelta(seconds=round(self.median_seconds))

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.received if self.received else None


def figures(queries: list[MediaQuery]) -> Figures:
    """Answered on time: answered or declined (with the holding line) by the target. A query still
    open counts as received and not on time."""
    spans = sorted((q.answered_at - q.received_at).total_seconds() for q in queries if q.answered_at is not None)
    return Figures(
        received=len(queries),
        closed=len(spans),
        on_time=sum(1 for q in queries if q.on_time),
        median_seconds=_median(spans),
    )


def figures_by_outlet(queries: list[MediaQuery]) -> dict[str, Figures]:
    """Figures per outlet type, in the order of MEDIA_OUTLET_TYPES, only the types present."""
    return {
        kind: figures([q for q in queries if q.outlet_type == kind])
        for kind in MEDIA_OUTLET_TYPES
        if any(q.outlet_type == kind for q in queries)
    }


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


# --- checks ----------------------------------------------------------------------------------------


def _received_problem(incident: Incident, moment: Any, now: datetime) -> str | None:
    issue = incident.issue
    first_seen = issue.first_seen_at if issue is not None else incident.started_at
    return moments.problem(
        moment,
        now=now,
        not_before=((first_seen, _l("A journalist cannot have asked before the issue was first seen.")),),
    )


def _clean_fields(
    incident: Incident, fields: dict[str, Any], now: datetime, *, current: MediaQuery | None = None
) -> dict[str, Any]:
    """The query's own fields, checked: every problem at once, next to its field."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in ("journalist", "outlet"):
        if name in fields or current is None:
            text = " ".join(str(fields.get(name) or "").split())
            if not text:
                errors[name] = str(_l("This is required."))
            elif len(text) > MAX_NAME:
                errors[name] = str(_l("At most %(n)d characters.", n=MAX_NAME))
            clean[name] = text
    if "outlet_type" in fields or current is None:
        if fields.get("outlet_type") not in MEDIA_OUTLET_TYPES:
            errors["outlet_type"] = str(_l("Choose the kind of outlet."))
        clean["outlet_type"] = fields.get("outlet_type")
    if "channel" in fields or current is None:
        if fields.get("channel") not in MEDIA_CHANNELS:
            errors["channel"] = str(_l("Choose how the question came in."))
        clean["channel"] = fields.get("channel")
    if "question" in fields or current is None:
        try:
            clean["question"] = incidents.clean_text(fields.get("question"), "question", required=True)
        except ValidationFailed as error:
            errors.update({k: v[0] for k, v in error.errors.items()})
    received = fields.get("received_at", current.received_at if current else None) or now
    if "received_at" in fields or current is None:
        wrong = _received_problem(incident, received, now)
        if wrong is not None:
            errors["received_at"] = wrong
        clean["received_at"] = received
    if "journalist_deadline" in fields:
        deadline = fields.get("journalist_deadline")
        if deadline is not None:
            if not isinstance(deadline, datetime) or deadline.tzinfo is None:
                errors["journalist_deadline"] = str(_l("Give a date and time with its zone."))
            elif isinstance(received, datetime) and received.tzinfo is not None and deadline <= received:
                errors["journalist_deadline"] = str(_l("The journalist's deadline comes after the question."))
        clean["journalist_deadline"] = deadline
    if errors:
        raise ValidationFailed(errors)
    return clean


def _answered_at(query: MediaQuery, moment: Any, now: datetime, field: str = "answered_at") -> datetime:
    moment = moment or now
    wrong = moments.problem(
        moment,
        now=now,
        not_before=((query.received_at, _l("A question cannot be answered before it was received.")),),
    )
    if wrong is not None:
        raise ValidationFailed({field: wrong})
    return moment


def _require_open(query: MediaQuery, incident: Incident) -> None:
    if incident.state not in ("active", "resolved"):
        incidents.require_open(incident)
    if query.state != "open":
        raise Conflict(_l("This media query is already %(state)s.", state=str(MEDIA_STATE_LABELS[query.state]).lower()))


def _check_version(query: MediaQuery, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != query.version:
        raise Conflict(_l("Someone else changed this media query just now; check it and try again."))


def _record(
    session: Session, incident: Incident, actor: User, kind: str, query: MediaQuery, now: datetime, **data: Any
) -> None:
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind=kind,
        now=now,
        media_query_id=query.id,
        journalist=query.journalist,
        outlet=query.outlet,
        **data,
    )


def _changed(session: Session, query: MediaQuery, now: datetime) -> None:
    """Plan (open) or cancel (answered, declined) the query's escalation, in this transaction."""
    session.flush()
    hooks.run(hooks.MEDIA_QUERY_CHANGED, session=session, media_query=query, now=now)


# --- changes ---------------------------------------------------------------------------------------


def log(
    *,
    session: Session,
    actor: User,
    incident_id: int,
    fields: dict[str, Any],
    assignee_id: int | None = None,
    now: datetime | None = None,
) -> MediaQuery:
    """Log a journalist's question: who, which outlet, how it came, the question, the journalist's
    deadline and when it came (checked against the incident's own timeline)."""
    now = now or clock.now()
    incident = incidents.get(session=session, user=actor, incident_id=incident_id, lock=True, reload_runs=False)
    _require_work(session=session, user=actor, incident=incident)
    incidents.require_open(incident)
    clean = _clean_fields(incident, fields, now)
    assignee = _assignee(session=session, incident=incident, assignee_id=assignee_id) if assignee_id else None
    query = MediaQuery(
        incident=incident,
        logged_by_id=actor.id,
        logged_at=now,
        state="open",
        due_at=due_at_for(incident, clean["received_at"], clean.get("journalist_deadline")),
        assignee_id=assignee.id if assignee else None,
        assigned_at=now if assignee else None,
        **clean,
    )
    session.add(query)
    session.flush()
    _record(
        session,
        incident,
        actor,
        "media_query.logged",
        query,
        now,
        outlet_type=query.outlet_type,
        channel=query.channel,
        received_at=query.received_at.isoformat(),
        due_at=query.due_at.isoformat(),
        assignee_id=query.assignee_id,
    )
    _changed(session, query, now)
    return query


def _assignee(*, session: Session, incident: Incident, assignee_id: Any) -> User:
    if not isinstance(assignee_id, int) or isinstance(assignee_id, bool):
        raise ValidationFailed({"assignee_id": str(_l("Choose a person of the owning or an involved unit."))})
    person = next((p for p in assignable(session=session, incident=incident) if p.id == assignee_id), None)
    if person is None:
        raise ValidationFailed({"assignee_id": str(_l("Choose a person of the owning or an involved unit."))})
    return person


def _open_for_change(
    *, session: Session, actor: User, query_id: int, expected_version: int | None
) -> tuple[MediaQuery, Incident]:
    query = get(session=session, user=actor, query_id=query_id, lock=True)
    incident = query.incident
    _require_work(session=session, user=actor, incident=incident)
    _require_open(query, incident)
    _check_version(query, expected_version)
    return query, incident


def assign(
    *,
    session: Session,
    actor: User,
    query_id: int,
    assignee_id: int | None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MediaQuery:
    """Give the query to someone (None: to nobody); the escalation then starts with them."""
    now = now or clock.now()
    query, incident = _open_for_change(
        session=session, actor=actor, query_id=query_id, expected_version=expected_version
    )
    person = None if assignee_id is None else _assignee(session=session, incident=incident, assignee_id=assignee_id)
    if (person.id if person else None) == query.assignee_id:
        return query
    query.assignee_id = person.id if person else None
    query.assigned_at = now if person else None
    _record(session, incident, actor, "media_query.assigned", query, now, assignee_id=query.assignee_id)
    _changed(session, query, now)
    return query


def edit(
    *,
    session: Session,
    actor: User,
    query_id: int,
    fields: dict[str, Any],
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MediaQuery:
    """Correct an open query's details; a new received time or deadline moves its target."""
    now = now or clock.now()
    query, incident = _open_for_change(
        session=session, actor=actor, query_id=query_id, expected_version=expected_version
    )
    clean = _clean_fields(incident, fields, now, current=query)
    changed = sorted(name for name, value in clean.items() if getattr(query, name) != value)
    if not changed:
        return query
    for name in changed:
        setattr(query, name, clean[name])
    query.due_at = due_at_for(incident, query.received_at, query.journalist_deadline)
    _record(session, incident, actor, "media_query.edited", query, now, fields=changed, due_at=query.due_at.isoformat())
    _changed(session, query, now)
    return query


def answer_with_statement(
    *,
    session: Session,
    actor: User,
    query_id: int,
    statement_id: Any,
    answered_at: datetime | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MediaQuery:
    """Answer with an approved (or published) statement or key messages of this incident."""
    now = now or clock.now()
    query, incident = _open_for_change(
        session=session, actor=actor, query_id=query_id, expected_version=expected_version
    )
    statement = session.get(Statement, statement_id) if isinstance(statement_id, int) else None
    if statement is None or statement.incident_id != incident.id or statement.state not in ("approved", "published"):
        raise ValidationFailed(
            {"statement_id": str(_l("Choose an approved statement or key messages of this incident."))}
        )
    moment = _answered_at(query, answered_at, now)
    query.state, query.answer_kind, query.statement_id = "answered", "statement", statement.id
    query.answered_at, query.answered_by_id = moment, actor.id
    _record(
        session,
        incident,
        actor,
        "media_query.answered",
        query,
        now,
        answer_kind="statement",
        statement_id=statement.id,
        statement_kind=statement.kind,
        answered_at=moment.isoformat(),
        on_time=bool(query.on_time),
    )
    _changed(session, query, now)
    return query


def draft_answer(
    *,
    session: Session,
    actor: User,
    query_id: int,
    answer_text: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MediaQuery:
    """Write the answer's text; it waits for an approver (a supervisor or head over the owning unit)."""
    now = now or clock.now()
    query, incident = _open_for_change(
        session=session, actor=actor, query_id=query_id, expected_version=expected_version
    )
    text = incidents.clean_text(answer_text, "answer_text", required=True)
    query.answer_text, query.answer_drafted_by_id = text, actor.id
    _record(session, incident, actor, "media_query.answer_drafted", query, now)
    return query


def approve_answer(
    *,
    session: Session,
    actor: User,
    query_id: int,
    answered_at: datetime | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MediaQuery:
    """An approver approves the drafted text: the query is answered with it."""
    now = now or clock.now()
    query = get(session=session, user=actor, query_id=query_id, lock=True)
    incident = query.incident
    # The role first, as for statements: who may not approve learns nothing of the state.
    if query.answer_drafted_by_id == actor.id:
        raise NotPermitted(_l("You cannot approve an answer you wrote; ask a supervisor or head."))
    if not can_approve_answer(session=session, user=actor, query=query):
        raise NotPermitted(_l("Only a supervisor or head over the owning unit approves an answer's text."))
    _require_open(query, incident)
    _check_version(query, expected_version)
    if not query.answer_text:
        raise Conflict(_l("There is no answer text to approve yet; write it first."))
    moment = _answered_at(query, answered_at, now)
    query.state, query.answer_kind = "answered", "text"
    query.answer_approved_by_id = actor.id
    query.answered_at, query.answered_by_id = moment, query.answer_drafted_by_id or actor.id
    _record(
        session,
        incident,
        actor,
        "media_query.answered",
        query,
        now,
        answer_kind="text",
        answered_at=moment.isoformat(),
        on_time=bool(query.on_time),
    )
    _changed(session, query, now)
    return query


def decline(
    *,
    session: Session,
    actor: User,
    query_id: int,
    reason: str,
    holding_line: str,
    answered_at: datetime | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MediaQuery:
    """Decline with a reason and the holding line given: never "no comment"."""
    now = now or clock.now()
    query, incident = _open_for_change(
        session=session, actor=actor, query_id=query_id, expected_version=expected_version
    )
    errors: dict[str, str] = {}
    reason_text = (reason or "").strip()
    line = (holding_line or "").strip()
    if not reason_text:
        errors["decline_reason"] = str(_l("Say why the question is declined."))
    if not line:
        errors["holding_line"] = str(
            _l('Give the holding line said to the journalist: the desk never answers "no comment".')
        )
    elif line.lower().strip(' ."!') in {n.strip(".") for n in NO_COMMENT}:
        errors["holding_line"] = str(
            _l('"No comment" is not a holding line: say what is known, what is being done and when more comes.')
        )
    for name, text in (("decline_reason", reason_text), ("holding_line", line)):
        if len(text) > incidents.MAX_TEXT:
            errors[name] = str(_l("At most %(n)d characters.", n=incidents.MAX_TEXT))
    if errors:
        raise ValidationFailed(errors)
    moment = _answered_at(query, answered_at, now)
    query.state, query.decline_reason, query.holding_line = "declined", reason_text, line
    query.answered_at, query.answered_by_id = moment, actor.id
    _record(
        session,
        incident,
        actor,
        "media_query.declined",
        query,
        now,
        reason=reason_text,
        answered_at=moment.isoformat(),
        on_time=bool(query.on_time),
    )
    _changed(session, query, now)
    return query


def replan_for_severity(*, session: Session, incident: Incident, now: datetime) -> list[MediaQuery]:
    """The severity changed: open queries' targets follow the new one (from when each came)."""
    open_queries = list(
        session.scalars(select(MediaQuery).where(MediaQuery.incident_id == incident.id, MediaQuery.state == "open"))
    )
    moved = []
    for query in open_queries:
        due = due_at_for(incident, query.received_at, query.journalist_deadline)
        if due != query.due_at:
            query.due_at = due
            moved.append(query)
    session.flush()
    return moved
