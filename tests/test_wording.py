"""Screens that speak the reader's language: one duration notation on server and countdown, dates
and numbers as the locale writes them, WTForms' and the error pages' messages in Indonesian, the
sign-in limit as a sentence, refusals named by the field's label and placed next to what they
are about."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from html import unescape

import pytest
from flask_babel import force_locale

from crisis.incidents.models import Incident
from crisis.reviews.models import Review
from crisis.timefmt import format_deadline, format_duration
from tests.conftest import FIXED_NOW, form_post, sign_in
from tests.test_reviews import resolve_a_hoax

D, H, M = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


@pytest.fixture
def resolved(db, org, built_once):
    """A resolved hoax with its review draft (the reviews tests' own, built once per run)."""
    return db.session.get(Incident, built_once("resolved hoax", lambda: resolve_a_hoax(db, org, FIXED_NOW).id))


def _flashes(page: str) -> list[dict[str, str]]:
    """The error flashes of a page with the element and field each is about."""
    found = []
    for match in re.finditer(r'<div class="flash flash-error" id="[^"]+" role="alert"([^>]*)>(.*?)</div>', page, re.S):
        attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', match.group(1)))
        attrs["text"] = unescape(re.sub(r"<[^>]+>", "", match.group(2))).strip()
        found.append(attrs)
    return found


# --- durations and deadlines ---------------------------------------------------------------------


def test_durations_read_the_same_way_in_both_languages_and_never_mix_hari_and_hour(app):
    with app.test_request_context():
        with force_locale("id"):
            assert format_duration(D + 2 * H + 5 * M) == "1 hari 2 jam"
            assert format_duration(2 * H + 5 * M) == "2 jam 5 mnt"
            assert format_duration(45 * M) == "45 mnt"
            assert format_duration(D) == "1 hari"
            assert format_duration(-(30 * M)) == "-30 mnt"
        with force_locale("en"):
            assert format_duration(D + 2 * H) == "1 day 2 h"
            assert format_duration(3 * D) == "3 days"
            assert format_duration(2 * H + 5 * M) == "2 h 5 min"
            assert format_duration(2 * H) == "2 h"


def test_a_deadline_today_shows_its_time_and_one_on_another_day_its_date(app):
    today_at_ten = FIXED_NOW.replace(hour=3, minute=0, second=0, microsecond=0)  # 10:00 WIB
    with app.test_request_context():
        with force_locale("id"):
            assert format_deadline(today_at_ten, "Asia/Jakarta", now=today_at_ten - H) == "10.00 WIB"
            tomorrow = format_deadline(today_at_ten + D, "Asia/Jakarta", now=today_at_ten - H)
            assert re.fullmatch(r"(Sen|Sel|Rab|Kam|Jum|Sab|Min) \d{1,2} \w{3} 10\.00 WIB", tomorrow), tomorrow
        with force_locale("en"):
            tomorrow = format_deadline(today_at_ten + D, "Asia/Jakarta", now=today_at_ten - H)
            assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} \w{3} 10:00 WIB", tomorrow), tomorrow


def test_the_countdown_gets_its_unit_words_from_the_page_in_the_readers_language(login_as, incident):
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    words = json.loads(unescape(re.search(r'class="countdown" data-deadline="[^"]+" data-words="([^"]+)"', page)[1]))
    assert words["day"] == "hari" and words["hour"] == "jam" and words["minute"] == "mnt"
    assert words["left"] == "lagi" and words["overdue"] == "lewat tenggat"
    assert "Target 1h" not in page and not re.search(r"\d+j \d+m", page)  # the old h = hari, j = jam notation


# --- WTForms and services: every message in the reader's language, all fields at once ---------------


def test_an_empty_issue_form_says_what_is_missing_in_indonesian_and_every_fields_problem_at_once(login_as, db):
    client = login_as("officer", "KOTA-SEMARANG")
    page = form_post(
        client,
        "/issues/new",
        {"title": "", "first_seen_at": "", "reach": "banyak", "evidence_urls": "bukan-tautan", "channel": "x"},
    ).get_data(as_text=True)
    assert "This field is required." not in page and "Not a valid integer value" not in page
    assert "Wajib diisi." in page  # the title and the first-seen time
    title_errors = re.search(r'id="title-msg"[^>]*>(.*?)</div>', page, re.S)[1]
    assert "Wajib diisi." in title_errors
    links_errors = re.search(r'id="evidence_urls-msg"[^>]*>(.*?)</div>', page, re.S)[1]
    assert "Tautan 1: " in links_errors  # the service's check of the links, in the same round
    reach_errors = re.search(r'id="reach-msg"[^>]*>(.*?)</div>', page, re.S)[1]
    assert reach_errors.strip() and "integer" not in reach_errors


def test_wtforms_messages_follow_the_readers_language(app):
    from crisis.units.forms import ShiftForm

    for language, expected in (("id", "Wajib diisi."), ("en", "This field is required.")):
        with app.test_request_context(method="POST", data={}), force_locale(language):
            form = ShiftForm(meta={"csrf": False})
            assert not form.validate()
            assert form.starts_at.errors[0] == expected


# --- error pages and the sign-in limit -------------------------------------------------------------


def test_not_found_and_not_allowed_pages_speak_indonesian(login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    missing = client.get("/tidak-ada-halaman-ini")
    assert missing.status_code == 404
    text = missing.get_data(as_text=True)
    assert "Tidak ada apa pun di alamat ini" in text and "requested URL" not in text
    assert "<title>404" not in text
    wrong_method = client.get("/logout")
    assert wrong_method.status_code == 405
    text = wrong_method.get_data(as_text=True)
    assert "Alamat ini tidak menerima permintaan seperti itu" in text and "not allowed for" not in text


def test_an_unexpected_error_page_says_what_to_do_in_the_readers_language(app):
    from werkzeug.exceptions import InternalServerError

    from crisis.http import handle_http_error

    with app.test_request_context("/"), force_locale("id"):
        body, status = handle_http_error(InternalServerError())
    assert status == 500 and "tidak ada yang diubah" in body and "Internal Server Error" not in body


def test_too_many_sign_ins_is_a_sentence_with_the_minutes_to_wait(client, org, clock):
    email = org["users"][("KOTA-SEMARANG", "officer")].email
    for _ in range(10):
        assert sign_in(client, email, "salah-terus").status_code == 401
    clock.now = FIXED_NOW + timedelta(seconds=70)
    refused = sign_in(client, email, "salah-terus")
    assert refused.status_code == 429
    text = refused.get_data(as_text=True)
    assert "Terlalu banyak percobaan masuk; coba lagi dalam 4 menit" in text
    assert "per 5 minute" not in text and "10 per" not in text


# --- refusals next to what they are about ----------------------------------------------------------


def test_a_refused_tick_names_the_field_by_its_label_and_points_at_the_item(login_as, db, incident):
    client = login_as("officer", "KOTA-SEMARANG")
    entry = next(e for e in incident.stage_runs[0].entries if e.evidence_expected)
    page = f"/incidents/{incident.id}"
    response = form_post(client, f"{page}/entries/{entry.id}/tick", {"evidence_url": ""}, page=page)
    assert response.headers["Location"].endswith(f"#entry-{entry.id}")
    flashes = _flashes(client.get(page).get_data(as_text=True))
    assert len(flashes) == 1
    refusal = flashes[0]
    assert refusal["target"] == f"entry-{entry.id}" and refusal["field"] == "evidence_url"
    assert refusal["text"].startswith("Tautan bukti: ") and "evidence_url" not in refusal["text"]
    assert refusal["message"] and not refusal["message"].startswith("Tautan bukti")


def test_refusing_to_complete_a_stage_points_at_the_stage(login_as, db, incident):
    client = login_as("officer", "KOTA-SEMARANG")
    run = incident.stage_runs[0]
    page = f"/incidents/{incident.id}"
    form_post(client, f"{page}/stages/{run.id}/complete", {}, page=page)
    flashes = _flashes(client.get(page).get_data(as_text=True))
    assert flashes and all(f["target"] == f"stage-{run.id}" for f in flashes)
    assert not any(f["text"].startswith("checklist") for f in flashes)


def test_submitting_an_empty_review_names_each_field_by_its_label(db, org, resolved, login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    review = db.session.query(Review).filter_by(incident_id=resolved.id).one()
    page = f"/incidents/{resolved.id}/review"
    form_post(client, f"/reviews/{review.id}/submit", {"version": str(review.version)}, page=page)
    flashes = _flashes(client.get(page).get_data(as_text=True))
    assert {f["field"] for f in flashes} == {"summary", "went_well", "to_improve"}
    assert all(f["target"] == "workflow" for f in flashes)
    texts = " ".join(f["text"] for f in flashes)
    assert "Ringkasan: " in texts and "summary:" not in texts and "went_well" not in texts


# --- layout and locale in the markup ---------------------------------------------------------------


def test_the_tokens_page_shows_the_header_example_with_its_placeholder(login_as):
    page = login_as("officer", "KOTA-SEMARANG").get("/account/tokens").get_data(as_text=True)
    assert "Authorization: Bearer &lt;token&gt;" in page
    assert "<token>" not in page


def test_numbers_dates_and_counts_follow_the_locale(app):
    from crisis.web import date_text, number

    with app.test_request_context():
        with force_locale("id"):
            assert number(0, "#,##0.00") == "0,00" and number(1234567) == "1.234.567"
            assert date_text(date(2026, 12, 7)) == "7 Des 2026"
        with force_locale("en"):
            assert number(0.25, "#,##0.00") == "0.25"
            assert date_text(date(2026, 12, 7)) == "7 Dec 2026"


def test_no_template_writes_iso_dates_or_printf_numbers_in_the_evaluation_pages():
    from tests.helpers import ROOT

    for path in (ROOT / "templates" / "reports").glob("*.html"):
        text = path.read_text(encoding="utf-8")
        prose = re.sub(r'value="[^"]*"', "", text)  # a date input's value is ISO by the HTML standard
        assert ".isoformat()" not in prose, path
        assert "strftime" not in prose and '"%.' not in prose, path


def test_the_evaluation_charts_have_titles_and_whole_number_ticks_for_counts(app, db):
    from crisis.reports.views import chart_data

    class Board:
        weekly = [{"week": date(2026, 12, 7), "incidents": 1, "tta": 60.0, "ths": 120.0, "stage_sla": 0.5}]

    with app.test_request_context(), force_locale("id"):
        charts = chart_data(Board())  # type: ignore[arg-type]
    assert charts["incidents"]["data"]["labels"] == ["7 Des"]
    assert charts["incidents"]["options"]["scales"]["y"]["ticks"]["precision"] == 0
    for chart in charts.values():
        assert chart["options"]["plugins"]["title"]["text"]


def test_the_sop_validator_speaks_the_pages_language_and_the_command_line_keeps_english(app):
    from crisis.i18n import localised
    from crisis.playbooks.validator import validate_text

    text = "key: hoax-check\ntitle: {id: Cek, en: Check}\ncategory: hoaks\nseverities: [1, 5]\nstages: []\n"
    problems = validate_text(text, "hoax-check.yaml").problems
    by_line = {p.line: p for p in problems}
    category, severity = by_line[3], by_line[4]
    assert str(category).startswith("hoax-check.yaml:3:11: unknown category 'hoaks'; did you mean 'hoax'?")
    assert severity.message.startswith("severity 5 is out of range")
    with app.test_request_context(), force_locale("id"):
        assert localised(category.message) == "category 'hoaks' tidak dikenal; maksud Anda 'hoax'?"
        assert localised(severity.message).startswith("tingkat keparahan 5 di luar rentang")
        missing = next(p for p in problems if "missing required key" in p.message)
        assert localised(missing.message) == "kunci wajib 'description' belum ada di SOP"


def test_a_duration_the_sop_author_got_wrong_is_explained_in_the_pages_language(app):
    from crisis.i18n import localised
    from crisis.playbooks.spec import parse_duration

    with pytest.raises(ValueError) as caught:
        parse_duration("0m")
    assert str(caught.value) == "duration '0m' must be more than zero"  # the command line and the API
    with app.test_request_context(), force_locale("id"):
        assert localised(caught.value.args[0]) == "durasi '0m' harus lebih dari nol"
