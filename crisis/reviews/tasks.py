"""Scheduled and queued work of reviews and evaluation.

- `monthly_sweep(session, now)`: the scheduler's minute job. Creates last month's report row of
  every unit where it is past 08:00 on the 1st in the unit's zone (UNIQUE (unit_id, month): two
  schedulers create it once), commits, and enqueues `reports.build_monthly` for new reports and
  for reports whose build or e-mail was lost (after a lease).
- `reports.build_monthly(report_id)`: builds the PDF (commit), then e-mails it to the unit's
  heads (commit). A duplicate message finds the row locked or done and does nothing.
- `reminder_sweep(session, now)`: the reminders of crisis.reviews.reminders (reviews due soon,
  action items due soon or overdue) as notices in the inbox and by e-mail, each once; commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from celery import shared_task
from sqlalchemy.orm import Session

from crisis import clock
from crisis.celery import enqueue
from crisis.extensions import db
from crisis.reports import service as reports
from crisis.reviews import reminders

log = logging.getLogger(__name__)


@shared_task(name="reports.build_monthly")
def build_monthly(report_id: int) -> str | None:
    """Build one monthly report and e-mail it; safe to run twice."""
    status = reports.build_monthly(session=db.session, report_id=report_id)
    db.session.commit()
    if status == "built":
        status = reports.send_monthly(session=db.session, report_id=report_id)
        db.session.commit()
    return status


def enqueue_builds(report_ids: Iterable[int]) -> int:
    """Hand report ids to the queue (in-process in the embedded mode), after their commit. A broker
    that is down is logged; the sweep hands the report out again after its lease."""
    return enqueue(build_monthly, report_ids)


def monthly_sweep(session: Session, now: datetime | None = None) -> list[int]:
    """Idempotent: create due monthly reports, commit, enqueue their builds. Returns the ids handed out."""
    ids = reports.monthly_sweep(session=session, now=now or clock.now())
    session.commit()
    enqueue_builds(ids)
    return ids


def reminder_sweep(session: Session, now: datetime | None = None) -> int:
    """The scheduler's minute job: write the reminders that are due, commit. Idempotent (two
    schedulers write each reminder once); e-mail notices leave through the engine's notice sweep.
    Returns how many notices were written."""
    now = now or clock.now()
    written = reminders.remind_reviews(session=session, now=now)
    written += reminders.remind_action_items(session=session, now=now)
    session.commit()
    return written
