"""The two things a user would otherwise pick, doing the same job: one e-mail per deadline.

- Celery `apply_async(eta=...)` on Redis: `celery -A benchmarks.engine.peers worker`.
- APScheduler 3 with its SQLAlchemy job store on PostgreSQL: `python -m benchmarks.engine.peers apscheduler`.
"""

from __future__ import annotations

import os
import signal
import smtplib
import sys
import time
from email.message import EmailMessage

from celery import Celery

SMTP_PORT = int(os.environ.get("BENCH_SMTP_PORT", "25"))
celery_app = Celery("peer", broker=os.environ.get("BENCH_BROKER_URL", "memory://"))
celery_app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue=os.environ.get("BENCH_QUEUE", "peer"),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def send_email(deadline_id: str, due_epoch: float) -> None:
    message = EmailMessage()
    message["Subject"] = f"deadline {deadline_id}"
    message["From"] = "bench@localhost"
    message["To"] = "sink@localhost"
    message["X-Deadline-Id"] = deadline_id
    message["X-Deadline-At"] = repr(due_epoch)
    message.set_content("deadline")
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=30) as smtp:
        smtp.send_message(message)


@celery_app.task(name="peer.send_email")
def send_email_task(deadline_id: str, due_epoch: float) -> None:
    send_email(deadline_id, due_epoch)


def run_apscheduler(url: str) -> None:
    """A long-running APScheduler 3 process whose jobs live in PostgreSQL (SQLAlchemyJobStore)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url)},
        executors={"default": {"type": "threadpool", "max_workers": 8}},
        job_defaults={"misfire_grace_time": None, "coalesce": False},
        timezone="UTC",
    )
    scheduler.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("apscheduler ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    run_apscheduler(sys.argv[2] if len(sys.argv) > 2 else os.environ["BENCH_JOBSTORE_URL"])
