"""Statements and one narrative (narasi tunggal): draft, approve, publish, share key messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from crisis import clock, hooks, moments
from crisis.auth.models import User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import service as incidents
from crisis.incidents.labels import STATE_LABELS
from crisis.incidents.models import STATEMENT_KINDS, Incident, Publication, Statement
from crisis.issues.models import CHANNELS
from crisis.units import service as units

PUBLICATION_CHANNELS = (*CHANNELS, "website", "press_conference", "press_release_mail", "tv_radio")
APPROVER_ROLES = frozenset({"supervisor", "head"})


def _statement(*, session: Session, actor: User, statement_id: int, lock: bool = True) -> tuple[Statement, Incident]:
    statement = session.get(Statement, statement_id)
    if statement is None:
        raise NotFound(_l("Statement not found."))
    incident = incidents.get(session=session, user=actor, incident_id=statement.incident_id, lock=lock)
    return statement, incident


def _check_version(statement: Statement, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != statement.version:
        raise Conflict(_l("Someone else changed this statement just now; check the current text and try again."))


def _clean_text(title: str, body: str, errors: dict[str, str]) -> tuple[str, str]:
    """Title and text of a statement, stripped; raises with every field error, earlier ones included."""
    title, body = (title or "").strip(), (body or "").strip()
    if not title or len(title) > 300:
        errors["title"] = str(_l("A title of at most 300 characters is required."))
    if not body or len(body) > 20000:
        errors["body"] = str(_l("The text is required (at most 20,000 characters)."))
    if errors:
        raise ValidationFailed(errors)
    return title, body


def _add_publication(
    *,
    session: Session,
    statement: Statement,
    actor: User,
    unit_id: int,
    channel: str,
    url: str,
    published_at: datetime | None,
    now: datetime,
) -> Publication:
    channel, url, moment = _clean_publication(channel, url, published_at, now, statement=statement)
    publication = Publication(
        statement=statement,
        unit_id=unit_id,
        channel=channel,
        url=url,
        published_at=moment,
        recorded_by_id=actor.id,
        recorded_at=now,
    )
    session.add(publication)
    session.flush()
    return publication


def draft(
    *, session: Session, actor: User, incident_id: int, kind: str, title: str, body: str, now: datetime | None = None
) -> Statement:
    now = now or clock.now()
    incident = incidents.get(session=session, user=actor, incident_id=incident_id, lock=True)
    incidents.require_act(session=session, user=actor, incident=incident)
    incidents.require_open(incident)
    errors: dict[str, str] = {}
    if kind not in STATEMENT_KINDS:
        errors["kind"] = str(_l("Choose holding statement, press release, clarification or key messages."))
    title, body = _clean_text(title, body, errors)
    statement = Statement(incident=incident, kind=kind, title=title, body=body, drafted_by_id=actor.id, drafted_at=now)
    session.add(statement)
    session.flush()
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="statement.drafted",
        now=now,
        statement_id=statement.id,
        statement_kind=kind,
    )
    # A draft waits for approval from the moment it is saved: its approvers hear of it.
    hooks.run(hooks.STATEMENT_SUBMITTED, session=session, statement=statement, actor=actor, now=now)
    return statement


EDITABLE_STATES = ("draft", "returned")


def can_edit(*, session: Session, user: User, statement: Statement) -> bool:
    """The owning unit's team and the commander edit a draft, or one an approver sent back."""
    return statement.state in EDITABLE_STATES and incidents.can_act(
        session=session, user=user, incident=statement.incident
    )


def edit(
    *,
    session: Session,
    actor: User,
    statement_id: int,
    title: str,
    body: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Statement:
    """Change a draft's text; a statement sent back becomes a draft again, waiting for approval."""
    now = now or clock.now()
    statement, incident = _statement(session=session, actor=actor, statement_id=statement_id)
    incidents.require_act(session=session, user=actor, incident=incident)
    incidents.require_open(incident)
    _check_version(statement, expected_version)
    if statement.state not in EDITABLE_STATES:
        raise Conflict(_l("Only a draft or a statement sent back can be edited."))
    title, body = _clean_text(title, body, {})
    was = statement.state
    statement.title, statement.body = title, body
    statement.state = "draft"
    session.flush()
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="statement.edited",
        now=now,
        statement_id=statement.id,
        resubmitted=was == "returned",
    )
    if was == "returned":  # waiting for approval again: the approvers are told again
        hooks.run(hooks.STATEMENT_SUBMITTED, session=session, statement=statement, actor=actor, now=now)
    return statement


def send_back(
    *,
    session: Session,
    actor: User,
    statement_id: int,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Statement:
    """An approver returns a draft to its author with a reason; the author edits it, and it waits
    for approval again."""
    now = now or clock.now()
    statement, incident = _statement(session=session, actor=actor, statement_id=statement_id)
    # The role first, as for approval: who may not approve learns nothing of the state.
    if not can_approve(session=session, user=actor, statement=statement):
        raise NotPermitted(_l("Only a supervisor or head over the owning unit, who did not write it, sends it back."))
    incidents.require_open(incident)
    _check_version(statement, expected_version)
    if statement.state != "draft":
        raise Conflict(_l("Only a draft waiting for approval can be sent back."))
    reason = incidents.clean_text(reason, "reason", required=True)
    statement.state = "returned"
    statement.returned_at, statement.returned_by_id, statement.return_reason = now, actor.id, reason
    session.flush()
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="statement.returned",
        now=now,
        statement_id=statement.id,
        statement_kind=statement.kind,
        reason=reason,
    )
    return statement


def can_approve(*, session: Session, user: User, statement: Statement) -> bool:
    """A supervisor or head over the owning unit, who did not write it."""
    if statement.drafted_by_id == user.id:
        return False
    lead_units = {m.unit_id for m in user.memberships if m.role in APPROVER_ROLES}
    if not lead_units:
        return False
    scope = units.subtree_ids(session=session, root_ids=lead_units)
    central = any(m.unit.kind == "central" for m in user.memberships if m.role in APPROVER_ROLES)
    return central or statement.incident.unit_id in scope


def approve(
    *,
    session: Session,
    actor: User,
    statement_id: int,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Statement:
    now = now or clock.now()
    statement, incident = _statement(session=session, actor=actor, statement_id=statement_id)
    # The role first: who may not approve learns nothing of the incident's or the statement's state.
    if statement.drafted_by_id == actor.id:
        raise NotPermitted(_l("You cannot approve a statement you drafted; ask a supervisor or head."))
    if not can_approve(session=session, user=actor, statement=statement):
        raise NotPermitted(_l("Only a supervisor or head over the owning unit approves statements."))
    incidents.require_open(incident)
    _check_version(statement, expected_version)
    if statement.state == "returned":
        raise Conflict(_l("This statement was sent back: its author edits it before it is approved."))
    if statement.state != "draft":
        raise Conflict(_l("This statement is already %(state)s.", state=STATE_LABELS[statement.state]))
    statement.state, statement.approved_by_id, statement.approved_at = "approved", actor.id, now
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="statement.approved",
        now=now,
        statement_id=statement.id,
        statement_kind=statement.kind,
    )
    # Approved key messages go out to the involved units' chat groups (crisis.notify.chat).
    hooks.run(hooks.STATEMENT_APPROVED, session=session, statement=statement, incident=incident, now=now)
    return statement


def _clean_publication(
    channel: str, url: str, published_at: datetime | None, now: datetime, *, statement: Statement
) -> tuple[str, str, datetime]:
    """Channel, link and moment of a publication. The moment is checked against the statement's own
    timeline: not before the incident started nor before the statement's approval, and not in the
    future (beyond the clock skew). A time before the start would make time-to-first-statement
    negative and fire every situation reminder at once."""
    errors: dict[str, str] = {}
    if channel not in PUBLICATION_CHANNELS:
        errors["channel"] = str(_l("Choose the channel it was published on."))
    try:
        url = incidents.clean_url(url, "url")
    except ValidationFailed as error:
        errors.update({k: v[0] for k, v in error.errors.items()})
    moment = published_at or now
    incident = statement.incident
    wrong = moments.problem(
        moment,
        now=now,
        not_before=(
            (incident.started_at, _l("A statement cannot be published before the incident started.")),
            (statement.approved_at, _l("A statement cannot be published before it was approved.")),
        ),
    )
    if wrong is not None:
        errors["published_at"] = wrong
    if errors:
        raise ValidationFailed(errors)
    return channel, url, moment


def publish(
    *,
    session: Session,
    actor: User,
    statement_id: int,
    channel: str,
    url: str = "",
    published_at: datetime | None = None,
    now: datetime | None = None,
) -> Publication:
    """The owning unit publishes an approved statement; the first one sets time-to-first-statement."""
    now = now or clock.now()
    statement, incident = _statement(session=session, actor=actor, statement_id=statement_id)
    if not incidents.can_act(session=session, user=actor, incident=incident):
        raise NotPermitted(_l("The owning unit publishes its statements."))
    if statement.state not in ("approved", "published"):
        raise Conflict(_l("A statement is approved before it is published."))
    publication = _add_publication(
        session=session,
        statement=statement,
        actor=actor,
        unit_id=incident.unit_id,
        channel=channel,
        url=url,
        published_at=published_at,
        now=now,
    )
    moment, channel, url = publication.published_at, publication.channel, publication.url
    if statement.published_at is None or moment < statement.published_at:
        statement.published_at = moment
    statement.state = "published"
    if incident.first_statement_at is None or moment < incident.first_statement_at:
        incident.first_statement_at = moment
    if incident.state == "active":
        incident.last_update_at = max(incident.last_update_at or moment, moment)
    session.flush()
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="statement.published",
        now=now,
        statement_id=statement.id,
        statement_kind=statement.kind,
        channel=channel,
        url=url or None,
        published_at=moment.isoformat(),
    )
    if incident.state == "active":
        hooks.run(hooks.UPDATE_PUBLISHED, session=session, incident=incident, now=now)
    return publication


def record_shared_publication(
    *,
    session: Session,
    actor: User,
    statement_id: int,
    unit_id: int,
    channel: str,
    url: str = "",
    published_at: datetime | None = None,
    now: datetime | None = None,
) -> Publication:
    """An involved unit records where and when it published the shared key messages."""
    now = now or clock.now()
    statement, incident = _statement(session=session, actor=actor, statement_id=statement_id)
    # The role first: who does not act for the unit learns nothing of the statement's state.
    if unit_id not in units.acting_scope(session=session, user=actor):
        raise NotPermitted(_l("Only the unit itself records its publication."))
    if unit_id not in {i.unit_id for i in incident.involved}:
        raise ValidationFailed({"unit_id": str(_l("This unit is not involved in the incident."))})
    if statement.kind != "key_messages" or statement.state not in ("approved", "published"):
        raise Conflict(_l("Only approved key messages are shared with involved units."))
    publication = _add_publication(
        session=session,
        statement=statement,
        actor=actor,
        unit_id=unit_id,
        channel=channel,
        url=url,
        published_at=published_at,
        now=now,
    )
    moment, channel, url = publication.published_at, publication.channel, publication.url
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="key_messages.published_by_unit",
        now=now,
        statement_id=statement.id,
        unit_id=unit_id,
        channel=channel,
        url=url or None,
        published_at=moment.isoformat(),
    )
    return publication


@dataclass(frozen=True)
class UnitShare:
    unit: object
    publication: Publication | None
    lag: timedelta | None  # from approval to the unit's publication


def shared_status(statement: Statement) -> list[UnitShare]:
    """Who has and who has not published the shared key messages, with the lag since approval."""
    rows = []
    for involved in statement.incident.involved:
        own = [p for p in statement.publications if p.unit_id == involved.unit_id]
        first = min(own, key=lambda p: p.published_at) if own else None
        lag = first.published_at - statement.approved_at if first and statement.approved_at else None
        if lag is not None and lag < timedelta(0):  # recorded out of order before times were checked
            lag = None
        rows.append(UnitShare(unit=involved.unit, publication=first, lag=lag))
    return rows
