"""The `crisis` command as installed: the commands of crisis.cli, and those that run the engine's
processes (the embedded server with its scheduler, the scheduler, the worker check). They live here
because crisis never imports workers."""

from __future__ import annotations

import contextlib
import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from crisis.cli import main
from crisis.extensions import db, without_pre_ping
from crisis.system.models import WorkerCheck
from crisis.warmup import freeze_after_start
from workers.scheduler import build_scheduler
from workers.tasks import worker_check

__all__ = ["main"]


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def run_command(host: str, port: int) -> None:
    """Serve the app with the scheduler in this process (the embedded mode)."""
    from werkzeug.serving import run_simple

    from crisis.serving import ProblemRequestHandler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    freeze_after_start(app, templates=True)  # as gunicorn's crisis.wsgi does: no GC stalls later
    if not app.config["EMBEDDED"]:
        click.echo(
            "CRISIS_BROKER_URL is set: tasks go to Celery workers; run `crisis scheduler` "
            "and `celery -A workers.celery_app worker` beside this.",
            err=True,
        )
    scheduler = None
    if app.config["EMBEDDED"] and app.config["EMBEDDED_SCHEDULER"]:
        scheduler = build_scheduler(app, background=True)
        scheduler.start()
    click.echo(f"crisis serving on http://{host}:{port}/ ({'embedded' if app.config['EMBEDDED'] else 'web only'})")
    try:
        run_simple(
            host,
            port,
            app,
            threaded=True,
            use_reloader=False,
            use_debugger=False,
            request_handler=ProblemRequestHandler,  # the server's own refusals as problem+json
        )
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


@main.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler process: ticks every second."""

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    without_pre_ping(db.engine)
    freeze_after_start(app)
    click.echo("crisis scheduler ticking every second; Ctrl+C stops it.")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        build_scheduler(app, background=False).start()


@main.group("workers")
def workers_group() -> None:
    """Check the task workers."""


@workers_group.command("check")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for a worker.")
@with_appcontext
def workers_check(timeout: float) -> None:
    """Send a task through the queue and wait until a worker has written its answer."""

    check = WorkerCheck()
    db.session.add(check)
    db.session.commit()
    worker_check.delay(check.id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        done = db.session.get(WorkerCheck, check.id)
        if done is not None and done.completed_at is not None:
            lag = (done.completed_at - done.requested_at).total_seconds()
            click.echo(f"worker {done.worker} answered in {lag:.3f} s")
            return
        time.sleep(0.1)
    click.echo(f"no worker answered within {timeout:g} s", err=True)
    sys.exit(1)
