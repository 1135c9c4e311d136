"""Real processes for the failure tests: a private redis-server, celery workers and `crisis
scheduler`, each on loopback and each owned by the test that started it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

from crisis.extensions import db as _db
from crisis.notify.models import Notice
from tests.factories import open_incident
from tests.helpers import BIN, ROOT, crisis_env, free_port, wait_until

FIRST_STEP = timedelta(minutes=15)  # viral-service-complaint, verify: supervisor@own after 15m


class RedisServer:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_until(self.ping, timeout=10), "redis-server did not start"
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def flushall(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


# Celery's worker log at INFO: one line when a task arrives, one when it ends.
TASK_LINE = re.compile(r"Task [\w.]+\[(?P<id>[0-9a-f-]+)\] (?P<verb>received|succeeded|raised|retry|failed)")


class Proc:
    """A child process in its own process group, so SIGKILL takes its children (pool workers) too."""

    UP = {"worker": "ready.", "scheduler": "ticking"}  # what the log says once it is ready

    def __init__(self, kind: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.kind, self.args, self.env, self.log = kind, args, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Proc:
        handle = open(self.log, "ab")  # noqa: SIM115  closed with the process
        self.proc = subprocess.Popen(
            self.args, env=self.env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        return self.UP[self.kind] in self.output()

    def tasks(self) -> dict[str, str]:
        """A worker's tasks by id, each with the last thing its log says of it."""
        return {line["id"]: line["verb"] for line in TASK_LINE.finditer(self.output())}

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


class Stack:
    """The environment shared by the processes of one test, and the processes it started."""

    def __init__(self, pg_url: str, tmp: Path, redis: RedisServer, smtp_port: int, **config: Any) -> None:
        self.tmp = tmp
        self.redis = redis
        self.queue = f"crisis-engine-{uuid.uuid4().hex[:8]}"
        settings = {
            "CRISIS_DATABASE_URL": pg_url,
            "CRISIS_BROKER_URL": redis.url,
            "CRISIS_SECRET_KEY": "engine-test",
            "CRISIS_TASK_QUEUE": self.queue,
            "CRISIS_SMTP_HOST": "127.0.0.1",
            "CRISIS_SMTP_PORT": str(smtp_port),
            "CRISIS_SMTP_TIMEOUT": "30",
            "CRISIS_TIMER_LEASE_SECONDS": "3",
            "CRISIS_NOTICE_LEASE_SECONDS": "3",
            "CRISIS_NOTICE_RETRY_BASE_SECONDS": "0.5",
            "CRISIS_NOTICE_RETRY_MAX_SECONDS": "1",
            "CRISIS_ENGINE_MAX_SLEEP_SECONDS": "0.5",
            "CRISIS_INSTANCE_PATH": str(tmp),
        }
        settings.update({f"CRISIS_{k}": str(v) for k, v in config.items()})
        self.env = crisis_env(**settings)
        self.procs: list[Proc] = []
        self._count = 0

    def worker(self, concurrency: int = 1, wait: bool = True, queues: str | None = None) -> Proc:
        """A Celery worker; `queues` as for -Q (default: every queue the app declares)."""
        self._count += 1
        proc = Proc(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"engine{self._count}@%h",
                *(["-Q", queues] if queues else []),
            ],
            self.env,
            self.tmp / f"worker{self._count}.log",
        ).start()
        self.procs.append(proc)
        if wait:
            self.ready()
        return proc

    def scheduler(self, wait: bool = True) -> Proc:
        self._count += 1
        proc = Proc(
            "scheduler", [str(BIN / "crisis"), "scheduler"], self.env, self.tmp / f"scheduler{self._count}.log"
        ).start()
        self.procs.append(proc)
        if wait:
            self.ready()
        return proc

    def start(self, *, schedulers: int = 1, workers: int = 1, concurrency: int = 1) -> list[Proc]:
        """Schedulers and workers started side by side, each up before this returns; the workers."""
        for _ in range(schedulers):
            self.scheduler(wait=False)
        started = [self.worker(concurrency, wait=False) for _ in range(workers)]
        self.ready()
        return started

    def ready(self) -> None:
        for proc in self.procs:
            if proc.running:
                assert wait_until(proc.ready, timeout=60), proc.output()[-3000:]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
        self.redis.kill()

    # --- what the engine is doing -------------------------------------------------------------

    def _database(self) -> psycopg.Connection:
        url = self.env["CRISIS_DATABASE_URL"]
        return psycopg.connect("postgresql://" + url.split("://", 1)[1], autocommit=True)

    def outstanding(self) -> int:
        """Timers due but not yet fired or cancelled, and notices not yet sent or failed."""
        with self._database() as conn:
            return conn.execute(
                "SELECT (SELECT count(*) FROM timer WHERE state = 'claimed' OR (state = 'pending' AND fire_at <= now()))"
                " + (SELECT count(*) FROM notice WHERE status = 'queued')"
            ).fetchone()[0]

    def pending_due(self) -> int:
        """Timers due that no scheduler has claimed yet."""
        with self._database() as conn:
            return conn.execute("SELECT count(*) FROM timer WHERE state = 'pending' AND fire_at <= now()").fetchone()[0]

    def claimed(self) -> int:
        with self._database() as conn:
            return conn.execute("SELECT count(*) FROM timer WHERE state = 'claimed'").fetchone()[0]

    def waiting_messages(self) -> int | None:
        """Messages in the broker that no worker has taken; None while Redis is down."""
        import redis

        client = redis.Redis(port=self.redis.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return sum(client.llen(key) for key in client.scan_iter(match=f"{self.queue}*", _type="list"))
        except redis.RedisError:
            return None
        finally:
            client.close()

    def _workers(self) -> list[Proc]:
        return [proc for proc in self.procs if proc.kind == "worker" and proc.running]

    def finished(self, task_ids: Iterable[str]) -> bool:
        """Every one of these tasks ended (succeeded, raised or retried) in a running worker."""
        ended = {task_id for proc in self._workers() for task_id, verb in proc.tasks().items() if verb != "received"}
        return set(task_ids) <= ended

    def busy(self) -> bool:
        """A running worker is in the middle of a task."""
        return any(verb == "received" for proc in self._workers() for verb in proc.tasks().values())

    def at_rest(self) -> bool:
        """Nothing due is left undone, nothing waits in the broker and no worker is in a task: from
        here on only a bug (a sent notice sent again, a fired timer claimed again) makes anything arrive."""
        return self.outstanding() == 0 and self.waiting_messages() == 0 and not self.busy()

    def past_a_lease(self) -> None:
        """Wait until the database's clock is a lease (and a scheduler pass) past the last claim or
        hand-over, when a lost message would be claimed again, and the engine is at rest."""
        lease = max(float(self.env["CRISIS_TIMER_LEASE_SECONDS"]), float(self.env["CRISIS_NOTICE_LEASE_SECONDS"]))
        lease += 2 * float(self.env["CRISIS_ENGINE_MAX_SLEEP_SECONDS"])

        def passed() -> bool:
            with self._database() as conn:
                return conn.execute(
                    "SELECT now() >= coalesce(greatest((SELECT max(claimed_at) FROM timer),"
                    " (SELECT max(enqueued_at) FROM notice), (SELECT max(sent_at) FROM notice)), now())"
                    " + make_interval(secs => %s)",
                    [lease],
                ).fetchone()[0]

        assert wait_until(passed, timeout=lease + 30)
        assert wait_until(self.at_rest, timeout=30), f"{self.outstanding()} timers or notices left"


def incident_due_in(org: Any, seconds: float, unit: str = "KOTA-SEMARANG") -> Any:
    """An incident whose first escalation step falls due `seconds` from now, by the real clock (the
    processes run on it), committed for them to see."""
    now = datetime.now(UTC)
    incident = open_incident(
        _db.session,
        org,
        now=now,
        unit=unit,
        commander=(unit, "officer"),
        started_at=now - FIRST_STEP + timedelta(seconds=seconds),
        title=uuid.uuid4().hex,
    )
    _db.session.commit()
    return incident


def expected_email_keys() -> list[str]:
    """The idempotency keys of every e-mail notice written: what the SMTP server must have got, once each."""
    _db.session.expire_all()
    return sorted(_db.session.scalars(select(Notice.idempotency_key).where(Notice.channel == "email")))
