"""Celery bound to the Flask app: every task runs inside an app context."""

from __future__ import annotations

import logging

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask, has_app_context
from kombu import Queue

from crisis import clock, mail, queueing
from crisis.escalation import queries
from crisis.extensions import db, without_pre_ping
from crisis.i18n import _
from crisis.playbooks.spec import format_duration_words
from crisis.timefmt import INDONESIAN_ZONES, format_local
from crisis.warmup import freeze_after_start


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            if has_app_context():
                # Run in-process (embedded mode, eager): in the caller's app and its database.
                return self.run(*args, **kwargs)
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    embedded = app.config["EMBEDDED"]
    deadline_queue, bulk_queue = app.config["TASK_QUEUE"], bulk_queue_of(app.config)

    def route(name: str, *_args: object, **_kwargs: object) -> dict[str, str]:
        return {"queue": bulk_queue if name in queueing.BULK_TASKS else deadline_queue}

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
        task_default_queue=deadline_queue,
        # A worker started without -Q serves both queues (one small machine); production runs
        # `-Q <TASK_QUEUE>` and `-Q <BULK_QUEUE>` workers apart, so bulk work never delays a deadline.
        task_queues=(Queue(deadline_queue), Queue(bulk_queue)),
        task_routes=(route,),
        worker_hijack_root_logger=False,
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app

    @worker_process_init.connect(weak=False)
    def _fresh_pool(**_: object) -> None:
        # A forked worker must not share the parent's database connections.
        with app.app_context():
            db.engine.dispose(close=False)
            without_pre_ping(db.engine)
            _warm_up(app)

        freeze_after_start(app)  # a full collection no longer walks what lives as long as the process

    return celery_app


def bulk_queue_of(config: dict) -> str:
    return config.get("BULK_QUEUE") or f"{config['TASK_QUEUE']}-bulk"


def _warm_up(app: Flask) -> None:
    """Do once per worker process what the first deadline would otherwise pay for: compile the
    notice templates and the engine's statements, load both catalogs and the date formats of every
    language and zone, open the database and SMTP connections. Failures only cost that time."""
    from datetime import timedelta

    from flask_babel import force_locale

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
            queries.warm_up(session=db.session)
            db.session.rollback()
            db.session.remove()
            if app.config.get("SMTP_HOST"):
                mail.connect()
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning("worker warm-up failed; the first task pays instead", exc_info=True)
