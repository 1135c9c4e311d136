"""Celery tasks. Each takes ids, reloads its rows, commits its own work, and is short."""

from __future__ import annotations

import socket

from celery import shared_task

from crisis import clock
from crisis.extensions import db
from crisis.system.models import WorkerCheck


@shared_task(name="system.worker_check")
def worker_check(check_id: int) -> None:
    """Completes a round trip requested by `crisis workers check`."""
    check = db.session.get(WorkerCheck, check_id)
    if check is None or check.completed_at is not None:
        return
    check.completed_at = clock.now()
    check.worker = socket.gethostname()
    db.session.commit()
