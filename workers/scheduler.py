"""The metronome and the engine loop.

APScheduler ticks every second (the heartbeat /readyz reads). Beside it runs the engine loop of
the deadline engine (shared/DESIGN.md): it sleeps until the earliest pending timer is due (at most
ENGINE_MAX_SLEEP_SECONDS), is woken early when a sooner timer is written (PostgreSQL LISTEN/NOTIFY;
in the embedded mode the writer sets an in-process event), claims due timers in batches, commits,
then enqueues `firing.fire_timers` in chunks. Each pass also claims again timers whose lease ran out and
hands over queued notices whose backoff passed or whose hand-off was lost. Every pass is an
idempotent sweep: two schedulers, a skipped tick or a duplicate message change nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_STARTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from crisis import ratelimit
from crisis.escalation import firing, timing
from crisis.extensions import db
from crisis.queueing import enqueue
from crisis.reports import tasks as report_tasks
from crisis.reviews import tasks as review_tasks
from crisis.system import retention
from crisis.system import service as system
from workers.tasks import chunks, deliver_notices, fire_timers

log = logging.getLogger(__name__)

NOTICE_SWEEP_EVERY = 0.5  # seconds between sweeps for notices to hand over again
BACKPRESSURE_WAIT = 0.005  # seconds before looking again when every worker is busy
SPREAD = 4  # a batch that fell due together is split into about this many tasks (one per worker process)
MIN_CHUNK = 10  # ... but no task gets fewer timers than this: a task has a fixed cost that its timers share


def split_claimed(ids: list[int], most: int) -> list[list[int]]:
    """Claimed timer ids as tasks: a large batch is shared by the workers, a small one stays whole."""
    size = min(most, max(MIN_CHUNK, -(-len(ids) // SPREAD)))
    return chunks(ids, size)


class Listener:
    """LISTEN crisis_timers on its own autocommit connection; reconnects after any failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    def connect(self) -> None:
        import psycopg

        self.close()
        self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        self.conn.execute(f"LISTEN {timing.NOTIFY_CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """True when woken by a notification, False on timeout."""
        try:
            if self.conn is None or self.conn.closed:
                self.connect()
            for _notify in self.conn.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except Exception:
            log.warning("LISTEN connection lost; sleeping instead until it is back", exc_info=True)
            self.close()
            time.sleep(timeout)
            return False

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self.conn.close()
            self.conn = None


class QueueDepth:
    """How many tasks wait in the broker, not yet taken by any worker (Redis only; 0 otherwise), and
    whether the broker lost what it held (restarted without persistence, or flushed)."""

    def __init__(self, broker_url: str | None, queue: str) -> None:
        self.queue = queue
        self.marker = f"crisis:broker-marker:{queue}"
        self.client: Any = None
        if broker_url and broker_url.startswith(("redis://", "rediss://")):
            import redis

            self.client = redis.Redis.from_url(broker_url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def waiting(self) -> int:
        if self.client is None:
            return 0
        try:
            return int(self.client.llen(self.queue))
        except Exception:  # noqa: BLE001  a broker that is down: enqueue fails and the leases recover
            return 0

    def came_back_empty(self) -> bool:
        """True once after the broker lost its data: a marker key written beside the queue is gone
        (also at the very first start, which costs one needless hand-over). Tasks handed over before
        are lost with it, so claimed timers and queued notices are handed over again at once instead
        of after their lease; the row states still keep each timer fired and each notice sent once."""
        if self.client is None:
            return False
        try:
            return bool(self.client.set(self.marker, "1", nx=True))
        except Exception:  # noqa: BLE001  down: enqueue fails too; asked again on the next pass
            return False


class Engine:
    """One engine loop. `sweep()` is one pass; `run()` loops until `stop` is set."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        config = app.config
        self.batch = int(config["TIMER_CLAIM_BATCH"])
        self.timer_lease = float(config["TIMER_LEASE_SECONDS"])
        self.notice_lease = float(config["NOTICE_LEASE_SECONDS"])
        self.max_sleep = float(config["ENGINE_MAX_SLEEP_SECONDS"])
        self.fire_chunk = int(config["ENGINE_FIRE_CHUNK"])
        self.queue_limit = int(config["ENGINE_QUEUE_LIMIT"])
        self.depth = QueueDepth(config.get("BROKER_URL"), config["TASK_QUEUE"])
        self.delivery_chunk = int(config["ENGINE_DELIVERY_CHUNK"])
        self.linger = float(config["ENGINE_LINGER_SECONDS"])
        self.claimed_last = False  # whether the last pass claimed any timer
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self._last_notice_sweep = 0.0
        self._broker_lost_at = float("-inf")  # time.monotonic() when the broker was last found empty
        self.listener: Listener | None = None
        url = config["SQLALCHEMY_DATABASE_URI"]
        if url.startswith("postgresql"):
            self.listener = Listener("postgresql://" + url.split("://", 1)[1])

    def sweep(self) -> float | None:
        """Claim and enqueue everything due now; returns seconds until the next pending timer."""
        with self.app.app_context():
            session = db.session
            try:
                # Claims whose lease ran out and notices to hand over again are looked for twice a
                # second; due timers on every pass.
                housekeeping = time.monotonic() - self._last_notice_sweep >= NOTICE_SWEEP_EVERY
                if housekeeping and self.depth.came_back_empty():
                    log.warning("the broker lost its queue: claimed timers and queued notices are handed over again")
                    self._broker_lost_at = time.monotonic()
                # Until a lease has passed since the loss, whatever was claimed or handed over before it
                # is handed over again: a worker that died with the broker may still have held some rows
                # locked at the first look (skipped then), and their messages are gone all the same.
                since_loss = time.monotonic() - self._broker_lost_at
                timer_lease = min(self.timer_lease, since_loss)
                notice_lease = min(self.notice_lease, since_loss)
                self.claimed_last = False
                reclaim = housekeeping
                while True:
                    if self.depth.waiting() > self.queue_limit:
                        # Every worker is busy: due timers wait in the database (where nothing is
                        # lost) and are claimed as one larger batch when a worker is free.
                        return BACKPRESSURE_WAIT
                    claimed = firing.claim_due(session=session, limit=self.batch, lease=timer_lease, reclaim=reclaim)
                    reclaim = False  # once per pass: with no lease, a second look would take this pass's own claims
                    full = len(claimed) == self.batch
                    if full:
                        delay = None
                    elif claimed and self.linger > 0:
                        delay = self.linger  # looked at again after the linger anyway: no query
                    else:
                        delay = firing.seconds_until_next(session=session)
                    session.commit()
                    self.claimed_last = self.claimed_last or bool(claimed)
                    # Whatever fell due together is fired together, shared by the workers.
                    enqueue(fire_timers, split_claimed([c.id for c in claimed], self.fire_chunk))
                    if not full:
                        break
                if housekeeping:
                    self._last_notice_sweep = time.monotonic()
                    notice_ids = firing.sweep_notices(session=session, lease=notice_lease, limit=self.batch)
                    session.commit()
                    enqueue(deliver_notices, chunks(notice_ids, self.delivery_chunk))
                return None if delay is None else float(delay)
            except Exception:
                session.rollback()
                raise
            finally:
                db.session.remove()

    def run(self) -> None:
        if self.listener is not None:
            try:
                self.listener.connect()  # before the first sweep: no NOTIFY falls in between
            except Exception:
                log.warning("cannot LISTEN yet; polling until the database answers", exc_info=True)
        while not self.stop.is_set():
            try:
                delay = self.sweep()
            except Exception:
                log.exception("engine sweep failed; retrying")
                delay = self.max_sleep
            wait = self.next_wait(delay)
            timing.WAKE.clear()
            if self.listener is not None:
                self.listener.wait(wait)
            else:
                timing.WAKE.wait(wait)
        if self.listener is not None:
            self.listener.close()

    def next_wait(self, delay: float | None) -> float:
        """Seconds to sleep after a pass that found the next timer `delay` seconds away (None: none)."""
        wait = self.max_sleep if delay is None else max(0.0, min(self.max_sleep, delay))
        if self.claimed_last and wait < self.linger:
            # Deadlines are falling due close together: gather the next few into one batch (one
            # claim, one task, one transaction) at the cost of at most `linger` of lateness.
            wait = self.linger
        return wait if wait > 0 else 0.002  # due but not claimable (another scheduler holds it): no spin

    def start(self) -> None:
        self.stop.clear()
        self.thread = threading.Thread(target=self.run, name="crisis-engine", daemon=True)
        self.thread.start()

    def shutdown(self) -> None:
        self.stop.set()
        timing.WAKE.set()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def tick(app: Flask, name: str, engine: Engine | None = None) -> None:
    with app.app_context():
        try:
            system.record_tick(session=db.session, name=name)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("scheduler tick failed; the next tick retries")
        finally:
            db.session.remove()
    if engine is not None and not engine.alive and not engine.stop.is_set():
        # The engine loop died: sweep from the metronome so deadlines still leave (at 1 s precision).
        try:
            engine.sweep()
        except Exception:
            log.exception("fallback sweep failed; the next tick retries")


def minutely(app: Flask) -> None:
    """Cron-like sweeps; each is idempotent, so two schedulers running them is harmless."""
    with app.app_context():
        sweeps = (
            report_tasks.refresh_measures,
            report_tasks.monthly_sweep,
            review_tasks.reminder_sweep,
            retention.daily_sweep,
            ratelimit.sweep_expired,
        )
        for sweep in sweeps:
            try:
                sweep(db.session)
            except Exception:
                db.session.rollback()
                log.exception("%s failed; the next minute retries", sweep.__name__)
        db.session.remove()


def build_scheduler(app: Flask, *, background: bool) -> BaseScheduler:
    scheduler_cls = BackgroundScheduler if background else BlockingScheduler
    # Ticks may be skipped or coalesced: each one sweeps everything that is due.
    scheduler = scheduler_cls(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    name = system.scheduler_name()
    engine = Engine(app)
    app.extensions["crisis.engine"] = engine

    def _lifecycle(event: Any) -> None:
        if event.code == EVENT_SCHEDULER_STARTED:
            engine.start()
        elif event.code == EVENT_SCHEDULER_SHUTDOWN:
            engine.shutdown()

    scheduler.add_listener(_lifecycle, EVENT_SCHEDULER_STARTED | EVENT_SCHEDULER_SHUTDOWN)
    scheduler.add_job(tick, "interval", seconds=1, args=[app, name, engine], id="tick", next_run_time=datetime.now(UTC))
    scheduler.add_job(minutely, "interval", minutes=1, args=[app], id="minutely")
    return scheduler
