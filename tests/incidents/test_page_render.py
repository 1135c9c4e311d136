"""The incident page's shortcuts (crisis.incidents.presenters, service.page_*) give exactly what the
plain ways give: Jinja's _(), the lazy labels, url_for, change_stamp and rendering every row."""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import url_for
from flask_babel import force_locale, lazy_gettext
from markupsafe import Markup
from sqlalchemy import select

from crisis.auth.models import User
from crisis.incidents import presenters, statements
from crisis.incidents import service as incidents
from crisis.incidents.labels import CHANNEL_LABELS, EVENT_LABELS, STATE_LABELS, STATEMENT_LABELS
from crisis.incidents.models import ChecklistEntry, Incident, InvolvedUnit, StageRun, Statement
from crisis.playbooks.labels import OWNER_LABELS, SEVERITY_LABELS
from tests.conftest import FIXED_NOW

T0 = FIXED_NOW

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PAGE_TEMPLATES = ("base.html", "incidents/page.html", "incidents/_live.html", "escalation/_incident_notices.html")


def _page_strings() -> set[str]:
    strings = set()
    for name in PAGE_TEMPLATES:
        strings |= set(re.findall(r'_\(\s*"([^"]+)"', (TEMPLATES / name).read_text()))
        strings |= set(re.findall(r"_\(\s*'([^']+)'", (TEMPLATES / name).read_text()))
    return strings


def test_page_gettext_gives_what_jinjas_gives(app):
    strings = _page_strings() | {"50%% done", "Not in any catalogue"}
    assert len(strings) > 60
    plain = app.jinja_env.from_string("{{ _(text, **values) }}")
    for lang in ("id", "en"):
        with app.test_request_context(), force_locale(lang):
            fast = presenters.PageGettext()
            for text in sorted(strings):
                # Every variable a string may name, with characters that must be escaped.
                values = {name: f"<{name}> & co" for name in re.findall(r"%\((\w+)\)", text)}
                if "%(n)d" in text:
                    values["n"] = 3
                for _twice in range(2):  # the second time from what the page kept
                    assert plain.render(text=text, values=values) == plain.render(text=text, values=values, _=fast), (
                        lang,
                        text,
                    )


def test_translated_labels_read_as_the_labels_themselves(app):
    tables: list[dict[Any, Any]] = [
        STATE_LABELS,
        STATEMENT_LABELS,
        CHANNEL_LABELS,
        OWNER_LABELS,
        SEVERITY_LABELS,
        EVENT_LABELS,
        {"plain": "R&D <b>", "lazy": lazy_gettext("Active"), "untranslated": lazy_gettext("Q&A <b>"), 7: "seven"},
    ]
    page = app.jinja_env.from_string(
        "{% for key in keys %}[{{ labels[key] }}|{{ labels.get(key, key) }}|{{ labels.get('missing', key) }}]"
        "{% endfor %}{% for key, label in labels.items() %}({{ key }}={{ label }}){% endfor %}"
    )
    for lang in ("id", "en"):
        with app.test_request_context(), force_locale(lang):
            for table in tables:
                fast = presenters.translated(table)
                for _twice in range(2):
                    assert page.render(labels=table, keys=list(table)) == page.render(labels=fast, keys=list(table))
                with pytest.raises(KeyError):
                    fast["missing"]


@pytest.mark.parametrize("base_url", ["http://localhost/", "http://desk.example.go.id/crisis/"])
def test_entry_urls_are_what_url_for_builds(app, base_url):
    with app.test_request_context(base_url=base_url):
        urls = presenters.EntryUrls(50687)
        for entry_id in (1, 253415):
            for verb in ("tick", "untick", "note", "assign", "waive"):
                assert urls(entry_id, verb) == url_for(
                    "incidents.entry_action", incident_id=50687, entry_id=entry_id, verb=verb
                )


def test_the_page_stamp_is_the_change_stamp(db, org, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    for number in range(3):
        assert incidents.page_stamp(
            incident=incident, events=incidents.page_events(session=db.session, incident=incident)
        ) == incidents.change_stamp(session=db.session, incident=incident)
        incidents.comment(
            session=db.session,
            actor=head,
            incident_id=incident.id,
            body=f"Cek {number}",
            now=T0 + timedelta(minutes=number),
        )
        db.session.commit()


def test_the_page_reads_each_incidents_own_rows(db, org, log_issue, incident):
    """The page's queries are built once, the incident a parameter: each page still gets its own."""
    officer, head = org["users"][("KOTA-SEMARANG", "officer")], org["users"][("KOTA-SEMARANG", "head")]
    other = incidents.open_from_issue(
        session=db.session,
        actor=officer,
        issue_id=log_issue(title="Banjir di Genuk, jalan tertutup").id,
        playbook_key="hoax-clarification",
        severity=2,
        commander_id=officer.id,
        now=T0,
    )
    incidents.involve_unit(
        session=db.session, actor=officer, incident_id=other.id, unit_id=org["units"]["KAB-BANYUMAS"].id, now=T0
    )
    statements.draft(
        session=db.session,
        actor=officer,
        incident_id=other.id,
        kind="holding",
        title="Pernyataan awal",
        body="Kami sedang memeriksa.",
        now=T0,
    )
    for number, which in enumerate((incident, other, other)):
        incidents.comment(
            session=db.session,
            actor=head,
            incident_id=which.id,
            body=f"Catatan {number}",
            now=T0 + timedelta(minutes=number),
        )
    db.session.commit()
    officer_id, banyumas_id, first_id = officer.id, org["units"]["KAB-BANYUMAS"].id, incident.id
    for which_id, bodies in ((first_id, ["Catatan 0"]), (other.id, ["Catatan 1", "Catatan 2"])):
        which = db.session.get(Incident, which_id)
        assert [row.body for row in incidents.page_comments(session=db.session, incident=which)] == bodies
        events = incidents.page_events(session=db.session, incident=which)
        assert {row.subject_id for row in events} == {which_id}
        assert [row.id for row in events] == [
            event.id for event in incidents.events(session=db.session, incident=which)
        ]

        def ids(query: Any) -> list[int]:
            return list(db.session.scalars(query))

        runs = ids(select(StageRun.id).where(StageRun.incident_id == which_id).order_by(StageRun.position))
        expected = (
            [
                (
                    run,
                    ids(
                        select(ChecklistEntry.id)
                        .where(ChecklistEntry.stage_run_id == run)
                        .order_by(ChecklistEntry.position)
                    ),
                )
                for run in runs
            ],
            ids(select(InvolvedUnit.unit_id).where(InvolvedUnit.incident_id == which_id).order_by(InvolvedUnit.id)),
            ids(select(Statement.id).where(Statement.incident_id == which_id).order_by(Statement.id)),
        )
        db.session.expunge_all()  # loaded afresh, as on a page
        shown = incidents.get_for_page(session=db.session, user=db.session.get(User, officer_id), incident_id=which_id)
        assert (
            [(run.id, [entry.id for entry in run.entries]) for run in shown.stage_runs],
            [involved.unit_id for involved in shown.involved],
            [statement.id for statement in shown.statements],
        ) == expected
        assert expected[1] == ([] if which_id == first_id else [banyumas_id])
        assert len(expected[2]) == (0 if which_id == first_id else 1) and len(runs) > 1


Event = namedtuple("Event", "id subject_type subject_id kind occurred_at actor_id actor_name retention_flag")
Note = namedtuple("Note", "id incident_id author_id author_name body created_at")


class Renders:
    """The template's macro for one row and event_data, counting what the page asked of them."""

    def __init__(self) -> None:
        self.rendered: list[int] = []
        self.loaded: list[list[int]] = []

    def html(self, row: Any) -> Markup:
        self.rendered.append(row.id)
        person = getattr(row, "actor_name", None) or getattr(row, "author_name", None)
        return Markup("<li>{}: {} {} {}</li>").format(
            row.id, person, getattr(row, "body", ""), getattr(row, "data", None)
        )

    def event_data(self, ids: list[int]) -> dict[int, Any]:
        self.loaded.append(ids)
        return {event_id: {"n": event_id} for event_id in ids}


@pytest.fixture
def kept_rows():
    presenters._ROWS.clear()
    yield
    presenters._ROWS.clear()


def test_kept_rows_are_what_rendering_gives_and_miss_on_any_change(kept_rows):
    events = [
        Event(n, "incident", 5, "comment.added", T0 + timedelta(minutes=n), 3, f"Orang {n}", None) for n in range(1, 6)
    ]
    notes = [Note(n, 5, 3, "Ani", f"Isi <{n}>", T0 + timedelta(minutes=n)) for n in range(1, 4)]
    first = Renders()
    rows = presenters.Rows(lang="id", zone="Asia/Jakarta", event_data=first.event_data)
    fresh = rows.events(events, first.html), rows.comments(notes, first.html)
    assert fresh[0] == Markup("").join(first.html(presenters.EventWithData(e, {"n": e.id})) for e in events)
    assert fresh[1] == Markup("").join(first.html(note) for note in notes)
    assert first.loaded == [[1, 2, 3, 4, 5]]

    again = Renders()
    rows = presenters.Rows(lang="id", zone="Asia/Jakarta", event_data=again.event_data)
    assert (rows.events(events, again.html), rows.comments(notes, again.html)) == fresh
    assert again.rendered == [] and again.loaded == []  # all kept: no data read, nothing rendered

    # A renamed person, a new retention flag and another text are other rows; so is another viewer.
    changed = [events[0]._replace(actor_name="Nama Baru"), events[1]._replace(retention_flag="2026-01-01"), *events[2:]]
    later = Renders()
    rows = presenters.Rows(lang="id", zone="Asia/Jakarta", event_data=later.event_data)
    html = rows.events(changed, later.html)
    assert later.rendered == [1, 2] and later.loaded == [[1, 2]]
    assert "Nama Baru" in html and "Orang 1" not in html
    assert rows.comments([notes[0]._replace(body="Lain"), *notes[1:]], later.html).count("Lain") == 1
    for lang, zone in (("en", "Asia/Jakarta"), ("id", "Asia/Makassar")):
        other = Renders()
        presenters.Rows(lang=lang, zone=zone, event_data=other.event_data).events(events, other.html)
        assert other.rendered == [1, 2, 3, 4, 5]


def test_the_owner_choices_show_who_each_entry_is_assigned_to(db, org, login_as, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    entries = [entry for run in incident.stage_runs for entry in run.entries]
    incidents.assign(session=db.session, actor=head, entry_id=entries[0].id, assignee_id=head.id, now=T0)
    db.session.commit()
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)

    def choices(entry_id: int) -> str:
        return page.split(f'<select id="as-{entry_id}" name="assignee_id">')[1].split("</select>")[0]

    assigned, unassigned = choices(entries[0].id), choices(entries[1].id)
    assert re.findall(r'<option value="(\d+)" selected>', assigned) == [str(head.id)]
    assert "selected" not in unassigned
    assert assigned.replace(" selected>", " >") == unassigned  # the same people, in the same order
