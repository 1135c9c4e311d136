"""Running the playbook: starting and completing stages, ticking, waiving and assigning checklist items."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from crisis import clock, hooks
from crisis.auth.models import User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.http import select_locale
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.access import (
    clean_text,
    clean_url,
    commander_candidates,
    get,
    incident_query,
    record,
    record_entry,
    require_act,
    require_lead,
    require_open,
)
from crisis.incidents.models import (
    ChecklistEntry,
    Incident,
    StageRun,
)
from crisis.playbooks.spec import ISSUE_FIRST_SEEN, STAGE_START
from crisis.playbooks.workdays import add_span
from crisis.units import service as units

# Who ticks or waives a checklist item: its owner role or a role above it, in the owning unit or a
# unit above it. An administrator counts as a duty officer here (the app's keeper, not the line).
RANKS = {"observer": 1, "officer": 1, "admin": 1, "supervisor": 2, "head": 3}


class Closers:
    """Who may close (tick, waive, reopen) which items of one incident, for one person: their best
    role over the owning unit is looked up once, then asked per item."""

    def __init__(self, *, user: User, incident: Incident) -> None:
        unit = incident.unit
        chain = {unit.id, *(u.id for u in units.ancestors(unit))}
        roles = {m.role for m in user.memberships if m.unit_id in chain}
        self.rank = max((RANKS.get(role, 0) for role in roles if role != "observer"), default=0)
        self.admin = "admin" in roles
        self.commander = incident.commander_id == user.id
        self.incident = incident

    def may_close(self, entry: ChecklistEntry) -> bool:
        owner = entry.owner_role
        if owner == "commander":
            return self.commander or self.rank >= RANKS["head"]
        if owner == "admin":
            return self.admin or self.rank >= RANKS["head"]
        return self.rank >= RANKS.get(owner, RANKS["head"])

    def require(self, entry: ChecklistEntry) -> None:
        if self.may_close(entry):
            return
        if entry.owner_role == "commander":
            raise NotPermitted(
                _l(
                    "This item belongs to the incident commander (%(name)s): only they or a unit head ticks it.",
                    name=self.incident.commander.name,
                )
            )
        sentences = {
            "officer": _l("Only a duty officer, supervisor or unit head of the owning unit or above ticks this item."),
            "supervisor": _l("This item belongs to a supervisor: only a supervisor or unit head ticks it."),
            "head": _l("This item belongs to the unit head: only a unit head ticks it."),
            "admin": _l("This item belongs to an administrator: only an administrator or unit head ticks it."),
        }
        raise NotPermitted(sentences.get(entry.owner_role, sentences["head"]))


def require_closer(*, actor: User, incident: Incident, entry: ChecklistEntry) -> None:
    Closers(user=actor, incident=incident).require(entry)


def require_started(entry: ChecklistEntry) -> None:
    if entry.stage_run.state == "pending":
        raise Conflict(_l("This stage has not started yet: its items are ticked once it starts."))


def start_stage(*, session: Session, incident: Incident, run: StageRun, actor: User | None, now: datetime) -> None:
    run.state = "active"
    run.started_at = now
    run.due_at = stage_due_at(session=session, run=run, severity=incident.severity)
    run.target_seconds = int((run.due_at - anchor_time(run)).total_seconds())
    session.flush()
    record(
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


def _entry(
    *, session: Session, actor: User, entry_id: int, allowed: Callable[..., None] = require_act
) -> tuple[ChecklistEntry, Incident]:
    """The item and its incident, the incident locked and the item read after the lock was taken
    (whoever held it before may have changed the item): two queries whatever the incident's size.
    `allowed` (require_act, or require_lead for a waiver) is asked before the incident's state, so a
    role without the right learns nothing of it."""
    incident_of_entry = (
        select(StageRun.incident_id)
        .join(ChecklistEntry, ChecklistEntry.stage_run_id == StageRun.id)
        .where(ChecklistEntry.id == entry_id)
    )
    # The incident is found through the item in the locking query itself (an item never moves).
    query = incident_query(session=session, user=actor, lock=True)
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
    allowed(session=session, user=actor, incident=incident)
    require_open(incident)
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
    require_closer(actor=actor, incident=incident, entry=entry)
    require_started(entry)
    if entry.closed:
        who = entry.done_by or entry.waived_by
        raise Conflict(_l("Already closed by %(name)s.", name=who.name if who else "?"))
    url = clean_url(evidence_url, "evidence_url")
    if entry.evidence_expected and not url and not entry.evidence_url:
        raise ValidationFailed({"evidence_url": str(_l("This item expects evidence: add a link."))})
    entry.done_at, entry.done_by_id = now, actor.id
    if note:
        entry.note = clean_text(note, "note")
    if url:
        entry.evidence_url = url
    record_entry(
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
    require_closer(actor=actor, incident=incident, entry=entry)
    if entry.stage_run.state == "completed":
        raise Conflict(_l("The stage is complete; its checklist no longer changes."))
    was = "waived" if entry.waived_at else "done"
    entry.done_at = entry.done_by_id = entry.waived_at = entry.waived_by_id = None
    entry.waive_reason = ""
    record_entry(
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
        entry.note = changed["note"] = clean_text(note, "note")
    if evidence_url is not None:
        entry.evidence_url = changed["evidence_url"] = clean_url(evidence_url, "evidence_url")
    if changed:
        record_entry(
            session=session, incident=incident, actor=actor, entry=entry, kind="checklist.noted", now=now, **changed
        )
    return entry


def waive(*, session: Session, actor: User, entry_id: int, reason: str, now: datetime | None = None) -> ChecklistEntry:
    """Skip a required item on purpose, with a reason; waivers are counted in the review."""
    now = now or clock.now()
    entry, incident = _entry(session=session, actor=actor, entry_id=entry_id, allowed=require_lead)
    require_closer(actor=actor, incident=incident, entry=entry)
    reason = clean_text(reason, "reason", required=True)
    if entry.closed:
        raise Conflict(_l("This item is already closed."))
    entry.waived_at, entry.waived_by_id, entry.waive_reason = now, actor.id, reason
    record_entry(
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
    record_entry(
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
    if run.state == "skipped":  # gated away from the incident's severity: nothing in it is asked for
        return []
    return [entry for entry in run.entries if entry.required and not entry.closed]


def complete_stage(*, session: Session, actor: User, stage_run_id: int, now: datetime | None = None) -> StageRun:
    """Refused while required items are open; completing the current stage starts the next."""
    now = now or clock.now()
    run = session.get(StageRun, stage_run_id)
    if run is None:
        raise NotFound(_l("Stage not found."))
    incident = get(session=session, user=actor, incident_id=run.incident_id, lock=True)
    require_act(session=session, user=actor, incident=incident)
    require_open(incident)
    if run.state != "active":
        raise Conflict(_l("Only the current stage can be completed."))
    missing = missing_items(run)
    if missing:
        # The items as the checklist shows them, in the reader's language: never their keys.
        lang = select_locale()
        texts = [run.spec.checklist[e.position].text.get(lang) or e.item_key for e in missing]
        raise ValidationFailed({"checklist": [str(_l("Still open: %(item)s", item=text)) for text in texts]})
    complete_run(session=session, incident=incident, run=run, actor=actor, now=now)
    following = next_stage(incident, run.position)
    if following is not None:
        start_stage(session=session, incident=incident, run=following, actor=actor, now=now)
    return run


def complete_run(*, session: Session, incident: Incident, run: StageRun, actor: User | None, now: datetime) -> None:
    run.state = "completed"
    run.completed_at, run.completed_by_id = now, actor.id if actor else None
    late = (now - run.due_at).total_seconds() if run.due_at else 0
    hooks.run(hooks.STAGE_COMPLETED, session=session, stage_run=run, now=now)
    record(
        session=session,
        incident=incident,
        actor=actor,
        kind="stage.completed",
        now=now,
        stage=run.stage_key,
        breached=late > 0,
        late_seconds=max(0, int(late)),
    )


# --- stages and items gated by severity ---------------------------------------------------------
#
# A stage or checklist item may say `severities: [2, 3, 4]`. A stage gated away from the incident's
# severity is `skipped`: never started, never measured. An item gated away is not required (it stays
# on the list as optional, so what was ticked is never lost). When the severity changes mid-incident:
# a stage already started or completed keeps its course (the active stage keeps running even if the
# new severity would have skipped it); a stage still to come is skipped or brought back; the items of
# stages not yet completed follow the new severity. Each stage skipped or brought back is a timeline
# event.


def next_stage(incident: Incident, position: int) -> StageRun | None:
    """The next stage to run after `position`: the first pending one (skipped ones are passed over)."""
    return next((r for r in incident.stage_runs if r.position > position and r.state == "pending"), None)


def apply_severity_gates(
    *, session: Session, incident: Incident, actor: User | None, now: datetime, record_changes: bool = True
) -> None:
    """Skip or bring back the stages to come, and set which items are required, at the incident's
    severity now. Called when an incident opens and when its severity changes (see above)."""
    severity = incident.severity
    for run in incident.stage_runs:
        spec = run.spec
        if run.state in ("pending", "skipped"):
            state = "pending" if spec.applies_to(severity) else "skipped"
            if state != run.state:
                run.state = state
                if record_changes:
                    record(
                        session=session,
                        incident=incident,
                        actor=actor,
                        kind="stage.skipped" if state == "skipped" else "stage.restored",
                        now=now,
                        stage=run.stage_key,
                        severity=severity,
                    )
        if run.state != "completed":
            for entry in run.entries:
                entry.required = spec.checklist[entry.position].required_at(severity)
    session.flush()


# --- what a stage's target is measured from -------------------------------------------------------


def anchor_time(run: StageRun) -> datetime:
    """Where the stage's target counts from: its start; the issue's first-seen time
    (`measured_from: issue_first_seen`); or a time recorded with a checklist item (`measured_from:
    known_at` and an item that `records: known_at`). Until that time is entered the stage's start
    stands in for it, and the deadline moves when it is entered or corrected."""
    assert run.started_at is not None  # nosec B101  # type narrowing: only started runs have a deadline
    anchor = run.spec.measured_from
    incident = run.incident
    if anchor == ISSUE_FIRST_SEEN:
        issue = incident.issue
        return issue.first_seen_at if issue is not None and issue.first_seen_at else run.started_at
    if anchor == STAGE_START:
        return run.started_at
    for other in incident.stage_runs:
        for entry in other.entries:
            if entry.recorded_at is not None and other.spec.checklist[entry.position].records == anchor:
                return entry.recorded_at
    return run.started_at


def stage_due_at(*, session: Session, run: StageRun, severity: int) -> datetime:
    """The stage's deadline at this severity: its target (a timedelta, or working days in the owning
    unit's zone) after what it is measured from."""
    incident = run.incident
    if run.spec.cycle is not None and run.due_at is not None:
        return run.due_at  # a repeating stage: the window it is in (crisis.incidents.cycles)
    return add_span(anchor_time(run), run.spec.target_for(severity), zone=incident.unit.timezone, session=session)


def record_time(
    *, session: Session, actor: User, entry_id: int, at: datetime, now: datetime | None = None
) -> ChecklistEntry:
    """Enter or correct the time an item records (e.g. when the leak was known): the item is ticked
    if it was open, and every stage measured from this time is re-planned (old timers cancelled, new
    ones written, a timeline event saying from what to what)."""
    now = now or clock.now()
    entry, incident = _entry(session=session, actor=actor, entry_id=entry_id)
    require_closer(actor=actor, incident=incident, entry=entry)
    require_started(entry)
    item = entry.stage_run.spec.checklist[entry.position]
    if item.records is None:
        raise ValidationFailed({"recorded_at": str(_l("This item does not record a time."))})
    if at.tzinfo is None:
        raise ValidationFailed({"recorded_at": str(_l("Give the time with its time zone."))})
    if at > now:
        raise ValidationFailed({"recorded_at": str(_l("This time is in the future: enter when it happened."))})
    before = entry.recorded_at
    if before == at:
        return entry
    entry.recorded_at = at
    if not entry.closed:
        entry.done_at, entry.done_by_id = now, actor.id
    record_entry(
        session=session,
        incident=incident,
        actor=actor,
        entry=entry,
        kind="checklist.time_recorded",
        now=now,
        records=item.records,
        at=at.isoformat(),
        before=before.isoformat() if before else None,
    )
    session.flush()
    hooks.run(hooks.RECORDED_TIME_CHANGED, session=session, incident=incident, now=now)
    return entry
