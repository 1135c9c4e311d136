"""Timeline events in words a duty officer reads, with every time in the viewer's zone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import url_for
from flask_babel import get_translations
from markupsafe import Markup, escape

from crisis.i18n import _
from crisis.incidents.labels import ACK_VIA_LABELS
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
    """A table of lazy labels translated on first use, once per page instead of once per row. Each
    is what the template writes of the label itself: a lazy label's text as it is (translations
    are trusted, as _() trusts them), any other value escaped."""

    def __init__(self, labels: Mapping[Any, Any]) -> None:
        self._labels: Mapping[Any, Any] = labels
        self._done: dict[Any, Markup] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        text = self._done.get(key)
        if text is None:
            label = self._labels.get(key)
            if label is None:
                return default
            text = self._done[key] = escape(label)
        return text

    def __getitem__(self, key: Any) -> Markup:
        if key not in self._labels:
            raise KeyError(key)
        return self.get(key)

    def items(self) -> list[tuple[Any, Markup]]:
        return [(key, self[key]) for key in self._labels]


def translated(labels: Mapping[Any, Any]) -> Translated:
    return Translated(labels)


class PageGettext:
    """The templates' _() for one page. Jinja's (flask_babel's) finds the request's locale and
    catalog again on every call; a page has one language, so this finds them once, and each
    string without variables once. It gives what Jinja's gives in an autoescaped template: the
    translation, trusted, %-formatted with the variables (which are escaped)."""

    def __init__(self) -> None:
        self._translations = get_translations()
        self._done: dict[str, Markup] = {}

    def __call__(self, string: str, **variables: Any) -> Markup:
        if variables:
            return self._translated(string) % variables
        text = self._done.get(string)
        if text is None:
            text = self._done[string] = self._translated(string) % {}
        return text

    def _translated(self, string: str) -> Markup:
        text = self._translations.ugettext(string)
        # Trusted, as Jinja's _() trusts translations.
        return Markup(text)  # noqa: S704  # nosec B704


class EntryUrls:
    """url_for("incidents.entry_action", ...) of one incident's checklist entries: werkzeug builds
    one and the others are that with their own id and verb, the same text for a fraction of the
    cost (a page has some 40 of them). Ids are integers and verbs plain words: the route takes
    both as they are."""

    def __init__(self, incident_id: int) -> None:
        one = url_for("incidents.entry_action", incident_id=incident_id, entry_id=0, verb="tick")
        self._prefix = one.removesuffix("/0/tick")

    def __call__(self, entry_id: int, verb: str) -> str:
        return f"{self._prefix}/{entry_id}/{verb}"


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
    if kind == "escalation.acknowledged" and data.get("via") in ACK_VIA_LABELS:  # chat channels (issue 20)
        return str(ACK_VIA_LABELS[data["via"]])
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
    the viewer's language and zone, and those are its key: every value of the row, which includes
    what can change around it, the name of the person shown (people are renamed) and, for a
    comment, its text. A hit is then exactly what rendering would give; a renamed person or
    another viewer misses and renders.

    Rows are those of service.page_events and service.page_comments. Of an event's data only the
    retention flag is in its row: Retention rewrites the personal values copied into events (today
    only issues' events, which this page does not show), and its flag keeps such a row from matching.
    """

    def __init__(self, *, lang: str, zone: str, event_data: Callable[[list[int]], dict[int, Any]]) -> None:
        self._context = (lang, zone)
        self._event_data = event_data

    def events(self, events: Iterable[Any], html: Callable[[Any], str]) -> Markup:
        """page_events rows. Those to render get their `data`, read in one go by event_data: only
        a row that is rendered needs it."""
        return self._render("event", events, html)

    def comments(self, comments: Iterable[Any], html: Callable[[Any], str]) -> Markup:
        return self._render("comment", comments, html)

    def _render(self, kind: str, rows: Iterable[Any], html: Callable[[Any], str]) -> Markup:
        """The rows' HTML in order: kept rows as kept, the others made by `html` (the template's
        macro for one row) and kept. One call for all rows: the template's loop, call and escaping
        per row cost more than the lookup."""
        keyed = [((self._context, kind, *row), row) for row in rows]
        parts = [_ROWS.get(key) for key, _row in keyed]
        missing = [index for index, part in enumerate(parts) if part is None]
        if missing:
            data = self._event_data([keyed[index][1].id for index in missing]) if kind == "event" else {}
            if len(_ROWS) + len(missing) > ROW_LIMIT:
                _ROWS.clear()
            for index in missing:
                key, row = keyed[index]
                shown = EventWithData(row, data.get(row.id)) if kind == "event" else row
                parts[index] = _ROWS[key] = escape(html(shown))  # the macro's Markup, as it is
        joined = "".join(parts)
        # Each part is Markup: a kept row, or the macro's output.
        return Markup(joined)  # noqa: S704  # nosec B704


class EventWithData:
    """A page_events row with its data, for rendering (describe reads it)."""

    __slots__ = ("_row", "data")

    def __init__(self, row: Any, data: Any) -> None:
        self._row = row
        self.data = data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)
