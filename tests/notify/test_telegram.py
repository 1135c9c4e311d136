"""Telegram notices end to end against a local Bot API: linking with a signed /start token, the
notice with its "Konfirmasi terima" button, one tap that acknowledges, errors by their meaning."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from crisis.escalation.models import Timer
from crisis.notify import chat, telegram
from crisis.notify.models import ChatLink, Notice
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import open_incident
from tests.notify.conftest import TELEGRAM_SECRET
from tests.notify.fakes import TELEGRAM_BLOCKED, TELEGRAM_DOWN, telegram_too_many

NOW = FIXED_NOW
M = timedelta(minutes=1)
CHAT_ID = 777000111


def _update(client: Any, update: dict[str, Any], secret: str = TELEGRAM_SECRET) -> Any:
    return client.post("/hooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})


def _linked(db: Any, user: Any, chat_id: int = CHAT_ID) -> None:
    chat.link_telegram(session=db.session, user=user, chat_id=str(chat_id), now=NOW)
    db.session.commit()


def _tap(
    client: Any, sent: dict[str, Any], *, chat_id: int = CHAT_ID, message_id: int = 1, data: str | None = None
) -> Any:
    button = sent["reply_markup"]["inline_keyboard"][0][0]
    return _update(
        client,
        {
            "update_id": 9001,
            "callback_query": {
                "id": "4382bfdwdsb323b2d9",
                "from": {"id": chat_id, "is_bot": False, "first_name": "Ratna"},
                "message": {
                    "message_id": message_id,
                    "date": 1765000000,
                    "chat": {"id": chat_id, "type": "private"},
                    "text": sent["text"],
                },
                "chat_instance": "-1234567890",
                "data": data if data is not None else button["callback_data"],
            },
        },
    )


def test_connect_telegram_opens_the_bot_and_its_start_message_links_the_chat(
    app, db, org, client, login_as, telegram_api
):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    page = login_as("supervisor", "KOTA-SEMARANG").get("/settings/channels").get_data(as_text=True)
    found = re.search(r"https://t\.me/crisis_test_bot\?start=([A-Za-z0-9_-]+)", page)
    assert found and len(found.group(1)) <= 64
    response = _update(
        client,
        {
            "update_id": 1,
            "message": {
                "message_id": 5,
                "from": {"id": CHAT_ID, "is_bot": False, "first_name": "Ratna"},
                "chat": {"id": CHAT_ID, "type": "private"},
                "date": 1765000000,
                "text": f"/start {found.group(1)}",
            },
        },
    )
    assert response.status_code == 200
    link = db.session.scalar(select(ChatLink).where(ChatLink.user_id == supervisor.id))
    assert link.channel == "telegram" and link.state == "active" and link.address == str(CHAT_ID)
    [reply] = telegram_api.sent()
    assert reply["chat_id"] == str(CHAT_ID) and supervisor.name in reply["text"] and "Terhubung" in reply["text"]


def test_an_expired_or_forged_start_token_links_nothing(app, db, org, client, telegram_api, clock):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    token = telegram.link_token(kind="u", subject_id=supervisor.id, now=NOW)
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    clock.now = NOW + timedelta(hours=2)  # past the hour the link is valid
    for text in (f"/start {token}", f"/start {forged}"):
        _update(
            client,
            {"update_id": 2, "message": {"message_id": 6, "chat": {"id": CHAT_ID, "type": "private"}, "text": text}},
        )
    assert db.session.scalar(select(ChatLink)) is None
    assert all("tidak berlaku" in sent["text"] for sent in telegram_api.sent())


def test_escalation_reaches_the_linked_person_on_telegram_with_an_acknowledge_button(app, db, org, smtp, telegram_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    [sent] = telegram_api.sent()
    assert sent["chat_id"] == str(CHAT_ID)
    text = sent["text"]
    assert "Tingkat 2 · KOTA-SEMARANG" in text and f"{incident.reference} Antrean layanan KTP viral" in text
    assert "Tahap: Verifikasi fakta" in text and f"/incidents/{incident.id}" in text
    [[button]] = sent["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Konfirmasi terima" and len(button["callback_data"].encode()) <= 64
    # Telegram first in her order: no e-mail; the inbox keeps its copy.
    assert smtp.messages == []
    channels = {n.channel for n in db.session.scalars(select(Notice).where(Notice.recipient_user_id == supervisor.id))}
    assert channels == {"telegram", "inapp"}


def test_one_tap_acknowledges_answers_the_button_edits_the_message_and_stops_the_repeats(
    app, db, org, client, telegram_api
):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    [sent] = telegram_api.sent()
    assert _tap(client, sent).status_code == 200
    notice = db.session.scalar(select(Notice).where(Notice.channel == "telegram"))
    db.session.refresh(notice)
    assert notice.acknowledged_at is not None and notice.acknowledged_by_id == supervisor.id
    [answer] = telegram_api.sent("answerCallbackQuery")
    assert (
        answer["callback_query_id"] == "4382bfdwdsb323b2d9"
        and answer["text"] == "Penerimaan dikonfirmasi. Terima kasih."
    )
    [edit] = telegram_api.sent("editMessageText")
    assert edit["chat_id"] == str(CHAT_ID) and edit["message_id"] == 1
    assert f"Dikonfirmasi oleh {supervisor.name} pukul" in edit["text"] and "WIB" in edit["text"]
    event = db.session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "escalation.acknowledged"))
    assert event.data["via"] == "telegram" and event.subject_id == incident.id
    # The step repeats every 15 minutes until acknowledged: it does not any more.
    before = len(telegram_api.sent())
    for minutes in (30, 45, 60):
        tick(db.session, NOW + minutes * M)
    to_her = [s for s in telegram_api.sent()[before:] if s["chat_id"] == str(CHAT_ID)]
    assert to_her == []
    assert (
        db.session.scalar(
            select(Timer).where(Timer.kind == "escalation_step", Timer.step_index == 0, Timer.state == "pending")
        )
        is None
    )
    # A second tap changes nothing and is answered.
    _tap(client, sent)
    assert db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "escalation.acknowledged")).all() == [
        event
    ]


def test_a_forged_webhook_call_changes_nothing(app, db, org, client, telegram_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    [sent] = telegram_api.sent()
    button = sent["reply_markup"]["inline_keyboard"][0][0]
    assert (
        _update(client, {"callback_query": {"id": "x", "data": button["callback_data"]}}, secret="wrong").status_code
        == 403
    )
    response = client.post("/hooks/telegram", json={"callback_query": {"id": "x", "data": button["callback_data"]}})
    assert response.status_code == 403
    # With the secret, but from another chat, or with callback data it did not send: not acknowledged.
    _tap(client, sent, chat_id=CHAT_ID + 1)
    notice_id = telegram.notice_id_of(button["callback_data"])
    _tap(client, sent, data=f"ack:{notice_id}:0000000000000000")
    db.session.expire_all()
    assert db.session.get(Notice, notice_id).acknowledged_at is None
    assert db.session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "escalation.acknowledged")) is None
    answers = telegram_api.sent("answerCallbackQuery")
    assert len(answers) == 2 and all(a["show_alert"] for a in answers)


def test_a_blocked_bot_breaks_the_link_tells_the_person_and_the_notice_goes_by_e_mail(app, db, org, smtp, telegram_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    telegram_api.script = [TELEGRAM_BLOCKED]
    tick(db.session, NOW + 15 * M)
    failed = db.session.scalar(select(Notice).where(Notice.channel == "telegram"))
    assert failed.status == "failed" and failed.attempts == 1  # at once: retrying cannot help
    assert "memblokir bot" in failed.last_error and "bot was blocked by the user" in failed.last_error
    link = db.session.scalar(select(ChatLink).where(ChatLink.user_id == supervisor.id))
    assert link.state == "broken" and "memblokir" in link.broken_reason
    told = db.session.scalars(
        select(Notice).where(Notice.recipient_user_id == supervisor.id, Notice.kind == "link_broken")
    ).all()
    assert {n.channel for n in told} == {"inapp", "email"}
    tick(db.session, NOW + 15 * M + timedelta(seconds=1))  # the sweep sends what was queued
    subjects = sorted(m["subject"] for m in smtp.messages if m["to"] == [supervisor.email])
    assert (
        len(subjects) == 2 and any("Verifikasi fakta" in s for s in subjects) and any("Telegram" in s for s in subjects)
    )
    fell_back = db.session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "notice.fell_back"))
    assert fell_back.data["from_channel"] == "telegram" and fell_back.data["to_channel"] == "email"
    admin_alerts = db.session.scalars(select(Notice).where(Notice.kind == "delivery_failed")).all()
    assert admin_alerts  # surfaced to the unit's admins


def test_too_many_requests_waits_as_long_as_telegram_says_then_delivers_once(app, db, org, telegram_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    telegram_api.script = [telegram_too_many(40)]
    tick(db.session, NOW + 15 * M)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "telegram"))
    assert notice.status == "queued" and notice.next_attempt_at == NOW + 15 * M + timedelta(seconds=40)
    tick(db.session, NOW + 15 * M + timedelta(seconds=39))
    assert telegram_api.sent() == []
    tick(db.session, NOW + 15 * M + timedelta(seconds=40))
    assert len(telegram_api.sent()) == 1
    db.session.refresh(notice)
    assert notice.status == "sent" and notice.attempts == 2


def test_telegram_down_for_a_while_then_up_delivers_every_notice_exactly_once(app, db, org, telegram_api):
    _linked(db, org["users"][("KOTA-SEMARANG", "supervisor")])
    for title in ("Antrean KTP viral", "Hoaks banjir", "Kebocoran data"):
        open_incident(db.session, org, now=NOW, title=title)
    db.session.commit()
    telegram_api.script = [TELEGRAM_DOWN] * 9  # every call for a while
    moment = NOW + 15 * M
    while moment < NOW + 45 * M:  # ticks every 30 s; the first repeat is at 30 minutes
        tick(db.session, moment)
        moment += timedelta(seconds=30)
    keys = [s["reply_markup"]["inline_keyboard"][0][0]["callback_data"] for s in telegram_api.sent()]
    notices = db.session.scalars(select(Notice).where(Notice.channel == "telegram")).all()
    assert len(notices) == 6 and {n.status for n in notices} == {"sent"}  # 3 incidents x (15 and 30 min)
    assert sorted(keys) == sorted(telegram.ack_data(n) for n in notices)  # each once, none lost
    assert sum(n.attempts for n in notices) == 6 + 9


def test_quiet_hours_keep_severity_1_2_off_telegram_but_severity_3_breaks_through(app, db, org, smtp, telegram_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    # Quiet around the first step's firing time, in her zone.
    local = (NOW + 15 * M).astimezone(__import__("zoneinfo").ZoneInfo(supervisor.timezone))
    chat.set_settings(
        session=db.session,
        user=supervisor,
        order=["telegram", "whatsapp", "email"],
        quiet_from=(local - 60 * M).strftime("%H:%M"),
        quiet_until=(local + 60 * M).strftime("%H:%M"),
    )
    db.session.commit()
    routes = chat.routes(db.session, [supervisor.id], {}, at=NOW + 15 * M, zones={supervisor.id: supervisor.timezone})
    assert chat.for_severity(routes[supervisor.id], 2) == ["email", "inapp"]
    assert chat.for_severity(routes[supervisor.id], 3) == ["telegram", "inapp"]
    open_incident(db.session, org, now=NOW, severity=3)
    open_incident(db.session, org, now=NOW, severity=2, title="Keluhan parkir")
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    [loud] = telegram_api.sent()
    assert "Antrean layanan KTP viral" in loud["text"]  # severity 3 breaks through
    quiet = [m for m in smtp.messages if m["to"] == [supervisor.email]]
    assert [("Keluhan parkir" in m["subject"]) for m in quiet] == [True]  # severity 2 waits in her e-mail


def test_blocking_the_bot_in_telegram_breaks_the_link_and_the_person_hears_of_it_by_e_mail(
    app, db, org, client, smtp, telegram_api
):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    blocked = {
        "update_id": 77,
        "my_chat_member": {
            "chat": {"id": CHAT_ID, "type": "private"},
            "from": {"id": CHAT_ID, "is_bot": False, "first_name": "Ratna"},
            "date": 1765000000,
            "old_chat_member": {"user": {"id": 1, "is_bot": True}, "status": "member"},
            "new_chat_member": {"user": {"id": 1, "is_bot": True}, "status": "kicked", "until_date": 0},
        },
    }
    assert _update(client, blocked, secret="guess").status_code == 403
    assert db.session.scalar(select(ChatLink)).state == "active"
    assert _update(client, blocked).status_code == 200
    db.session.expire_all()
    link = db.session.scalar(select(ChatLink))
    assert link.state == "broken" and "memblokir bot" in link.broken_reason
    [mail] = smtp.messages
    assert mail["to"] == [supervisor.email] and "Telegram" in mail["subject"]
    assert chat.working_channels(db.session, supervisor) == ["email"]


def test_the_incident_timeline_says_the_acknowledgement_came_via_telegram(app, db, org, client, login_as, telegram_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    [sent] = telegram_api.sent()
    _tap(client, sent)
    page = login_as("head", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "lewat Telegram" in page  # "via Telegram"
