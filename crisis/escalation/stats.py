"""Watching the watcher: backlog, the age of the oldest overdue work and lateness, for /metrics and /readyz."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.escalation.models import Timer
from crisis.escalation.timing import due_cutoff, injected_clock, is_postgres
from crisis.notify.models import Notice

LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def _seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    if is_postgres(session):
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _age(session: Session, column: Any, now: datetime | None) -> Any:
    if now is None and is_postgres(session) and not injected_clock():
        return func.extract("epoch", func.clock_timestamp() - column)
    moment = now or clock.now()
    if is_postgres(session):
        return func.extract("epoch", literal(moment, UTCDateTime()) - column)
    return (func.julianday(moment.replace(tzinfo=None).isoformat(sep=" ")) - func.julianday(column)) * 86400.0


def engine_stats(*, session: Session, now: datetime | None = None) -> dict[str, Any]:
    """What /metrics and /readyz report: backlog, the age of the oldest overdue work, lateness."""
    cutoff = due_cutoff(session, now)
    pending = dict(
        session.execute(select(Timer.kind, func.count()).where(Timer.state == "pending").group_by(Timer.kind)).all()
    )
    claimed = session.scalar(select(func.count()).where(Timer.state == "claimed")) or 0
    oldest_timer = session.scalar(
        select(func.max(_age(session, Timer.fire_at, now))).where(Timer.state == "pending", Timer.fire_at <= cutoff)
    )
    oldest_queued = session.scalar(
        select(func.max(_age(session, Notice.queued_at, now))).where(Notice.status == "queued")
    )
    oldest_overdue_notice = session.scalar(
        select(func.max(_age(session, Notice.next_attempt_at, now))).where(
            Notice.status == "queued", Notice.next_attempt_at <= cutoff
        )
    )
    by_channel = [
        (channel, status, count)
        for channel, status, count in session.execute(
            select(Notice.channel, Notice.status, func.count()).group_by(Notice.channel, Notice.status)
        )
    ]
    return {
        "timers_pending": pending,
        "timers_claimed": claimed,
        "oldest_overdue_timer_seconds": float(oldest_timer or 0.0),
        "oldest_queued_notice_seconds": float(oldest_queued or 0.0),
        "oldest_overdue_notice_seconds": float(oldest_overdue_notice or 0.0),
        "notices": by_channel,
        "notice_lateness": _histogram(session, Notice.sent_at, Notice.due_at, Notice.status == "sent"),
        "timer_lateness": _histogram(session, Timer.fired_at, Timer.fire_at, Timer.state == "fired"),
    }


def _histogram(session: Session, later: Any, earlier: Any, where: Any) -> dict[str, Any]:
    lateness = cast(_seconds_between(session, later, earlier), Float)
    columns = [func.sum(case((lateness <= bound, 1), else_=0)) for bound in LATENESS_BUCKETS]
    row = session.execute(select(func.count(), func.coalesce(func.sum(lateness), 0.0), *columns).where(where)).one()
    count, total, *cumulative = row
    return {
        "count": int(count or 0),
        "sum": float(total or 0.0),
        "buckets": [(bound, int(value or 0)) for bound, value in zip(LATENESS_BUCKETS, cumulative, strict=True)],
    }


def readiness(*, session: Session, late_seconds: float, now: datetime | None = None) -> dict[str, Any]:
    """The engine check of /readyz: fails when a due timer or a due delivery waited too long."""
    stats = engine_stats(session=session, now=now)
    worst = max(stats["oldest_overdue_timer_seconds"], stats["oldest_overdue_notice_seconds"])
    return {
        "ok": worst <= late_seconds,
        "oldest_overdue_timer_seconds": round(stats["oldest_overdue_timer_seconds"], 3),
        "oldest_overdue_notice_seconds": round(stats["oldest_overdue_notice_seconds"], 3),
        "timers_pending": sum(stats["timers_pending"].values()),
    }
