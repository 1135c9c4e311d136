"""Health, readiness and the scheduler's heartbeat."""

from __future__ import annotations

from datetime import timedelta

from crisis.system import service as system
from crisis.system.models import SchedulerHeartbeat
from tests.conftest import FIXED_NOW
from workers.scheduler import build_scheduler, tick


def test_healthz_answers_without_dependencies(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_fails_until_the_scheduler_ticks(client, app, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["scheduler"] == {"ok": False, "last_tick_age_seconds": None}
    tick(app, "test-host:1")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["database"] == {"ok": True}


def test_a_stale_scheduler_makes_readyz_fail(db):
    system.record_tick(session=db.session, name="a:1", now=FIXED_NOW)
    db.session.commit()
    fresh = system.readiness(
        session=db.session, broker_url=None, stale_seconds=30, now=FIXED_NOW + timedelta(seconds=29)
    )
    stale = system.readiness(
        session=db.session, broker_url=None, stale_seconds=30, now=FIXED_NOW + timedelta(seconds=31)
    )
    assert fresh["ok"] and not stale["ok"]
    assert stale["scheduler"]["last_tick_age_seconds"] == 31


def test_readyz_reports_an_unreachable_broker(db):
    checks = system.readiness(session=db.session, broker_url="redis://127.0.0.1:1/0", stale_seconds=30)
    assert checks["broker"]["ok"] is False and checks["ok"] is False


def test_two_schedulers_keep_separate_heartbeats(app, db):
    tick(app, "host-a:1")
    tick(app, "host-a:1")
    tick(app, "host-b:7")
    beats = {b.name: b.ticks for b in db.session.query(SchedulerHeartbeat)}
    assert beats == {"host-a:1": 2, "host-b:7": 1}


def test_scheduler_has_a_one_second_tick(app):
    scheduler = build_scheduler(app, background=True)
    job = scheduler.get_job("tick")
    assert job.trigger.interval == timedelta(seconds=1)
    assert scheduler.get_job("minutely").trigger.interval == timedelta(minutes=1)


def test_minutely_sweeps_build_the_monthly_reports_once(app, db, org):
    from crisis.reports.models import MonthlyReport
    from workers.scheduler import minutely

    minutely(app)
    first = db.session.query(MonthlyReport).count()
    minutely(app)
    assert first > 0 and db.session.query(MonthlyReport).count() == first


def test_the_wsgi_entry_point_compiles_templates_and_freezes_start_up_objects(tmp_path):
    # In a process of its own: a frozen object's garbage is never collected, so not in the test runner.
    import os
    import subprocess  # nosec B404  # the interpreter running these tests
    import sys

    code = (
        "import gc\n"
        "from crisis.wsgi import app\n"
        "compiled = {key[1] for key in app.jinja_env.cache.keys()}\n"
        "print(app.test_client().get('/healthz').status_code, gc.get_freeze_count() > 50000,\n"
        "      {'emails/notice.html', 'incidents/page.html', 'reports/dashboard.html'} <= compiled)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    env.update(CRISIS_INSTANCE_PATH=str(tmp_path), CRISIS_SECRET_KEY="wsgi-test")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)  # nosec B603
    assert done.stdout.split() == ["200", "True", "True"], done.stderr[-2000:]
