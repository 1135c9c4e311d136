"""Flask-Limiter's counts in the database, the one store every process of a deployment shares.

A count kept in process memory is no limit once several web processes serve: with two gunicorn
workers the sign-in limit of 10 let 14 to 16 wrong passwords through. Redis is not there in every
deployment (the embedded default has none), and the database always is, so the limiter counts
there: one row per key and fixed window, `hits` raised by one atomic upsert (INSERT ... ON CONFLICT
DO UPDATE ... RETURNING, on PostgreSQL and SQLite alike), which also starts a new window when the
old one has run out. Each count commits on its own connection, so a request that rolls back its own
work still counts. Keys are stored as SHA-256: they hold the e-mail addresses people typed.

Windows run on the app's clock (crisis.clock), so tests move time instead of waiting.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import Any

from limits.storage import Storage
from sqlalchemy import String, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

STORAGE_URI = "crisis-db://"


class RateLimitCount(db.Model):
    """Requests counted against one limit key in its current window."""

    __tablename__ = "rate_limit_count"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[int] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class DatabaseStorage(Storage):
    """`crisis-db://`: a limits storage (fixed window) in the app's database."""

    STORAGE_SCHEME = ["crisis-db"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = clock.now()
        table = RateLimitCount.__table__
        engine = db.engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).values(
            key_hash=_key_hash(key), hits=amount, expires_at=now + timedelta(seconds=expiry)
        )
        window_over = table.c.expires_at <= now
        upsert = insert.on_conflict_do_update(
            index_elements=[table.c.key_hash],
            set_={
                "hits": case((window_over, amount), else_=table.c.hits + amount),
                "expires_at": case((window_over, insert.excluded.expires_at), else_=table.c.expires_at),
            },
        ).returning(table.c.hits)
        with engine.begin() as conn:
            return int(conn.execute(upsert).scalar_one())

    def _live(self, key: str) -> RateLimitCount | None:
        with Session(db.engine) as session:
            return session.scalar(
                select(RateLimitCount).where(
                    RateLimitCount.key_hash == _key_hash(key), RateLimitCount.expires_at > clock.now()
                )
            )

    def get(self, key: str) -> int:
        row = self._live(key)
        return row.hits if row is not None else 0

    def get_expiry(self, key: str) -> float:
        row = self._live(key)
        return (row.expires_at if row is not None else clock.now()).timestamp()

    def check(self) -> bool:
        try:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as conn:
            return conn.execute(delete(RateLimitCount)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(delete(RateLimitCount).where(RateLimitCount.key_hash == _key_hash(key)))


def sweep_expired(session: Session, now: datetime | None = None) -> int:
    """Delete the counts of windows that have run out (a scheduler minute job); commits."""
    deleted = session.execute(delete(RateLimitCount).where(RateLimitCount.expires_at <= (now or clock.now())))
    session.commit()
    return int(deleted.rowcount or 0)  # type: ignore[attr-defined]


def retry_message(reset_at: float | None, *, now: datetime | None = None) -> str:
    """The sign-in limit as a sentence in the reader's language, with the minutes to wait
    ('Terlalu banyak percobaan masuk; coba lagi dalam 4 menit'), never the limit's own
    notation ('10 per 5 minute')."""
    from crisis.i18n import _, ngettext

    if reset_at is None:
        return _("Too many sign-in attempts; try again in a few minutes.")
    seconds = max(0.0, reset_at - (now or clock.now()).timestamp())
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many sign-in attempts; try again in %(num)d minute.",
        "Too many sign-in attempts; try again in %(num)d minutes.",
        minutes,
    )
