"""Extensions live unbound here and are attached to the app in create_app()."""

from __future__ import annotations

import functools
import time
import weakref
from typing import Any

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Stable constraint names so Alembic can alter them on PostgreSQL and SQLite alike.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login = LoginManager()
babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


# A pooled connection given back less than this long ago is taken as alive (HikariCP's "alive bypass
# window" does the same): a busy web worker then pays no ping round trip per request, an idle one still
# pings before its first statement. A connection that dies inside the window fails its request once;
# SQLAlchemy then sees the disconnect and replaces every connection in the pool.
PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED_AT = "crisis.returned_at"


def _note_return(_dbapi_connection: Any, record: Any) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    returned = record.info.get(_RETURNED_AT)
    if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
        return  # just connected, or in use a moment ago
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:  # noqa: BLE001  any failure means this connection is unusable
        raise DisconnectionError(str(error)) from error  # the pool drops it and checks out another


_IDLE_PINGS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # pool → its checkout listener


def ping_when_idle(engine: Any) -> None:
    """Ping pooled PostgreSQL connections at checkout only when they sat idle for
    PING_AFTER_IDLE_SECONDS, instead of SQLAlchemy's pre-ping before every request."""
    pool = engine.pool
    if engine.dialect.name != "postgresql" or pool in _IDLE_PINGS:
        return
    _IDLE_PINGS[pool] = functools.partial(_ping_if_idle, engine.dialect)
    event.listen(pool, "checkin", _note_return)
    event.listen(pool, "checkout", _IDLE_PINGS[pool])


def without_pre_ping(engine: object) -> None:
    """Stop pinging pooled connections at checkout, for the engine's own processes (workers and the
    scheduler). Their work is many short transactions, and the ping was one more round trip in each
    of them (two per deadline). A connection that died meanwhile fails its first statement instead;
    SQLAlchemy then discards the whole pool and the work is retried: a task by `_with_db_retry`, a
    sweep by the engine loop. Web requests ping connections that sat idle (ping_when_idle): a user
    would see that error."""
    pool = getattr(engine, "pool", None)
    if pool is not None and hasattr(pool, "_pre_ping"):
        pool._pre_ping = False
    listener = _IDLE_PINGS.pop(pool, None) if pool is not None else None
    if listener is not None:
        event.remove(pool, "checkout", listener)
        event.remove(pool, "checkin", _note_return)
