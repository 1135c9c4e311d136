"""A unit's Telegram group receives the approved key messages (one narrative); the units still record
their own publication, so its lag is measured as before."""

from __future__ import annotations

from sqlalchemy import select

from crisis.incidents import statements
from crisis.notify import telegram
from crisis.notify.models import Notice, UnitChatGroup
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import open_incident
from tests.notify.conftest import TELEGRAM_SECRET

NOW = FIXED_NOW
GROUP_ID = -1001234567890


def test_approved_key_messages_are_posted_to_the_units_linked_telegram_group(app, db, org, client, telegram_api):
    unit = org["units"]["KOTA-SEMARANG"]
    token = telegram.link_token(kind="g", subject_id=unit.id, now=NOW)
    assert telegram.start_url(token, group=True).startswith("https://t.me/crisis_test_bot?startgroup=")
    response = client.post(
        "/hooks/telegram",
        json={
            "update_id": 5,
            "message": {
                "message_id": 1,
                "chat": {"id": GROUP_ID, "type": "supergroup", "title": "Humas Kota Semarang"},
                "text": f"/start@crisis_test_bot {token}",
            },
        },
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    assert response.status_code == 200
    group = db.session.scalar(select(UnitChatGroup))
    assert group.unit_id == unit.id and group.chat_id == str(GROUP_ID) and group.title == "Humas Kota Semarang"
    [welcome] = telegram_api.sent()
    assert welcome["chat_id"] == str(GROUP_ID) and "pesan kunci" in welcome["text"]

    incident = open_incident(db.session, org, now=NOW)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    draft = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind="key_messages",
        title="Pesan kunci antrean KTP",
        body="Layanan KTP tetap buka; antrean daring dibuka pukul 08.00.",
        now=NOW,
    )
    db.session.commit()
    assert db.session.scalar(select(Notice).where(Notice.kind == "key_messages")) is None  # a draft is not posted
    statements.approve(session=db.session, actor=supervisor, statement_id=draft.id, now=NOW)
    db.session.commit()
    tick(db.session, NOW)
    posted = [s for s in telegram_api.sent() if s["chat_id"] == str(GROUP_ID)][1:]
    assert len(posted) == 1
    assert "Pesan kunci antrean KTP" in posted[0]["text"] and "antrean daring dibuka" in posted[0]["text"]
    assert incident.reference in posted[0]["text"] and f"/incidents/{incident.id}" in posted[0]["text"]
    tick(db.session, NOW)
    assert len([s for s in telegram_api.sent() if s["chat_id"] == str(GROUP_ID)]) == 2  # once
