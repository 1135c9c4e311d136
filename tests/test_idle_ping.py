"""Pooled PostgreSQL connections are pinged at checkout only after sitting idle (extensions.ping_when_idle).

What the server saw is read from pg_stat_activity: the last statement of the connection's backend is
`;` after a ping and `ROLLBACK` (the pool's reset) when the connection was handed out unpinged.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from crisis import extensions
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
def engine(pg_url):
    engine = create_engine(pg_url, pool_size=1, max_overflow=0)
    extensions.ping_when_idle(engine)
    yield engine
    engine.dispose()


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _last_statement(pid: int) -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        return admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


def _check_out(engine) -> None:
    """Check a connection out and return it, sending nothing on it."""
    engine.raw_connection().close()


def test_a_connection_back_a_moment_ago_is_handed_out_without_a_ping(engine):
    pid = _backend(engine)
    _check_out(engine)
    assert _last_statement(pid) == "ROLLBACK"


def test_a_connection_idle_for_the_window_is_pinged_first(engine, monkeypatch):
    pid = _backend(engine)
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)
    _check_out(engine)
    assert _last_statement(pid) == ";"


def test_a_connection_that_died_while_idle_is_replaced_before_anyone_uses_it(engine, monkeypatch):
    pid = _backend(engine)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend(engine) != pid  # the ping failed, the pool connected anew; no error reached the caller


def test_a_connection_that_died_inside_the_window_fails_once_then_the_pool_recovers(engine):
    pid = _backend(engine)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert _backend(engine) != pid


def test_the_app_pings_idle_connections_and_the_engine_processes_do_not(app, pg_url):
    from crisis.extensions import db

    with app.app_context():
        assert db.engine.pool in extensions._IDLE_PINGS
    engine = create_engine(pg_url)
    extensions.ping_when_idle(engine)
    extensions.without_pre_ping(engine)
    assert engine.pool not in extensions._IDLE_PINGS
    engine.dispose()
