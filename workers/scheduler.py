"""The metronome: APScheduler ticks every second; every job is an idempotent sweep."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from crisis.extensions import db
from crisis.system import service as system

log = logging.getLogger(__name__)


def tick(app: Flask, name: str) -> None:
    with app.app_context():
        try:
            system.record_tick(session=db.session, name=name)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("scheduler tick failed; the next tick retries")
        finally:
            db.session.remove()


def build_scheduler(app: Flask, *, background: bool) -> BaseScheduler:
    scheduler_cls = BackgroundScheduler if background else BlockingScheduler
    # Ticks may be skipped or coalesced: each one sweeps everything that is due.
    scheduler = scheduler_cls(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    name = system.scheduler_name()
    scheduler.add_job(tick, "interval", seconds=1, args=[app, name], id="tick", next_run_time=datetime.now(UTC))
    return scheduler
