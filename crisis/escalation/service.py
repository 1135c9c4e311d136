"""The deadline engine's service: timers in the database, claimed and fired by idempotent sweeps.

The incident workflow calls the planning hooks (`plan_stage`, `cancel_stage`, `replan_incident`,
`cancel_incident`, `plan_updates`) inside its own transaction: each writes or cancels Timer rows and
flushes, never commits, so a stage that starts has its deadlines in the same commit and a stage
that completes cancels them in the same commit.

The scheduler calls `claim_due` (pending timers whose `fire_at` passed, plus claims whose lease ran
out; FOR UPDATE SKIP LOCKED on PostgreSQL) and `sweep_notices`; workers call `fire_timer` and
`deliver`. Every one of them is safe to run twice or on two hosts at once:

- `fire_timer` locks its timer and does nothing unless it is still `claimed`; the notices it writes
  have a unique idempotency key per (timer, recipient, channel).
- `deliver` locks its notice (SKIP LOCKED) for the length of the send and does nothing unless the
  notice is still `queued`. The at-least-once window is the moment between the receiver accepting
  a message and our commit of `sent`: a worker killed exactly there sends that one notice again,
  with the same Message-ID / X-Crisis-Notice-Id so the receiver can drop it.

One clock: on PostgreSQL due-ness is decided by the database's time, not by each host's. Tests
inject time with `now=` arguments (or app.extensions["clock"]).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import (
    Float,
    Interval,
    and_,
    bindparam,
    case,
    cast,
    event,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import inspect as inspect_row
from sqlalchemy.orm import Session, defer, joinedload

from crisis import clock
from crisis.auth.models import Membership, Role, User
from crisis.dbtypes import UTCDateTime
from crisis.errors import Conflict, NotFound, NotPermitted
from crisis.escalation.models import ChannelPreference, Notice, Timer, WebhookEndpoint
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.models import Incident, StageRun
from crisis.playbooks.spec import EscalationStepSpec, PlaybookSpec, RoleSelector, StageSpec
from crisis.timeline import service as timeline
from crisis.units.models import Unit, UnitKind

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "crisis_timers"
# Writers tell the scheduler about timers due sooner than this; later ones it finds on its own.
NOTIFY_HORIZON = timedelta(seconds=2)
OPEN_TIMER_STATES = ("pending", "claimed")

# The embedded mode: the writer wakes the in-process scheduler directly (set after commit).
WAKE = threading.Event()
_WAKE_FLAG = "crisis.escalation.wake"


_FIRED = "crisis.escalation.fired"  # notices written by fire_timers in the open transaction


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    session.info.pop(_FIRED, None)
    if session.info.pop(_WAKE_FLAG, False):
        WAKE.set()


@event.listens_for(Session, "after_rollback")
def _forget_wake(session: Session) -> None:
    session.info.pop(_WAKE_FLAG, None)
    session.info.pop(_FIRED, None)


# --- the one clock -----------------------------------------------------------------------------


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _injected_clock() -> bool:
    return has_app_context() and current_app.extensions.get("clock") is not None


def db_now(session: Session) -> datetime:
    """The engine's clock: the database's on PostgreSQL, this host's on SQLite, or the test's."""
    if _injected_clock() or not _is_postgres(session):
        return clock.now()
    return session.scalar(select(func.clock_timestamp()))


def _stamp(session: Session) -> Any:
    """`db_now` for a column value: the database's clock is read by the UPDATE itself (no round trip)."""
    if _injected_clock() or not _is_postgres(session):
        return clock.now()
    return func.clock_timestamp()


def _config(key: str, default: Any) -> Any:
    return current_app.config.get(key, default) if has_app_context() else default


# --- planning hooks ----------------------------------------------------------------------------


# Playbook version id -> its canonical form. Versions are immutable and an incident's snapshot is
# the canonical form of its version, so a worker decodes each SOP once rather than once per firing
# (the snapshot is tens of kilobytes of JSON; decoding it was a tenth of a firing's CPU).
_SNAPSHOTS: dict[int, dict[str, Any]] = {}


def snapshot_of(incident: Incident) -> dict[str, Any]:
    """The incident's SOP snapshot: the loaded column if it was loaded, else the cached canonical
    form of its playbook version (the engine's queries defer the column)."""
    state = inspect_row(incident)
    if "playbook_snapshot" not in state.unloaded or state.session is None:
        return incident.playbook_snapshot
    cached = _SNAPSHOTS.get(incident.playbook_version_id)
    if cached is None:
        from crisis.playbooks.models import PlaybookVersion

        cached = state.session.scalar(
            select(PlaybookVersion.canonical).where(PlaybookVersion.id == incident.playbook_version_id)
        )
        if len(_SNAPSHOTS) >= 256:
            _SNAPSHOTS.clear()
        _SNAPSHOTS[incident.playbook_version_id] = cached
    return cached


def _playbook(incident: Incident) -> PlaybookSpec:
    return PlaybookSpec.from_canonical(snapshot_of(incident))


def _stage_spec(stage_run: StageRun) -> StageSpec:
    return parse_stage(snapshot_of(stage_run.incident)["stages"][stage_run.position])


def parse_stage(canonical: dict[str, Any]) -> StageSpec:
    # Parsed once per stage snapshot object (a firing asks several times).
    key = id(canonical)
    cached = _STAGE_CACHE.get(key)
    if cached is None or cached[0] is not canonical:
        if len(_STAGE_CACHE) > 256:
            _STAGE_CACHE.clear()
        cached = _STAGE_CACHE[key] = (canonical, StageSpec.from_canonical(canonical))
    return cached[1]


_STAGE_CACHE: dict[int, tuple[dict[str, Any], StageSpec]] = {}


def _step_base(stage_run: StageRun, step: EscalationStepSpec) -> datetime:
    assert stage_run.started_at is not None  # nosec B101  # type narrowing: steps are planned for started runs
    return stage_run.started_at + step.after


def _step_fire_at(stage_run: StageRun, step: EscalationStepSpec, repeat_index: int) -> datetime:
    every = step.repeat.every if step.repeat else timedelta(0)
    return _step_base(stage_run, step) + every * repeat_index


def _add_timer(session: Session, **fields: Any) -> Timer:
    timer = Timer(state="pending", **fields)
    session.add(timer)
    return timer


def _announce(session: Session, timers: list[Timer], now: datetime) -> None:
    """Wake the schedulers for timers due soon: NOTIFY (delivered at commit) and the in-process event."""
    if not timers:
        return
    session.flush()
    soonest = min(timer.fire_at for timer in timers)
    session.info[_WAKE_FLAG] = True
    if soonest - now <= NOTIFY_HORIZON and _is_postgres(session):
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, soonest.isoformat())))


def _cancel(session: Session, *conditions: Any, now: datetime, reason: str) -> int:
    """Cancel open (pending or claimed) timers. A claimed one being fired right now holds its row
    lock: this waits for it, so completion and firing never interleave."""
    result = session.execute(
        update(Timer)
        .where(Timer.state.in_(OPEN_TIMER_STATES), *conditions)
        .values(state="cancelled", cancelled_at=now, cancel_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _stage_timers(stage_run: StageRun, *, severity: int, skip: set[tuple[str, int | None]]) -> list[dict[str, Any]]:
    spec = _stage_spec(stage_run)
    assert stage_run.started_at is not None  # nosec B101  # type narrowing: only started runs are planned
    planned: list[dict[str, Any]] = []
    if ("stage_due", None) not in skip:
        due = stage_run.started_at + spec.target_for(severity)
        planned.append({"kind": "stage_due", "fire_at": due, "step_index": None, "repeat_index": 0})
    for index, step in enumerate(spec.escalation):
        if ("escalation_step", index) in skip:
            continue
        planned.append(
            {"kind": "escalation_step", "fire_at": _step_fire_at(stage_run, step, 0), "step_index": index,
             "repeat_index": 0}
        )
    return planned


def plan_stage(*, session: Session, stage_run: StageRun, now: datetime) -> None:
    """A stage started: write its due timer and one timer per escalation step (repeats are written
    one at a time, by the firing of the previous one)."""
    if stage_run.started_at is None:
        stage_run.started_at = now
    session.flush()
    # Planning twice must not double anything: whatever was open for this stage is replaced.
    _cancel(session, Timer.stage_run_id == stage_run.id, now=now, reason="replanned")
    timers = [
        _add_timer(session, incident_id=stage_run.incident_id, stage_run_id=stage_run.id, **fields)
        for fields in _stage_timers(stage_run, severity=stage_run.incident.severity, skip=set())
    ]
    _announce(session, timers, now)


TIMER_KINDS = ("stage_due", "escalation_step", "update_due", "review_due")
_COPY_COLUMNS = ("incident_id", "stage_run_id", "kind", "step_index", "repeat_index", "fire_at", "state", "attempt",
                 "cancel_reason", "created_at")


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
        rows.append((timer["incident_id"], timer.get("stage_run_id"), timer["kind"], timer.get("step_index"),
                     timer.get("repeat_index", 0), fire_at, "pending", 0, "", moment))
    session.flush()
    if _is_postgres(session):
        cursor = session.connection().connection.driver_connection.cursor()
        with cursor, cursor.copy(f"COPY timer ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        session.execute(Timer.__table__.insert(), [dict(zip(_COPY_COLUMNS, row, strict=True)) for row in rows])
    soonest = min(row[5] for row in rows)
    session.info[_WAKE_FLAG] = True
    if soonest - moment <= NOTIFY_HORIZON and _is_postgres(session):
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, soonest.isoformat())))
    return len(rows)


def cancel_stage(*, session: Session, stage_run: StageRun, now: datetime) -> None:
    """A stage completed: cancel its pending timers."""
    session.flush()
    _cancel(session, Timer.stage_run_id == stage_run.id, now=now, reason="stage_completed")


def replan_incident(*, session: Session, incident: Incident, now: datetime) -> None:
    """The severity changed: re-plan the active stage's timers from its start, and the update cadence.

    Steps and repeats that already fired are not sent again: an open repeat keeps its place in the
    series; the stage due timer moves to the new target (and fires at once if that has passed)."""
    session.flush()
    run = incident.current_stage
    if run is not None and run.started_at is not None:
        spec = _stage_spec(run)
        target = spec.target_for(incident.severity)
        run.target_seconds = int(target.total_seconds())
        run.due_at = run.started_at + target
        open_timers = list(
            session.scalars(
                select(Timer).where(Timer.stage_run_id == run.id, Timer.state.in_(OPEN_TIMER_STATES))
                .with_for_update()
            )
        )
        _cancel(session, Timer.stage_run_id == run.id, now=now, reason="replanned")
        timers: list[Timer] = []
        for old in open_timers:
            if old.kind == "stage_due":
                fire_at = run.due_at
            else:
                assert old.step_index is not None  # nosec B101  # type narrowing: step timers carry their index
                fire_at = _step_fire_at(run, spec.escalation[old.step_index], old.repeat_index)
            timers.append(
                _add_timer(session, incident_id=incident.id, stage_run_id=run.id, kind=old.kind,
                           step_index=old.step_index, repeat_index=old.repeat_index, fire_at=fire_at)
            )
        _announce(session, timers, now)
    if incident.is_open and _has_open(session, incident, "update_due"):
        plan_updates(session=session, incident=incident, now=now)


def _has_open(session: Session, incident: Incident, kind: str) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(Timer.incident_id == incident.id, Timer.kind == kind,
                               Timer.state.in_(OPEN_TIMER_STATES))
            )
        )
    )


def cancel_incident(*, session: Session, incident: Incident, now: datetime) -> None:
    """The incident was resolved or cancelled: cancel every pending timer of it. A resolved
    incident gets its review-due timer; a closed one (review done) has nothing left to remind."""
    session.flush()
    _cancel(session, Timer.incident_id == incident.id, now=now, reason=f"incident_{incident.state}")
    if incident.state == "resolved":
        plan_review(session=session, incident=incident, now=now)


def plan_review(*, session: Session, incident: Incident, now: datetime) -> Timer:
    """The post-incident review is due `review_due` after resolution: remind when it passes."""
    session.flush()
    _cancel(session, Timer.incident_id == incident.id, Timer.kind == "review_due", now=now, reason="replanned")
    resolved_at = incident.resolved_at or now
    review_due = _playbook(incident).settings.review_due
    timer = _add_timer(session, incident_id=incident.id, kind="review_due", fire_at=resolved_at + review_due)
    _announce(session, [timer], now)
    return timer


def plan_updates(*, session: Session, incident: Incident, now: datetime) -> None:
    """A situation update was published (or the incident opened): plan the next update reminder."""
    if not incident.is_open:
        return
    session.flush()
    _cancel(session, Timer.incident_id == incident.id, Timer.kind == "update_due", now=now, reason="replanned")
    basis = incident.last_update_at or incident.started_at or now
    every = _playbook(incident).settings.update_every_for(incident.severity)
    timer = _add_timer(session, incident_id=incident.id, kind="update_due", fire_at=basis + every)
    _announce(session, [timer], now)


# --- claiming (the scheduler) ------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    fire_at: datetime
    attempt: int


def _cutoff(session: Session, now: datetime | None) -> Any:
    """`now` for the engine's queries: the database's own clock on PostgreSQL unless injected."""
    if now is not None:
        return now
    if _injected_clock() or not _is_postgres(session):
        return clock.now()
    return func.statement_timestamp(type_=UTCDateTime())


def _before(cutoff: Any, seconds: float) -> Any:
    """`cutoff` minus a lease, whether it is a datetime or the database's clock."""
    if isinstance(cutoff, datetime):
        return cutoff - timedelta(seconds=seconds)
    return func.statement_timestamp() - literal(timedelta(seconds=seconds), Interval())


def claim_due(
    *, session: Session, now: datetime | None = None, limit: int = 500, lease: float = 30, reclaim: bool = True
) -> list[Claimed]:
    """Claim due timers, oldest first, and (with `reclaim`) those whose claim's lease ran out. Flush,
    not commit: the caller commits, then enqueues their firing. Two schedulers never claim the same row."""
    cutoff = _cutoff(session, now)
    lease_cutoff = _before(cutoff, lease)
    claimed: list[Claimed] = []
    conditions = [and_(Timer.state == "pending", Timer.fire_at <= cutoff)]
    if reclaim:
        conditions.insert(0, and_(Timer.state == "claimed", Timer.claimed_at <= lease_cutoff))
    for condition in conditions:
        room = limit - len(claimed)
        if room <= 0:
            break
        due = (
            select(Timer.id).where(condition).order_by(Timer.fire_at, Timer.id).limit(room)
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
    if _injected_clock() or not _is_postgres(session):
        soonest = session.scalar(select(func.min(Timer.fire_at)).where(Timer.state == "pending"))
        return None if soonest is None else (soonest - clock.now()).total_seconds()
    return session.scalar(
        select(
            func.extract("epoch", func.min(Timer.fire_at) - func.clock_timestamp())
        ).where(Timer.state == "pending")
    )


def sweep_notices(
    *, session: Session, now: datetime | None = None, lease: float = 30, limit: int = 500
) -> list[int]:
    """Queued notices to hand to the queue again: a retry whose backoff passed, or a hand-off whose
    lease ran out (lost message, flushed Redis, killed worker). Notices being sent are locked and skipped."""
    cutoff = _cutoff(session, now)
    stale = (
        select(Notice.id)
        .where(
            Notice.status == "queued",
            Notice.next_attempt_at <= cutoff,
            or_(Notice.enqueued_at.is_(None), Notice.enqueued_at <= _before(cutoff, lease)),
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


# --- firing (a worker) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    user: User
    selector: str
    unit: Unit | None  # where the selector found them
    fallback_from: str | None = None  # the unit code first asked, when the tree was climbed


def _chain(unit: Unit) -> list[Unit]:
    from crisis.units.service import ancestors

    return [unit, *ancestors(unit)]


def _selector_unit(session: Session, selector: RoleSelector, own: Unit) -> Unit | None:
    chain = _chain(own)
    if selector.scope == "own":
        return own
    if selector.scope == "parent":
        return own.parent
    if selector.scope == "province":
        return next((u for u in chain if u.kind == UnitKind.province), None)
    if selector.scope == "central":
        return next((u for u in chain if u.kind == UnitKind.central), None)
    return session.scalar(select(Unit).where(Unit.code == selector.scope))


def _people(session: Session, role: str, unit: Unit, at: datetime) -> list[User]:
    if role == "on_duty":
        from crisis.auth.service import on_duty

        return on_duty(session=session, unit_id=unit.id, at=at)
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.unit_id == unit.id, Membership.role == role, User.active)
            .order_by(User.id)
        )
    )


People = Callable[[str, Unit], list[User]]


def resolve_selector(
    *, session: Session, incident: Incident, selector: RoleSelector, at: datetime, people: People | None = None
) -> tuple[list[Recipient], dict[str, Any] | None]:
    """Who a selector means right now. Nobody there: the same role one level up, and so on to the
    root; the second value describes the fallback (None when there was none). `people(role, unit)`
    looks people up (a batch of firings passes one that remembers its answers)."""
    lookup = people or (lambda role, unit: _people(session, role, unit, at))
    if selector.role == "commander":
        commander = incident.commander
        if commander is not None and commander.active:
            return [Recipient(commander, str(selector), incident.unit)], None
        selector = RoleSelector("head", "own")
    target = _selector_unit(session, selector, incident.unit)
    start = target or incident.unit
    for unit in _chain(start):
        found = lookup(selector.role, unit)
        if found:
            moved = target is None or unit.id != target.id
            asked = target.code if target is not None else selector.scope
            fallback = {"selector": str(selector), "from_unit": asked, "to_unit": unit.code} if moved else None
            return [Recipient(user, str(selector), unit, asked if moved else None) for user in found], fallback
    return [], {"selector": str(selector), "from_unit": target.code if target else selector.scope, "to_unit": None}


def personal_channels(*, session: Session, user: User) -> list[str]:
    """The personal channels a person receives notices on (all by default; in-app if they left none)."""
    return _channels_for(session, [user.id])[user.id]


def _channels_for(session: Session, user_ids: list[int]) -> dict[int, list[str]]:
    """Personal channels of several people in one query."""
    from crisis.notify.channels import personal_channel_names

    choices: dict[int, dict[str, bool]] = {user_id: {} for user_id in user_ids}
    if user_ids:
        rows = session.execute(_statement("fire.channels"), {"ids": sorted(set(user_ids))})
        for user_id, channel, enabled in rows:
            choices[user_id][channel] = enabled
    names = personal_channel_names()
    return {
        user_id: [name for name in names if chosen.get(name, True)] or ["inapp"]
        for user_id, chosen in choices.items()
    }


def _acknowledged_steps(session: Session, timers: list[Timer]) -> set[tuple[int, int]]:
    """(stage run, step) pairs among these timers' stage runs that someone acknowledged."""
    run_ids = sorted({t.stage_run_id for t in timers if t.kind == "escalation_step" and t.stage_run_id is not None})
    if not run_ids:
        return set()
    rows = session.execute(
        select(Timer.stage_run_id, Timer.step_index).where(
            Timer.stage_run_id.in_(run_ids), Timer.kind == "escalation_step", Timer.acknowledged_at.is_not(None)
        ).distinct()
    )
    return {(run_id, step_index) for run_id, step_index in rows}


def _why_not(
    session: Session, timer: Timer, incident: Incident, run: StageRun | None, *, check_ack: bool = True,
    acknowledged: set[tuple[int, int]] | None = None,
) -> str | None:
    """None when the timer still matters; else the reason it no longer does."""
    if timer.kind == "review_due":
        return None if incident.state == "resolved" else f"incident_{incident.state}"
    if incident.state != "active":
        return f"incident_{incident.state}"
    if timer.stage_run_id is not None and (run is None or run.state != "active"):
        return "stage_completed"
    if check_ack and timer.kind == "escalation_step" and run is not None:
        assert timer.step_index is not None  # nosec B101  # type narrowing: step timers carry their index
        step = _stage_spec(run).escalation[timer.step_index]
        if step.until == "acknowledged":
            if acknowledged is None:
                acknowledged = _acknowledged_steps(session, [timer])
            if (run.id, timer.step_index) in acknowledged:
                return "acknowledged"
    return None


def _selectors_for(timer: Timer, run: StageRun | None) -> list[RoleSelector]:
    if timer.kind == "escalation_step":
        assert run is not None and timer.step_index is not None  # nosec B101  # type narrowing, as above
        return list(_stage_spec(run).escalation[timer.step_index].notify)
    if timer.kind == "review_due":
        return [RoleSelector("commander", "own"), RoleSelector("head", "own")]
    return [RoleSelector("commander", "own")]  # stage_due, update_due


# The engine's hot statements, built once per process: building a statement with its options costs
# more CPU than executing it (a third of a firing, measured), and these run for every deadline.
_STATEMENTS: dict[str, Any] = {}


def _statement(name: str) -> Any:
    built = _STATEMENTS.get(name)
    if built is None:
        built = _STATEMENTS[name] = _BUILDERS[name]()
    return built


def _ids() -> Any:
    return bindparam("ids", expanding=True)


def _fire_incidents() -> Any:
    return (
        select(Incident).where(Incident.id.in_(select(Timer.incident_id).where(Timer.id.in_(_ids()))))
        .order_by(Incident.id).with_for_update(read=True, of=Incident)
        .options(joinedload(Incident.unit), joinedload(Incident.commander), defer(Incident.playbook_snapshot))
        .execution_options(populate_existing=True)
    )


def _fire_runs() -> Any:
    return (
        select(StageRun).where(StageRun.id.in_(select(Timer.stage_run_id).where(Timer.id.in_(_ids()))))
        .order_by(StageRun.id).with_for_update(read=True, of=StageRun).execution_options(populate_existing=True)
    )


def _fire_timers(clock_column: Any, postgres: bool) -> Any:
    columns = [Timer, clock_column]
    if postgres:
        # SET LOCAL synchronous_commit TO OFF in the same round trip: the firing's COMMIT does not
        # wait for the disk. A database crash may lose the last fraction of a second of firings; their
        # claims (committed durably by the scheduler) run out and they are fired again: a resend under
        # the same idempotency key and Message-ID, never a loss (the window `deliver` documents).
        columns.append(func.set_config("synchronous_commit", "off", True))
    return (
        select(*columns).where(Timer.id.in_(_ids())).order_by(Timer.fire_at, Timer.id)
        .with_for_update(skip_locked=True, of=Timer).execution_options(populate_existing=True)
    )


def _deliver_claim(postgres: bool, db_clock: bool) -> Any:
    """Claim one prepared notice for sending: still queued, and its incident (and stage) still open."""
    table = Notice.__table__
    stage_open = or_(
        Timer.stage_run_id.is_(None),
        exists().where(StageRun.id == Timer.stage_run_id, StageRun.state == "active"),
    )
    still_due = exists().where(
        Timer.id == table.c.timer_id, Incident.id == table.c.incident_id,
        or_(and_(Timer.kind == "review_due", Incident.state == "resolved"),
            and_(Timer.kind != "review_due", Incident.state == "active", stage_open)),
    )
    returning: list[Any] = [table.c.id]
    if postgres:
        returning.append(func.set_config("synchronous_commit", "off", True))
    sent_at = func.clock_timestamp(type_=UTCDateTime()) if db_clock else bindparam("sent_at", type_=UTCDateTime())
    return (
        update(table)
        .where(table.c.id == bindparam("notice_id"), table.c.status == "queued", still_due)
        .values(status="sent", sent_at=sent_at, attempts=table.c.attempts + 1, last_error="")
        .returning(*returning)
    )


_BUILDERS: dict[str, Callable[[], Any]] = {
    "fire.incidents": _fire_incidents,
    "fire.runs": _fire_runs,
    "fire.timers": lambda: _fire_timers(literal(None), postgres=False),
    "fire.timers.pg": lambda: _fire_timers(literal(None), postgres=True),
    "fire.timers.pg.clock": lambda: _fire_timers(func.clock_timestamp(type_=UTCDateTime()), postgres=True),
    "fire.users": lambda: select(User).where(User.id.in_(_ids()))
    .options(joinedload(User.memberships).joinedload(Membership.unit)),
    "fire.channels": lambda: select(ChannelPreference.user_id, ChannelPreference.channel, ChannelPreference.enabled)
    .where(ChannelPreference.user_id.in_(_ids())),
    "fire.webhooks": lambda: select(WebhookEndpoint).where(WebhookEndpoint.unit_id.in_(_ids()), WebhookEndpoint.active)
    .options(joinedload(WebhookEndpoint.unit)).order_by(WebhookEndpoint.id),
    "deliver.claim": lambda: _deliver_claim(postgres=False, db_clock=False),
    "deliver.claim.pg": lambda: _deliver_claim(postgres=True, db_clock=True),
    "deliver.claim.pg_at": lambda: _deliver_claim(postgres=True, db_clock=False),
}


def warm_up(*, session: Session) -> None:
    """Run each hot statement once on ids that do not exist; the caller rolls back. SQLAlchemy
    compiles them, and this process's database backend loads the catalog entries of their tables
    and indexes: otherwise the first deadlines after a worker starts pay for both (measured on a
    burst: its first half-second up to 150-176 ms late, against at most 47 ms once warm)."""
    postgres = _is_postgres(session)
    for name in _BUILDERS:
        if ".pg" in name and not postgres:
            continue
        params = {"ids": [0]} if name.startswith("fire.") else {"notice_id": 0, "sent_at": clock.now()}
        session.execute(_statement(name), params).all()


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
    params = {"ids": ids}
    incidents = {incident.id: incident for incident in session.scalars(_statement("fire.incidents"), params)}
    if not incidents:
        return []
    runs = {run.id: run for run in session.scalars(_statement("fire.runs"), params)}
    # The timers, and the engine's clock read in the same round trip.
    postgres = _is_postgres(session)
    with_clock = now is None and postgres and not _injected_clock()
    name = "fire.timers.pg.clock" if with_clock else "fire.timers.pg" if postgres else "fire.timers"
    rows = session.execute(_statement(name), params).all()
    timers = [row[0] for row in rows if row[0].state == "claimed" and row[0].incident_id in incidents]
    if not timers:
        return []
    moment = now or (rows[0][1] if rows[0][1] is not None else db_now(session))
    acknowledged = _acknowledged_steps(session, timers)
    firing: list[tuple[Timer, Incident, StageRun | None]] = []
    for timer in timers:
        incident = incidents[timer.incident_id]
        run = runs.get(timer.stage_run_id) if timer.stage_run_id is not None else None
        reason = _why_not(session, timer, incident, run, acknowledged=acknowledged)
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
            known[(role, unit.id)] = _people(session, role, unit, moment)
        return known[(role, unit.id)]

    resolved: list[tuple[Timer, Incident, StageRun | None, dict[int, Recipient]]] = []
    for timer, incident, run in firing:
        recipients: dict[int, Recipient] = {}
        for selector in _selectors_for(timer, run):
            found, fallback = resolve_selector(
                session=session, incident=incident, selector=selector, at=moment, people=people
            )
            if fallback is not None:
                timeline.record(
                    session=session, kind="escalation.fallback", subject_type="incident", subject_id=incident.id,
                    unit_id=incident.unit_id, data={"timer_id": timer.id, **fallback}, now=moment,
                )
            for recipient in found:
                recipients.setdefault(recipient.user.id, recipient)
        if not recipients and incident.commander is not None:
            # Nobody anywhere up the tree: the commander hears of it rather than no one.
            recipients[incident.commander_id] = Recipient(incident.commander, "commander", incident.unit, "unresolved")
        resolved.append((timer, incident, run, recipients))

    user_ids = sorted({uid for *_rest, recipients in resolved for uid in recipients})
    if user_ids:  # their units (language, zone) for rendering, in one query for the batch
        session.scalars(_statement("fire.users"), {"ids": user_ids}).unique().all()
    channels = _channels_for(session, user_ids)
    units = {
        r.unit.id for *_rest, recipients in resolved for r in recipients.values() if r.unit is not None
    } | {incident.unit_id for _t, incident, _r, recipients in resolved if not recipients}
    hooks_by_unit: dict[int, list[WebhookEndpoint]] = {}
    for hook in session.scalars(_statement("fire.webhooks"), {"ids": sorted(units)}):
        hooks_by_unit.setdefault(hook.unit_id, []).append(hook)

    from crisis.notify.channels import CHANNELS

    notices: list[Notice] = []
    following: list[Timer] = []
    for timer, incident, run, recipients in resolved:
        base_payload = _payload(timer, incident, run)
        for recipient in recipients.values():
            for channel in channels[recipient.user.id]:
                payload = {**base_payload, "selector": recipient.selector,
                           "unit_code": recipient.unit.code if recipient.unit else None,
                           "fallback_from": recipient.fallback_from}
                notices.append(
                    _new_notice(timer=timer, incident=incident, channel=channel, payload=payload, now=moment,
                                key=f"timer:{timer.id}:user:{recipient.user.id}:{channel}",
                                recipient=recipient.user)
                )
        names = sorted(r.user.name for r in recipients.values())
        hook_units = {r.unit.id for r in recipients.values() if r.unit is not None} or {incident.unit_id}
        hooks = sorted((h for unit_id in hook_units for h in hooks_by_unit.get(unit_id, [])), key=lambda h: h.id)
        for hook in hooks:
            payload = {**base_payload, "recipients": names, "unit_code": hook.unit.code}
            notices.append(
                _new_notice(timer=timer, incident=incident, channel="webhook", payload=payload, now=moment,
                            key=f"timer:{timer.id}:webhook:{hook.id}", webhook=hook)
            )
        timeline.record(
            session=session, kind=f"escalation.{timer.kind}", subject_type="incident", subject_id=incident.id,
            unit_id=incident.unit_id, now=moment,
            data={"timer_id": timer.id, "stage": base_payload.get("stage_key"), "step_index": timer.step_index,
                  "repeat_index": timer.repeat_index, "recipients": names,
                  "late_seconds": round((moment - timer.fire_at).total_seconds(), 3)},
        )
        nxt = _plan_next(session, timer, incident, run)
        if nxt is not None:
            following.append(nxt)
        timer.state, timer.fired_at = "fired", moment
    for notice in notices:
        if CHANNELS[notice.channel].immediate:
            notice.status, notice.sent_at, notice.attempts, notice.enqueued_at = "sent", moment, 1, None
    session.add_all(notices)
    _announce(session, following, moment)
    session.flush()
    queued = [notice for notice in notices if notice.status == "queued"]
    # Held until this transaction ends, so prepare_notices renders them from memory (the session's
    # identity map alone holds rows weakly).
    session.info.setdefault(_FIRED, {}).update((notice.id, notice) for notice in queued)
    return [notice.id for notice in queued]


def _payload(timer: Timer, incident: Incident, run: StageRun | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": timer.kind, "severity": incident.severity, "incident_ref": incident.reference,
        "incident_title": incident.title, "owner_unit": incident.unit.code, "fire_at": timer.fire_at.isoformat(),
        "step_index": timer.step_index, "repeat_index": timer.repeat_index,
    }
    if run is not None:
        spec = _stage_spec(run)
        payload.update(stage_key=run.stage_key, stage_position=run.position,
                       stage_due_at=run.due_at.isoformat() if run.due_at else None)
        if timer.step_index is not None:
            step = spec.escalation[timer.step_index]
            payload["repeat_max"] = step.repeat.max if step.repeat else 0
            payload["until"] = step.until
    return payload


def _new_notice(*, timer: Timer | None, incident: Incident, channel: str, payload: dict[str, Any], now: datetime,
                key: str, **fields: Any) -> Notice:
    return Notice(
        kind="deadline", idempotency_key=key, timer=timer, incident=incident,
        channel=channel, payload=payload, status="queued", attempts=0, last_error="",
        due_at=timer.fire_at if timer else now, queued_at=now, next_attempt_at=now, enqueued_at=now, **fields,
    )


def _plan_next(session: Session, timer: Timer, incident: Incident, run: StageRun | None) -> Timer | None:
    """The next timer of a repeating step or of the update cadence (the caller announces it)."""
    following: Timer | None = None
    if timer.kind == "escalation_step" and run is not None:
        assert timer.step_index is not None  # nosec B101  # type narrowing: step timers carry their index
        step = _stage_spec(run).escalation[timer.step_index]
        if step.repeat is not None and timer.repeat_index < step.repeat.max:
            following = _add_timer(
                session, incident_id=incident.id, stage_run_id=run.id, kind="escalation_step",
                step_index=timer.step_index, repeat_index=timer.repeat_index + 1,
                fire_at=_step_fire_at(run, step, timer.repeat_index + 1),
            )
    elif timer.kind == "update_due":
        every = _playbook(incident).settings.update_every_for(incident.severity)
        following = _add_timer(session, incident_id=incident.id, kind="update_due",
                               repeat_index=timer.repeat_index + 1, fire_at=timer.fire_at + every)
    return following


# --- delivering (a worker) ---------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2x, 4x ... up to the cap."""
    base = float(_config("NOTICE_RETRY_BASE_SECONDS", 5.0))
    cap = float(_config("NOTICE_RETRY_MAX_SECONDS", 300.0))
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _lock_notice(session: Session, notice_id: int) -> Notice | None:
    # One round trip for the notice and what it needs; the lock is on the notice row only.
    return session.scalars(
        select(Notice).where(Notice.id == notice_id)
        .options(joinedload(Notice.timer).joinedload(Timer.stage_run),
                 joinedload(Notice.incident).options(joinedload(Incident.unit), defer(Incident.playbook_snapshot)),
                 joinedload(Notice.recipient).joinedload(User.memberships).joinedload(Membership.unit))
        .with_for_update(skip_locked=True, of=Notice)
        .execution_options(populate_existing=True)
    ).unique().first()


def deliver(*, session: Session, notice_id: int, now: datetime | None = None) -> str | None:
    """Send one queued notice through its channel. Returns the notice's status afterwards, or None
    when another worker holds it or it was not due. The caller commits at once.

    The notice is marked sent in the open transaction *before* it is handed to the channel, so that
    once the receiver has accepted it only our COMMIT remains (one round trip, not waiting for the
    disk): that is the whole at-least-once window. Should the send fail, that transaction is rolled
    back and the failure recorded in a new one."""
    from crisis.notify.channels import CHANNELS, DeliveryError

    notice = _lock_notice(session, notice_id)
    if notice is None or notice.status != "queued":
        return None
    if notice.next_attempt_at > (now or clock.now()) + timedelta(seconds=1):
        return None  # a retry not yet due; the tick hands it over when it is (a coarse check: any clock)
    if notice.timer is not None:
        # A step acknowledged after this notice was written still tells its recipient: not checked here.
        reason = _why_not(session, notice.timer, notice.incident, notice.timer.stage_run, check_ack=False)
        if reason is not None:
            notice.status, notice.last_error = "cancelled", reason
            return notice.status
    channel = CHANNELS.get(notice.channel)
    try:
        if channel is None:
            raise DeliveryError(f"no channel named {notice.channel!r}")
        message = channel.prepare(notice)
        notice.attempts += 1
        notice.status, notice.sent_at, notice.last_error = "sent", now or _stamp(session), ""
        session.flush()
        if _is_postgres(session):
            # A commit lost in a database crash means a resend (same Message-ID), never a loss.
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        channel.transmit(message)
    except Exception as error:  # noqa: BLE001  any failure is recorded, retried, then surfaced
        session.rollback()
        return _record_failure(session, notice_id, error, now)
    return "sent"


@dataclass(frozen=True)
class Prepared:
    """A notice rendered in the firing transaction, ready to be sent right after its commit."""

    notice_id: int
    channel: str
    message: Any


def prepare_notices(*, session: Session, notice_ids: list[int]) -> list[Prepared]:
    """Render notices just written by `fire_timers`, before its commit, from the rows already in the
    session (no queries for the notice, incident or people). A notice that cannot be prepared is left
    to `deliver`."""
    from crisis.notify.channels import CHANNELS

    prepared: list[Prepared] = []
    fired = session.info.get(_FIRED, {})
    for notice_id in notice_ids:
        notice = fired.get(notice_id) or session.get(Notice, notice_id)
        channel = CHANNELS.get(notice.channel) if notice is not None else None
        if notice is None or channel is None:
            continue
        try:
            prepared.append(Prepared(notice_id, notice.channel, channel.prepare(notice)))
        except Exception:  # noqa: BLE001  deliver() renders it again and records the failure
            log.warning("notice %s could not be prepared; it goes through deliver", notice_id, exc_info=True)
    return prepared


def deliver_prepared(*, session: Session, prepared: Prepared, now: datetime | None = None) -> str | None:
    """Send a notice prepared by `prepare_notices` after the firing committed. One UPDATE claims it
    (row lock; still queued; its incident, and its stage if it has one, still open: a stage completed
    in between sends nothing) and marks it sent; then the channel transmits; the caller commits.
    None when it was no longer to be sent by us."""
    from crisis.notify.channels import CHANNELS

    postgres = _is_postgres(session)
    stamp = now or _stamp(session)
    if postgres and not isinstance(stamp, datetime):
        # clock_timestamp() as sent_at, and SET LOCAL synchronous_commit TO OFF (see deliver), in
        # the same round trip.
        claimed = session.connection().execute(_statement("deliver.claim.pg"), {"notice_id": prepared.notice_id})
    else:
        claimed = session.connection().execute(
            _statement("deliver.claim.pg_at" if postgres else "deliver.claim"),
            {"notice_id": prepared.notice_id, "sent_at": stamp},
        )
    claimed = claimed.first()
    if claimed is None:
        session.rollback()
        return deliver(session=session, notice_id=prepared.notice_id, now=now)  # says why, or sends
    try:
        CHANNELS[prepared.channel].transmit(prepared.message)
    except Exception as error:  # noqa: BLE001  recorded, retried, then surfaced
        session.rollback()
        return _record_failure(session, prepared.notice_id, error, now)
    return "sent"


def _record_failure(session: Session, notice_id: int, error: Exception, now: datetime | None) -> str | None:
    notice = _lock_notice(session, notice_id)
    if notice is None or notice.status != "queued":
        return None
    moment = now or db_now(session)
    notice.attempts += 1
    notice.last_error = f"{type(error).__name__}: {error}"[:2000]
    notice.enqueued_at = None
    if notice.attempts >= int(_config("NOTICE_MAX_ATTEMPTS", 8)):
        notice.status, notice.failed_at = "failed", moment
        _surface_failure(session, notice, moment)
    else:
        notice.next_attempt_at = moment + backoff(notice.attempts)
    log.warning("notice %s attempt %s failed: %s", notice.id, notice.attempts, notice.last_error)
    return notice.status


def _unit_admins(session: Session, unit: Unit, now: datetime) -> list[User]:
    for candidate in _chain(unit):
        admins = _people(session, Role.admin, candidate, now)
        if admins:
            return admins
    return []


def _surface_failure(session: Session, notice: Notice, now: datetime) -> None:
    """A notice that finally failed: the incident's timeline and the inbox of the unit's admins."""
    incident = notice.incident
    timeline.record(
        session=session, kind="notice.failed", subject_type="incident", subject_id=incident.id,
        unit_id=incident.unit_id, now=now,
        data={"notice_id": notice.id, "channel": notice.channel, "recipient_user_id": notice.recipient_user_id,
              "webhook_id": notice.webhook_id, "attempts": notice.attempts, "error": notice.last_error[:500]},
    )
    payload = {**(notice.payload or {}), "failed_notice_id": notice.id, "failed_channel": notice.channel,
               "error": notice.last_error[:500]}
    for admin in _unit_admins(session, incident.unit, now):
        session.add(
            Notice(
                kind="delivery_failed", idempotency_key=f"failed:{notice.id}:user:{admin.id}:inapp",
                timer_id=notice.timer_id, incident_id=incident.id, about_notice_id=notice.id, channel="inapp",
                recipient_user_id=admin.id, payload=payload, status="sent", attempts=1, last_error="",
                due_at=now, queued_at=now, next_attempt_at=now, sent_at=now,
            )
        )


# --- acknowledging -----------------------------------------------------------------------------


def acknowledge(*, session: Session, notice_id: int, actor: User | None, now: datetime | None = None) -> Notice:
    """Someone acknowledged a notice. For a step that repeats `until: acknowledged`, its repeats
    stop: open ones are cancelled, and a repeat being fired right now sees the acknowledgement."""
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
            step = _stage_spec(timer.stage_run).escalation[timer.step_index or 0]
            if step.until == "acknowledged":
                stopped = _cancel(
                    session, Timer.stage_run_id == timer.stage_run_id, Timer.kind == "escalation_step",
                    Timer.step_index == timer.step_index, now=moment, reason="acknowledged",
                )
    timeline.record(
        session=session, kind="escalation.acknowledged", subject_type="incident", subject_id=notice.incident_id,
        unit_id=notice.incident.unit_id, actor_id=notice.acknowledged_by_id, now=moment,
        data={"notice_id": notice.id, "timer_id": notice.timer_id, "channel": notice.channel,
              "repeats_stopped": stopped},
    )
    session.flush()
    return notice


def acknowledge_as(*, session: Session, notice_id: int, actor: User, now: datetime | None = None) -> Notice:
    """Acknowledge as a signed-in person: the recipient, or someone acting in the incident's unit."""
    from crisis.units.service import acting_scope

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
    from crisis.incidents import service as incidents

    try:
        incidents.get(session=session, user=user, incident_id=incident_id, reload_runs=False)
    except NotFound:
        return False
    return True


# --- reading -----------------------------------------------------------------------------------


def notices_for_incident(*, session: Session, incident_id: int) -> list[Notice]:
    return list(
        session.scalars(
            select(Notice).where(Notice.incident_id == incident_id).order_by(Notice.queued_at.desc(), Notice.id.desc())
        )
    )


def list_for_incident(*, session: Session, user: User, incident_id: int) -> list[Notice]:
    """Whoever sees the incident (its units' tree, or a unit involved in it) sees its notices, as on
    the incident page."""
    from crisis.incidents import service as incidents

    incidents.get(session=session, user=user, incident_id=incident_id)  # 404 out of sight
    return notices_for_incident(session=session, incident_id=incident_id)


def inbox(*, session: Session, user: User, limit: int = 100) -> list[Notice]:
    return list(
        session.scalars(
            select(Notice).where(Notice.recipient_user_id == user.id, Notice.channel == "inapp")
            .order_by(Notice.queued_at.desc(), Notice.id.desc()).limit(limit)
        )
    )


def unread_count(session: Session, user: Any) -> int:
    """Unread in-app notices of a person (0 for anonymous visitors): the badge in the header."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return session.scalar(
        select(func.count(Notice.id)).where(
            Notice.recipient_user_id == user.id, Notice.channel == "inapp", Notice.read_at.is_(None)
        )
    ) or 0


def mark_read(*, session: Session, user: User, notice_id: int | None = None, now: datetime | None = None) -> int:
    """Mark one (or every) in-app notice of this person read."""
    conditions = [Notice.recipient_user_id == user.id, Notice.channel == "inapp", Notice.read_at.is_(None)]
    if notice_id is not None:
        conditions.append(Notice.id == notice_id)
    result = session.execute(
        update(Notice).where(*conditions).values(read_at=now or clock.now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def timers_for_incident(*, session: Session, incident_id: int) -> list[Timer]:
    return list(
        session.scalars(select(Timer).where(Timer.incident_id == incident_id).order_by(Timer.fire_at, Timer.id))
    )


# --- watching the watcher ----------------------------------------------------------------------

LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def _seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    if _is_postgres(session):
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _age(session: Session, column: Any, now: datetime | None) -> Any:
    if now is None and _is_postgres(session) and not _injected_clock():
        return func.extract("epoch", func.clock_timestamp() - column)
    moment = now or clock.now()
    if _is_postgres(session):
        return func.extract("epoch", literal(moment, UTCDateTime()) - column)
    return (func.julianday(moment.replace(tzinfo=None).isoformat(sep=" ")) - func.julianday(column)) * 86400.0


def engine_stats(*, session: Session, now: datetime | None = None) -> dict[str, Any]:
    """What /metrics and /readyz report: backlog, the age of the oldest overdue work, lateness."""
    cutoff = _cutoff(session, now)
    pending = dict(
        session.execute(select(Timer.kind, func.count()).where(Timer.state == "pending").group_by(Timer.kind)).all()
    )
    claimed = session.scalar(select(func.count()).where(Timer.state == "claimed")) or 0
    oldest_timer = session.scalar(
        select(func.max(_age(session, Timer.fire_at, now))).where(Timer.state == "pending", Timer.fire_at <= cutoff)
    )
    oldest_queued = session.scalar(
        select(func.max(_age(session, Notice.queued_at, now))).where(Notice.status == "queued")
    )
    oldest_overdue_notice = session.scalar(
        select(func.max(_age(session, Notice.next_attempt_at, now))).where(
            Notice.status == "queued", Notice.next_attempt_at <= cutoff
        )
    )
    by_channel = [
        (channel, status, count)
        for channel, status, count in session.execute(
            select(Notice.channel, Notice.status, func.count()).group_by(Notice.channel, Notice.status)
        )
    ]
    return {
        "timers_pending": pending,
        "timers_claimed": claimed,
        "oldest_overdue_timer_seconds": float(oldest_timer or 0.0),
        "oldest_queued_notice_seconds": float(oldest_queued or 0.0),
        "oldest_overdue_notice_seconds": float(oldest_overdue_notice or 0.0),
        "notices": by_channel,
        "notice_lateness": _histogram(session, Notice.sent_at, Notice.due_at, Notice.status == "sent"),
        "timer_lateness": _histogram(session, Timer.fired_at, Timer.fire_at, Timer.state == "fired"),
    }


def _histogram(session: Session, later: Any, earlier: Any, where: Any) -> dict[str, Any]:
    lateness = cast(_seconds_between(session, later, earlier), Float)
    columns = [func.sum(case((lateness <= bound, 1), else_=0)) for bound in LATENESS_BUCKETS]
    row = session.execute(select(func.count(), func.coalesce(func.sum(lateness), 0.0), *columns).where(where)).one()
    count, total, *cumulative = row
    return {"count": int(count or 0), "sum": float(total or 0.0),
            "buckets": [(bound, int(value or 0)) for bound, value in zip(LATENESS_BUCKETS, cumulative, strict=True)]}


def readiness(*, session: Session, late_seconds: float, now: datetime | None = None) -> dict[str, Any]:
    """The engine check of /readyz: fails when a due timer or a due delivery waited too long."""
    stats = engine_stats(session=session, now=now)
    worst = max(stats["oldest_overdue_timer_seconds"], stats["oldest_overdue_notice_seconds"])
    return {
        "ok": worst <= late_seconds,
        "oldest_overdue_timer_seconds": round(stats["oldest_overdue_timer_seconds"], 3),
        "oldest_overdue_notice_seconds": round(stats["oldest_overdue_notice_seconds"], 3),
        "timers_pending": sum(stats["timers_pending"].values()),
    }
