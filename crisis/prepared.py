"""Hot statements run on the database driver itself (PostgreSQL through psycopg 3, as `create_app`
configures it), prepared by the database on each connection.

SQLAlchemy's execution of a statement, and the ORM's loading of its rows, cost a deadline more CPU
than the database's work for it: a firing runs a handful of statements for every batch. Such a
statement is built with SQLAlchemy (its text, quoting and types are the dialect's), compiled once per
process, and executed here on the session's own connection, in its transaction. Its text never
changes (a list of ids is one array parameter, `= ANY(:ids)`), so psycopg prepares it once per
connection and the database plans it once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

_TEXT: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}


def usable(session: Session) -> bool:
    """Whether this session's database runs statements here: PostgreSQL through psycopg 3."""
    dialect = session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def text_of(name: str, build: Callable[[], Any], dialect: Any) -> tuple[str, dict[str, Any]]:
    """The statement `build()` makes, in the driver's parameter style, with its fixed parameters (the
    values written into the statement: plain text, numbers and booleans, which need no conversion)."""
    key = (name, dialect.name, dialect.driver)
    built = _TEXT.get(key)
    if built is None:
        compiled = build().compile(dialect=dialect)
        fixed = {
            bind_name: bind.effective_value for bind, bind_name in compiled.bind_names.items() if bind.value is not None
        }
        built = _TEXT[key] = (compiled.string, fixed)
    return built


def fetch(session: Session, name: str, build: Callable[[], Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run the statement on the session's connection (in its transaction) and return its rows as the
    driver gives them: no type of SQLAlchemy's is applied to them (the caller does, where one matters)."""
    connection = session.connection()
    sql, fixed = text_of(name, build, connection.dialect)
    driver = connection.connection.dbapi_connection
    assert driver is not None  # nosec B101  # type narrowing: a connection in use has one
    with driver.cursor() as cursor:
        cursor.execute(sql, {**fixed, **params}, prepare=True)
        return cursor.fetchall() if cursor.description is not None else []
