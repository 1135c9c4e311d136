"""Timeline events in words a duty officer reads, with every time in the viewer's zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

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


class Translated:
    """A table of lazy labels translated on first use, once per page instead of once per row."""

    def __init__(self, labels: dict[str, Any]) -> None:
        self._labels, self._done = labels, {}

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self._done:
            label = self._labels.get(key)
            self._done[key] = default if label is None else str(label)
        return self._done[key]

    def __getitem__(self, key: str) -> str:
        if key not in self._labels:
            raise KeyError(key)
        return self.get(key)


def translated(labels: dict[str, Any]) -> Translated:
    return Translated(labels)


class Describer:
    """describe() for every event of one incident's page: the viewer's language and zone are fixed,
    and the snapshot's stage titles and item texts are looked up in a table built once."""

    def __init__(self, incident: Incident, *, lang: str, zone: str, labels: dict[str, Any]) -> None:
        self.incident, self.lang, self.zone, self.labels = incident, lang, zone, labels
        self._texts: dict[str, str] | None = None

    def _table(self) -> dict[str, str]:
        if self._texts is None:
            texts: dict[str, str] = {}
            for stage in reversed(self.incident.playbook_snapshot["stages"]):  # the first match wins, as above
                for item in reversed(stage["checklist"]):
                    texts["item:" + item["key"]] = item["text"][self.lang]
                texts["stage:" + stage["key"]] = stage["title"][self.lang]
            self._texts = texts
        return self._texts

    def __call__(self, event: TimelineEvent) -> str:
        data = event.data or {}
        table = self._table()
        stage, item = data.get("stage"), data.get("item")
        return describe(
            event,
            self.incident,
            lang=self.lang,
            zone=self.zone,
            labels=self.labels,
            stage_title=table.get(f"stage:{stage}", stage) if stage else "",
            item_text=table.get(f"item:{item}", item) if item else "",
        )


def _time(value: str | None, zone: str) -> str:
    if not value:
        return ""
    try:
        return format_local(datetime.fromisoformat(value), zone, "d MMM HH:mm")
    except ValueError:
        return ""


def describe(
    event: TimelineEvent,
    incident: Incident,
    *,
    lang: str,
    zone: str,
    labels: dict[str, Any],
    stage_title: str | None = None,
    item_text: str | None = None,
) -> str:
    """One line of detail for an event; the event's own label is shown beside it."""
    data = event.data or {}
    kind = event.kind
    stage = _stage_title(incident, data.get("stage"), lang) if stage_title is None else stage_title
    item = _item_text(incident, data.get("item"), lang) if item_text is None else item_text
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


# Rendered rows of the incident page that never change once written, shared by the pages of this
# process: at most ROW_LIMIT of them (then emptied, to start again with what pages show now).
_ROWS: dict[tuple[Any, ...], Markup] = {}
ROW_LIMIT = 10_000


class Rows:
    """Timeline events and comments as the page renders them, kept once rendered.

    Both are only ever added, never changed: timeline events refuse updates
    (crisis.timeline.models) and nothing edits a comment. So a row's HTML follows from the row and
    the viewer's language and zone, and those are its key, together with what can change around
    it: the name of the person shown (people are renamed) and, for a comment, its text. A hit is
    then exactly what rendering would give; a renamed person or another viewer misses and renders.

    Rows are those of service.page_events and service.page_comments.
    """

    def __init__(self, *, lang: str, zone: str) -> None:
        self._context = (lang, zone)

    def _key(self, row: Any) -> tuple[Any, ...]:
        if hasattr(row, "kind"):  # a timeline event
            return (
                self._context,
                "event",
                row.id,
                row.subject_type,
                row.subject_id,
                row.kind,
                row.occurred_at,
                row.actor_id,
                row.actor_name,
                # Retention rewrites the personal values copied into events (today only issues'
                # events, which this page does not show); its flag keeps such a row from matching.
                row.retention_flag,
            )
        return (
            self._context,
            "comment",
            row.id,
            row.incident_id,
            row.created_at,
            row.author_id,
            row.author_name,
            row.body,
        )

    def with_data(self, events: list[Any], load: Callable[[list[int]], dict[int, Any]]) -> list[Any]:
        """page_events rows, those that are not kept given their `data` (read by `load` in one go):
        only a row that is rendered needs it."""
        missing = [event.id for event in events if self.get(event) is None]
        if not missing:
            return events
        data = load(missing)
        return [EventWithData(event, data.get(event.id)) if event.id in data else event for event in events]

    def get(self, row: Any) -> Markup | None:
        return _ROWS.get(self._key(row))

    def put(self, row: Any, html: Markup) -> Markup:
        if len(_ROWS) >= ROW_LIMIT:
            _ROWS.clear()
        _ROWS[self._key(row)] = html
        return html


class EventWithData:
    """A page_events row with its data, for rendering (describe reads it)."""

    __slots__ = ("_row", "data")

    def __init__(self, row: Any, data: Any) -> None:
        self._row = row
        self.data = data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)
