"""KPI targets against what happened: which targets a view shows, the per-incident sums each time
target is judged on (added to the dashboard's one grouped query per unit), and every target's
share over its unit's subtree."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session

from crisis.reports.measures import FINISHED, JUDGED_WITH_VALUE_ONLY, SHARE_COLUMNS, TIME_COLUMNS, TIME_MEASURES
from crisis.reports.models import KpiTarget
from crisis.reports.quantiles import Share
from crisis.reports.scope import Filters, unit_code


def targets_in_view(session: Session, f: Filters) -> list[KpiTarget]:
    query = select(KpiTarget).order_by(KpiTarget.id)
    if f.unit_ids is not None:
        query = query.where(KpiTarget.unit_id.in_(sorted(f.unit_ids)))
    return list(session.scalars(query))


def _threshold_key(target: KpiTarget) -> str:
    direction = "le" if target.comparison == "<=" else "ge"
    return f"kpi_{TIME_COLUMNS[target.measure]}_{direction}_{target.threshold_seconds}"


def threshold_sums(m: Any, targets: list[KpiTarget]) -> dict[str, Any]:
    """Per distinct time target: 1 per incident within it, and 1 per incident it is judged on (a value,
    or finished without one: a miss). Summed per unit in the same grouped query as everything else."""
    sums: dict[str, Any] = {}
    finished = m.c.state.in_(FINISHED)
    for target in targets:
        if target.measure not in TIME_MEASURES or target.threshold_seconds is None:
            continue
        column = m.c[TIME_COLUMNS[target.measure]]
        within = (
            column <= target.threshold_seconds if target.comparison == "<=" else (column >= target.threshold_seconds)
        )
        key = _threshold_key(target)
        if key in sums:  # many units share a target: one sum each
            continue
        sums[key] = case((and_(column.is_not(None), within), 1), else_=0)
        judged = column.is_not(None) if target.measure in JUDGED_WITH_VALUE_ONLY else or_(column.is_not(None), finished)
        sums[f"judged_{TIME_COLUMNS[target.measure]}"] = case((judged, 1), else_=0)
    return sums


def kpi_rows(
    targets: list[KpiTarget], unit_stats: dict[tuple[Any, ...], dict[str, Any]], units_by_id: dict[int, Any]
) -> list[dict[str, Any]]:
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
    for target in sorted(targets, key=lambda x: (unit_code(units_by_id, x.unit_id), x.measure)):
        totals = subtree.get(target.unit_id, {})
        judged_key, hits_key = sum_keys(target)
        share = Share(totals.get(judged_key, 0), totals.get(hits_key, 0))
        rows.append(
            {
                "target": target,
                "unit": units_by_id.get(target.unit_id),
                "judged": share.judged,
                "hits": share.hits,
                "share": share.share,
                "met": None if share.share is None else share.share >= target.target_share - 1e-9,
            }
        )
    return rows
