"""Scheduled and queued work of reviews and evaluation.

- `monthly_sweep(session, now)`: the scheduler's minute job. Creates last month's report row of
  every unit where it is past 08:00 on the 1st in the unit's zone (UNIQUE (unit_id, month): two
  schedulers create it once), commits, and enqueues `reports.build_monthly` for new reports and
  for reports whose build or e-mail was lost (after a lease).
- `reports.build_monthly(report_id)`: builds the PDF (commit), then e-mails it to the unit's
  heads (commit). A duplicate message finds the row locked or done and does nothing.
- `reminder_sweep(session, now)`: e-mails the owners of open action items a day before their
  due date and once when overdue; each reminder is sent once (stamped on the item).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery import shared_task
from flask_babel import force_locale
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crisis import clock
from crisis.extensions import db
from crisis.i18n import _
from crisis.reports import service as reports
from crisis.reviews.models import ActionItem

log = logging.getLogger(__name__)

REMIND_BEFORE = timedelta(days=1)


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
    sent = 0
    for report_id in report_ids:
        try:
            build_monthly.apply_async(args=[report_id])
            sent += 1
        except Exception:
            log.exception("could not enqueue reports.build_monthly(%s); the monthly sweep retries", report_id)
            break
    return sent


def monthly_sweep(session: Session, now: datetime | None = None) -> list[int]:
    """Idempotent: create due monthly reports, commit, enqueue their builds. Returns the ids handed out."""
    ids = reports.monthly_sweep(session=session, now=now or clock.now())
    session.commit()
    enqueue_builds(ids)
    return ids


def _remind(item: ActionItem, overdue: bool) -> None:
    owner = item.owner
    incident = item.review.incident
    with force_locale(owner.language):
        if overdue:
            subject = _("Action item overdue: %(title)s", title=item.title)
        else:
            subject = _("Action item due tomorrow: %(title)s", title=item.title)
        text = _(
            "%(title)s\nIncident: %(reference)s · %(incident)s\nDue: %(due)s\n\n"
            "Mark it done or dropped on the review page.",
            title=item.title, reference=incident.reference, incident=incident.title, due=item.due_on.isoformat(),
        )
    reports.send_mail(to=[owner.email], subject=subject, text=text)


def reminder_sweep(session: Session, now: datetime | None = None) -> int:
    """E-mail owners of open action items: once a day before the due date, once when overdue.
    Each item is locked while reminded (SKIP LOCKED: two schedulers share the work) and stamped in
    the same transaction; a failed send leaves it for the next sweep. Commits per item."""
    now = now or clock.now()
    candidates = list(
        session.scalars(
            select(ActionItem.id).where(
                ActionItem.status == "open",
                ActionItem.due_at <= now + REMIND_BEFORE,
                or_(ActionItem.reminded_soon_at.is_(None), ActionItem.reminded_overdue_at.is_(None)),
            ).order_by(ActionItem.due_at).limit(500)
        )
    )
    sent = 0
    for item_id in candidates:
        item = session.scalar(
            select(ActionItem).where(ActionItem.id == item_id).with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if item is None or item.status != "open":
            session.rollback()
            continue
        overdue = item.due_at <= now
        if (overdue and item.reminded_overdue_at is not None) or (not overdue and item.reminded_soon_at is not None):
            session.rollback()
            continue
        try:
            _remind(item, overdue)
        except (OSError, smtplib.SMTPException):
            log.exception("could not remind the owner of action item %s; the next sweep retries", item_id)
            session.rollback()
            continue
        if overdue:
            item.reminded_overdue_at = now
            item.reminded_soon_at = item.reminded_soon_at or now
        else:
            item.reminded_soon_at = now
        session.commit()
        sent += 1
    return sent
