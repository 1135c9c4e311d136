"""A journalist's question past its answer target escalates like a stage (timer kind `media_query`).

The ladder is fixed, the way a press office works it (the SOP sets only the target, with
`settings.media_answer_within`):

1. at the target: the person it is assigned to (the commander when nobody is);
2. 30 minutes later: the commander and the owning unit's supervisor;
3. an hour after the target: the owning unit's head;
then the head, the commander and the assignee again every hour, at most six times, until the query
is answered or declined. Answering, declining or re-planning (a new assignee, a corrected time, a
severity change) cancels its open timers in the same transaction; the engine (crisis.escalation.
firing) also drops a timer whose query is no longer open."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.escalation.models import Timer
from crisis.escalation.planning import add_timer, cancel_timers
from crisis.escalation.recipients import Recipient
from crisis.escalation.timing import announce
from crisis.incidents import media as media_desk
from crisis.incidents.models import Incident, MediaQuery
from crisis.playbooks.spec import RoleSelector, parse_selector

KIND = "media_query"
ASSIGNEE = "assignee"  # the selector a notice to the query's assignee carries
# (wait after the target, who): "assignee" is the query's assignee, the rest are role selectors.
LADDER: tuple[tuple[timedelta, tuple[str, ...]], ...] = (
    (timedelta(0), (ASSIGNEE,)),
    (timedelta(minutes=30), ("commander", "supervisor@own")),
    (timedelta(hours=1), ("head@own",)),
)
REPEAT_EVERY = timedelta(hours=1)
REPEAT_MAX = 6
REPEAT_TO = ("head@own", "commander", ASSIGNEE)


def fire_at(query: MediaQuery, step_index: int, repeat_index: int = 0) -> datetime:
    return query.due_at + LADDER[step_index][0] + REPEAT_EVERY * repeat_index


def plan(*, session: Session, media_query: MediaQuery, now: datetime) -> None:
    """Hook MEDIA_QUERY_CHANGED: an open query of an active incident gets its ladder from its target
    (steps already sent are not sent again); anything else has its open timers cancelled."""
    session.flush()
    incident = media_query.incident
    if not media_query.is_open or incident.state != "active":
        cancel_timers(session, Timer.media_query_id == media_query.id, now=now, reason=f"media_{media_query.state}")
        return
    fired = list(
        session.execute(
            select(Timer.step_index, Timer.repeat_index).where(
                Timer.media_query_id == media_query.id, Timer.state == "fired"
            )
        )
    )
    cancel_timers(session, Timer.media_query_id == media_query.id, now=now, reason="replanned")
    if fired:  # the ladder goes on from where it is: the next rung after the last one sent
        step, repeat = max(fired, key=lambda row: (row[0] or 0, row[1] or 0))
        following = _after(step or 0, repeat or 0)
    else:
        following = (0, 0)
    if following is None:
        return
    step, repeat = following
    timer = add_timer(
        session,
        incident_id=incident.id,
        media_query_id=media_query.id,
        kind=KIND,
        step_index=step,
        repeat_index=repeat,
        fire_at=fire_at(media_query, step, repeat),
    )
    announce(session, [timer], now)


def _after(step: int, repeat: int) -> tuple[int, int] | None:
    last = len(LADDER) - 1
    if step < last:
        return step + 1, 0
    return (last, repeat + 1) if repeat < REPEAT_MAX else None


def replan_incident(*, session: Session, incident: Incident, now: datetime) -> None:
    """Hook SEVERITY_CHANGED: open queries' targets follow the new severity, and so do their timers."""
    for query in media_desk.replan_for_severity(session=session, incident=incident, now=now):
        plan(session=session, media_query=query, now=now)


def _query(session: Session, timer: Timer) -> MediaQuery | None:
    return session.get(MediaQuery, timer.media_query_id) if timer.media_query_id is not None else None


def why_not(session: Session, timer: Timer) -> str | None:
    """None while the query is open; else why the timer no longer matters."""
    query = _query(session, timer)
    if query is None:
        return "media_missing"
    return None if query.is_open else f"media_{query.state}"


def selectors(timer: Timer) -> list[RoleSelector]:
    """The role selectors of the timer's rung (the assignee is added by `assignee`)."""
    step = timer.step_index or 0
    names = REPEAT_TO if timer.repeat_index else LADDER[step][1]
    return [parse_selector(name) for name in names if name != ASSIGNEE]


def assignee(session: Session, timer: Timer, incident: Incident) -> list[Recipient]:
    """The query's assignee when the rung names them; the commander when nobody is assigned."""
    step = timer.step_index or 0
    names = REPEAT_TO if timer.repeat_index else LADDER[step][1]
    if ASSIGNEE not in names:
        return []
    query = _query(session, timer)
    person = query.assignee if query is not None else None
    if person is not None and person.active:
        return [Recipient(person, ASSIGNEE, incident.unit)]
    commander = incident.commander
    if commander is not None and commander.active:
        return [Recipient(commander, "commander", incident.unit)]
    return []


def next_timer(session: Session, timer: Timer) -> Timer | None:
    """The next rung after this one fired (the caller announces it)."""
    query = _query(session, timer)
    following = _after(timer.step_index or 0, timer.repeat_index)
    if query is None or following is None:
        return None
    step, repeat = following
    return add_timer(
        session,
        incident_id=timer.incident_id,
        media_query_id=query.id,
        kind=KIND,
        step_index=step,
        repeat_index=repeat,
        fire_at=fire_at(query, step, repeat),
    )


def payload(session: Session, timer: Timer) -> dict[str, Any]:
    """What a notice says of the query: who asked, from where, what, and by when."""
    query = _query(session, timer)
    if query is None:
        return {}
    return {
        "media_query_id": query.id,
        "journalist": query.journalist,
        "outlet": query.outlet,
        "question": query.question[:300],
        "media_due_at": query.due_at.isoformat(),
        "repeat_max": REPEAT_MAX,
    }
