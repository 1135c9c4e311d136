"""Prometheus /metrics: a custom collector that reads the engine's state from the database at
scrape time, so every web process reports the same numbers and nothing is kept in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.orm import Session

from crisis.escalation import stats as watch


class EngineCollector:
    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[Metric]:
        stats = watch.engine_stats(session=self.session)
        pending = GaugeMetricFamily("crisis_timers_pending", "Timers waiting for their deadline.", labels=["kind"])
        for kind, count in sorted(stats["timers_pending"].items()):
            pending.add_metric([kind], count)
        yield pending
        yield GaugeMetricFamily(
            "crisis_timers_claimed", "Timers claimed and not yet fired.", value=stats["timers_claimed"]
        )
        yield GaugeMetricFamily(
            "crisis_timer_oldest_overdue_seconds",
            "Age of the oldest pending timer whose deadline passed.",
            value=stats["oldest_overdue_timer_seconds"],
        )
        yield GaugeMetricFamily(
            "crisis_notice_oldest_queued_seconds",
            "Age of the oldest notice still queued.",
            value=stats["oldest_queued_notice_seconds"],
        )
        yield GaugeMetricFamily(
            "crisis_notice_oldest_overdue_seconds",
            "How long the most overdue queued notice waited past its attempt.",
            value=stats["oldest_overdue_notice_seconds"],
        )
        notices = GaugeMetricFamily("crisis_notices", "Notices by channel and status.", labels=["channel", "status"])
        for channel, status, count in sorted(stats["notices"]):
            notices.add_metric([channel, status], count)
        yield notices
        yield _histogram(
            "crisis_notice_lateness_seconds", "Delivered at minus due at, per sent notice.", stats["notice_lateness"]
        )
        yield _histogram(
            "crisis_timer_lateness_seconds", "Fired at minus fire at, per fired timer.", stats["timer_lateness"]
        )


def _histogram(name: str, documentation: str, data: dict[str, Any]) -> HistogramMetricFamily:
    buckets = [(repr(bound), count) for bound, count in data["buckets"]] + [("+Inf", data["count"])]
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=data["sum"])


def render_metrics(session: Session) -> tuple[bytes | None, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(session))  # type: ignore[arg-type]
    try:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    except Exception:  # noqa: BLE001  the database is down: 503, not a half-written page
        session.rollback()
        return None, CONTENT_TYPE_LATEST
