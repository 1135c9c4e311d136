"""A drill on chat channels: an inject reaches a person's Telegram with [LATIHAN] on its first line,
and a drill's approved key messages reach a unit's group marked [LATIHAN], never as real ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crisis.exercises import service as exercises
from crisis.incidents import statements
from crisis.notify import chat
from crisis.notify.models import Notice
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import sign_through

NOW = FIXED_NOW
GROUP_ID = "-1009876543210"
PERSON_CHAT = "55501"


def _drill(db, org):
    exercise = exercises.start(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "supervisor")],
        scenario_key="hoax-pdam-water",
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        now=NOW,
    )
    db.session.commit()
    return exercise.incident


def test_an_inject_on_telegram_says_latihan_first(db, org, telegram_api):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    chat.link_telegram(session=db.session, user=officer, chat_id=PERSON_CHAT, now=NOW)
    db.session.commit()
    incident = _drill(db, org)
    tick(db.session, NOW + timedelta(minutes=10))
    to_officer = [m for m in telegram_api.sent() if m["chat_id"] == PERSON_CHAT and "stasiun TV" in m["text"]]
    assert to_officer, telegram_api.sent()
    first_line = to_officer[0]["text"].splitlines()[0]
    assert first_line.startswith("[LATIHAN]") and "bukan insiden sungguhan" in first_line
    assert "reply_markup" not in to_officer[0]  # an inject asks for no acknowledgement
    assert db.session.scalar(select(Notice).where(Notice.incident_id == incident.id, Notice.channel == "telegram"))


def test_a_drills_key_messages_reach_the_units_group_marked_latihan(db, org, telegram_api):
    unit = org["units"]["KOTA-SEMARANG"]
    chat.link_group(session=db.session, unit_id=unit.id, chat_id=GROUP_ID, title="Humas Kota Semarang", now=NOW)
    db.session.commit()
    incident = _drill(db, org)
    draft = statements.draft(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        incident_id=incident.id,
        kind="key_messages",
        title="Pesan kunci air PDAM",
        body="Air PDAM aman diminum; hasil uji laboratorium memenuhi baku mutu.",
        now=NOW + timedelta(minutes=20),
    )
    # A drill rehearses the whole chain the SOP asks for at its severity: the head, then the Sekda.
    sign_through(db.session, draft, now=NOW + timedelta(minutes=21), first=org["users"][("KOTA-SEMARANG", "head")])
    assert draft.state == "approved"
    db.session.commit()
    tick(db.session, NOW + timedelta(minutes=21))
    [posted] = [m for m in telegram_api.sent() if m["chat_id"] == GROUP_ID]
    assert posted["text"].startswith("[LATIHAN] ") and "Pesan kunci air PDAM" in posted["text"]


def test_a_whatsapp_inject_names_the_drill_and_carries_the_inject(db, org):
    from crisis.notify import whatsapp

    incident = _drill(db, org)
    tick(db.session, NOW + timedelta(minutes=25))
    notice = db.session.scalar(
        select(Notice).where(Notice.incident_id == incident.id, Notice.kind == "inject").order_by(Notice.id.desc())
    )
    parameters, language = whatsapp.notice_parameters(notice)
    assert language == "id" and parameters[2].startswith("[LATIHAN]") and "500.000 tayangan" in parameters[3]
