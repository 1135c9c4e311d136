"""Celery bound to the Flask app: every task runs inside an app context."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask, current_app, has_app_context


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            if has_app_context():
                # Run in-process (embedded mode, eager): in the caller's app and its database.
                return self.run(*args, **kwargs)
            with app.app_context():
                from crisis.extensions import db

                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    embedded = app.config["EMBEDDED"]
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=app.config.get("BROKER_URL") or "memory://",
        # Results are written to the database by the tasks themselves.
        task_ignore_result=True,
        # Embedded mode: the same tasks, run in-process by whoever enqueues them.
        task_always_eager=embedded,
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        task_default_queue=app.config["TASK_QUEUE"],
        worker_hijack_root_logger=False,
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app

    @worker_process_init.connect(weak=False)
    def _fresh_pool(**_: object) -> None:
        # A forked worker must not share the parent's database connections.
        with app.app_context():
            from crisis.extensions import db, without_pre_ping

            db.engine.dispose(close=False)
            without_pre_ping(db.engine)
            _warm_up(app)
        from crisis.warmup import freeze_after_start

        freeze_after_start(app)  # a full collection no longer stalls a deadline for ~100 ms

    import crisis.reports.tasks  # noqa: F401  registers the task names
    import workers.tasks  # noqa: F401

    return celery_app


def enqueue(task: Any, items: Iterable[Any]) -> int:
    """Hand each item to `task`'s queue after the commit that made its rows; how many were handed.
    Sent through the Celery app of the Flask app in context (a shared task would use whichever app
    was made last). A broker that is down is logged and left to the leases: the sweep that owns the
    rows hands them over again later."""
    celery_app = current_app.extensions["celery"] if has_app_context() else None
    bound = celery_app.tasks[task.name] if celery_app is not None else task
    sent = 0
    for item in items:
        try:
            bound.apply_async(args=[item])
            sent += 1
        except Exception:
            logging.getLogger(__name__).exception("could not enqueue %s(%s); its sweep hands it over again",
                                                  task.name, item)
            break
    return sent


def _warm_up(app: Flask) -> None:
    """Do once per worker process what the first deadline would otherwise pay for: compile the
    notice templates and the engine's statements, load both catalogs and the date formats of every
    language and zone, open the database and SMTP connections. Failures only cost that time."""
    from datetime import timedelta

    from flask_babel import force_locale

    from crisis import clock
    from crisis.escalation import service as escalation
    from crisis.extensions import db
    from crisis.i18n import _
    from crisis.notify import channels
    from crisis.playbooks.spec import format_duration_words
    from crisis.timefmt import INDONESIAN_ZONES, format_local

    try:
        with app.app_context(), app.test_request_context():
            for name in ("emails/notice.txt", "emails/notice.html"):
                app.jinja_env.get_template(name)
            for language in app.config["LANGUAGES"]:
                with force_locale(language):
                    _("overdue")
                    format_duration_words(timedelta(minutes=15), language)
                    for zone in INDONESIAN_ZONES:
                        format_local(clock.now(), zone)
            escalation.warm_up(session=db.session)
            db.session.rollback()
            db.session.remove()
            if app.config.get("SMTP_HOST"):
                channels.open_smtp(app.config)
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning("worker warm-up failed; the first task pays instead", exc_info=True)
