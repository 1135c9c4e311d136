"""Extensions live unbound here and are attached to the app in create_app()."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
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


def without_pre_ping(engine: object) -> None:
    """Stop pinging pooled connections at checkout, for the engine's own processes (workers and the
    scheduler). Their work is many short transactions, and the ping was one more round trip in each
    of them (two per deadline). A connection that died meanwhile fails its first statement instead;
    SQLAlchemy then discards the whole pool and the work is retried: a task by `_with_db_retry`, a
    sweep by the engine loop. Web requests keep pinging: a user would see that error."""
    pool = getattr(engine, "pool", None)
    if pool is not None and hasattr(pool, "_pre_ping"):
        pool._pre_ping = False
