"""Deadlines never wait behind bulk work: with 200 monthly report builds queued, deadlines falling due
are fired and their e-mails delivered by the deadline workers while the builds still wait for theirs.
Real PostgreSQL, a private Redis, real celery workers (one per queue), a real `crisis scheduler`,
a real SMTP server."""

from __future__ import annotations

from datetime import date

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select

from crisis.extensions import db as _db
from crisis.reports.models import MonthlyReport
from crisis.units.models import Unit
from tests.engine.procs import expected_email_keys, incident_due_in
from tests.helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.real_clock]

BUILDS = 200


def _queue_builds(stack) -> list[int]:
    """BUILDS reports to build, handed to the bulk queue as `reports.enqueue_builds` does."""
    units = list(_db.session.scalars(select(Unit.id).order_by(Unit.id)))
    rows = []
    for index in range(BUILDS):
        year, month = divmod(index // len(units), 12)
        rows.append(
            MonthlyReport(
                unit_id=units[index % len(units)],
                month=date(2000 + year, month + 1, 1),  # months nobody asks for: only the build's cost matters
                status="building",
                requested_at=func.now(),
            )
        )
    _db.session.add_all(rows)
    _db.session.commit()
    sender = Celery(broker=stack.redis.url)
    for report in rows:
        sender.send_task("monthly.build_monthly", args=[report.id], queue=f"{stack.queue}-bulk")
    return [report.id for report in rows]


def _deadline_keys(stack) -> list[str]:
    received = stack.smtp.keys()
    return sorted(key for key in received if key.startswith("timer:"))


def _built(ids: list[int]) -> int:
    _db.session.expire_all()
    return _db.session.scalar(select(func.count()).where(MonthlyReport.id.in_(ids), MonthlyReport.status != "building"))


def test_deadlines_leave_while_two_hundred_report_builds_wait(stack, org):
    stack.scheduler(wait=False)
    stack.worker(wait=False, queues=stack.queue)
    stack.worker(wait=False, queues=f"{stack.queue}-bulk")
    stack.ready()
    ids = _queue_builds(stack)
    broker = redis.Redis.from_url(stack.redis.url)
    assert wait_until(lambda: _built(ids) >= 1, timeout=120), "the bulk worker built nothing"

    for _ in range(3):
        incident_due_in(org, 2)
    expected = _deadline_keys  # the report e-mails to heads go to the same SMTP server
    assert wait_until(lambda: len(expected(stack)) >= 3, timeout=60)

    # Every deadline e-mail is out while most builds still wait in the bulk queue.
    waiting, built = broker.llen(f"{stack.queue}-bulk"), _built(ids)
    assert waiting > BUILDS // 2 and built < BUILDS // 2, (waiting, built)
    assert expected(stack) == expected_email_keys()
    assert broker.llen(stack.queue) == 0


def test_workers_check_names_a_queue_that_no_worker_serves(stack):
    import subprocess

    from tests.engine.procs import BIN

    def check() -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "crisis"), "workers", "check", "--timeout", "2"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    stack.worker(queues=stack.queue)
    only_deadlines = check()
    # In the default language: one line per queue, the one nobody serves on stderr.
    assert only_deadlines.returncode == 1
    assert f"Antrean tenggat ({stack.queue}): pekerja " in only_deadlines.stdout
    assert f"Antrean kerja massal ({stack.queue}-bulk): tidak ada pekerja" in only_deadlines.stderr
    assert f"{stack.queue}-bulk" not in only_deadlines.stdout
    stack.worker(queues=f"{stack.queue}-bulk")
    both = check()
    assert both.returncode == 0, both.stderr
    assert f"({stack.queue}): pekerja " in both.stdout and f"({stack.queue}-bulk): pekerja " in both.stdout
