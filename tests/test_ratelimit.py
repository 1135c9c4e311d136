"""Rate limits counted in the database (crisis/ratelimit.py): exact under concurrent requests on
PostgreSQL and SQLite, windows by the app's clock, and expired counts swept away."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crisis import ratelimit
from crisis.extensions import db as _db
from crisis.extensions import limiter
from crisis.ratelimit import DatabaseStorage, RateLimitCount
from tests.conftest import FIXED_NOW, make_app, sign_in
from tests.helpers import race

THREADS = 8
HITS_EACH = 5


@pytest.fixture
def sqlite_app(tmp_path, tmp_path_factory):
    """The embedded default's database: a SQLite file, migrated the way `crisis db upgrade` does."""
    from flask_migrate import upgrade

    application = make_app(f"sqlite:///{tmp_path / 'crisis.sqlite3'}", tmp_path_factory)
    application.extensions["clock"] = lambda: FIXED_NOW
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        _db.engine.dispose()


def _hammer(application) -> list[int]:
    storage = DatabaseStorage()

    def hits(_session) -> list[int]:
        return [storage.incr("login:raced@example.go.id|10.0.0.1", 300) for _ in range(HITS_EACH)]

    counted = race(application, hits, times=THREADS)
    assert len(counted) == THREADS, "a thread failed"
    return sorted(n for each in counted for n in each)


def test_requests_at_the_same_moment_are_counted_exactly_on_postgresql(app, db):
    """Eight requests at once, five times each: every one got its own number, none was lost."""
    assert _hammer(app) == list(range(1, THREADS * HITS_EACH + 1))


def test_requests_at_the_same_moment_are_counted_exactly_on_sqlite(sqlite_app):
    assert _hammer(sqlite_app) == list(range(1, THREADS * HITS_EACH + 1))


def test_a_window_that_ran_out_starts_counting_again(client, db, org, clock):
    email = org["users"][("KAB-GOWA", "head")].email
    for _ in range(10):
        assert sign_in(client, email, "tebakan-yang-salah").status_code == 401
    assert sign_in(client, email, "tebakan-yang-salah").status_code == 429
    clock.now = FIXED_NOW + timedelta(minutes=5) - timedelta(seconds=1)
    assert sign_in(client, email, "tebakan-yang-salah").status_code == 429
    clock.now = FIXED_NOW + timedelta(minutes=5)
    assert sign_in(client, email, "tebakan-yang-salah").status_code == 401  # a new window, counting from one
    assert db.session.scalar(select(func.max(RateLimitCount.hits))) == 1


def test_the_minute_job_removes_counts_whose_window_ran_out(client, db, org, clock):
    email = org["users"][("KAB-GOWA", "head")].email
    assert sign_in(client, email, "tebakan-yang-salah").status_code == 401
    assert ratelimit.sweep_expired(db.session, now=FIXED_NOW + timedelta(minutes=4)) == 0
    assert db.session.scalar(select(func.count()).select_from(RateLimitCount)) == 1
    assert ratelimit.sweep_expired(db.session, now=FIXED_NOW + timedelta(minutes=5)) == 1
    assert db.session.scalar(select(func.count()).select_from(RateLimitCount)) == 0


def test_the_limiter_counts_in_the_database_unless_told_otherwise(app):
    assert app.config["RATELIMIT_STORAGE_URI"] == ratelimit.STORAGE_URI
    assert isinstance(limiter.storage, DatabaseStorage)
