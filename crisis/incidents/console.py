"""What is due next across a person's units, soonest first: the console's core."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

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
    conditions: list[object] = [Incident.state == "active"]
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

    At national scale there are thousands: one narrow query reads each running incident's few
    columns and its running stage's due time, the deadlines are sorted here, and only the incidents
    of the soonest `limit` are loaded as rows."""
    conditions = open_conditions(session=session, user=user, unit_id=unit_id, severity=severity)
    rows = session.execute(
        select(
            Incident.id,
            Incident.playbook_version_id,
            Incident.severity,
            func.coalesce(Incident.last_update_at, Incident.started_at),
            StageRun.due_at,
            StageRun.position,
        )
        .outerjoin(StageRun, and_(StageRun.incident_id == Incident.id, StageRun.state == "active"))
        .where(*conditions)
    ).all()
    versions = sorted({row[1] for row in rows})
    canonical = dict(
        session.execute(
            select(PlaybookVersion.id, PlaybookVersion.canonical).where(PlaybookVersion.id.in_(versions))
        ).all()
    )
    settings = {version: Settings.from_canonical(canonical[version]["settings"]) for version in versions}
    deadlines: list[tuple[datetime, int, int, str, int | None]] = []  # when, -severity, incident, what, position
    seen_update: set[int] = set()
    for incident_id, version, severity, last, due_at, position in rows:
        if due_at is not None:
            deadlines.append((due_at, -severity, incident_id, "stage", position))
        if incident_id not in seen_update:  # one update deadline an incident, whatever its stages
            seen_update.add(incident_id)
            next_update = last + settings[version].update_every_for(severity)
            deadlines.append((next_update, -severity, incident_id, "update", None))
    deadlines.sort(key=lambda d: (d[0], d[1]))
    soonest = deadlines[:limit]
    wanted = sorted({d[2] for d in soonest})
    loaded = {
        incident.id: incident
        for incident in session.scalars(
            select(Incident)
            .where(Incident.id.in_(wanted))
            .options(defer(Incident.playbook_snapshot), selectinload(Incident.unit))
        )
    }
    items = []
    for when, _severity, incident_id, what, position in soonest:
        incident = loaded[incident_id]
        title = canonical[incident.playbook_version_id]["stages"][position]["title"] if what == "stage" else None
        items.append(DueItem(when, incident, what, title))
    return items, len(deadlines)


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
