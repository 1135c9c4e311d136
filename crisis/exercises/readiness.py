"""A unit's readiness: when each playbook was last exercised, exercises this year against the
target its head set, and improvement items from exercises still open."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from crisis.exercises.models import ExerciseTarget
from crisis.incidents.models import Exercise, Incident
from crisis.playbooks.models import Playbook
from crisis.reviews.models import ActionItem, Review
from crisis.units.models import Unit


@dataclass
class Readiness:
    unit: Unit
    year: int
    done: int = 0  # exercises started this year (the unit's own calendar year) that it took part in
    target: int | None = None
    last_by_playbook: dict[str, datetime] = field(default_factory=dict)  # playbook key: last start
    never: list[str] = field(default_factory=list)  # library playbooks never exercised
    open_items: int = 0
    overdue_items: int = 0

    @property
    def on_track(self) -> bool | None:
        return None if self.target is None else self.done >= self.target


def for_units(*, session: Session, units: list[Unit], now: datetime) -> list[Readiness]:
    """Readiness of each unit (an exercise counts for every unit that took part in it)."""
    if not units:
        return []
    ids = {unit.id for unit in units}
    rows = session.execute(
        select(Exercise.unit_ids, Exercise.playbook_key, Exercise.started_at).order_by(Exercise.started_at)
    ).all()
    playbook_keys = list(session.scalars(select(Playbook.key).order_by(Playbook.key)))
    result: dict[int, Readiness] = {}
    for unit in units:
        year = now.astimezone(ZoneInfo(unit.timezone)).year
        result[unit.id] = Readiness(unit=unit, year=year)
    for unit_ids, playbook_key, started_at in rows:
        for unit_id in set(unit_ids or []) & ids:
            readiness = result[unit_id]
            readiness.last_by_playbook[playbook_key] = started_at
            if started_at.astimezone(ZoneInfo(readiness.unit.timezone)).year == readiness.year:
                readiness.done += 1
    targets = session.execute(
        select(ExerciseTarget.unit_id, ExerciseTarget.year, ExerciseTarget.target).where(
            ExerciseTarget.unit_id.in_(sorted(ids))
        )
    ).all()
    for unit_id, year, target in targets:
        if result[unit_id].year == year:
            result[unit_id].target = target
    items = session.execute(
        select(Incident.unit_id, func.count(), func.sum(case((ActionItem.due_at < now, 1), else_=0)))
        .join(Review, Review.id == ActionItem.review_id)
        .join(Incident, Incident.id == Review.incident_id)
        .where(Incident.exercise_id.is_not(None), ActionItem.status == "open", Incident.unit_id.in_(sorted(ids)))
        .group_by(Incident.unit_id)
    ).all()
    for unit_id, count, overdue in items:
        result[unit_id].open_items = count
        result[unit_id].overdue_items = int(overdue or 0)
    for readiness in result.values():
        readiness.never = [key for key in playbook_keys if key not in readiness.last_by_playbook]
    return [result[unit.id] for unit in units]
