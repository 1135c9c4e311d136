"""Backpressure: while every worker is busy, due timers wait in the database, then leave together."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from crisis.escalation.models import Timer
from tests.conftest import FIXED_NOW, REDIS_URL
from tests.factories import open_incident
from workers.scheduler import BACKPRESSURE_WAIT, Engine, QueueDepth

LATER = timedelta(hours=3)  # past the first stage's target, its steps and their repeats; before any update is due


@pytest.fixture
def queue():
    client = redis.Redis.from_url(REDIS_URL)
    name = f"crisis-test-{uuid.uuid4().hex[:8]}"
    yield client, name
    client.delete(name)
    client.close()


def _states(db) -> dict[str, int]:
    return dict(db.session.execute(select(Timer.state, func.count()).group_by(Timer.state)).all())


def test_due_timers_wait_in_the_database_while_the_queue_is_full(app, db, org, queue, clock):
    client, name = queue
    # Started at FIXED_NOW; the engine sweeps hours later: its stage and steps are all due.
    open_incident(db.session, org, now=FIXED_NOW)
    db.session.commit()
    clock.now = FIXED_NOW + LATER
    due = _states(db)["pending"]
    engine = Engine(app)
    engine.depth = QueueDepth(REDIS_URL, name)
    client.rpush(name, *[b"busy"] * (engine.queue_limit + 1))

    assert engine.sweep() == BACKPRESSURE_WAIT
    db.session.expire_all()
    assert _states(db) == {"pending": due}  # nothing claimed, nothing lost

    client.delete(name)  # a worker took the waiting tasks
    engine.sweep()  # embedded mode: the claimed batch is fired in-process
    db.session.expire_all()
    states = _states(db)
    assert states.get("claimed", 0) == 0 and states["fired"] >= 3, states


def test_a_broker_that_is_down_does_not_hold_the_engine():
    assert QueueDepth("redis://127.0.0.1:1/0", "crisis").waiting() == 0
    assert QueueDepth(None, "crisis").waiting() == 0


def test_after_claiming_the_engine_lingers_to_gather_the_next_deadlines(app, db, org, clock):
    engine = Engine(app)
    engine.linger = 0.01
    # Nothing due: a pass claims nothing, and a deadline 1 ms away is waited for exactly.
    engine.sweep()
    assert engine.claimed_last is False
    assert engine.next_wait(0.001) == 0.001
    assert engine.next_wait(None) == engine.max_sleep

    open_incident(db.session, org, now=FIXED_NOW)
    db.session.commit()
    clock.now = FIXED_NOW + LATER  # hours later: its stage and steps are all due
    engine.sweep()
    assert engine.claimed_last is True
    # The next deadline is 1 ms away (or overdue): wait the linger, so it leaves with the ones after it.
    assert engine.next_wait(0.001) == 0.01
    assert engine.next_wait(-3.0) == 0.01
    assert engine.next_wait(0.5) == 0.5  # a later one is not waited for any longer than it needs

    for _ in range(50):  # firing planned repeats, also overdue: sweep until nothing is left to claim
        engine.sweep()
        if not engine.claimed_last:
            break
    assert engine.claimed_last is False
    assert engine.next_wait(0.001) == 0.001
    engine.linger = 0.0
    engine.claimed_last = True
    assert engine.next_wait(0.0) == 0.002  # due but held by another scheduler: no busy loop


def test_a_claimed_batch_is_shared_by_the_workers_but_small_ones_stay_whole():
    from workers.scheduler import split_claimed

    assert split_claimed([1], 25) == [[1]]
    assert split_claimed([1, 2, 3], 25) == [[1, 2, 3]]  # one task: three tasks would cost three times as much
    assert split_claimed(list(range(8)), 25) == [list(range(8))]  # what a burst gathers in one linger: one task
    assert [len(c) for c in split_claimed(list(range(20)), 25)] == [10, 10]  # shared, in shares of at least ten
    assert [len(c) for c in split_claimed(list(range(60)), 25)] == [15] * 4  # one per worker process
    assert [len(c) for c in split_claimed(list(range(200)), 25)] == [25] * 8  # capped by ENGINE_FIRE_CHUNK
    assert split_claimed(list(range(6)), 2) == [[0, 1], [2, 3], [4, 5]]


def test_tasks_go_to_the_celery_app_of_the_flask_app_in_context(app, db, org, pg_url, tmp_path_factory, clock):
    from tests.conftest import make_app

    # Made last, this app's Celery (a broker nobody listens on) becomes Celery's default app, the one
    # a shared task sends to unless told otherwise.
    other = make_app(pg_url, tmp_path_factory, BROKER_URL="redis://127.0.0.1:1/0")
    try:
        open_incident(db.session, org, now=FIXED_NOW)
        db.session.commit()
        clock.now = FIXED_NOW + LATER  # hours later: its stage and steps are all due
        Engine(app).sweep()  # this app is embedded: its tasks run in-process
    finally:
        app.extensions["celery"].set_default()
        with other.app_context():
            db.engine.dispose()
    db.session.expire_all()
    states = _states(db)
    assert states.get("claimed", 0) == 0 and states["fired"] >= 3, states
