"""Incidents in one line, built straight from rows (the incident service calls the same hooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.escalation import planning
from crisis.incidents.models import Incident, StageRun
from crisis.playbooks.models import Playbook
from crisis.playbooks.spec import PlaybookSpec


def open_incident(
    session: Session,
    org: dict[str, Any],
    *,
    now: datetime,
    playbook: str = "viral-service-complaint",
    unit: str = "KOTA-SEMARANG",
    severity: int = 3,
    commander: tuple[str, str] = ("KOTA-SEMARANG", "officer"),
    started_at: datetime | None = None,
    title: str = "Antrean layanan KTP viral",
) -> Incident:
    """An active incident whose first stage started at `started_at` (default `now`), timers planned."""
    version = session.scalar(select(Playbook).where(Playbook.key == playbook)).current
    spec = PlaybookSpec.from_canonical(version.canonical)
    start = started_at or now
    incident = Incident(
        unit_id=org["units"][unit].id, title=title, severity=severity, state="active",
        commander_id=org["users"][commander].id, playbook_version_id=version.id,
        playbook_snapshot=version.canonical, started_at=start,
    )
    session.add(incident)
    session.flush()
    for position, stage in enumerate(spec.stages):
        session.add(StageRun(
            incident_id=incident.id, position=position, stage_key=stage.key, state="pending",
            target_seconds=int(stage.target_for(severity).total_seconds()),
        ))
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
