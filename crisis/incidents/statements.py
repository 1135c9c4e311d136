"""Statements and one narrative (narasi tunggal): draft, approve, publish, share key messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis import clock, hooks, moments
from crisis.auth.models import Membership, User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import service as incidents
from crisis.incidents.access import check_version as check_incident_version
from crisis.incidents.labels import SIGNER_LABELS, STATE_LABELS
from crisis.incidents.models import STATEMENT_KINDS, Incident, Publication, Statement, StatementSignature
from crisis.issues.models import CHANNELS
from crisis.playbooks.snapshot import playbook_spec
from crisis.playbooks.spec import ApprovalStep, Settings
from crisis.units import service as units
from crisis.units.models import Unit

PUBLICATION_CHANNELS = (*CHANNELS, "website", "press_conference", "press_release_mail", "tv_radio")
APPROVER_ROLES = frozenset({"supervisor", "head"})
# Who may sign each step of a playbook's approval chain (settings.approval), by membership role, and
# whether the role reaches down from units above the owning unit: an institution head (`leader`)
# signs only for the government of their own unit.
SIGNER_ROLES = {
    "supervisor": frozenset({"supervisor", "head"}),
    "head": frozenset({"head"}),
    "legal": frozenset({"legal"}),
    "leader": frozenset({"leader"}),
}
REACHES_DOWN = {"supervisor": True, "head": True, "legal": True, "leader": False}
AWAITING = ("draft", "submitted")  # states in which a statement waits for signatures


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
    # A draft waits for approval from the moment it is saved: the signers of its first step hear of it.
    _start_chain(session=session, statement=statement, actor=actor, now=now)
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
    # Whoever signed signed another text: the chain starts again.
    cleared = _clear_signatures(statement, now)
    session.flush()
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="statement.edited",
        now=now,
        statement_id=statement.id,
        statement_kind=statement.kind,
        resubmitted=was == "returned",
        signatures_cleared=cleared,
    )
    if was == "returned" or cleared:  # waiting for approval again: the first signers are told again
        _start_chain(session=session, statement=statement, actor=actor, now=now)
    return statement


def _clear_signatures(statement: Statement, now: datetime) -> int:
    """End this round of signatures (they stay on record); the number cleared."""
    current = statement.current_signatures
    for signature in current:
        signature.cleared_at = now
    return len(current)


def send_back(
    *,
    session: Session,
    actor: User,
    statement_id: int,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Statement:
    """A signer returns a draft to its author with a reason; the round's signatures are cleared, the
    author edits it, and it waits for the whole chain again."""
    now = now or clock.now()
    statement, incident = _statement(session=session, actor=actor, statement_id=statement_id)
    # The role first, as for approval: who may not approve learns nothing of the state.
    if not is_signer(session=session, user=actor, statement=statement):
        raise NotPermitted(_l("Only someone who signs this statement, and did not write it, sends it back."))
    incidents.require_open(incident)
    _check_version(statement, expected_version)
    if statement.state not in AWAITING:
        raise Conflict(_l("Only a draft waiting for approval can be sent back."))
    reason = incidents.clean_text(reason, "reason", required=True)
    statement.state = "returned"
    statement.returned_at, statement.returned_by_id, statement.return_reason = now, actor.id, reason
    cleared = _clear_signatures(statement, now)
    statement.awaiting_step = statement.awaiting_role = None
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
        signatures_cleared=cleared,
    )
    return statement


# --- the approval chain ---------------------------------------------------------------------------


def settings_of(incident: Incident) -> Settings:
    return playbook_spec(incident).settings


@dataclass(frozen=True)
class ChainStep:
    """One step of a statement's approval chain as it stands: `signed`, `waiting` (the next to sign),
    `to_come`, or `not_needed` (not for this kind or severity; or the statement was approved before
    the step applied)."""

    index: int
    step: ApprovalStep
    state: str
    signature: StatementSignature | None = None

    @property
    def role(self) -> str:
        return self.step.role


def chain(statement: Statement) -> list[ChainStep]:
    """Every step of the playbook's approval chain for this statement, at the incident's severity now."""
    incident = statement.incident
    signed = {s.step: s for s in statement.current_signatures}
    waiting_seen = False
    rows = []
    for index, step in enumerate(settings_of(incident).approval):
        signature = signed.get(index)
        if signature is not None:
            state = "signed"
        elif not step.applies_to(statement.kind, incident.severity) or statement.state not in (*AWAITING, "returned"):
            state = "not_needed"
        elif not waiting_seen and statement.state in AWAITING:
            state, waiting_seen = "waiting", True
        else:
            state = "to_come"
        rows.append(ChainStep(index=index, step=step, state=state, signature=signature))
    return rows


def _next_step(statement: Statement, settings: Settings) -> tuple[int, ApprovalStep] | None:
    """The first step that applies to the statement now and is not signed in this round."""
    signed = {s.step for s in statement.current_signatures}
    for index, step in settings.approval_for(statement.kind, statement.incident.severity):
        if index not in signed:
            return index, step
    return None


def _refresh_waiting(statement: Statement, settings: Settings) -> tuple[int, ApprovalStep] | None:
    """Keep the step the statement waits for on the row ("waiting for me" reads it)."""
    following = _next_step(statement, settings) if statement.state in AWAITING else None
    statement.awaiting_step = None if following is None else following[0]
    statement.awaiting_role = None if following is None else following[1].role
    return following


def _role_units(user: User, roles: frozenset[str]) -> set[int]:
    return {m.unit_id for m in user.memberships if m.role in roles}


def may_sign_role(*, session: Session, user: User, incident: Incident, role: str) -> bool:
    """Whether the user holds a role that signs this step for the incident's owning unit:
    `supervisor` a supervisor or head over it, `head` a head over it, `legal` a legal reviewer of it
    or of a unit above it, `leader` the head of the institution (or delegate) of the unit itself."""
    roots = _role_units(user, SIGNER_ROLES[role])
    if not roots:
        return False
    if not REACHES_DOWN[role]:
        return incident.unit_id in roots
    if role in ("supervisor", "head"):
        central = any(m.unit.kind == "central" for m in user.memberships if m.unit_id in roots)
        if central:
            return True
    return incident.unit_id in units.subtree_ids(session=session, root_ids=roots)


def is_signer(*, session: Session, user: User, statement: Statement) -> bool:
    """May sign some step of the statement's chain that applies to it now (the author never): such a
    person may also send it back."""
    if statement.drafted_by_id == user.id:
        return False
    incident = statement.incident
    roles = {step.role for _, step in settings_of(incident).approval_for(statement.kind, incident.severity)}
    return any(may_sign_role(session=session, user=user, incident=incident, role=role) for role in roles)


def has_signed(statement: Statement, user: User) -> bool:
    return any(s.signed_by_id == user.id for s in statement.current_signatures)


def can_approve(*, session: Session, user: User, statement: Statement) -> bool:
    """May sign the step the statement waits for now: holds its role, did not write the statement
    and has not signed it already in this round."""
    if statement.drafted_by_id == user.id or statement.state not in AWAITING or statement.awaiting_role is None:
        return False
    if has_signed(statement, user):
        return False
    return may_sign_role(session=session, user=user, incident=statement.incident, role=statement.awaiting_role)


def signer_candidates(*, session: Session, statement: Statement, role: str) -> list[User]:
    """Everyone who could sign a step of this role for the statement: active people holding it in the
    owning unit (and, except for the institution head, in the units above it), besides the author and
    those who already signed this round."""
    incident = statement.incident
    unit_ids = [incident.unit_id]
    if REACHES_DOWN[role]:
        unit_ids += [unit.id for unit in units.ancestors(incident.unit)]
        if role in ("supervisor", "head"):
            unit_ids += list(session.scalars(select(Unit.id).where(Unit.kind == "central")))
    signed = {s.signed_by_id for s in statement.current_signatures}
    people = session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.unit_id.in_(unit_ids), Membership.role.in_(sorted(SIGNER_ROLES[role])), User.active)
        .distinct()
        .order_by(User.id)
    )
    return [p for p in people if p.id != statement.drafted_by_id and p.id not in signed]


def nobody_to_sign(*, session: Session, statement: Statement) -> str | None:
    """The sentence a statement page shows when no one can sign the step it waits for, with what an
    administrator must do; None when someone can."""
    role = statement.awaiting_role
    if role is None or statement.state not in AWAITING or statement.incident.state != "active":
        return None
    if signer_candidates(session=session, statement=statement, role=role):
        return None
    unit = statement.incident.unit.name
    if role == "leader":
        return str(
            _l(
                "Nobody can sign the next step: %(unit)s has no member with the role “%(role)s” (other than the "
                "author and those who signed). An administrator of %(unit)s gives that role to the head of the "
                "institution or the delegate under Users.",
                unit=unit,
                role=SIGNER_LABELS["leader"],
            )
        )
    return str(
        _l(
            "Nobody can sign the next step: neither %(unit)s nor a unit above it has a member with the role "
            "“%(role)s” (other than the author and those who signed). An administrator gives that role to "
            "someone under Users.",
            unit=unit,
            role=SIGNER_LABELS[role],
        )
    )


def _start_chain(*, session: Session, statement: Statement, actor: User | None, now: datetime) -> None:
    """The statement waits for its first (or, after an edit, its first again) signature: its signers hear."""
    _refresh_waiting(statement, settings_of(statement.incident))
    session.flush()
    hooks.run(hooks.STATEMENT_SUBMITTED, session=session, statement=statement, actor=actor, now=now)


def approve(
    *,
    session: Session,
    actor: User,
    statement_id: int,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Statement:
    """Sign the step the statement waits for; the last step that applies approves it."""
    now = now or clock.now()
    statement, incident = _statement(session=session, actor=actor, statement_id=statement_id)
    # The role first: who may not approve learns nothing of the incident's or the statement's state.
    if statement.drafted_by_id == actor.id:
        raise NotPermitted(_l("You cannot approve a statement you drafted; ask a supervisor or head."))
    if not is_signer(session=session, user=actor, statement=statement):
        raise NotPermitted(_l("Only a supervisor or head over the owning unit approves statements."))
    incidents.require_open(incident)
    _check_version(statement, expected_version)
    if statement.state == "returned":
        raise Conflict(_l("This statement was sent back: its author edits it before it is approved."))
    if statement.state not in AWAITING:
        raise Conflict(_l("This statement is already %(state)s.", state=STATE_LABELS[statement.state]))
    if has_signed(statement, actor):
        raise NotPermitted(_l("You already signed this statement; the next step is signed by someone else."))
    settings = settings_of(incident)
    following = _refresh_waiting(statement, settings)
    assert following is not None  # nosec B101  # a statement waiting has a step to sign (validator: every kind)
    index, step = following
    if not may_sign_role(session=session, user=actor, incident=incident, role=step.role):
        raise NotPermitted(
            _l(
                "The next signature is for: %(role)s. You sign another step of this chain.",
                role=SIGNER_LABELS[step.role],
            )
        )
    statement.signatures.append(StatementSignature(step=index, role=step.role, signed_by_id=actor.id, signed_at=now))
    following = _refresh_waiting(statement, settings)
    session.flush()
    if following is not None:
        incidents.record(
            session=session,
            incident=incident,
            actor=actor,
            kind="statement.signed",
            now=now,
            statement_id=statement.id,
            statement_kind=statement.kind,
            step=index,
            role=step.role,
            signed=len(statement.current_signatures),
            steps=len(settings.approval_for(statement.kind, incident.severity)),
            next_role=following[1].role,
        )
        hooks.run(hooks.STATEMENT_SUBMITTED, session=session, statement=statement, actor=actor, now=now)
        return statement
    _mark_approved(
        session=session, statement=statement, incident=incident, actor=actor, now=now, step=index, role=step.role
    )
    return statement


def _mark_approved(
    *,
    session: Session,
    statement: Statement,
    incident: Incident,
    actor: User | None,
    now: datetime,
    step: int | None,
    role: str | None,
    severity: int | None = None,
) -> None:
    statement.state, statement.approved_at = "approved", now
    statement.approved_by_id = actor.id if actor is not None else statement.approved_by_id
    statement.awaiting_step = statement.awaiting_role = None
    session.flush()
    extra = {"step": step, "role": role} if role is not None else {"by_severity": severity}
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="statement.approved",
        now=now,
        statement_id=statement.id,
        statement_kind=statement.kind,
        **extra,
    )
    # Approved key messages go out to the involved units' chat groups (crisis.notify.chat).
    hooks.run(hooks.STATEMENT_APPROVED, session=session, statement=statement, incident=incident, now=now)


def severity_changed(*, session: Session, incident: Incident, now: datetime, **_: object) -> None:
    """The chain follows the incident's severity now (hook SEVERITY_CHANGED). A statement waiting may
    need more signatures (its next signers hear) or fewer (all it needs are signed: approved); an
    approved statement stays approved, and the timeline says which steps it was not asked for."""
    settings = settings_of(incident)
    for statement in incident.statements:
        if statement.state in AWAITING:
            before = (statement.awaiting_step, statement.awaiting_role)
            following = _refresh_waiting(statement, settings)
            if following is None and statement.current_signatures:
                _mark_approved(
                    session=session,
                    statement=statement,
                    incident=incident,
                    actor=None,
                    now=now,
                    step=None,
                    role=None,
                    severity=incident.severity,
                )
            elif following is not None and (following[0], following[1].role) != before:
                session.flush()
                hooks.run(hooks.STATEMENT_SUBMITTED, session=session, statement=statement, actor=None, now=now)
        elif statement.state == "approved":
            signed = {s.step for s in statement.current_signatures}
            unasked = [
                step.role
                for index, step in settings.approval_for(statement.kind, incident.severity)
                if index not in signed
            ]
            if unasked:
                incidents.record(
                    session=session,
                    incident=incident,
                    actor=None,
                    kind="statement.approval_kept",
                    now=now,
                    statement_id=statement.id,
                    statement_kind=statement.kind,
                    severity=incident.severity,
                    roles=unasked,
                )
    session.flush()


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
    if incident.spokesperson_id is None and settings_of(incident).spokesperson_required(incident.severity):
        raise Conflict(
            _l(
                "At severity %(severity)s this SOP asks for a spokesperson before anything is published: the "
                "commander, a supervisor or the head designates one on the incident page first.",
                severity=incident.severity,
            )
        )
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
    publication.spokesperson_id = incident.spokesperson_id
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


# --- the spokesperson ------------------------------------------------------------------------------


def can_designate_spokesperson(*, session: Session, user: User, incident: Incident) -> bool:
    """The commander, or a supervisor or head over the owning unit."""
    return incident.commander_id == user.id or may_sign_role(
        session=session, user=user, incident=incident, role="supervisor"
    )


def spokesperson_candidates(*, session: Session, incident: Incident) -> list[User]:
    """Active people of the owning unit and the units above it: who may speak for the institution."""
    unit_ids = [incident.unit_id, *(unit.id for unit in units.ancestors(incident.unit))]
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.unit_id.in_(unit_ids), User.active)
            .distinct()
            .order_by(User.name, User.id)
        )
    )


def designate_spokesperson(
    *,
    session: Session,
    actor: User,
    incident_id: int,
    spokesperson_id: int | None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """Record who speaks for the institution in this response (None: nobody designated any more)."""
    now = now or clock.now()
    incident = incidents.get(session=session, user=actor, incident_id=incident_id, lock=True)
    if not can_designate_spokesperson(session=session, user=actor, incident=incident):
        raise NotPermitted(
            _l("The commander, a supervisor or the head over the owning unit designates the spokesperson.")
        )
    incidents.require_open(incident)
    check_incident_version(incident, expected_version)
    if spokesperson_id is not None and spokesperson_id not in {
        person.id for person in spokesperson_candidates(session=session, incident=incident)
    }:
        raise ValidationFailed(
            {"spokesperson_id": str(_l("Choose an active person of the owning unit or a unit above it."))}
        )
    before = incident.spokesperson_id
    if before == spokesperson_id:
        return incident
    incident.spokesperson_id = spokesperson_id
    session.flush()
    incidents.record(
        session=session,
        incident=incident,
        actor=actor,
        kind="incident.spokesperson",
        now=now,
        before=before,
        after=spokesperson_id,
    )
    return incident
