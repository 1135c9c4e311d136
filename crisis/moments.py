"""Times a person enters, checked against the record's own timeline.

A publication, a first sighting or a due date typed by a person is where measures get bent: a
statement "published" before the incident opened gives a negative time to first statement, a KPI
met and a burst of overdue reminders. Every such time goes through `check` in the service layer, so
pages and the API refuse the same input with the same sentence, next to the field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context

from crisis.i18n import lazy_gettext as _l

DEFAULT_SKEW = timedelta(minutes=2)


def skew() -> timedelta:
    """How far ahead of the server's clock an entered time may lie (config CLOCK_SKEW_SECONDS)."""
    if has_app_context():
        seconds = current_app.config.get("CLOCK_SKEW_SECONDS")
        if seconds not in (None, ""):
            return timedelta(seconds=max(0, int(seconds)))
    return DEFAULT_SKEW


def problem(
    moment: Any,
    *,
    now: datetime,
    not_before: Iterable[tuple[datetime | None, Any]] = (),
    not_after: Iterable[tuple[datetime | None, Any]] = (),
) -> str | None:
    """What is wrong with an entered time, as a sentence, or None.

    not_before / not_after: (bound, sentence) pairs; a bound that is None is skipped. The future
    (beyond the clock skew) is always refused."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        return str(_l("Give a date and time with its zone."))
    if moment > now + skew():
        return str(_l("This time is in the future; give the time it actually happened."))
    for bound, sentence in not_before:
        if bound is not None and moment < bound:
            return str(sentence)
    for bound, sentence in not_after:
        if bound is not None and moment > bound:
            return str(sentence)
    return None
