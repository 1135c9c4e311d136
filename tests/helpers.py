"""Helpers for tests that run real processes."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def crisis_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    env.update(extra)
    return env


def run_crisis(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "crisis"), *args], env=env, cwd=ROOT, input=input, capture_output=True, text=True, timeout=timeout
    )


def invoke_crisis(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    """`crisis ARGS` in this process, through Flask's CLI runner, with the CRISIS_* settings of `env`
    as a process started with it would have them: the same commands and output without a Python
    start-up each. For tests where the process boundary is not what is tested (run_crisis is)."""
    from celery import _state

    from crisis import create_app
    from crisis.extensions import db
    from workers.cli import main  # the installed `crisis` command: every command

    def ours(key: str) -> bool:
        return key.startswith("CRISIS_") or key == "FLASK_RUN_FROM_CLI"  # (the CLI group sets the latter)

    saved = {key: value for key, value in os.environ.items() if ours(key)}
    celery_default = _state.default_app  # a new app's Celery becomes the default; the suite's stays it
    for key in saved:
        del os.environ[key]
    os.environ.update({key: value for key, value in env.items() if key.startswith("CRISIS_")})
    app = None
    try:
        app = create_app()
        with app.app_context():  # the command's own app even inside a test's app context
            result = app.test_cli_runner().invoke(main, list(args), input=input)
    finally:
        for key in [key for key in os.environ if ours(key)]:
            del os.environ[key]
        os.environ.update(saved)
        _state.set_default_app(celery_default)
        if app is not None:
            with app.app_context():
                db.engine.dispose()
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["crisis", *args], result.exit_code, result.stdout, stderr)


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll a condition of a real process; the bound keeps a broken run from hanging the suite."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """`crisis run` (the embedded mode) on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "crisis"), "run", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False

    try:
        assert wait_until(up, timeout=30), "crisis run did not answer /healthz"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def race(app: Any, work: Callable[[Any], Any], *, times: int = 2) -> list[Any]:
    """Run `work(session)` in `times` threads released at the same moment, each with its own app
    context and database session (two schedulers sweeping at once); what each returned."""
    import threading

    from crisis.extensions import db

    barrier = threading.Barrier(times)
    results: list[Any] = []

    def one() -> None:
        with app.app_context():
            try:
                barrier.wait()
                results.append(work(db.session))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
