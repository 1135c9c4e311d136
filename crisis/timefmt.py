"""Store UTC, render local: every time shown to a person carries its zone (WIB/WITA/WIT)."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import parse_pattern
from flask_babel import format_datetime, get_locale, gettext, ngettext

from crisis import clock

# Indonesia's official zone names; Pontianak is WIB too.
ZONE_LABELS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Ujung_Pandang": "WITA",
    "Asia/Jayapura": "WIT",
}
INDONESIAN_ZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the whole zone database from disk: once per process


def is_valid_zone(name: str) -> bool:
    if not name or name not in _zone_names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_label(zone_name: str, moment: datetime | None = None) -> str:
    if zone_name in ZONE_LABELS:
        return ZONE_LABELS[zone_name]
    moment = (moment or clock.now()).astimezone(ZoneInfo(zone_name))
    offset = moment.utcoffset() or timedelta(0)
    hours, rem = divmod(int(offset.total_seconds()), 3600)
    return f"UTC{hours:+d}" + (f":{rem // 60:02d}" if rem else "")


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: say which zone it is in")
    return moment.astimezone(UTC)


def format_local(moment: datetime | None, zone_name: str, fmt: str = "d MMM yyyy HH:mm") -> str:
    """'26 Nov 2026 14:05 WIB' in the active language."""
    if moment is None:
        return "—"
    local = as_utc(moment).astimezone(ZoneInfo(zone_name))
    fmt = localise_pattern(fmt, get_locale())
    return f"{format_datetime(local.replace(tzinfo=None), fmt, rebase=False)} {zone_label(zone_name, local)}"


class LocalTimes:
    """format_local for one page: the zone and language are looked up once, each pattern parsed once
    and each (time, pattern) formatted once. The same text as format_local, several times faster,
    which matters on pages that show hundreds of times (an incident's timeline, the console)."""

    NAMED = frozenset({"short", "medium", "long", "full"})

    def __init__(self, zone_name: str, locale: Any) -> None:
        self.zone_name, self.zone, self.locale = zone_name, ZoneInfo(zone_name), locale
        self._done: dict[tuple[datetime, str], str] = {}
        self._months: dict[int, Any] = {}  # babel builds Locale.months anew on every use

    def __call__(self, moment: datetime | None, fmt: str = "d MMM yyyy HH:mm") -> str:
        if moment is None:
            return "—"
        key = (moment, fmt)
        text = self._done.get(key)
        if text is None:
            if self.locale is None or fmt in self.NAMED:
                text = format_local(moment, self.zone_name, fmt)
            else:
                local = as_utc(moment).astimezone(self.zone)
                text = f"{self._format(local, localise_pattern(fmt, self.locale))} {zone_label(self.zone_name, local)}"
            self._done[key] = text
        return text

    def deadline(self, moment: datetime | None, now: datetime | None = None) -> str:
        """format_deadline for the page: the same text, each deadline formatted once."""
        if moment is None:
            return "—"
        return self(moment, _deadline_pattern(moment, self.zone, now))

    def _format(self, local: datetime, fmt: str) -> str:
        """What flask_babel.format_datetime(local without its zone, fmt, rebase=False) gives: numeric
        fields and month names filled in directly, anything else by babel."""
        pattern, fields = _compiled(fmt)
        if fields is None:
            return pattern.apply(local.replace(tzinfo=UTC), self.locale)
        values = {}
        for name in fields:
            char, width = name[0], len(name)
            if char == "M" and width >= 3:
                if width not in self._months:
                    self._months[width] = self.locale.months["format"]["abbreviated" if width == 3 else "wide"]
                values[name] = self._months[width][local.month]
            else:
                number = getattr(local, _NUMERIC[char])
                values[name] = f"{number % 100:02d}" if char == "y" and width == 2 else f"{number:0{width}d}"
        return pattern.format % values


# Pattern letters LocalTimes fills in itself (as babel.dates.DateTimeFormat does): the rest go to babel.
_NUMERIC = {"d": "day", "H": "hour", "m": "minute", "s": "second", "y": "year", "M": "month"}


@functools.lru_cache(maxsize=64)
def _compiled(fmt: str) -> tuple[Any, tuple[str, ...] | None]:
    pattern = parse_pattern(fmt)
    fields = tuple(re.findall(r"%\((\w+)\)s", pattern.format))
    simple = all(name[0] in _NUMERIC and len(name) <= (4 if name[0] in "My" else 2) for name in fields)
    return pattern, fields if simple else None


def duration_parts(delta: timedelta) -> tuple[str, list[tuple[str, int]]]:
    """The sign and the (unit, amount) pairs a duration is written with: days and hours from a day
    on, hours and minutes from an hour on, else minutes. Two units at most: a reader at night
    wants "1 day 2 h", not "1 day 2 h 5 min 12 s"."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes = seconds // 60
    if days:
        parts = [("day", days)] + ([("hour", hours)] if hours else [])
    elif hours:
        parts = [("hour", hours)] + ([("minute", minutes)] if minutes else [])
    else:
        parts = [("minute", minutes)]
    return sign, parts


def unit_words() -> dict[str, str]:
    """The unit words of durations in the active language, for the live countdown (static/js/app.js)
    to write what the server writes: `{"day": "day", "days": "days", "hour": "h", ...}`."""
    return {
        "day": ngettext("%(num)d day", "%(num)d days", 1).replace("1", "", 1).strip(),
        "days": ngettext("%(num)d day", "%(num)d days", 2).replace("2", "", 1).strip(),
        "hour": gettext("%(n)d h", n=0).replace("0", "", 1).strip(),
        "minute": gettext("%(n)d min", n=0).replace("0", "", 1).strip(),
        "second": gettext("%(n)d s", n=0).replace("0", "", 1).strip(),
        "left": gettext("left"),
        "overdue": gettext("overdue"),
        "running": gettext("running"),
    }


def _unit(unit: str, amount: int) -> str:
    if unit == "day":
        return ngettext("%(num)d day", "%(num)d days", amount)
    if unit == "hour":
        return gettext("%(n)d h", n=amount)
    return gettext("%(n)d min", n=amount)


def format_duration(delta: timedelta) -> str:
    """'1 hari 2 jam', '2 jam 5 mnt', '45 mnt' (English '1 day 2 h', '2 h 5 min'): the one notation
    of durations, the same as the live countdown's; negative durations get a minus sign."""
    if not isinstance(delta, timedelta):  # a span in working days (crisis.playbooks.spec.WorkingDays)
        return str(delta.localised())
    sign, parts = duration_parts(delta)
    return sign + " ".join(_unit(unit, amount) for unit, amount in parts)


def _time_pattern(locale: Any) -> str:
    """The locale's hours and minutes: 'HH.mm' in Indonesian, 'HH:mm' in English."""
    try:
        return str(locale.time_formats["short"].pattern)
    except (AttributeError, KeyError):
        return "HH:mm"


def localise_pattern(fmt: str, locale: Any) -> str:
    """A pattern written with 'HH:mm' in the locale's own time notation ('10.00' in Indonesian)."""
    if "HH:mm" not in fmt or locale is None:
        return fmt
    return _localised(fmt, locale)


@functools.lru_cache(maxsize=256)
def _localised(fmt: str, locale: Any) -> str:
    # Once per pattern and locale: babel builds the locale's time pattern anew on every use.
    if "HH.mm" not in _time_pattern(locale):
        return fmt
    return fmt.replace("HH:mm:ss", "HH.mm.ss").replace("HH:mm", "HH.mm")


def format_deadline(moment: datetime | None, zone_name: str, now: datetime | None = None) -> str:
    """'10.00 WIB' when the deadline falls on today's date in the reader's zone, else with its day
    and date: 'Sen 8 Des 10.00 WIB' ('Mon 8 Dec 10:00 WIB')."""
    if moment is None:
        return "—"
    return format_local(moment, zone_name, _deadline_pattern(moment, ZoneInfo(zone_name), now))


def _deadline_pattern(moment: datetime, zone: ZoneInfo, now: datetime | None) -> str:
    """The time alone on the reader's today, else with the day and date."""
    today = (now or clock.now()).astimezone(zone).date()
    return "HH:mm" if as_utc(moment).astimezone(zone).date() == today else "EEE d MMM HH:mm"
