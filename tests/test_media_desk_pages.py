"""The media desk page: a question logged on a phone in a few fields, who owes the answer and by
when, a decline refused next to its field, and no keys on the Indonesian page."""

from __future__ import annotations

from crisis.incidents.models import MediaQuery
from tests.conftest import form_post


def test_a_question_logged_on_the_page_shows_who_owes_the_answer_and_the_countdown(db, org, incident, login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    page = f"/incidents/{incident.id}/media"
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    shown = client.get(page).get_data(as_text=True)
    assert "Meja media" in shown and 'name="journalist"' in shown
    response = form_post(
        client,
        page,
        {
            "journalist": "Rina Wulandari",
            "outlet": "Kompas TV",
            "outlet_type": "national_tv",
            "channel": "phone",
            "question": "Benarkah air PDAM tercemar?",
            "assignee_id": str(supervisor.id),
        },
    )
    assert response.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "Rina Wulandari" in html and "TV nasional" in html
    assert f"{supervisor.name} wajib menjawab" in html
    assert 'class="countdown"' in html and "WIB" in html
    for key in ("national_tv", "media_query", "holding_line</", "outlet_type</"):
        assert key not in html.replace('value="national_tv"', "").replace('name="holding_line"', "")
    incident_page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert page in incident_page


def test_a_decline_without_a_holding_line_is_refused_next_to_the_field(db, org, incident, login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    page = f"/incidents/{incident.id}/media"
    form_post(
        client,
        page,
        {
            "journalist": "Budi",
            "outlet": "Suara Merdeka",
            "outlet_type": "regional",
            "channel": "whatsapp",
            "question": "Kapan hasil uji lab?",
        },
    )
    query = db.session.query(MediaQuery).one()
    response = form_post(
        client, f"{page}/{query.id}/decline", {"decline_reason": "Menunggu BPBD", "holding_line": " "}, page=page
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#query-{query.id}")
    html = client.get(page).get_data(as_text=True)
    assert 'data-field="holding_line"' in html and "Kalimat penahan yang disampaikan:" in html
    db.session.expire_all()
    assert db.session.get(MediaQuery, query.id).state == "open"


def test_an_observer_sees_the_questions_but_no_forms(db, org, incident, login_as):
    from crisis.incidents import media

    media.log(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        incident_id=incident.id,
        fields={
            "journalist": "Budi",
            "outlet": "Suara Merdeka",
            "outlet_type": "regional",
            "channel": "whatsapp",
            "question": "Kapan hasil uji lab?",
        },
    )
    db.session.commit()
    html = login_as("observer", "PUSAT").get(f"/incidents/{incident.id}/media").get_data(as_text=True)
    assert "Suara Merdeka" in html and 'name="holding_line"' not in html and 'name="journalist"' not in html


def test_a_question_assigned_to_me_waits_for_me_with_its_deadline(db, org, incident, login_as):
    from datetime import timedelta

    from crisis.desk import waiting
    from crisis.incidents import media, statements
    from tests.conftest import FIXED_NOW

    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    query = media.log(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        incident_id=incident.id,
        fields={
            "journalist": "Rina",
            "outlet": "Kompas TV",
            "outlet_type": "national_tv",
            "channel": "phone",
            "question": "Benarkah air PDAM tercemar?",
            "received_at": FIXED_NOW,
        },
        assignee_id=supervisor.id,
        now=FIXED_NOW,
    )
    db.session.commit()
    mine = waiting.collect(session=db.session, user=supervisor, now=FIXED_NOW + timedelta(minutes=1))
    assert [row.subject.id for row in mine.media_queries] == [query.id]
    # Due by the SOP's answer target at the incident's severity (the library sets one in every SOP).
    target = statements.settings_of(incident).media_answer_within_for(incident.severity)
    assert mine.media_queries[0].at == FIXED_NOW + target and not mine.media_queries[0].overdue
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    assert waiting.collect(session=db.session, user=officer, now=FIXED_NOW).media_queries == []
    assert waiting.count(session=db.session, user=supervisor, now=FIXED_NOW) >= 1
    html = login_as("supervisor", "KOTA-SEMARANG").get("/waiting").get_data(as_text=True)
    assert f'id="waiting-media-{query.id}"' in html and "Kompas TV" in html
    media.decline(
        session=db.session,
        actor=supervisor,
        query_id=query.id,
        reason="Data dari BPBD",
        holding_line="Pembaruan pukul 15.00 WIB.",
        now=FIXED_NOW + timedelta(minutes=5),
    )
    db.session.commit()
    assert waiting.collect(session=db.session, user=supervisor, now=FIXED_NOW).media_queries == []


def test_the_sop_page_says_how_soon_journalists_are_answered(db, org, login_as):
    html = login_as("officer", "KOTA-SEMARANG").get("/playbooks/hoax-clarification").get_data(as_text=True)
    line = html.split("Pertanyaan wartawan dijawab dalam", 1)[1].split("</p>", 1)[0]
    from crisis.playbooks import service as playbooks

    spec = playbooks.get_version(session=db.session, key="hoax-clarification").spec
    assert all(f"keparahan {severity}: " in line for severity in spec.severities)
    assert "jam" in line or "menit" in line
