"""The duty officer's phone: log an issue in a short form, see why it scores what it scores, act on it."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from crisis.issues import service as issues
from crisis.issues.models import Issue
from tests.conftest import FIXED_NOW, form_post
from tests.factories import log_issue

NOW = FIXED_NOW
WIB, WITA = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar")
SEEN = (NOW - timedelta(hours=2)).replace(second=0, microsecond=0)  # a datetime-local input holds minutes


def local_input(moment, zone=WIB):
    """A moment as a datetime-local input in that zone shows and sends it: 2026-11-26T10:00."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(autouse=True)
def frozen_clock(clock):
    clock.now = NOW


def new_issue_form(**overrides):
    data = {
        "title": "Video antrean BPJS RSUD viral",
        "description": "Warga mengeluh menunggu enam jam.",
        "channel": "tiktok",
        "evidence_urls": "https://www.tiktok.com/@warga/video/77\r\n\r\nhttps://news.example/rsud?utm_source=wa\r\n",
        "first_seen_at": local_input(SEEN),  # two hours before NOW, in WIB
        "reach": "50000",
        "engagement": "5000",
        "sentiment": "negative",
        "category": "service_failure",
        "news_tier": "national",
    }
    data.update(overrides)
    return data


def logged(db, org, unit="KOTA-SEMARANG", **fields):
    values = {
        "title": "Antrean BPJS di RSUD mengular",
        "description": "",
        "channel": "x",
        "first_seen_at": NOW - timedelta(hours=2),
        "reach": 50_000,
        "engagement": 5_000,
        "evidence_urls": ["https://x.com/warga/status/1"],
    }
    issue = log_issue(db.session, org, now=NOW, unit=unit, **{**values, **fields})
    db.session.commit()
    return issue


def test_officer_logs_an_issue_from_the_short_form(login_as, db, org):
    client = login_as("officer", "KOTA-SEMARANG")
    page = client.get("/issues/new").get_data(as_text=True)
    assert 'name="csrf_token"' in page and f'value="{local_input(NOW)}"' in page  # now, in WIB
    assert "WIB" in page
    assert 'name="unit_id" value="' in page and not re.search(r'<select[^>]*id="unit_id"', page)  # one unit
    response = form_post(client, "/issues/new", new_issue_form(), page="/issues/new")
    assert response.status_code == 302
    issue = db.session.query(Issue).one()
    assert response.headers["Location"].endswith(f"/issues/{issue.id}")
    assert issue.first_seen_at.isoformat() == SEEN.isoformat() and SEEN.isoformat().endswith("+00:00")
    assert [e.url_key for e in issue.evidence] == ["tiktok.com/@warga/video/77", "news.example/rsud"]
    assert issue.mainstream_pickup and issue.unit_id == org["units"]["KOTA-SEMARANG"].id


def test_first_seen_is_read_in_the_viewers_zone(login_as, db, org):
    client = login_as("officer", "KAB-GOWA")
    page = client.get("/issues/new").get_data(as_text=True)
    assert "WITA" in page and f'value="{local_input(NOW, WITA)}"' in page
    seen = (NOW - timedelta(minutes=30)).replace(second=0, microsecond=0)
    assert local_input(seen, WITA) != local_input(seen, WIB)  # read as WIB it would be another moment
    form_post(client, "/issues/new", new_issue_form(first_seen_at=local_input(seen, WITA)), page="/issues/new")
    assert db.session.query(Issue).one().first_seen_at.isoformat() == seen.isoformat()


def test_a_province_officer_chooses_the_unit(login_as, db, org):
    client = login_as("officer", "JATENG")
    page = client.get("/issues/new").get_data(as_text=True)
    assert re.search(r'<select[^>]*id="unit_id"', page)
    assert "KAB-BANYUMAS" in page and "KOTA-MAKASSAR" not in page
    banyumas = org["units"]["KAB-BANYUMAS"].id
    response = form_post(client, "/issues/new", new_issue_form(unit_id=str(banyumas)), page="/issues/new")
    assert response.status_code == 302
    assert db.session.query(Issue).one().unit_id == banyumas


def test_bad_input_is_shown_next_to_the_fields_and_nothing_is_saved(login_as, db):
    client = login_as("officer", "KOTA-SEMARANG")
    response = form_post(
        client,
        "/issues/new",
        new_issue_form(
            title="ab", evidence_urls="ftp://files.example/a", first_seen_at=local_input(NOW + timedelta(days=1))
        ),
        page="/issues/new",
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for field in ("title", "evidence_urls", "first_seen_at"):
        assert re.search(rf'id="{field}-msg"[^>]*>\s*<p>', page), field
    assert db.session.query(Issue).count() == 0


def test_observer_has_no_log_form(login_as):
    client = login_as("observer", "PUSAT")
    assert client.get("/issues/new").status_code == 403
    assert "/issues/new" not in client.get("/issues").get_data(as_text=True)


def test_a_possible_duplicate_is_offered_and_can_be_merged(login_as, db, org):
    original = logged(db, org, evidence_urls=["https://tiktok.com/@warga/video/77"])
    client = login_as("officer", "KOTA-SEMARANG")
    response = form_post(client, "/issues/new", new_issue_form(), page="/issues/new")
    fresh = db.session.query(Issue).filter(Issue.id != original.id).one()
    assert response.headers["Location"].endswith(f"/issues/{fresh.id}/duplicates")
    page = client.get(f"/issues/{fresh.id}/duplicates").get_data(as_text=True)
    assert f"#{original.id}" in page and f'name="target_id" value="{original.id}"' in page
    assert f'href="/issues/{fresh.id}"' in page  # keep as new
    merged = form_post(
        client, f"/issues/{fresh.id}/merge", {"target_id": original.id}, page=f"/issues/{fresh.id}/duplicates"
    )
    assert merged.headers["Location"].endswith(f"/issues/{original.id}")
    db.session.expire_all()
    assert db.session.get(Issue, fresh.id).state == "merged"
    assert {e.url_key for e in db.session.get(Issue, original.id).evidence} == {
        "tiktok.com/@warga/video/77",
        "news.example/rsud",
    }


def test_detail_page_shows_why_this_score(login_as, db, org):
    issue = logged(db, org)
    client = login_as("officer", "KOTA-SEMARANG")
    response = client.get(f"/issues/{issue.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "71" in page and "23 / 35" in page and "17 / 25" in page and "16 / 20" in page
    assert "50.000" in page  # Indonesian number in the explanation
    assert 'rel="noopener noreferrer nofollow"' in page and 'target="_blank"' in page
    assert f'href="/issues/{issue.id}/escalate"' in page
    assert f"{NOW.astimezone(WIB):%H.%M} WIB" in page  # created at NOW, in the viewer's zone and notation
    assert "<script>" not in page and " style=" not in page and "onclick" not in page


def test_observer_sees_the_issue_without_buttons(login_as, db, org):
    issue = logged(db, org)
    client = login_as("observer", "PUSAT")
    page = client.get(f"/issues/{issue.id}").get_data(as_text=True)
    assert "/escalate" not in page and f"/issues/{issue.id}/notes" not in page
    response = form_post(client, f"/issues/{issue.id}/monitor", {}, page=f"/issues/{issue.id}")
    assert response.status_code == 403


def test_sibling_regency_gets_404(login_as, db, org):
    issue = logged(db, org)
    client = login_as("officer", "KAB-BANYUMAS")
    assert client.get(f"/issues/{issue.id}").status_code == 404
    assert client.get(f"/issues/{issue.id}/edit").status_code == 404


def test_monitor_then_note_with_new_figures(login_as, db, org):
    issue = logged(db, org)
    client = login_as("officer", "KOTA-SEMARANG")
    page = f"/issues/{issue.id}"
    assert form_post(client, f"{page}/monitor", {}, page=page).status_code == 302
    response = form_post(client, f"{page}/notes", {"body": "Sudah 400 ribu views", "reach": "400000"}, page=page)
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(Issue, issue.id)
    assert (stored.state, stored.reach) == ("monitoring", 400_000)
    shown = client.get(page).get_data(as_text=True)
    assert "Sudah 400 ribu views" in shown and "400.000" in shown


def test_dismiss_without_a_reason_is_refused_on_the_page(login_as, db, org):
    issue = logged(db, org)
    client = login_as("officer", "KOTA-SEMARANG")
    page = f"/issues/{issue.id}"
    response = form_post(client, f"{page}/dismiss", {"reason": ""}, page=page)
    assert response.status_code == 200 and 'id="reason-msg"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Issue, issue.id).state == "new"
    assert form_post(client, f"{page}/dismiss", {"reason": "Akun parodi"}, page=page).status_code == 302
    db.session.expire_all()
    assert db.session.get(Issue, issue.id).state == "dismissed"


def test_add_evidence_on_the_page(login_as, db, org):
    issue = logged(db, org)
    client = login_as("officer", "KOTA-SEMARANG")
    page = f"/issues/{issue.id}"
    ok = form_post(client, f"{page}/evidence", {"url": "https://news.example/a", "evidence_note": "Berita"}, page=page)
    assert ok.status_code == 302
    again = form_post(client, f"{page}/evidence", {"url": "http://news.example/a/"}, page=page)
    assert again.status_code == 200 and 'id="url-msg"' in again.get_data(as_text=True)
    db.session.expire_all()
    assert len(db.session.get(Issue, issue.id).evidence) == 2


def test_editing_a_stale_version_shows_the_current_state(login_as, db, org):
    issue = logged(db, org)
    client = login_as("officer", "KOTA-SEMARANG")
    edit = f"/issues/{issue.id}/edit"
    form = client.get(edit).get_data(as_text=True)
    assert 'name="version"' in form and 'value="1"' in form
    issues.add_note(
        session=db.session, actor=org["users"][("KOTA-SEMARANG", "supervisor")], issue_id=issue.id, body="x", now=NOW
    )
    db.session.commit()
    fields = new_issue_form(title="Judul baru dari petugas", version="1")
    del fields["evidence_urls"]
    response = form_post(client, edit, fields, page=edit)
    assert response.status_code == 409
    assert 'class="flash flash-error"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Issue, issue.id).title == "Antrean BPJS di RSUD mengular"
    fields["version"] = "2"
    assert form_post(client, edit, fields, page=edit).status_code == 302
    db.session.expire_all()
    assert db.session.get(Issue, issue.id).title == "Judul baru dari petugas"


def test_issue_list_filters_and_stacks_on_phones(login_as, db, org):
    flood = logged(db, org, title="Banjir rob Tanjung Mas", category="disaster")
    queue = logged(db, org, title="Antrean RSUD")
    client = login_as("head", "JATENG")
    page = client.get("/issues").get_data(as_text=True)
    assert flood.title in page and queue.title in page and 'data-label="' in page
    filtered = client.get("/issues?q=banjir").get_data(as_text=True)
    assert flood.title in filtered and queue.title not in filtered
    assert client.get("/issues?state=nonsense").status_code == 400
    assert queue.title not in client.get("/issues?state=dismissed").get_data(as_text=True)


def test_state_changes_need_the_csrf_token(login_as, db, org):
    issue = logged(db, org)
    client = login_as("officer", "KOTA-SEMARANG")
    assert client.post(f"/issues/{issue.id}/monitor").status_code == 400
    assert client.get(f"/issues/{issue.id}/monitor").status_code == 405
    db.session.expire_all()
    assert db.session.get(Issue, issue.id).state == "new"
