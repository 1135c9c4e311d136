"""The incident workflow: escalate an issue, run the playbook's stages, resolve or cancel.

Plain functions; keyword-only session, actor and now; flush, never commit. Every change writes a
timeline event. Timers are written in the same transaction, by the hooks crisis.wiring connects.
This module opens, changes and ends incidents; it is also the one place callers reach the rest of
the workflow: who sees and acts (access), the stages and their checklists (stages), and what
happened (history).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crisis import clock, hooks
from crisis.auth.models import ACTING_ROLES, User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.http import select_locale
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.access import (
    LEAD_ROLES,
    MAX_TEXT,
    Summary,
    can_act,
    can_lead,
    clean_text,
    clean_url,
    commander_candidates,
    get,
    get_for_page,
    lead_action,
    list_for_user,
    record,
    require_act,
    require_open,
    summaries,
)
from crisis.incidents.history import (
    change_stamp,
    comments,
    event_data,
    events,
    page_comments,
    page_events,
    page_stamp,
)
from crisis.incidents.models import (
    ChecklistEntry,
    Comment,
    Incident,
    InvolvedUnit,
    Participant,
    StageRun,
)
from crisis.incidents.stages import (
    Closers,
    anchor_time,
    annotate,
    apply_severity_gates,
    assign,
    complete_run,
    complete_stage,
    missing_items,
    next_stage,
    record_time,
    stage_due_at,
    start_stage,
    tick,
    untick,
    waive,
)
from crisis.issues import service as issues
from crisis.playbooks import service as playbooks
from crisis.playbooks.workdays import add_span
from crisis.units import service as units
from crisis.units.models import Unit

# --- opening --------------------------------------------------------------------------------

__all__ = [
    "LEAD_ROLES",
    "Closers",
    "MAX_TEXT",
    "Summary",
    "annotate",
    "assign",
    "can_act",
    "can_lead",
    "cancel",
    "change_severity",
    "change_stamp",
    "clean_text",
    "clean_url",
    "comment",
    "commander_candidates",
    "comments",
    "complete_stage",
    "event_data",
    "events",
    "get",
    "get_for_page",
    "hand_over",
    "involve_unit",
    "list_for_user",
    "missing_items",
    "record_time",
    "open_from_issue",
    "open_required_items",
    "page_comments",
    "page_events",
    "page_stamp",
    "record",
    "release_unit",
    "require_act",
    "require_open",
    "resolve",
    "suggest_playbooks",
    "summaries",
    "tick",
    "untick",
    "waive",
]


def suggest_playbooks(*, session: Session, category: str, severity: int) -> list[Any]:
    """Playbooks of the issue's category that apply to the severity first, then the rest."""
    everything = playbooks.list_playbooks(session=session)
    return sorted(everything, key=lambda p: (p.category != category, severity not in p.severities, p.key))


def open_from_issue(
    *,
    session: Session,
    actor: User,
    issue_id: int,
    playbook_key: str,
    severity: int,
    commander_id: int,
    now: datetime | None = None,
    exercise_id: int | None = None,
) -> Incident:
    """Escalate an issue: in one transaction open the incident with a snapshot of the playbook,
    its stage runs and checklist entries, start the first stage and plan its timers. With
    `exercise_id` the incident is that exercise's (crisis.exercises): marked from its first row on."""
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
        exercise_id=exercise_id,
    )
    session.add(incident)
    session.flush()
    spec = version.spec
    for position, stage in enumerate(spec.stages):
        run = StageRun(
            incident=incident,
            position=position,
            stage_key=stage.key,
            target_seconds=int(
                (
                    add_span(now, stage.target_for(severity), zone=issue.unit.timezone, session=session) - now
                ).total_seconds()
            ),
        )
        for item_position, item in enumerate(stage.checklist):
            run.entries.append(
                ChecklistEntry(
                    position=item_position,
                    item_key=item.key,
                    required=item.required_at(severity),
                    owner_role=item.owner,
                    evidence_expected=item.evidence,
                )
            )
        if not stage.applies_to(severity):
            run.state = "skipped"  # gated by severity: never started, never measured
        session.add(run)
    session.add(Participant(incident=incident, user_id=commander.id, role="commander"))
    session.flush()
    issues.mark_escalated(session=session, issue=issue, incident_id=incident.id, actor=actor, now=now)
    record(
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
    first = next_stage(incident, -1)
    assert first is not None  # nosec B101  # the validator makes sure some stage runs at every severity
    start_stage(session=session, incident=incident, run=first, actor=actor, now=now)
    hooks.run(hooks.INCIDENT_OPENED, session=session, incident=incident, now=now)
    return incident


# --- the incident as a whole ------------------------------------------------------------------


def comment(*, session: Session, actor: User, incident_id: int, body: str, now: datetime | None = None) -> Comment:
    """Anyone who can see the incident can comment, involved units included."""
    now = now or clock.now()
    incident = get(session=session, user=actor, incident_id=incident_id)
    if not any(m.role in ACTING_ROLES for m in actor.memberships):
        raise NotPermitted(_l("Observers read and do not comment."))
    text = clean_text(body, "body", required=True)
    note = Comment(incident_id=incident.id, author_id=actor.id, body=text, created_at=now)
    session.add(note)
    session.flush()
    record(session=session, incident=incident, actor=actor, kind="comment.added", now=now, comment_id=note.id)
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
    incident = lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
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
    reason = clean_text(reason, "reason", required=True)
    if severity == incident.severity:
        return incident
    before = incident.severity
    incident.severity = severity
    run = incident.current_stage
    if run is not None and run.started_at is not None:
        # The target of the running stage follows the new severity, measured from its start.
        run.due_at = stage_due_at(session=session, run=run, severity=severity)
        if run.spec.cycle is None:  # a cycle's window keeps its length; the next one follows the severity
            run.target_seconds = int((run.due_at - anchor_time(run)).total_seconds())
    session.flush()
    record(
        session=session,
        incident=incident,
        actor=actor,
        kind="severity.changed",
        now=now,
        before=before,
        after=severity,
        reason=reason,
    )
    apply_severity_gates(session=session, incident=incident, actor=actor, now=now)
    hooks.run(hooks.SEVERITY_CHANGED, session=session, incident=incident, now=now)
    return incident


def involve_unit(
    *, session: Session, actor: User, incident_id: int, unit_id: int, now: datetime | None = None
) -> InvolvedUnit:
    now = now or clock.now()
    incident = lead_action(session=session, actor=actor, incident_id=incident_id)
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
    record(session=session, incident=incident, actor=actor, kind="unit.involved", now=now, unit=unit.code)
    hooks.run(hooks.UNIT_INVOLVED, session=session, incident=incident, involved=involved, actor=actor, now=now)
    return involved


def release_unit(*, session: Session, actor: User, incident_id: int, unit_id: int, now: datetime | None = None) -> None:
    now = now or clock.now()
    incident = lead_action(session=session, actor=actor, incident_id=incident_id)
    current = next((i for i in incident.involved if i.unit_id == unit_id and i.released_at is None), None)
    if current is None:
        raise ValidationFailed({"unit_id": str(_l("This unit is not involved."))})
    current.released_at = now
    record(session=session, incident=incident, actor=actor, kind="unit.released", now=now, unit=current.unit.code)


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
    incident = lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
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
    record(
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
    incident = lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
    missing = open_required_items(incident)
    if missing:
        lang = select_locale()  # the items and stages as the page words them, never their keys
        raise ValidationFailed(
            {
                "checklist": [
                    str(
                        _l(
                            "Still open: %(item)s (%(stage)s)",
                            item=run.spec.checklist[entry.position].text.get(lang) or entry.item_key,
                            stage=run.spec.title.get(lang) or run.stage_key,
                        )
                    )
                    for run, entry in missing
                ]
            }
        )
    for run in incident.stage_runs:
        if run.state == "active":
            complete_run(session=session, incident=incident, run=run, actor=actor, now=now)
        elif run.state == "pending":
            # Everything in it was done ahead of time: it starts and completes now.
            run.state, run.started_at, run.completed_at, run.completed_by_id = "completed", now, now, actor.id
            run.due_at = now + timedelta(seconds=run.target_seconds)
    incident.state, incident.resolved_at = "resolved", now
    session.flush()
    record(session=session, incident=incident, actor=actor, kind="incident.resolved", now=now)
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
    incident = lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
    reason = clean_text(reason, "reason", required=True)
    incident.state, incident.cancelled_at, incident.state_reason = "cancelled", now, reason
    session.flush()
    hooks.run(hooks.INCIDENT_CANCELLED, session=session, incident=incident, now=now)
    record(session=session, incident=incident, actor=actor, kind="incident.cancelled", now=now, reason=reason)
    return incident
