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
from crisis.i18n import _
from crisis.i18n import lazy_gettext as _l
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
    """Send a task through each queue (deadlines, bulk work) and wait until a worker has written its answer."""
    from crisis.celery import bulk_queue_of

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    bound = app.extensions["celery"].tasks[worker_check.name]
    queues = {"deadline": app.config["TASK_QUEUE"], "bulk": bulk_queue_of(app.config)}
    labels = {"deadline": _l("Deadline queue"), "bulk": _l("Bulk work queue")}
    checks = {}
    for kind, queue in queues.items():
        check = WorkerCheck()
        db.session.add(check)
        db.session.commit()
        bound.apply_async(args=[check.id], queue=queue)
        checks[kind] = check.id
    deadline = time.monotonic() + timeout
    answered: dict[str, str] = {}
    while time.monotonic() < deadline and len(answered) < len(checks):
        db.session.expire_all()
        for kind, check_id in checks.items():
            done = db.session.get(WorkerCheck, check_id)
            if kind not in answered and done is not None and done.completed_at is not None:
                lag = (done.completed_at - done.requested_at).total_seconds()
                answered[kind] = _(
                    "%(queue)s (%(name)s): worker %(worker)s answered in %(seconds)s s.",
                    queue=labels[kind],
                    name=queues[kind],
                    worker=done.worker,
                    seconds=f"{lag:.3f}",
                )
                click.echo(answered[kind])
        time.sleep(0.1)
    missing = [kind for kind in checks if kind not in answered]
    for kind in missing:
        click.echo(
            _(
                "%(queue)s (%(name)s): no worker answered within %(seconds)s s.",
                queue=labels[kind],
                name=queues[kind],
                seconds=f"{timeout:g}",
            ),
            err=True,
        )
    if missing:
        sys.exit(1)
