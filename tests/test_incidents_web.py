"""Incident pages, the console and the incident API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from crisis.incidents import service as incidents
from crisis.incidents.models import Incident
from tests.conftest import FIXED_NOW, form_post


def test_escalation_page_suggests_the_sop_of_the_category_and_opens_the_incident(login_as, db, org, log_issue):
    issue = log_issue()
    client = login_as("officer", "KOTA-SEMARANG")
    page = client.get(f"/issues/{issue.id}/escalate").get_data(as_text=True)
    first_choice = re.search(r'name="playbook_key" value="([^"]+)" checked', page)
    assert first_choice and first_choice.group(1) == "hoax-clarification"
    response = form_post(
        client,
        f"/issues/{issue.id}/escalate",
        {
            "playbook_key": "hoax-clarification",
            "severity": "3",
            "commander_id": str(org["users"][("KOTA-SEMARANG", "head")].id),
        },
    )
    assert response.status_code == 302
    incident_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert 'class="countdown" data-deadline=' in page
    assert "WIB" in page and "Klarifikasi hoaks" in page


def test_escalation_form_shows_errors_and_opens_nothing(login_as, db, org, log_issue):
    issue = log_issue()
    client = login_as("officer", "KOTA-SEMARANG")
    page = form_post(
        client,
        f"/issues/{issue.id}/escalate",
        {"playbook_key": "data-leak-cyber", "severity": "1", "commander_id": "99999"},
    ).get_data(as_text=True)
    assert page.count('class="field-errors" role="alert"><p>') >= 2
    assert db.session.query(Incident).count() == 0


def test_ticking_and_completing_through_the_page(login_as, db, org, incident):
    client = login_as("officer", "KOTA-SEMARANG")
    run = incident.stage_runs[0]
    page = f"/incidents/{incident.id}"
    refused = form_post(client, f"{page}/stages/{run.id}/complete", {}, page=page)
    assert refused.status_code == 302
    after = client.get(page).get_data(as_text=True)
    assert after.count("flash-error") >= 1
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    for entry in run.entries:
        if entry.required and entry.owner_role == "officer":
            data = {"evidence_url": "https://example.com/bukti"} if entry.evidence_expected else {}
            form_post(client, f"{page}/entries/{entry.id}/tick", data, page=page)
        elif entry.required:  # the supervisor's or the head's own item: ticked by them
            owner = supervisor if entry.owner_role == "supervisor" else org["users"][("KOTA-SEMARANG", "head")]
            incidents.tick(session=db.session, actor=owner, entry_id=entry.id)
            db.session.commit()
    done = form_post(client, f"{page}/stages/{run.id}/complete", {}, page=page)
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Incident, incident.id).stage_runs[1].state == "active"


def test_the_live_panel_answers_204_until_something_changes(login_as, db, org, incident):
    client = login_as("supervisor", "KOTA-SEMARANG")
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    stamp = re.search(r'data-stamp="([^"]+)"', page).group(1)
    assert client.get(f"/incidents/{incident.id}/live?stamp={stamp}").status_code == 204
    incidents.comment(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        incident_id=incident.id,
        body="Sudah dikonfirmasi ke PDAM",
    )
    db.session.commit()
    fresh = client.get(f"/incidents/{incident.id}/live?stamp={stamp}")
    assert fresh.status_code == 200 and "Sudah dikonfirmasi ke PDAM" in fresh.get_data(as_text=True)


def test_console_lists_what_is_due_soonest_first_and_marks_overdue(login_as, db, org, incident, app):
    app.extensions["clock"] = lambda: incident.stage_runs[0].due_at + timedelta(minutes=1)
    try:
        client = login_as("officer", "KOTA-SEMARANG")
        page = client.get("/").get_data(as_text=True)
    finally:
        app.extensions.pop("clock")
    due = page.split('id="due-title"')[1].split("</section>")[0]
    items = due.split("<li")[1:]
    # The overdue stage comes first; the situation update (due later) second and not overdue.
    assert len(items) == 2 and items[0].startswith(' class="overdue"') and 'class="overdue"' not in items[1]
    assert incident.title[:20] in page


def test_console_fits_a_phone_and_filters_by_unit(login_as, db, org, incident):
    client = login_as("head", "JATENG")
    banyumas = org["units"]["KAB-BANYUMAS"].id
    filtered = client.get(f"/?unit={banyumas}").get_data(as_text=True)
    assert incident.reference not in filtered
    assert incident.reference in client.get("/").get_data(as_text=True)
    assert client.get(f"/?unit={org['units']['SULSEL'].id}").status_code == 404


@pytest.fixture
def api_incident(client, org, token_for, log_issue):
    issue = log_issue()
    headers = token_for("officer", "KOTA-SEMARANG")
    response = client.post(
        f"/api/v1/issues/{issue.id}/escalate",
        headers=headers,
        json={
            "playbook_key": "hoax-clarification",
            "severity": 2,
            "commander_id": org["users"][("KOTA-SEMARANG", "supervisor")].id,
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json(), headers


def test_api_runs_the_playbook(client, org, token_for, api_incident):
    body, headers = api_incident
    first = body["stages"][0]
    refused = client.post(f"/api/v1/incidents/{body['id']}/stages/{first['id']}/complete", headers=headers)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert "checklist" in refused.get_json()["errors"]
    commander = token_for("supervisor", "KOTA-SEMARANG")
    for entry in first["entries"]:
        payload = {"evidence_url": "https://example.com/e"} if entry["evidence_expected"] else {}
        # the officer's items by the officer; the supervisor's by the commander; the head's by the head
        owner = {"officer": headers, "head": token_for("head", "KOTA-SEMARANG")}.get(entry["owner_role"], commander)
        assert client.post(f"/api/v1/checklist/{entry['id']}/tick", json=payload, headers=owner).status_code == 200
    completed = client.post(f"/api/v1/incidents/{body['id']}/stages/{first['id']}/complete", headers=headers)
    assert completed.status_code == 200
    assert [s["state"] for s in completed.get_json()["stages"][:2]] == ["completed", "active"]
    again = client.post(f"/api/v1/checklist/{first['entries'][0]['id']}/tick", json={}, headers=headers)
    assert again.status_code == 409 and again.get_json()["current"]["id"] == body["id"]


def test_api_stale_version_gets_409_with_the_current_state(client, org, token_for, api_incident):
    body, _ = api_incident
    head = token_for("head", "KOTA-SEMARANG")
    ok = client.post(
        f"/api/v1/incidents/{body['id']}/severity",
        headers=head,
        json={"severity": 3, "reason": "Meluas", "version": body["version"]},
    )
    assert ok.status_code == 200
    stale = client.post(
        f"/api/v1/incidents/{body['id']}/severity",
        headers=head,
        json={"severity": 4, "reason": "Lagi", "version": body["version"]},
    )
    assert stale.status_code == 409
    assert stale.get_json()["current"]["severity"] == 3


def test_api_scoping_and_involvement(client, org, token_for, api_incident):
    body, _ = api_incident
    sibling = token_for("officer", "KAB-BANYUMAS")
    assert client.get(f"/api/v1/incidents/{body['id']}", headers=sibling).status_code == 404
    involve = client.post(
        f"/api/v1/incidents/{body['id']}/involved",
        headers=token_for("head", "KOTA-SEMARANG"),
        json={"unit_id": org["units"]["KAB-BANYUMAS"].id},
    )
    assert involve.status_code == 200
    assert client.get(f"/api/v1/incidents/{body['id']}", headers=sibling).status_code == 200
    listed = client.get("/api/v1/incidents", headers=sibling).get_json()
    assert [i["id"] for i in listed] == [body["id"]]


def test_api_statement_flow_and_self_approval_refused(client, org, token_for, api_incident):
    body, officer = api_incident
    draft = client.post(
        f"/api/v1/incidents/{body['id']}/statements",
        headers=officer,
        json={"kind": "holding", "title": "Pernyataan sementara", "body": "Kami memahami..."},
    )
    assert draft.status_code == 201
    statement = draft.get_json()
    assert client.post(f"/api/v1/statements/{statement['id']}/approve", headers=officer, json={}).status_code == 403
    approved = client.post(
        f"/api/v1/statements/{statement['id']}/approve",
        headers=token_for("supervisor", "KOTA-SEMARANG"),
        json={"version": statement["version"]},
    )
    assert approved.status_code == 200
    published = client.post(
        f"/api/v1/statements/{statement['id']}/publish",
        headers=officer,
        json={"channel": "website", "url": "https://semarangkota.go.id/berita/1"},
    )
    assert published.status_code == 201
    assert client.get(f"/api/v1/incidents/{body['id']}", headers=officer).get_json()["first_statement_at"]
    bad = client.post(
        f"/api/v1/statements/{statement['id']}/publish",
        headers=officer,
        json={"channel": "carrier-pigeon", "url": "ftp://x"},
    )
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"channel", "url"}
    assert FIXED_NOW  # the fixtures run on the injected clock
