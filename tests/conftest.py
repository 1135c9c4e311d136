"""Fixtures that read like a user's day: app -> database -> client -> signed in as someone.

Every run creates its own PostgreSQL database and drops it at the end. The schema comes from
the real migrations; after each test that touched the database every table is emptied.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crisis import create_app
from crisis.extensions import db as _db
from crisis.extensions import limiter

PG_ADMIN_URL = os.environ.get(
    "CRISIS_TEST_PG_ADMIN_URL", "postgresql://crisis_test:crisis_test@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CRISIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
DEMO_PASSWORD = "piket-demo-2026"


def _suite_now(setting: str | None) -> datetime:
    """The suite's one injected moment. CRISIS_TEST_NOW (ISO 8601 with a zone, e.g.
    `2027-02-28T23:30+09:00`) repeats a run on any date; without it, today at 03:00 UTC (10:00 WIB)."""
    if not setting:
        return datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    moment = datetime.fromisoformat(setting)
    if moment.tzinfo is None:
        raise pytest.UsageError(f"CRISIS_TEST_NOW={setting!r} needs a zone, e.g. 2027-02-28T23:30+09:00")
    return moment.astimezone(UTC)


# pytest-xdist workers take the moment their controller chose (see pytest_configure), so a run
# that starts a second before midnight UTC still has one date.
FIXED_NOW = _suite_now(os.environ.get("CRISIS_TEST_NOW") or os.environ.get("PYTEST_CRISIS_SUITE_NOW"))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a run without workers
        os.environ["PYTEST_CRISIS_SUITE_NOW"] = FIXED_NOW.isoformat()


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def _drop_abandoned_databases(conn: psycopg.Connection) -> None:
    """Databases of earlier runs that were killed before their clean-up (their process is gone)."""
    for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'crisis_test_%'").fetchall():
        match = re.fullmatch(r"crisis_test_(\d+)_[0-9a-f]{8}", name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except PermissionError:
            continue  # alive, someone else's


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"crisis_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        _drop_abandoned_databases(conn)
        conn.execute(f'CREATE DATABASE "{name}"')
        # A commit need not wait for its WAL to reach the disk (~1 ms each): nothing here outlives the run.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    url = re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN_URL)
    yield _sqlalchemy_url(url)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch_database() -> Iterator[Callable[[], str]]:
    """scratch_database(): the URL of a new, empty PostgreSQL database, dropped after the test (named
    like the run's own, so an aborted run's is dropped too)."""
    made: list[str] = []

    def _make() -> str:
        name = f"crisis_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _sqlalchemy_url(re.sub(r"/[^/]*$", f"/{name}", PG_ADMIN_URL))

    yield _make
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(database_url: str, tmp_path_factory: pytest.TempPathFactory, **overrides: Any) -> Flask:
    instance = tmp_path_factory.mktemp("instance")
    os.environ["CRISIS_INSTANCE_PATH"] = str(instance)
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": True,
        # A mail server is set up (nothing listens there unless a test starts one); a test of the
        # embedded default without one sets SMTP_HOST to None.
        "SMTP_HOST": "127.0.0.1",
    }
    config.update(overrides)
    try:
        return create_app(config)
    finally:
        os.environ.pop("CRISIS_INSTANCE_PATH", None)


@pytest.fixture(scope="session")
def app(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from flask_migrate import upgrade

    application = make_app(pg_url, tmp_path_factory)
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        _db.engine.dispose()


@functools.cache
def _emptying_statements() -> tuple[str, str]:
    """DELETE from every table (dependents first) and restart every sequence; and the TRUNCATE that
    does the same. A test leaves a few hundred rows: deleting them takes ~20 ms where TRUNCATE,
    which gives each of the ~35 tables a new file, took ~400 ms after every test."""
    tables = [t.name for t in _db.metadata.sorted_tables]
    with _db.engine.connect() as conn:
        sequences = [
            row[0]
            for row in conn.execute(
                text(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences "
                    "WHERE schemaname = current_schema()"
                )
            )
        ]
    # setval(..., false) as ALTER SEQUENCE ... RESTART does, in a fifth of the time.
    restart = "SELECT " + ", ".join(f"setval('{s}', 1, false)" for s in sequences)
    delete = "; ".join([*(f'DELETE FROM "{t}"' for t in reversed(tables)), restart])
    truncate = "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
    return delete, truncate


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    """The database inside an app context; emptied after the test."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        delete, truncate = _emptying_statements()
        try:
            with _db.engine.begin() as conn:
                conn.exec_driver_sql(delete)
        except IntegrityError:  # rows referring to each other across tables: TRUNCATE ... CASCADE
            with _db.engine.begin() as conn:
                conn.exec_driver_sql(truncate)
        # The ids start again, so the incident page's rows rendered in this process (kept by id, as
        # in a database whose ids never come back) go with the rows: else the next test's event 17
        # shows this test's event 17.
        from crisis.incidents import presenters

        presenters._ROWS.clear()


@pytest.fixture(scope="session", autouse=True)
def _library_validated_once() -> Iterator[None]:
    """Seeding the demo validates the seven SOP files of sops/ before most tests. Validation is a
    function of a file's bytes alone, so each distinct file is validated once per run (~0.3 s a
    seeding); a file with other bytes, or another file, is validated afresh."""
    from crisis.playbooks import service, validator

    results: dict[tuple[str, bytes], Any] = {}

    def validate_file(path: Any) -> Any:
        key = (str(path), Path(path).read_bytes())
        if key not in results:
            results[key] = validator.validate_file(path)
        return results[key]

    service.validate_file = validate_file
    yield
    service.validate_file = validator.validate_file


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """argon2 with its smallest cost: the same code path at ~1 ms a sign-in instead of ~0.3 s.
    The suite signs in a few hundred times; the production cost is the library's default."""
    from argon2 import PasswordHasher

    from crisis import seed
    from crisis.auth import service

    saved = service._hasher, service._DUMMY_HASH
    service._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    service._DUMMY_HASH = service._hasher.hash("dummy-password")
    seed._demo_password_hash.cache_clear()
    yield
    service._hasher, service._DUMMY_HASH = saved
    seed._demo_password_hash.cache_clear()


class Rows:
    """Every row of the database, copied out with COPY once a set-up is done and copied back into an
    empty database for a later test that asks for the same set-up (~30 ms; seeding the demo takes
    ~250 ms, a security world a second), with what the set-up answered."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.tables: list[tuple[str, bytes]] = []
        self.seen: list[tuple[str, int]] = []  # each sequence used so far, with its value
        self.sequences = ""  # one statement that sets them back to those values

    @staticmethod
    def _raw(conn: Any) -> psycopg.Connection:
        return conn.connection.driver_connection

    @staticmethod
    def sequence_values() -> list[tuple[str, int]]:
        with _db.engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    text(
                        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value FROM pg_sequences "
                        "WHERE schemaname = current_schema() AND last_value IS NOT NULL ORDER BY 1"
                    )
                )
            ]

    def take(self) -> Rows:
        with _db.engine.connect() as conn:
            raw = self._raw(conn)
            for table in _db.metadata.sorted_tables:
                with raw.cursor() as cursor:
                    with cursor.copy(f'COPY "{table.name}" TO STDOUT (FORMAT BINARY)') as copy:
                        data = b"".join(bytes(chunk) for chunk in copy)
                    if cursor.rowcount:
                        self.tables.append((table.name, data))
            conn.rollback()
        self.seen = self.sequence_values()
        self.sequences = "SELECT " + ", ".join(f"setval('{name}', {value})" for name, value in self.seen)
        return self

    def restore(self) -> Any:
        with _db.engine.begin() as conn:
            raw = self._raw(conn)
            for name, data in self.tables:
                with raw.cursor() as cursor, cursor.copy(f'COPY "{name}" FROM STDIN (FORMAT BINARY)') as copy:
                    copy.write(data)
            conn.exec_driver_sql(self.sequences)
        return self.answer


# Set-ups by (name, the clock's moment): valid only on the injected clock, which stands still.
_taken: dict[tuple[str, datetime], Rows] = {}
_org_moment: list[datetime] = [FIXED_NOW]  # the moment the current test's demo organisation was made at


def _database_is_empty() -> bool:
    anything = " OR ".join(f'EXISTS (SELECT FROM "{t.name}")' for t in _db.metadata.sorted_tables)
    with _db.engine.connect() as conn:
        return not conn.exec_driver_sql(f"SELECT {anything}").scalar()


def _empty_database() -> None:
    with _db.engine.begin() as conn:
        conn.exec_driver_sql(_emptying_statements()[0])


@pytest.fixture
def org(db: Any, app: Flask) -> dict[str, Any]:
    """The demo organisation: units by code and users by (unit code, role)."""
    from crisis import clock
    from crisis.auth.models import Membership, User
    from crisis.seed import seed_demo_data
    from crisis.units.models import Unit

    # The test's own clock: FIXED_NOW when injected, the real time in a `real_clock` test.
    now = clock.now()
    # Only a seeding on the injected clock into an empty database is copied out, and only there copied back.
    key = ("demo", now)
    reusable = "clock" in app.extensions and _database_is_empty()
    if reusable and key in _taken:
        _taken[key].restore()
    else:
        seed_demo_data(session=db.session, now=now)
        db.session.commit()
        if reusable:
            _taken[key] = Rows().take()
    units = {u.code: u for u in db.session.query(Unit)}
    people = db.session.query(User).options(selectinload(User.memberships).joinedload(Membership.unit))
    users = {(u.memberships[0].unit.code, u.memberships[0].role): u for u in people}
    _org_moment[0] = now
    return {"units": units, "users": users}


@pytest.fixture
def built_once(db: Any, org: dict[str, Any], app: Flask) -> Callable[[str, Callable[[], Any]], Any]:
    """built_once(name, build): what build() commits on top of the demo organisation, made by the
    first test that asks at this clock and copied back in for the later ones, with build()'s answer
    (plain values such as ids, never rows of a session). Ask before the test writes anything."""

    def _built(name: str, build: Callable[[], Any]) -> Any:
        demo = _taken.get(("demo", _org_moment[0]))
        key = (name, _org_moment[0])
        untouched = demo is not None and "clock" in app.extensions and Rows.sequence_values() == demo.seen
        if untouched and key in _taken:
            db.session.rollback()
            _empty_database()
            answer = _taken[key].restore()
            db.session.expire_all()
            return copy.deepcopy(answer)
        answer = build()
        db.session.commit()
        if untouched:
            _taken[key] = Rows(copy.deepcopy(answer)).take()
        return answer

    return _built


@pytest.fixture
def log_issue(db: Any, org: dict[str, Any]) -> Callable[..., Any]:
    """log_issue(unit=..., by=..., title=..., ...): a hoax logged at FIXED_NOW (tests/factories.py), committed."""
    from tests import factories

    def _log(**fields: Any) -> Any:
        issue = factories.log_issue(db.session, org, now=FIXED_NOW, **fields)
        db.session.commit()
        return issue

    return _log


@pytest.fixture
def incident(db: Any, org: dict[str, Any], log_issue: Callable[..., Any]) -> Any:
    """Kota Semarang's hoax escalated at FIXED_NOW: hoax-clarification, severity 3, its head commanding."""
    from tests import factories

    opened = factories.escalate(db.session, org, log_issue(), now=FIXED_NOW)
    db.session.commit()
    return opened


class RequestScopedClient(FlaskClient):
    """Each request gets its own app context (and so its own g and database session), as in
    production; the test's own context stays open around it for checks and set-up."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask, db: Any) -> FlaskClient:
    app.test_client_class = RequestScopedClient
    return app.test_client()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = DEMO_PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def login_as(client: FlaskClient, org: dict[str, Any]) -> Callable[[str, str], FlaskClient]:
    """login_as("officer", "KOTA-SEMARANG") signs the client in as that demo user. The sign-in limit
    counts in the database outside the test's transaction (crisis.ratelimit), so each test starts
    with no attempts counted: a module that signs one person in for each of its cases would
    otherwise meet the limit by its eleventh case."""
    limiter.reset()

    def _login(role: str, unit_code: str) -> FlaskClient:
        user = org["users"][(unit_code, role)]
        response = sign_in(client, user.email)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return _login


@pytest.fixture
def token_for(db: Any, org: dict[str, Any]) -> Callable[[str, str], dict[str, str]]:
    """Headers with a fresh personal API token of a demo user."""
    from crisis.auth import service as people

    def _token(role: str, unit_code: str) -> dict[str, str]:
        user = org["users"][(unit_code, role)]
        _row, plaintext = people.create_token(session=db.session, user=user, name="test")
        db.session.commit()
        return {"Authorization": f"Bearer {plaintext}"}

    return _token


def form_post(client: FlaskClient, path: str, data: dict[str, Any], page: str | None = None) -> Any:
    """POST a form the way a browser does: with the CSRF token from the page it sits on."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page or path)})


@pytest.fixture
def clock(app: Flask) -> Iterator[Any]:
    """The app's clock, settable: `clock.now = ...`; FIXED_NOW to begin with. Every test that uses
    the app runs on it (see `_one_clock`), so its data and the code under test share one clock."""

    class Clock:
        now = FIXED_NOW

    fake = Clock()
    app.extensions["clock"] = lambda: fake.now
    yield fake
    app.extensions.pop("clock", None)


def pytest_report_header() -> str:
    return f"suite clock (CRISIS_TEST_NOW): {FIXED_NOW.isoformat()}"


@pytest.fixture(autouse=True)
def _one_clock(request: pytest.FixtureRequest) -> None:
    """One clock per test. A test that uses the app runs on the injected clock, set to FIXED_NOW,
    so data it plans from FIXED_NOW and the pages, services and sweeps it checks agree on any date.
    A test marked `real_clock` (real processes, the database's own clock) gets no injected clock
    and must plan its data from the real time instead."""
    if request.node.get_closest_marker("real_clock") is not None:
        return
    if "app" in request.fixturenames:
        request.getfixturevalue("clock")
