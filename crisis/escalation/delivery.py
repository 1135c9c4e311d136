"""Delivering notices through their channels, with retries and backoff; a notice that finally
fails is shown on the incident's timeline and to the unit's admins, never dropped.

`deliver` locks its notice (SKIP LOCKED) for the length of the send and does nothing unless the
notice is still `queued`. The at-least-once window is the moment between the receiver accepting a
message and our commit of `sent`: a worker killed exactly there sends that one notice again, with
the same Message-ID / X-Crisis-Notice-Id so the receiver can drop it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    select,
    text,
)
from sqlalchemy.orm import Session, defer, joinedload

from crisis import clock
from crisis.auth.models import Membership, Role, User
from crisis.escalation.firing import why_not
from crisis.escalation.models import Timer
from crisis.escalation.queries import driver_statement, hot_statement
from crisis.escalation.recipients import members_in_role, unit_chain
from crisis.escalation.timing import FIRED, db_now, injected_clock, is_postgres, setting, stamp
from crisis.incidents.models import Incident
from crisis.notify import chat
from crisis.notify.channels import CHANNELS, DeliveryError, PermanentDeliveryError
from crisis.notify.models import Notice
from crisis.timeline import service as timeline
from crisis.units.models import Unit

log = logging.getLogger(__name__)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2x, 4x ... up to the cap."""
    base = float(setting("NOTICE_RETRY_BASE_SECONDS", 5.0))
    cap = float(setting("NOTICE_RETRY_MAX_SECONDS", 300.0))
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _lock_notice(session: Session, notice_id: int) -> Notice | None:
    # One round trip for the notice and what it needs; the lock is on the notice row only.
    return (
        session.scalars(
            select(Notice)
            .where(Notice.id == notice_id)
            .options(
                joinedload(Notice.timer).joinedload(Timer.stage_run),
                joinedload(Notice.incident).options(joinedload(Incident.unit), defer(Incident.playbook_snapshot)),
                joinedload(Notice.recipient).joinedload(User.memberships).joinedload(Membership.unit),
            )
            .with_for_update(skip_locked=True, of=Notice)
            .execution_options(populate_existing=True)
        )
        .unique()
        .first()
    )


def deliver(*, session: Session, notice_id: int, now: datetime | None = None) -> str | None:
    """Send one queued notice through its channel. Returns the notice's status afterwards, or None
    when another worker holds it or it was not due. The caller commits at once.

    The notice is marked sent in the open transaction *before* it is handed to the channel, so that
    once the receiver has accepted it only our COMMIT remains (one round trip, not waiting for the
    disk): that is the whole at-least-once window. Should the send fail, that transaction is rolled
    back and the failure recorded in a new one."""
    notice = _lock_notice(session, notice_id)
    if notice is None or notice.status != "queued":
        return None
    if notice.next_attempt_at > (now or clock.now()) + timedelta(seconds=1):
        return None  # a retry not yet due; the tick hands it over when it is (a coarse check: any clock)
    if notice.timer is not None:
        # A step acknowledged after this notice was written still tells its recipient: not checked here.
        reason = why_not(session, notice.timer, notice.incident, notice.timer.stage_run, check_ack=False)
        if reason is not None:
            notice.status, notice.last_error = "cancelled", reason
            return notice.status
    channel = CHANNELS.get(notice.channel)
    not_set_up = channel.not_set_up() if channel is not None else None
    if not_set_up is not None:
        notice.status, notice.last_error = "cancelled", not_set_up
        return notice.status
    try:
        if channel is None:
            raise DeliveryError(f"no channel named {notice.channel!r}")
        message = channel.prepare(notice)
        notice.attempts += 1
        notice.status, notice.sent_at, notice.last_error = "sent", now or stamp(session), ""
        session.flush()
        if is_postgres(session):
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
    prepared: list[Prepared] = []
    fired = session.info.get(FIRED, {})
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
    """Send a notice prepared by `prepare_notices` after the firing committed (see `deliver_batch`);
    the caller commits. None when it was no longer to be sent by us."""
    batch = deliver_batch(session=session, prepared=[prepared], now=now)
    if batch.unclaimed:
        session.rollback()
        return deliver(session=session, notice_id=prepared.notice_id, now=now)  # says why, or sends
    return batch.status[prepared.notice_id]


@dataclass
class Batch:
    """What `deliver_batch` did: the status of each notice it claimed, and those it did not claim."""

    status: dict[int, str | None]
    unclaimed: list[int]


def deliver_batch(*, session: Session, prepared: list[Prepared], now: datetime | None = None) -> Batch:
    """Send notices prepared by `prepare_notices` after the firing committed. One UPDATE claims them all
    (row locks; still queued; their incident, and stage if they have one, still open: a stage completed
    in between sends nothing) and marks them sent; then the channels transmit, one after the other (the
    e-mails over the worker's one kept SMTP connection); the caller commits once. A notice whose
    transmission failed is put back in the same transaction, its failure recorded (retry with backoff).

    The at-least-once window is the batch's: a worker killed after a receiver accepted one of them and
    before the commit sends those again (same Message-ID). The firing task therefore passes one notice
    at a time and commits after each. Notices not claimed (sent, cancelled or held by someone else)
    are returned for `deliver`, which says why or sends, after the caller's commit."""
    if not prepared:
        return Batch({}, [])
    postgres = is_postgres(session)
    sent_at = now or stamp(session)
    ids = [item.notice_id for item in prepared]
    if postgres and not isinstance(sent_at, datetime):
        # clock_timestamp() as sent_at, and SET LOCAL synchronous_commit TO OFF (see deliver), in
        # the same round trip.
        if len(ids) == 1:
            claimed = session.connection().execute(hot_statement("deliver.claim.pg.one"), {"notice_id": ids[0]})
        else:
            claimed = session.connection().execute(hot_statement("deliver.claim.pg"), {"ids": ids})
    else:
        claimed = session.connection().execute(
            hot_statement("deliver.claim.pg_at" if postgres else "deliver.claim"),
            {"ids": ids, "sent_at": sent_at, "due_by": (now or clock.now()) + timedelta(seconds=1)},
        )
    mine = {row[0] for row in claimed}
    status: dict[int, str | None] = {}
    for item in prepared:
        if item.notice_id not in mine:
            continue
        try:
            CHANNELS[item.channel].transmit(item.message)
            status[item.notice_id] = "sent"
        except Exception as error:  # noqa: BLE001  recorded, retried, then surfaced
            status[item.notice_id] = _record_failure(session, item.notice_id, error, now, claimed=True)
    return Batch(status, [notice_id for notice_id in ids if notice_id not in mine])


def send_prepared(*, session: Session, prepared: list[Prepared]) -> list[int]:
    """Send notices prepared by `prepare_notices`, after the firing committed, each claimed and committed
    alone: a worker killed after a receiver accepted one notice and before its commit sends that one
    again (same Message-ID), never the others. (One commit for a task's notices cost less, but a kill -9
    in the benchmark then resent 18 of them.) A failed send is recorded with its backoff. Returns the
    notices not claimed here (sent, cancelled, not due, held by someone else), for `deliver`, which
    says why or sends.

    On PostgreSQL with the database's clock (production) the claim and its commit run on the driver's
    connection itself, as a statement prepared by the database: SQLAlchemy's execution and session
    transaction cost more CPU than the claim, and a deadline pays them for each notice."""
    if not prepared:
        return []
    bind = session.get_bind()
    if bind.dialect.driver != "psycopg" or injected_clock():  # psycopg 3: the URL is made so (crisis.create_app)
        return _send_in_session(session, prepared)
    rest: list[int] = []
    failed: list[tuple[int, Exception]] = []
    sql, fixed = driver_statement("deliver.claim.pg.one", bind.dialect)
    with bind.connect() as connection:
        driver = connection.connection.dbapi_connection
        assert driver is not None  # nosec B101  # type narrowing: a checked-out connection has one
        database_error = bind.dialect.dbapi.Error
        with driver.cursor() as cursor:
            for position, item in enumerate(prepared):
                stage = "claim"
                try:
                    cursor.execute(sql, {**fixed, "notice_id": item.notice_id}, prepare=True)
                    if cursor.fetchone() is None:
                        driver.rollback()
                        rest.append(item.notice_id)
                        continue
                    stage = "send"
                    try:
                        CHANNELS[item.channel].transmit(item.message)
                    except Exception as error:  # noqa: BLE001  recorded below, retried, then surfaced
                        stage = "failure"
                        driver.rollback()  # the claim undone: the failure is recorded as an attempt below
                        failed.append((item.notice_id, error))
                        continue
                    stage = "commit"
                    driver.commit()
                except database_error:
                    # The connection is gone or unusable: the rest go through `deliver` on a fresh one. A
                    # notice sent but whose commit was lost is sent again when its lease ends (same
                    # Message-ID), as after a kill.
                    log.exception("notice %s: the database failed at its %s", item.notice_id, stage)
                    connection.invalidate()
                    rest.extend(other.notice_id for other in prepared[position + (stage != "claim") :])
                    break
    for notice_id, error in failed:
        try:
            _record_failure(session, notice_id, error, None)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("the failure of notice %s was not recorded; the lease sweep retries", notice_id)
    return rest


def _send_in_session(session: Session, prepared: list[Prepared]) -> list[int]:
    """`send_prepared` through the session (SQLite, or an injected clock)."""
    rest: list[int] = []
    for item in prepared:
        try:
            rest += deliver_batch(session=session, prepared=[item]).unclaimed
            session.commit()
        except Exception:
            session.rollback()
            log.exception("delivery of notice %s failed; the lease sweep retries", item.notice_id)
    return rest


def _record_failure(
    session: Session, notice_id: int, error: Exception, now: datetime | None, *, claimed: bool = False
) -> str | None:
    """A failed attempt. `claimed`: the notice was marked sent (and its attempt counted) by
    `deliver_batch` in this transaction, which still holds its lock: it is put back first."""
    notice = _lock_notice(session, notice_id)
    if claimed and notice is not None and notice.status == "sent":
        notice.status, notice.sent_at = "queued", None
    elif notice is None or notice.status != "queued":
        return None
    else:
        notice.attempts += 1
    moment = now or db_now(session)
    notice.last_error = f"{type(error).__name__}: {error}"[:2000]
    notice.enqueued_at = None
    permanent = isinstance(error, PermanentDeliveryError)
    if permanent:
        notice.last_error = str(error)[:2000]  # already a sentence: the reason in words
    if permanent or notice.attempts >= int(setting("NOTICE_MAX_ATTEMPTS", 8)):
        give_up(session, notice, error, moment)
    else:
        wait = backoff(notice.attempts)
        retry_after = getattr(error, "retry_after", None)
        if retry_after:  # the receiver said how long (HTTP 429): never sooner
            wait = max(wait, timedelta(seconds=float(retry_after)))
        notice.next_attempt_at = moment + wait
    log.warning("notice %s attempt %s failed: %s", notice.id, notice.attempts, notice.last_error)
    return notice.status


def give_up(session: Session, notice: Notice, error: Exception, now: datetime) -> None:
    """A notice that cannot be delivered (also one a chat service reported failed after accepting it):
    failed, shown to the unit's admins, the person's broken chat link marked (and the person told), and
    the same message sent on the person's next channel."""
    notice.status, notice.failed_at = "failed", now
    _surface_failure(session, notice, now)
    if isinstance(error, PermanentDeliveryError) and error.broken_link and notice.recipient_user_id is not None:
        chat.break_link(
            session=session,
            user_id=notice.recipient_user_id,
            channel=notice.channel,
            reason=str(error),
            now=now,
            notice=notice,
        )
    chat.fall_back(session=session, notice=notice, now=now)


def _unit_admins(session: Session, unit: Unit, now: datetime) -> list[User]:
    for candidate in unit_chain(unit):
        admins = members_in_role(session, Role.admin, candidate, now)
        if admins:
            return admins
    return []


def _surface_failure(session: Session, notice: Notice, now: datetime) -> None:
    """A notice that finally failed: the incident's timeline and the inbox of the unit's admins."""
    incident = notice.incident
    timeline.record(
        session=session,
        kind="notice.failed",
        subject_type="incident",
        subject_id=incident.id,
        unit_id=incident.unit_id,
        now=now,
        data={
            "notice_id": notice.id,
            "channel": notice.channel,
            "recipient_user_id": notice.recipient_user_id,
            "webhook_id": notice.webhook_id,
            "attempts": notice.attempts,
            "error": notice.last_error[:500],
        },
    )
    payload = {
        **(notice.payload or {}),
        "failed_notice_id": notice.id,
        "failed_channel": notice.channel,
        "error": notice.last_error[:500],
    }
    for admin in _unit_admins(session, incident.unit, now):
        session.add(
            Notice(
                kind="delivery_failed",
                idempotency_key=f"failed:{notice.id}:user:{admin.id}:inapp",
                timer_id=notice.timer_id,
                incident_id=incident.id,
                about_notice_id=notice.id,
                channel="inapp",
                recipient_user_id=admin.id,
                payload=payload,
                status="sent",
                attempts=1,
                last_error="",
                due_at=now,
                queued_at=now,
                next_attempt_at=now,
                sent_at=now,
            )
        )
