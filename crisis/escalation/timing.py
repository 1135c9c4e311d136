"""The engine's one clock and its wake-ups.

On PostgreSQL due-ness is decided by the database's time, not by each host's; tests inject time
with `now=` arguments (or app.extensions["clock"]). Writers of timers due soon wake the schedulers:
NOTIFY at commit on PostgreSQL, an in-process event in the embedded mode."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import (
    Interval,
    event,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.escalation.models import Timer

NOTIFY_CHANNEL = "crisis_timers"
# Writers tell the scheduler about timers due sooner than this; later ones it finds on its own.
NOTIFY_HORIZON = timedelta(seconds=2)
OPEN_TIMER_STATES = ("pending", "claimed")

# The embedded mode: the writer wakes the in-process scheduler directly (set after commit).
WAKE = threading.Event()
WAKE_FLAG = "crisis.escalation.wake"


FIRED = "crisis.escalation.fired"  # notices written by fire_timers in the open transaction


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    session.info.pop(FIRED, None)
    if session.info.pop(WAKE_FLAG, False):
        WAKE.set()


@event.listens_for(Session, "after_rollback")
def _forget_wake(session: Session) -> None:
    session.info.pop(WAKE_FLAG, None)
    session.info.pop(FIRED, None)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def injected_clock() -> bool:
    return has_app_context() and current_app.extensions.get("clock") is not None


def db_now(session: Session) -> datetime:
    """The engine's clock: the database's on PostgreSQL, this host's on SQLite, or the test's."""
    if injected_clock() or not is_postgres(session):
        return clock.now()
    return session.scalar(select(func.clock_timestamp()))


def stamp(session: Session) -> Any:
    """`db_now` for a column value: the database's clock is read by the UPDATE itself (no round trip)."""
    if injected_clock() or not is_postgres(session):
        return clock.now()
    return func.clock_timestamp()


def setting(key: str, default: Any) -> Any:
    return current_app.config.get(key, default) if has_app_context() else default


def due_cutoff(session: Session, now: datetime | None) -> Any:
    """`now` for the engine's queries: the database's own clock on PostgreSQL unless injected."""
    if now is not None:
        return now
    if injected_clock() or not is_postgres(session):
        return clock.now()
    return func.statement_timestamp(type_=UTCDateTime())


def minus_lease(cutoff: Any, seconds: float) -> Any:
    """`cutoff` minus a lease, whether it is a datetime or the database's clock."""
    if isinstance(cutoff, datetime):
        return cutoff - timedelta(seconds=seconds)
    return func.statement_timestamp() - literal(timedelta(seconds=seconds), Interval())


def announce(session: Session, timers: list[Timer], now: datetime) -> None:
    """Wake the schedulers for timers due soon: NOTIFY (delivered at commit) and the in-process event."""
    if not timers:
        return
    session.flush()
    soonest = min(timer.fire_at for timer in timers)
    session.info[WAKE_FLAG] = True
    if soonest - now <= NOTIFY_HORIZON and is_postgres(session):
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, soonest.isoformat())))
