"""The measures the evaluation reports on and heads set KPI targets for, with their names.

The definitions are those of crisis.reviews.measures (one incident); the dashboard computes the
same ones over many incidents in SQL.
"""

from __future__ import annotations

from crisis.i18n import lazy_gettext

# Time measures: a target says "share of incidents with value <= threshold" (or >=).
TIME_MEASURES = {
    "time_to_acknowledge": lazy_gettext("Time to acknowledge"),
    "time_to_holding_statement": lazy_gettext("Time to holding statement"),
    "time_to_first_statement": lazy_gettext("Time to first statement"),
    "time_to_resolve": lazy_gettext("Time to resolve"),
}
# Share measures: a target says "this share or more".
SHARE_MEASURES = {
    "stage_sla": lazy_gettext("Stages completed on time"),
    "review_on_time": lazy_gettext("Reviews approved on time"),
    "action_items_on_time": lazy_gettext("Action items closed on time"),
    "escalations_acknowledged": lazy_gettext("Escalations acknowledged"),
}
MEASURE_LABELS = {**TIME_MEASURES, **SHARE_MEASURES}
# Column of the per-incident measures (crisis.reports.dashboard) behind each time measure.
TIME_COLUMNS = {
    "time_to_acknowledge": "tta",
    "time_to_holding_statement": "ths",
    "time_to_first_statement": "tfs",
    "time_to_resolve": "ttr",
}


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
