"""Handing work to the task queue: core, so any layer's sweep can enqueue without importing the
Celery wiring (crisis.celery) that binds the queue to the app."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import current_app, has_app_context


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
