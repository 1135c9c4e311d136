"""Planning: Timer rows for a stage's due time, its escalation steps and the update and review
cadence. The incident workflow's hooks call these inside its own transaction: each writes or cancels
Timer rows and flushes, never commits, so a stage that starts has its deadlines in the same commit
and a stage that completes cancels them in the same commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from crisis import clock
from crisis.escalation.models import Timer
from crisis.escalation.timing import NOTIFY_CHANNEL, NOTIFY_HORIZON, OPEN_TIMER_STATES, WAKE_FLAG, announce, is_postgres
from crisis.incidents import cycles
from crisis.incidents.models import Incident, StageRun
from crisis.incidents.stages import anchor_time, stage_due_at
from crisis.playbooks.snapshot import playbook_spec, stage_spec
from crisis.playbooks.spec import EscalationStepSpec


def _step_base(stage_run: StageRun, step: EscalationStepSpec, severity: int) -> datetime:
    assert stage_run.started_at is not None  # nosec B101  # type narrowing: steps are planned for started runs
    return stage_run.started_at + step.after_for(severity)


def step_fire_at(stage_run: StageRun, step: EscalationStepSpec, repeat_index: int) -> datetime:
    """When a step (or its n-th repeat) fires, at the incident's severity now: a step's `after` and
    `repeat.every` may differ per severity, so a severity change moves them."""
    severity = stage_run.incident.severity
    every = step.repeat.every_for(severity) if step.repeat else timedelta(0)
    return _step_base(stage_run, step, severity) + every * repeat_index


def add_timer(session: Session, **fields: Any) -> Timer:
    timer = Timer(state="pending", **fields)
    session.add(timer)
    return timer


def cancel_timers(session: Session, *conditions: Any, now: datetime, reason: str) -> int:
    """Cancel open (pending or claimed) timers. A claimed one being fired right now holds its row
    lock: this waits for it, so completion and firing never interleave."""
    result = session.execute(
        update(Timer)
        .where(Timer.state.in_(OPEN_TIMER_STATES), *conditions)
        .values(state="cancelled", cancelled_at=now, cancel_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _stage_timers(
    session: Session, stage_run: StageRun, *, severity: int, skip: set[tuple[str, int | None]]
) -> list[dict[str, Any]]:
    spec = stage_spec(stage_run.incident, stage_run.position)
    assert stage_run.started_at is not None  # nosec B101  # type narrowing: only started runs are planned
    planned: list[dict[str, Any]] = []
    if ("stage_due", None) not in skip:
        due = stage_due_at(session=session, run=stage_run, severity=severity)
        planned.append({"kind": "stage_due", "fire_at": due, "step_index": None, "repeat_index": 0})
    for index, step in enumerate(spec.escalation):
        if ("escalation_step", index) in skip or not step.applies_to(severity):
            continue  # a step gated to other severities (or telling nobody at this one) is not planned
        planned.append(
            {
                "kind": "escalation_step",
                "fire_at": step_fire_at(stage_run, step, 0),
                "step_index": index,
                "repeat_index": 0,
            }
        )
    return planned


def plan_stage(*, session: Session, stage_run: StageRun, now: datetime) -> None:
    """A stage started: write its due timer and one timer per escalation step (repeats are written
    one at a time, by the firing of the previous one)."""
    if stage_run.started_at is None:
        stage_run.started_at = now
    session.flush()
    # Planning twice must not double anything: whatever was open for this stage is replaced.
    cancel_timers(session, Timer.stage_run_id == stage_run.id, now=now, reason="replanned")
    skip: set[tuple[str, int | None]] = set()
    if _cycles_stopped(stage_run):  # the emergency status already ended: no window until one is declared
        stage_run.due_at = None
        skip.add(("stage_due", None))
    elif stage_run.spec.cycle is not None:  # a repeating stage: its first window ends at the first deadline
        cycles.open_cycle(session=session, run=stage_run, number=0, started_at=stage_run.started_at)
    timers = [
        add_timer(session, incident_id=stage_run.incident_id, stage_run_id=stage_run.id, **fields)
        for fields in _stage_timers(session, stage_run, severity=stage_run.incident.severity, skip=skip)
    ]
    announce(session, timers, now)


def _cycles_stopped(run: StageRun) -> bool:
    """A stage repeating `until: emergency_ends` whose incident's emergency status has been ended."""
    cycle = run.spec.cycle
    return cycle is not None and cycle.until == "emergency_ends" and run.incident.emergency_ended


def emergency_changed(*, session: Session, incident: Incident, before: str, now: datetime, **_: Any) -> None:
    """The emergency status changed (hook EMERGENCY_STATUS_CHANGED). Ended: the running stage that
    repeats `until: emergency_ends` ends the window it is in and its pending deadline is cancelled;
    no window follows. Declared again after an end: a new window starts now."""
    run = incident.current_stage
    if run is None or run.started_at is None or run.spec.cycle is None or run.spec.cycle.until != "emergency_ends":
        return
    session.flush()
    if incident.emergency_ended:
        window = cycles.current_cycle(session=session, run=run, at=now)
        if window is not None and window.updated_at is None:
            window.ended_at = now
        cancel_timers(
            session, Timer.stage_run_id == run.id, Timer.kind == "stage_due", now=now, reason="emergency_ended"
        )
        run.due_at = None
        session.flush()
    elif (
        before == "none"
        and incident.emergency_in_force
        and cycles.current_cycle(session=session, run=run, at=now) is None
    ):
        # Windows are numbered on from the last one, ended or not.
        numbers = [window.number for window in cycles.cycles(session=session, run=run)]
        following = max(numbers) + 1 if numbers else 0
        announce(session, [_next_window(session, run, following, now)], now)


def _next_window(session: Session, run: StageRun, number: int, started_at: datetime) -> Timer:
    """Open a repeating stage's window `number` and write its deadline timer (numbered by the window)."""
    window = cycles.open_cycle(session=session, run=run, number=number, started_at=started_at)
    return add_timer(
        session,
        incident_id=run.incident_id,
        stage_run_id=run.id,
        kind="stage_due",
        repeat_index=number,
        fire_at=window.due_at,
    )


def close_cycle(*, session: Session, incident: Incident, now: datetime) -> None:
    """A situation update was published: the running repeating stage's window that holds `now` is on
    time; its deadline timer is cancelled and the next window planned from where this one ends."""
    run = incident.current_stage
    if run is None or run.spec.cycle is None:
        return
    session.flush()
    window = cycles.current_cycle(session=session, run=run, at=now)
    if window is None or window.updated_at is not None or window.ended_at is not None:
        return
    window.updated_at = now
    cancel_timers(
        session,
        Timer.stage_run_id == run.id,
        Timer.kind == "stage_due",
        Timer.repeat_index == window.number,
        now=now,
        reason="replanned",
    )
    if not _cycles_stopped(run):
        announce(session, [_next_window(session, run, window.number + 1, window.due_at)], now)


TIMER_KINDS = ("stage_due", "escalation_step", "update_due", "review_due")  # media_query: crisis.escalation.media
_COPY_COLUMNS = (
    "incident_id",
    "stage_run_id",
    "kind",
    "step_index",
    "repeat_index",
    "fire_at",
    "state",
    "attempt",
    "cancel_reason",
    "created_at",
)


def schedule_timers(*, session: Session, timers: list[dict[str, Any]], now: datetime | None = None) -> int:
    """Write many pending timers at once (an import, a re-plan across many incidents): `COPY` on
    PostgreSQL, one executemany elsewhere. Each dict has incident_id, kind, fire_at and optionally
    stage_run_id, step_index, repeat_index. Like the planning hooks it flushes, never commits, and
    wakes the scheduler when one is due soon. Returns how many were written."""
    if not timers:
        return 0
    moment = now or clock.now()
    rows = []
    for index, timer in enumerate(timers):
        if timer.get("kind") not in TIMER_KINDS:
            raise ValueError(f"timers[{index}].kind: one of {', '.join(TIMER_KINDS)}")
        fire_at = timer.get("fire_at")
        if not isinstance(fire_at, datetime) or fire_at.tzinfo is None:
            raise ValueError(f"timers[{index}].fire_at: a datetime with its time zone")
        rows.append(
            (
                timer["incident_id"],
                timer.get("stage_run_id"),
                timer["kind"],
                timer.get("step_index"),
                timer.get("repeat_index", 0),
                fire_at,
                "pending",
                0,
                "",
                moment,
            )
        )
    session.flush()
    if is_postgres(session):
        cursor = session.connection().connection.driver_connection.cursor()
        with cursor, cursor.copy(f"COPY timer ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        session.execute(Timer.__table__.insert(), [dict(zip(_COPY_COLUMNS, row, strict=True)) for row in rows])
    soonest = min(row[5] for row in rows)
    session.info[WAKE_FLAG] = True
    if soonest - moment <= NOTIFY_HORIZON and is_postgres(session):
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, soonest.isoformat())))
    return len(rows)


def cancel_stage(*, session: Session, stage_run: StageRun, now: datetime) -> None:
    """A stage completed: cancel its pending timers."""
    session.flush()
    cancel_timers(session, Timer.stage_run_id == stage_run.id, now=now, reason="stage_completed")


def replan_incident(*, session: Session, incident: Incident, now: datetime) -> None:
    """The severity changed: re-plan the active stage's timers from its start, and the update cadence.

    Steps and repeats that already fired are not sent again: an open repeat keeps its place in the
    series; the stage due timer moves to the new target (and fires at once if that has passed).
    A step gated away from the new severity is cancelled; a step gated to it that was never planned
    is planned from the stage's start (and fires at once if its time has passed)."""
    session.flush()
    run = incident.current_stage
    if run is not None and run.started_at is not None:
        spec = stage_spec(run.incident, run.position)
        due_at = stage_due_at(session=session, run=run, severity=incident.severity)
        run.due_at = None if _cycles_stopped(run) else due_at
        if spec.cycle is None:  # a cycle's window keeps its length; the next one follows the severity
            run.target_seconds = int((run.due_at - anchor_time(run)).total_seconds())
        open_timers = list(
            session.scalars(
                select(Timer).where(Timer.stage_run_id == run.id, Timer.state.in_(OPEN_TIMER_STATES)).with_for_update()
            )
        )
        cancel_timers(session, Timer.stage_run_id == run.id, now=now, reason="replanned")
        timers: list[Timer] = []
        severity = incident.severity
        kept = [
            old
            for old in open_timers
            if old.kind != "escalation_step"
            or (old.step_index is not None and spec.escalation[old.step_index].applies_to(severity))
        ]
        gated_out = {old.id for old in open_timers} - {old.id for old in kept}
        if gated_out:
            session.execute(
                update(Timer)
                .where(Timer.id.in_(gated_out))
                .values(cancel_reason=NOT_AT_SEVERITY)
                .execution_options(synchronize_session=False)
            )
        for old in kept:
            if old.kind == "stage_due":
                fire_at = run.due_at
            else:
                assert old.step_index is not None  # nosec B101  # type narrowing: step timers carry their index
                fire_at = step_fire_at(run, spec.escalation[old.step_index], old.repeat_index)
            timers.append(
                add_timer(
                    session,
                    incident_id=incident.id,
                    stage_run_id=run.id,
                    kind=old.kind,
                    step_index=old.step_index,
                    repeat_index=old.repeat_index,
                    fire_at=fire_at,
                )
            )
        for index in _never_planned(session, run, spec, severity):
            timers.append(
                add_timer(
                    session,
                    incident_id=incident.id,
                    stage_run_id=run.id,
                    kind="escalation_step",
                    step_index=index,
                    repeat_index=0,
                    fire_at=step_fire_at(run, spec.escalation[index], 0),
                )
            )
        announce(session, timers, now)
    if incident.is_open and _has_open(session, incident, "update_due"):
        plan_updates(session=session, incident=incident, now=now)


NOT_AT_SEVERITY = "not_at_severity"  # cancel reason: the step is gated away from the incident's severity now


def _never_planned(session: Session, run: StageRun, spec: Any, severity: int) -> list[int]:
    """Steps that apply at this severity and have no timer that counts: none open or fired, and
    none stopped for a reason other than a re-plan or a severity gate (acknowledged stays stopped)."""
    counted = set(
        session.scalars(
            select(Timer.step_index).where(
                Timer.stage_run_id == run.id,
                Timer.kind == "escalation_step",
                ~((Timer.state == "cancelled") & Timer.cancel_reason.in_(("replanned", NOT_AT_SEVERITY))),
            )
        )
    )
    return [i for i, step in enumerate(spec.escalation) if step.applies_to(severity) and i not in counted]


def _has_open(session: Session, incident: Incident, kind: str) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(Timer.incident_id == incident.id, Timer.kind == kind, Timer.state.in_(OPEN_TIMER_STATES))
            )
        )
    )


def cancel_incident(*, session: Session, incident: Incident, now: datetime) -> None:
    """The incident was resolved or cancelled: cancel every pending timer of it. A resolved
    incident gets its review-due timer; a closed one (review done) has nothing left to remind."""
    session.flush()
    cancel_timers(session, Timer.incident_id == incident.id, now=now, reason=f"incident_{incident.state}")
    if incident.state == "resolved":
        plan_review(session=session, incident=incident, now=now)


def plan_review(*, session: Session, incident: Incident, now: datetime) -> Timer:
    """The post-incident review is due `review_due` after resolution: remind when it passes."""
    session.flush()
    cancel_timers(session, Timer.incident_id == incident.id, Timer.kind == "review_due", now=now, reason="replanned")
    resolved_at = incident.resolved_at or now
    review_due = playbook_spec(incident).settings.review_due
    timer = add_timer(session, incident_id=incident.id, kind="review_due", fire_at=resolved_at + review_due)
    announce(session, [timer], now)
    return timer


def plan_updates(*, session: Session, incident: Incident, now: datetime) -> None:
    """A situation update was published (or the incident opened): plan the next update reminder."""
    if not incident.is_open:
        return
    session.flush()
    cancel_timers(session, Timer.incident_id == incident.id, Timer.kind == "update_due", now=now, reason="replanned")
    basis = incident.last_update_at or incident.started_at or now
    every = playbook_spec(incident).settings.update_every_for(incident.severity)
    timer = add_timer(session, incident_id=incident.id, kind="update_due", fire_at=basis + every)
    announce(session, [timer], now)


def plan_next(session: Session, timer: Timer, incident: Incident, run: StageRun | None) -> Timer | None:
    """The next timer of a repeating step or of the update cadence (the caller announces it)."""
    following: Timer | None = None
    if timer.kind == "escalation_step" and run is not None:
        assert timer.step_index is not None  # nosec B101  # type narrowing: step timers carry their index
        step = stage_spec(run.incident, run.position).escalation[timer.step_index]
        if step.repeat is not None and timer.repeat_index < step.repeat.max and step.applies_to(incident.severity):
            following = add_timer(
                session,
                incident_id=incident.id,
                stage_run_id=run.id,
                kind="escalation_step",
                step_index=timer.step_index,
                repeat_index=timer.repeat_index + 1,
                fire_at=step_fire_at(run, step, timer.repeat_index + 1),
            )
    elif (
        timer.kind == "stage_due"
        and run is not None
        and run.spec.cycle is not None
        and run.state == "active"
        and not _cycles_stopped(run)
    ):
        # A window of a repeating stage ended without an update (missed): the next one starts now.
        following = _next_window(session, run, timer.repeat_index + 1, timer.fire_at)
    elif timer.kind == "update_due":
        every = playbook_spec(incident).settings.update_every_for(incident.severity)
        following = add_timer(
            session,
            incident_id=incident.id,
            kind="update_due",
            repeat_index=timer.repeat_index + 1,
            fire_at=timer.fire_at + every,
        )
    return following
