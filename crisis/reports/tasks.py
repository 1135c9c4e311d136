"""Scheduled and queued work of the evaluation.

- `refresh_measures(session, now)`: the scheduler's minute job. Recomputes the precomputed
  measures (IncidentMeasure, KeyMessageLag) of incidents whose timeline moved or whose review or
  action items fell due since, and commits. Idempotent and safe with two schedulers; cheap when
  nothing changed. The dashboard also refreshes before it reads, so this only keeps that cheap.
- `monthly_sweep(session, now)`: the scheduler's minute job. Creates last month's report row of
  every unit where it is past 08:00 on the 1st in the unit's zone (UNIQUE (unit_id, month): two
  schedulers create it once), commits, and enqueues `monthly.build_monthly` for new reports and
  for reports whose build or e-mail was lost (after a lease).
- `monthly.build_monthly(report_id)`: builds the PDF (commit), then e-mails it to the unit's
  heads (commit). A duplicate message finds the row locked or done and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from celery import shared_task
from sqlalchemy.orm import Session

from crisis import clock
from crisis.extensions import db
from crisis.queueing import bulk, enqueue
from crisis.reports import monthly
from crisis.reports import service as reports


def refresh_measures(session: Session, now: datetime | None = None, limit: int | None = None) -> int:
    """Refresh the dirty incidents' measures and commit. Returns how many incidents were refreshed."""
    refreshed = reports.refresh_measures(session=session, now=now or clock.now(), limit=limit)
    session.commit()
    return refreshed


@bulk
@shared_task(name="monthly.build_monthly")
def build_monthly(report_id: int) -> str | None:
    """Build one monthly report and e-mail it; safe to run twice."""
    status = monthly.build_monthly(session=db.session, report_id=report_id)
    db.session.commit()
    if status == "built":
        status = monthly.send_monthly(session=db.session, report_id=report_id)
        db.session.commit()
    return status


def enqueue_builds(report_ids: Iterable[int]) -> int:
    """Hand report ids to the queue (in-process in the embedded mode), after their commit. A broker
    that is down is logged; the sweep hands the report out again after its lease."""
    return enqueue(build_monthly, report_ids)


def monthly_sweep(session: Session, now: datetime | None = None) -> list[int]:
    """Idempotent: create due monthly reports, commit, enqueue their builds. Returns the ids handed out."""
    ids = monthly.monthly_sweep(session=session, now=now or clock.now())
    session.commit()
    enqueue_builds(ids)
    return ids
