"""A journalist's question past its answer target: the e-mail says who asked what and by when, and
"Waiting for me" links the escalation to the question on the media desk."""

from __future__ import annotations

from datetime import timedelta

from crisis.incidents import media
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import escalate, log_issue

H = timedelta(hours=1)


def test_a_late_question_emails_its_assignee_with_the_question_and_the_target(db, org, smtp, login_as):
    incident = escalate(db.session, org, log_issue(db.session, org, now=FIXED_NOW), now=FIXED_NOW)
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    query = media.log(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        incident_id=incident.id,
        fields={
            "journalist": "Rina Wulandari",
            "outlet": "Kompas TV",
            "outlet_type": "national_tv",
            "channel": "phone",
            "question": "Benarkah air PDAM tercemar bahan kimia?",
            "received_at": FIXED_NOW,
            "journalist_deadline": FIXED_NOW + 2 * H,  # sooner than the 4-hour target: the target
        },
        assignee_id=supervisor.id,
        now=FIXED_NOW,
    )
    db.session.commit()
    assert query.due_at == FIXED_NOW + 2 * H
    before = len(smtp.messages)
    tick(db.session, FIXED_NOW + 2 * H)
    mails = [m for m in smtp.messages[before:] if "Pertanyaan media" in m["subject"]]
    assert [m["to"] for m in mails] == [[supervisor.email]]
    assert mails[0]["subject"].endswith("Pertanyaan media belum dijawab: Rina Wulandari (Kompas TV)")
    text = mails[0]["message"].get_body(("plain",)).get_content()
    assert "Benarkah air PDAM tercemar bahan kimia?" in text and "WIB" in text and "/ack/" in text
    html = login_as("supervisor", "KOTA-SEMARANG").get("/waiting").get_data(as_text=True)
    assert f"/incidents/{incident.id}/media#query-{query.id}" in html
    assert "pertanyaan Rina Wulandari (Kompas TV) belum dijawab" in html
