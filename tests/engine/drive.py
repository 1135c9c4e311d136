"""The engine driven by hand with an injected clock: what the scheduler and workers do, inline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crisis.escalation import delivery, firing


def tick(session: Session, now: datetime, *, lease: float = 30) -> list[int]:
    """One scheduler pass and the work it enqueues, run inline: claim, fire, deliver. Returns the
    ids of the notices delivered (or attempted) in this pass."""
    claimed = firing.claim_due(session=session, now=now, lease=lease)
    session.commit()
    notice_ids: list[int] = []
    for timer in claimed:
        notice_ids += firing.fire_timer(session=session, timer_id=timer.id, now=now)
        session.commit()
    notice_ids += firing.sweep_notices(session=session, now=now, lease=lease)
    session.commit()
    for notice_id in dict.fromkeys(notice_ids):
        delivery.deliver(session=session, notice_id=notice_id, now=now)
        session.commit()
    return notice_ids
