"""What the load benchmark's optimisations promise (benchmarks/load): same answers, less work.

The fast paths must give exactly what the plain ones give (times on pages, duplicate titles, what
lists show of an SOP), and the busy pages must not read more as an incident grows.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask_babel import force_locale, get_locale
from sqlalchemy import event

from crisis.auth import roster as duty
from crisis.incidents import service as incidents
from crisis.issues import duplicates
from crisis.issues import service as issues
from crisis.timefmt import LocalTimes, format_local
from tests.conftest import FIXED_NOW
from tests.factories import closer_of, escalate

T0 = FIXED_NOW

PATTERNS = [
    "d MMM yyyy HH:mm",
    "HH:mm",
    "d MMM HH:mm:ss",
    "dd/MM/yy H.m.s",
    "EEEE d MMMM y",
    "medium",
    "yyyy-MM-dd HH:mm z",
    "h:mm a",
    "'pukul' HH.mm",
]
ZONES = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "Europe/Amsterdam", "America/St_Johns"]


def test_local_times_read_exactly_like_format_local(app):
    rng = random.Random(7)  # noqa: S311  reproducible test data
    with app.test_request_context():
        for lang in ("id", "en"):
            with force_locale(lang):
                for zone in ZONES:
                    times = LocalTimes(zone, get_locale())
                    for _ in range(150):
                        moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(800 * 86400))
                        pattern = rng.choice(PATTERNS)
                        assert times(moment, pattern) == format_local(moment, zone, pattern), (lang, zone, pattern)
                    assert times(None) == format_local(None, zone)


def test_similar_titles_are_exactly_those_title_similarity_finds():
    rng = random.Random(11)  # noqa: S311  reproducible test data
    words = (
        "warga",
        "keluhan",
        "antrean",
        "layanan",
        "hoaks",
        "bantuan",
        "sosial",
        "banjir",
        "jalan",
        "rusak",
        "air",
        "PDAM",
        "listrik",
        "sekolah,",
        "puskesmas",
        "pasar!",
        "parkir",
        "tarif",
        "bus",
        "kafé",
        "naïve",
        "2026",
        "viral",
    )

    def title() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))

    found = 0
    for _ in range(150):
        wanted = title()
        candidates = []
        for number in range(120):
            other = title()
            roll = rng.random()
            if roll < 0.2:
                other = wanted + rng.choice(["", "!", " lagi", "s"])
            elif roll < 0.3:
                other = " ".join(reversed(wanted.split()))
            candidates.append((number, other))
        expected = sorted(
            (duplicates.title_similarity(wanted, other), number)
            for number, other in candidates
            if duplicates.title_similarity(wanted, other) >= duplicates.TITLE_SIMILARITY
        )
        assert sorted(duplicates._similar_titles(wanted, candidates)) == expected
        found += len(expected)
    assert found > 500  # the check saw plenty of matches, not only misses


def test_lists_read_the_sop_parts_they_show_as_the_snapshot_has_them(db, org, log_issue):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    opened = []
    for key, severity in (("hoax-clarification", 3), ("viral-service-complaint", 2), ("data-leak-cyber", 4)):
        issue = log_issue(title=f"Isu untuk {key}")
        opened.append(escalate(db.session, org, issue, now=T0, playbook=key, severity=severity, commander="officer"))
    db.session.commit()
    first = opened[0]
    for entry in first.stage_runs[0].entries:
        incidents.tick(
            session=db.session,
            actor=closer_of(db.session, first, entry, officer),
            entry_id=entry.id,
            now=T0,
            evidence_url="https://example.com/bukti" if entry.evidence_expected else "",
        )
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=first.stage_runs[0].id, now=T0)
    db.session.commit()
    db.session.expire_all()
    listed = incidents.list_for_user(session=db.session, user=officer, summary_only=True)
    summaries = incidents.summaries(session=db.session, incidents=listed)
    # Only the running stage of each came with it: the first incident is at its second stage.
    assert sorted(run.position for row in listed for run in row.stage_runs) == [0, 0, 1]
    db.session.expire_all()
    for row in listed:
        full = db.session.get(incidents.Incident, row.id)
        snapshot, run = full.playbook_snapshot, full.current_stage
        assert summaries[row.id].key == snapshot["key"]
        assert summaries[row.id].settings == snapshot["settings"]
        assert summaries[row.id].stage_title == snapshot["stages"][run.position]["title"]


class Statements:
    """Every SQL statement the database is sent while active."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.sent = engine, []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.sent.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_the_console_never_reads_the_incidents_sop_snapshots(db, login_as, org, log_issue):
    for number in range(3):
        issue = log_issue(title=f"Isu nomor {number} untuk konsol")
        escalate(db.session, org, issue, now=T0, commander="officer")
    db.session.commit()
    first_stage = incident_of_key(db, "hoax-clarification")["stages"][0]["title"]["id"]
    client = login_as("head", "PUSAT")
    with Statements(db.engine) as sql:
        page = client.get("/")
    assert page.status_code == 200
    due = page.get_data(as_text=True).split('id="due-title"')[1].split("</section>")[0]
    assert due.count(first_stage) == 3  # each running stage is listed with its title
    assert not [s for s in sql.sent if "playbook_snapshot" in s], "the console loaded whole SOP snapshots"


def incident_of_key(db: Any, key: str) -> dict[str, Any]:
    from crisis.playbooks import service as playbooks

    return playbooks.get_version(session=db.session, key=key).canonical


@pytest.mark.parametrize("path", ["/incidents/{id}", "/incidents/{id}/live?stamp=x"])
def test_the_incident_page_reads_no_more_as_its_timeline_grows(db, login_as, org, incident, path):
    client = login_as("officer", "KOTA-SEMARANG")
    url = path.format(id=incident.id)
    # People of two involved units: not on the owning unit's team, which the page loads anyway.
    head = org["users"][("KOTA-SEMARANG", "head")]
    for code in ("KAB-BANYUMAS", "KOTA-MAKASSAR", "KAB-GOWA"):
        incidents.involve_unit(
            session=db.session, actor=head, incident_id=incident.id, unit_id=org["units"][code].id, now=T0
        )
    people = [
        org["users"][(code, role)]
        for code in ("KAB-BANYUMAS", "KOTA-MAKASSAR", "KAB-GOWA")
        for role in ("officer", "head")
    ]
    incidents.comment(session=db.session, actor=people[0], incident_id=incident.id, body="Mulai", now=T0)
    db.session.commit()
    client.get(url)  # first use of the templates and the session's user

    def statements_for_page() -> int:
        from crisis.incidents import presenters

        presenters._ROWS.clear()  # every row rendered: the most a page reads (kept rows need no event data)
        with Statements(db.engine) as sql:
            assert client.get(url).status_code == 200
        return len(sql.sent)

    before = statements_for_page()
    for number in range(24):
        incidents.comment(
            session=db.session,
            actor=people[number % len(people)],
            incident_id=incident.id,
            body=f"Perkembangan {number}",
            now=T0 + timedelta(minutes=number),
        )
    db.session.commit()
    # Six more people wrote comments: their names come in one query, not one each.
    assert statements_for_page() <= before


def test_an_issue_logged_and_escalated_in_one_transaction_knows_its_incident(db, org):
    """create() tells the new issue it has no incident (so showing it reads nothing more); escalating
    it in the same transaction must not leave that answer behind."""
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issue = issues.create(
        session=db.session,
        actor=officer,
        unit_id=None,
        title="Hoaks gempa susulan malam ini",
        channel="hotline",
        category="hoax",
        first_seen_at=None,
        now=T0,
    )
    assert issue.incident is None
    opened = incidents.open_from_issue(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        playbook_key="hoax-clarification",
        severity=3,
        commander_id=officer.id,
        now=T0,
    )
    assert issue.incident is opened


def _section(page: str, section_id: str) -> str:
    return page.split(f'id="{section_id}"')[1].split("</section>")[0]


def test_rendered_timeline_and_comment_rows_are_what_a_fresh_render_gives(db, login_as, org, incident):
    from crisis.incidents import presenters

    head = org["users"][("KOTA-SEMARANG", "head")]
    incidents.comment(
        session=db.session, actor=head, incident_id=incident.id, body="Sudah dicek https://example.org/a", now=T0
    )
    db.session.commit()
    client = login_as("officer", "KOTA-SEMARANG")
    url = f"/incidents/{incident.id}"
    presenters._ROWS.clear()
    fresh = client.get(url).get_data(as_text=True)
    assert presenters._ROWS, "the page kept no rendered rows"
    cached = client.get(url).get_data(as_text=True)
    for section in ("timeline", "comments"):
        assert _section(cached, section) == _section(fresh, section)
    assert head.name in _section(fresh, "comments") and head.name in _section(fresh, "timeline")


def test_a_kept_row_shows_a_renamed_person_and_each_viewers_own_zone(db, login_as, org, incident, app):
    head = org["users"][("KOTA-SEMARANG", "head")]
    incidents.comment(session=db.session, actor=head, incident_id=incident.id, body="Pantau terus", now=T0)
    db.session.commit()
    semarang = login_as("officer", "KOTA-SEMARANG")
    url = f"/incidents/{incident.id}"
    before = semarang.get(url).get_data(as_text=True)
    old_name = head.name
    head.name = "Kepala Bernama Baru"
    db.session.commit()
    after = semarang.get(url).get_data(as_text=True)
    for section in ("timeline", "comments"):
        assert old_name in _section(before, section)
        assert old_name not in _section(after, section) and "Kepala Bernama Baru" in _section(after, section)

    # The same rows seen from Makassar (WITA, an hour ahead of Semarang's WIB) show Makassar's times.
    incidents.involve_unit(
        session=db.session, actor=head, incident_id=incident.id, unit_id=org["units"]["KOTA-MAKASSAR"].id, now=T0
    )
    db.session.commit()
    makassar = app.test_client()
    from tests.conftest import sign_in

    assert sign_in(makassar, org["users"][("KOTA-MAKASSAR", "officer")].email).status_code == 302
    seen = makassar.get(url).get_data(as_text=True)
    wib, wita = (format_local(T0, zone, "d MMM yyyy HH:mm") for zone in ("Asia/Jakarta", "Asia/Makassar"))
    assert wib != wita
    assert wita in _section(seen, "comments") and wib not in _section(seen, "comments")
    assert wib in _section(semarang.get(url).get_data(as_text=True), "comments")


def test_on_duty_of_several_units_is_on_duty_of_each(db, org):
    from crisis.units.models import DutyShift

    units = [org["units"][code] for code in ("JATENG", "KOTA-SEMARANG", "KAB-BANYUMAS", "PAPUA")]
    people_of = {
        "JATENG": [org["users"][("JATENG", "officer")], org["users"][("JATENG", "supervisor")]],
        "KOTA-SEMARANG": [org["users"][("KOTA-SEMARANG", "officer")]],
    }
    for code, staff in people_of.items():
        for hours, person in enumerate(staff):
            db.session.add(
                DutyShift(
                    unit_id=org["units"][code].id,
                    user_id=person.id,
                    starts_at=T0 - timedelta(hours=1 + hours),
                    ends_at=T0 + timedelta(hours=8),
                )
            )
    # Ended already, and not started yet: nobody on duty at T0 from these.
    banyumas = org["users"][("KAB-BANYUMAS", "officer")]
    db.session.add(DutyShift(unit_id=units[2].id, user_id=banyumas.id, starts_at=T0 - timedelta(hours=9), ends_at=T0))
    db.session.add(
        DutyShift(
            unit_id=units[2].id,
            user_id=banyumas.id,
            starts_at=T0 + timedelta(minutes=1),
            ends_at=T0 + timedelta(hours=9),
        )
    )
    db.session.flush()
    together = duty.on_duty_by_unit(session=db.session, unit_ids=[u.id for u in units], at=T0)
    for unit in units:
        assert together.get(unit.id, []) == duty.on_duty(session=db.session, unit_id=unit.id, at=T0)
    assert sum(len(staff) for staff in together.values()) >= 3  # the check compared real lists, not empty ones


def test_a_freshly_logged_issue_shows_exactly_what_reading_it_back_gives_without_a_query(app, db, org):
    """issues.create INSERTs directly and hands the session an Issue as if loaded: showing it must
    need no statement and give what the stored rows give, evidence and timeline event included."""
    from crisis.issues.schemas import IssueOut
    from crisis.timeline.models import TimelineEvent

    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issue = issues.create(
        session=db.session,
        actor=officer,
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        title="  Jembatan Kaligawe retak, warga cemas  ",
        description="Foto retakan beredar.",
        channel="x",
        category="disaster",
        first_seen_at=T0 - timedelta(hours=3),
        reach=120_000,
        engagement=9_000,
        sentiment="mixed",
        mainstream_pickup=True,
        source_person="Bu Sri",
        source_contact="0812",
        evidence_urls=["https://x.com/warga/status/9", "https://news.example/kaligawe"],
        now=T0,
    )
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(sql)

    with app.test_request_context(), force_locale("en"):
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            shown = IssueOut().dump(issue)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []
    db.session.commit()
    officer_id = officer.id
    db.session.expunge_all()
    reader = db.session.get(type(officer), officer_id)
    with app.test_request_context(), force_locale("en"):
        stored = IssueOut().dump(issues.get(session=db.session, user=reader, issue_id=shown["id"]))
    assert shown == stored
    assert [e["url"] for e in shown["evidence"]] == ["https://x.com/warga/status/9", "https://news.example/kaligawe"]
    created = db.session.query(TimelineEvent).filter_by(subject_type="issue", subject_id=shown["id"]).one()
    assert (created.kind, created.actor_id, created.occurred_at, created.data["evidence"]) == (
        "issue.created",
        officer_id,
        T0,
        2,
    )


def test_the_embedded_database_logs_issues_and_finds_duplicates_as_postgresql_does(tmp_path_factory):
    """SQLite has no INSERTs in a WITH: create() sends its three statements there. The issue, its
    links in order, its event and the duplicate check must come out as on PostgreSQL."""
    from flask_migrate import upgrade

    from crisis.auth.models import User
    from crisis.extensions import db as _db
    from crisis.seed import seed_demo_data
    from crisis.timeline.models import TimelineEvent
    from tests.conftest import make_app

    path = tmp_path_factory.mktemp("embedded") / "crisis.sqlite3"
    embedded = make_app(f"sqlite:///{path}", tmp_path_factory)
    with embedded.app_context():
        upgrade()
        seed_demo_data(session=_db.session, now=T0)
        officer = _db.session.query(User).filter_by(email="petugas.kota-semarang@demo.example").one()
        links = ["https://x.com/warga/status/5", "https://news.example/banjir-kaligawe"]

        def log(title: str, urls: list[str]) -> Any:
            return issues.create(
                session=_db.session,
                actor=officer,
                unit_id=None,
                title=title,
                channel="x",
                category="disaster",
                first_seen_at=None,
                evidence_urls=urls,
                now=T0,
            )

        first = log("Banjir Kaligawe setinggi lutut", links)
        assert [e.url for e in first.evidence] == links and all(e.id for e in first.evidence)
        _db.session.commit()
        second = log("Banjir di Kaligawe setinggi lutut!", ["https://instagram.com/p/lain"])
        third = log("Jalan tol macet total", ["https://x.com/warga/status/5?s=20"])
        found = [
            issues.find_duplicates(
                session=_db.session,
                actor=officer,
                unit_id=i.unit_id,
                title=i.title,
                evidence_urls=[e.url for e in i.evidence],
                now=T0,
                exclude_id=i.id,
            )
            for i in (second, third)
        ]
        assert found == [[first], [first]]  # by title, then by link
        event = _db.session.query(TimelineEvent).filter_by(subject_type="issue", subject_id=first.id).one()
        assert (event.kind, event.actor_id, event.data["evidence"]) == ("issue.created", officer.id, 2)
        _db.session.rollback()
        _db.session.remove()
        _db.engine.dispose()


def _log_fields(**overrides: Any) -> dict[str, Any]:
    fields = {
        "title": "Banjir rob di Kaligawe setinggi lutut",
        "description": "Video warga.",
        "channel": "x",
        "category": "disaster",
        "first_seen_at": T0 - timedelta(minutes=30),
        "reach": 5_000,
        "evidence_urls": ["https://x.com/warga/status/1"],
    }
    return {**fields, **overrides}


def test_logging_finds_in_its_one_statement_what_find_duplicates_finds(app, db, org):
    """issues.log writes the issue and reads its unit and its duplicate candidates in one statement:
    it must find exactly what find_duplicates finds for the same issue afterwards, in the same order,
    and read each found issue once more only to show it."""
    from crisis.auth.models import User

    desk = org["users"][("PUSAT", "officer")]  # logs for every unit, as a national monitoring tool does
    semarang, banyumas = org["units"]["KOTA-SEMARANG"].id, org["units"]["KAB-BANYUMAS"].id
    earlier = [
        issues.create(
            session=db.session,
            actor=desk,
            unit_id=unit,
            now=T0 - timedelta(minutes=minutes),
            **_log_fields(title=title, evidence_urls=urls, first_seen_at=None),
        )
        for unit, minutes, title, urls in [
            (semarang, 50, "Banjir rob Kaligawe setinggi lutut!", ["https://x.com/lain/status/7"]),
            (semarang, 40, "Jalan tol Semarang macet total", ["https://x.com/warga/status/1?s=20"]),
            (banyumas, 30, "Banjir rob di Kaligawe setinggi lutut", ["https://x.com/warga/status/1"]),
            (semarang, 20, "Harga beras naik di pasar Johar", ["https://x.com/pasar/status/3"]),
            (semarang, 60 * 49, "Banjir rob di Kaligawe setinggi lutut", ["https://x.com/lama/status/9"]),
        ]
    ]
    earlier_ids, desk_id = [i.id for i in earlier], desk.id
    db.session.commit()
    db.session.expunge_all()  # the unit is read by the write, not found in the session
    desk = db.session.get(User, desk_id)
    assert [m.unit.code for m in desk.memberships] == ["PUSAT"]  # read with the token in the API
    with app.test_request_context(), Statements(db.engine) as statements:
        issue, found = issues.log(session=db.session, actor=desk, unit_id=semarang, now=T0, **_log_fields())
    # The write (which reads the unit and the candidates too), then the issues found, once.
    assert [sql.split()[0] for sql in statements.sent] == ["WITH", "SELECT"], statements.sent
    assert "FROM issue \nWHERE issue.id IN" in statements.sent[1]
    # The unit made from the write's columns is the unit as loaded.
    from crisis.units.models import Unit

    stored = db.session.connection().execute(Unit.__table__.select().where(Unit.id == semarang)).one()._asdict()
    assert {name: getattr(issue.unit, name) for name in stored} == stored
    assert db.session.get(Unit, semarang) is issue.unit
    # By link (newest first, any unit in view), then by title (same unit, within 48 hours).
    assert [i.id for i in found] == [earlier_ids[2], earlier_ids[1], earlier_ids[0]]
    with app.test_request_context():
        again = issues.find_duplicates(
            session=db.session,
            actor=desk,
            unit_id=semarang,
            title=issue.title,
            evidence_urls=[e.url for e in issue.evidence],
            now=T0,
            exclude_id=issue.id,
        )
    assert again == found


def test_logging_into_a_unit_that_does_not_exist_writes_nothing(db, org):
    from sqlalchemy import func, select

    from crisis.errors import NotFound
    from crisis.issues.models import Issue, IssueEvidence
    from crisis.timeline.models import TimelineEvent

    desk = org["users"][("PUSAT", "officer")]  # sees every unit, so only the write can tell
    counts = [select(func.count()).select_from(model) for model in (Issue, IssueEvidence, TimelineEvent)]
    before = [db.session.scalar(count) for count in counts]
    with pytest.raises(NotFound):
        issues.log(session=db.session, actor=desk, unit_id=987_654, now=T0, **_log_fields())
    assert [db.session.scalar(count) for count in counts] == before
    issue, found = issues.log(session=db.session, actor=desk, unit_id=None, now=T0, **_log_fields())
    assert issue.unit.code == "PUSAT" and found == []  # the transaction goes on after the refusal


def test_the_duplicate_checks_are_one_text_each_that_the_driver_keeps_converted(app, db, org):
    """Logging sends the same statement text whatever the number of links and of units in view, and
    a text psycopg keeps converted (its query cache takes only statements up to a length and a
    number of parameters; a longer one is parsed again at every execution)."""
    from psycopg import _queries

    sent: list[tuple[str, dict[str, Any]]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        sent.append((statement, parameters))

    jateng = org["users"][("JATENG", "officer")]  # sees its province's units: the link check is scoped
    semarang = org["units"]["KOTA-SEMARANG"].id
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with app.test_request_context():
            for number, links in enumerate(([], ["https://x.com/a/1"], [f"https://x.com/b/{n}" for n in range(5)])):
                channel = "hotline" if not links else "x"
                issues.log(
                    session=db.session,
                    actor=jateng,
                    unit_id=semarang,
                    now=T0,
                    **_log_fields(title=f"Isu ke-{number} di Semarang", evidence_urls=links, channel=channel),
                )
                issues.find_duplicates(
                    session=db.session, actor=jateng, unit_id=semarang, title="Banjir rob", evidence_urls=links, now=T0
                )
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    writes = [(text, params) for text, params in sent if text.startswith("WITH new_issue")]
    checks = [(text, params) for text, params in sent if "array_agg" not in text and "issue.state IN" in text]
    assert len(writes) == 3 and len(checks) == 3
    # With links, the same text for one link and for five.
    assert writes[1][0] == writes[2][0] and checks[1][0] == checks[2][0]
    for text, params in writes + checks:
        assert "POSTCOMPILE" not in text
        assert len(text.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, len(text.encode())
        assert len(params) <= _queries.MAX_CACHED_STATEMENT_PARAMS, len(params)


def test_comments_written_in_the_same_instant_read_in_the_order_written(db, org, incident):
    """Two comments can share a timestamp (a clock's resolution, a frozen clock): they still read in
    the order they were written, on the page and in comments(), whatever order the table keeps
    them in (an update moves a row to the table's end)."""
    from sqlalchemy import text

    head = org["users"][("KOTA-SEMARANG", "head")]
    written = [
        incidents.comment(session=db.session, actor=head, incident_id=incident.id, body=f"Catatan {n}", now=T0).id
        for n in range(3)
    ]
    db.session.commit()
    db.session.execute(text("UPDATE incident_comment SET body = body WHERE id = :id"), {"id": written[0]})
    db.session.commit()
    db.session.expire_all()
    assert [c.id for c in incidents.comments(session=db.session, incident=incident)] == written
    assert [row.id for row in incidents.page_comments(session=db.session, incident=incident)] == written
