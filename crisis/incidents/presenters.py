"""Timeline events in words a duty officer reads, with every time in the viewer's zone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import url_for
from flask_babel import get_translations
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.auth.models import User
from crisis.i18n import _
from crisis.incidents.labels import CHANNEL_LABELS, NOTICE_CHANNEL_LABELS, STATEMENT_LABELS
from crisis.incidents.models import Incident
from crisis.timefmt import format_duration, format_local
from crisis.timeline.models import TimelineEvent
from crisis.timeline.presenters import Names, present
from crisis.units.models import Unit


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
    """The sentence of every event of one incident's page (crisis.timeline.presenters): the viewer's
    language and zone are fixed, and the snapshot's stage titles and item texts, the units' and the
    people's names are looked up in tables built once for the page."""

    def __init__(
        self,
        incident: Incident,
        *,
        lang: str,
        zone: str,
        labels: Mapping[str, Any] | None = None,
        session: Session | None = None,
        time_format: str = "d MMM HH:mm",
    ) -> None:
        self.incident, self.lang, self.zone, self.time_format = incident, lang, zone, time_format
        self.labels = labels if labels is not None else STATEMENT_LABELS
        self.session = session
        self._texts: dict[str, str] | None = None
        self._units: dict[Any, str] | None = None
        self._people: dict[Any, str] = {}
        self._names: Names | None = None

    def _table(self) -> dict[str, str]:
        if self._texts is None:
            texts: dict[str, str] = {}
            for stage in reversed(self.incident.playbook_snapshot["stages"]):  # the first match wins
                for item in reversed(stage["checklist"]):
                    texts["item:" + item["key"]] = _in(item["text"], self.lang)
                texts["stage:" + stage["key"]] = _in(stage["title"], self.lang)
            self._texts = texts
        return self._texts

    def stage(self, key: str | None) -> str:
        return self._table().get(f"stage:{key}", key or "") if key else ""

    def item(self, key: str | None) -> str:
        return self._table().get(f"item:{key}", key or "") if key else ""

    def unit(self, code_or_id: Any) -> str:
        """A unit's name, by its code or its id (events store either)."""
        if code_or_id is None or code_or_id == "":
            return ""
        if self._units is None:
            self._units = {}
            if self.session is not None:
                for unit_id, code, name in self.session.execute(select(Unit.id, Unit.code, Unit.name)):
                    self._units[unit_id] = self._units[code] = name
            else:
                for unit in (self.incident.unit,):
                    self._units[unit.id] = self._units[unit.code] = unit.name
        return self._units.get(code_or_id, str(code_or_id))

    def person(self, user_id: Any) -> str:
        if user_id is None:
            return ""
        if user_id not in self._people:
            user = self.session.get(User, user_id) if self.session is not None else None
            self._people[user_id] = user.name if user is not None else _("a former member")
        return self._people[user_id]

    def names(self) -> Names:
        if self._names is None:
            labels = self.labels
            self._names = Names(
                stage=self.stage,
                item=self.item,
                unit=self.unit,
                person=self.person,
                time=lambda moment: format_local(moment, self.zone, self.time_format),
                duration=format_duration,
                statement_kind=lambda kind: str(labels.get(kind, "")) if kind else "",
                publication_channel=lambda name: str(CHANNEL_LABELS.get(name, name or "")),
                notice_channel=lambda name: str(NOTICE_CHANNEL_LABELS.get(name, name or "")),
                sop=_in(self.incident.playbook_snapshot["title"], self.lang),
                zone=self.zone,
            )
        return self._names

    def __call__(self, event: Any) -> str:
        return present(event.kind, event.data, self.names())


def _in(text: Mapping[str, str], lang: str) -> str:
    """A snapshot's text in `lang`, or in the first language it has."""
    return text.get(lang) or next(iter(text.values()), "")


def describe(
    event: TimelineEvent,
    incident: Incident,
    *,
    lang: str,
    zone: str,
    labels: Mapping[str, Any] | None = None,
    session: Session | None = None,
) -> str:
    """One event as the sentence a person reads (one-off; a page uses one Describer for all)."""
    return Describer(incident, lang=lang, zone=zone, labels=labels, session=session)(event)


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
    comment, its text. A hit is then exactly what rendering would give; a renamed actor or
    another viewer misses and renders. Names an event's sentence looks up beyond its actor (a unit,
    an assignee, the SOP's titles: crisis.timeline.presenters) are as they were when this process
    first rendered the row: a unit renamed since shows under its old name here until the kept rows
    are emptied (ROW_LIMIT) or the process restarts.

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
