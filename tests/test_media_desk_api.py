"""The media desk over JSON: POST and GET /api/v1/incidents/{id}/media-queries, PATCH
/api/v1/media-queries/{id}; problem+json with the field at fault; 403 before 409."""

from __future__ import annotations

from datetime import timedelta

from crisis.incidents import statements
from tests import factories
from tests.conftest import FIXED_NOW

QUESTION = {
    "journalist": "Rina Wulandari",
    "outlet": "Kompas TV",
    "outlet_type": "national_tv",
    "channel": "whatsapp",
    "question": "Benarkah air PDAM tercemar?",
}


def _post(client, incident, headers, **fields):
    return client.post(f"/api/v1/incidents/{incident.id}/media-queries", json={**QUESTION, **fields}, headers=headers)


def test_a_journalists_question_is_logged_listed_and_answered_over_the_api(db, org, incident, client, token_for):
    officer = token_for("officer", "KOTA-SEMARANG")
    created = _post(
        client, incident, officer, received_at=(FIXED_NOW - timedelta(minutes=5)).isoformat(), assignee_id=None
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    # The hoax SOP answers within 2 hours at severity 3.
    assert body["state"] == "open" and body["due_at"] == (FIXED_NOW + timedelta(hours=2, minutes=-5)).isoformat()
    listed = client.get(f"/api/v1/incidents/{incident.id}/media-queries", headers=officer).get_json()
    assert [q["id"] for q in listed] == [body["id"]]
    supervisor_id = org["users"][("KOTA-SEMARANG", "supervisor")].id
    assigned = client.patch(
        f"/api/v1/media-queries/{body['id']}", json={"action": "assign", "assignee_id": supervisor_id}, headers=officer
    )
    assert assigned.status_code == 200 and assigned.get_json()["assignee_id"] == supervisor_id
    statement = statements.draft(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        incident_id=incident.id,
        kind="holding",
        title="Klarifikasi",
        body="Air aman.",
    )
    statements.approve(
        session=db.session, actor=org["users"][("KOTA-SEMARANG", "supervisor")], statement_id=statement.id
    )
    factories.sign_through(db.session, statement, now=FIXED_NOW)  # severity 3: the institution head signs last
    db.session.commit()
    answered = client.patch(
        f"/api/v1/media-queries/{body['id']}", json={"action": "answer", "statement_id": statement.id}, headers=officer
    )
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["state"] == "answered" and answered.get_json()["on_time"] is True


def test_a_decline_without_a_holding_line_is_a_422_naming_the_field(org, incident, client, token_for):
    officer = token_for("officer", "KOTA-SEMARANG")
    query_id = _post(client, incident, officer).get_json()["id"]
    refused = client.patch(
        f"/api/v1/media-queries/{query_id}",
        json={"action": "decline", "decline_reason": "Bukan kewenangan"},
        headers=officer,
    )
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert set(refused.get_json()["errors"]) == {"holding_line"}
    still = client.get(f"/api/v1/incidents/{incident.id}/media-queries", headers=officer).get_json()
    assert still[0]["state"] == "open"


def test_bad_fields_are_422_with_each_field_and_nothing_is_logged(incident, client, token_for):
    officer = token_for("officer", "KOTA-SEMARANG")
    future = (FIXED_NOW + timedelta(hours=2)).isoformat()
    refused = _post(client, incident, officer, outlet_type="tabloid", received_at=future)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert set(refused.get_json()["errors"]) == {"outlet_type", "received_at"}
    assert client.get(f"/api/v1/incidents/{incident.id}/media-queries", headers=officer).get_json() == []


def test_an_observer_gets_403_before_the_409_of_an_answered_query(org, incident, client, token_for):
    officer = token_for("officer", "KOTA-SEMARANG")
    query_id = _post(client, incident, officer).get_json()["id"]
    declined = client.patch(
        f"/api/v1/media-queries/{query_id}",
        json={"action": "decline", "decline_reason": "Data dari BPBD", "holding_line": "Pembaruan pukul 15.00 WIB."},
        headers=officer,
    )
    assert declined.status_code == 200
    again = {"action": "decline", "decline_reason": "x", "holding_line": "y"}
    observer = client.patch(f"/api/v1/media-queries/{query_id}", json=again, headers=token_for("observer", "PUSAT"))
    assert observer.status_code == 403 and observer.mimetype == "application/problem+json"
    assert client.patch(f"/api/v1/media-queries/{query_id}", json=again, headers=officer).status_code == 409
    approve = client.patch(f"/api/v1/media-queries/{query_id}", json={"action": "approve_answer"}, headers=officer)
    assert approve.status_code == 403  # an officer approves nothing, whatever the state


def test_another_regency_does_not_see_the_queries(incident, client, token_for):
    officer = token_for("officer", "KOTA-SEMARANG")
    query_id = _post(client, incident, officer).get_json()["id"]
    sibling = token_for("officer", "KAB-BANYUMAS")
    assert client.get(f"/api/v1/incidents/{incident.id}/media-queries", headers=sibling).status_code == 404
    assert (
        client.patch(f"/api/v1/media-queries/{query_id}", json={"action": "assign"}, headers=sibling).status_code == 404
    )


def test_the_openapi_document_describes_the_media_desk(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert {"post", "get"} <= set(document["paths"]["/api/v1/incidents/{incident_id}/media-queries"])
    assert "patch" in document["paths"]["/api/v1/media-queries/{query_id}"]
    schema = document["components"]["schemas"]["MediaQueryPatch"]
    assert "holding_line" in schema["properties"] and "decline" in schema["properties"]["action"]["enum"]
