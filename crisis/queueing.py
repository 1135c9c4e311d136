"""Handing work to the task queue: core, so any layer's sweep can enqueue without importing the
Celery wiring (crisis.celery) that binds the queue to the app.

Two queues: deadline firing and notice delivery on TASK_QUEUE, and bulk work (monthly report
builds, exports, imports) on BULK_QUEUE, each served by worker processes of its own in production,
so that a deadline never waits behind a PDF. A task is bulk work when it is marked with `bulk`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import current_app, has_app_context

BULK_TASKS: set[str] = set()


def bulk(task: Any) -> Any:
    """Mark a Celery task as bulk work: it is routed to BULK_QUEUE."""
    BULK_TASKS.add(task.name)
    return task


def enqueue(task: Any, items: Iterable[Any]) -> int:
    """Hand each item to `task`'s queue after the commit that made its rows; how many were handed.
    Sent through the Celery app of the Flask app in context (a shared task would use whichever app
    was made last). A broker that is down is logged and left to the leases: the sweep that owns the
    rows hands them over again later."""
    celery_app = current_app.extensions["celery"] if has_app_context() else None
    bound = celery_app.tasks[task.name] if celery_app is not None else task
    sent = 0
    for item in items:
        try:
            bound.apply_async(args=[item])
            sent += 1
        except Exception:
            logging.getLogger(__name__).exception(
                "could not enqueue %s(%s); its sweep hands it over again", task.name, item
            )
            break
    return sent
