"""Hot statements run on the database driver itself (PostgreSQL through psycopg 3, as `create_app`
configures it), prepared by the database on each connection.

SQLAlchemy's execution of a statement, and the ORM's loading of its rows, cost a deadline more CPU
than the database's work for it: a firing runs a handful of statements for every batch. Such a
statement is built with SQLAlchemy (its text, quoting and types are the dialect's), compiled once per
process, and executed here on the session's own connection, in its transaction. Its text never
changes (a list of ids is one array parameter, `= ANY(:ids)`), so psycopg prepares it once per
connection and the database plans it once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

_TEXT: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}


def usable(session: Session) -> bool:
    """Whether this session's database runs statements here: PostgreSQL through psycopg 3."""
    dialect = session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def text_of(name: str, build: Callable[[], Any], dialect: Any) -> tuple[str, dict[str, Any]]:
    """The statement `build()` makes, in the driver's parameter style, and its fixed parameters (the
    values written into the statement), converted as SQLAlchemy would. The caller adds the others as
    values the driver takes as they are (ints, text, aware datetimes, lists of ints for an array)."""
    key = (name, dialect.name, dialect.driver)
    built = _TEXT.get(key)
    if built is None:
        compiled = build().compile(dialect=dialect)
        fixed: dict[str, Any] = {}
        for bind, bind_name in compiled.bind_names.items():
            if bind.expanding:
                raise ValueError(f"{name}: a list parameter ({bind_name}) has no fixed text; use = ANY(an array)")
            if bind.value is None and bind.callable is None:
                continue  # given at each execution
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            fixed[bind_name] = process(bind.effective_value) if process else bind.effective_value
        built = _TEXT[key] = (compiled.string, fixed)
    return built


class Runner:
    """Statements run one after the other on one cursor of the session's connection."""

    def __init__(self, cursor: Any, dialect: Any) -> None:
        self.cursor, self.dialect = cursor, dialect

    def fetch(self, name: str, build: Callable[[], Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows as the driver gives them: no type of SQLAlchemy's is applied to them
        (the caller does, where one matters)."""
        sql, fixed = text_of(name, build, self.dialect)
        self.cursor.execute(sql, {**fixed, **params}, prepare=True)
        return self.cursor.fetchall() if self.cursor.rownumber is not None else []  # (description builds every column)


@contextmanager
def runner(session: Session) -> Iterator[Runner]:
    """A `Runner` on the session's connection, in its transaction."""
    connection = session.connection()
    driver = connection.connection.dbapi_connection
    assert driver is not None  # nosec B101  # type narrowing: a connection in use has one
    with driver.cursor() as cursor:
        yield Runner(cursor, connection.dialect)


def fetch(session: Session, name: str, build: Callable[[], Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One statement on the session's connection (see `Runner.fetch`)."""
    with runner(session) as run:
        return run.fetch(name, build, params)
