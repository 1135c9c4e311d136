"""What is due next across a person's units, soonest first: the console's core."""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import has_request_context, request
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, defer, joinedload, selectinload

from crisis.auth.models import User
from crisis.incidents.access import Summary, visible_filter
from crisis.incidents.models import Incident, StageRun
from crisis.playbooks.snapshot import version_canonical, version_settings
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


def _open_counts(
    *, session: Session, user: User, unit_id: int | None, severity: int | None, conditions: list[object]
) -> dict[tuple[int, int], int]:
    """How many running incidents run each (SOP version, severity): the console's total, and the
    cadences its update deadlines follow. Counted once a request (the lists of the console both ask)."""
    cache = request.environ.setdefault("crisis.console.open_counts", {}) if has_request_context() else {}
    key = (user.id, unit_id, severity)
    if key not in cache:
        cache[key] = {
            (version_id, incident_severity): count
            for version_id, incident_severity, count in session.execute(
                select(Incident.playbook_version_id, Incident.severity, func.count())
                .where(*conditions)
                .group_by(Incident.playbook_version_id, Incident.severity)
            )
        }
    return cache[key]


def _with_unit(incidents: Any) -> Any:
    """Incident rows with their unit (one statement), without the SOP snapshot a list never shows."""
    return incidents.options(defer(Incident.playbook_snapshot), joinedload(Incident.unit))


def due_next(
    *, session: Session, user: User, unit_id: int | None = None, severity: int | None = None, limit: int = 30
) -> tuple[list[DueItem], int]:
    """The `limit` soonest deadlines of the running incidents the user sees (a running stage's due
    time; the next situation update, by the SOP's cadence for the severity), and how many there are.

    At national scale there are thousands, and only the soonest are read: the stage deadlines in
    due order; the update deadlines as the first `limit` of each cadence (the incidents updated
    longest ago are due first among those updated as often). Both are merged here and only the
    incidents of the soonest `limit` are loaded as rows."""
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
    counts = _open_counts(session=session, user=user, unit_id=unit_id, severity=severity, conditions=conditions)
    versions = sorted({version_id for version_id, _severity in counts} | {row.playbook_version_id for row in stages})
    settings = {version_id: version_settings(session, version_id) for version_id in versions}
    # Each (version, severity) by its cadence: a few cadences among dozens of pairs, ranked apart.
    every = {pair: settings[pair[0]].update_every_for(pair[1]) for pair in counts}
    group = {period: number for number, period in enumerate(sorted(set(every.values())))}
    cadence = case(
        {
            version_id: case(
                {level: group[period] for (of, level), period in every.items() if of == version_id},
                value=Incident.severity,
            )
            for version_id in sorted({version_id for version_id, _level in every})
        },
        value=Incident.playbook_version_id,
    )
    last = func.coalesce(Incident.last_update_at, Incident.started_at)
    ranked = (
        select(
            Incident.id,
            Incident.playbook_version_id,
            Incident.severity,
            last.label("last"),
            func.row_number()
            .over(partition_by=cadence, order_by=(last, Incident.severity.desc(), Incident.id))
            .label("rank"),
        )
        .where(*conditions)
        .subquery()
    )
    updates = (
        session.execute(
            select(ranked.c.id, ranked.c.playbook_version_id, ranked.c.severity, ranked.c.last).where(
                ranked.c.rank <= limit
            )
        ).all()
        if every
        else []
    )
    # (when, -severity, incident, what, stage title): tuples sort soonest first, the graver first on a tie.
    deadlines: list[tuple[datetime, int, int, str, Any]] = [
        (
            row.due_at,
            -row.severity,
            row.id,
            "stage",
            version_canonical(session, row.playbook_version_id)["stages"][row.position]["title"],
        )
        for row in stages
    ]
    deadlines += [
        (row.last + every[(row.playbook_version_id, row.severity)], -row.severity, row.id, "update", None)
        for row in updates
    ]
    soonest = heapq.nsmallest(limit, deadlines, key=lambda d: d[:3])
    loaded = {
        incident.id: incident
        for incident in session.scalars(
            _with_unit(select(Incident).where(Incident.id.in_(sorted({d[2] for d in soonest}))))
        )
    }
    items = [DueItem(when, loaded[incident_id], what, title) for when, _sev, incident_id, what, title in soonest]
    return items, (stage_total or 0) + sum(counts.values())


def open_page(
    *, session: Session, user: User, unit_id: int | None = None, severity: int | None = None, limit: int = 50
) -> tuple[list[Incident], int]:
    """The first `limit` running incidents (most severe, oldest first) and how many there are."""
    conditions = open_conditions(session=session, user=user, unit_id=unit_id, severity=severity)
    counts = _open_counts(session=session, user=user, unit_id=unit_id, severity=severity, conditions=conditions)
    rows = session.scalars(
        select(Incident)
        .where(*conditions)
        .options(defer(Incident.playbook_snapshot), selectinload(Incident.unit))
        .order_by(Incident.severity.desc(), Incident.started_at, Incident.id)
        .limit(limit)
    ).all()
    return list(rows), sum(counts.values())
