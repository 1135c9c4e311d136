"""The evaluation dashboard: measures across incidents, read from precomputed rows.

Every section aggregates IncidentMeasure (one narrow row per incident) or KeyMessageLag (one per
shared key message and unit) of the filtered incidents in the database;
crisis.reports.service.refresh_measures keeps them current from the definitions in
crisis.reports.measures. Percentiles: crisis.reports.quantiles. Cancelled incidents (false alarms)
are counted but never measured. Definitions: crisis.reviews.measures.

Here: the headline, per-unit and weekly figures and key-message lag; the filters and units in view
are in crisis.reports.scope, stage SLA and the heat map in crisis.reports.heatmap, KPI targets in
crisis.reports.kpi_progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from crisis.incidents.models import MEDIA_OUTLET_TYPES, MediaQuery
from crisis.reports.heatmap import stage_groups, stage_tables, stage_titles
from crisis.reports.kpi_progress import kpi_rows, targets_in_view, threshold_sums
from crisis.reports.measures import is_postgresql, percentile_cont
from crisis.reports.models import IncidentMeasure, KeyMessageLag, KpiTarget
from crisis.reports.quantiles import Share, Stat, pair, percentiles, quantiles
from crisis.reports.scope import (
    Filters,
    as_date,
    pg_week_bucket,
    scope_conditions,
    unit_code,
    unit_rollup,
    week_bounds,
    week_of,
)

MEASURED_COLUMNS = ("ttd", "tta", "ths", "tfs", "ttr")
GROUPED_COLUMNS = ("tta", "ths", "ttr")  # per unit and per week: the medians shown
# For the dashboard's transaction (crisis.reports.service.build_dashboard):
# - work_mem: the percentile sorts of a year of the whole country spill to disk at the default 4 MB;
# - random_page_cost: the rows and the covering indexes are in memory, and at the default 4 (a disk)
#   the planner hashes a seq scan of the wide rows rather than stream the narrow index in the order
#   the grouping needs (benchmarks/evaluation);
# - no parallel workers: the groupings are cheap, and workers take the CPU other requests need
#   (the ordered-set aggregates run in one process anyway).
PLANNER_SETTINGS = (("work_mem", "32MB"), ("random_page_cost", "1.1"), ("max_parallel_workers_per_gather", "0"))
SUMS = (
    "st_judged",
    "st_met",
    "st_breached",
    "rv_judged",
    "rv_on_time",
    "ai_judged",
    "ai_on_time",
    "esc_sent",
    "esc_acknowledged",
    "mq_judged",
    "mq_on_time",
    "upd_judged",
    "upd_kept",
    "hoax_reach",
    "clar_reach",
)


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
    # Update intervals kept within the SOP's cadence, of those judged.
    cadence: Share = field(default_factory=lambda: Share(0, 0))
    # Hoaxes whose review entered both: people the hoax and the clarification reached, summed.
    reach: dict[str, int] = field(default_factory=dict)
    # Journalists' questions answered on time (the KPI measure media_on_time), and per kind of outlet:
    # received, answered, on time, median time to answer.
    media: Share = field(default_factory=lambda: Share(0, 0))
    media_by_outlet: list[dict[str, Any]] = field(default_factory=list)

    @property
    def measured(self) -> int:
        return sum(n for state, n in self.counts.items() if state != "cancelled")


def build(session: Session, f: Filters, *, lang: str = "id") -> Dashboard:
    """The dashboard from IncidentMeasure and KeyMessageLag as they are (crisis.reports.service.
    build_dashboard refreshes them first)."""
    targets = targets_in_view(session, f)
    titles = stage_titles(session, lang)
    units_by_id, rollup = unit_rollup(session, f)
    width = max((position for position, _title, _playbook in titles.values()), default=-1) + 1
    if is_postgresql(session):
        headline_row, unit_stats, week_stats = _pg_measures(session, f, targets)
    else:
        m = _measured(session, f)
        sums = {name: m.c[name] for name in SUMS} | {"escalated": case((m.c.esc_sent > 0, 1), else_=0)}
        sums |= threshold_sums(m, targets)
        # Headline: medians and 90th percentiles of every time measure.
        headline_row = quantiles(
            session,
            m,
            [],
            {name: m.c[name] for name in MEASURED_COLUMNS},
            sums={name: sums[name] for name in (*SUMS, "escalated")},
        )[()]
        # Per unit and per week: the medians the tables and charts show, and the sums the targets are
        # judged on.
        unit_stats, week_stats = (
            quantiles(session, m, [key], {name: m.c[name] for name in GROUPED_COLUMNS}, sums=sums)
            for key in (m.c.unit_id, m.c.week)
        )
    headline = {name: headline_row[name] for name in MEASURED_COLUMNS}
    # Counts per state, and stages by (stage, heat-map row): the per-position bits of the rows.
    counts, groups = stage_groups(session, f, rollup, width)
    stages, heatmap = stage_tables(groups, titles, units_by_id)

    per_unit = []
    for (unit_id,), stats in sorted(unit_stats.items(), key=lambda kv: (-kv[1]["n"], units_by_id[kv[0][0]].code)):
        per_unit.append(
            {
                "unit": units_by_id[unit_id],
                "incidents": stats["n"],
                "tta": stats["tta"],
                "ths": stats["ths"],
                "ttr": stats["ttr"],
                "stage_sla": Share(stats["st_judged"], stats["st_met"]),
                "reviews": Share(stats["rv_judged"], stats["rv_on_time"]),
                "action_items": Share(stats["ai_judged"], stats["ai_on_time"]),
                "escalations": stats["esc_sent"],
                "acknowledged": stats["esc_acknowledged"],
                "media": Share(stats["mq_judged"], stats["mq_on_time"]),
            }
        )

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
        kpis=kpi_rows(targets, unit_stats, units_by_id),
        cadence=Share(headline_row["upd_judged"], headline_row["upd_kept"]),
        reach={"hoax": headline_row["hoax_reach"], "clarification": headline_row["clar_reach"]},
        media=Share(headline_row["mq_judged"], headline_row["mq_on_time"]),
        media_by_outlet=media_by_outlet(session, f),
    )


def media_by_outlet(session: Session, f: Filters) -> list[dict[str, Any]]:
    """Per kind of outlet, over the journalists' questions of the filtered, non-cancelled incidents:
    received, answered (or declined with the holding line), answered on time, and the median time
    from receiving to answering. Read from the queries themselves (a few per incident)."""
    im = IncidentMeasure
    rows = session.execute(
        select(MediaQuery.outlet_type, MediaQuery.received_at, MediaQuery.answered_at, MediaQuery.due_at)
        .join(im, im.incident_id == MediaQuery.incident_id)
        .where(*scope_conditions(f), im.state != "cancelled")
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.outlet_type, []).append(row)
    table = []
    for kind in (*MEDIA_OUTLET_TYPES, *sorted(set(grouped) - set(MEDIA_OUTLET_TYPES))):
        found = grouped.get(kind)
        if not found:
            continue
        spans = [(r.answered_at - r.received_at).total_seconds() for r in found if r.answered_at is not None]
        table.append(
            {
                "outlet_type": kind,
                "received": len(found),
                "answered": len(spans),
                "on_time": sum(1 for r in found if r.answered_at is not None and r.answered_at <= r.due_at),
                "median": percentile_cont(spans, 0.5),
            }
        )
    return table


def _measured(session: Session, f: Filters) -> Any:
    """The precomputed measures of the filtered, non-cancelled incidents, with their local week."""
    im = IncidentMeasure
    return (
        select(
            im.incident_id.label("id"),
            im.unit_id,
            im.state,
            week_of(session, im.started_at, f.zone, f.now).label("week"),
            *(im.__table__.c[name] for name in MEASURED_COLUMNS),
            *(im.__table__.c[name] for name in SUMS),
        )
        .where(*scope_conditions(f), im.state != "cancelled")
        .subquery("measured")
    )


def _pg_measures(
    session: Session, f: Filters, targets: list[KpiTarget]
) -> tuple[dict[str, Any], dict[tuple[Any, ...], dict[str, Any]], dict[tuple[Any, ...], dict[str, Any]]]:
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
    sums |= threshold_sums(by_unit, targets)
    unit_stats = quantiles(
        session,
        by_unit,
        [by_unit.c.unit_id],
        {name: by_unit.c[name] for name in GROUPED_COLUMNS},
        sums=sums,
        medians_only=True,
    )

    week, mondays = pg_week_bucket(f)
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
        columns += [func.count(column).label(f"{name}_n"), percentiles(column).label(f"{name}_pct")]
    headline: dict[str, Any] = (
        {"n": 0} | dict.fromkeys(totals, 0) | {name: Stat(0, None, None) for name in MEASURED_COLUMNS}
    )
    week_stats: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in session.execute(select(*columns).group_by(func.rollup(by_start.c.week))).mappings():
        stats = (
            {"n": row["n"]}
            | {name: int(row[f"sum_{name}"]) for name in totals}
            | {name: Stat(row[f"{name}_n"], *pair(row[f"{name}_pct"])) for name in MEASURED_COLUMNS}
        )
        if row["overall"]:
            headline = stats
        else:
            week_stats[(mondays[row["week"] - 1],)] = stats
    return headline, unit_stats, week_stats


def _lag(session: Session, f: Filters, units_by_id: dict[int, Any]) -> list[dict[str, Any]]:
    """Per unit sharing key messages: how many it was asked to publish and published, and how long
    after approval (median, 90th percentile)."""
    lag = KeyMessageLag
    where = [*scope_conditions(f, lag), lag.incident_state != "cancelled"]
    stats = quantiles(session, lag, [lag.unit_id], {"lag": lag.lag}, where=where, sums={"shared": lag.involved})
    rows = []
    for (unit_id,), stat in sorted(stats.items(), key=lambda kv: unit_code(units_by_id, kv[0][0])):
        rows.append(
            {
                "unit": units_by_id.get(unit_id),
                "shared": max(stat["shared"], stat["lag"].n),
                "published": stat["lag"].n,
                "p50": stat["lag"].p50,
                "p90": stat["lag"].p90,
            }
        )
    return rows


def _weekly(f: Filters, stats: dict[tuple[Any, ...], dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per local week of the period, empty weeks included."""
    by_week = {as_date(key[0]): value for key, value in stats.items()}
    mondays, _bounds = week_bounds(f)
    weeks = []
    for monday in mondays:
        stat = by_week.get(monday)
        weeks.append(
            {
                "week": monday,
                "incidents": stat["n"] if stat else 0,
                "tta": stat["tta"].p50 if stat else None,
                "ths": stat["ths"].p50 if stat else None,
                "ttr": stat["ttr"].p50 if stat else None,
                "stage_sla": Share(stat["st_judged"], stat["st_met"]).share if stat else None,
            }
        )
    return weeks
