"""One command: the same deadline workload through the crisis deadline engine, Celery eta and
APScheduler 3 (SQLAlchemy job store), on this machine's PostgreSQL and a private Redis.

    .venv/bin/python benchmarks/engine/run.py [--pending 100000] [--burst 2000] [--only engine,celery,apscheduler]

Workload: `--pending` deadlines spread over the next days, then a burst of `--burst` falling due
within `--window` seconds, each producing one e-mail to a local SMTP sink that timestamps arrival.
Then two more bursts with faults: (a) Redis killed and restarted mid-burst; (b) kill -9 of the
scheduler and of one worker mid-burst, both restarted a second later. Results go to
benchmarks/engine/RESULTS.md (and stdout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get(
    "CRISIS_TEST_PG_ADMIN_URL", "postgresql://crisis_test:crisis_test@127.0.0.1:5432/postgres"
)
WORKERS, CONCURRENCY = 2, 2  # the same muscle for every system: 2 worker processes x 2 children
HEADER_RE = re.compile(rb"^(X-Crisis-Idempotency-Key|X-Deadline-Id|X-Deadline-At): (.*?)\r?$", re.MULTILINE)
LEASE = 30  # seconds: the engine's timer and notice leases (the default)


# --- infrastructure ----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """aiosmtpd on loopback; records (key, due epoch or None, arrival epoch) per message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.arrivals: list[tuple[str, float | None, float]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                arrived = time.time()
                head = envelope.content.split(b"\r\n\r\n", 1)[0]  # headers only: a cheap sink
                found = dict(HEADER_RE.findall(head))
                key = (found.get(b"X-Crisis-Idempotency-Key") or found.get(b"X-Deadline-Id") or b"?").decode()
                due = float(found[b"X-Deadline-At"]) if b"X-Deadline-At" in found else None
                with sink.lock:
                    sink.arrivals.append((key, due, arrived))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def mark(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def since(self, mark: int) -> list[tuple[str, float | None, float]]:
        with self.lock:
            return list(self.arrivals[mark:])


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
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
        import redis

        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, stdin: bool = False) -> None:
        handle = open(log, "ab")  # noqa: SIM115
        self.log = log
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin else None,
            start_new_session=True,
        )
        handle.close()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.log.name}: no {text!r}\n" + self.log.read_text(errors="replace")[-3000:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)

    def rss_mb(self) -> float:
        """Resident memory of the process and all its descendants."""
        pids = {self.proc.pid}
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, []).append(int(entry.name))
        stack = [self.proc.pid]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in pids:
                    pids.add(child)
                    stack.append(child)
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
                total += int(match.group(1)) if match else 0
        return total / 1024


def create_database() -> tuple[str, str]:
    import psycopg

    name = f"crisis_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN_URL)
    return name, url


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def lateness_summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(values, 0.5) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": max(values) * 1000 if values else float("nan"),
        "mean_ms": statistics.fmean(values) * 1000 if values else float("nan"),
    }


def count_faults(expected: set[str], arrivals: list[tuple[str, float | None, float]]) -> dict[str, int]:
    received = [key for key, _due, _at in arrivals if key in expected]
    unique = set(received)
    return {
        "expected": len(expected),
        "received": len(received),
        "lost": len(expected - unique),
        "duplicated": len(received) - len(unique),
    }


def wait_for_keys(sink: Sink, mark: int, expected: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if expected <= {key for key, _d, _a in sink.since(mark)}:
            return
        time.sleep(0.2)


# --- the crisis deadline engine ----------------------------------------------------------------


class EngineBench:
    name = "crisis deadline engine"

    def __init__(self, db_url: str, redis: Redis, sink: Sink, tmp: Path) -> None:
        self.db_url, self.redis, self.sink, self.tmp = db_url, redis, sink, tmp
        self.queue = f"bench-{uuid.uuid4().hex[:6]}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
        self.env.update(
            CRISIS_DATABASE_URL=db_url,
            CRISIS_BROKER_URL=redis.url,
            CRISIS_SECRET_KEY="bench",
            CRISIS_TASK_QUEUE=self.queue,
            CRISIS_SMTP_HOST="127.0.0.1",
            CRISIS_SMTP_PORT=str(sink.port),
            CRISIS_TIMER_LEASE_SECONDS=str(LEASE),
            CRISIS_NOTICE_LEASE_SECONDS=str(LEASE),
            CRISIS_INSTANCE_PATH=str(tmp),
            CRISIS_TIMER_CLAIM_BATCH="200",
        )
        os.environ["CRISIS_INSTANCE_PATH"] = str(tmp)
        from crisis import create_app

        self.app = create_app(
            {"DATABASE_URL": db_url, "SECRET_KEY": "bench", "BROKER_URL": redis.url, "TASK_QUEUE": self.queue}
        )
        self.count = 0
        self.scheduler: Proc | None = None
        self.workers: list[Proc] = []

    def setup(self) -> None:
        from flask_migrate import upgrade

        from crisis.extensions import db
        from crisis.seed import seed_demo_data

        with self.app.app_context():
            upgrade()
            seed_demo_data(session=db.session)
            db.session.commit()
            self.runs = self._incidents(db.session, 50)
            db.session.commit()

    def _incidents(self, session: Any, count: int) -> list[int]:
        """Incidents with an active first stage: each benchmark timer belongs to one of their stage runs."""
        from sqlalchemy import select

        from crisis.auth.models import Membership, User
        from crisis.incidents.models import Incident, StageRun
        from crisis.notify.models import ChannelPreference
        from crisis.playbooks.models import Playbook
        from crisis.units.models import Unit

        version = session.scalar(select(Playbook).where(Playbook.key == "viral-service-complaint")).current
        unit = session.scalar(select(Unit).where(Unit.code == "KOTA-SEMARANG"))
        commander = session.scalar(
            select(User).join(Membership).where(Membership.unit_id == unit.id, Membership.role == "head")
        )
        session.add(ChannelPreference(user_id=commander.id, channel="inapp", enabled=False))  # one e-mail each
        now = datetime.now(UTC)
        runs = []
        for index in range(count):
            incident = Incident(
                unit_id=unit.id,
                title=f"bench {index}",
                severity=3,
                state="active",
                commander_id=commander.id,
                playbook_version_id=version.id,
                playbook_snapshot=version.canonical,
                started_at=now,
            )
            session.add(incident)
            session.flush()
            run = StageRun(
                incident_id=incident.id,
                position=0,
                stage_key="verify",
                state="active",
                target_seconds=1800,
                started_at=now,
                due_at=now + timedelta(days=30),
            )
            session.add(run)
            session.flush()
            runs.append((incident.id, run.id))
        return runs

    def start(self) -> None:
        self.start_scheduler()
        for _ in range(WORKERS):
            self.start_worker()
        for worker in self.workers:
            worker.wait_for("ready.")

    def start_scheduler(self) -> None:
        self.count += 1
        self.scheduler = Proc([str(BIN / "crisis"), "scheduler"], self.env, self.tmp / f"scheduler{self.count}.log")
        self.scheduler.wait_for("ticking")

    def start_worker(self, wait: bool = False, queue: str | None = None, idle: bool = False) -> Proc:
        """A deadline worker (production's `-Q <TASK_QUEUE>`), or with `queue`, a worker of that queue."""
        self.count += 1
        worker = Proc(
            [
                *(["chrt", "--idle", "0"] if idle else []),  # SCHED_IDLE: only CPU nobody else wants
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(CONCURRENCY),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"w{self.count}@%h",
                "-Q",
                queue or self.queue,
            ],
            self.env,
            self.tmp / f"worker{self.count}.log",
        )
        self.workers.append(worker)
        if wait:
            worker.wait_for("ready.")
        return worker

    def memory(self) -> dict[str, float]:
        return {"scheduler_mb": self.scheduler.rss_mb(), "workers_mb": sum(w.rss_mb() for w in self.workers)}

    def schedule(self, fire_ats: list[datetime]) -> tuple[float, set[str]]:
        """Write timers through the engine's bulk path (`planning.schedule_timers`: COPY, then NOTIFY
        at commit when one is due soon), in transactions of 10,000; returns seconds and the keys."""
        from sqlalchemy import func, select

        from crisis.escalation import planning
        from crisis.escalation.models import Timer
        from crisis.extensions import db

        rows = [
            {
                "incident_id": self.runs[i % len(self.runs)][0],
                "stage_run_id": self.runs[i % len(self.runs)][1],
                "kind": "stage_due",
                "fire_at": at,
            }
            for i, at in enumerate(fire_ats)
        ]
        with self.app.app_context():
            before = db.session.scalar(select(func.coalesce(func.max(Timer.id), 0)))
            db.session.commit()
            started = time.perf_counter()
            for offset in range(0, len(rows), 10_000):
                planning.schedule_timers(session=db.session, timers=rows[offset : offset + 10_000])
                db.session.commit()
            elapsed = time.perf_counter() - started
            ids = db.session.scalars(select(Timer.id).where(Timer.id > before)).all()  # the only writer here
            db.session.remove()
        return elapsed, {f"timer:{timer_id}:user:" for timer_id in ids}

    def queue_report_builds(self, count: int) -> list[int]:
        """`count` monthly reports to build, handed to the bulk queue as the monthly sweep does."""
        from datetime import date

        from celery import Celery
        from sqlalchemy import func, select

        from crisis.extensions import db
        from crisis.reports.models import MonthlyReport
        from crisis.units.models import Unit

        with self.app.app_context():
            units = list(db.session.scalars(select(Unit.id).order_by(Unit.id)))
            reports = []
            for index in range(count):
                year, month = divmod(index // len(units), 12)
                reports.append(
                    MonthlyReport(
                        unit_id=units[index % len(units)],
                        month=date(2000 + year + self.count, month + 1, 1),
                        status="building",
                        requested_at=func.now(),
                    )
                )
            db.session.add_all(reports)
            db.session.commit()
            ids = [report.id for report in reports]
            db.session.remove()
        sender = Celery(broker=self.redis.url)
        for report_id in ids:
            sender.send_task("monthly.build_monthly", args=[report_id], queue=f"{self.queue}-bulk")
        return ids

    def builds_waiting(self, ids: list[int]) -> int:
        from sqlalchemy import func, select

        from crisis.extensions import db
        from crisis.reports.models import MonthlyReport

        with self.app.app_context():
            waiting = db.session.scalar(
                select(func.count()).where(MonthlyReport.id.in_(ids), MonthlyReport.status == "building")
            )
            db.session.remove()
        return waiting

    def keys_for(self, prefixes: set[str]) -> tuple[set[str], dict[str, float]]:
        """The e-mail notices the timers produced (key -> due epoch)."""
        from sqlalchemy import select

        from crisis.escalation.models import Timer
        from crisis.extensions import db

        timer_ids = {int(p.split(":")[1]) for p in prefixes}
        with self.app.app_context():
            rows = db.session.execute(
                select(Timer.id, Timer.fire_at, Timer.incident_id).where(Timer.id.in_(timer_ids))
            ).all()
            commander = self._commander_id()
            db.session.remove()
        keys = {f"timer:{r.id}:user:{commander}:email": r.fire_at.timestamp() for r in rows}
        return set(keys), keys

    def _commander_id(self) -> int:
        from sqlalchemy import select

        from crisis.extensions import db
        from crisis.incidents.models import Incident

        return db.session.scalar(select(Incident.commander_id).limit(1))

    def explain_claim(self) -> tuple[str, float]:
        from sqlalchemy import text

        from crisis.escalation import firing
        from crisis.extensions import db

        with self.app.app_context():
            plan = (
                db.session.execute(
                    text(
                        "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM timer WHERE state = 'pending' "
                        "AND fire_at <= statement_timestamp() ORDER BY fire_at, id LIMIT 500 FOR UPDATE SKIP LOCKED"
                    )
                )
                .scalars()
                .all()
            )
            db.session.rollback()
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                firing.claim_due(session=db.session, limit=500, lease=LEASE)
                timings.append(time.perf_counter() - started)
                db.session.rollback()  # measure only: nothing claimed stays claimed
            db.session.remove()
        return "\n".join(plan), percentile(timings, 0.5) * 1000

    def kill_scheduler_and_worker(self) -> None:
        self.scheduler.kill()
        victim = self.workers.pop(0)
        victim.kill()

    def restart_after_kill(self) -> None:
        self.start_scheduler()
        self.start_worker(wait=True)

    def redis_down_up(self) -> None:
        self.redis.kill()
        time.sleep(1)
        self.redis.start()
        # A worker that held an unacknowledged message when the connection dropped may exit
        # (kombu 5.7 fails restoring it to a broker that is down): it is started again, as docker
        # compose's `restart: unless-stopped` does in production.
        time.sleep(2)
        for worker in list(self.workers):
            if worker.proc.poll() is not None:
                print("a worker exited when Redis went away; starting another", flush=True)
                self.workers.remove(worker)
                self.start_worker(wait=False)

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.kill()
        for worker in self.workers:
            worker.kill()


# --- Celery eta ---------------------------------------------------------------------------------


class CeleryBench:
    name = "Celery apply_async(eta=...)"

    def __init__(self, redis: Redis, sink: Sink, tmp: Path) -> None:
        self.redis, self.sink, self.tmp = redis, sink, tmp
        self.queue = f"peer-{uuid.uuid4().hex[:6]}"
        self.env = dict(os.environ, BENCH_BROKER_URL=redis.url, BENCH_QUEUE=self.queue, BENCH_SMTP_PORT=str(sink.port))
        os.environ.update(BENCH_BROKER_URL=redis.url, BENCH_QUEUE=self.queue)
        import importlib

        import benchmarks.engine.peers as peers

        self.peers = importlib.reload(peers)
        self.workers: list[Proc] = []
        self.count = 0
        self.scheduler = None

    def setup(self) -> None:
        pass

    def start(self) -> None:
        for _ in range(WORKERS):
            self.start_worker()
        for worker in self.workers:
            worker.wait_for("ready.")

    def start_worker(self, wait: bool = False) -> Proc:
        self.count += 1
        worker = Proc(
            [
                str(BIN / "celery"),
                "-A",
                "benchmarks.engine.peers",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(CONCURRENCY),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"p{self.count}@%h",
            ],
            self.env,
            self.tmp / f"peer-worker{self.count}.log",
        )
        self.workers.append(worker)
        if wait:
            worker.wait_for("ready.")
        return worker

    def memory(self) -> dict[str, float]:
        return {"scheduler_mb": 0.0, "workers_mb": sum(w.rss_mb() for w in self.workers)}

    def schedule(self, fire_ats: list[datetime]) -> tuple[float, set[str]]:
        keys = set()
        started = time.perf_counter()
        with self.peers.celery_app.producer_or_acquire() as producer:
            for at in fire_ats:
                key = uuid.uuid4().hex
                self.peers.send_email_task.apply_async(args=[key, at.timestamp()], eta=at, producer=producer)
                keys.add(key)
        return time.perf_counter() - started, keys

    def settle(self, timeout: float = 300) -> None:
        """Wait until the workers took every eta message into memory (the queue is empty)."""
        import redis

        client = redis.Redis(port=self.redis.port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and client.llen(self.queue) > 0:
            time.sleep(1)

    def kill_scheduler_and_worker(self) -> None:
        self.workers.pop(0).kill()  # the producer is this process: there is no scheduler to kill

    def restart_after_kill(self) -> None:
        self.start_worker(wait=True)

    def redis_down_up(self) -> None:
        self.redis.kill()
        time.sleep(1)
        self.redis.start()
        time.sleep(2)
        for worker in list(self.workers):  # as for the engine: an exited worker is started again
            if worker.proc.poll() is not None:
                self.workers.remove(worker)
                self.start_worker(wait=False)

    def stop(self) -> None:
        for worker in self.workers:
            worker.kill()


# --- APScheduler 3 + SQLAlchemyJobStore ---------------------------------------------------------


class ApschedulerBench:
    name = "APScheduler 3 + SQLAlchemyJobStore"

    def __init__(self, db_url: str, sink: Sink, tmp: Path) -> None:
        self.url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
        self.sink, self.tmp = sink, tmp
        self.env = dict(os.environ, BENCH_SMTP_PORT=str(sink.port), BENCH_JOBSTORE_URL=self.url)
        self.count = 0
        self.scheduler: Proc | None = None
        self.workers: list[Proc] = []

    def setup(self) -> None:
        pass

    def start(self) -> None:
        self.count += 1
        self.scheduler = Proc(
            [sys.executable, "-m", "benchmarks.engine.peers", "apscheduler", self.url],
            self.env,
            self.tmp / f"apscheduler{self.count}.log",
        )
        self.scheduler.wait_for("apscheduler ready")

    def memory(self) -> dict[str, float]:
        return {"scheduler_mb": self.scheduler.rss_mb(), "workers_mb": 0.0}

    def schedule(self, fire_ats: list[datetime]) -> tuple[float, set[str]]:
        """add_job from a second scheduler object on the same job store, as a web process would, then
        wake the running scheduler (APScheduler 3 does not watch its store for other writers)."""
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        writer = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=self.url)}, timezone="UTC")
        writer.start(paused=True)
        keys = set()
        started = time.perf_counter()
        for at in fire_ats:
            key = uuid.uuid4().hex
            writer.add_job(
                "benchmarks.engine.peers:send_email",
                "date",
                run_date=at,
                args=[key, at.timestamp()],
                id=key,
                misfire_grace_time=None,
            )
            keys.add(key)
        elapsed = time.perf_counter() - started
        writer.shutdown(wait=False)
        return elapsed, keys

    def wake(self) -> None:
        # The running scheduler computes its next wake-up from its own additions only: restart it
        # gracefully so it reads the store (what a user of APScheduler 3 with several writers must do).
        self.scheduler.kill(signal.SIGTERM)
        self.start()

    def kill_scheduler_and_worker(self) -> None:
        self.scheduler.kill()

    def restart_after_kill(self) -> None:
        self.start()

    def redis_down_up(self) -> None:
        pass  # no Redis in this design

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.kill()


# --- the run ------------------------------------------------------------------------------------


def spread(count: int, start: datetime, span: timedelta) -> list[datetime]:
    return [start + span * (i + 0.5) / count for i in range(count)]


def run_system(bench: Any, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"name": bench.name}
    bench.setup()
    bench.start()
    time.sleep(2)
    result["memory_0"] = bench.memory()
    now = datetime.now(UTC)
    seconds, _keys = bench.schedule(spread(args.pending, now + timedelta(hours=1), timedelta(days=3)))
    result["schedule_seconds"] = seconds
    result["schedule_rate"] = args.pending / seconds
    if isinstance(bench, CeleryBench):
        bench.settle()
    if isinstance(bench, ApschedulerBench):
        bench.wake()
    time.sleep(3)
    result["memory_pending"] = bench.memory()
    if isinstance(bench, EngineBench):
        result["explain"], result["claim_ms"] = bench.explain_claim()

    def burst(fault: str | None, args: argparse.Namespace = args) -> dict[str, Any]:
        mark = bench.sink.mark()
        start = datetime.now(UTC) + timedelta(seconds=4)
        _secs, keys = bench.schedule(spread(args.burst, start, timedelta(seconds=args.window)))
        if isinstance(bench, ApschedulerBench):
            bench.wake()
        if isinstance(bench, EngineBench):
            keys, _dues = bench.keys_for(keys)
        if fault is not None:
            time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + args.window / 2)
            if fault == "redis":
                bench.redis_down_up()
            else:
                bench.kill_scheduler_and_worker()
                time.sleep(1)
                bench.restart_after_kill()
        wait_for_keys(bench.sink, mark, keys, timeout=args.window + 4 + (3 * LEASE + 30 if fault else 30))
        time.sleep(3)
        arrivals = bench.sink.since(mark)
        faults = count_faults(keys, arrivals)
        if isinstance(bench, EngineBench):
            _keys, dues = bench.keys_for({f"timer:{k.split(':')[1]}:" for k in keys})
            late = [at - dues[key] for key, _d, at in arrivals if key in dues]
        else:
            late = [at - due for key, due, at in arrivals if key in keys and due is not None]
        return {**faults, **lateness_summary(late)}

    result["burst"] = burst(None)
    if isinstance(bench, EngineBench) and args.builds:
        # Deadlines beside bulk work: a lighter burst (the 2,000-deadline one keeps both cores busy by
        # itself), first with the bulk worker idle, then with `--builds` report builds queued for it.
        light = argparse.Namespace(**{**vars(args), "burst": args.mixed_burst})
        bench.start_worker(wait=True, queue=f"{bench.queue}-bulk", idle=True)
        result["mixed_idle"] = burst(None, light)
        ids = bench.queue_report_builds(args.builds)
        time.sleep(2)  # the bulk worker is busy with the first build
        result["mixed_loaded"] = burst(None, light)
        result["mixed_loaded"]["builds_waiting_after"] = bench.builds_waiting(ids)
        result["mixed_builds"] = args.builds
        bench.workers.pop().kill()
    result["redis_restart"] = burst("redis") if not isinstance(bench, ApschedulerBench) else None
    result["kill9"] = burst("kill")
    bench.stop()
    return result


def fmt(value: float, digits: int = 1) -> str:
    return "—" if value != value else f"{value:,.{digits}f}"  # noqa: PLR0124  NaN check


def report(results: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> str:
    lines = [
        "# Deadline engine benchmark",
        "",
        f"`{' '.join(['.venv/bin/python', 'benchmarks/engine/run.py', *sys.argv[1:]])}` — "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU, PostgreSQL on 127.0.0.1, a private "
        f"redis-server, aiosmtpd sink; {args.pending:,} pending deadlines over 3 days, bursts of {args.burst:,} "
        f"within {args.window:g} s; {WORKERS} worker processes x {CONCURRENCY} for both Celery-based systems. "
        f"Run took {seconds:.0f} s.",
        "",
        "| | " + " | ".join(r["name"] for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, getter: Any) -> None:
        cells = []
        for result in results:
            try:
                cells.append(getter(result))
            except (KeyError, TypeError):
                cells.append("n/a")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("time to schedule pending (s)", lambda r: fmt(r["schedule_seconds"], 1))
    row("deadlines scheduled per second", lambda r: fmt(r["schedule_rate"], 0))
    row("burst lateness p50 (ms)", lambda r: fmt(r["burst"]["p50_ms"]))
    row("burst lateness p99 (ms)", lambda r: fmt(r["burst"]["p99_ms"]))
    row("burst lateness max (ms)", lambda r: fmt(r["burst"]["max_ms"]))
    row("burst lost / duplicated", lambda r: f"{r['burst']['lost']} / {r['burst']['duplicated']}")

    def mixed(key: str, field: str) -> Any:
        return lambda r: fmt(r[key][field]) if r.get(key) else "n/a"

    row(
        "light burst, bulk worker idle: lateness p50 / p99 (ms)",
        lambda r: f"{mixed('mixed_idle', 'p50_ms')(r)} / {mixed('mixed_idle', 'p99_ms')(r)}",
    )
    row(
        "light burst, report builds queued: lateness p50 / p99 (ms)",
        lambda r: f"{mixed('mixed_loaded', 'p50_ms')(r)} / {mixed('mixed_loaded', 'p99_ms')(r)}",
    )
    row(
        "light burst, report builds queued: lost / duplicated; builds still waiting after",
        lambda r: (
            (
                f"{r['mixed_loaded']['lost']} / {r['mixed_loaded']['duplicated']}; "
                f"{r['mixed_loaded']['builds_waiting_after']} of {r['mixed_builds']}"
            )
            if r.get("mixed_loaded")
            else "n/a"
        ),
    )
    row("RSS scheduler at 0 (MB)", lambda r: fmt(r["memory_0"]["scheduler_mb"]))
    row("RSS scheduler at pending (MB)", lambda r: fmt(r["memory_pending"]["scheduler_mb"]))
    row("RSS workers at 0 (MB)", lambda r: fmt(r["memory_0"]["workers_mb"]))
    row("RSS workers at pending (MB)", lambda r: fmt(r["memory_pending"]["workers_mb"]))
    row(
        "Redis restart mid-burst: lost / duplicated",
        lambda r: f"{r['redis_restart']['lost']} / {r['redis_restart']['duplicated']}",
    )
    row(
        "kill -9 scheduler + worker mid-burst: lost / duplicated",
        lambda r: f"{r['kill9']['lost']} / {r['kill9']['duplicated']}",
    )
    row("kill -9 burst lateness p99 (ms)", lambda r: fmt(r["kill9"]["p99_ms"]))
    engine = next((r for r in results if "explain" in r), None)
    if engine:
        lines += [
            "",
            f"Claim query (`claim_due`, {args.pending:,} pending, nothing due): median "
            f"{engine['claim_ms']:.2f} ms over 20 runs. Its plan:",
            "",
            "```",
            engine["explain"],
            "```",
        ]
    lines += ["", "Raw results:", "", "```json", json.dumps(results, indent=1, default=str)[:20000], "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=2_000)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--only", default="engine,celery,apscheduler")
    parser.add_argument(
        "--builds", type=int, default=200, help="report builds queued for the mixed-load burst (0: none)"
    )
    parser.add_argument("--mixed-burst", type=int, default=200, help="deadlines in the mixed-load bursts")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "engine" / "RESULTS.md"))
    args = parser.parse_args()
    started = time.monotonic()
    tmp = Path(f"/tmp/crisis-bench-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    sink = Sink()
    results = []
    for system in args.only.split(","):
        name, url = create_database()
        redis = Redis(tmp)
        redis.start()
        try:
            if system == "engine":
                bench: Any = EngineBench("postgresql+psycopg://" + url.split("://", 1)[1], redis, sink, tmp)
            elif system == "celery":
                bench = CeleryBench(redis, sink, tmp)
            else:
                bench = ApschedulerBench(url, sink, tmp)
            print(f"== {bench.name}", flush=True)
            result = run_system(bench, args)
            print(json.dumps({k: v for k, v in result.items() if k != "explain"}, default=str), flush=True)
            results.append(result)
        finally:
            with contextlib.suppress(Exception):
                bench.stop()
            redis.kill()
            if system == "engine":
                from crisis.extensions import db

                with bench.app.app_context():
                    db.engine.dispose()
            drop_database(name)
    text = report(results, args, time.monotonic() - started)
    Path(args.out).write_text(text)
    print(text)
    sink.controller.stop()


if __name__ == "__main__":
    main()
