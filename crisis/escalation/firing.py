"""Claiming and firing: the scheduler claims due timers (FOR UPDATE SKIP LOCKED on PostgreSQL) and
stuck notices; a worker fires claimed timers. Each is safe to run twice or on two hosts at once:
`fire_timers` locks its timers and does nothing with one that is no longer `claimed`; the notices it
writes have a unique idempotency key per (timer, recipient, channel)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from crisis import clock, prepared
from crisis.auth.models import User
from crisis.escalation import media
from crisis.escalation import rows as rows_module
from crisis.escalation.models import Timer
from crisis.escalation.planning import plan_next
from crisis.escalation.queries import hot_builder, hot_statement
from crisis.escalation.recipients import Recipient, members_in_role, resolve_selector, selectors_for
from crisis.escalation.timing import FIRED, announce, db_now, due_cutoff, injected_clock, is_postgres, minus_lease
from crisis.incidents.models import Incident, StageRun
from crisis.notify import service as notify
from crisis.notify.channels import CHANNELS
from crisis.notify.chat import for_severity
from crisis.notify.models import Notice, WebhookEndpoint
from crisis.playbooks.snapshot import stage_spec
from crisis.timeline import service as timeline
from crisis.units.models import Unit


@dataclass(frozen=True)
class Claimed:
    id: int
    fire_at: datetime
    attempt: int


def claim_due(
    *, session: Session, now: datetime | None = None, limit: int = 500, lease: float = 30, reclaim: bool = True
) -> list[Claimed]:
    """Claim due timers, oldest first, and (with `reclaim`) those whose claim's lease ran out. Flush,
    not commit: the caller commits, then enqueues their firing. Two schedulers never claim the same row."""
    cutoff = due_cutoff(session, now)
    lease_cutoff = minus_lease(cutoff, lease)
    claimed: list[Claimed] = []
    conditions = [and_(Timer.state == "pending", Timer.fire_at <= cutoff)]
    if reclaim:
        conditions.insert(0, and_(Timer.state == "claimed", Timer.claimed_at <= lease_cutoff))
    for condition in conditions:
        room = limit - len(claimed)
        if room <= 0:
            break
        due = (
            select(Timer.id)
            .where(condition)
            .order_by(Timer.fire_at, Timer.id)
            .limit(room)
            .with_for_update(skip_locked=True)
        )
        rows = session.execute(
            update(Timer)
            .where(Timer.id.in_(due.scalar_subquery()))
            .values(state="claimed", claimed_at=cutoff, attempt=Timer.attempt + 1)
            .returning(Timer.id, Timer.fire_at, Timer.attempt)
            .execution_options(synchronize_session=False)
        ).all()
        claimed.extend(Claimed(id=row.id, fire_at=row.fire_at, attempt=row.attempt) for row in rows)
    claimed.sort(key=lambda c: (c.fire_at, c.id))
    return claimed


def seconds_until_next(*, session: Session) -> float | None:
    """Seconds until the earliest pending timer (negative when overdue); None when there is none."""
    if injected_clock() or not is_postgres(session):
        soonest = session.scalar(select(func.min(Timer.fire_at)).where(Timer.state == "pending"))
        return None if soonest is None else (soonest - clock.now()).total_seconds()
    return session.scalar(
        select(func.extract("epoch", func.min(Timer.fire_at) - func.clock_timestamp())).where(Timer.state == "pending")
    )


def sweep_notices(*, session: Session, now: datetime | None = None, lease: float = 30, limit: int = 500) -> list[int]:
    """Queued notices to hand to the queue again: a retry whose backoff passed, or a hand-off whose
    lease ran out (lost message, flushed Redis, killed worker). Notices being sent are locked and skipped."""
    cutoff = due_cutoff(session, now)
    stale = (
        select(Notice.id)
        .where(
            Notice.status == "queued",
            Notice.next_attempt_at <= cutoff,
            or_(Notice.enqueued_at.is_(None), Notice.enqueued_at <= minus_lease(cutoff, lease)),
        )
        .order_by(Notice.next_attempt_at, Notice.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(
        update(Notice)
        .where(Notice.id.in_(stale.scalar_subquery()))
        .values(enqueued_at=cutoff)
        .returning(Notice.id, Notice.next_attempt_at)
        .execution_options(synchronize_session=False)
    ).all()
    return [row.id for row in sorted(rows, key=lambda r: (r.next_attempt_at, r.id))]


def acknowledged_steps(session: Session, timers: list[Timer]) -> set[tuple[int, int]]:
    """(stage run, step) pairs among these timers' stage runs that someone acknowledged."""
    run_ids = sorted({t.stage_run_id for t in timers if t.kind == "escalation_step" and t.stage_run_id is not None})
    if not run_ids:
        return set()
    rows = session.execute(
        select(Timer.stage_run_id, Timer.step_index)
        .where(Timer.stage_run_id.in_(run_ids), Timer.kind == "escalation_step", Timer.acknowledged_at.is_not(None))
        .distinct()
    )
    return {(run_id, step_index) for run_id, step_index in rows}


def why_not(
    session: Session,
    timer: Timer,
    incident: Incident,
    run: StageRun | None,
    *,
    check_ack: bool = True,
    acknowledged: set[tuple[int, int]] | None = None,
) -> str | None:
    """None when the timer still matters; else the reason it no longer does."""
    if timer.kind == "review_due":
        return None if incident.state == "resolved" else f"incident_{incident.state}"
    if incident.state != "active":
        return f"incident_{incident.state}"
    if timer.kind == media.KIND:  # media desk: a query answered or declined
        return media.why_not(session, timer)
    if timer.stage_run_id is not None and (run is None or run.state != "active"):
        return "stage_completed"
    if check_ack and timer.kind == "escalation_step" and run is not None:
        assert timer.step_index is not None  # nosec B101  # type narrowing: step timers carry their index
        step = stage_spec(run.incident, run.position).escalation[timer.step_index]
        if step.until == "acknowledged":
            if acknowledged is None:
                acknowledged = acknowledged_steps(session, [timer])
            if (run.id, timer.step_index) in acknowledged:
                return "acknowledged"
    return None


def fire_timer(*, session: Session, timer_id: int, now: datetime | None = None) -> list[int]:
    """Fire one claimed timer (see `fire_timers`)."""
    return fire_timers(session=session, timer_ids=[timer_id], now=now)


def fire_timers(*, session: Session, timer_ids: list[int], now: datetime | None = None) -> list[int]:
    """Fire claimed timers: notices for the recipients resolved now, a timeline event, the next
    repeat. Returns the ids of notices to deliver. A timer that is not `claimed` (fired already,
    cancelled, or being fired by another worker) is left alone. Flush, not commit.

    A batch costs a handful of queries whatever its size: the scheduler hands over everything that
    fell due at once, so a burst of deadlines is fired in few transactions."""
    if not timer_ids:
        return []
    ids = sorted(set(timer_ids))
    # Lock order shared with the incident workflow: incidents, stage runs, timers (each by id).
    postgres = is_postgres(session)
    with_clock = now is None and postgres and not injected_clock()
    if prepared.usable(session):  # production: on the driver, without the ORM's loading
        incidents, runs, rows = rows_module.load_batch(session, ids, with_clock=with_clock)
        if not incidents:
            return []
    else:
        params = {"ids": ids}
        incidents = {i.id: i for i in session.scalars(hot_statement("fire.incidents"), params).unique()}
        if not incidents:
            return []
        runs = {run.id: run for run in session.scalars(hot_statement("fire.runs"), params)}
        # The timers, and the engine's clock read in the same round trip.
        name = "fire.timers.pg.clock" if with_clock else "fire.timers.pg" if postgres else "fire.timers"
        rows = [(row[0], row[1]) for row in session.execute(hot_statement(name), params)]
    timers = [row[0] for row in rows if row[0].state == "claimed" and row[0].incident_id in incidents]
    if not timers:
        return []
    moment = now or (rows[0][1] if rows[0][1] is not None else db_now(session))
    acknowledged = acknowledged_steps(session, timers)
    firing: list[tuple[Timer, Incident, StageRun | None]] = []
    for timer in timers:
        incident = incidents[timer.incident_id]
        run = runs.get(timer.stage_run_id) if timer.stage_run_id is not None else None
        reason = why_not(session, timer, incident, run, acknowledged=acknowledged)
        if reason is not None:
            timer.state, timer.cancelled_at, timer.cancel_reason = "cancelled", moment, reason
        else:
            firing.append((timer, incident, run))
    if not firing:
        session.flush()
        return []

    known: dict[tuple[str, int], list[User]] = {}

    def people(role: str, unit: Unit) -> list[User]:
        if (role, unit.id) not in known:
            known[(role, unit.id)] = members_in_role(session, role, unit, moment)
        return known[(role, unit.id)]

    # Timeline rows, notices and the fired timers are written with one statement each, in the order
    # the unit of work wrote them, without it: its bookkeeping cost more than the statements.
    events: list[dict[str, Any]] = []
    resolved: list[tuple[Timer, Incident, StageRun | None, dict[int, Recipient]]] = []
    for timer, incident, run in firing:
        recipients: dict[int, Recipient] = {}
        # Media desk: the query's assignee by name, then its rung's role selectors.
        is_media = timer.kind == media.KIND
        for recipient in media.assignee(session, timer, incident) if is_media else ():
            recipients.setdefault(recipient.user.id, recipient)
        for selector in media.selectors(timer) if is_media else selectors_for(timer, run):
            found, fallback = resolve_selector(
                session=session, incident=incident, selector=selector, at=moment, people=people
            )
            if fallback is not None:
                events.append(
                    timeline.event_row(
                        kind="escalation.fallback",
                        subject_type="incident",
                        subject_id=incident.id,
                        unit_id=incident.unit_id,
                        data={"timer_id": timer.id, **fallback},
                        now=moment,
                    )
                )
            for recipient in found:
                recipients.setdefault(recipient.user.id, recipient)
        if not recipients and incident.commander is not None:
            # Nobody anywhere up the tree: the commander hears of it rather than no one.
            recipients[incident.commander_id] = Recipient(incident.commander, "commander", incident.unit, "unresolved")
        resolved.append((timer, incident, run, recipients))

    user_ids = sorted({uid for *_rest, recipients in resolved for uid in recipients})
    # Their units (language, zone) for rendering, in one query for the batch, unless all were loaded
    # already (commanders come with their incident).
    unloaded = sorted(
        {r.user.id for *_rest, recipients in resolved for r in recipients.values() if "memberships" not in vars(r.user)}
    )
    if unloaded:
        session.scalars(hot_statement("fire.users"), {"ids": unloaded}).unique().all()
    channels = notify.channels_for(session, user_ids, at=moment)
    units = {r.unit.id for *_rest, recipients in resolved for r in recipients.values() if r.unit is not None} | {
        incident.unit_id for _t, incident, _r, recipients in resolved if not recipients
    }
    hooks_by_unit: dict[int, list[WebhookEndpoint]] = {}
    found_hooks = (
        rows_module.webhooks(session, sorted(units))
        if prepared.usable(session)
        else session.scalars(hot_statement("fire.webhooks"), {"ids": sorted(units)})
    )
    for hook in found_hooks:
        hooks_by_unit.setdefault(hook.unit_id, []).append(hook)

    notices: list[Notice] = []
    following: list[Timer] = []
    for timer, incident, run, recipients in resolved:
        base_payload = _payload(timer, incident, run)
        if timer.kind == media.KIND:  # media desk: who asked what, and by when
            base_payload.update(media.payload(session, timer))
        for recipient in recipients.values():
            for channel in for_severity(channels[recipient.user.id], incident.severity):  # quiet hours
                payload = {
                    **base_payload,
                    "selector": recipient.selector,
                    "unit_code": recipient.unit.code if recipient.unit else None,
                    "fallback_from": recipient.fallback_from,
                }
                notices.append(
                    _new_notice(
                        timer=timer,
                        incident=incident,
                        channel=channel,
                        payload=payload,
                        now=moment,
                        key=f"timer:{timer.id}:user:{recipient.user.id}:{channel}",
                        recipient=recipient.user,
                    )
                )
        names = sorted(r.user.name for r in recipients.values())
        hook_units = {r.unit.id for r in recipients.values() if r.unit is not None} or {incident.unit_id}
        hooks = sorted((h for unit_id in hook_units for h in hooks_by_unit.get(unit_id, [])), key=lambda h: h.id)
        for hook in hooks:
            payload = {**base_payload, "recipients": names, "unit_code": hook.unit.code}
            notices.append(
                _new_notice(
                    timer=timer,
                    incident=incident,
                    channel="webhook",
                    payload=payload,
                    now=moment,
                    key=f"timer:{timer.id}:webhook:{hook.id}",
                    webhook=hook,
                )
            )
        events.append(
            timeline.event_row(
                kind=f"escalation.{timer.kind}",
                subject_type="incident",
                subject_id=incident.id,
                unit_id=incident.unit_id,
                now=moment,
                data={
                    "timer_id": timer.id,
                    "stage": base_payload.get("stage_key"),
                    "step_index": timer.step_index,
                    "repeat_index": timer.repeat_index,
                    "recipients": names,
                    # Whom it reached as what, and how: the timeline says "unit head of X (Budi) by e-mail".
                    "to": [
                        {
                            "name": r.user.name,
                            "selector": r.selector,
                            "unit": r.unit.code if r.unit is not None else None,
                            "channels": channels[r.user.id],
                        }
                        for r in sorted(recipients.values(), key=lambda r: (r.user.name, r.user.id))
                    ],
                    "late_seconds": round((moment - timer.fire_at).total_seconds(), 3),
                    **({"media_query_id": timer.media_query_id} if timer.kind == media.KIND else {}),
                },
            )
        )
        nxt = media.next_timer(session, timer) if timer.kind == media.KIND else plan_next(session, timer, incident, run)
        if nxt is not None:
            following.append(nxt)
    fired = [timer for timer, *_rest in resolved]
    for notice in notices:
        channel = CHANNELS[notice.channel]
        if channel.immediate:
            notice.status, notice.sent_at, notice.attempts, notice.enqueued_at = "sent", moment, 1, None
        elif (not_set_up := channel.not_set_up()) is not None:
            # Not a failure to retry: shown as "e-mail not set up", with how to set it.
            notice.status, notice.last_error, notice.enqueued_at = "cancelled", not_set_up, None
    fired_ids = [timer.id for timer in fired]
    if prepared.usable(session):
        _write_on_driver(session, fired_ids, moment, events, notices)
    else:
        session.connection().execute(_MARK_FIRED, {"ids": fired_ids, "moment": moment})
        timeline.append_many(session=session, events=events)
        write_notices(session, notices)
    for timer in fired:  # what the row says now, without the unit of work writing it again
        set_committed_value(timer, "state", "fired")
        set_committed_value(timer, "fired_at", moment)
    announce(session, following, moment)
    session.flush()
    queued = [notice for notice in notices if notice.status == "queued"]
    # Held until this transaction ends, so prepare_notices renders them from memory: they are not in
    # the session (written by `write_notices`), and rendering needs nothing more from the database.
    session.info.setdefault(FIRED, {}).update((notice.id, notice) for notice in queued)
    return [notice.id for notice in queued]


_NOTICE_COLUMNS = [column.key for column in Notice.__table__.columns if column.key != "id"]
_TIMERS = Timer.__table__
_MARK_FIRED = (
    update(_TIMERS)
    .where(_TIMERS.c.id.in_(bindparam("ids", expanding=True)))
    .values(state="fired", fired_at=bindparam("moment", type_=_TIMERS.c.fired_at.type))
)
_INSERT_NOTICES = insert(Notice.__table__).returning(Notice.__table__.c.id, sort_by_parameter_order=True)


def write_notices(session: Session, notices: list[Notice]) -> None:
    """INSERT notices built by `_new_notice` in one statement (RETURNING their ids) and set their ids.
    They stay outside the session: a later `session.get` loads the row."""
    if not notices:
        return
    rows = _notice_rows(notices)
    if is_postgres(session):
        records = {"rows": json.dumps(rows, default=_utc)}
        written = dict(session.connection().execute(hot_statement("fire.notices.pg"), records).all())
        ids = [written[notice.idempotency_key] for notice in notices]
    else:
        ids = session.connection().execute(_INSERT_NOTICES, rows).scalars().all()
    for notice, notice_id in zip(notices, ids, strict=True):
        notice.id = notice_id


def _write_on_driver(
    session: Session, fired_ids: list[int], moment: datetime, events: list[dict[str, Any]], notices: list[Notice]
) -> None:
    """What the firing writes, as one statement on the driver (`queries._fire_write`): the timers marked
    fired, the timeline events in their order, the notices (their ids set from RETURNING)."""
    rows = _notice_rows(notices)
    params = {
        "ids": fired_ids,
        "moment": moment,
        "events": json.dumps(events, default=_utc),
        "rows": json.dumps(rows, default=_utc),
    }
    written = dict(prepared.fetch(session, "fire.write.pg", hot_builder("fire.write.pg"), params))
    for notice in notices:
        notice.id = written[notice.idempotency_key]


def _notice_rows(notices: list[Notice]) -> list[dict[str, Any]]:
    """Their values as `_new_notice` and the firing set them (a column never set is NULL, as getattr says)."""
    return [{key: vars(notice).get(key) for key in _NOTICE_COLUMNS} for notice in notices]


def _utc(value: Any) -> str:
    """A timestamp as the JSON of `write_notices`: ISO 8601 with its offset (as UTCDateTime, never naive)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _payload(timer: Timer, incident: Incident, run: StageRun | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": timer.kind,
        "severity": incident.severity,
        "incident_ref": incident.reference,
        "incident_title": incident.title,
        "owner_unit": incident.unit.code,
        "fire_at": timer.fire_at.isoformat(),
        "step_index": timer.step_index,
        "repeat_index": timer.repeat_index,
    }
    payload.update(_exercise_payload(timer, incident))
    if run is not None:
        spec = stage_spec(run.incident, run.position)
        payload.update(
            stage_key=run.stage_key,
            stage_position=run.position,
            stage_due_at=run.due_at.isoformat() if run.due_at else None,
        )
        if timer.step_index is not None:
            step = spec.escalation[timer.step_index]
            payload["repeat_max"] = step.repeat.max if step.repeat else 0
            payload["until"] = step.until
    return payload


def _new_notice(
    *,
    timer: Timer | None,
    incident: Incident,
    channel: str,
    payload: dict[str, Any],
    now: datetime,
    key: str,
    recipient: User | None = None,
    webhook: WebhookEndpoint | None = None,
) -> Notice:
    # The foreign keys as well as the objects: the row is written by `write_notices`, not by a flush.
    # Never in a session, so its values are set as loaded ones, without the constructor's attribute
    # events (twenty-odd a notice); reading them is the same, and so is a later change.
    notice = _NEW_NOTICE()
    notice.__dict__.update(
        kind="inject" if timer is not None and timer.kind == "inject" else "deadline",
        idempotency_key=key,
        timer=timer,
        timer_id=timer.id if timer else None,
        incident=incident,
        incident_id=incident.id,
        recipient_user_id=recipient.id if recipient is not None else None,
        webhook_id=webhook.id if webhook is not None else None,
        channel=channel,
        payload=payload,
        status="queued",
        attempts=0,
        last_error="",
        due_at=timer.fire_at if timer else now,
        queued_at=now,
        next_attempt_at=now,
        enqueued_at=now,
        recipient=recipient,
        webhook=webhook,
        about=None,
        acknowledged_by=None,
    )
    return notice


_NEW_NOTICE = inspect(Notice).class_manager.new_instance


# --- exercises (crisis.exercises): what marks a drill's notices, and an inject's own text --------


def _exercise_payload(timer: Timer, incident: Incident) -> dict[str, Any]:
    """A drill's notice says so (the renderer puts [LATIHAN] first); an inject carries its text."""
    if incident.exercise_id is None:
        return {}
    payload: dict[str, Any] = {"exercise": True}
    if timer.kind == "inject" and incident.exercise is not None and timer.step_index is not None:
        inject = incident.exercise.scenario_snapshot["injects"][timer.step_index]
        payload.update(inject_text=inject["text"], inject_at=inject["at"])
    return payload
