"""What is waiting for me: statements to approve, reviews to write or approve, escalations to
acknowledge, action items falling due, my checklist items in running stages; the header's count;
the notices that tell people something waits for them; and pages that offer an observer nothing
they cannot do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from crisis.desk import notices as desk_notices
from crisis.desk import waiting
from crisis.escalation import acknowledgement
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.notify.models import Notice
from crisis.notify.render import render
from crisis.reviews import service as reviews
from crisis.reviews.models import Review
from tests import factories
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.engine.sinks import SmtpSink
from tests.factories import close_required, escalate, run_through

T0 = FIXED_NOW
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def smtp(app: Any) -> Iterator[SmtpSink]:
    """A real SMTP server on a loopback port (as tests/engine/conftest.py's)."""
    sink = SmtpSink().start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    yield sink
    sink.stop()
    app.config.update(saved)


def people(org: dict[str, Any], *keys: tuple[str, str]) -> list[Any]:
    return [org["users"][key] for key in keys]


def draft(db: Any, author: Any, incident: Any, title: str = "Pernyataan sementara PDAM", now: Any = None) -> Any:
    statement = statements.draft(
        session=db.session,
        actor=author,
        incident_id=incident.id,
        kind="holding",
        title=title,
        body="Kami mengetahui pesan yang beredar dan sedang memeriksanya.",
        now=now or T0 + 5 * M,
    )
    db.session.commit()
    return statement


def collected(db: Any, user: Any, now: Any = None) -> waiting.Waiting:
    return waiting.collect(session=db.session, user=user, now=now or T0 + 10 * M)


def inapp_to(db: Any, user: Any, kind: str) -> list[Notice]:
    """The in-app notices of one kind (the payload's) written to a person."""
    rows = db.session.scalars(select(Notice).where(Notice.recipient_user_id == user.id, Notice.channel == "inapp"))
    return [notice for notice in rows if (notice.payload or {}).get("kind") == kind]


# --- statements ----------------------------------------------------------------------------------------


def test_a_draft_statement_waits_for_the_supervisors_above_it_and_not_for_its_author(db, org, incident):
    officer, supervisor, province, makassar = people(
        org,
        ("KOTA-SEMARANG", "officer"),
        ("KOTA-SEMARANG", "supervisor"),
        ("JATENG", "supervisor"),
        ("SULSEL", "supervisor"),
    )
    statement = draft(db, officer, incident)
    assert [row.subject.id for row in collected(db, supervisor).statements] == [statement.id]
    assert [row.subject.id for row in collected(db, province).statements] == [statement.id]  # may approve below
    assert collected(db, officer).statements == []  # nobody approves their own
    assert collected(db, makassar).statements == []  # another province's
    assert waiting.count(session=db.session, user=makassar, now=T0 + 10 * M) == 0

    statements.approve(session=db.session, actor=supervisor, statement_id=statement.id, now=T0 + 8 * M)
    db.session.commit()
    assert collected(db, supervisor).statements == []


def test_a_statement_sent_back_waits_for_its_author_and_no_longer_for_the_approvers(db, org, incident, login_as):
    officer, supervisor, other_officer = people(
        org, ("KOTA-SEMARANG", "officer"), ("KOTA-SEMARANG", "supervisor"), ("JATENG", "officer")
    )
    statement = draft(db, officer, incident)
    statement.state = "returned"  # what an approver's send-back leaves (crisis.incidents.statements)
    db.session.commit()
    assert collected(db, supervisor).statements == []
    assert [(row.kind, row.subject.id) for row in collected(db, officer).statements] == [
        ("statement_returned", statement.id)
    ]
    assert collected(db, other_officer).statements == []
    page = login_as("officer", "KOTA-SEMARANG").get("/waiting").get_data(as_text=True)
    row = re.search(rf'<li id="waiting-statement-{statement.id}">(.*?)</li>', page, re.S).group(1)
    assert "dikembalikan kepada Anda" in row and incident.reference in row and "WIB" in row


def test_drafting_a_statement_tells_the_units_approvers_in_their_language_with_a_link_to_it(db, org, incident):
    officer, supervisor, head, province_head = people(
        org,
        ("KOTA-SEMARANG", "officer"),
        ("KOTA-SEMARANG", "supervisor"),
        ("KOTA-SEMARANG", "head"),
        ("JATENG", "head"),
    )
    statement = draft(db, officer, incident)
    told = inapp_to(db, supervisor, "statement_submitted")
    assert len(told) == 1 and len(inapp_to(db, head, "statement_submitted")) == 1
    assert inapp_to(db, province_head, "statement_submitted") == []  # the nearest approvers only
    assert inapp_to(db, officer, "statement_submitted") == []

    rendered = render(told[0])
    assert rendered.language == "id"
    assert f"/incidents/{incident.id}#statement-{statement.id}" in rendered.text
    assert "Adi Nugroho menyusun" in rendered.text and "menunggu persetujuan Anda" in rendered.text
    assert "WIB" in rendered.text and "statement_submitted" not in rendered.text
    assert incident.reference in rendered.subject

    supervisor.language = "en"
    db.session.commit()
    english = render(told[0])
    assert "Adi Nugroho drafted" in english.text and "It waits for your approval." in english.text


def test_a_statement_notice_is_written_once_per_version(db, org, incident):
    officer, supervisor = people(org, ("KOTA-SEMARANG", "officer"), ("KOTA-SEMARANG", "supervisor"))
    statement = draft(db, officer, incident)
    before = db.session.query(Notice).count()
    again = desk_notices.statement_submitted(session=db.session, statement=statement, actor=officer, now=T0 + 6 * M)
    assert again == 0 and db.session.query(Notice).count() == before
    assert len(inapp_to(db, supervisor, "statement_submitted")) == 1


def test_a_statement_sent_back_and_edited_is_put_to_the_approvers_again(db, org, incident):
    officer, supervisor = people(org, ("KOTA-SEMARANG", "officer"), ("KOTA-SEMARANG", "supervisor"))
    statement = draft(db, officer, incident)
    statements.send_back(
        session=db.session, actor=supervisor, statement_id=statement.id, reason="Sebutkan jamnya.", now=T0 + 7 * M
    )
    db.session.commit()
    assert collected(db, supervisor).statements == []
    statements.edit(
        session=db.session,
        actor=officer,
        statement_id=statement.id,
        title=statement.title,
        body="Kami memeriksa pesan yang beredar sejak pukul 09.00 WIB.",
        now=T0 + 9 * M,
    )
    db.session.commit()
    assert len(inapp_to(db, supervisor, "statement_submitted")) == 2  # once per version it waited in
    assert [row.subject.id for row in collected(db, supervisor).statements] == [statement.id]


def test_when_the_unit_has_no_other_approver_the_unit_above_is_told(db, org, log_issue):
    """Kabupaten Banyumas has a head and no supervisor: a draft by its head goes up to Jawa Tengah."""
    head, province_supervisor, province_head = people(
        org, ("KAB-BANYUMAS", "head"), ("JATENG", "supervisor"), ("JATENG", "head")
    )
    opened = escalate(db.session, org, log_issue(unit="KAB-BANYUMAS"), now=T0)
    db.session.commit()
    draft(db, head, opened)
    assert len(inapp_to(db, province_supervisor, "statement_submitted")) == 1
    assert len(inapp_to(db, province_head, "statement_submitted")) == 1


# --- involvement -----------------------------------------------------------------------------------------


def test_involving_another_unit_tells_its_head_and_whoever_is_on_duty_there(db, org, incident, clock):
    head, banyumas_head, banyumas_officer, province_head = people(
        org,
        ("KOTA-SEMARANG", "head"),
        ("KAB-BANYUMAS", "head"),
        ("KAB-BANYUMAS", "officer"),
        ("JATENG", "head"),
    )
    # The demo roster: the officer by day (07:00-19:00 WIB), the head by night.
    day = T0.replace(hour=4, minute=0)  # 11:00 WIB
    clock.now = day
    incidents.involve_unit(
        session=db.session, actor=head, incident_id=incident.id, unit_id=org["units"]["KAB-BANYUMAS"].id, now=day
    )
    db.session.commit()
    told = inapp_to(db, banyumas_head, "unit_involved")
    assert len(told) == 1 and len(inapp_to(db, banyumas_officer, "unit_involved")) == 1
    assert inapp_to(db, province_head, "unit_involved") == []
    text = render(told[0]).text
    assert "KAB-BANYUMAS" in text and "Joko Santoso" in text and f"/incidents/{incident.id}" in text


# --- checklist items ---------------------------------------------------------------------------------------


def test_open_checklist_items_of_the_running_stage_wait_for_their_owner_role_in_the_unit(db, org, incident):
    officer, supervisor, head, province_officer, observer = people(
        org,
        ("KOTA-SEMARANG", "officer"),
        ("KOTA-SEMARANG", "supervisor"),
        ("KOTA-SEMARANG", "head"),
        ("JATENG", "officer"),
        ("PUSAT", "observer"),
    )
    run = incident.current_stage
    open_items = {e.item_key: e for e in run.entries if not e.closed}
    mine = {row.subject.item_key for row in collected(db, officer).checklist}
    assert mine == {key for key, e in open_items.items() if e.owner_role == "officer"}
    assert {row.subject.item_key for row in collected(db, supervisor).checklist} == {"provisional-label"}
    assert collected(db, province_officer).checklist == []  # not their unit's items
    assert collected(db, observer).checklist == []
    # The head's own item at severity 3 (activating the crisis communication team) is the head's.
    assert {row.subject.item_key for row in collected(db, head).checklist} == {"activate-crisis-team"}

    # Assigned to the head: it is the head's, no longer every officer's.
    archive = open_items["archive-content"]
    incidents.assign(session=db.session, actor=supervisor, entry_id=archive.id, assignee_id=head.id, now=T0 + M)
    db.session.commit()
    assert "archive-content" not in {row.subject.item_key for row in collected(db, officer).checklist}
    assert {row.subject.item_key for row in collected(db, head).checklist} == {
        "archive-content",
        "activate-crisis-team",
    }

    incidents.tick(
        session=db.session, actor=head, entry_id=archive.id, evidence_url="https://example.com/bukti", now=T0 + 2 * M
    )
    db.session.commit()
    assert {row.subject.item_key for row in collected(db, head).checklist} == {"activate-crisis-team"}
    # Past the stage's due time the row says so.
    late = collected(db, officer, now=run.due_at + M).checklist
    assert late and all(row.overdue for row in late)


# --- escalations -------------------------------------------------------------------------------------------


def test_an_escalation_to_me_waits_until_it_is_acknowledged(db, org, incident, smtp, clock):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    clock.now = T0 + 31 * M  # the identify stage escalates to the supervisor after 30 minutes
    tick(db.session, clock.now)
    rows = collected(db, supervisor, now=clock.now).escalations
    assert len(rows) == 1  # one step, though it came in-app and by e-mail
    notice = rows[0].subject
    assert notice.channel == "inapp" and notice.kind == "deadline"
    assert waiting.count(session=db.session, user=supervisor, now=clock.now) == len(
        collected(db, supervisor, now=clock.now).checklist
    ) + 1 + len(collected(db, supervisor, now=clock.now).statements)
    acknowledgement.acknowledge_as(session=db.session, notice_id=notice.id, actor=supervisor, now=clock.now)
    db.session.commit()
    assert collected(db, supervisor, now=clock.now).escalations == []


def test_an_escalation_left_unacknowledged_stops_waiting_once_the_incident_is_resolved(db, org, incident, smtp, clock):
    supervisor, head = org["users"][("KOTA-SEMARANG", "supervisor")], org["users"][("KOTA-SEMARANG", "head")]
    clock.now = T0 + 31 * M
    tick(db.session, clock.now)
    assert len(collected(db, supervisor, now=clock.now).escalations) == 1
    run_through(db.session, head, incident, now=clock.now)
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=clock.now)
    db.session.commit()
    assert collected(db, supervisor, now=clock.now).escalations == []  # nothing left to act on in that stage


def test_the_waiting_page_acknowledges_an_escalation_in_place(db, org, incident, smtp, clock, login_as):
    clock.now = T0 + 31 * M
    tick(db.session, clock.now)
    client = login_as("supervisor", "KOTA-SEMARANG")
    page = client.get("/waiting").get_data(as_text=True)
    row = re.search(r'<li id="waiting-notice-(\d+)">(.*?)</li>', page, re.S)
    assert row, page
    notice_id, text = int(row.group(1)), row.group(2)
    run = incident.current_stage
    assert f'href="/incidents/{incident.id}#stage-{run.id}"' in text
    assert "Identifikasi dan pelabelan" in text and "dieskalasikan kepada Anda" in text and "WIB" in text
    token = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    answer = client.post(f"/inbox/{notice_id}/ack", data={"csrf_token": token, "next": "/waiting"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/waiting")
    assert f'id="waiting-notice-{notice_id}"' not in client.get("/waiting").get_data(as_text=True)


# --- reviews and action items ----------------------------------------------------------------------------


def resolve_all(db: Any, org: dict[str, Any], incident: Any, at: Any) -> Any:
    """Every required item of every stage ticked by the unit's head, each stage completed, the
    incident resolved at `at`: its review draft is open."""
    head = org["users"][("KOTA-SEMARANG", "head")]
    moment = incident.started_at
    while incident.current_stage is not None:
        run = incident.current_stage
        moment += 10 * M
        close_required(db.session, head, run, now=moment)
        incidents.complete_stage(session=db.session, actor=head, stage_run_id=run.id, now=moment)
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=at)
    db.session.commit()
    return incident


@pytest.fixture
def resolved(db, org, incident, clock):
    """The hoax, resolved at T0 + 10 h: its review draft is open."""
    clock.now = T0 + 10 * H
    return resolve_all(db, org, incident, T0 + 10 * H)


def test_a_draft_review_waits_for_its_writers_and_a_submitted_one_for_the_head(db, org, resolved, clock):
    officer, head, province_head, makassar_head = people(
        org,
        ("KOTA-SEMARANG", "officer"),
        ("KOTA-SEMARANG", "head"),
        ("JATENG", "head"),
        ("KOTA-MAKASSAR", "head"),
    )
    now = T0 + 11 * H
    review = db.session.scalar(select(Review))
    assert [row.kind for row in collected(db, officer, now).reviews] == ["review_write"]
    assert collected(db, makassar_head, now).reviews == []
    reviews.update(
        session=db.session,
        actor=officer,
        review_id=review.id,
        summary="Ringkas.",
        went_well="Cepat.",
        to_improve="Templat.",
        now=now,
    )
    reviews.submit(session=db.session, actor=officer, review_id=review.id, now=now)
    db.session.commit()
    assert collected(db, officer, now).reviews == []
    assert [row.kind for row in collected(db, head, now).reviews] == ["review_approve"]
    assert [row.kind for row in collected(db, province_head, now).reviews] == ["review_approve"]  # may approve below
    told = inapp_to(db, head, "review_submitted")
    assert len(told) == 1 and inapp_to(db, province_head, "review_submitted") == []
    text = render(told[0]).text
    assert f"/incidents/{resolved.id}/review#workflow" in text and "Adi Nugroho" in text


def test_my_action_items_wait_from_three_days_before_they_are_due(db, org, resolved):
    officer, supervisor = people(org, ("KOTA-SEMARANG", "officer"), ("KOTA-SEMARANG", "supervisor"))
    review = db.session.scalar(select(Review))
    now = T0 + 11 * H
    local_today = now.astimezone(ZoneInfo("Asia/Jakarta")).date()
    soon = reviews.add_action_item(
        session=db.session,
        actor=officer,
        review_id=review.id,
        title="Templat pernyataan siap pakai",
        owner_id=supervisor.id,
        due_on=(local_today + timedelta(days=2)).isoformat(),
        now=now,
    )
    reviews.add_action_item(
        session=db.session,
        actor=officer,
        review_id=review.id,
        title="Pelatihan juru bicara",
        owner_id=supervisor.id,
        due_on=(local_today + timedelta(days=20)).isoformat(),
        now=now,
    )
    db.session.commit()
    assert [row.subject.id for row in collected(db, supervisor, now).action_items] == [soon.id]
    assert collected(db, officer, now).action_items == []
    overdue = collected(db, supervisor, soon.due_at + M).action_items
    assert [row.overdue for row in overdue] == [True]


# --- the page and the header --------------------------------------------------------------------------------


def test_the_waiting_page_says_what_waits_in_sentences_with_the_incident_time_zone_and_a_link(
    db, org, incident, login_as
):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    statement = draft(db, officer, incident)
    client = login_as("supervisor", "KOTA-SEMARANG")
    page = client.get("/waiting").get_data(as_text=True)
    row = re.search(rf'<li id="waiting-statement-{statement.id}">(.*?)</li>', page, re.S).group(1)
    assert f'href="/incidents/{incident.id}#statement-{statement.id}"' in row
    assert incident.reference in row and "Hoaks" in row and "WIB" in row
    assert "Adi Nugroho menyusun" in row and "menunggu persetujuan Anda" in row
    entry_row = re.search(r'<li id="waiting-entry-(\d+)">(.*?)</li>', page, re.S)
    assert f"#entry-{entry_row.group(1)}" in entry_row.group(2)
    badge = re.search(r'id="waiting-count"[^>]*>(\d+)<', page)
    expected = waiting.count(session=db.session, user=org["users"][("KOTA-SEMARANG", "supervisor")], now=T0)
    assert badge and int(badge.group(1)) == expected >= 2


def test_nothing_waiting_says_so_and_shows_no_badge(db, org, login_as):
    client = login_as("observer", "PUSAT")
    page = client.get("/waiting").get_data(as_text=True)
    assert 'id="waiting-none"' in page and 'id="waiting-count"' not in page


def test_the_header_count_is_counted_once_per_page_view(app, db, org, incident):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    draft(db, officer, incident)
    supervisor = db.session.get(type(officer), org["users"][("KOTA-SEMARANG", "supervisor")].id)
    statements_seen: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements_seen.append(statement)

    with app.test_request_context("/"):
        # What every page asks anyway (the unit scope), then the count.
        from crisis.units import service as units

        units.visible_scope(session=db.session, user=supervisor)
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            first = waiting.count(session=db.session, user=supervisor, now=T0 + 10 * M)
            counted = len(statements_seen)
            again = waiting.count(session=db.session, user=supervisor, now=T0 + 10 * M)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    assert first == again >= 2
    assert 1 <= counted <= 8, statements_seen  # a statement a kind of thing at most
    assert len(statements_seen) == counted  # and nothing more for the header asked again


def test_a_person_with_more_than_99_things_waiting_sees_99_plus(app, db, org, login_as, monkeypatch):
    monkeypatch.setattr(waiting, "BADGE_CAP", 3)
    monkeypatch.setitem(app.jinja_env.globals, "waiting_badge_cap", 3)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    for n in range(4):
        issue = factories.log_issue(db.session, org, now=T0 - (10 - n) * M, title=f"Hoaks antrean bansos {n}")
        incident = escalate(db.session, org, issue, now=T0 - (10 - n) * M)
        draft(db, officer, incident, title=f"Pernyataan sementara {n}", now=T0 - (9 - n) * M)
    db.session.commit()
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    with app.test_request_context("/"):
        assert waiting.count(session=db.session, user=supervisor, now=T0) == 3
    page = login_as("supervisor", "KOTA-SEMARANG").get("/").get_data(as_text=True)
    badge = re.search(r'id="waiting-count" aria-label="([^"]+)">([^<]+)<', page)
    assert badge and badge.group(2) == "2+", page[:200]
    assert "Lebih dari 2 hal menunggu Anda" in badge.group(1)


# --- observers are offered nothing they cannot do -------------------------------------------------------------


class _Links(HTMLParser):
    """Every link and every form (with its fields) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        elif tag == "form":
            self.forms.append(
                {"action": values.get("action") or "", "method": (values.get("method") or "get").lower(), "fields": {}}
            )
        elif tag in ("input", "textarea", "select", "button") and self.forms and values.get("name"):
            self.forms[-1]["fields"].setdefault(values["name"], values.get("value") or "")


SKIPPED_FORMS = ("/logout", "/language")  # signing out and switching language are everyone's


@pytest.fixture
def desk(db, org, incident, log_issue, clock):
    """Kota Semarang's hoax running, Kabupaten Banyumas involved, a draft statement and approved key
    messages; and a second incident resolved, its review draft open with an action item."""
    officer, supervisor, head = people(
        org, ("KOTA-SEMARANG", "officer"), ("KOTA-SEMARANG", "supervisor"), ("KOTA-SEMARANG", "head")
    )
    incidents.involve_unit(
        session=db.session, actor=head, incident_id=incident.id, unit_id=org["units"]["KAB-BANYUMAS"].id, now=T0 + M
    )
    draft(db, officer, incident)
    key = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind="key_messages",
        title="Pesan kunci PDAM",
        body="Air PDAM aman diminum.",
        now=T0 + 6 * M,
    )
    statements.approve(session=db.session, actor=supervisor, statement_id=key.id, now=T0 + 7 * M)
    db.session.commit()
    other = escalate(db.session, org, log_issue(title="Video pungli di loket samsat"), now=T0)
    db.session.commit()
    resolve_all(db, org, other, T0 + 10 * H)
    clock.now = T0 + 11 * H
    review = db.session.scalar(select(Review).where(Review.incident_id == other.id))
    reviews.add_action_item(
        session=db.session,
        actor=officer,
        review_id=review.id,
        title="Templat pernyataan",
        owner_id=supervisor.id,
        due_on=(clock.now.astimezone(ZoneInfo("Asia/Jakarta")).date() + timedelta(days=2)).isoformat(),
        now=clock.now,
    )
    db.session.commit()
    return {"active": incident, "resolved": other}


@pytest.mark.parametrize(
    "viewer",
    [("observer", "PUSAT"), ("officer", "KAB-BANYUMAS"), ("officer", "JATENG")],
    ids=["observer", "involved-unit-officer", "province-officer"],
)
def test_no_link_or_button_on_the_main_pages_answers_403(db, org, desk, login_as, viewer):
    """An observer reads; an officer of an involved unit publishes the shared key messages; a province
    officer acts below but does not lead. Each follows every link and presses every button offered."""
    active, resolved_one = desk["active"], desk["resolved"]
    client = login_as(*viewer)
    header = _Links()
    header.feed(client.get("/").get_data(as_text=True).split('<main id="main">')[0])
    # Every page of the main menu, and the pages of both incidents, a review, an issue, search and the inbox.
    pages = [href for href in header.links if href.startswith("/") and not href.startswith("/static/")]
    pages += [f"/incidents/{active.id}", "/search?q=hoaks", "/inbox", "/evaluation/reports"]
    pages += [f"/units/{org['units'][viewer[1]].id}/roster"]
    if viewer != ("officer", "KAB-BANYUMAS"):  # the involved unit sees only the incident it is involved in
        pages += [f"/incidents/{resolved_one.id}", f"/incidents/{resolved_one.id}/review", f"/issues/{active.issue_id}"]
    assert {"/", "/issues", "/incidents", "/waiting", "/evaluation"} <= set(pages)
    refused: list[str] = []
    followed: set[str] = set()
    for path in pages:
        response = client.get(path, follow_redirects=True)  # /situation takes a province to its own page
        assert response.status_code == 200, path
        parser = _Links()
        parser.feed(response.get_data(as_text=True))
        for href in parser.links:
            parts = urlsplit(urljoin(path, href))
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if (
                parts.netloc
                or not parts.path.startswith("/")
                or parts.path.startswith("/static/")
                or target in followed
                or parts.path.endswith(".pdf")  # a PDF takes seconds to render; its page's rule is the same
            ):
                continue
            followed.add(target)
            if client.get(target).status_code == 403:
                refused.append(f"{path}: link {href}")
        for form in parser.forms:
            action = urljoin(path, form["action"] or path)
            if form["method"] != "post" or any(action.endswith(skip) for skip in SKIPPED_FORMS):
                continue
            assert form["fields"].get("csrf_token"), action  # the page's own token, as a browser sends it
            if client.post(action, data=form["fields"]).status_code == 403:
                refused.append(f"{path}: form {action}")
    assert refused == []


def test_an_observer_is_not_offered_log_issue_comment_statements_or_review_writing(db, org, desk, login_as):
    client = login_as("observer", "PUSAT")
    assert "/issues/new" not in client.get("/").get_data(as_text=True)
    assert "/issues/new" not in client.get("/issues").get_data(as_text=True)
    page = client.get(f"/incidents/{desk['active'].id}").get_data(as_text=True)
    for part in ('id="comments-form"', 'id="draft-statement"', 'id="lead-actions"', "/approve", "/publish", "/tick"):
        assert part not in page, part
    review = client.get(f"/incidents/{desk['resolved'].id}/review").get_data(as_text=True)
    for part in ('id="write"', 'id="add-action"', "/submit", "/status"):
        assert part not in review, part


def test_an_officer_still_sees_log_issue_and_the_comment_form(db, org, incident, login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    assert "/issues/new" in client.get("/").get_data(as_text=True)
    assert 'id="comments-form"' in client.get(f"/incidents/{incident.id}").get_data(as_text=True)


def test_a_check_nobody_defined_is_an_error_not_a_hidden_button(app, db, org):
    from crisis.desk import permissions

    with pytest.raises(KeyError):
        permissions.can(session=db.session, user=org["users"][("PUSAT", "observer")], action="tick_evrything")
