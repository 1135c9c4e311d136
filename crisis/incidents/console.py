"""What is due next across a person's units, soonest first: the console's core."""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, defer, selectinload

from crisis.auth.models import User
from crisis.incidents.access import Summary, visible_filter
from crisis.incidents.models import Incident, StageRun
from crisis.playbooks.models import PlaybookVersion
from crisis.playbooks.spec import Settings
from crisis.units import service as units


@dataclass(frozen=True)
class DueItem:
    deadline: datetime
    incident: Incident
    what: str  # "stage" or "update"
    stage_title: dict[str, str] | None = None

    def overdue(self, now: datetime) -> bool:
        return self.deadline < now


def due_items(incidents: list[Incident], summaries: dict[int, Summary] | None = None) -> list[DueItem]:
    """summaries (incidents.service.summaries) spare loading every incident's whole SOP snapshot."""
    items: list[DueItem] = []
    parsed: dict[str, Settings] = {}  # a few SOP versions among many incidents: parse each once
    for incident in incidents:
        summary = summaries[incident.id] if summaries is not None else None
        run = incident.current_stage
        if run is not None and run.due_at is not None:
            title = summary.stage_title if summary else incident.playbook_snapshot["stages"][run.position]["title"]
            items.append(DueItem(run.due_at, incident, "stage", title))
        data = summary.settings if summary else incident.playbook_snapshot["settings"]
        key = json.dumps(data, sort_keys=True)
        if key not in parsed:
            parsed[key] = Settings.from_canonical(data)
        settings = parsed[key]
        last = incident.last_update_at or incident.started_at
        items.append(DueItem(last + settings.update_every_for(incident.severity), incident, "update"))
    return sorted(items, key=lambda item: (item.deadline, -item.incident.severity))


def open_conditions(*, session: Session, user: User, unit_id: int | None, severity: int | None) -> list[object]:
    """The running incidents a console shows: the user's, of a unit's subtree, of a severity."""
    # Drills (latihan) have their own section on the console, never among the real incidents.
    conditions: list[object] = [Incident.state == "active", Incident.exercise_id.is_(None)]
    visible = visible_filter(session=session, user=user)
    if visible is not None:
        conditions.append(visible)
    if unit_id is not None:
        conditions.append(Incident.unit_id.in_(sorted(units.subtree_ids(session=session, root_ids={unit_id}))))
    if severity is not None:
        conditions.append(Incident.severity == severity)
    return conditions


def due_next(
    *, session: Session, user: User, unit_id: int | None = None, severity: int | None = None, limit: int = 30
) -> tuple[list[DueItem], int]:
    """The `limit` soonest deadlines of the running incidents the user sees (a running stage's due
    time; the next situation update, by the SOP's cadence for the severity), and how many there are.

    At national scale there are thousands, and only the soonest are read: the stage deadlines in
    due order; the update deadlines as the first `limit` of each SOP version and severity (whose
    cadence is one interval, so the incident updated longest ago is due first). Both are merged here
    and only the incidents of the soonest `limit` are loaded as rows."""
    conditions = open_conditions(session=session, user=user, unit_id=unit_id, severity=severity)
    running = and_(StageRun.state == "active", StageRun.due_at.is_not(None))
    stages = session.execute(
        select(StageRun.due_at, Incident.severity, Incident.id, StageRun.position, Incident.playbook_version_id)
        .join(Incident, Incident.id == StageRun.incident_id)
        .where(running, *conditions)
        .order_by(StageRun.due_at, Incident.severity.desc(), Incident.id)
        .limit(limit)
    ).all()
    stage_total = session.scalar(
        select(func.count(StageRun.id)).join(Incident, Incident.id == StageRun.incident_id).where(running, *conditions)
    )
    last = func.coalesce(Incident.last_update_at, Incident.started_at)
    ranked = (
        select(
            Incident.id,
            Incident.playbook_version_id,
            Incident.severity,
            last.label("last"),
            func.row_number()
            .over(partition_by=(Incident.playbook_version_id, Incident.severity), order_by=(last, Incident.id))
            .label("rank"),
        )
        .where(*conditions)
        .subquery()
    )
    updates = session.execute(
        select(ranked.c.id, ranked.c.playbook_version_id, ranked.c.severity, ranked.c.last).where(
            ranked.c.rank <= limit
        )
    ).all()
    update_total = session.scalar(select(func.count(Incident.id)).where(*conditions)) or 0
    versions = sorted({row.playbook_version_id for row in updates} | {row.playbook_version_id for row in stages})
    canonical = dict(
        session.execute(
            select(PlaybookVersion.id, PlaybookVersion.canonical).where(PlaybookVersion.id.in_(versions))
        ).all()
    )
    settings = {version: Settings.from_canonical(canonical[version]["settings"]) for version in versions}
    # (when, -severity, incident, what, stage title): tuples sort soonest first, the graver first on a tie.
    deadlines: list[tuple[datetime, int, int, str, Any]] = [
        (
            row.due_at,
            -row.severity,
            row.id,
            "stage",
            canonical[row.playbook_version_id]["stages"][row.position]["title"],
        )
        for row in stages
    ]
    for row in updates:
        every = settings[row.playbook_version_id].update_every_for(row.severity)
        deadlines.append((row.last + every, -row.severity, row.id, "update", None))
    soonest = heapq.nsmallest(limit, deadlines, key=lambda d: d[:3])
    loaded = {
        incident.id: incident
        for incident in session.scalars(
            select(Incident)
            .where(Incident.id.in_(sorted({d[2] for d in soonest})))
            .options(defer(Incident.playbook_snapshot), selectinload(Incident.unit))
        )
    }
    items = [DueItem(when, loaded[incident_id], what, title) for when, _sev, incident_id, what, title in soonest]
    return items, (stage_total or 0) + update_total


def open_page(
    *, session: Session, user: User, unit_id: int | None = None, severity: int | None = None, limit: int = 50
) -> tuple[list[Incident], int]:
    """The first `limit` running incidents (most severe, oldest first) and how many there are."""
    conditions = open_conditions(session=session, user=user, unit_id=unit_id, severity=severity)
    total = session.scalar(select(func.count(Incident.id)).where(*conditions)) or 0
    rows = session.scalars(
        select(Incident)
        .where(*conditions)
        .options(defer(Incident.playbook_snapshot), selectinload(Incident.unit))
        .order_by(Incident.severity.desc(), Incident.started_at, Incident.id)
        .limit(limit)
    ).all()
    return list(rows), total
