"""The incident workflow: escalate an issue, run the playbook's stages, resolve or cancel.

Plain functions; keyword-only session, actor and now; flush, never commit. Every change writes a
timeline event. Timers are written in the same transaction, by the hooks crisis.wiring connects.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session, defer, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from crisis import clock, hooks
from crisis.auth.models import ACTING_ROLES, Membership, Role, User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.labels import STATE_LABELS
from crisis.incidents.models import (
    ChecklistEntry,
    Comment,
    Incident,
    InvolvedUnit,
    Participant,
    StageRun,
    Statement,
)
from crisis.issues import service as issues
from crisis.links import url_problem
from crisis.playbooks import service as playbooks
from crisis.playbooks.models import PlaybookVersion
from crisis.timeline import service as timeline
from crisis.timeline.models import RETENTION_FLAG, TimelineEvent
from crisis.units import service as units
from crisis.units.models import Unit

LEAD_ROLES = frozenset({Role.supervisor, Role.head, Role.admin})
MAX_TEXT = 5000


# --- access ---------------------------------------------------------------------------------


def _visible_filter(*, session: Session, user: User) -> Any:
    scope = units.visible_scope(session=session, user=user)
    if scope.everything:
        return None
    involved = select(InvolvedUnit.incident_id).where(scope.filter(InvolvedUnit.unit_id))
    return or_(scope.filter(Incident.unit_id), Incident.id.in_(involved))


def get(
    *,
    session: Session,
    user: User,
    incident_id: int,
    lock: bool = False,
    reload_runs: bool = True,
    options: tuple[Any, ...] = (),
) -> Incident:
    """An incident the user may see: of their units' subtree, or one their units are involved in.

    lock: its row is locked and re-read, and so are its stages and checklist entries unless
    reload_runs is False (the caller then re-reads what it changes itself). options: loader
    options for the query (PAGE_LOADING for the incident page)."""
    query = _incident_query(session=session, user=user, lock=lock, options=options)
    incident = session.scalar(query.where(Incident.id == incident_id))
    if incident is None:
        raise NotFound(_l("Incident not found."))
    if lock and reload_runs:
        _reload_runs(session=session, incident=incident)
    return incident


def _incident_query(*, session: Session, user: User, lock: bool, options: tuple[Any, ...] = ()) -> Any:
    """The incidents the user may see, for get(): add which one."""
    query = select(Incident).options(*options)
    visible = _visible_filter(session=session, user=user)
    if visible is not None:
        query = query.where(visible)
    if lock:
        # Serialises changes to one incident; a second writer waits, then reads the state the
        # first one committed (populate_existing replaces what this session had loaded before).
        query = query.with_for_update().execution_options(populate_existing=True)
    return query


def get_for_page(*, session: Session, user: User, incident_id: int) -> Incident:
    """get() with what the incident page shows: in the incident's own query the owning unit with
    the units above it (hand-over targets and commander candidates) and of the SOP version only its
    number (not its canonical form and YAML); then its stages with their entries, its involved
    units with their units, and its statements with their publications, one query each."""
    incident = get(session=session, user=user, incident_id=incident_id, options=_page_options())
    values = {"incident_id": incident.id}
    for collection, query in _page_collections().items():
        set_committed_value(incident, collection, session.scalars(query, values).unique().all())
    return incident


@functools.cache
def _page_options() -> tuple[Any, ...]:
    """Built once: loader options never change."""
    return (
        joinedload(Incident.unit).joinedload(Unit.parent).joinedload(Unit.parent),
        joinedload(Incident.playbook_version).load_only(PlaybookVersion.number, PlaybookVersion.playbook_id),
    )


@functools.cache
def _page_collections() -> dict[str, Select[Any]]:
    """Built once, the incident a parameter. selectinload built (and keyed) these anew for every
    page, which cost more than running them; as for the order, each is its relationship's."""
    incident = bindparam("incident_id")
    return {
        "stage_runs": select(StageRun)
        .where(StageRun.incident_id == incident)
        .order_by(StageRun.position)
        .options(joinedload(StageRun.entries)),
        "involved": select(InvolvedUnit)
        .where(InvolvedUnit.incident_id == incident)
        .order_by(InvolvedUnit.id)
        .options(joinedload(InvolvedUnit.unit)),
        "statements": select(Statement)
        .where(Statement.incident_id == incident)
        .order_by(Statement.id)
        .options(joinedload(Statement.publications)),
    }


def _reload_runs(*, session: Session, incident: Incident) -> None:
    fresh = {"populate_existing": True}
    session.scalars(select(StageRun).where(StageRun.incident_id == incident.id).execution_options(**fresh)).all()
    session.scalars(
        select(ChecklistEntry).join(StageRun).where(StageRun.incident_id == incident.id).execution_options(**fresh)
    ).all()


def list_for_user(
    *,
    session: Session,
    user: User,
    states: tuple[str, ...] = ("active",),
    unit_id: int | None = None,
    severity: int | None = None,
    limit: int = 200,
    summary_only: bool = False,
) -> list[Incident]:
    """summary_only: for pages that list incidents and act on none of them. Each incident comes
    without its SOP snapshot (~9 kB of JSON; read what is shown of it with summaries()) and with
    only its running stage in stage_runs."""
    runs = Incident.stage_runs.and_(StageRun.state == "active") if summary_only else Incident.stage_runs
    query = (
        select(Incident)
        .where(Incident.state.in_(states))
        .options(selectinload(runs), selectinload(Incident.unit))
        .order_by(Incident.severity.desc(), Incident.started_at, Incident.id)
        .limit(limit)
    )
    if summary_only:
        query = query.options(defer(Incident.playbook_snapshot))
    visible = _visible_filter(session=session, user=user)
    if visible is not None:
        query = query.where(visible)
    if unit_id is not None:
        query = query.where(Incident.unit_id.in_(sorted(units.subtree_ids(session=session, root_ids={unit_id}))))
    if severity is not None:
        query = query.where(Incident.severity == severity)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Summary:
    """What a list shows of an incident's SOP snapshot."""

    key: str
    settings: dict[str, Any]
    stage_title: dict[str, str] | None  # of the stage running now; None when none is


def summaries(*, session: Session, incidents: list[Incident]) -> dict[int, Summary]:
    """Each incident's Summary, read from the few SOP versions among them instead of every snapshot:
    an incident's snapshot is its version's canonical form, copied when it opened (open_from_issue),
    and a published version never changes (playbooks.models refuses updates)."""
    version_ids = sorted({incident.playbook_version_id for incident in incidents})
    canonical = dict(
        session.execute(
            select(PlaybookVersion.id, PlaybookVersion.canonical).where(PlaybookVersion.id.in_(version_ids))
        ).all()
    )
    found: dict[int, Summary] = {}
    for incident in incidents:
        sop, run = canonical[incident.playbook_version_id], incident.current_stage
        stage_title = sop["stages"][run.position]["title"] if run is not None else None
        found[incident.id] = Summary(key=sop["key"], settings=sop["settings"], stage_title=stage_title)
    return found


def can_act(*, session: Session, user: User, incident: Incident) -> bool:
    """Officers and above of the owning unit's tree, and the commander, run the response."""
    return incident.commander_id == user.id or incident.unit_id in units.acting_scope(session=session, user=user)


def can_lead(*, session: Session, user: User, incident: Incident) -> bool:
    """Supervisors, heads and admins over the owning unit, and the commander, take the big decisions."""
    if incident.commander_id == user.id:
        return True
    lead_units = {m.unit_id for m in user.memberships if m.role in LEAD_ROLES}
    if any(session.get(Unit, uid).kind == "central" for uid in lead_units):
        return True
    return incident.unit_id in units.subtree_ids(session=session, root_ids=lead_units)


def _require_act(*, session: Session, user: User, incident: Incident) -> None:
    if not can_act(session=session, user=user, incident=incident):
        raise NotPermitted(_l("Only the owning unit's team and the commander act on this incident."))


def _require_lead(*, session: Session, user: User, incident: Incident) -> None:
    if not can_lead(session=session, user=user, incident=incident):
        raise NotPermitted(
            _l("Only the commander, a supervisor, a head or an administrator over the owning unit may do this.")
        )


def _require_open(incident: Incident) -> None:
    if incident.state != "active":
        raise Conflict(_l("This incident is %(state)s; it no longer changes.", state=STATE_LABELS[incident.state]))


def _check_version(incident: Incident, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != incident.version:
        raise Conflict(
            _l("Someone else changed this incident just now. The page shows the current state; check it and try again.")
        )


def _lead_action(*, session: Session, actor: User, incident_id: int, expected_version: int | None = None) -> Incident:
    """The incident locked for a decision by its leads: open, and unchanged since the actor saw it."""
    incident = get(session=session, user=actor, incident_id=incident_id, lock=True)
    _require_lead(session=session, user=actor, incident=incident)
    _require_open(incident)
    _check_version(incident, expected_version)
    return incident


def _record(*, session: Session, incident: Incident, actor: User | None, kind: str, now: datetime, **data: Any) -> None:
    timeline.record(
        session=session,
        kind=kind,
        subject_type="incident",
        subject_id=incident.id,
        actor_id=actor.id if actor else None,
        unit_id=incident.unit_id,
        data=data,
        now=now,
    )


def _record_entry(
    *, session: Session, incident: Incident, actor: User, entry: ChecklistEntry, kind: str, now: datetime, **data: Any
) -> None:
    _record(
        session=session,
        incident=incident,
        actor=actor,
        kind=kind,
        now=now,
        stage=entry.stage_run.stage_key,
        item=entry.item_key,
        **data,
    )


def _clean_text(value: str | None, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed({field: str(_l("This is required."))})
    if len(text) > limit:
        raise ValidationFailed({field: str(_l("At most %(n)d characters.", n=limit))})
    return text


def clean_url(value: str | None, field: str) -> str:
    """An optional http(s) link; empty stays empty."""
    url = (value or "").strip()
    if url and (problem := url_problem(url)) is not None:
        raise ValidationFailed({field: str(problem)})
    return url


# --- opening --------------------------------------------------------------------------------


def suggest_playbooks(*, session: Session, category: str, severity: int) -> list[Any]:
    """Playbooks of the issue's category that apply to the severity first, then the rest."""
    everything = playbooks.list_playbooks(session=session)
    return sorted(everything, key=lambda p: (p.category != category, severity not in p.severities, p.key))


def commander_candidates(*, session: Session, unit_id: int) -> list[User]:
    """People with an acting role in the unit or its ancestors: who can command there."""
    unit = session.get(Unit, unit_id)
    chain = [unit.id] + [u.id for u in units.ancestors(unit)]
    return list(
        session.scalars(
            select(User)
            .join(Membership)
            .where(
                Membership.unit_id.in_(chain),
                Membership.role.in_([r.value for r in ACTING_ROLES]),
                User.active,
            )
            .order_by(User.name)
            .distinct()
        )
    )


def open_from_issue(
    *,
    session: Session,
    actor: User,
    issue_id: int,
    playbook_key: str,
    severity: int,
    commander_id: int,
    now: datetime | None = None,
) -> Incident:
    """Escalate an issue: in one transaction open the incident with a snapshot of the playbook,
    its stage runs and checklist entries, start the first stage and plan its timers."""
    now = now or clock.now()
    issue = issues.get(session=session, user=actor, issue_id=issue_id)
    if issue.unit_id not in units.acting_scope(session=session, user=actor):
        raise NotPermitted(_l("Observers cannot escalate issues."))
    errors: dict[str, str] = {}
    version = None
    try:
        version = playbooks.get_version(session=session, key=playbook_key)
    except NotFound:
        errors["playbook_key"] = str(_l("No SOP with this key."))
    if not isinstance(severity, int) or not 1 <= severity <= 4:
        errors["severity"] = str(_l("Choose a severity from 1 to 4."))
    elif version is not None and severity not in version.canonical["severities"]:
        errors["severity"] = str(
            _l("This SOP applies to severity %(list)s.", list=", ".join(map(str, version.canonical["severities"])))
        )
    commander = session.get(User, commander_id) if isinstance(commander_id, int) else None
    if commander is None or commander.id not in {
        u.id for u in commander_candidates(session=session, unit_id=issue.unit_id)
    }:
        errors["commander_id"] = str(_l("Choose a commander with a role in this unit or above it."))
    if errors:
        raise ValidationFailed(errors)
    assert version is not None and commander is not None  # nosec B101  # type narrowing: errors raised above
    incident = Incident(
        issue_id=issue.id,
        unit_id=issue.unit_id,
        title=issue.title,
        severity=severity,
        state="active",
        commander_id=commander.id,
        playbook_version_id=version.id,
        playbook_snapshot=version.canonical,
        opened_by_id=actor.id,
        started_at=now,
    )
    session.add(incident)
    session.flush()
    spec = version.spec
    for position, stage in enumerate(spec.stages):
        run = StageRun(
            incident=incident,
            position=position,
            stage_key=stage.key,
            target_seconds=int(stage.target_for(severity).total_seconds()),
        )
        for item_position, item in enumerate(stage.checklist):
            run.entries.append(
                ChecklistEntry(
                    position=item_position,
                    item_key=item.key,
                    required=item.required,
                    owner_role=item.owner,
                    evidence_expected=item.evidence,
                )
            )
        session.add(run)
    session.add(Participant(incident=incident, user_id=commander.id, role="commander"))
    session.flush()
    issues.mark_escalated(session=session, issue=issue, incident_id=incident.id, actor=actor, now=now)
    _record(
        session=session,
        incident=incident,
        actor=actor,
        kind="incident.opened",
        now=now,
        issue_id=issue.id,
        playbook=version.playbook.key,
        playbook_version=version.number,
        severity=severity,
        commander_id=commander.id,
    )
    _start_stage(session=session, incident=incident, run=incident.stage_runs[0], actor=actor, now=now)
    hooks.run(hooks.INCIDENT_OPENED, session=session, incident=incident, now=now)
    return incident


def _start_stage(*, session: Session, incident: Incident, run: StageRun, actor: User | None, now: datetime) -> None:
    run.state = "active"
    run.started_at = now
    run.target_seconds = int(run.spec.target_for(incident.severity).total_seconds())
    run.due_at = now + timedelta(seconds=run.target_seconds)
    session.flush()
    _record(
        session=session,
        incident=incident,
        actor=actor,
        kind="stage.started",
        now=now,
        stage=run.stage_key,
        due_at=run.due_at.isoformat(),
        target_seconds=run.target_seconds,
    )
    hooks.run(hooks.STAGE_STARTED, session=session, stage_run=run, now=now)


# --- stages and checklists ------------------------------------------------------------------


def _entry(*, session: Session, actor: User, entry_id: int) -> tuple[ChecklistEntry, Incident]:
    """The item and its incident, the incident locked and the item read after the lock was taken
    (whoever held it before may have changed the item): two queries whatever the incident's size."""
    incident_of_entry = select(StageRun.incident_id).join(
        ChecklistEntry, ChecklistEntry.stage_run_id == StageRun.id
    ).where(ChecklistEntry.id == entry_id)
    # The incident is found through the item in the locking query itself (an item never moves).
    query = _incident_query(session=session, user=actor, lock=True)
    incident = session.scalar(query.where(Incident.id == incident_of_entry.scalar_subquery()))
    if incident is None:  # no such item, or its incident is out of reach: say which, as get() would
        if session.scalar(incident_of_entry) is None:
            raise NotFound(_l("Checklist item not found."))
        raise NotFound(_l("Incident not found."))
    entry = session.scalars(
        select(ChecklistEntry)
        .options(joinedload(ChecklistEntry.stage_run))
        .where(ChecklistEntry.id == entry_id)
        .execution_options(populate_existing=True)
    ).one()
    # Link the stage to the incident just loaded: the session keeps rows only while something refers
    # to them, and whatever shows the item next (its text) needs the incident's SOP.
    set_committed_value(entry.stage_run, "incident", incident)
    _require_act(session=session, user=actor, incident=incident)
    _require_open(incident)
    return entry, incident


def tick(
    *,
    session: Session,
    actor: User,
    entry_id: int,
    note: str = "",
    evidence_url: str = "",
    now: datetime | None = None,
) -> ChecklistEntry:
    now = now or clock.now()
    entry, incident = _entry(session=session, actor=actor, entry_id=entry_id)
    if entry.closed:
        who = entry.done_by or entry.waived_by
        raise Conflict(_l("Already closed by %(name)s.", name=who.name if who else "?"))
    url = clean_url(evidence_url, "evidence_url")
    if entry.evidence_expected and not url and not entry.evidence_url:
        raise ValidationFailed({"evidence_url": str(_l("This item expects evidence: add a link."))})
    entry.done_at, entry.done_by_id = now, actor.id
    if note:
        entry.note = _clean_text(note, "note")
    if url:
        entry.evidence_url = url
    _record_entry(
        session=session,
        incident=incident,
        actor=actor,
        entry=entry,
        kind="checklist.done",
        now=now,
        evidence_url=url or None,
    )
    return entry


def untick(*, session: Session, actor: User, entry_id: int, now: datetime | None = None) -> ChecklistEntry:
    now = now or clock.now()
    entry, incident = _entry(session=session, actor=actor, entry_id=entry_id)
    if entry.stage_run.state == "completed":
        raise Conflict(_l("The stage is complete; its checklist no longer changes."))
    was = "waived" if entry.waived_at else "done"
    entry.done_at = entry.done_by_id = entry.waived_at = entry.waived_by_id = None
    entry.waive_reason = ""
    _record_entry(
        session=session, incident=incident, actor=actor, entry=entry, kind="checklist.reopened", now=now, was=was
    )
    return entry


def annotate(
    *,
    session: Session,
    actor: User,
    entry_id: int,
    note: str | None = None,
    evidence_url: str | None = None,
    now: datetime | None = None,
) -> ChecklistEntry:
    now = now or clock.now()
    entry, incident = _entry(session=session, actor=actor, entry_id=entry_id)
    changed: dict[str, Any] = {}
    if note is not None:
        entry.note = changed["note"] = _clean_text(note, "note")
    if evidence_url is not None:
        entry.evidence_url = changed["evidence_url"] = clean_url(evidence_url, "evidence_url")
    if changed:
        _record_entry(
            session=session, incident=incident, actor=actor, entry=entry, kind="checklist.noted", now=now, **changed
        )
    return entry


def waive(*, session: Session, actor: User, entry_id: int, reason: str, now: datetime | None = None) -> ChecklistEntry:
    """Skip a required item on purpose, with a reason; waivers are counted in the review."""
    now = now or clock.now()
    entry, incident = _entry(session=session, actor=actor, entry_id=entry_id)
    _require_lead(session=session, user=actor, incident=incident)
    reason = _clean_text(reason, "reason", required=True)
    if entry.closed:
        raise Conflict(_l("This item is already closed."))
    entry.waived_at, entry.waived_by_id, entry.waive_reason = now, actor.id, reason
    _record_entry(
        session=session, incident=incident, actor=actor, entry=entry, kind="checklist.waived", now=now, reason=reason
    )
    return entry


def assign(
    *, session: Session, actor: User, entry_id: int, assignee_id: int | None, now: datetime | None = None
) -> ChecklistEntry:
    now = now or clock.now()
    entry, incident = _entry(session=session, actor=actor, entry_id=entry_id)
    if assignee_id is not None:
        candidates = {u.id for u in commander_candidates(session=session, unit_id=incident.unit_id)}
        candidates |= {p.user_id for p in incident.participants}
        if assignee_id not in candidates:
            raise ValidationFailed({"assignee_id": str(_l("Assign someone on this incident's team."))})
    entry.assignee_id = assignee_id
    _record_entry(
        session=session,
        incident=incident,
        actor=actor,
        entry=entry,
        kind="checklist.assigned",
        now=now,
        assignee_id=assignee_id,
    )
    return entry


def missing_items(run: StageRun) -> list[ChecklistEntry]:
    return [entry for entry in run.entries if entry.required and not entry.closed]


def complete_stage(*, session: Session, actor: User, stage_run_id: int, now: datetime | None = None) -> StageRun:
    """Refused while required items are open; completing the current stage starts the next."""
    now = now or clock.now()
    run = session.get(StageRun, stage_run_id)
    if run is None:
        raise NotFound(_l("Stage not found."))
    incident = get(session=session, user=actor, incident_id=run.incident_id, lock=True)
    _require_act(session=session, user=actor, incident=incident)
    _require_open(incident)
    if run.state != "active":
        raise Conflict(_l("Only the current stage can be completed."))
    missing = missing_items(run)
    if missing:
        raise ValidationFailed({"checklist": [str(_l("Still open: %(item)s", item=e.item_key)) for e in missing]})
    _complete(session=session, incident=incident, run=run, actor=actor, now=now)
    following = next((r for r in incident.stage_runs if r.position == run.position + 1), None)
    if following is not None:
        _start_stage(session=session, incident=incident, run=following, actor=actor, now=now)
    return run


def _complete(*, session: Session, incident: Incident, run: StageRun, actor: User | None, now: datetime) -> None:
    run.state = "completed"
    run.completed_at, run.completed_by_id = now, actor.id if actor else None
    late = (now - run.due_at).total_seconds() if run.due_at else 0
    hooks.run(hooks.STAGE_COMPLETED, session=session, stage_run=run, now=now)
    _record(
        session=session,
        incident=incident,
        actor=actor,
        kind="stage.completed",
        now=now,
        stage=run.stage_key,
        breached=late > 0,
        late_seconds=max(0, int(late)),
    )


# --- the incident as a whole ------------------------------------------------------------------


def comment(*, session: Session, actor: User, incident_id: int, body: str, now: datetime | None = None) -> Comment:
    """Anyone who can see the incident can comment, involved units included."""
    now = now or clock.now()
    incident = get(session=session, user=actor, incident_id=incident_id)
    if not any(m.role in ACTING_ROLES for m in actor.memberships):
        raise NotPermitted(_l("Observers read and do not comment."))
    text = _clean_text(body, "body", required=True)
    note = Comment(incident_id=incident.id, author_id=actor.id, body=text, created_at=now)
    session.add(note)
    session.flush()
    _record(session=session, incident=incident, actor=actor, kind="comment.added", now=now, comment_id=note.id)
    return note


def change_severity(
    *,
    session: Session,
    actor: User,
    incident_id: int,
    severity: int,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Incident:
    now = now or clock.now()
    incident = _lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
    if severity not in (1, 2, 3, 4):
        raise ValidationFailed({"severity": str(_l("Choose a severity from 1 to 4."))})
    if severity not in incident.playbook_snapshot["severities"]:
        raise ValidationFailed(
            {
                "severity": str(
                    _l(
                        "This SOP applies to severity %(list)s.",
                        list=", ".join(map(str, incident.playbook_snapshot["severities"])),
                    )
                )
            }
        )
    reason = _clean_text(reason, "reason", required=True)
    if severity == incident.severity:
        return incident
    before = incident.severity
    incident.severity = severity
    run = incident.current_stage
    if run is not None and run.started_at is not None:
        # The target of the running stage follows the new severity, measured from its start.
        run.target_seconds = int(run.spec.target_for(severity).total_seconds())
        run.due_at = run.started_at + timedelta(seconds=run.target_seconds)
    session.flush()
    _record(
        session=session,
        incident=incident,
        actor=actor,
        kind="severity.changed",
        now=now,
        before=before,
        after=severity,
        reason=reason,
    )
    hooks.run(hooks.SEVERITY_CHANGED, session=session, incident=incident, now=now)
    return incident


def involve_unit(
    *, session: Session, actor: User, incident_id: int, unit_id: int, now: datetime | None = None
) -> InvolvedUnit:
    now = now or clock.now()
    incident = _lead_action(session=session, actor=actor, incident_id=incident_id)
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise ValidationFailed({"unit_id": str(_l("No such unit."))})
    if unit.id == incident.unit_id:
        raise ValidationFailed({"unit_id": str(_l("This unit owns the incident."))})
    current = next((i for i in incident.involved if i.unit_id == unit.id and i.released_at is None), None)
    if current is not None:
        raise ValidationFailed({"unit_id": str(_l("This unit is already involved."))})
    involved = InvolvedUnit(incident=incident, unit_id=unit.id, involved_at=now, involved_by_id=actor.id)
    session.add(involved)
    session.flush()
    _record(session=session, incident=incident, actor=actor, kind="unit.involved", now=now, unit=unit.code)
    return involved


def release_unit(*, session: Session, actor: User, incident_id: int, unit_id: int, now: datetime | None = None) -> None:
    now = now or clock.now()
    incident = _lead_action(session=session, actor=actor, incident_id=incident_id)
    current = next((i for i in incident.involved if i.unit_id == unit_id and i.released_at is None), None)
    if current is None:
        raise ValidationFailed({"unit_id": str(_l("This unit is not involved."))})
    current.released_at = now
    _record(session=session, incident=incident, actor=actor, kind="unit.released", now=now, unit=current.unit.code)


def hand_over(
    *,
    session: Session,
    actor: User,
    incident_id: int,
    to: str,
    commander_id: int | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """Ownership goes to the parent unit or to the central desk, which takes command; the
    former owner stays involved."""
    now = now or clock.now()
    incident = _lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
    owner = incident.unit
    chain = units.ancestors(owner)
    if to == "parent":
        target = owner.parent
    elif to == "central":
        target = next((u for u in reversed(chain) if u.kind == "central"), None)
    else:
        raise ValidationFailed({"to": str(_l("Hand over to 'parent' or 'central'."))})
    if target is None:
        raise ValidationFailed({"to": str(_l("This unit has no unit above it to hand over to."))})
    candidates = commander_candidates(session=session, unit_id=target.id)
    candidates = [u for u in candidates if any(m.unit_id == target.id for m in u.memberships)] or candidates
    if commander_id is None:
        # Central takes command: the head of the receiving unit, else its first lead.
        ranked = sorted(
            candidates,
            key=lambda u: min(
                (
                    {"head": 0, "supervisor": 1, "admin": 2, "officer": 3}.get(m.role, 9)
                    for m in u.memberships
                    if m.unit_id == target.id
                ),
                default=9,
            ),
        )
        commander = ranked[0] if ranked else None
    else:
        commander = next((u for u in candidates if u.id == commander_id), None)
    if commander is None:
        raise ValidationFailed({"commander_id": str(_l("Choose a commander with a role in the receiving unit."))})
    former_owner, former_commander = owner, incident.commander_id
    incident.unit_id = target.id
    incident.commander_id = commander.id
    if not any(i.unit_id == former_owner.id and i.released_at is None for i in incident.involved):
        session.add(InvolvedUnit(incident=incident, unit_id=former_owner.id, involved_at=now, involved_by_id=actor.id))
    for involved in incident.involved:
        if involved.unit_id == target.id and involved.released_at is None:
            involved.released_at = now  # now the owner, no longer merely involved
    if not any(p.user_id == commander.id for p in incident.participants):
        session.add(Participant(incident=incident, user_id=commander.id, role="commander"))
    session.flush()
    _record(
        session=session,
        incident=incident,
        actor=actor,
        kind="incident.handed_over",
        now=now,
        from_unit=former_owner.code,
        to_unit=target.code,
        commander_before=former_commander,
        commander_after=commander.id,
    )
    return incident


def open_required_items(incident: Incident) -> list[tuple[StageRun, ChecklistEntry]]:
    return [(run, entry) for run in incident.stage_runs for entry in missing_items(run)]


def resolve(
    *, session: Session, actor: User, incident_id: int, expected_version: int | None = None, now: datetime | None = None
) -> Incident:
    """Allowed when every required item of every stage is done or waived."""
    now = now or clock.now()
    incident = _lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
    missing = open_required_items(incident)
    if missing:
        raise ValidationFailed(
            {
                "checklist": [
                    str(_l("Still open: %(item)s (%(stage)s)", item=entry.item_key, stage=run.stage_key))
                    for run, entry in missing
                ]
            }
        )
    for run in incident.stage_runs:
        if run.state == "active":
            _complete(session=session, incident=incident, run=run, actor=actor, now=now)
        elif run.state == "pending":
            # Everything in it was done ahead of time: it starts and completes now.
            run.state, run.started_at, run.completed_at, run.completed_by_id = "completed", now, now, actor.id
            run.due_at = now + timedelta(seconds=run.target_seconds)
    incident.state, incident.resolved_at = "resolved", now
    session.flush()
    _record(session=session, incident=incident, actor=actor, kind="incident.resolved", now=now)
    # Timers end and the review-due timer and the review draft begin (crisis.wiring).
    hooks.run(hooks.INCIDENT_RESOLVED, session=session, incident=incident, now=now, actor=actor)
    return incident


def cancel(
    *,
    session: Session,
    actor: User,
    incident_id: int,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """A false alarm: the response stops, with the reason on record."""
    now = now or clock.now()
    incident = _lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
    reason = _clean_text(reason, "reason", required=True)
    incident.state, incident.cancelled_at, incident.state_reason = "cancelled", now, reason
    session.flush()
    hooks.run(hooks.INCIDENT_CANCELLED, session=session, incident=incident, now=now)
    _record(session=session, incident=incident, actor=actor, kind="incident.cancelled", now=now, reason=reason)
    return incident


def comments(*, session: Session, incident: Incident) -> list[Comment]:
    return list(
        session.scalars(
            select(Comment)
            .where(Comment.incident_id == incident.id)
            .options(selectinload(Comment.author))
            .order_by(Comment.created_at, Comment.id)  # equal times: the order written
        )
    )


def events(*, session: Session, incident: Incident) -> list[Any]:
    return timeline.list_for_subject(session=session, subject_type="incident", subject_id=incident.id)


def page_comments(*, session: Session, incident: Incident) -> list[Any]:
    """comments() as the page shows them: plain rows (id, incident_id, author_id, author_name, body,
    created_at), not objects; building 200 of those cost more than rendering them."""
    return list(session.execute(_page_comments_query(), {"incident_id": incident.id}))


@functools.cache
def _page_comments_query() -> Select[Any]:
    """Built once, the incident a parameter: building it (and its cache key) for every page cost a
    third of running it."""
    return (
        select(
            Comment.id,
            Comment.incident_id,
            Comment.author_id,
            User.name.label("author_name"),
            Comment.body,
            Comment.created_at,
        )
        .join(User, User.id == Comment.author_id)
        .where(Comment.incident_id == bindparam("incident_id"))
        .order_by(Comment.created_at, Comment.id)  # equal times: the order written
    )


def page_events(*, session: Session, incident: Incident) -> list[Any]:
    """events() as the page shows them: plain rows with the actor's name (actor_name, None when no one
    acted), in the same order. Without their data (decoding 200 JSON documents that the page's kept
    rows do not need cost more than reading them): `retention_flag` is the one value of it a kept
    row's key needs, and `event_data` reads the rest for the rows to render."""
    return list(session.execute(_page_events_query(), {"incident_id": incident.id}))


@functools.cache
def _page_events_query() -> Select[Any]:
    """Built once, as _page_comments_query."""
    return (
        select(
            TimelineEvent.id,
            TimelineEvent.subject_type,
            TimelineEvent.subject_id,
            TimelineEvent.kind,
            TimelineEvent.occurred_at,
            TimelineEvent.actor_id,
            User.name.label("actor_name"),
            TimelineEvent.data[RETENTION_FLAG].as_string().label("retention_flag"),
        )
        .outerjoin(User, User.id == TimelineEvent.actor_id)
        .where(TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == bindparam("incident_id"))
        .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
    )


def event_data(*, session: Session, event_ids: list[int]) -> dict[int, Any]:
    """The data of these timeline events, by id."""
    if not event_ids:
        return {}
    rows = session.execute(select(TimelineEvent.id, TimelineEvent.data).where(TimelineEvent.id.in_(event_ids)))
    return dict(rows.all())


def page_stamp(*, incident: Incident, events: list[Any]) -> str:
    """change_stamp() of a page that read all of the incident's events (page_events): its newest is
    among them, so no query is needed."""
    return f"{incident.version}.{max((event.id for event in events), default=0)}"


def change_stamp(*, session: Session, incident: Incident) -> str:
    """Changes whenever anything on the incident page would: its version and newest timeline event."""
    from sqlalchemy import func

    # max() over the incident's own events, read through ix_timeline_subject. Written as a plain
    # max(id) with the filter, PostgreSQL walks the primary key backwards from the newest event of
    # all and filters: 5,500 rows for the newest incident of a busy database, all of them for an old one.
    events = (
        select(TimelineEvent.id)
        .where(TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == incident.id)
        .offset(0)  # a fence: keeps the planner from turning max() into that backward walk
        .subquery()
    )
    newest = session.scalar(select(func.max(events.c.id)))
    return f"{incident.version}.{newest or 0}"
