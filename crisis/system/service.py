from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from crisis import clock
from crisis.escalation import stats as watch
from crisis.system.models import SchedulerHeartbeat


def scheduler_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_tick(*, session: Session, name: str, now: datetime | None = None) -> None:
    moment = now or clock.now()
    beat = session.get(SchedulerHeartbeat, name)
    if beat is None:
        session.add(SchedulerHeartbeat(name=name, last_tick_at=moment, ticks=1))
    else:
        beat.last_tick_at = moment
        beat.ticks += 1


def last_tick(*, session: Session) -> datetime | None:
    return session.scalar(select(func.max(SchedulerHeartbeat.last_tick_at)))


def readiness(
    *, session: Session, broker_url: str | None, stale_seconds: int, now: datetime | None = None
) -> dict[str, Any]:
    """Checks for /readyz: the database answers, the broker answers, the scheduler ticks."""
    checks: dict[str, Any] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as error:  # noqa: BLE001  any failure means not ready
        session.rollback()
        checks["database"] = {"ok": False, "error": type(error).__name__}
    if broker_url:
        try:
            import redis

            redis.Redis.from_url(broker_url, socket_timeout=1, socket_connect_timeout=1).ping()
            checks["broker"] = {"ok": True}
        except Exception as error:  # noqa: BLE001
            checks["broker"] = {"ok": False, "error": type(error).__name__}
    if checks["database"]["ok"]:
        tick = last_tick(session=session)
        age = None if tick is None else ((now or clock.now()) - tick).total_seconds()
        checks["scheduler"] = {
            "ok": age is not None and age <= stale_seconds,
            "last_tick_age_seconds": None if age is None else round(age, 3),
        }
        checks["engine"] = _engine_check(session=session, now=now)
    checks["ok"] = all(check["ok"] for check in checks.values() if isinstance(check, dict))
    return checks


def _engine_check(*, session: Session, now: datetime | None) -> dict[str, Any]:
    """The deadline engine is late when a due timer or a due delivery waited beyond the bound."""
    from flask import current_app, has_app_context

    late_seconds = current_app.config.get("ENGINE_LATE_SECONDS", 60) if has_app_context() else 60
    try:
        return watch.readiness(session=session, late_seconds=float(late_seconds), now=now)
    except Exception as error:  # noqa: BLE001  any failure means not ready
        session.rollback()
        return {"ok": False, "error": type(error).__name__}
