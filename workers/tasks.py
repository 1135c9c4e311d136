"""Celery tasks. Each takes ids, reloads its rows, commits its own work, and is short.

Deadlines never ride on Celery's eta/countdown: the scheduler claims due timers from the database
and enqueues `escalation.fire_timers` at once; a lost message is found again by the tick when the
claim's lease runs out. A delivery that fails waits in the database for its backoff; the tick
hands it to the queue again when it is due.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import OperationalError

from crisis import clock
from crisis.escalation import delivery, firing
from crisis.extensions import db
from crisis.queueing import enqueue
from crisis.system.models import WorkerCheck

log = logging.getLogger(__name__)

# Transient database trouble (a restart, a failover): retried a few times, seconds apart at most.
DB_RETRIES = 3


@shared_task(name="system.worker_check")
def worker_check(check_id: int) -> None:
    """Completes a round trip requested by `crisis workers check`."""
    check = db.session.get(WorkerCheck, check_id)
    if check is None or check.completed_at is not None:
        return
    check.completed_at = clock.now()
    check.worker = socket.gethostname()
    db.session.commit()


def chunks(ids: list[int], size: int) -> list[list[int]]:
    size = max(1, size)
    return [ids[offset : offset + size] for offset in range(0, len(ids), size)]


def _with_db_retry(task: Any, work: Callable[[], list[int]]) -> list[int]:
    """Run `work` and commit; transient database trouble is retried a few times, seconds apart."""
    try:
        result = work()
        db.session.commit()
        return result
    except OperationalError as error:
        db.session.rollback()
        if task.request.is_eager or task.request.retries >= DB_RETRIES:
            raise
        raise task.retry(exc=error, countdown=min(4, 2**task.request.retries)) from error


def _inline_limit(task: Any, timers: int) -> int:
    if task.request.is_eager:
        return 0  # embedded mode: deliver_notices runs in-process anyway
    return int(current_app.config.get("ENGINE_INLINE_DELIVERIES", 0)) * timers


def _fire(task: Any, timer_ids: list[int]) -> int:
    """Fire, and render the few notices this task sends itself before the commit (from the rows in
    hand); after the commit send each with one claiming UPDATE and a commit (`delivery.deliver_batch`).
    Killed half-way, the rest are handed over again when their lease ends. Many notices go back to
    the queue in chunks."""
    limit = _inline_limit(task, len(timer_ids))
    prepared: list[delivery.Prepared] = []

    def work() -> list[int]:
        prepared.clear()
        notice_ids = firing.fire_timers(session=db.session, timer_ids=timer_ids)
        if 0 < len(notice_ids) <= limit:
            prepared.extend(delivery.prepare_notices(session=db.session, notice_ids=notice_ids))
        return notice_ids

    notice_ids = _with_db_retry(task, work)
    if not notice_ids:
        return 0
    if 0 < len(notice_ids) <= limit:
        # A commit per notice (see `send_prepared`); the rest (not prepared, not claimed) go through `deliver`.
        ready = {item.notice_id for item in prepared}
        rest = [n for n in notice_ids if n not in ready]
        rest += delivery.send_prepared(session=db.session, prepared=prepared)
        _deliver_each(sorted(rest))
    else:
        enqueue(deliver_notices, chunks(notice_ids, int(current_app.config.get("ENGINE_DELIVERY_CHUNK", 10))))
    return len(notice_ids)


def _deliver_each(notice_ids: list[int]) -> None:
    for notice_id in notice_ids:
        for attempt in (1, 2):
            try:
                delivery.deliver(session=db.session, notice_id=notice_id)
                db.session.commit()
                break
            except OperationalError:
                # A pooled connection that died (workers do not ping at checkout): the pool was
                # discarded, so the second try runs on a fresh connection.
                db.session.rollback()
                if attempt == 2:
                    log.exception("delivery of notice %s failed; the lease sweep retries", notice_id)
            except Exception:
                db.session.rollback()
                log.exception("delivery of notice %s failed; the lease sweep retries", notice_id)
                break


@shared_task(bind=True, name="escalation.fire_timers")
def fire_timers(self: Any, timer_ids: list[int]) -> int:
    """Fire a batch of claimed timers in one transaction; duplicates and cancelled timers do nothing."""
    return _fire(self, timer_ids)


@shared_task(bind=True, name="escalation.deliver_notices")
def deliver_notices(self: Any, notice_ids: list[int]) -> int:
    """Send several queued notices, each in its own transaction; a failure is recorded on its notice with
    its backoff, and the tick hands it over again when the retry is due."""
    _deliver_each(notice_ids)
    return len(notice_ids)
