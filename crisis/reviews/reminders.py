"""Reminders before a post-incident review or an action item falls due, delivered as notices: the
in-app inbox, and e-mail unless the person turned it off (crisis.notify.service.remind).

- An open review is reminded two days before it is due and on the due date (07:00 in the owning
  unit's zone, or the start of that day when it is due before 07:00): a draft to its writer, the
  incident's commander (or the unit's head when there is none); a submitted one to the heads of the
  owning unit, who approve it. When the deadline passes, the deadline engine's `review_due` timer
  tells the commander and the head (crisis.escalation.planning.plan_review).
- An open action item's owner is reminded a day before its due date ends and once it is overdue.

Each threshold is reminded once per item: the item remembers the latest one sent, and each notice's
idempotency key (item, threshold, person, channel) makes a second sweep at the same moment (another
scheduler) write nothing. A sweep that finds several thresholds passed (it did not run for a while)
sends only the latest. Plain functions; flush, never commit.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from crisis.escalation import recipients
from crisis.incidents.models import Incident
from crisis.notify import service as notify
from crisis.playbooks.spec import RoleSelector
from crisis.reviews.models import ActionItem, Review

REVIEW_SOON = timedelta(days=2)
REVIEW_DAY_HOUR = 7  # the due-date reminder, local time
REVIEW_THRESHOLDS = ("two_days", "due_day")  # in the order they come
ITEM_SOON = timedelta(days=1)


def review_thresholds(review: Review, zone: str) -> list[tuple[str, datetime]]:
    """The moments an open review is reminded at, in order: two days before it is due, and on the due
    date (07:00 local, or the start of that day when it is due earlier)."""
    due = review.due_at
    day = due.astimezone(ZoneInfo(zone)).date()
    morning = datetime.combine(day, time(REVIEW_DAY_HOUR), tzinfo=ZoneInfo(zone))
    return [("two_days", due - REVIEW_SOON), ("due_day", morning if morning < due else morning.replace(hour=0))]


def _payload(kind: str, incident: Incident, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "severity": incident.severity,
        "incident_ref": incident.reference,
        "incident_title": incident.title,
        "owner_unit": incident.unit.code,
        **extra,
    }


def remind_reviews(*, session: Session, now: datetime) -> int:
    """Remind the owners of open reviews due within two days. Returns how many notices were written."""
    reviews = session.scalars(
        select(Review)
        .where(Review.state.in_(("draft", "submitted")), Review.due_at > now, Review.due_at <= now + REVIEW_SOON)
        .options(joinedload(Review.incident).joinedload(Incident.unit))
        .order_by(Review.due_at, Review.id)
    )
    written = 0
    for review in reviews:
        incident = review.incident
        passed = [name for name, moment in review_thresholds(review, incident.unit.timezone) if moment <= now]
        if not passed or REVIEW_THRESHOLDS.index(passed[-1]) <= _rank(review.reminded):
            continue
        threshold = passed[-1]
        selector = RoleSelector("commander", "own") if review.state == "draft" else RoleSelector("head", "own")
        people, _fallback = recipients.resolve_selector(session=session, incident=incident, selector=selector, at=now)
        payload = _payload(
            "review_due_soon",
            incident,
            review_id=review.id,
            threshold=threshold,
            due_at=review.due_at.isoformat(),
            review_state=review.state,
        )
        for person in people:
            written += len(
                notify.remind(
                    session=session,
                    user=person.user,
                    incident_id=incident.id,
                    key=f"reminder:review:{review.id}:{threshold}",
                    payload=payload,
                    due_at=review.due_at,
                    now=now,
                )
            )
        # Bookkeeping, not an edit: no new version (a head saving the review meanwhile gets no conflict).
        session.execute(
            update(Review)
            .where(Review.id == review.id)
            .values(reminded=threshold)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return written


def _rank(threshold: str) -> int:
    return REVIEW_THRESHOLDS.index(threshold) if threshold in REVIEW_THRESHOLDS else -1


def remind_action_items(*, session: Session, now: datetime) -> int:
    """Remind the owners of open action items due within a day, or overdue (once each). Returns how
    many notices were written."""
    items = session.scalars(
        select(ActionItem)
        .where(
            ActionItem.status == "open",
            ActionItem.due_at <= now + ITEM_SOON,
            or_(ActionItem.reminded_soon_at.is_(None), ActionItem.reminded_overdue_at.is_(None)),
        )
        .options(joinedload(ActionItem.owner), joinedload(ActionItem.review).joinedload(Review.incident))
        .order_by(ActionItem.due_at, ActionItem.id)
        .limit(500)
    )
    written = 0
    for item in items:
        overdue = item.due_at <= now
        if (overdue and item.reminded_overdue_at is not None) or (not overdue and item.reminded_soon_at is not None):
            continue
        incident = item.review.incident
        threshold = "overdue" if overdue else "due_soon"
        payload = _payload(
            f"action_item_{threshold}",
            incident,
            review_id=item.review_id,
            action_item_id=item.id,
            title=item.title,
            due_on=item.due_on.isoformat(),
            due_at=item.due_at.isoformat(),
        )
        if item.owner.active:
            written += len(
                notify.remind(
                    session=session,
                    user=item.owner,
                    incident_id=incident.id,
                    key=f"reminder:action_item:{item.id}:{threshold}",
                    payload=payload,
                    due_at=item.due_at,
                    now=now,
                )
            )
        if overdue:
            item.reminded_overdue_at = now
            item.reminded_soon_at = item.reminded_soon_at or now  # "due soon" would come too late now
        else:
            item.reminded_soon_at = now
    session.flush()
    return written
