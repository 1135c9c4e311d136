"""The post-incident review: built from what was recorded, measured exactly, written, approved, exported."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime

from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.incidents.models import Incident
from crisis.reviews import exports
from crisis.reviews import service as reviews
from crisis.reviews.measures import suggest_rating
from crisis.reviews.models import Review
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.factories import close_required, designate_spokesperson, escalate, log_issue, sign_through
from tests.helpers import race

T0 = FIXED_NOW  # the suite's moment, at whatever time of day it is
# The first 10:00 WIB (03:00 UTC) from FIXED_NOW on, for what depends on the time of day: an incident
# resolved at 20:00 WIB has its review due at 20:00 WIB a week later.
MORNING = FIXED_NOW.replace(hour=3, minute=0, second=0, microsecond=0)
MORNING += timedelta(days=1) if MORNING < FIXED_NOW else timedelta(0)
M = timedelta(minutes=1)
H = timedelta(hours=1)
WIB = ZoneInfo("Asia/Jakarta")


def local_day(moment: datetime, zone: ZoneInfo = WIB) -> date:
    return moment.astimezone(zone).date()


def shown(moment: datetime, zone: str, label: str, locale: str) -> str:
    """A time as pages and exports write it, e.g. '26 Nov 2026 11.00 WITA' (babel's month names, the
    language's time notation: 11.00 in Indonesian, 11:00 in English)."""
    local = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    pattern = "d MMM yyyy HH.mm" if locale == "id" else "d MMM yyyy HH:mm"
    return f"{format_datetime(local, pattern, locale=locale)} {label}"


def _tick_required(db, actor, run, now, skip=()):
    close_required(db.session, actor, run, now=now, skip=tuple(skip))


def _publish(db, author, approver, publisher, incident, kind, drafted, approved, published):
    st = statements.draft(
        session=db.session,
        actor=author,
        incident_id=incident.id,
        kind=kind,
        title=f"{kind} statement",
        body="Kami mengetahui pesan yang beredar.",
        now=drafted,
    )
    statements.approve(session=db.session, actor=approver, statement_id=st.id, now=approved)
    sign_through(db.session, st, now=approved)  # severity 3: the institution head signs last
    if published is not None:
        statements.publish(
            session=db.session,
            actor=publisher,
            statement_id=st.id,
            channel="website",
            url="https://semarangkota.go.id/klarifikasi",
            published_at=published,
            now=published,
        )
    return st


@pytest.fixture
def resolved(db, org, built_once):
    """The hoax below, begun at T0 (the suite's moment)."""
    return db.session.get(Incident, built_once("resolved hoax", lambda: resolve_a_hoax(db, org, T0).id))


@pytest.fixture
def resolved_at_eight_pm(db, org, clock):
    """The same incident begun at MORNING (10:00 WIB) and resolved at 20:00 WIB: its review is due at 20:00 WIB."""
    clock.now = MORNING
    return resolve_a_hoax(db, org, MORNING)


def resolve_a_hoax(db, org, t0):
    """A hoax in Kota Semarang (WIB), severity 3: identify 1h, verify 2h, clarify 3h, takedown 1d, monitor 3d.

    identify   met, 40 m, with a waived required item      -> some challenges
    verify     30 m late (25 % of 2 h)                      -> some challenges
    clarify    2 h late (67 % of 3 h)                       -> major challenges
    takedown   completed at resolution, 1 h 50 m, on time   -> performed
    monitor    never reached (closed at resolution)         -> not performed
    """
    from crisis.escalation.models import Timer
    from crisis.notify.models import Notice

    u = org["users"]
    officer, supervisor, head = (
        u[("KOTA-SEMARANG", "officer")],
        u[("KOTA-SEMARANG", "supervisor")],
        u[("KOTA-SEMARANG", "head")],
    )
    issue = log_issue(db.session, org, now=t0, title="Hoaks: air PDAM tercemar", description="Pesan berantai.")
    incident = escalate(db.session, org, issue, now=t0)
    for code in ("KAB-BANYUMAS", "KOTA-MAKASSAR"):
        incidents.involve_unit(
            session=db.session, actor=head, incident_id=incident.id, unit_id=org["units"][code].id, now=t0 + 2 * M
        )
    # At severity 3 the SOP asks for a spokesperson before anything is published: the head speaks.
    designate_spokesperson(db.session, incident, now=t0 + 2 * M)
    runs = incident.stage_runs
    identify, verify, clarify, takedown, monitor = runs
    waived = next(e for e in identify.entries if e.item_key == "map-spread")
    incidents.waive(
        session=db.session,
        actor=supervisor,
        entry_id=waived.id,
        reason="Sebaran sudah dipetakan Komdigi",
        now=t0 + 10 * M,
    )
    _tick_required(db, officer, identify, t0 + 30 * M)
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=identify.id, now=t0 + 40 * M)
    # Statements: a press release first (t0+25m), then the holding statement (t0+35m).
    _publish(db, officer, supervisor, officer, incident, "press_release", t0 + 3 * M, t0 + 20 * M, t0 + 25 * M)
    _publish(db, officer, supervisor, officer, incident, "holding", t0 + 5 * M, t0 + 20 * M, t0 + 35 * M)
    key = _publish(db, officer, head, officer, incident, "key_messages", t0 + 30 * M, t0 + H, None)
    statements.record_shared_publication(
        session=db.session,
        actor=u[("KAB-BANYUMAS", "officer")],
        statement_id=key.id,
        unit_id=org["units"]["KAB-BANYUMAS"].id,
        channel="instagram",
        url="https://instagram.com/p/1",
        published_at=t0 + H + 45 * M,
        now=t0 + H + 45 * M,
    )
    _tick_required(db, officer, verify, t0 + 3 * H)
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=verify.id, now=t0 + 3 * H + 10 * M)
    _tick_required(db, head, clarify, t0 + 8 * H)
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=clarify.id, now=t0 + 8 * H + 10 * M)
    _tick_required(db, officer, takedown, t0 + 9 * H)
    # The monitor stage never starts: its items cannot be ticked ahead, so the supervisor waives them.
    for entry in monitor.entries:
        if entry.required:
            incidents.waive(
                session=db.session, actor=supervisor, entry_id=entry.id, reason="Tidak dijalankan", now=t0 + 9 * H
            )
    # Two people were escalated to on the verify stage; one acknowledged. A stage-due notice is no escalation.
    step = Timer(
        incident_id=incident.id,
        stage_run_id=verify.id,
        kind="escalation_step",
        step_index=0,
        fire_at=t0 + 2 * H + 40 * M,
        state="fired",
        fired_at=t0 + 2 * H + 40 * M,
    )
    due = Timer(
        incident_id=incident.id,
        stage_run_id=verify.id,
        kind="stage_due",
        fire_at=t0 + 2 * H + 40 * M,
        state="fired",
        fired_at=t0 + 2 * H + 40 * M,
    )
    db.session.add_all([step, due])
    db.session.flush()
    jateng_head = u[("JATENG", "head")]

    def notice(timer, user, channel, ack=None):
        return Notice(
            idempotency_key=f"t{timer.id}:{user.id}:{channel}",
            timer_id=timer.id,
            incident_id=incident.id,
            channel=channel,
            recipient_user_id=user.id,
            payload={"kind": timer.kind, "unit_code": "X"},
            status="sent",
            attempts=1,
            due_at=timer.fire_at,
            queued_at=timer.fire_at,
            next_attempt_at=timer.fire_at,
            sent_at=timer.fire_at,
            acknowledged_at=ack,
            acknowledged_by_id=user.id if ack else None,
        )

    db.session.add_all(
        [
            notice(step, supervisor, "email"),
            notice(step, supervisor, "inapp", ack=t0 + 2 * H + 50 * M),
            notice(step, jateng_head, "inapp"),
            notice(due, head, "inapp"),
        ]
    )
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=t0 + 10 * H)
    reviews.open_draft(session=db.session, incident=incident, now=t0 + 10 * H)  # idempotent: also called by resolve
    db.session.commit()
    return incident


def test_suggested_rating_follows_the_definitions():
    target = timedelta(hours=2)
    assert suggest_rating(performed=True, late=None, target=target, waived_required=False) == "performed"
    assert suggest_rating(performed=True, late=None, target=target, waived_required=True) == "some_challenges"
    assert suggest_rating(performed=True, late=H, target=target, waived_required=False) == "some_challenges"
    assert suggest_rating(performed=True, late=H + M, target=target, waived_required=False) == "major_challenges"
    assert suggest_rating(performed=False, late=None, target=target, waived_required=False) == "not_performed"


def test_resolving_opens_one_review_draft_due_by_the_playbook_deadline(db, resolved):
    review = db.session.query(Review).one()
    assert review.state == "draft" and review.incident_id == resolved.id
    assert review.due_at == T0 + 10 * H + timedelta(days=7)
    assert reviews.open_draft(session=db.session, incident=resolved, now=T0 + 11 * H).id == review.id
    assert db.session.query(TimelineEvent).filter_by(kind="review.opened").count() == 1


def test_the_draft_measures_every_stage_against_its_target(db, org, resolved):
    review = db.session.query(Review).one()
    doc = reviews.document(session=db.session, review=review)
    table = [(s.key, s.performed, s.met, s.late, s.suggested) for s in doc.stages]
    assert table == [
        ("identify", True, True, None, "some_challenges"),
        ("verify-with-institution", True, False, 30 * M, "some_challenges"),
        ("clarify", True, False, 2 * H, "major_challenges"),
        ("takedown", True, True, None, "performed"),
        ("monitor", False, None, None, "not_performed"),
    ]
    assert [s.actual for s in doc.stages[:4]] == [40 * M, 2 * H + 30 * M, 5 * H, H + 50 * M]
    m = doc.measures
    assert m.time_to_acknowledge == 40 * M
    assert m.time_to_first_statement == 25 * M  # the press release
    assert m.time_to_holding_statement == 35 * M
    assert m.time_to_resolve == 10 * H
    assert m.stages_met == 2
    assert [(stage.key, entry.item_key, entry.waive_reason) for stage, entry in m.waivers] == [
        ("identify", "map-spread", "Sebaran sudah dipetakan Komdigi"),
        ("monitor", "reach-comparison", "Tidak dijalankan"),
        ("monitor", "declare-debunked", "Tidak dijalankan"),
    ]
    assert m.items_waived == 3 and m.items_done + m.items_waived + m.items_open == m.items_total
    assert (m.escalation_count, m.escalations_acknowledged) == (2, 1)
    assert len(m.escalations) == 4  # every notice is listed, the stage-due one too
    lags = {row.unit.code: row.lag for row in m.lags}
    assert lags == {"KAB-BANYUMAS": 45 * M, "KOTA-MAKASSAR": None}


def test_the_reviewer_changes_a_rating_and_bad_input_names_each_field(db, org, resolved):
    review = db.session.query(Review).one()
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    with pytest.raises(ValidationFailed) as caught:
        reviews.update(
            session=db.session,
            actor=officer,
            review_id=review.id,
            summary="x" * 20001,
            stage_ratings={"clarify": "excellent", "nope": "performed"},
            now=T0 + 11 * H,
        )
    assert set(caught.value.errors) == {"summary", "stage_ratings.clarify", "stage_ratings.nope"}
    db.session.rollback()
    reviews.update(
        session=db.session,
        actor=officer,
        review_id=review.id,
        stage_ratings={"clarify": "some_challenges"},
        summary="Hoaks diklarifikasi dalam 8 jam.",
        now=T0 + 11 * H,
    )
    db.session.commit()
    doc = reviews.document(session=db.session, review=review)
    clarify = next(s for s in doc.stages if s.key == "clarify")
    assert (clarify.rating, clarify.suggested) == ("some_challenges", "major_challenges")
    outsider = org["users"][("KAB-GOWA", "head")]
    with pytest.raises(NotFound):
        reviews.update(session=db.session, actor=outsider, review_id=review.id, summary="x", now=T0)


def test_submit_approve_closes_the_incident_and_only_a_head_approves(db, org, resolved):
    review = db.session.query(Review).one()
    u = org["users"]
    officer, head = u[("KOTA-SEMARANG", "officer")], u[("KOTA-SEMARANG", "head")]
    with pytest.raises(ValidationFailed) as caught:
        reviews.submit(session=db.session, actor=officer, review_id=review.id, now=T0 + 11 * H)
    assert set(caught.value.errors) == {"summary", "went_well", "to_improve"}
    db.session.rollback()
    reviews.update(
        session=db.session,
        actor=officer,
        review_id=review.id,
        summary="Ringkas.",
        went_well="Cepat.",
        to_improve="Verifikasi lebih cepat.",
        now=T0 + 11 * H,
    )
    due_on = local_day(T0 + 11 * H) + timedelta(days=14)
    item = reviews.add_action_item(
        session=db.session,
        actor=officer,
        review_id=review.id,
        title="Kontak tetap di PDAM",
        owner_id=u[("KOTA-SEMARANG", "supervisor")].id,
        due_on=due_on.isoformat(),
        now=T0 + 11 * H,
    )
    reviews.submit(session=db.session, actor=officer, review_id=review.id, now=T0 + 12 * H)
    db.session.commit()
    assert item.due_at.isoformat() == f"{due_on.isoformat()}T16:59:59.999999+00:00"  # end of that day in WIB
    with pytest.raises(Conflict):
        reviews.update(session=db.session, actor=officer, review_id=review.id, summary="later", now=T0 + 12 * H)
    db.session.rollback()
    for person in (officer, u[("KOTA-SEMARANG", "supervisor")], u[("KAB-BANYUMAS", "head")]):
        with pytest.raises(NotPermitted):
            reviews.approve(session=db.session, actor=person, review_id=review.id, now=T0 + 13 * H)
        db.session.rollback()
    reviews.approve(session=db.session, actor=head, review_id=review.id, now=T0 + 13 * H)
    db.session.commit()
    incident = db.session.get(Incident, resolved.id)
    assert incident.state == "closed" and incident.closed_at == T0 + 13 * H
    kinds = [
        e.kind for e in db.session.query(TimelineEvent).filter_by(subject_id=incident.id).order_by(TimelineEvent.id)
    ]
    assert kinds[-2:] == ["review.approved", "incident.closed"]
    from crisis.escalation.models import Timer

    assert db.session.query(Timer).filter_by(incident_id=incident.id, state="pending").count() == 0


def test_action_items_refuse_past_dates_and_strangers(db, org, resolved):
    review = db.session.query(Review).one()
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    with pytest.raises(ValidationFailed) as caught:
        reviews.add_action_item(
            session=db.session,
            actor=officer,
            review_id=review.id,
            title="",
            owner_id=org["users"][("KAB-GOWA", "officer")].id,
            due_on=(local_day(T0 + 11 * H) - timedelta(days=1)).isoformat(),  # yesterday, WIB
            now=T0 + 11 * H,
        )
    assert set(caught.value.errors) == {"title", "owner_id", "due_on"}


def test_review_page_shows_times_in_the_viewers_zone(db, org, resolved, login_as):
    client = login_as("head", "KOTA-MAKASSAR")  # involved unit, WITA
    page = client.get(f"/incidents/{resolved.id}/review")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert shown(T0, "Asia/Makassar", "WITA", "id") in html  # when it started, in WITA
    assert "Sebaran sudah dipetakan Komdigi" in html
    assert "<script>" not in html and "style=" not in html
    assert client.get(f"/incidents/{resolved.id + 999}/review").status_code == 404


def test_exports_in_both_languages(db, org, resolved, login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    data = json.loads(client.get(f"/incidents/{resolved.id}/review.json?lang=en").get_data(as_text=True))
    assert data["measures"]["time_to_holding_statement_seconds"] == 35 * 60
    assert [s["rating"] for s in data["stages"]] == [
        "some_challenges",
        "some_challenges",
        "major_challenges",
        "performed",
        "not_performed",
    ]
    assert data["stages"][2]["late_seconds"] == 7200 and data["stages"][0]["title"] == "Identify and label"
    markdown = client.get(f"/incidents/{resolved.id}/review.md?lang=en").get_data(as_text=True)
    assert "| 3. Verify" not in markdown and "| 2. Verify with the institution" in markdown
    assert "Breached by 2 h" in markdown and "Breached by 30 min" in markdown
    indonesian = client.get(f"/incidents/{resolved.id}/review.md?lang=id").get_data(as_text=True)
    assert "Identifikasi dan pelabelan" in indonesian and "WIB" in indonesian
    printable = client.get(f"/incidents/{resolved.id}/review.html?lang=id")
    assert printable.status_code == 200 and "Identifikasi dan pelabelan" in printable.get_data(as_text=True)


HOSTILE = (
    '<img src=x onerror="alert(1)"> [klik](javascript:alert(1)) ![](https://evil.example/t.png) '
    "<script>alert(2)</script> **tebal** | sel | `kode` &lt;b&gt;\n# judul\n- daftar\n1. nomor\n==="
)


def test_the_markdown_export_shows_what_people_wrote_as_text_never_as_markup(db, org, resolved, login_as):
    """Text people write is plain text in the app; in the .md export it must stay text in any
    Markdown viewer, raw HTML allowed (the most trusting setting), tables on."""
    import html
    import re

    from markdown_it import MarkdownIt

    from crisis.incidents.models import ChecklistEntry, Statement

    resolved.title = "Hoaks " + HOSTILE
    review = db.session.query(Review).filter_by(incident_id=resolved.id).one()
    review.summary, review.went_well, review.to_improve = HOSTILE, HOSTILE, HOSTILE
    db.session.query(ChecklistEntry).filter(ChecklistEntry.waive_reason != "").update({"waive_reason": HOSTILE})
    db.session.query(Statement).filter_by(incident_id=resolved.id).update({"title": HOSTILE})
    resolved.commander.name = "Joko <b>Santoso</b>"
    db.session.commit()
    client = login_as("officer", "KOTA-SEMARANG")
    markdown = client.get(f"/incidents/{resolved.id}/review.md?lang=en").get_data(as_text=True)
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    tags = set(re.findall(r"<\s*([a-zA-Z0-9]+)", rendered))
    assert tags <= {"h1", "h2", "h3", "p", "ul", "ol", "li", "strong", "table", "thead", "tbody", "tr", "th", "td"}
    assert "javascript:" not in re.sub(r">[^<]*<", "><", rendered)  # nowhere but in text
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    # The title reads whole as written (line breaks aside); the payload shows in every other field.
    assert "Hoaks " + HOSTILE.replace("\n", " ") in " ".join(text.split("\n"))
    assert text.count('<img src=x onerror="alert(1)">') >= 7  # title, three review texts, waiver, statements
    assert "Joko <b>Santoso</b>" in text


def test_the_pdf_text_contains_the_stage_table(db, org, resolved, login_as):
    from pypdf import PdfReader

    client = login_as("officer", "KOTA-SEMARANG")
    response = client.get(f"/incidents/{resolved.id}/review.pdf?lang=en")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    text = " ".join(text.split())
    for expected in (
        "Stages: target and actual",
        "Identify and label",
        "Verify with the institution",
        "Not performed",
        "Met",
    ):
        assert expected in text, expected
    assert "Breached by 30 min" in text and "Breached by 2 h" in text


def test_a_pdf_downloaded_again_is_not_laid_out_again_and_a_change_makes_a_new_one(
    db, org, resolved, login_as, monkeypatch
):
    monkeypatch.setattr(exports, "_pdfs", type(exports._pdfs)())
    client = login_as("officer", "KOTA-SEMARANG")
    first = client.get(f"/incidents/{resolved.id}/review.pdf?lang=en").data
    assert len(exports._pdfs) == 1
    made = next(iter(exports._pdfs.values()))
    assert client.get(f"/incidents/{resolved.id}/review.pdf?lang=en").data == first
    assert len(exports._pdfs) == 1 and next(iter(exports._pdfs.values())) is made  # the same bytes, kept
    # Another language is another document; so is the review after its text changed.
    assert "Stages: target and actual" not in _pdf_text(client.get(f"/incidents/{resolved.id}/review.pdf?lang=id"))
    review = db.session.query(Review).one()
    review.summary = "Ringkasan yang diperbarui setelah rapat evaluasi."
    db.session.commit()
    changed = client.get(f"/incidents/{resolved.id}/review.pdf?lang=en")
    assert changed.data != first and len(exports._pdfs) == 3
    assert "Ringkasan yang diperbarui" in _pdf_text(changed)
    # Held within its size: the oldest documents go first.
    monkeypatch.setattr(exports, "PDF_CACHE_BYTES", len(changed.data) + 1)
    client.get(f"/incidents/{resolved.id}/review.pdf?lang=en")  # one more (a hit: nothing goes)
    assert len(exports._pdfs) == 3
    review.summary = "Ringkasan ketiga."
    db.session.commit()
    client.get(f"/incidents/{resolved.id}/review.pdf?lang=en")
    assert len(exports._pdfs) == 1


def _pdf_text(response) -> str:
    from pypdf import PdfReader

    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages).split())


def test_exports_render_without_a_request_for_workers(db, org, resolved, app):
    review = db.session.query(Review).one()
    doc = reviews.document(session=db.session, review=review)
    with app.test_request_context():
        html = exports.render_html(doc, lang="en", zone="Asia/Jayapura", for_pdf=True)
    assert shown(T0, "Asia/Jayapura", "WIT", "en") in html


# --- reminders (crisis.reviews.reminders) ----------------------------------------------------------


def _reminders(db, **match):
    from crisis.notify.models import Notice

    rows = db.session.query(Notice).filter(Notice.kind == "reminder").order_by(Notice.id).all()
    return [n for n in rows if all(n.payload.get(k) == v for k, v in match.items())]


def test_the_review_owner_is_reminded_two_days_before_and_on_the_due_date(db, org, resolved_at_eight_pm, login_as):
    from crisis.escalation import inbox as notice_inbox
    from crisis.reviews import tasks as review_tasks

    review = db.session.query(Review).one()
    head = org["users"][("KOTA-SEMARANG", "head")]  # the commander: writes the draft
    due = review.due_at  # a week after the resolution: 13:00 UTC = 20:00 WIB
    assert (due.astimezone(WIB).hour, due.astimezone(WIB).minute) == (20, 0)
    assert review_tasks.reminder_sweep(db.session, now=due - timedelta(days=2, minutes=1)) == 0
    assert review_tasks.reminder_sweep(db.session, now=due - timedelta(days=2)) == 2  # the inbox and e-mail
    assert review_tasks.reminder_sweep(db.session, now=due - timedelta(days=1)) == 0  # once per threshold
    first = _reminders(db)
    assert {(n.recipient_user_id, n.channel, n.status) for n in first} == {
        (head.id, "inapp", "sent"),
        (head.id, "email", "queued"),
    }
    assert {n.payload["threshold"] for n in first} == {"two_days"}
    inbox = notice_inbox.inbox(session=db.session, user=head)
    assert [n.payload["kind"] for n in inbox if n.kind == "reminder"] == ["review_due_soon"]
    # On the due date at 07:00 WIB (00:00 UTC), not before.
    assert review_tasks.reminder_sweep(db.session, now=due - timedelta(hours=13, minutes=1)) == 0
    assert review_tasks.reminder_sweep(db.session, now=due - timedelta(hours=13)) == 2
    assert review_tasks.reminder_sweep(db.session, now=due - timedelta(hours=1)) == 0
    assert (
        review_tasks.reminder_sweep(db.session, now=due + timedelta(hours=1)) == 0
    )  # past due: the engine's timer tells
    assert [n.payload["threshold"] for n in _reminders(db) if n.channel == "inapp"] == ["two_days", "due_day"]
    inbox_page = login_as("head", "KOTA-SEMARANG").get("/inbox").get_data(as_text=True)
    assert inbox_page.count(f'href="/incidents/{resolved_at_eight_pm.id}/review"') == 2
    # The due time, 13:00 UTC, in the reader's language and zone: e.g. "3 Des 2026 20:00 WIB".
    assert shown(due, "Asia/Jakarta", "WIB", "id") in inbox_page


def test_a_submitted_review_reminds_the_heads_who_approve_it(db, org, resolved_at_eight_pm):
    from crisis.reviews import tasks as review_tasks

    review = db.session.query(Review).one()  # due at 20:00 WIB: 19:00 is past 07:00 of the due date
    writer = org["users"][("KOTA-SEMARANG", "officer")]
    reviews.update(
        session=db.session,
        actor=writer,
        review_id=review.id,
        summary="Ringkas",
        went_well="Cepat",
        to_improve="Verifikasi",
        now=MORNING + 11 * H,
    )
    reviews.submit(session=db.session, actor=writer, review_id=review.id, now=MORNING + 11 * H)
    db.session.commit()
    assert review_tasks.reminder_sweep(db.session, now=review.due_at - H) == 2  # several thresholds passed: the latest
    assert {(n.recipient_user_id, n.payload["threshold"]) for n in _reminders(db)} == {
        (org["users"][("KOTA-SEMARANG", "head")].id, "due_day")
    }


def test_action_item_owners_get_inbox_and_email_reminders_once_before_and_once_after(app, db, org, resolved):
    from crisis import mail
    from crisis.escalation import delivery
    from crisis.escalation import inbox as notice_inbox
    from crisis.notify import service as notify
    from crisis.reviews import tasks as review_tasks
    from tests.engine.sinks import SmtpSink

    review = db.session.query(Review).one()
    u = org["users"]
    owner, quiet = u[("KOTA-SEMARANG", "supervisor")], u[("KOTA-SEMARANG", "officer")]
    notify.set_preferences(session=db.session, user=quiet, choices={"email": False})  # the inbox only
    day = local_day(T0 + 11 * H) + timedelta(days=24)  # long after the review's own reminders
    for person, due_on in ((owner, day), (quiet, day + timedelta(days=1))):
        reviews.add_action_item(
            session=db.session,
            actor=u[("KOTA-SEMARANG", "head")],
            review_id=review.id,
            title=f"Perbarui SOP verifikasi ({person.name})",
            owner_id=person.id,
            due_on=due_on.isoformat(),
            now=T0 + 11 * H,
        )
    db.session.commit()
    item = next(i for i in review.action_items if i.owner_id == owner.id)  # due `day`, end of the day WIB
    sent = [
        review_tasks.reminder_sweep(db.session, now=item.due_at + offset)
        for offset in (
            -timedelta(days=2),
            -timedelta(hours=12),
            -timedelta(hours=11),
            H,
            timedelta(days=3),
            timedelta(days=4),
        )
    ]
    # 12 h before: due soon (inbox and e-mail). 1 h after: overdue, and the quiet owner's item (a day later)
    # is due soon, in the inbox only. 3 days after: the quiet owner's is overdue. Nothing twice.
    assert sent == [0, 2, 0, 2 + 1, 1, 0]
    notices = _reminders(db)
    assert sorted((n.recipient_user_id == owner.id, n.payload["kind"], n.channel) for n in notices) == [
        (False, "action_item_due_soon", "inapp"),
        (False, "action_item_overdue", "inapp"),
        (True, "action_item_due_soon", "email"),
        (True, "action_item_due_soon", "inapp"),
        (True, "action_item_overdue", "email"),
        (True, "action_item_overdue", "inapp"),
    ]
    assert {n.payload["kind"] for n in notice_inbox.inbox(session=db.session, user=owner) if n.kind == "reminder"} == {
        "action_item_due_soon",
        "action_item_overdue",
    }
    assert all(n.channel == "inapp" for n in notices if n.recipient_user_id == quiet.id)
    # The e-mail ones leave through the engine's delivery, like any notice.
    sink = SmtpSink().start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    try:
        for notice in notices:
            if notice.channel == "email":
                assert delivery.deliver(session=db.session, notice_id=notice.id, now=notice.queued_at) == "sent"
        db.session.commit()
    finally:
        mail.disconnect()  # the kept connection to the sink
        sink.stop()
        app.config.update(saved)
    assert len(sink.messages) == 2 and all(m["to"] == [owner.email] for m in sink.messages)
    # The end of the due date in the owner's language and zone, e.g. "20 Des 2026 23:59 WIB".
    due_by = shown(datetime.combine(day, time(23, 59), tzinfo=WIB), "Asia/Jakarta", "WIB", "id")
    for message in (m["message"] for m in sink.messages):
        assert f"Perbarui SOP verifikasi ({owner.name})" in str(message["Subject"])
        body = message.get_body(("plain",)).get_content()
        assert due_by in body


def test_two_schedulers_write_each_reminder_once(app, db, org, resolved):

    from crisis.reviews import tasks as review_tasks

    review = db.session.query(Review).one()
    moment = review.due_at - timedelta(days=1)  # the review's two-day reminder and the item's due-soon one
    reviews.add_action_item(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "head")],
        review_id=review.id,
        title="Latih juru bicara",
        owner_id=org["users"][("KOTA-SEMARANG", "supervisor")].id,
        due_on=local_day(moment).isoformat(),
        now=T0 + 11 * H,
    )  # due by the end of that day
    db.session.commit()
    written = race(app, lambda session: review_tasks.reminder_sweep(session, now=moment))
    assert len(written) == 2 and sum(written) == 4  # two reminders on two channels each, written once
    assert len(_reminders(db)) == 4
    assert review_tasks.reminder_sweep(db.session, now=moment) == 0
    db.session.refresh(review)
    assert review.reminded == "two_days" and review.version == 1  # bookkeeping is no edit


def test_a_key_message_published_after_one_read_shows_in_the_next(db, org, resolved):
    """The precomputed lag rows follow a publication recorded after they were computed."""
    from crisis.incidents.models import Statement
    from crisis.reports import service as reports

    viewer = org["users"][("KOTA-SEMARANG", "head")]
    started = local_day(T0, ZoneInfo(viewer.timezone))  # the month the incident began in, where the viewer is
    first = started.replace(day=1)
    last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)

    def lag():
        f = reports.filters_for(
            session=db.session, user=viewer, start=first.isoformat(), end=last.isoformat(), now=T0 + 12 * H
        )
        board = reports.build_dashboard(session=db.session, filters=f)
        db.session.commit()
        return {r["unit"].code: (r["shared"], r["published"], r["p50"]) for r in board.lag}

    assert lag() == {"KAB-BANYUMAS": (1, 1, 45 * 60), "KOTA-MAKASSAR": (1, 0, None)}
    key = db.session.query(Statement).filter_by(kind="key_messages").one()
    statements.record_shared_publication(
        session=db.session,
        actor=org["users"][("KOTA-MAKASSAR", "officer")],
        statement_id=key.id,
        unit_id=org["units"]["KOTA-MAKASSAR"].id,
        channel="website",
        url="https://makassarkota.go.id/rilis",
        published_at=T0 + 3 * H,
        now=T0 + 11 * H,
    )
    db.session.commit()
    assert lag() == {"KAB-BANYUMAS": (1, 1, 45 * 60), "KOTA-MAKASSAR": (1, 1, 2 * 3600)}
