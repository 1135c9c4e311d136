"""What is due next across a person's units, soonest first: the console's core."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from crisis.incidents.access import Summary
from crisis.incidents.models import Incident
from crisis.playbooks.spec import Settings


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
