"""Failure tests on real PostgreSQL, a private Redis, real celery workers, a real `crisis scheduler`
and a real SMTP server. Each asserts the exact set of notices the receivers got."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select

from crisis.escalation.models import Timer
from crisis.extensions import db as _db
from crisis.notify.models import Notice
from tests.engine.procs import FIRST_STEP, RedisServer, Stack, expected_email_keys, incident_due_in
from tests.engine.sinks import SmtpSink, WebhookSink
from tests.factories import complete_stage, open_incident
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.real_clock]


def _sent_all(smtp, count: int):
    return lambda: len(smtp.keys()) >= count


def _raw_pg(pg_url: str) -> psycopg.Connection:
    return psycopg.connect("postgresql://" + pg_url.split("://", 1)[1])


def _waiting_on_a_lock(pg_url: str) -> bool:
    with _raw_pg(pg_url) as conn:
        return bool(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
        )


def test_worker_killed_after_the_claim_fires_after_the_lease_exactly_once(stack, org, pg_url):
    [worker] = stack.start()
    incident = incident_due_in(org, 1.5)
    run_id = incident.stage_runs[0].id
    # Hold the stage run so the worker stops inside fire_timers, after the claim, before its commit.
    with _raw_pg(pg_url) as blocker:
        blocker.execute("SELECT id FROM stage_run WHERE id = %s FOR UPDATE", (run_id,))
        assert wait_until(lambda: _waiting_on_a_lock(pg_url), timeout=20)
        worker.kill()
        blocker.rollback()
    _db.session.expire_all()
    timer = _db.session.scalar(
        select(Timer).where(Timer.kind == "escalation_step", Timer.step_index == 0, Timer.repeat_index == 0)
    )
    assert timer.state == "claimed"
    stack.worker()
    assert wait_until(_sent_all(stack.smtp, 1), timeout=30)
    stack.past_a_lease()  # past another lease: nothing more arrives
    assert stack.smtp.keys() == expected_email_keys() and len(stack.smtp.keys()) == 1
    _db.session.expire_all()
    timer = _db.session.get(Timer, timer.id)
    assert timer.state == "fired" and timer.attempt >= 2


def test_worker_killed_while_delivering_delivers_after_restart_without_duplicates(stack, org):
    import threading

    stack.smtp.recorder.hold = threading.Event()
    [worker] = stack.start()
    incident_due_in(org, 1)
    assert stack.smtp.recorder.stalled.wait(30), "the worker never reached the SMTP server"
    worker.kill()  # in the middle of the SMTP conversation: nothing was accepted
    stack.smtp.recorder.hold.set()
    stack.worker()
    assert wait_until(_sent_all(stack.smtp, 1), timeout=30)
    stack.past_a_lease()
    # At least once: a crash between the server's 250 and our commit would resend (same Message-ID).
    # Killed before the 250, as here, the number of duplicates is 0.
    assert stack.smtp.keys() == expected_email_keys() and len(stack.smtp.keys()) == 1


def test_database_connections_cut_under_the_engine_cost_one_retry_not_a_lease(stack, org, pg_url):
    # The scheduler and the workers do not ping pooled connections at checkout (a round trip per
    # transaction): a connection that died fails one statement, the pool is discarded, the work retried.
    stack.start()
    incident_due_in(org, 1)
    assert wait_until(_sent_all(stack.smtp, 1), timeout=30)
    _db.session.commit()
    with _raw_pg(pg_url) as admin:  # what a database restart or a failover does to every pooled connection
        cut = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()[0]
    assert cut >= 2  # at least the scheduler's and the worker's
    incident_due_in(org, 1, unit="KAB-BANYUMAS")
    assert wait_until(_sent_all(stack.smtp, 2), timeout=30)
    stack.past_a_lease()  # nothing more arrives
    assert stack.smtp.keys() == expected_email_keys() and len(stack.smtp.keys()) == 2
    _db.session.expire_all()
    fired = _db.session.scalars(select(Timer).where(Timer.state == "fired")).all()
    notices = _db.session.scalars(select(Notice).where(Notice.channel == "email")).all()
    # Fired on their first claim and sent on the first attempt: no lease had to run out.
    assert [t.attempt for t in fired] == [1, 1]
    assert sorted(n.attempts for n in notices) == [1, 1] and {n.status for n in notices} == {"sent"}


@pytest.mark.engine_config(ENGINE_INLINE_DELIVERIES=0)  # every notice rides the queue: Redis loses them too
def test_redis_flushed_and_restarted_with_claimed_timers_and_queued_notices_delivers_each_once(stack, org):
    import threading

    stack.start(workers=0)
    for unit in ("KOTA-SEMARANG", "KOTA-MAKASSAR"):
        incident_due_in(org, 0.5, unit=unit)
    _db.session.expire_all()
    assert wait_until(
        lambda: (
            _db.session.scalar(select(Timer).where(Timer.state == "claimed").limit(1)) is not None
            or _db.session.expire_all()
        ),
        timeout=20,
    )
    stack.redis.flushall()  # the fire_timers messages are gone; no worker had taken them
    stack.worker()
    assert wait_until(_sent_all(stack.smtp, 2), timeout=30)
    # Queued notices whose messages die with Redis: the one worker is stuck sending the first one.
    stack.smtp.recorder.hold = threading.Event()
    stack.smtp.recorder.stalled.clear()
    for unit in ("KOTA-JAYAPURA", "KAB-GOWA", "KAB-JAYAPURA"):
        incident_due_in(org, 0.5, unit=unit)
    assert stack.smtp.recorder.stalled.wait(30)
    assert wait_until(lambda: stack.pending_due() == 0, timeout=20)  # every one claimed and handed to Redis
    stack.redis.kill()
    stack.redis.start()  # empty: --save "" and no AOF
    stack.smtp.recorder.hold.set()
    assert wait_until(_sent_all(stack.smtp, 5), timeout=60)
    stack.past_a_lease()
    assert stack.smtp.keys() and sorted(stack.smtp.keys()) == expected_email_keys()
    assert len(stack.smtp.keys()) == 5


def test_redis_down_for_a_while_loses_nothing(stack, org):
    stack.start()
    stack.redis.kill()
    # The web side keeps working without Redis: stages advance, timers are written and cancelled.
    completed = incident_due_in(org, 30, unit="KOTA-MAKASSAR")
    complete_stage(_db.session, completed.stage_runs[0], now=datetime.now(UTC))
    _db.session.commit()
    incident_due_in(org, 0.5)
    incident_due_in(org, 1, unit="KAB-BANYUMAS")
    # Both fall due and are claimed; their messages cannot reach Redis.
    assert wait_until(lambda: stack.pending_due() == 0 and stack.claimed() >= 2, timeout=20)
    assert stack.smtp.keys() == []
    stack.redis.start()
    assert wait_until(_sent_all(stack.smtp, 2), timeout=60)
    stack.past_a_lease()
    assert sorted(stack.smtp.keys()) == expected_email_keys() and len(stack.smtp.keys()) == 2


def test_duplicate_tasks_and_two_schedulers_send_no_duplicate_notice(stack, org, app):
    stack.start(schedulers=2, concurrency=2)
    for unit in ("KOTA-SEMARANG", "KOTA-MAKASSAR", "KOTA-JAYAPURA", "KAB-GOWA"):
        incident_due_in(org, 1.5, unit=unit)
    assert wait_until(_sent_all(stack.smtp, 4), timeout=30)
    # Every task delivered again, twice, as a broker re-delivery would.
    from celery import Celery

    sender = Celery(broker=stack.redis.url)
    _db.session.expire_all()
    sent = []
    for _ in range(2):
        for timer_id in _db.session.scalars(select(Timer.id)):
            sent.append(sender.send_task("escalation.fire_timers", args=[[timer_id]], queue=stack.queue).id)
        for notice_id in _db.session.scalars(select(Notice.id)):
            sent.append(sender.send_task("escalation.deliver_notices", args=[[notice_id]], queue=stack.queue).id)
    assert wait_until(lambda: stack.finished(sent), timeout=60)
    assert wait_until(stack.at_rest, timeout=30)
    assert sorted(stack.smtp.keys()) == expected_email_keys() and len(stack.smtp.keys()) == 4


def test_a_stage_completed_while_its_timer_fires_sends_nothing_after_the_completion(stack, org, pg_url):
    stack.start()
    incident = incident_due_in(org, 2)
    run = incident.stage_runs[0]
    # The completing transaction holds the stage run; the worker's fire_timers waits behind it.
    _db.session.execute(select(type(run)).where(type(run).id == run.id).with_for_update())
    assert wait_until(lambda: _waiting_on_a_lock(pg_url), timeout=20)
    complete_stage(_db.session, run, now=datetime.now(UTC), start_next=False)
    _db.session.commit()
    assert wait_until(stack.at_rest, timeout=30)  # the waiting task went on, and found the stage completed
    assert stack.smtp.keys() == []
    _db.session.expire_all()
    timer = _db.session.scalar(select(Timer).where(Timer.kind == "escalation_step", Timer.step_index == 0))
    assert timer.state == "cancelled"


def test_after_ten_minutes_without_a_scheduler_overdue_timers_fire_once_oldest_first(stack, org):
    stack.worker(wait=False)
    now = datetime.now(UTC)
    for minutes, unit in ((10, "KOTA-MAKASSAR"), (9, "KOTA-SEMARANG"), (8, "KOTA-JAYAPURA")):
        open_incident(
            _db.session,
            org,
            now=now,
            unit=unit,
            commander=(unit, "officer"),
            started_at=now - FIRST_STEP - timedelta(minutes=minutes),
        )
    _db.session.commit()
    stack.scheduler()
    assert wait_until(_sent_all(stack.smtp, 3), timeout=30)
    assert wait_until(stack.at_rest, timeout=30)
    assert sorted(stack.smtp.keys()) == expected_email_keys() and len(stack.smtp.keys()) == 3
    _db.session.expire_all()
    # Timers fired in one batch share its moment; between batches, the older fire first. (Ties were
    # once in row order by luck: the unit of work updated them one by one, oldest first.)
    fired = _db.session.scalars(
        select(Timer).where(Timer.state == "fired").order_by(Timer.fired_at, Timer.fire_at)
    ).all()
    assert [t.fire_at for t in fired] == sorted(t.fire_at for t in fired)
    assert all(timedelta(minutes=8) <= t.fired_at - t.fire_at < timedelta(minutes=11) for t in fired)
    arrival = [m["key"] for m in sorted(stack.smtp.messages, key=lambda m: m["arrived"])]
    by_fire = [
        n.idempotency_key
        for n in _db.session.scalars(
            select(Notice).join(Timer).where(Notice.channel == "email").order_by(Timer.fire_at)
        )
    ]
    assert arrival == by_fire


def test_receivers_down_then_up_get_their_notices_after_retries(pg_url, tmp_path, db, org):
    smtp_port = free_port()
    redis = RedisServer(tmp_path).start()
    hook = WebhookSink().start()
    hook.statuses = [500, 500, 500]
    stack = Stack(pg_url, tmp_path, redis, smtp_port)
    smtp = SmtpSink(smtp_port)
    try:
        from crisis.notify import service as notify

        notify.create_webhook(
            session=_db.session,
            actor=org["users"][("JATENG", "admin")],
            unit_id=org["units"]["KOTA-SEMARANG"].id,
            name="chat",
            url=hook.url,
        )
        _db.session.commit()
        stack.start()
        incident_due_in(org, 0.5)

        def email_notice():
            _db.session.expire_all()
            return _db.session.scalar(select(Notice).where(Notice.channel == "email"))

        # The SMTP server is down: attempts fail and back off.
        assert wait_until(lambda: email_notice() is not None and email_notice().attempts >= 2, timeout=30)
        email = email_notice()
        assert email.status == "queued" and "Connection" in email.last_error
        smtp.start()
        assert wait_until(lambda: len(smtp.keys()) == 1 and len(hook.keys()) == 1, timeout=30)
        assert wait_until(stack.at_rest, timeout=30)
        assert smtp.keys() == expected_email_keys()
        assert hook.keys() == sorted(
            _db.session.scalars(select(Notice.idempotency_key).where(Notice.channel == "webhook"))
        )
        _db.session.expire_all()
        webhook_notice = _db.session.scalar(select(Notice).where(Notice.channel == "webhook"))
        assert webhook_notice.status == "sent" and webhook_notice.attempts == 4
    finally:
        stack.stop()
        smtp.stop()
        hook.stop()


@pytest.mark.engine_config(TIMER_LEASE_SECONDS=600, NOTICE_LEASE_SECONDS=600, ENGINE_INLINE_DELIVERIES=0)
def test_a_broker_that_came_back_empty_is_noticed_and_its_work_handed_over_before_any_lease(stack, org):
    """Leases of ten minutes: what reaches the receivers within a minute was handed over again because
    the scheduler saw the broker's marker gone, not because a lease ran out."""
    import threading

    stack.start(workers=0)
    for unit in ("KOTA-SEMARANG", "KOTA-MAKASSAR"):
        incident_due_in(org, 0.5, unit=unit)
    assert wait_until(lambda: stack.pending_due() == 0 and stack.claimed() == 2, timeout=20)
    stack.redis.kill()
    stack.redis.start()  # empty: the two fire_timers messages are gone
    stack.worker()
    assert wait_until(_sent_all(stack.smtp, 2), timeout=60)
    # Queued notices whose messages die with Redis: the one worker is stuck sending the first one.
    stack.smtp.recorder.hold = threading.Event()
    stack.smtp.recorder.stalled.clear()
    for unit in ("KOTA-JAYAPURA", "KAB-GOWA", "KAB-JAYAPURA"):
        incident_due_in(org, 0.5, unit=unit)
    assert stack.smtp.recorder.stalled.wait(30)
    assert wait_until(lambda: stack.pending_due() == 0, timeout=20)
    stack.redis.kill()
    stack.redis.start()
    stack.smtp.recorder.hold.set()
    assert wait_until(_sent_all(stack.smtp, 5), timeout=60)
    assert sorted(stack.smtp.keys()) == expected_email_keys() and len(stack.smtp.keys()) == 5
