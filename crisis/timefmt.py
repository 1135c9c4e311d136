"""Store UTC, render local: every time shown to a person carries its zone (WIB/WITA/WIT)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask_babel import format_datetime, gettext

# Indonesia's official zone names; Pontianak is WIB too.
ZONE_LABELS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Ujung_Pandang": "WITA",
    "Asia/Jayapura": "WIT",
}
INDONESIAN_ZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")


def is_valid_zone(name: str) -> bool:
    if not name or name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_label(zone_name: str, moment: datetime | None = None) -> str:
    if zone_name in ZONE_LABELS:
        return ZONE_LABELS[zone_name]
    moment = (moment or datetime.now(UTC)).astimezone(ZoneInfo(zone_name))
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
    return f"{format_datetime(local.replace(tzinfo=None), fmt, rebase=False)} {zone_label(zone_name, local)}"


def format_duration(delta: timedelta) -> str:
    """'2 j 05 m' style, localised unit letters; negative durations get a minus sign."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes = seconds // 60
    parts = []
    if days:
        parts.append(gettext("%(n)dd", n=days))
    if hours or days:
        parts.append(gettext("%(n)dh", n=hours))
    parts.append(gettext("%(n)dm", n=minutes))
    return sign + " ".join(parts)
