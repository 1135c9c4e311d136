"""The evaluation dashboard: measures across incidents, set-based.

One CTE holds the per-incident measures of the filtered incidents (one row per incident, built by
joins, never a query per incident); every section aggregates it in the database. Percentiles use
PostgreSQL's percentile_cont; on SQLite (the embedded mode) the same one query returns the values
and crisis.reports.measures.percentile_cont computes them in Python. Cancelled incidents (false
alarms) are counted but never measured. Definitions: crisis.reviews.measures.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from crisis.incidents.models import Incident, InvolvedUnit, Publication, StageRun, Statement
from crisis.playbooks.models import Playbook, PlaybookVersion
from crisis.reports.measures import TIME_COLUMNS, TIME_MEASURES, percentile_cont
from crisis.reviews.models import ActionItem, KpiTarget, Review
from crisis.units.models import Unit

FINISHED = ("resolved", "closed")
MEASURED_COLUMNS = ("tta", "ths", "tfs", "ttr")


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


@dataclass
class Stat:
    n: int
    p50: float | None
    p90: float | None


@dataclass
class Share:
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
    return session.get_bind().dialect.name == "postgresql"


def seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    if _is_pg(session):
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _week(session: Session, column: Any, zone: str, now: datetime) -> Any:
    """The Monday (a date) of the local week a moment falls in."""
    if _is_pg(session):
        return cast(func.date_trunc("week", func.timezone(zone, column)), Date)
    offset = int((now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)).total_seconds() // 60)
    return func.date(column, f"{offset:+d} minutes", "-6 days", "weekday 1")


def incident_conditions(f: Filters) -> list[Any]:
    conditions: list[Any] = [Incident.started_at >= f.start, Incident.started_at < f.end]
    if f.unit_ids is not None:
        conditions.append(Incident.unit_id.in_(sorted(f.unit_ids)))
    if f.severity is not None:
        conditions.append(Incident.severity == f.severity)
    if f.playbook_key:
        versions = select(PlaybookVersion.id).join(Playbook).where(Playbook.key == f.playbook_key)
        conditions.append(Incident.playbook_version_id.in_(versions))
    return conditions


def _measured_select(session: Session, f: Filters) -> Any:
    """One row per filtered, non-cancelled incident: unit, state, week, the four time measures in
    seconds, and its counts of stages (judged, met, breached), review (judged, on time), action
    items (judged, on time) and escalations (sent, acknowledged)."""
    conditions = [*incident_conditions(f), Incident.state != "cancelled"]
    first_stage = (
        select(StageRun.incident_id, StageRun.completed_at).where(StageRun.position == 0).subquery("first_stage")
    )
    published = (
        select(
            Statement.incident_id,
            func.min(case((Statement.kind == "holding", Statement.published_at))).label("holding_at"),
            func.min(Statement.published_at).label("first_at"),
        )
        .join(Incident, Incident.id == Statement.incident_id)
        .where(Statement.published_at.is_not(None), *conditions)
        .group_by(Statement.incident_id)
        .subquery("published")
    )
    judged, met, performed = stage_conditions(Incident)
    stages = (
        select(
            StageRun.incident_id,
            _count_if(judged).label("judged"),
            _count_if(met).label("met"),
            _count_if(and_(performed, not_(met))).label("breached"),
        )
        .join(Incident, Incident.id == StageRun.incident_id)
        .where(*conditions)
        .group_by(StageRun.incident_id)
        .subquery("stages")
    )
    item_judged = and_(ActionItem.status != "dropped", or_(ActionItem.status == "done", ActionItem.due_at <= f.now))
    item_on_time = and_(ActionItem.status == "done", ActionItem.done_at <= ActionItem.due_at)
    items = (
        select(Review.incident_id, _count_if(item_judged).label("judged"), _count_if(item_on_time).label("on_time"))
        .join(ActionItem, ActionItem.review_id == Review.id)
        .join(Incident, Incident.id == Review.incident_id)
        .where(*conditions)
        .group_by(Review.incident_id)
        .subquery("items")
    )
    review_judged = or_(Review.approved_at.is_not(None), Review.due_at <= f.now)
    review_on_time = and_(Review.approved_at.is_not(None), Review.approved_at <= Review.due_at)
    columns: list[Any] = [
        Incident.id.label("id"),
        Incident.unit_id.label("unit_id"),
        Incident.state.label("state"),
        Incident.resolved_at.label("resolved_at"),
        _week(session, Incident.started_at, f.zone, f.now).label("week"),
        seconds_between(session, first_stage.c.completed_at, Incident.started_at).label("tta"),
        seconds_between(session, published.c.holding_at, Incident.started_at).label("ths"),
        seconds_between(session, published.c.first_at, Incident.started_at).label("tfs"),
        seconds_between(session, Incident.resolved_at, Incident.started_at).label("ttr"),
        func.coalesce(stages.c.judged, 0).label("st_judged"),
        func.coalesce(stages.c.met, 0).label("st_met"),
        func.coalesce(stages.c.breached, 0).label("st_breached"),
        case((and_(Review.id.is_not(None), review_judged), 1), else_=0).label("rv_judged"),
        case((and_(Review.id.is_not(None), review_on_time), 1), else_=0).label("rv_on_time"),
        func.coalesce(items.c.judged, 0).label("ai_judged"),
        func.coalesce(items.c.on_time, 0).label("ai_on_time"),
    ]
    query = (
        select(*columns)
        .outerjoin(first_stage, first_stage.c.incident_id == Incident.id)
        .outerjoin(published, published.c.incident_id == Incident.id)
        .outerjoin(stages, stages.c.incident_id == Incident.id)
        .outerjoin(Review, Review.incident_id == Incident.id)
        .outerjoin(items, items.c.incident_id == Incident.id)
        .where(*conditions)
    )
    escalations = _escalations_per_incident(conditions)
    if escalations is not None:
        query = query.add_columns(
            func.coalesce(escalations.c.sent, 0).label("esc_sent"),
            func.coalesce(escalations.c.acknowledged, 0).label("esc_acknowledged"),
        ).outerjoin(escalations, escalations.c.incident_id == Incident.id)
    else:
        query = query.add_columns(literal(0).label("esc_sent"), literal(0).label("esc_acknowledged"))
    return query


def _escalations_per_incident(conditions: list[Any]) -> Any:
    """Per incident: escalations (one per escalation-step timer and person) and acknowledged ones."""
    try:
        from crisis.escalation.models import Notice, Timer
    except ImportError:  # no deadline engine: no escalations to count
        return None
    person = (
        select(Notice.incident_id.label("incident_id"), func.max(Notice.acknowledged_at).label("acknowledged_at"))
        .join(Timer, Timer.id == Notice.timer_id)
        .join(Incident, Incident.id == Notice.incident_id)
        .where(Timer.kind == "escalation_step", Notice.kind == "deadline", Notice.recipient_user_id.is_not(None),
               *conditions)
        .group_by(Notice.incident_id, Notice.timer_id, Notice.recipient_user_id)
        .subquery("escalated_person")
    )
    return (
        select(person.c.incident_id, func.count().label("sent"), func.count(person.c.acknowledged_at).label(
            "acknowledged"))
        .group_by(person.c.incident_id)
        .subquery("escalations")
    )


MEASURED_INT_COLUMNS = ("st_judged", "st_met", "st_breached", "rv_judged", "rv_on_time", "ai_judged", "ai_on_time",
                        "esc_sent", "esc_acknowledged")


def materialise(session: Session, f: Filters) -> Table:
    """The per-incident measures as a temporary table, built once and read by every section."""
    from crisis.dbtypes import UTCDateTime

    name = f"eval_measured_{uuid.uuid4().hex[:12]}"
    table = Table(
        name, MetaData(),
        Column("id", Integer, primary_key=True), Column("unit_id", Integer), Column("state", String(16)),
        Column("resolved_at", UTCDateTime), Column("week", Date),
        *(Column(c, Float) for c in MEASURED_COLUMNS), *(Column(c, Integer) for c in MEASURED_INT_COLUMNS),
        prefixes=["TEMPORARY"],
    )
    connection = session.connection()
    table.create(connection)
    source = _measured_select(session, f)
    connection.execute(insert(table).from_select([c.name for c in table.columns], source))
    return table


def quantiles(
    session: Session, source: Any, keys: list[Any], values: dict[str, Any], where: list[Any] | None = None,
    sums: dict[str, Any] | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{group key: {"n": rows, name: Stat, sum name: total}} with medians and 90th percentiles of
    each value and totals of each sum."""
    where = where or []
    sums = sums or {}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    if _is_pg(session):
        columns: list[Any] = [*keys, func.count().label("n")]
        columns += [func.coalesce(func.sum(column), 0).label(f"sum_{name}") for name, column in sums.items()]
        for name, column in values.items():
            columns += [
                func.count(column).label(f"{name}_n"),
                func.percentile_cont(0.5).within_group(column).label(f"{name}_p50"),
                func.percentile_cont(0.9).within_group(column).label(f"{name}_p90"),
            ]
        query = select(*columns).select_from(source).where(*where)
        if keys:
            query = query.group_by(*keys)
        for row in session.execute(query).mappings():
            key = tuple(row[k.key] for k in keys)
            groups[key] = {"n": row["n"]} | {name: int(row[f"sum_{name}"]) for name in sums} | {
                name: Stat(row[f"{name}_n"], _f(row[f"{name}_p50"]), _f(row[f"{name}_p90"])) for name in values
            }
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


def _f(value: Any) -> float | None:
    return float(value) if value is not None else None


def _count_if(condition: Any) -> Any:
    return func.count(case((condition, literal(1))))


def stage_conditions(incident: Any) -> tuple[Any, Any, Any]:
    """(judged, met, performed) for a StageRun row joined to its incident (the Incident model or the
    measured table: anything with `state` and `resolved_at`)."""
    columns = incident.c if hasattr(incident, "c") else incident
    performed = and_(
        StageRun.started_at.is_not(None),
        StageRun.completed_at.is_not(None),
        not_(and_(StageRun.started_at == StageRun.completed_at, StageRun.completed_at == columns.resolved_at)),
    )
    judged = or_(performed, columns.state.in_(FINISHED))
    met = and_(performed, or_(StageRun.due_at.is_(None), StageRun.completed_at <= StageRun.due_at))
    return judged, met, performed


def stage_titles(session: Session, lang: str) -> dict[str, tuple[int, str]]:
    """Stage key -> (position, title in lang) from every published playbook version (a small table)."""
    titles: dict[str, tuple[int, str]] = {}
    for canonical in session.scalars(select(PlaybookVersion.canonical).order_by(PlaybookVersion.id)):
        for position, stage in enumerate(canonical["stages"]):
            titles[stage["key"]] = (position, stage["title"][lang])
    return titles


def _unit_rollup(session: Session, f: Filters, unit_ids: set[int]) -> tuple[dict[int, Unit], dict[int, int]]:
    """Units by id, and each unit's row in the heat map: the child of the view's root it sits under
    (central sees provinces, a province its regencies), or itself."""
    everything = {u.id: u for u in session.scalars(select(Unit))}
    root = f.root_unit_id
    if root is None:
        roots = [u for u in everything.values() if u.parent_id is None or u.parent_id not in everything]
        root = roots[0].id if len(roots) == 1 else None
    rows: dict[int, int] = {}
    for unit_id in unit_ids:
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
    conditions = incident_conditions(f)
    counts = {"active": 0, "resolved": 0, "closed": 0, "cancelled": 0}
    for state, n in session.execute(select(Incident.state, func.count()).where(*conditions).group_by(Incident.state)):
        counts[state] = n

    m = materialise(session, f)
    try:
        return _build(session, f, m, counts, lang)
    finally:
        m.drop(session.connection())


def _build(session: Session, f: Filters, m: Table, counts: dict[str, int], lang: str) -> Dashboard:
    sums = {name: m.c[name] for name in SUMS}
    headline_row = quantiles(session, m, [], {name: m.c[name] for name in MEASURED_COLUMNS}, sums=sums)[()]
    headline = {name: headline_row[name] for name in MEASURED_COLUMNS}
    targets = _targets_in_view(session, f)
    unit_sums = dict(sums) | _threshold_sums(m, targets)
    unit_stats = quantiles(session, m, [m.c.unit_id], {"tta": m.c.tta, "ths": m.c.ths, "ttr": m.c.ttr}, sums=unit_sums)

    # Stages by (stage, unit): the only section that reads stage runs again.
    judged, met, performed = stage_conditions(m)
    stage_rows = session.execute(
        select(
            StageRun.stage_key, m.c.unit_id, func.min(StageRun.position),
            _count_if(judged), _count_if(met), _count_if(and_(performed, not_(met))),
        )
        .join(m, m.c.id == StageRun.incident_id)
        .group_by(StageRun.stage_key, m.c.unit_id)
    ).all()
    titles = stage_titles(session, lang)
    per_stage: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    positions: dict[str, int] = {}
    for key, _unit_id, position, n_judged, n_met, n_breached in stage_rows:
        totals = per_stage[key]
        totals[0] += n_judged
        totals[1] += n_met
        totals[2] += n_breached
        positions[key] = min(positions.get(key, position), position)
    stage_order = sorted(per_stage, key=lambda k: (titles.get(k, (positions[k], k))[0], k))
    stages = [
        {"key": k, "title": titles.get(k, (0, k))[1], "judged": per_stage[k][0], "met": per_stage[k][1],
         "breached": per_stage[k][2], "not_met": per_stage[k][0] - per_stage[k][1],
         "share": Share(per_stage[k][0], per_stage[k][1]).share}
        for k in stage_order
    ]

    unit_ids = {key[0] for key in unit_stats} | {row[1] for row in stage_rows}
    units_by_id, rollup = _unit_rollup(session, f, unit_ids)
    heat: dict[int, dict[str, Share]] = defaultdict(lambda: defaultdict(lambda: Share(0, 0)))
    for key, unit_id, _position, n_judged, _n_met, n_breached in stage_rows:
        cell = heat[rollup[unit_id]][key]
        cell.judged += n_judged
        cell.hits += n_breached  # hits here are breaches: the heat map shows where they happen
    heatmap = {
        "stages": [{"key": k, "title": titles.get(k, (0, k))[1]} for k in stage_order],
        "rows": [
            {"unit": units_by_id[uid], "cells": [
                {"judged": heat[uid][k].judged, "breached": heat[uid][k].hits, "share": heat[uid][k].share}
                if k in heat[uid] and heat[uid][k].judged else None for k in stage_order]}
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
    escalated = session.scalar(select(func.count()).select_from(m).where(m.c.esc_sent > 0)) or 0
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
        lag=_lag(session, m, units_by_id),
        weekly=_weekly(session, f, m),
        per_unit=per_unit,
        kpis=_kpis(targets, unit_stats, units_by_id),
    )


def _lag(session: Session, m: Any, units_by_id: dict[int, Unit]) -> list[dict[str, Any]]:
    """Per involved unit: how long after approval it published shared key messages."""
    first = (
        select(
            Publication.unit_id.label("unit_id"),
            seconds_between(session, func.min(Publication.published_at), Statement.approved_at).label("lag"),
        )
        .join(Statement, Statement.id == Publication.statement_id)
        .join(m, m.c.id == Statement.incident_id)
        .where(Statement.kind == "key_messages", Statement.approved_at.is_not(None), Publication.unit_id != m.c.unit_id)
        .group_by(Publication.unit_id, Statement.id, Statement.approved_at)
        .subquery("first_publication")
    )
    stats = quantiles(session, first, [first.c.unit_id], {"lag": first.c.lag})
    shared = dict(
        session.execute(
            select(InvolvedUnit.unit_id, func.count(func.distinct(Statement.id)))
            .join(Statement, Statement.incident_id == InvolvedUnit.incident_id)
            .join(m, m.c.id == Statement.incident_id)
            .where(Statement.kind == "key_messages", Statement.approved_at.is_not(None))
            .group_by(InvolvedUnit.unit_id)
        ).all()
    )
    rows = []
    for unit_id in sorted(set(shared) | {k[0] for k in stats}, key=lambda uid: _code(units_by_id, uid)):
        stat = stats.get((unit_id,), {}).get("lag") or Stat(0, None, None)
        rows.append({"unit": units_by_id.get(unit_id), "shared": max(shared.get(unit_id, 0), stat.n),
                     "published": stat.n, "p50": stat.p50, "p90": stat.p90})
    return rows


def _code(units_by_id: dict[int, Unit], unit_id: int) -> str:
    unit = units_by_id.get(unit_id)
    return unit.code if unit else str(unit_id)


def _weekly(session: Session, f: Filters, m: Any) -> list[dict[str, Any]]:
    stats = quantiles(session, m, [m.c.week], {"tta": m.c.tta, "ths": m.c.ths, "ttr": m.c.ttr},
                      sums={"st_judged": m.c.st_judged, "st_met": m.c.st_met})
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
          units_by_id: dict[int, Unit]) -> list[dict[str, Any]]:
    """Every KPI target of a unit in view, measured over that unit's subtree within the filters: the
    per-unit sums of the one grouped query, added up over the subtree."""
    if not targets:
        return []
    children: dict[int | None, list[int]] = defaultdict(list)
    for unit in units_by_id.values():
        children[unit.parent_id].append(unit.id)

    def subtree(root: int) -> list[int]:
        found, stack = [], [root]
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(children.get(node, []))
        return found

    rows = []
    for target in sorted(targets, key=lambda x: (_code(units_by_id, x.unit_id), x.measure)):
        stats = [unit_stats[(uid,)] for uid in subtree(target.unit_id) if (uid,) in unit_stats]
        if target.measure in SHARE_COLUMNS:
            judged_key, hits_key = SHARE_COLUMNS[target.measure]
        else:
            judged_key, hits_key = f"judged_{TIME_COLUMNS[target.measure]}", _threshold_key(target)
        share = Share(sum(s.get(judged_key, 0) for s in stats), sum(s.get(hits_key, 0) for s in stats))
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
