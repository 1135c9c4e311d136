"""Celery tasks. Each takes ids, reloads its rows, commits its own work, and is short.

Deadlines never ride on Celery's eta/countdown: the scheduler claims due timers from the database
and enqueues `escalation.fire_timer` at once; a lost message is found again by the tick when the
claim's lease runs out. A delivery that fails waits in the database for its backoff; the tick
hands it to the queue again when it is due.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import OperationalError

from crisis import clock
from crisis.escalation import service as escalation
from crisis.extensions import db
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


def enqueue(task: object, ids: Iterable[int]) -> int:
    """Hand ids to the queue after the commit that made their rows. A broker that is down is logged
    and left to the leases: the tick hands the same work over again later."""
    sent = 0
    for item in ids:
        try:
            task.apply_async(args=[item])  # type: ignore[attr-defined]
            sent += 1
        except Exception:
            log.exception("could not enqueue %s(%s); the scheduler's lease sweep retries", task, item)
            break
    return sent


@shared_task(bind=True, name="escalation.fire_timer")
def fire_timer(self: object, timer_id: int) -> int:
    """Fire one claimed timer; a duplicate or a cancelled timer does nothing."""
    try:
        notice_ids = escalation.fire_timer(session=db.session, timer_id=timer_id)
        db.session.commit()
    except OperationalError as error:
        db.session.rollback()
        if self.request.is_eager or self.request.retries >= DB_RETRIES:  # type: ignore[attr-defined]
            raise
        raise self.retry(exc=error, countdown=min(4, 2**self.request.retries))  # type: ignore[attr-defined]  # noqa: B904
    inline = int(current_app.config.get("ENGINE_INLINE_DELIVERIES", 0))
    if 0 < len(notice_ids) <= inline and not self.request.is_eager:  # type: ignore[attr-defined]
        # Few notices: send them from here, each in its own short transaction with its row lock, as
        # deliver_notice would. Killed half-way, the rest are handed over again when their lease ends.
        for notice_id in notice_ids:
            try:
                escalation.deliver(session=db.session, notice_id=notice_id)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("inline delivery of notice %s failed; the lease sweep retries", notice_id)
        return len(notice_ids)
    enqueue(deliver_notice, notice_ids)
    return len(notice_ids)


@shared_task(bind=True, name="escalation.deliver_notice")
def deliver_notice(self: object, notice_id: int) -> str | None:
    """Send one queued notice; failures are recorded with their backoff (the tick retries)."""
    try:
        status = escalation.deliver(session=db.session, notice_id=notice_id)
        db.session.commit()
    except OperationalError as error:
        db.session.rollback()
        if self.request.is_eager or self.request.retries >= DB_RETRIES:  # type: ignore[attr-defined]
            raise
        raise self.retry(exc=error, countdown=min(4, 2**self.request.retries))  # type: ignore[attr-defined]  # noqa: B904
    return status
