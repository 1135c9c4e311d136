"""What is due next across a person's units, soonest first: the console's core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


def due_items(incidents: list[Incident]) -> list[DueItem]:
    items: list[DueItem] = []
    for incident in incidents:
        run = incident.current_stage
        if run is not None and run.due_at is not None:
            items.append(
                DueItem(run.due_at, incident, "stage", incident.playbook_snapshot["stages"][run.position]["title"])
            )
        settings = Settings.from_canonical(incident.playbook_snapshot["settings"])
        last = incident.last_update_at or incident.started_at
        items.append(DueItem(last + settings.update_every_for(incident.severity), incident, "update"))
    return sorted(items, key=lambda item: (item.deadline, -item.incident.severity))
