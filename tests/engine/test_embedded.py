"""The embedded mode: SQLite, the scheduler inside the process, the same Celery tasks run eagerly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_migrate import upgrade
from sqlalchemy import select

from crisis.auth.models import User
from crisis.escalation.models import Timer
from crisis.extensions import db as _db
from crisis.notify.models import Notice
from crisis.seed import seed_demo_data
from crisis.units.models import Unit
from tests.conftest import make_app
from tests.engine.sinks import SmtpSink
from tests.factories import open_incident
from tests.helpers import wait_until
from workers.scheduler import build_scheduler


def test_embedded_scheduler_fires_a_deadline_of_a_second_through_eager_tasks(tmp_path, tmp_path_factory):
    smtp = SmtpSink().start()
    app = make_app(
        f"sqlite:///{tmp_path / 'crisis.sqlite3'}",
        tmp_path_factory,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        ENGINE_MAX_SLEEP_SECONDS=0.5,
    )
    assert app.config["EMBEDDED"]
    scheduler = build_scheduler(app, background=True)
    try:
        with app.app_context():
            upgrade()
            seed_demo_data(session=_db.session)
            _db.session.commit()
            org = {
                "units": {u.code: u for u in _db.session.query(Unit)},
                "users": {(u.memberships[0].unit.code, u.memberships[0].role): u for u in _db.session.query(User)},
            }
            scheduler.start()
            now = datetime.now(UTC)
            # Due in 3 s: further than the engine's sleep, so only the writer's wake-up makes it prompt.
            open_incident(_db.session, org, now=now, started_at=now - timedelta(minutes=15) + timedelta(seconds=3))
            _db.session.commit()
            assert wait_until(lambda: len(smtp.messages) == 1, timeout=20)

            def sent() -> Notice | None:
                # The server has the message before the engine's COMMIT marks it sent (the at-least-once
                # window): wait for that commit.
                _db.session.expire_all()
                return _db.session.scalar(select(Notice).where(Notice.channel == "email", Notice.status == "sent"))

            assert wait_until(lambda: sent() is not None, timeout=20)
            notice = sent()
            assert notice.lateness_seconds < 1.0
            assert _db.session.scalar(select(Timer).where(Timer.state == "fired")).lateness_seconds < 1.0
            _db.session.remove()
    finally:
        scheduler.shutdown(wait=False)
        smtp.stop()
        with app.app_context():
            _db.engine.dispose()
