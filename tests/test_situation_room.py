"""The national situation room: every province's open incidents, overdue stages, unacknowledged
escalations and unpublished key messages, coloured by the worst; a province sees its regencies."""

from __future__ import annotations

import re
from datetime import timedelta

from crisis.escalation.models import Timer
from crisis.incidents.models import InvolvedUnit, Publication, Statement
from tests.conftest import FIXED_NOW


def _tile(page: str, code: str) -> str:
    match = re.search(
        rf'<article class="tile ([^"]*)" data-code="{re.escape(code)}" data-area="[^"]*" data-state="(\w+)">(.*?)</article>',
        page,
        re.S,
    )
    assert match, f"no tile of {code}"
    return match.group(2) + " " + match.group(3)


def test_central_head_sees_each_province_with_its_open_incidents(login_as, incident, org):
    page = login_as("head", "PUSAT").get("/situation").get_data(as_text=True)
    jateng = _tile(page, "JATENG")
    assert jateng.startswith("open ")
    assert "<strong>1</strong>" in jateng
    assert f"/situation/area/{org['units']['JATENG'].id}/sev3" in jateng
    assert _tile(page, "SULSEL").startswith("calm ")
    assert _tile(page, "PAPUA").startswith("calm ")


def test_an_overdue_stage_turns_the_province_red_and_its_number_opens_the_list(login_as, incident, org, clock):
    clock.now = FIXED_NOW + timedelta(days=3)
    client = login_as("head", "PUSAT")
    jateng = _tile(client.get("/situation").get_data(as_text=True), "JATENG")
    assert jateng.startswith("late ")
    link = f"/situation/area/{org['units']['JATENG'].id}/overdue"
    assert link in jateng
    listed = client.get(link).get_data(as_text=True)
    assert incident.reference in listed


def test_an_unacknowledged_escalation_counts_until_acknowledged(login_as, incident, org, db):
    timer = Timer(incident_id=incident.id, kind="escalation_step", fire_at=FIXED_NOW, state="fired", fired_at=FIXED_NOW)
    db.session.add(timer)
    db.session.commit()
    client = login_as("head", "PUSAT")
    jateng = _tile(client.get("/situation").get_data(as_text=True), "JATENG")
    assert jateng.startswith("late ") and "/unacked" in jateng
    timer.acknowledged_at = FIXED_NOW
    db.session.commit()
    assert _tile(client.get("/situation").get_data(as_text=True), "JATENG").startswith("open ")


def test_key_messages_not_published_by_an_involved_unit_show_where_that_unit_is(login_as, incident, org, db):
    head = org["users"][("KOTA-SEMARANG", "head")]
    gowa = org["units"]["KAB-GOWA"]
    statement = Statement(
        incident_id=incident.id,
        kind="key_messages",
        title="Pesan kunci",
        body="Vaksin aman.",
        state="approved",
        drafted_by_id=head.id,
        drafted_at=FIXED_NOW,
        approved_by_id=head.id,
        approved_at=FIXED_NOW,
    )
    db.session.add_all([statement, InvolvedUnit(incident_id=incident.id, unit_id=gowa.id, involved_at=FIXED_NOW)])
    db.session.commit()
    client = login_as("head", "PUSAT")
    page = client.get("/situation").get_data(as_text=True)
    assert _tile(page, "SULSEL").startswith("waiting ")  # Gowa, in South Sulawesi, has not published
    assert _tile(page, "JATENG").startswith("open ")
    listed = client.get(f"/situation/area/{org['units']['SULSEL'].id}/keymsg").get_data(as_text=True)
    assert incident.reference in listed

    db.session.add(
        Publication(
            statement_id=statement.id,
            unit_id=gowa.id,
            channel="website",
            published_at=FIXED_NOW,
            recorded_by_id=head.id,
        )
    )
    db.session.commit()
    assert _tile(client.get("/situation").get_data(as_text=True), "SULSEL").startswith("calm ")


def test_province_head_sees_the_regencies_of_the_province_only(login_as, incident, org):
    client = login_as("head", "JATENG")
    response = client.get("/situation")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/situation/{org['units']['JATENG'].id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _tile(page, "KOTA-SEMARANG").startswith("open ")
    assert _tile(page, "KAB-BANYUMAS").startswith("calm ")
    assert 'data-code="SULSEL"' not in page
    assert client.get(f"/situation/{org['units']['SULSEL'].id}").status_code == 404


def test_a_regency_has_no_situation_room(login_as):
    assert login_as("officer", "KOTA-SEMARANG").get("/situation").status_code == 403


def test_live_update_returns_only_the_board(login_as, incident):
    client = login_as("head", "PUSAT")
    fragment = client.get("/situation", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="situation-board"')
    assert "<html" not in fragment
    assert 'hx-trigger="every 30s"' in fragment
