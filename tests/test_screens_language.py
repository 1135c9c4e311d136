"""Screens speak the reader's language: every timeline event, notice, status and failure is a
sentence with names (stage titles, people, units), never an engine key, a status code or a Python
exception."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crisis.escalation import delivery
from crisis.escalation.models import TIMER_KINDS
from crisis.incidents import service as incidents
from crisis.incidents.labels import EVENT_LABELS
from crisis.incidents.models import Incident
from crisis.notify import words
from crisis.notify.models import Notice
from crisis.reports.models import MonthlyReport
from crisis.reviews.service import ACTION_STATES
from crisis.timeline.models import TimelineEvent
from crisis.timeline.presenters import PRESENTERS, Names, present
from tests import factories
from tests.conftest import FIXED_NOW, form_post
from tests.engine.drive import tick
from tests.factories import open_incident, run_through

NOW = FIXED_NOW
WIB = ZoneInfo("Asia/Jakarta")
M = timedelta(minutes=1)
ROOT = Path(__file__).resolve().parent.parent / "crisis"

# Values an f-string kind is made of (kind=f"escalation.{timer.kind}", kind=f"review.action_{status}").
EXPANSIONS = {"escalation.": TIMER_KINDS, "review.action_": ACTION_STATES}
# What a screen must never show: engine keys, selectors, channel and status codes, exceptions.
KEYS = re.compile(
    r"escalation\.\w+|checklist\.\w+|stage\.\w+|statement\.\w+|notice\.failed|\w+@(own|parent|province|central)"
    r"|\binapp\b|\bqueued\b|\bescalation_step\b|\bstage_due\b|\bupdate_due\b|Error:|Errno|\(commander\)"
)


def _kinds_written_to_incident_timelines() -> set[str]:
    """Every kind a timeline.record / append / event_row call (or an incident helper around it) can write about an
    incident, read from the source: a literal kind, or an f-string expanded over its values."""
    kinds: set[str] = set()
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if name not in ("record", "append", "_record", "record_entry", "event_row") or owner == "audit":
                continue
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            subject = keywords.get("subject_type")
            if isinstance(subject, ast.Constant) and subject.value != "incident":
                continue  # users, units, playbooks, issues: not on an incident's timeline
            kind = keywords.get("kind")
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                kinds.add(kind.value)
            elif isinstance(kind, ast.JoinedStr):
                prefix = "".join(str(part.value) for part in kind.values if isinstance(part, ast.Constant))
                assert prefix in EXPANSIONS, f"{path}:{call.lineno}: kind {ast.unparse(kind)} has no known values"
                kinds.update(prefix + value for value in EXPANSIONS[prefix])
    return kinds


def test_every_event_kind_the_code_writes_has_a_sentence_and_a_label():
    kinds = _kinds_written_to_incident_timelines()
    # The walk finds what it must (else it proves nothing): engine, checklist, review and statement kinds.
    assert {"escalation.escalation_step", "escalation.fallback", "checklist.waived", "review.action_dropped"} <= kinds
    assert {"statement.published", "notice.failed", "escalation.acknowledged", "incident.opened"} <= kinds
    assert sorted(kinds - PRESENTERS.keys()) == [], "kinds written that no presenter puts into words"
    assert sorted(kinds - EVENT_LABELS.keys()) == [], "kinds written that have no label"


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_presenter_writes_a_sentence_without_keys_in_both_languages(app, lang):
    names = Names(
        stage=lambda key: "Verifikasi fakta",
        item=lambda key: "Cek sumber resmi",
        unit=lambda code: "Diskominfo Kota Semarang",
        person=lambda user_id: "Ratna Sari",
        notice_channel=lambda name: "e-mail",
        statement_kind=lambda kind: "Siaran pers",
        publication_channel=lambda name: "Situs web",
        sop="Klarifikasi hoaks",
    )
    data = {
        "stage": "verify",
        "item": "check-source",
        "selector": "supervisor@own",
        "from_unit": "KOTA-SEMARANG",
        "to_unit": "JATENG",
        "unit": "KOTA-SEMARANG",
        "channel": "inapp",
        "statement_kind": "press_release",
        "step_index": 0,
        "to": [{"name": "Ratna Sari", "selector": "supervisor@own", "unit": "KOTA-SEMARANG", "channels": ["email"]}],
        "fields": ["summary"],
        "title": "Perbarui SOP",
        "owner": "Ratna Sari",
        "reason": "sudah ditangani",
    }
    with app.test_request_context(), _locale(lang):
        for kind in PRESENTERS:
            sentence = present(kind, data, names)
            assert sentence and sentence[0].isupper(), (kind, sentence)
            assert not KEYS.search(sentence), (kind, sentence)
        unknown = present("something.new", {}, names)
        assert unknown[0].isupper() and "something.new" not in unknown


def _signed_in(app, org, role: str, unit: str):
    """Another browser, signed in as that demo user (a test that compares two people's pages)."""
    from tests.conftest import RequestScopedClient, sign_in

    app.test_client_class = RequestScopedClient  # each request its own app context, as in production
    browser = app.test_client()
    assert sign_in(browser, org["users"][(unit, role)].email).status_code == 302
    return browser


def _next_try(moment) -> str:
    """How the page says when the app tries again, whatever the suite's date: the time today, else the date."""
    from flask import current_app
    from flask_babel import force_locale

    from crisis.timefmt import format_local

    if moment.astimezone(WIB).date() != NOW.astimezone(WIB).date():
        return "Aplikasi akan mencoba lagi pada"
    with current_app.test_request_context(), force_locale("id"):
        return f"Aplikasi akan mencoba lagi pukul {format_local(moment, 'Asia/Jakarta', 'HH:mm')}"


def _locale(lang):
    from flask_babel import force_locale

    return force_locale(lang)


def _timeline(page: str) -> str:
    return page[page.index('id="timeline"') :]


def _notices(page: str) -> str:
    return page[page.index('id="notices"') : page.index('id="comments"')]


def test_the_timeline_says_who_the_escalation_reached_by_name_role_and_channel(db, org, login_as):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)  # the supervisor step of "Verifikasi fakta" (nothing listens for mail)
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    stage = incident.playbook_snapshot["stages"][0]["title"]["id"]
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    timeline = _timeline(page)
    assert (
        f"Eskalasi tahap {stage}, langkah 1: dikirim ke supervisor Diskominfo Kota Semarang ({supervisor.name}) "
        "lewat e-mail dan kotak masuk aplikasi." in timeline
    )
    assert not KEYS.search(re.sub(r"<[^>]+>", " ", timeline))


def test_a_fallback_up_the_tree_is_a_sentence_naming_both_units(db, org, login_as):
    incident = open_incident(db.session, org, now=NOW, unit="KOTA-MAKASSAR", commander=("KOTA-MAKASSAR", "officer"))
    db.session.commit()
    tick(db.session, NOW + 15 * M)  # Kota Makassar has no supervisor: Sulawesi Selatan's is asked
    page = login_as("head", "KOTA-MAKASSAR").get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert (
        "Tidak ada supervisor di Diskominfo Kota Makassar; diteruskan ke supervisor Diskominfo Provinsi "
        "Sulawesi Selatan, yang lebih tinggi dalam struktur unit." in _timeline(page)
    )
    notices = _notices(page)
    assert "supervisor Diskominfo Provinsi Sulawesi Selatan (Nurhayati Rahman)" in notices
    assert "diteruskan ke Diskominfo Provinsi Sulawesi Selatan" in notices
    assert not KEYS.search(re.sub(r"<[^>]+>", " ", notices))


def test_a_mail_server_that_does_not_answer_is_explained_with_the_next_try(db, org, login_as, app):
    app.config.update(SMTP_PORT=1)  # nothing listens: connection refused
    try:
        incident = open_incident(db.session, org, now=NOW)
        db.session.commit()
        tick(db.session, NOW + 15 * M)
    finally:
        app.config.update(SMTP_PORT=25)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "email"))
    assert notice.status == "queued" and "ConnectionRefusedError" in notice.last_error  # kept for admins
    officer_page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    notices = _notices(officer_page)
    assert "Server e-mail tidak menjawab (sambungan ditolak)" in notices
    assert _next_try(notice.next_attempt_at) in notices
    assert "ConnectionRefusedError" not in officer_page and "Errno" not in officer_page
    admin_page = _signed_in(app, org, "admin", "JATENG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Rincian teknis" in admin_page and "ConnectionRefusedError" in admin_page


@pytest.mark.parametrize(
    ("error", "channel", "meaning"),
    [
        ("ConnectionRefusedError: [Errno 111] Connection refused", "email", "Server e-mail tidak menjawab"),
        ("TimeoutError: timed out", "email", "tidak menjawab tepat waktu"),
        ("SMTPAuthenticationError: (535, b'5.7.8 Authentication failed')", "email", "CRISIS_SMTP_PASSWORD"),
        ("SMTPRecipientsRefused: {'x@y': (550, b'no such user')}", "email", "Alamat ditolak oleh server"),
        ("SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number", "email", "Sambungan aman (TLS)"),
        ("DeliveryError: HTTP 500", "webhook", "Penerima webhook mengalami gangguan sendiri (HTTP 500)"),
        ("DeliveryError: HTTP 404", "webhook", "Penerima webhook menolak pemberitahuan (HTTP 404)"),
        ("gaierror: [Errno -2] Name or service not known", "email", "CRISIS_SMTP_HOST"),
        ("KeyError: 'x'", "email", "kendala teknis"),
    ],
)
def test_each_kind_of_delivery_failure_reads_as_what_it_means(app, error, channel, meaning):
    with app.test_request_context(), _locale("id"):
        sentence = words.explain_failure(error, channel=channel)
    assert meaning in sentence
    assert "Error" not in sentence and "Errno" not in sentence


def test_without_a_mail_server_email_is_not_set_up_not_a_failure_and_the_inbox_still_works(db, org, login_as, app):
    app.config.update(SMTP_HOST=None)  # the embedded default: no mail server configured
    try:
        incident = open_incident(db.session, org, now=NOW)
        db.session.commit()
        tick(db.session, NOW + 15 * M)
        email = db.session.scalar(select(Notice).where(Notice.channel == "email"))
        assert (email.status, email.attempts, email.last_error) == ("cancelled", 0, words.EMAIL_NOT_SET_UP)
        assert delivery.deliver(session=db.session, notice_id=email.id, now=NOW + 20 * M) is None  # never retried
        tick(db.session, NOW + 16 * M)
        db.session.refresh(email)
        assert email.status == "cancelled" and email.attempts == 0
        inapp = db.session.scalar(select(Notice).where(Notice.channel == "inapp"))
        assert inapp.status == "sent"
        admin = login_as("admin", "JATENG")
        notices = _notices(admin.get(f"/incidents/{incident.id}").get_data(as_text=True))
        assert "Tidak dikirim: e-mail belum diatur di server ini." in notices
        assert "CRISIS_SMTP_HOST" in notices
        supervisor = _signed_in(app, org, "supervisor", "KOTA-SEMARANG")
        inbox = supervisor.get("/inbox").get_data(as_text=True)
        assert "Eskalasi tahap" in inbox and 'id="email-not-set-up"' in inbox and "CRISIS_SMTP_HOST" in inbox
    finally:
        app.config.update(SMTP_HOST="127.0.0.1")


def test_a_refused_stage_completion_lists_the_items_as_the_checklist_words_them(db, org, login_as, incident):
    client = login_as("officer", "KOTA-SEMARANG")
    run = incident.stage_runs[0]
    page = f"/incidents/{incident.id}"
    form_post(client, f"{page}/stages/{run.id}/complete", {}, page=page)
    shown = client.get(page).get_data(as_text=True)
    flashes = " ".join(re.findall(r'class="flash[^"]*"[^>]*>(.*?)</', shown, flags=re.S))
    stage = incident.playbook_snapshot["stages"][0]
    required = [item for item in stage["checklist"] if item.get("required", True)]
    assert required
    for item in required:
        assert item["text"]["id"] in flashes
        assert item["key"] not in flashes


def test_the_inbox_says_what_each_notice_is_about_with_the_stage_title(db, org, login_as):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    stage = incident.playbook_snapshot["stages"][0]["title"]["id"]
    inbox = login_as("supervisor", "KOTA-SEMARANG").get("/inbox").get_data(as_text=True)
    assert f"Eskalasi tahap {stage}, langkah 1" in inbox
    assert f'href="/incidents/{incident.id}"' in inbox
    body = inbox[inbox.index("<tbody>") : inbox.index("</tbody>")]
    assert not KEYS.search(re.sub(r"<[^>]+>", " ", body))


def test_the_review_and_its_markdown_speak_in_sentences(db, org, login_as, resolved_review):  # noqa: ARG001
    incident = resolved_review
    client = login_as("head", "KOTA-SEMARANG")
    page = client.get(f"/incidents/{incident.id}/review").get_data(as_text=True)
    document = re.sub(r"<[^>]+>", " ", page[page.index('id="overview"') :])
    assert "(komandan insiden, " in document and "(commander)" not in document
    assert not KEYS.search(document), KEYS.search(document)
    waived = incident.stage_runs[0].entries[0]
    text = incident.playbook_snapshot["stages"][0]["checklist"][waived.position]["text"]["id"]
    markdown = client.get(f"/incidents/{incident.id}/review.md?lang=id").get_data(as_text=True)
    assert "| Ukuran | Nilai |" in markdown
    assert text in markdown and f"· {waived.item_key}" not in markdown
    assert not KEYS.search(markdown), KEYS.search(markdown)
    english = client.get(f"/incidents/{incident.id}/review.md?lang=en").get_data(as_text=True)
    assert "| Measure | Value |" in english and "(incident commander, " in english


@pytest.fixture
def resolved_review(db, org, incident):
    """The hoax with a waiver, its escalations, a published statement, resolved."""
    from crisis.incidents import stages, statements

    tick(db.session, incident.stage_runs[0].due_at)  # its first stage's escalations and overdue notice
    u = org["users"]
    head, officer, supervisor = (u[("KOTA-SEMARANG", r)] for r in ("head", "officer", "supervisor"))
    entry = incident.stage_runs[0].entries[0]
    stages.waive(session=db.session, actor=head, entry_id=entry.id, reason="Sudah jelas", now=NOW + 16 * M)
    st = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind="holding",
        title="Pernyataan awal",
        body="Kami menangani.",
        now=NOW + 17 * M,
    )
    statements.approve(session=db.session, actor=supervisor, statement_id=st.id, now=NOW + 18 * M)
    factories.sign_through(db.session, st, now=NOW + 18 * M)  # severity 3: the institution head signs last
    factories.designate_spokesperson(db.session, incident, now=NOW + 18 * M)
    statements.publish(
        session=db.session,
        actor=officer,
        statement_id=st.id,
        channel="website",
        url="https://semarangkota.go.id/a",
        published_at=NOW + 19 * M,
        now=NOW + 19 * M,
    )
    run_through(db.session, head, incident, now=NOW + 20 * M)
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=NOW + 20 * M)
    db.session.commit()
    return db.session.get(Incident, incident.id)


def test_a_monthly_report_that_could_not_be_mailed_says_why_and_when_it_is_tried_again(db, org, login_as):
    unit = org["units"]["KOTA-SEMARANG"]
    db.session.add(
        MonthlyReport(
            unit_id=unit.id,
            month=(NOW - timedelta(days=40)).date().replace(day=1),
            status="built",
            requested_at=NOW - timedelta(minutes=3),
            built_at=NOW - timedelta(minutes=2),
            attempts=1,
            error="ConnectionRefusedError: [Errno 111] Connection refused",
            recipients=[],
            pdf=b"%PDF-1.7",
            pdf_size=8,
        )
    )
    db.session.commit()
    page = login_as("head", "KOTA-SEMARANG").get("/evaluation/reports").get_data(as_text=True)
    assert "Server e-mail tidak menjawab (sambungan ditolak)" in page
    assert _next_try(NOW + 8 * M) in page  # the sweep sends it again once its build is 10 minutes old
    assert "ConnectionRefusedError" not in page and "Errno" not in page


def test_events_of_every_kind_on_one_incident_page_show_no_keys(db, org, login_as):
    """A long day on one incident: opened, escalated, acknowledged, ticked, waived, statements, resolved."""
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "inapp"))
    from crisis.escalation import acknowledgement

    acknowledgement.acknowledge_as(
        session=db.session, notice_id=notice.id, actor=org["users"][("KOTA-SEMARANG", "supervisor")], now=NOW + 16 * M
    )
    db.session.commit()
    kinds = set(
        db.session.scalars(
            select(TimelineEvent.kind).where(
                TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == incident.id
            )
        )
    )
    assert {"escalation.escalation_step", "escalation.acknowledged"} <= kinds
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    text = re.sub(r"<[^>]+>", " ", _timeline(page))
    assert "Pemberitahuan dikonfirmasi." in text
    assert not KEYS.search(text)


def test_the_acknowledgement_page_names_the_stage_not_its_key(db, org, login_as, app):
    from crisis.notify.links import ack_path

    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "inapp"))
    stage = incident.playbook_snapshot["stages"][0]
    with app.test_request_context():
        path = ack_path(notice)
    page = login_as("supervisor", "KOTA-SEMARANG").get(path).get_data(as_text=True)
    assert f"Eskalasi tahap {stage['title']['id']}, langkah 1" in page
    assert f"Tahap {stage['key']}" not in page


def test_a_monthly_report_without_a_mail_server_is_built_and_says_how_to_set_up_email(db, org, login_as, app):
    from crisis.reports import monthly

    unit = org["units"]["KOTA-SEMARANG"]
    report = MonthlyReport(
        unit_id=unit.id,
        month=(NOW - timedelta(days=40)).date().replace(day=1),
        status="built",
        requested_at=NOW - timedelta(minutes=3),
        built_at=NOW - timedelta(minutes=2),
        attempts=0,
        error="",
        recipients=[],
        pdf=b"%PDF-1.7",
        pdf_size=8,
    )
    db.session.add(report)
    db.session.commit()
    app.config.update(SMTP_HOST=None)
    try:
        assert monthly.send_monthly(session=db.session, report_id=report.id, now=NOW) == "built"
        db.session.commit()
        assert report.id not in monthly.monthly_sweep(session=db.session, now=NOW + timedelta(hours=1))  # not retried
    finally:
        app.config.update(SMTP_HOST="127.0.0.1")
    page = login_as("head", "KOTA-SEMARANG").get("/evaluation/reports").get_data(as_text=True)
    assert "Sudah disusun, tetapi belum dikirim lewat e-mail." in page and "CRISIS_SMTP_HOST" in page
    assert words.EMAIL_NOT_SET_UP not in re.sub(r"<details.*?</details>", "", page, flags=re.S)


def test_a_report_that_could_not_be_built_says_when_it_is_tried_again(db, org, login_as):
    unit = org["units"]["KOTA-SEMARANG"]
    db.session.add(
        MonthlyReport(
            unit_id=unit.id,
            month=(NOW - timedelta(days=40)).date().replace(day=1),
            status="building",
            requested_at=NOW - timedelta(minutes=1),
            attempts=1,
            error="OSError: cannot load font",
            recipients=[],
            pdf_size=0,
        )
    )
    db.session.commit()
    page = login_as("head", "KOTA-SEMARANG").get("/evaluation/reports").get_data(as_text=True)
    assert "Laporan gagal disusun. " + _next_try(NOW + 9 * M) in page
    assert "OSError" not in page
