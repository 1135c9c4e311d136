"""Medians, 90th percentiles and totals per group, in one query: PostgreSQL's percentile_cont, or on
SQLite (the embedded mode) the same rows with crisis.reports.measures.percentile_cont in Python."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from crisis.reports.measures import is_postgresql, percentile_cont


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


def quantiles(
    session: Session,
    source: Any,
    keys: list[Any],
    values: dict[str, Any],
    where: list[Any] | None = None,
    sums: dict[str, Any] | None = None,
    *,
    medians_only: bool = False,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{group key: {"n": rows, name: Stat, sum name: total}} with medians and 90th percentiles of
    each value and totals of each sum. `medians_only` (PostgreSQL): no 90th percentiles (None)."""
    where = where or []
    sums = sums or {}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    if is_postgresql(session):
        columns: list[Any] = [*keys, func.count().label("n")]
        columns += [func.coalesce(func.sum(column), 0).label(f"sum_{name}") for name, column in sums.items()]
        for name, column in values.items():
            columns += [func.count(column).label(f"{name}_n"), percentiles(column, medians_only).label(f"{name}_pct")]
        query = select(*columns).select_from(source).where(*where)
        if keys:
            query = query.group_by(*keys)
        for row in session.execute(query).mappings():
            key = tuple(row[k.key] for k in keys)
            stats: dict[str, Any] = {"n": row["n"]}
            for name in sums:
                stats[name] = int(row[f"sum_{name}"])
            for name in values:
                pct = row[f"{name}_pct"]
                stats[name] = (
                    Stat(row[f"{name}_n"], _float(pct), None) if medians_only else Stat(row[f"{name}_n"], *pair(pct))
                )
            groups[key] = stats
        if not keys and not groups:
            groups[()] = {"n": 0} | {name: 0 for name in sums} | {name: Stat(0, None, None) for name in values}
        return groups
    collected: dict[tuple[Any, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    totals: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    query = (
        select(
            *keys,
            *(column.label(name) for name, column in values.items()),
            *(column.label(f"sum_{name}") for name, column in sums.items()),
        )
        .select_from(source)
        .where(*where)
    )
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
        groups[key] = (
            {"n": n}
            | {name: totals[key][name] for name in sums}
            | {
                name: Stat(
                    len(collected[key][name]),
                    percentile_cont(collected[key][name], 0.5),
                    percentile_cont(collected[key][name], 0.9),
                )
                for name in values
            }
        )
    return groups


def percentiles(column: Any, medians_only: bool = False) -> Any:
    """percentile_cont of the median and the 90th percentile at once: one sort of the column per
    group, not two. `medians_only`: the median alone, a number (the same interpolation as the
    array form's first element)."""
    if medians_only:
        return func.percentile_cont(literal_column("0.5")).within_group(column)
    return func.percentile_cont(literal_column("ARRAY[0.5, 0.9]")).within_group(column)


def pair(values: list[float | None] | None) -> tuple[float | None, float | None]:
    """The (median, 90th percentile) of a `percentiles` array."""
    if not values:
        return None, None
    return _float(values[0]), _float(values[1]) if len(values) > 1 else None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
