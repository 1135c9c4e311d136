"""Acknowledging a notice: by its signed link (always in its recipient's name) or by a signed-in
person; it stops the step's repeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from crisis import clock
from crisis.auth.models import User
from crisis.errors import Conflict, NotFound, NotPermitted
from crisis.escalation.models import Timer
from crisis.escalation.planning import cancel_timers
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import service as incidents
from crisis.notify.models import Notice
from crisis.playbooks.snapshot import stage_spec
from crisis.timeline import service as timeline
from crisis.units.service import acting_scope


def acknowledge(
    *, session: Session, notice_id: int, actor: User | None, now: datetime | None = None, via: str = "signed_in"
) -> Notice:
    """Someone acknowledged a notice: `actor`, or its recipient when None (the signed link). For a
    step that repeats `until: acknowledged`, its repeats stop: open ones are cancelled, and a repeat
    being fired right now sees the acknowledgement."""
    notice = session.scalar(select(Notice).where(Notice.id == notice_id).with_for_update(of=Notice))
    if notice is None:
        raise NotFound(_l("Notice not found."))
    if notice.acknowledged_at is not None:
        return notice
    moment = now or clock.now()
    notice.acknowledged_at = moment
    notice.acknowledged_by_id = actor.id if actor is not None else notice.recipient_user_id
    timer = notice.timer
    stopped = 0
    if timer is not None:
        if timer.acknowledged_at is None:
            timer.acknowledged_at = moment
        if timer.kind == "escalation_step" and timer.stage_run_id is not None:
            session.flush()
            step = stage_spec(timer.stage_run.incident, timer.stage_run.position).escalation[timer.step_index or 0]
            if step.until == "acknowledged":
                stopped = cancel_timers(
                    session,
                    Timer.stage_run_id == timer.stage_run_id,
                    Timer.kind == "escalation_step",
                    Timer.step_index == timer.step_index,
                    now=moment,
                    reason="acknowledged",
                )
    timeline.record(
        session=session,
        kind="escalation.acknowledged",
        subject_type="incident",
        subject_id=notice.incident_id,
        unit_id=notice.incident.unit_id,
        actor_id=notice.acknowledged_by_id,
        now=moment,
        data={
            "notice_id": notice.id,
            "timer_id": notice.timer_id,
            "channel": notice.channel,
            "recipient_user_id": notice.recipient_user_id,
            "webhook_id": notice.webhook_id,
            "via": via,
            "repeats_stopped": stopped,
        },
    )
    session.flush()
    return notice


def acknowledge_by_link(*, session: Session, notice: Notice, now: datetime | None = None) -> Notice:
    """A signed link followed: the link is its recipient's credential, so the acknowledgement is the
    recipient's, whoever is signed in in the browser that opened it."""
    return acknowledge(session=session, notice_id=notice.id, actor=None, now=now, via="link")


def link_recipient_name(notice: Notice) -> str:
    """Whom a link acknowledges for: the person it was sent to, or the webhook."""
    if notice.recipient is not None:
        return notice.recipient.name
    return notice.webhook.name if notice.webhook is not None else "—"


def link_shows_incident(*, session: Session, notice: Notice) -> bool:
    """Whether the page of a link may show the incident: the link gives whoever holds it what its
    recipient may see, no more. A webhook's link shows what was sent to the webhook."""
    if notice.recipient is None:
        return notice.webhook is not None
    return notice.recipient.active and _sees_incident(session, notice.recipient, notice.incident_id)


def acknowledge_as(*, session: Session, notice_id: int, actor: User, now: datetime | None = None) -> Notice:
    """Acknowledge as a signed-in person: the recipient, or someone acting in the incident's unit."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(_l("Notice not found."))
    if notice.recipient_user_id != actor.id and notice.incident.unit_id not in acting_scope(
        session=session, user=actor
    ):
        if not _sees_incident(session, actor, notice.incident_id):
            raise NotFound(_l("Notice not found."))
        raise NotPermitted(_l("Only the recipient or someone acting in the incident's unit can acknowledge."))
    if notice.kind != "deadline":
        raise Conflict(_l("This notice needs no acknowledgement."))
    return acknowledge(session=session, notice_id=notice_id, actor=actor, now=now)


def _sees_incident(session: Session, user: User, incident_id: int) -> bool:
    """Whether the incident (and so its notices) is in the user's sight: their units' subtree, or
    one of their units is involved in it, as everywhere incidents are shown."""
    try:
        incidents.get(session=session, user=user, incident_id=incident_id, reload_runs=False)
    except NotFound:
        return False
    return True
