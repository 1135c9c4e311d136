"""Real processes for the failure tests: a private redis-server, celery workers and `crisis
scheduler`, each on loopback and each owned by the test that started it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from tests.helpers import BIN, ROOT, crisis_env, free_port, wait_until


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
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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


class Proc:
    """A child process in its own process group, so SIGKILL takes its children (pool workers) too."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Proc:
        handle = open(self.log, "ab")  # noqa: SIM115  closed with the process
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        handle.close()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

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
            "CRISIS_DATABASE_URL": pg_url, "CRISIS_BROKER_URL": redis.url, "CRISIS_SECRET_KEY": "engine-test",
            "CRISIS_TASK_QUEUE": self.queue, "CRISIS_SMTP_HOST": "127.0.0.1", "CRISIS_SMTP_PORT": str(smtp_port),
            "CRISIS_SMTP_TIMEOUT": "30", "CRISIS_TIMER_LEASE_SECONDS": "3", "CRISIS_NOTICE_LEASE_SECONDS": "3",
            "CRISIS_NOTICE_RETRY_BASE_SECONDS": "0.5", "CRISIS_NOTICE_RETRY_MAX_SECONDS": "1",
            "CRISIS_ENGINE_MAX_SLEEP_SECONDS": "0.5", "CRISIS_INSTANCE_PATH": str(tmp),
        }
        settings.update({f"CRISIS_{k}": str(v) for k, v in config.items()})
        self.env = crisis_env(**settings)
        self.procs: list[Proc] = []
        self._count = 0

    def worker(self, concurrency: int = 1, wait: bool = True) -> Proc:
        self._count += 1
        proc = Proc(
            [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--pool", "prefork", "--concurrency",
             str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"engine{self._count}@%h"],
            self.env, self.tmp / f"worker{self._count}.log",
        ).start()
        self.procs.append(proc)
        if wait:
            assert wait_until(lambda: "ready." in proc.output(), timeout=60), proc.output()[-3000:]
        return proc

    def scheduler(self) -> Proc:
        self._count += 1
        proc = Proc([str(BIN / "crisis"), "scheduler"], self.env, self.tmp / f"scheduler{self._count}.log").start()
        self.procs.append(proc)
        assert wait_until(lambda: "ticking" in proc.output(), timeout=60), proc.output()[-3000:]
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
        self.redis.kill()


def settle(seconds: float) -> None:
    """Give real processes a moment to (not) do something we then assert on."""
    time.sleep(seconds)
