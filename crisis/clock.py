"""One source of the current time, injectable in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import current_app, has_app_context


def _system_now() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The current time, timezone-aware UTC. Tests replace app.extensions['clock']."""
    if has_app_context():
        clock: Callable[[], datetime] | None = current_app.extensions.get("clock")
        if clock is not None:
            return clock()
    return _system_now()
