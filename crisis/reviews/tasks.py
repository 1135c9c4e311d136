"""Scheduled work of reviews.

- `reminder_sweep(session, now)`: the reminders of crisis.reviews.reminders (reviews due soon,
  action items due soon or overdue) as notices in the inbox and by e-mail, each once; commits.

(The monthly evaluation reports are the evaluation's work: crisis.reports.tasks.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crisis import clock
from crisis.reviews import reminders


def reminder_sweep(session: Session, now: datetime | None = None) -> int:
    """The scheduler's minute job: write the reminders that are due, commit. Idempotent (two
    schedulers write each reminder once); e-mail notices leave through the engine's notice sweep.
    Returns how many notices were written."""
    now = now or clock.now()
    written = reminders.remind_reviews(session=session, now=now)
    written += reminders.remind_action_items(session=session, now=now)
    session.commit()
    return written
