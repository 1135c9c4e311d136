"""Timeline events in words a duty officer reads, with every time in the viewer's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crisis.i18n import _
from crisis.incidents.models import Incident
from crisis.timefmt import format_duration, format_local
from crisis.timeline.models import TimelineEvent


def _stage_title(incident: Incident, key: str | None, lang: str) -> str:
    for stage in incident.playbook_snapshot["stages"]:
        if stage["key"] == key:
            return stage["title"][lang]
    return key or ""


def _item_text(incident: Incident, key: str | None, lang: str) -> str:
    for stage in incident.playbook_snapshot["stages"]:
        for item in stage["checklist"]:
            if item["key"] == key:
                return item["text"][lang]
    return key or ""


def _time(value: str | None, zone: str) -> str:
    if not value:
        return ""
    try:
        return format_local(datetime.fromisoformat(value), zone, "d MMM HH:mm")
    except ValueError:
        return ""


def describe(event: TimelineEvent, incident: Incident, *, lang: str, zone: str, labels: dict[str, Any]) -> str:
    """One line of detail for an event; the event's own label is shown beside it."""
    data = event.data or {}
    kind = event.kind
    stage = _stage_title(incident, data.get("stage"), lang)
    item = _item_text(incident, data.get("item"), lang)
    if kind == "incident.opened":
        return _(
            "%(sop)s v%(version)s, severity %(severity)s",
            sop=incident.playbook_snapshot["title"][lang],
            version=data.get("playbook_version"),
            severity=data.get("severity"),
        )
    if kind == "stage.started":
        return _("%(stage)s, due %(due)s", stage=stage, due=_time(data.get("due_at"), zone))
    if kind == "stage.completed":
        late = int(data.get("late_seconds") or 0)
        if data.get("breached"):
            return _("%(stage)s, late by %(late)s", stage=stage, late=format_duration(timedelta(seconds=late)))
        return _("%(stage)s, on time", stage=stage)
    if kind == "checklist.waived":
        return f"{item}: {data.get('reason', '')}"
    if kind.startswith("checklist."):
        return item
    if kind == "severity.changed":
        return f"{data.get('before')} → {data.get('after')}: {data.get('reason', '')}"
    if kind in ("unit.involved", "unit.released"):
        return str(data.get("unit", ""))
    if kind == "incident.handed_over":
        return f"{data.get('from_unit')} → {data.get('to_unit')}"
    if kind in ("incident.cancelled",):
        return str(data.get("reason", ""))
    if kind.startswith("statement.") or kind == "key_messages.published_by_unit":
        label = labels.get(data.get("statement_kind"), "")
        when = _time(data.get("published_at"), zone)
        return " · ".join(str(part) for part in (label, data.get("channel"), when) if part)
    # Other domains' events (deadline engine, reviews): their plain values, times made local.
    parts = []
    for key, value in data.items():
        if value is None or isinstance(value, dict | list) or key.endswith("_id"):
            continue
        text = _time(value, zone) if isinstance(value, str) and key.endswith("_at") else str(value)
        parts.append(text)
    return " · ".join(parts)
