"""The evaluation dashboard: measures across incidents, read from precomputed rows.

Every section aggregates IncidentMeasure (one narrow row per incident) or KeyMessageLag (one per
shared key message and unit) of the filtered incidents in the database;
crisis.reports.service.refresh_measures keeps them current from the definitions in
crisis.reports.measures. Percentiles use PostgreSQL's percentile_cont; on SQLite (the embedded
mode) the same one query returns the values and crisis.reports.measures.percentile_cont computes
them in Python. Cancelled incidents (false alarms) are counted but never measured. Definitions:
crisis.reviews.measures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import BigInteger, Date, Integer, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.orm import Session

from crisis.dbtypes import UTCDateTime
from crisis.playbooks.models import PlaybookVersion
from crisis.reports.measures import (
    FINISHED,
    TIME_COLUMNS,
    TIME_MEASURES,
    is_postgresql,
    percentile_cont,
)
from crisis.reports.models import IncidentMeasure, KeyMessageLag, KpiTarget
from crisis.units.models import Unit

MEASURED_COLUMNS = ("tta", "ths", "tfs", "ttr")
GROUPED_COLUMNS = ("tta", "ths", "ttr")  # per unit and per week: the medians shown
# For the dashboard's transaction (crisis.reports.service.build_dashboard):
# - work_mem: the percentile sorts of ~50,000 rows (12 months, whole country) spill to disk at 4 MB;
# - random_page_cost: the rows and the covering indexes are in memory, and at the default 4 (a disk)
#   the planner hashes a seq scan of the wide rows rather than stream the narrow index in the order
#   the grouping needs (stage bits: 38 ms instead of 28);
# - no parallel workers: the groupings are cheap, and workers take the CPU other requests need
#   (the ordered-set aggregates run in one process anyway).
PLANNER_SETTINGS = (("work_mem", "32MB"), ("random_page_cost", "1.1"), ("max_parallel_workers_per_gather", "0"))


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


class Stat(NamedTuple):
    """(A tuple of plain values: the garbage collector stops tracking it, and a dashboard makes ~1,500.)"""

    n: int
    p50: float | None
    p90: float | None


class Share(NamedTuple):
    judged: int
    hits: int

    @property
    def share(self) -> float | None:
        return self.hits / self.judged if self.judged else None


@dataclass
class Dashboard:
    filters: Filters
    counts: dict[str, int]
    headline: dict[str, Stat]
    stage_overall: Share
    stages: list[dict[str, Any]]
    heatmap: dict[str, Any]
    escalations: dict[str, Any]
    reviews: Share
    action_items: Share
    lag: list[dict[str, Any]]
    weekly: list[dict[str, Any]]
    per_unit: list[dict[str, Any]]
    kpis: list[dict[str, Any]] = field(default_factory=list)

    @property
    def measured(self) -> int:
        return sum(n for state, n in self.counts.items() if state != "cancelled")


def _is_pg(session: Session) -> bool:
    return is_postgresql(session)


def _week(session: Session, column: Any, zone: str, now: datetime) -> Any:
    """The Monday (a date) of the local week a moment falls in."""
    if _is_pg(session):
        return cast(func.date_trunc("week", func.timezone(zone, column)), Date)
    offset = int((now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)).total_seconds() // 60)
    return func.date(column, f"{offset:+d} minutes", "-6 days", "weekday 1")


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


def _measured(session: Session, f: Filters) -> Any:
    """The precomputed measures of the filtered, non-cancelled incidents, with their local week."""
    im = IncidentMeasure
    return (
        select(
            im.incident_id.label("id"), im.unit_id, im.state,
            _week(session, im.started_at, f.zone, f.now).label("week"),
            *(im.__table__.c[name] for name in MEASURED_COLUMNS), *(im.__table__.c[name] for name in SUMS),
        )
        .where(*scope_conditions(f), im.state != "cancelled")
        .subquery("measured")
    )


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


def _pg_week(f: Filters) -> tuple[Any, list[date]]:
    """On PostgreSQL the week is width_bucket(started_at, the local Mondays as moments): exact in any
    zone (the bounds are computed in Python with the zone's rules), and much cheaper per row than
    converting every start to local time and truncating it. Bucket i is the week of mondays[i - 1]."""
    from sqlalchemy.dialects.postgresql import ARRAY

    mondays, bounds = week_bounds(f)
    return func.width_bucket(IncidentMeasure.started_at, sa.literal(bounds, ARRAY(UTCDateTime))), mondays


def quantiles(
    session: Session, source: Any, keys: list[Any], values: dict[str, Any], where: list[Any] | None = None,
    sums: dict[str, Any] | None = None, *, medians_only: bool = False,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{group key: {"n": rows, name: Stat, sum name: total}} with medians and 90th percentiles of
    each value and totals of each sum. `medians_only` (PostgreSQL): no 90th percentiles (None)."""
    where = where or []
    sums = sums or {}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    if _is_pg(session):
        columns: list[Any] = [*keys, func.count().label("n")]
        columns += [func.coalesce(func.sum(column), 0).label(f"sum_{name}") for name, column in sums.items()]
        for name, column in values.items():
            columns += [func.count(column).label(f"{name}_n"),
                        _percentiles(column, medians_only).label(f"{name}_pct")]
        query = select(*columns).select_from(source).where(*where)
        if keys:
            query = query.group_by(*keys)
        for row in session.execute(query).mappings():
            key = tuple(row[k.key] for k in keys)
            stats: dict[str, Any] = {"n": row["n"]}
            for name in sums:
                stats[name] = int(row[f"sum_{name}"])
            for name in values:
                percentiles = row[f"{name}_pct"]
                stats[name] = (Stat(row[f"{name}_n"], _f(percentiles), None) if medians_only
                               else Stat(row[f"{name}_n"], *_pair(percentiles)))
            groups[key] = stats
        if not keys and not groups:
            groups[()] = {"n": 0} | {name: 0 for name in sums} | {name: Stat(0, None, None) for name in values}
        return groups
    collected: dict[tuple[Any, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    totals: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    query = select(
        *keys, *(column.label(name) for name, column in values.items()),
        *(column.label(f"sum_{name}") for name, column in sums.items()),
    ).select_from(source).where(*where)
    for row in session.execute(query).mappings():
        key = tuple(row[k.key] for k in keys)
        counts[key] += 1
        for name in values:
            if row[name] is not None:
                collected[key][name].append(float(row[name]))
        for name in sums:
            totals[key][name] += int(row[f"sum_{name}"] or 0)
    if not keys:
        counts.setdefault((), 0)
    for key, n in counts.items():
        groups[key] = {"n": n} | {name: totals[key][name] for name in sums} | {
            name: Stat(len(collected[key][name]), percentile_cont(collected[key][name], 0.5),
                       percentile_cont(collected[key][name], 0.9))
            for name in values
        }
    return groups


def _percentiles(column: Any, medians_only: bool = False) -> Any:
    """percentile_cont of the median and the 90th percentile at once: one sort of the column per
    group, not two. `medians_only`: the median alone, a number (the same interpolation as the
    array form's first element)."""
    if medians_only:
        return func.percentile_cont(literal_column("0.5")).within_group(column)
    return func.percentile_cont(literal_column("ARRAY[0.5, 0.9]")).within_group(column)


def _pair(values: list[float | None] | None) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return _f(values[0]), _f(values[1]) if len(values) > 1 else None


def _f(value: Any) -> float | None:
    return float(value) if value is not None else None


def stage_titles(session: Session, lang: str) -> dict[str, tuple[int, str]]:
    """Stage key -> (position, title in lang) from every published playbook version (a small table)."""
    titles: dict[str, tuple[int, str]] = {}
    if _is_pg(session):  # the stages' keys and titles only, not every version's whole document as Python objects
        rows = session.execute(sa.text(
            "SELECT stage.position - 1, stage.value ->> 'key', stage.value -> 'title' ->> :lang"
            " FROM playbook_version, json_array_elements(playbook_version.canonical -> 'stages')"
            " WITH ORDINALITY AS stage(value, position) ORDER BY playbook_version.id, stage.position"
        ), {"lang": lang})
        for position, key, title in rows:
            titles[key] = (position, title)
        return titles
    for canonical in session.scalars(select(PlaybookVersion.canonical).order_by(PlaybookVersion.id)):
        for position, stage in enumerate(canonical["stages"]):
            titles[stage["key"]] = (position, stage["title"][lang])
    return titles


class UnitRow(NamedTuple):
    """A unit as the dashboard shows it (plain values: untracked by the garbage collector)."""

    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    timezone: str


def _unit_rollup(session: Session, f: Filters) -> tuple[dict[int, Any], dict[int, int]]:
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


SUMS = ("st_judged", "st_met", "st_breached", "rv_judged", "rv_on_time", "ai_judged", "ai_on_time", "esc_sent",
        "esc_acknowledged")


def build(session: Session, f: Filters, *, lang: str = "id") -> Dashboard:
    """The dashboard from IncidentMeasure and KeyMessageLag as they are (crisis.reports.service.
    build_dashboard refreshes them first)."""
    targets = _targets_in_view(session, f)
    titles = stage_titles(session, lang)
    units_by_id, rollup = _unit_rollup(session, f)
    width = max((position for position, _ in titles.values()), default=-1) + 1
    if _is_pg(session):
        headline_row, unit_stats, week_stats = _pg_measures(session, f, targets)
    else:
        m = _measured(session, f)
        sums = {name: m.c[name] for name in SUMS} | {"escalated": case((m.c.esc_sent > 0, 1), else_=0)}
        sums |= _threshold_sums(m, targets)
        # Headline: medians and 90th percentiles of every time measure.
        headline_row = quantiles(session, m, [], {name: m.c[name] for name in MEASURED_COLUMNS},
                                 sums={name: sums[name] for name in (*SUMS, "escalated")})[()]
        # Per unit and per week: the medians the tables and charts show, and the sums the targets are
        # judged on.
        unit_stats, week_stats = (quantiles(session, m, [key], {name: m.c[name] for name in GROUPED_COLUMNS},
                                            sums=sums) for key in (m.c.unit_id, m.c.week))
    headline = {name: headline_row[name] for name in MEASURED_COLUMNS}
    # Counts per state, and stages by (stage, heat-map row): the per-position bits of the rows.
    counts, stage_groups = _stage_groups(session, f, rollup, width)
    per_stage: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    positions: dict[str, int] = {}
    heat: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # judged, breached
    for heat_row, keys, judged, met, breached in stage_groups:
        row = heat[heat_row]
        for position, key in enumerate(keys):
            totals = per_stage[key]
            totals[0] += judged[position]
            totals[1] += met[position]
            totals[2] += breached[position]
            positions[key] = min(positions.get(key, position), position)
            cell = row[key]
            cell[0] += judged[position]
            cell[1] += breached[position]
    stage_order = sorted(per_stage, key=lambda k: (titles.get(k, (positions[k], k))[0], k))
    stages = [
        {"key": k, "title": titles.get(k, (0, k))[1], "judged": per_stage[k][0], "met": per_stage[k][1],
         "breached": per_stage[k][2], "not_met": per_stage[k][0] - per_stage[k][1],
         "share": Share(per_stage[k][0], per_stage[k][1]).share}
        for k in stage_order
    ]

    heatmap = {
        "stages": [{"key": k, "title": titles.get(k, (0, k))[1]} for k in stage_order],
        "rows": [
            {"unit": units_by_id[uid], "cells": [_heat_cell(*heat[uid][k]) if k in heat[uid] else None
                                                 for k in stage_order]}
            for uid in sorted(heat, key=lambda uid: units_by_id[uid].code)
        ],
    }

    per_unit = []
    for (unit_id,), stats in sorted(unit_stats.items(), key=lambda kv: (-kv[1]["n"], units_by_id[kv[0][0]].code)):
        per_unit.append({
            "unit": units_by_id[unit_id],
            "incidents": stats["n"],
            "tta": stats["tta"], "ths": stats["ths"], "ttr": stats["ttr"],
            "stage_sla": Share(stats["st_judged"], stats["st_met"]),
            "reviews": Share(stats["rv_judged"], stats["rv_on_time"]),
            "action_items": Share(stats["ai_judged"], stats["ai_on_time"]),
            "escalations": stats["esc_sent"], "acknowledged": stats["esc_acknowledged"],
        })

    measured = headline_row["n"]
    sent, acknowledged = headline_row["esc_sent"], headline_row["esc_acknowledged"]
    escalated = headline_row["escalated"]
    escalations = {
        "escalations": sent,
        "acknowledged": acknowledged,
        "per_incident": sent / measured if measured else None,
        "share_acknowledged": acknowledged / sent if sent else None,
        "incidents_escalated": escalated,
    }
    return Dashboard(
        filters=f,
        counts=counts,
        headline=headline,
        stage_overall=Share(headline_row["st_judged"], headline_row["st_met"]),
        stages=stages,
        heatmap=heatmap,
        escalations=escalations,
        reviews=Share(headline_row["rv_judged"], headline_row["rv_on_time"]),
        action_items=Share(headline_row["ai_judged"], headline_row["ai_on_time"]),
        lag=_lag(session, f, units_by_id),
        weekly=_weekly(f, week_stats),
        per_unit=per_unit,
        kpis=_kpis(targets, unit_stats, units_by_id),
    )


def _pg_measures(session: Session, f: Filters, targets: list[KpiTarget]) -> tuple[
        dict[str, Any], dict[tuple[Any, ...], dict[str, Any]], dict[tuple[Any, ...], dict[str, Any]]]:
    """The headline row, and the stats per unit and per week, on PostgreSQL in two queries that read
    the covering indexes of IncidentMeasure in the order their groupings need (no row sort):

    - per unit (index on unit_id, started_at): the medians shown and every sum the targets need;
    - per week and overall, ROLLUP (index on started_at: the week buckets arrive in order): medians
      and 90th percentiles of the four time measures (the headline needs both; the weeks read the
      medians) and the totals.

    Both return exactly what percentile_cont gives on the same rows (as before: one query per
    grouping is the same aggregate over the same rows)."""
    by_unit = _measured(session, f)
    sums = {name: by_unit.c[name] for name in SUMS} | {"escalated": case((by_unit.c.esc_sent > 0, 1), else_=0)}
    sums |= _threshold_sums(by_unit, targets)
    unit_stats = quantiles(session, by_unit, [by_unit.c.unit_id], {name: by_unit.c[name] for name in GROUPED_COLUMNS},
                           sums=sums, medians_only=True)

    week, mondays = _pg_week(f)
    im = IncidentMeasure
    by_start = (
        select(week.label("week"), *(im.__table__.c[name] for name in (*MEASURED_COLUMNS, *SUMS)))
        .where(*scope_conditions(f), im.state != "cancelled")
        .order_by(im.started_at)
        .subquery("measured")
    )
    totals = {name: by_start.c[name] for name in SUMS} | {"escalated": case((by_start.c.esc_sent > 0, 1), else_=0)}
    columns: list[Any] = [by_start.c.week, func.grouping(by_start.c.week).label("overall"), func.count().label("n")]
    columns += [func.coalesce(func.sum(column), 0).label(f"sum_{name}") for name, column in totals.items()]
    for name in MEASURED_COLUMNS:
        column = by_start.c[name]
        columns += [func.count(column).label(f"{name}_n"), _percentiles(column).label(f"{name}_pct")]
    headline: dict[str, Any] = {"n": 0} | dict.fromkeys(totals, 0) | {
        name: Stat(0, None, None) for name in MEASURED_COLUMNS}
    week_stats: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in session.execute(select(*columns).group_by(func.rollup(by_start.c.week))).mappings():
        stats = {"n": row["n"]} | {name: int(row[f"sum_{name}"]) for name in totals} | {
            name: Stat(row[f"{name}_n"], *_pair(row[f"{name}_pct"])) for name in MEASURED_COLUMNS}
        if row["overall"]:
            headline = stats
        else:
            week_stats[(mondays[row["week"] - 1],)] = stats
    return headline, unit_stats, week_stats


def _heat_cell(judged: int, breached: int) -> dict[str, Any] | None:
    """A heat-map cell: breaches out of the stages judged, and its colour level 0-4 (none when nothing
    was judged)."""
    if not judged:
        return None
    share = breached / judged
    return {"judged": judged, "breached": breached, "share": share, "level": math.ceil(share * 4)}


def _stage_groups(session: Session, f: Filters, rollup: dict[int, int], width: int
                  ) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """Incidents per state (cancelled ones too), and per (heat-map row, stage keys) of the measured
    incidents: the keys, and judged, met and breached counts per stage position (a list each), from
    one grouping of the measures rows (a few hundred groups: the rows are the view's top units).
    `width`: the most stages a playbook version has; a row with more stages widens it, and the
    query runs again. (Stage positions run 0, 1, 2 ... as the playbook lists them: key i is bit i.)"""
    im = IncidentMeasure
    pairs = sorted(rollup.items())
    if _is_pg(session):  # two array parameters, not 2 x 500 (binding each costs more than the query)
        from sqlalchemy.dialects.postgresql import ARRAY

        heat_rows = select(
            *(func.unnest(sa.literal([pair[i] for pair in pairs], ARRAY(Integer))).label(name)
              for i, name in enumerate(("unit_id", "row_id")))
        ).cte("heat_row")
    else:
        heat_rows = sa.values(sa.column("unit_id", Integer), sa.column("row_id", Integer), name="heat_row").data(
            pairs).cte("heat_row")
    states = ("active", "resolved", "closed", "cancelled")
    per_state = [func.count().filter(im.state == state).label(f"n_{state}") for state in states]
    bits = [  # a cancelled incident's bits are 0 (crisis.reports.models.IncidentMeasure)
        func.count().filter(mask.op("&")(literal_column(str(1 << position))) != 0).label(f"b{index}_{position}")
        for index, mask in enumerate((im.stages_judged, im.stages_met, im.stages_breached))
        for position in range(width)
    ]
    # First per (unit, stage keys): the covering index on (unit_id, stage_keys) hands the rows over in
    # that order (a streamed grouping, ~3,500 groups at 500 units), then per heat-map row.
    per_unit = (
        select(im.unit_id, im.stage_keys, func.max(im.stages_judged).label("widest"), *per_state, *bits)
        .where(*scope_conditions(f))
        .group_by(im.unit_id, im.stage_keys)
        .subquery("per_unit")
    )
    counted = [column for column in per_unit.c if column.name.startswith(("n_", "b"))]
    query = (
        select(heat_rows.c.row_id, per_unit.c.stage_keys, func.max(per_unit.c.widest),
               *(cast(func.sum(column), BigInteger) for column in counted))
        .join(heat_rows, heat_rows.c.unit_id == per_unit.c.unit_id)
        .group_by(heat_rows.c.row_id, per_unit.c.stage_keys)
    )
    counts = dict.fromkeys(states, 0)
    groups = []
    for row_id, keys, widest, *sums in session.execute(query):
        stage_keys = keys.split(" ") if keys else []
        if len(stage_keys) > width or (widest or 0) >> width:
            return _stage_groups(session, f, rollup, max(len(stage_keys), int(widest or 0).bit_length()))
        for state, n in zip(states, sums, strict=False):
            counts[state] += n
        if not stage_keys or sums[0] + sums[1] + sums[2] == 0:  # no stages, or only cancelled incidents
            continue
        judged, met, breached = (sums[4 + i * width:4 + i * width + len(stage_keys)] for i in range(3))
        groups.append((row_id, stage_keys, judged, met, breached))
    return counts, groups


def _lag(session: Session, f: Filters, units_by_id: dict[int, Any]) -> list[dict[str, Any]]:
    """Per unit sharing key messages: how many it was asked to publish and published, and how long
    after approval (median, 90th percentile)."""
    lag = KeyMessageLag
    where = [*scope_conditions(f, lag), lag.incident_state != "cancelled"]
    stats = quantiles(session, lag, [lag.unit_id], {"lag": lag.lag}, where=where, sums={"shared": lag.involved})
    rows = []
    for (unit_id,), stat in sorted(stats.items(), key=lambda kv: _code(units_by_id, kv[0][0])):
        rows.append({"unit": units_by_id.get(unit_id), "shared": max(stat["shared"], stat["lag"].n),
                     "published": stat["lag"].n, "p50": stat["lag"].p50, "p90": stat["lag"].p90})
    return rows


def _code(units_by_id: dict[int, Any], unit_id: int) -> str:
    unit = units_by_id.get(unit_id)
    return unit.code if unit else str(unit_id)


def _weekly(f: Filters, stats: dict[tuple[Any, ...], dict[str, Any]]) -> list[dict[str, Any]]:
    by_week = {_as_date(key[0]): value for key, value in stats.items()}
    weeks = []
    local_start = f.start.astimezone(ZoneInfo(f.zone)).date()
    monday = local_start - timedelta(days=local_start.weekday())
    last = (f.end - timedelta(microseconds=1)).astimezone(ZoneInfo(f.zone)).date()
    while monday <= last:
        stat = by_week.get(monday)
        weeks.append({
            "week": monday,
            "incidents": stat["n"] if stat else 0,
            "tta": stat["tta"].p50 if stat else None,
            "ths": stat["ths"].p50 if stat else None,
            "ttr": stat["ttr"].p50 if stat else None,
            "stage_sla": Share(stat["st_judged"], stat["st_met"]).share if stat else None,
        })
        monday += timedelta(days=7)
    return weeks


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _targets_in_view(session: Session, f: Filters) -> list[KpiTarget]:
    query = select(KpiTarget).order_by(KpiTarget.id)
    if f.unit_ids is not None:
        query = query.where(KpiTarget.unit_id.in_(sorted(f.unit_ids)))
    return list(session.scalars(query))


def _threshold_key(target: KpiTarget) -> str:
    direction = "le" if target.comparison == "<=" else "ge"
    return f"kpi_{TIME_COLUMNS[target.measure]}_{direction}_{target.threshold_seconds}"


def _threshold_sums(m: Any, targets: list[KpiTarget]) -> dict[str, Any]:
    """Per distinct time target: 1 per incident within it, and 1 per incident it is judged on (a value,
    or finished without one: a miss). Summed per unit in the same grouped query as everything else."""
    sums: dict[str, Any] = {}
    finished = m.c.state.in_(FINISHED)
    for target in targets:
        if target.measure not in TIME_MEASURES or target.threshold_seconds is None:
            continue
        column = m.c[TIME_COLUMNS[target.measure]]
        within = column <= target.threshold_seconds if target.comparison == "<=" else (
            column >= target.threshold_seconds)
        key = _threshold_key(target)
        if key in sums:  # many units share a target: one sum each
            continue
        sums[key] = case((and_(column.is_not(None), within), 1), else_=0)
        sums[f"judged_{TIME_COLUMNS[target.measure]}"] = case((or_(column.is_not(None), finished), 1), else_=0)
    return sums


SHARE_COLUMNS = {
    "stage_sla": ("st_judged", "st_met"),
    "review_on_time": ("rv_judged", "rv_on_time"),
    "action_items_on_time": ("ai_judged", "ai_on_time"),
    "escalations_acknowledged": ("esc_sent", "esc_acknowledged"),
}


def _kpis(targets: list[KpiTarget], unit_stats: dict[tuple[Any, ...], dict[str, Any]],
          units_by_id: dict[int, Any]) -> list[dict[str, Any]]:
    """Every KPI target of a unit in view, measured over that unit's subtree within the filters: the
    per-unit sums of the one grouped query, added up over the subtree."""
    if not targets:
        return []

    def sum_keys(target: KpiTarget) -> tuple[str, str]:
        if target.measure in SHARE_COLUMNS:
            return SHARE_COLUMNS[target.measure]
        return f"judged_{TIME_COLUMNS[target.measure]}", _threshold_key(target)

    # Each unit's sums (those some target reads) added to every unit above it, once: then a target
    # reads its unit's subtree total.
    wanted = sorted({key for target in targets for key in sum_keys(target)})
    subtree: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(wanted, 0))
    for (unit_id,), stats in unit_stats.items():
        values = [(key, stats[key]) for key in wanted if stats.get(key)]
        node, seen = units_by_id.get(unit_id), set()
        while values and node is not None and node.id not in seen:
            seen.add(node.id)
            totals = subtree[node.id]
            for key, value in values:
                totals[key] += value
            node = units_by_id.get(node.parent_id) if node.parent_id else None

    rows = []
    for target in sorted(targets, key=lambda x: (_code(units_by_id, x.unit_id), x.measure)):
        totals = subtree.get(target.unit_id, {})
        judged_key, hits_key = sum_keys(target)
        share = Share(totals.get(judged_key, 0), totals.get(hits_key, 0))
        rows.append({
            "target": target,
            "unit": units_by_id.get(target.unit_id),
            "judged": share.judged,
            "hits": share.hits,
            "share": share.share,
            "met": None if share.share is None else share.share >= target.target_share - 1e-9,
        })
    return rows


def local_day_start(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
