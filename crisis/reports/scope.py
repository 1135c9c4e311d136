"""What an evaluation view is over: the filters (period, units, playbook, severity), the conditions
they put on the precomputed measure rows, the local weeks of the period, and the units in view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Date, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from crisis.dbtypes import UTCDateTime
from crisis.reports.measures import is_postgresql
from crisis.reports.models import IncidentMeasure
from crisis.units.models import Unit


@dataclass(frozen=True)
class Filters:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    unit_ids: frozenset[int] | None  # None: every unit
    root_unit_id: int | None  # the unit the view is rooted at (None: the viewer's whole scope)
    playbook_key: str | None
    severity: int | None
    zone: str  # weeks start on Monday 00:00 in this zone
    now: datetime


def scope_conditions(f: Filters, table: Any = IncidentMeasure) -> list[Any]:
    """The filters on IncidentMeasure or KeyMessageLag (both carry their incident's filter columns)."""
    started = table.started_at if table is IncidentMeasure else table.incident_started_at
    owner = table.unit_id if table is IncidentMeasure else table.owner_unit_id
    conditions: list[Any] = [started >= f.start, started < f.end]
    if f.unit_ids is not None:
        conditions.append(owner.in_(sorted(f.unit_ids)))
    if f.severity is not None:
        conditions.append(table.severity == f.severity)
    if f.playbook_key:
        conditions.append(table.playbook_key == f.playbook_key)
    return conditions


# --- local weeks ---------------------------------------------------------------------------------


def week_of(session: Session, column: Any, zone: str, now: datetime) -> Any:
    """The Monday (a date) of the local week a moment falls in."""
    if is_postgresql(session):
        return cast(func.date_trunc("week", func.timezone(zone, column)), Date)
    offset = int((now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)).total_seconds() // 60)
    return func.date(column, f"{offset:+d} minutes", "-6 days", "weekday 1")


def week_bounds(f: Filters) -> tuple[list[date], list[datetime]]:
    """The Mondays of the local weeks the filters' period touches, and the moments (UTC) each of them
    and the Monday after the last start: a row's week is the last bound at or before its start."""
    zone = ZoneInfo(f.zone)
    local_start = f.start.astimezone(zone).date()
    monday = local_start - timedelta(days=local_start.weekday())
    last = (f.end - timedelta(microseconds=1)).astimezone(zone).date()
    mondays = []
    while monday <= last:
        mondays.append(monday)
        monday += timedelta(days=7)
    bounds = [datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC) for day in [*mondays, monday]]
    return mondays, bounds


def pg_week_bucket(f: Filters) -> tuple[Any, list[date]]:
    """On PostgreSQL the week is width_bucket(started_at, the local Mondays as moments): exact in any
    zone (the bounds are computed in Python with the zone's rules), and much cheaper per row than
    converting every start to local time and truncating it. Bucket i is the week of mondays[i - 1]."""
    mondays, bounds = week_bounds(f)
    return func.width_bucket(IncidentMeasure.started_at, sa.literal(bounds, ARRAY(UTCDateTime))), mondays


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


# --- the units in view ---------------------------------------------------------------------------


class UnitRow(NamedTuple):
    """A unit as the dashboard shows it (plain values: untracked by the garbage collector)."""

    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    timezone: str


def unit_code(units_by_id: dict[int, Any], unit_id: int) -> str:
    unit = units_by_id.get(unit_id)
    return unit.code if unit else str(unit_id)


def unit_rollup(session: Session, f: Filters) -> tuple[dict[int, Any], dict[int, int]]:
    """Units by id (rows with id, code, name, kind, parent_id: read-only, cheaper than 500 objects),
    and each unit in view's row in the heat map: the child of the view's root it sits under (central
    sees provinces, a province its regencies), or itself."""
    columns = (Unit.id, Unit.code, Unit.name, Unit.kind, Unit.parent_id, Unit.timezone)
    everything = {u.id: u for u in (UnitRow(*row) for row in session.execute(select(*columns)))}
    root = f.root_unit_id
    if root is None:
        roots = [u for u in everything.values() if u.parent_id is None or u.parent_id not in everything]
        root = roots[0].id if len(roots) == 1 else None
    rows: dict[int, int] = {}
    for unit_id in everything if f.unit_ids is None else f.unit_ids:
        node = everything.get(unit_id)
        chain = []
        while node is not None:
            chain.append(node.id)
            node = everything.get(node.parent_id) if node.parent_id else None
        if root is not None and root in chain:
            index = chain.index(root)
            rows[unit_id] = chain[index - 1] if index > 0 else root
        else:
            rows[unit_id] = unit_id
    return everything, rows
