"""Ticks, notes and stage completions sent by htmx get the live panel back (the page swaps in what
changed); the same forms posted without script still redirect; CSRF holds for both; a refusal is
shown next to the item it is about, with 422, and changes nothing."""

from __future__ import annotations

import re

from crisis.incidents.models import ChecklistEntry, Incident
from tests.conftest import csrf_token

HTMX = {"HX-Request": "true"}


def _post(client, path: str, page: str, data: dict | None = None, headers: dict | None = None):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, page)}, headers=headers or {})


def test_a_tick_sent_by_htmx_answers_the_panel_with_the_item_ticked(login_as, db, org, incident):
    client = login_as("head", "KOTA-SEMARANG")
    page = f"/incidents/{incident.id}"
    entry = next(e for e in incident.stage_runs[0].entries if e.required and not e.evidence_expected)
    answer = _post(client, f"{page}/entries/{entry.id}/tick", page, headers=HTMX)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert '<div id="live"' in html
    assert "<html" not in html  # a part of the page, not a page
    assert re.search(rf'id="entry-{entry.id}"[^>]*data-closed="yes"', html.replace("\n", " "))
    assert 'id="stagebar"' in html and 'id="live-poll"' in html
    assert 'role="status"' in html  # "Item ticked." for screen readers, in the bar
    db.session.expire_all()
    assert db.session.get(ChecklistEntry, entry.id).done_at is not None


def test_the_same_tick_without_script_still_redirects_to_the_item(login_as, db, org, incident):
    client = login_as("head", "KOTA-SEMARANG")
    page = f"/incidents/{incident.id}"
    entry = next(e for e in incident.stage_runs[0].entries if e.required and not e.evidence_expected)
    answer = _post(client, f"{page}/entries/{entry.id}/tick", page)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"{page}#entry-{entry.id}")
    db.session.expire_all()
    assert db.session.get(ChecklistEntry, entry.id).done_at is not None


def test_an_htmx_tick_without_the_csrf_token_is_refused(login_as, db, org, incident):
    client = login_as("head", "KOTA-SEMARANG")
    entry = incident.stage_runs[0].entries[0]
    answer = client.post(f"/incidents/{incident.id}/entries/{entry.id}/tick", data={}, headers=HTMX)
    assert answer.status_code == 400
    db.session.expire_all()
    assert db.session.get(ChecklistEntry, entry.id).done_at is None


def test_a_refused_tick_shows_the_reason_next_to_the_item_and_changes_nothing(login_as, db, org, incident):
    client = login_as("head", "KOTA-SEMARANG")
    page = f"/incidents/{incident.id}"
    entry = next(e for e in incident.stage_runs[0].entries if e.evidence_expected)
    answer = _post(client, f"{page}/entries/{entry.id}/tick", page, headers=HTMX)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True).replace("\n", " ")
    item = re.search(rf'<li id="entry-{entry.id}".*?</li>', html).group(0)
    # The message page scripts place under the field at fault (as after a redirect), inside the item.
    problem = re.search(rf'<div class="flash flash-error"[^>]*data-target="entry-{entry.id}"[^>]*>(.*?)<a', item).group(1)
    assert "bukti" in problem.lower() and "evidence_url" not in problem  # a sentence, not a field key
    db.session.expire_all()
    assert db.session.get(ChecklistEntry, entry.id).done_at is None


def test_completing_a_stage_through_htmx_answers_the_panel_with_the_next_stage_running(login_as, db, org, incident):
    client = login_as("head", "KOTA-SEMARANG")
    page = f"/incidents/{incident.id}"
    run = incident.stage_runs[0]
    refused = _post(client, f"{page}/stages/{run.id}/complete", page, headers=HTMX)
    assert refused.status_code == 422
    assert re.search(rf'class="flash flash-error"[^>]*data-target="stage-{run.id}"', refused.get_data(as_text=True))
    for entry in run.entries:
        if entry.required:
            data = {"evidence_url": "https://example.com/bukti"} if entry.evidence_expected else {}
            assert _post(client, f"{page}/entries/{entry.id}/tick", page, data, headers=HTMX).status_code == 200
    done = _post(client, f"{page}/stages/{run.id}/complete", page, headers=HTMX)
    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert html.count('class="card stage stage-completed') == 1
    db.session.expire_all()
    assert db.session.get(Incident, incident.id).stage_runs[1].state == "active"
