"""A real `celery worker` process on Redis reads and writes the database."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from crisis.extensions import db as _db
from crisis.system.models import WorkerCheck
from tests.conftest import REDIS_URL, make_app
from tests.helpers import BIN, ROOT, crisis_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.real_clock]


def test_worker_process_completes_a_task_from_the_queue(pg_url, tmp_path_factory, db):
    queue = f"crisis-test-{uuid.uuid4().hex[:8]}"
    env = crisis_env(
        CRISIS_DATABASE_URL=pg_url,
        CRISIS_BROKER_URL=REDIS_URL,
        CRISIS_SECRET_KEY="worker-test",
        CRISIS_TASK_QUEUE=queue,
    )
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "workers.celery_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        app = make_app(pg_url, tmp_path_factory, BROKER_URL=REDIS_URL, TASK_QUEUE=queue)
        with app.app_context():
            check = WorkerCheck()
            _db.session.add(check)
            _db.session.commit()
            check_id = check.id
            app.extensions["celery"].send_task("system.worker_check", args=[check_id])

            def completed() -> bool:
                _db.session.expire_all()
                return _db.session.get(WorkerCheck, check_id).completed_at is not None

            assert wait_until(completed, timeout=60), "no worker completed the task"
            assert _db.session.get(WorkerCheck, check_id).worker
            _db.session.remove()
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert "system.worker_check" in output
