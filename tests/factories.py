"""Issues and incidents in one line, for every test.

Through the services, as a duty officer would: `log_issue`, `escalate`, `close_required`. Straight
from rows, for the deadline engine's tests (the incident service calls the same engine hooks):
`open_incident`, `start_stage`, `complete_stage`, `resolve`, `change_severity`.

Every moment is given (`now=`): tests plan their data from FIXED_NOW or their clock, never from
the real time, except the `real_clock` tests, which pass the real time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.auth.models import Membership, User
from crisis.escalation import planning
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.incidents.models import Incident, StageRun, Statement
from crisis.issues import service as issues
from crisis.issues.models import Issue
from crisis.playbooks.models import Playbook
from crisis.playbooks.spec import PlaybookSpec
from crisis.units import service as units

# What most tests log: a hoax on WhatsApp, first seen 20 minutes before it is logged.
HOAX = {
    "title": "Hoaks: air PDAM tercemar bahan kimia",
    "description": "Pesan berantai di WhatsApp.",
    "channel": "whatsapp",
    "category": "hoax",
    "reach": 40000,
    "engagement": 3500,
    "sentiment": "negative",
    "mainstream_pickup": False,
    "evidence_urls": ["https://example.com/post/1"],
}
SEEN_BEFORE = timedelta(minutes=20)


# --- through the services --------------------------------------------------------------------------


def log_issue(
    session: Session,
    org: dict[str, Any],
    *,
    now: datetime,
    unit: str = "KOTA-SEMARANG",
    by: str = "officer",
    actor: Any = None,
    **fields: Any,
) -> Issue:
    """An issue logged in `unit` at `now` by its demo user with role `by` (or by `actor`): HOAX, with
    any field given."""
    values = {**HOAX, "first_seen_at": now - SEEN_BEFORE, **fields}
    return issues.create(
        session=session, actor=actor or org["users"][(unit, by)], unit_id=org["units"][unit].id, now=now, **values
    )


def escalate(
    session: Session,
    org: dict[str, Any],
    issue: Issue,
    *,
    now: datetime,
    playbook: str = "hoax-clarification",
    severity: int = 3,
    by: str = "officer",
    commander: str = "head",
) -> Incident:
    """The issue escalated by its unit's `by` into an incident running `playbook`, commanded by the
    unit's `commander`: its first stage started, its timers planned."""
    unit = next(code for code, row in org["units"].items() if row.id == issue.unit_id)
    return incidents.open_from_issue(
        session=session,
        actor=org["users"][(unit, by)],
        issue_id=issue.id,
        playbook_key=playbook,
        severity=severity,
        commander_id=org["users"][(unit, commander)].id,
        now=now,
    )


def close_required(session: Session, actor: Any, run: StageRun, *, now: datetime, skip: tuple[str, ...] = ()) -> None:
    """Tick every open required checklist item of a stage run (but those in `skip`), with an
    evidence link where the item expects one: by `actor` where they own it, else by someone who
    does (the commander, or a head over the owning unit), as a team shares its checklist."""
    for entry in run.entries:
        if entry.required and not entry.closed and entry.item_key not in skip:
            incidents.tick(
                session=session,
                actor=closer_of(session, run.incident, entry, actor),
                entry_id=entry.id,
                now=now,
                evidence_url="https://example.com/bukti" if entry.evidence_expected else "",
            )


def run_through(session: Session, actor: Any, incident: Incident, *, now: datetime) -> None:
    """Close every required item stage by stage, completing each stage but the last as it goes
    (items of a stage not started cannot be ticked); resolving completes the last one."""
    for run in incident.stage_runs:
        close_required(session, actor, run, now=now)
        if run.state == "active" and run.position < len(incident.stage_runs) - 1:
            incidents.complete_stage(session=session, actor=actor, stage_run_id=run.id, now=now)


def closer_of(session: Session, incident: Incident, entry: Any, actor: Any) -> Any:
    """`actor` when they may tick the item (its owner role or above), else the commander or a head
    of the owning unit or a unit above it."""
    if incidents.Closers(user=actor, incident=incident).may_close(entry):
        return actor
    if incidents.Closers(user=incident.commander, incident=incident).may_close(entry):
        return incident.commander
    chain = [incident.unit_id, *(unit.id for unit in units.ancestors(incident.unit))]
    heads = session.scalars(
        select(User).join(Membership).where(Membership.unit_id.in_(chain), Membership.role == "head").order_by(User.id)
    ).all()
    by_unit = {m.unit_id: user for user in heads for m in user.memberships if m.role == "head"}
    return next(by_unit[unit_id] for unit_id in chain if unit_id in by_unit)


# --- statements: the approval chain and the spokesperson ------------------------------------------

# Who signs a step for a unit that has nobody with the role yet: the city's or province's Sekretaris
# Daerah as the head of government's delegate, and the legal bureau's reviewer.
STAND_IN = {"leader": "Sekretaris Daerah", "legal": "Penelaah Hukum", "head": "Kepala", "supervisor": "Supervisor"}


def signer_for(session: Session, statement: Statement, role: str) -> User:
    """Someone who may sign a `role` step of the statement: the first candidate of the org (not the
    author, not someone who signed this round), else a new member of the owning unit with that role."""
    candidates = statements.signer_candidates(session=session, statement=statement, role=role)
    if candidates:
        # The nearest first: the owning unit's own people, then the unit above it, the central desk last.
        nearest = [statement.incident.unit_id, *(unit.id for unit in units.ancestors(statement.incident.unit))]
        rank = {unit_id: position for position, unit_id in enumerate(nearest)}
        return min(candidates, key=lambda p: min((rank.get(m.unit_id, len(rank)) for m in p.memberships), default=0))
    unit = statement.incident.unit
    number = 1 + len(session.scalars(select(User.id).where(User.email.like(f"{role}.%@tests.example"))).all())
    user = User(
        email=f"{role}.{number}.{unit.code.lower()}@tests.example",
        name=f"{STAND_IN[role]} ({unit.code})",
        password_hash="-",
        language="id",
    )
    user.memberships.append(Membership(unit_id=unit.id, role=role))
    session.add(user)
    session.flush()
    session.refresh(user)
    return user


def sign_through(session: Session, statement: Statement, *, now: datetime, first: Any = None) -> Statement:
    """Sign every step of the statement's approval chain that applies now, as a real unit would:
    `first` (when given and allowed) signs the step it holds a role for, then the org's supervisor or
    head, legal reviewer and institution head (created in the owning unit when there is none) sign the
    rest in order. The statement ends approved (flushed, not committed)."""
    while statement.state in statements.AWAITING and statement.awaiting_role is not None:
        role = statement.awaiting_role
        signer = None
        if first is not None and statements.can_approve(session=session, user=first, statement=statement):
            signer = first
        signer = signer or signer_for(session, statement, role)
        statements.approve(session=session, actor=signer, statement_id=statement.id, now=now)
    return statement


def designate_spokesperson(
    session: Session, incident: Incident, *, now: datetime, person: Any = None, actor: Any = None
) -> Incident:
    """The spokesperson the SOP asks for before publishing, designated by the commander (or `actor`):
    `person`, else the head of the owning unit, else the commander."""
    if person is None:
        head = session.scalar(
            select(User)
            .join(Membership)
            .where(Membership.unit_id == incident.unit_id, Membership.role == "head", User.active)
            .order_by(User.id)
        )
        person = head or incident.commander
    return statements.designate_spokesperson(
        session=session, actor=actor or incident.commander, incident_id=incident.id, spokesperson_id=person.id, now=now
    )


# --- straight from rows (the deadline engine) ------------------------------------------------------


def open_incident(
    session: Session,
    org: dict[str, Any],
    *,
    now: datetime,
    playbook: str = "viral-service-complaint",
    unit: str = "KOTA-SEMARANG",
    severity: int = 2,
    commander: tuple[str, str] = ("KOTA-SEMARANG", "officer"),
    started_at: datetime | None = None,
    title: str = "Antrean layanan KTP viral",
) -> Incident:
    """An active incident whose first stage started at `started_at` (default `now`), timers planned.

    Severity 2 by default: the viral-complaint SOP's first stage is due at 30 minutes, tells the
    supervisor at 15 and the own head at 45 (at severity 3-4 the head is told at once, with the
    supervisor)."""
    version = session.scalar(select(Playbook).where(Playbook.key == playbook)).current
    spec = PlaybookSpec.from_canonical(version.canonical)
    start = started_at or now
    incident = Incident(
        unit_id=org["units"][unit].id,
        title=title,
        severity=severity,
        state="active",
        commander_id=org["users"][commander].id,
        playbook_version_id=version.id,
        playbook_snapshot=version.canonical,
        started_at=start,
    )
    session.add(incident)
    session.flush()
    for position, stage in enumerate(spec.stages):
        session.add(
            StageRun(
                incident_id=incident.id,
                position=position,
                stage_key=stage.key,
                state="pending",
                target_seconds=int(stage.target_for(severity).total_seconds()),
            )
        )
    session.flush()
    session.refresh(incident)
    start_stage(session, incident.stage_runs[0], now=now, started_at=start)
    planning.plan_updates(session=session, incident=incident, now=now)
    return incident


def start_stage(session: Session, run: StageRun, *, now: datetime, started_at: datetime | None = None) -> StageRun:
    target = run.spec.target_for(run.incident.severity)
    run.state = "active"
    run.started_at = started_at or now
    run.target_seconds = int(target.total_seconds())
    run.due_at = run.started_at + target
    planning.plan_stage(session=session, stage_run=run, now=now)
    return run


def complete_stage(session: Session, run: StageRun, *, now: datetime, start_next: bool = True) -> StageRun | None:
    """Complete a stage (cancelling its timers in the same transaction) and start the next one."""
    run.state = "completed"
    run.completed_at = now
    planning.cancel_stage(session=session, stage_run=run, now=now)
    following = next((r for r in run.incident.stage_runs if r.position == run.position + 1), None)
    if start_next and following is not None:
        return start_stage(session, following, now=now)
    return None


def resolve(session: Session, incident: Incident, *, now: datetime, state: str = "resolved") -> None:
    incident.state = state
    if state == "resolved":
        incident.resolved_at = now
    else:
        incident.cancelled_at = now
    planning.cancel_incident(session=session, incident=incident, now=now)


def change_severity(session: Session, incident: Incident, severity: int, *, now: datetime) -> None:
    incident.severity = severity
    planning.replan_incident(session=session, incident=incident, now=now)
