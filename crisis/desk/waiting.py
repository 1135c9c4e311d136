"""What is waiting for me, everywhere: the statements I may approve (and mine sent back to me), the
reviews I write or approve, the escalations addressed to me that nobody has acknowledged, my action
items falling due, the checklist items of running stages that are mine, and the journalists'
questions assigned to me that still wait for an answer (crisis.incidents.media).

"Mine" follows the services' own rules (crisis.incidents.statements.can_approve,
crisis.reviews.service.can_approve), and everything is limited to the incidents the person sees
(crisis.incidents.access): an officer of a regency never finds another province's work here.
A checklist item is mine when it is assigned to me, or, unassigned, when its owner role is my role in
the incident's owning unit, or it is the commander's and I command. A draft review is mine when I
command the incident, take part in it, or act in its owning unit.

`count` is the header's badge, counted once per request and only up to BADGE_CAP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import has_request_context, request
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true, union_all
from sqlalchemy.orm import Session, contains_eager, defer, joinedload

from crisis.auth.models import ACTING_ROLES, Role, User
from crisis.escalation.models import Timer
from crisis.incidents import access
from crisis.incidents.models import (
    ChecklistEntry,
    Incident,
    MediaQuery,
    Participant,
    StageRun,
    Statement,
    StatementSignature,
)
from crisis.incidents.statements import REACHES_DOWN, SIGNER_ROLES
from crisis.notify.models import Notice
from crisis.playbooks.snapshot import snapshot_of
from crisis.reviews.models import ActionItem, Review
from crisis.units import service as units
from crisis.units.models import UnitKind

# Statement states that wait for an approver. "submitted" is there for a workflow that names it;
# a statement sent back to its author waits for the author, not for an approver.
STATEMENT_AWAITING = ("draft", "submitted")
STATEMENT_RETURNED = "returned"
REVIEW_APPROVERS = frozenset({Role.head})
ACTION_ITEM_SOON = timedelta(days=3)  # an open action item shows from three days before it is due
LIMIT = 100  # rows of each kind on the page


@dataclass(frozen=True)
class Row:
    """One thing waiting: its kind, the incident, when (the moment the sentence names), the row itself
    and what the sentence needs besides."""

    kind: str
    incident: Incident
    at: datetime
    subject: Any
    overdue: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Waiting:
    statements: list[Row]
    escalations: list[Row]
    checklist: list[Row]
    reviews: list[Row]
    action_items: list[Row]
    media_queries: list[Row] = field(default_factory=list)

    @property
    def sections(self) -> list[tuple[str, list[Row]]]:
        return [
            ("statements", self.statements),
            ("media_queries", self.media_queries),
            ("escalations", self.escalations),
            ("checklist", self.checklist),
            ("reviews", self.reviews),
            ("action_items", self.action_items),
        ]

    @property
    def total(self) -> int:
        return sum(len(rows) for _name, rows in self.sections)


# --- who may do what, as conditions on Incident.unit_id -----------------------------------------------


def _role_scope(*, session: Session, user: User, roles: frozenset[str]) -> units.Scope:
    """The units where the user holds one of `roles`, with their subtrees; everything from central.
    Kept for the request: the header and the page ask the same."""
    cache = request.environ.setdefault("crisis.desk.scopes", {}) if has_request_context() else {}
    key = (user.id, tuple(sorted(roles)))
    if key in cache:
        return cache[key]
    memberships = [m for m in user.memberships if m.role in roles]
    if any(m.unit.kind == UnitKind.central for m in memberships):
        scope = units.Scope(everything=True)
    elif not memberships:
        scope = units.Scope(everything=False)
    elif {m.unit_id for m in memberships} == {m.unit_id for m in user.memberships}:
        scope = units.visible_scope(session=session, user=user)  # the same roots: computed once a request
    else:
        roots = {m.unit_id for m in memberships}
        scope = units.Scope(everything=False, unit_ids=frozenset(units.subtree_ids(session=session, root_ids=roots)))
    cache[key] = scope
    return scope


def _visible(*, session: Session, user: User) -> ColumnElement[bool]:
    """Incidents the user sees (crisis.incidents.access): their units' subtree, or involving them."""
    condition = access.incident_query(session=session, user=user, lock=False).whereclause
    return condition if condition is not None else true()


def _acting_units(user: User) -> set[int]:
    return {m.unit_id for m in user.memberships if m.role in ACTING_ROLES}


# --- the queries: each kind as a select of its rows -----------------------------------------------------


def _my_steps(*, session: Session, user: User) -> ColumnElement[bool]:
    """Statements waiting for a step I may sign (crisis.incidents.statements.may_sign_role): the role
    the statement waits for, over the owning unit (the institution head: of that unit itself)."""
    mine = []
    for step_role, roles in SIGNER_ROLES.items():
        held = {m.unit_id for m in user.memberships if m.role in roles}
        if not held:
            continue
        if REACHES_DOWN[step_role]:
            where = _role_scope(session=session, user=user, roles=roles).filter(Incident.unit_id)
        else:
            where = Incident.unit_id.in_(sorted(held))
        mine.append(and_(Statement.awaiting_role == step_role, where))
    return or_(*mine) if mine else false()


def _statements(*, session: Session, user: User) -> Select[Any]:
    signed = exists().where(
        StatementSignature.statement_id == Statement.id,
        StatementSignature.signed_by_id == user.id,
        StatementSignature.cleared_at.is_(None),
    )
    return (
        select(Statement)
        .join(Incident, Incident.id == Statement.incident_id)
        .where(
            Incident.state == "active",
            Statement.state.in_(STATEMENT_AWAITING),
            Statement.drafted_by_id != user.id,
            _my_steps(session=session, user=user),
            ~signed,
        )
    )


def _returned_statements(*, session: Session, user: User) -> Select[Any]:
    """My statements an approver sent back (state "returned"): they wait for me to edit them."""
    return (
        select(Statement)
        .join(Incident, Incident.id == Statement.incident_id)
        .where(
            Incident.state == "active",
            Statement.state == STATEMENT_RETURNED,
            Statement.drafted_by_id == user.id,
            _visible(session=session, user=user),
        )
    )


def _escalations(*, session: Session, user: User) -> Select[Any]:
    """Deadline notices to me, sent, not acknowledged by anyone (the notice or its step), of a running
    incident, or of a resolved one whose review is due."""
    return (
        select(Notice)
        .join(Incident, Incident.id == Notice.incident_id)
        .outerjoin(Timer, Timer.id == Notice.timer_id)
        .where(
            Notice.recipient_user_id == user.id,
            Notice.kind == "deadline",
            Notice.status == "sent",
            Notice.acknowledged_at.is_(None),
            Timer.acknowledged_at.is_(None),
            # A running incident's steps; once resolved, only its review falling due still asks.
            or_(Incident.state == "active", and_(Incident.state == "resolved", Timer.kind == "review_due")),
            _visible(session=session, user=user),
        )
    )


def _checklist(*, session: Session, user: User, cap: int | None = None) -> Select[Any]:
    return (
        select(ChecklistEntry)
        .join(StageRun, StageRun.id == ChecklistEntry.stage_run_id)
        .join(Incident, Incident.id == StageRun.incident_id)
        .where(ChecklistEntry.id.in_(_my_open_entries(user, cap=cap)), _visible(session=session, user=user))
    )


def _capped(query: Select[Any], cap: int | None) -> Select[Any]:
    """A part of a UNION ALL limited to `cap` rows, as a derived table: SQLite (the embedded default)
    refuses a LIMIT on a bare part of a compound SELECT."""
    if cap is None:
        return query
    limited = query.limit(cap).subquery()
    return select(*limited.c)


def _my_open_entries(user: User, *, cap: int | None = None) -> Any:
    """Ids of the open checklist items of running stages that are mine: assigned to me, or unassigned
    and the commander's where I command, or my role's in a unit where I hold it. One part per way an
    item is mine, each reached from its own index (my assignments, my commands, my units' incidents),
    so the count does not walk every running stage of the country. cap: at most this many of each
    part (the header's count), so a person with thousands stops counting at the badge's limit."""
    running = and_(
        Incident.state == "active",
        StageRun.state == "active",
        ChecklistEntry.done_at.is_(None),
        ChecklistEntry.waived_at.is_(None),
    )

    def part(*conditions: Any) -> Select[Any]:
        query = (
            select(ChecklistEntry.id)
            .join(StageRun, StageRun.id == ChecklistEntry.stage_run_id)
            .join(Incident, Incident.id == StageRun.incident_id)
            .where(running, *conditions)
        )
        return _capped(query, cap)

    unassigned = ChecklistEntry.assignee_id.is_(None)
    parts = [
        part(ChecklistEntry.assignee_id == user.id),
        part(unassigned, ChecklistEntry.owner_role == "commander", Incident.commander_id == user.id),
    ]
    parts += [
        part(unassigned, ChecklistEntry.owner_role == m.role, Incident.unit_id == m.unit_id)
        for m in user.memberships
        if m.role in ACTING_ROLES
    ]
    return union_all(*parts)


def _reviews_to_write(*, session: Session, user: User, cap: int | None = None) -> Select[Any]:
    acting = _acting_units(user)  # crisis.reviews.service.can_write: observers write nothing
    if not acting:
        mine: Any = false()
    else:
        # Draft reviews of incidents I command, take part in, or that a unit where I act owns: one part
        # each, from its own index, not a walk over every draft review of the country (cap: at most
        # this many of each, for the header's count).
        draft = Review.state == "draft"
        parts = [
            select(Review.id)
            .join(Incident, Incident.id == Review.incident_id)
            .where(draft, Incident.commander_id == user.id),
            select(Review.id)
            .join(Participant, Participant.incident_id == Review.incident_id)
            .where(draft, Participant.user_id == user.id),
            select(Review.id)
            .join(Incident, Incident.id == Review.incident_id)
            .where(draft, Incident.unit_id.in_(sorted(acting))),
        ]
        mine = Review.id.in_(union_all(*(_capped(part, cap) for part in parts)))
    return (
        select(Review)
        .join(Incident, Incident.id == Review.incident_id)
        .where(Review.state == "draft", mine, _visible(session=session, user=user))
    )


def _reviews_to_approve(*, session: Session, user: User) -> Select[Any]:
    scope = _role_scope(session=session, user=user, roles=REVIEW_APPROVERS)
    return (
        select(Review)
        .join(Incident, Incident.id == Review.incident_id)
        .where(Review.state == "submitted", scope.filter(Incident.unit_id))
    )


def _action_items(*, session: Session, user: User, now: datetime) -> Select[Any]:
    return (
        select(ActionItem)
        .join(Review, Review.id == ActionItem.review_id)
        .join(Incident, Incident.id == Review.incident_id)
        .where(
            ActionItem.owner_id == user.id,
            ActionItem.status == "open",
            ActionItem.due_at <= now + ACTION_ITEM_SOON,
            _visible(session=session, user=user),
        )
    )


def _media_queries(*, session: Session, user: User) -> Select[Any]:
    """Open media queries assigned to me, of an incident still answering (running or resolved)."""
    return (
        select(MediaQuery)
        .join(Incident, Incident.id == MediaQuery.incident_id)
        .where(
            MediaQuery.assignee_id == user.id,
            MediaQuery.state == "open",
            Incident.state.in_(("active", "resolved")),
            _visible(session=session, user=user),
        )
    )


# --- the header's count ----------------------------------------------------------------------------------


BADGE_CAP = LIMIT  # the header counts up to this many (shown as "99+"), as the page lists as many of each


def count(*, session: Session, user: Any, now: datetime) -> int:
    """How many things wait for the user (0 when signed out), up to BADGE_CAP; once a request.

    Each kind is counted only up to the cap, in one statement (one round trip and one plan, not one
    per kind), and the checklist, the costliest, only when the others leave room under the cap: a
    national head with thousands of draft reviews costs the database as little as an officer with
    three (a few index lookups a kind), not a walk over the country's checklists."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    cache = request.environ if has_request_context() else {}
    key = f"crisis.desk.waiting_count.{user.id}"
    if key in cache:
        return cache[key]

    def capped(kind: Select[Any]) -> Any:
        return select(func.count()).select_from(kind.limit(BADGE_CAP).subquery()).scalar_subquery()

    rounds = (
        lambda: (
            capped(_statements(session=session, user=user)),
            capped(_returned_statements(session=session, user=user)),
            capped(_reviews_to_approve(session=session, user=user)),
            capped(_action_items(session=session, user=user, now=now)),
            capped(_media_queries(session=session, user=user)),
            _distinct_steps(session=session, user=user),  # escalation steps
            capped(_reviews_to_write(session=session, user=user, cap=BADGE_CAP)),
        ),
        lambda: (capped(_checklist(session=session, user=user, cap=BADGE_CAP)),),
    )
    total = 0
    for counts in rounds:
        total += sum(number or 0 for number in session.execute(select(*counts())).one())
        if total >= BADGE_CAP:
            break
    cache[key] = min(total, BADGE_CAP)
    return cache[key]


def _distinct_steps(*, session: Session, user: User) -> Any:
    """Escalation steps, not notices: one step reaches a person by in-app and e-mail."""
    steps = _escalations(session=session, user=user).with_only_columns(
        func.coalesce(Notice.timer_id, -Notice.id).label("step")
    )
    return select(func.count(func.distinct(steps.subquery().c.step))).scalar_subquery()


# --- the page ---------------------------------------------------------------------------------------------


def _incident_loading() -> Any:
    return (joinedload(Incident.unit), defer(Incident.playbook_snapshot))


def collect(*, session: Session, user: User, now: datetime, limit: int = LIMIT) -> Waiting:
    """Everything waiting for the user, each kind soonest (or longest waiting) first."""
    statement_rows = session.scalars(
        _statements(session=session, user=user)
        .options(
            contains_eager(Statement.incident).options(*_incident_loading()),
            joinedload(Statement.drafted_by),
        )
        .order_by(Statement.drafted_at, Statement.id)
        .limit(limit)
    ).all()
    statements = [
        Row("statement", s.incident, s.drafted_at, s, detail={"author": s.drafted_by.name}) for s in statement_rows
    ]
    statements += [
        Row("statement_returned", s.incident, s.drafted_at, s)
        for s in session.scalars(
            _returned_statements(session=session, user=user)
            .options(contains_eager(Statement.incident).options(*_incident_loading()))
            .order_by(Statement.drafted_at, Statement.id)
            .limit(limit)
        )
    ]

    escalations = _escalation_rows(session=session, user=user, now=now, limit=limit)

    entries = session.scalars(
        _checklist(session=session, user=user)
        .options(
            contains_eager(ChecklistEntry.stage_run).contains_eager(StageRun.incident).options(*_incident_loading())
        )
        .order_by(StageRun.due_at, Incident.id, ChecklistEntry.position)
        .limit(limit)
    ).all()
    checklist = []
    for entry in entries:
        run = entry.stage_run
        stage = snapshot_of(run.incident)["stages"][run.position]
        item = stage["checklist"][entry.position]
        checklist.append(
            Row(
                "checklist",
                run.incident,
                run.due_at or now,
                entry,
                overdue=run.due_at is not None and run.due_at < now,
                detail={"stage": stage["title"], "text": item["text"]},
            )
        )

    reviews: list[Row] = []
    for review in session.scalars(
        _reviews_to_approve(session=session, user=user)
        .options(contains_eager(Review.incident).options(*_incident_loading()), joinedload(Review.submitted_by))
        .order_by(Review.due_at, Review.id)
        .limit(limit)
    ).unique():
        author = review.submitted_by.name if review.submitted_by else ""
        reviews.append(
            Row(
                "review_approve",
                review.incident,
                review.submitted_at or review.created_at,
                review,
                overdue=review.due_at < now,
                detail={"author": author},
            )
        )
    seen = {row.subject.id for row in reviews}
    for review in session.scalars(
        _reviews_to_write(session=session, user=user)
        .options(contains_eager(Review.incident).options(*_incident_loading()))
        .order_by(Review.due_at, Review.id)
        .limit(limit)
    ).unique():
        if review.id not in seen:
            reviews.append(Row("review_write", review.incident, review.due_at, review, overdue=review.due_at < now))

    action_items = [
        Row("action_item", item.review.incident, item.due_at, item, overdue=item.due_at < now)
        for item in session.scalars(
            _action_items(session=session, user=user, now=now)
            .options(contains_eager(ActionItem.review).contains_eager(Review.incident).options(*_incident_loading()))
            .order_by(ActionItem.due_at, ActionItem.id)
            .limit(limit)
        )
    ]
    media_queries = [
        Row("media_query", query.incident, query.due_at, query, overdue=query.due_at < now)
        for query in session.scalars(
            _media_queries(session=session, user=user)
            .options(contains_eager(MediaQuery.incident).options(*_incident_loading()))
            .order_by(MediaQuery.due_at, MediaQuery.id)
            .limit(limit)
        )
    ]
    return Waiting(
        media_queries=media_queries,
        statements=statements,
        escalations=escalations,
        checklist=checklist,
        reviews=reviews,
        action_items=action_items,
    )


def _escalation_rows(*, session: Session, user: User, now: datetime, limit: int) -> list[Row]:
    notices = session.scalars(
        _escalations(session=session, user=user)
        .options(contains_eager(Notice.incident).options(*_incident_loading()))
        .order_by(Notice.due_at, Notice.id)
        .limit(limit * 3)
    ).all()
    rows: list[Row] = []
    steps: dict[Any, int] = {}  # one row per step: the in-app notice if there is one (it is acknowledged in-app)
    for notice in notices:
        step = notice.timer_id if notice.timer_id is not None else -notice.id
        payload = notice.payload or {}
        position = payload.get("stage_position")
        stage = snapshot_of(notice.incident)["stages"][position]["title"] if position is not None else None
        row = Row(
            "escalation",
            notice.incident,
            notice.due_at,
            notice,
            overdue=True,
            detail={"what": payload.get("kind", ""), "stage": stage},
        )
        if step in steps:
            if notice.channel == "inapp":
                rows[steps[step]] = row
            continue
        steps[step] = len(rows)
        rows.append(row)
    return rows[:limit]
