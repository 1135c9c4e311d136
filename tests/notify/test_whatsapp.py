"""WhatsApp notices end to end against a local Cloud API: linking a +62 number with a code, the
template with its quick-reply button, one tap that acknowledges, signed status callbacks on the
incident, and errors by their meaning."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crisis.notify import chat, whatsapp
from crisis.notify.models import ChatLink, Notice
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW, form_post
from tests.engine.drive import tick
from tests.factories import open_incident
from tests.notify.conftest import WHATSAPP_APP_SECRET, WHATSAPP_VERIFY
from tests.notify.fakes import (
    WHATSAPP_DOWN,
    WHATSAPP_NOT_ON_WHATSAPP,
    WHATSAPP_TEMPLATE_MISSING,
    whatsapp_envelope,
    whatsapp_error,
    whatsapp_signature,
)

NOW = FIXED_NOW
M = timedelta(minutes=1)
NUMBER = "+6281234567890"


def _post(client: Any, body: dict[str, Any], secret: str = WHATSAPP_APP_SECRET) -> Any:
    raw = json.dumps(body).encode()
    return client.post(
        "/hooks/whatsapp",
        data=raw,
        content_type="application/json",
        headers={"X-Hub-Signature-256": whatsapp_signature(secret, raw)},
    )


def _linked(db: Any, user: Any, number: str = NUMBER) -> None:
    link = ChatLink(user_id=user.id, channel="whatsapp", address=number, state="active", linked_at=NOW)
    db.session.add(link)
    db.session.commit()


def _escalated(db: Any, org: Any, whatsapp_api: Any) -> tuple[Any, Any, dict[str, Any]]:
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    _linked(db, supervisor)
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    sent = whatsapp_api.sent()
    return supervisor, incident, sent[-1] if sent else {}


def _status(notice_data: str, status: str, at: datetime, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "wamid.TEST000001",
        "status": status,
        "timestamp": str(int(at.timestamp())),
        "recipient_id": NUMBER.lstrip("+"),
        "biz_opaque_callback_data": notice_data,
    }
    if errors:
        entry["errors"] = errors
    return whatsapp_envelope({"statuses": [entry]})


def test_a_number_not_in_e164_plus_62_form_is_refused_next_to_the_field(app, db, org, client, login_as, whatsapp_api):
    login_as("supervisor", "KOTA-SEMARANG")
    for wrong in ("081234567890", "+14155550123", "+62 812", "halo"):
        response = form_post(client, "/settings/channels/whatsapp/number", {"number": wrong}, page="/settings/channels")
        assert response.status_code == 422
        assert "format internasional, misalnya +6281234567890" in response.get_data(as_text=True)
    assert whatsapp_api.requests == [] and db.session.scalar(select(ChatLink)) is None


def test_linking_sends_a_code_by_template_and_the_code_links_the_number(app, db, org, client, login_as, whatsapp_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    login_as("supervisor", "KOTA-SEMARANG")
    response = form_post(
        client, "/settings/channels/whatsapp/number", {"number": "+62 812-3456-7890"}, page="/settings/channels"
    )
    assert response.status_code == 302
    [sent] = whatsapp_api.sent()
    assert sent["to"] == "6281234567890" and sent["type"] == "template"
    assert sent["template"]["name"] == app.config["WHATSAPP_CODE_TEMPLATE"] and sent["template"]["language"] == {
        "code": "id"
    }
    code = sent["template"]["components"][0]["parameters"][0]["text"]
    assert len(code) == 6 and code.isdigit()
    assert whatsapp_api.requests[0]["headers"]["Authorization"] == f"Bearer {app.config['WHATSAPP_TOKEN']}"
    wrong = form_post(
        client,
        "/settings/channels/whatsapp/code",
        {"code": "000000" if code != "000000" else "111111"},
        page="/settings/channels",
    )
    assert wrong.status_code == 422 and "tidak sama dengan yang kami kirim" in wrong.get_data(as_text=True)
    assert (
        form_post(client, "/settings/channels/whatsapp/code", {"code": code}, page="/settings/channels").status_code
        == 302
    )
    link = db.session.scalar(select(ChatLink).where(ChatLink.user_id == supervisor.id))
    assert link.state == "active" and link.address == NUMBER


def test_escalation_goes_as_the_approved_template_with_a_quick_reply_and_one_tap_acknowledges(
    app, db, org, client, smtp, whatsapp_api
):
    supervisor, incident, sent = _escalated(db, org, whatsapp_api)
    assert sent["to"] == "6281234567890" and sent["template"]["name"] == app.config["WHATSAPP_NOTICE_TEMPLATE"]
    body, button = sent["template"]["components"]
    values = [p["text"] for p in body["parameters"]]
    assert values[:4] == ["2", "KOTA-SEMARANG", f"{incident.reference} Antrean layanan KTP viral", "Verifikasi fakta"]
    assert values[4].startswith("batas ") and "WIB" in values[4] and values[5].endswith(f"/incidents/{incident.id}")
    assert button["sub_type"] == "quick_reply" and button["parameters"][0]["type"] == "payload"
    assert smtp.messages == []  # WhatsApp is her first working channel
    tap = whatsapp_envelope(
        {
            "contacts": [{"profile": {"name": "Ratna"}, "wa_id": "6281234567890"}],
            "messages": [
                {
                    "context": {"from": "15550783881", "id": "wamid.TEST000001"},
                    "from": "6281234567890",
                    "id": "wamid.IN1",
                    "timestamp": str(int((NOW + 16 * M).timestamp())),
                    "type": "button",
                    "button": {"payload": button["parameters"][0]["payload"], "text": "Konfirmasi terima"},
                }
            ],
        }
    )
    assert _post(client, tap).status_code == 200
    notice = db.session.scalar(select(Notice).where(Notice.channel == "whatsapp"))
    db.session.refresh(notice)
    assert notice.acknowledged_by_id == supervisor.id
    event = db.session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "escalation.acknowledged"))
    assert event.data["via"] == "whatsapp"
    before = len(whatsapp_api.sent())
    for minutes in (30, 45):
        tick(db.session, NOW + minutes * M)
    assert [s for s in whatsapp_api.sent()[before:] if s["to"] == "6281234567890"] == []  # the repeats stopped


def test_the_webhook_answers_the_verification_handshake_only_with_our_token(app, client, whatsapp_api):
    good = client.get(f"/hooks/whatsapp?hub.mode=subscribe&hub.verify_token={WHATSAPP_VERIFY}&hub.challenge=1158201444")
    assert good.status_code == 200 and good.get_data(as_text=True) == "1158201444"
    bad = client.get("/hooks/whatsapp?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444")
    assert bad.status_code == 403 and "1158201444" not in bad.get_data(as_text=True)


def test_a_forged_or_unsigned_callback_changes_nothing(app, db, org, client, whatsapp_api):
    _supervisor, _incident, sent = _escalated(db, org, whatsapp_api)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "whatsapp"))
    read = _status(whatsapp.callback_data(notice), "read", NOW + 20 * M)
    assert _post(client, read, secret="not-the-app-secret").status_code == 403
    assert client.post("/hooks/whatsapp", json=read).status_code == 403
    payload = sent["template"]["components"][1]["parameters"][0]["payload"]
    tap = whatsapp_envelope(
        {"messages": [{"from": "6281234567890", "id": "x", "type": "button", "button": {"payload": payload}}]}
    )
    raw = json.dumps(tap).encode()
    signed_other = client.post(
        "/hooks/whatsapp",
        data=raw + b" ",  # signed, then changed
        content_type="application/json",
        headers={"X-Hub-Signature-256": whatsapp_signature(WHATSAPP_APP_SECRET, raw)},
    )
    assert signed_other.status_code == 403
    # Signed, but the tap comes from another number: not hers to acknowledge.
    tap["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "6289999999999"
    assert _post(client, tap).status_code == 200
    db.session.expire_all()
    notice = db.session.get(Notice, notice.id)
    assert notice.remote_status is None and notice.acknowledged_at is None


def test_status_callbacks_show_on_the_incident_as_read_with_the_local_time(
    app, db, org, client, login_as, whatsapp_api
):
    _supervisor, incident, _sent = _escalated(db, org, whatsapp_api)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "whatsapp"))
    data = whatsapp.callback_data(notice)
    read_at = NOW + 18 * M
    for status, at in (("sent", NOW + 15 * M), ("read", read_at), ("delivered", NOW + 16 * M)):  # out of order
        assert _post(client, _status(data, status, at)).status_code == 200
    db.session.refresh(notice)
    assert notice.remote_status == "read" and notice.remote_status_at == read_at
    page = login_as("head", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    local = read_at.astimezone(ZoneInfo("Asia/Jakarta"))
    # "Dibaca 10.18 WIB." (Indonesian writes the time with a dot; English with a colon)
    assert re.search(rf"Dibaca {local:%H}[.:]{local:%M} WIB", page)


def test_a_number_not_on_whatsapp_fails_at_once_in_words_and_falls_back_to_e_mail(app, db, org, smtp, whatsapp_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    whatsapp_api.script = [WHATSAPP_NOT_ON_WHATSAPP]
    _escalated(db, org, whatsapp_api)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "whatsapp"))
    assert notice.status == "failed" and notice.attempts == 1
    assert notice.last_error.startswith("WhatsApp tidak dapat mengirim ke nomor ini")
    link = db.session.scalar(select(ChatLink).where(ChatLink.user_id == supervisor.id))
    assert link.state == "broken"
    tick(db.session, NOW + 15 * M + timedelta(seconds=1))
    assert any("Verifikasi fakta" in m["subject"] for m in smtp.messages if m["to"] == [supervisor.email])


def test_an_unapproved_template_fails_at_once_keeps_the_link_and_falls_back(app, db, org, smtp, whatsapp_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    whatsapp_api.script = [WHATSAPP_TEMPLATE_MISSING]
    _escalated(db, org, whatsapp_api)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "whatsapp"))
    assert notice.status == "failed" and "templat pesan" in notice.last_error
    assert db.session.scalar(select(ChatLink).where(ChatLink.user_id == supervisor.id)).state == "active"
    fallback = db.session.scalar(
        select(Notice).where(Notice.channel == "email", Notice.recipient_user_id == supervisor.id)
    )
    assert fallback is not None and fallback.payload["fallback_channel"] == "whatsapp"


def test_rate_limits_and_server_errors_are_retried_with_backoff_until_delivered_once(app, db, org, whatsapp_api):
    whatsapp_api.script = [
        (*whatsapp_error(429, 130429, "Rate limit hit"), {"Retry-After": "60"}),
        WHATSAPP_DOWN,
    ]
    _escalated(db, org, whatsapp_api)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "whatsapp"))
    assert notice.status == "queued" and notice.next_attempt_at == NOW + 16 * M  # Retry-After: 60
    tick(db.session, NOW + 16 * M)  # 503: retried again after the backoff
    db.session.refresh(notice)
    assert notice.status == "queued" and notice.attempts == 2
    tick(db.session, NOW + 17 * M)
    db.session.refresh(notice)
    assert notice.status == "sent" and len(whatsapp_api.sent()) == 1


def test_a_failed_status_after_the_api_accepted_falls_back_to_the_next_channel(
    app, db, org, client, smtp, whatsapp_api
):
    supervisor, _incident, _sent = _escalated(db, org, whatsapp_api)
    notice = db.session.scalar(select(Notice).where(Notice.channel == "whatsapp"))
    assert notice.status == "sent"
    failed = _status(
        whatsapp.callback_data(notice),
        "failed",
        NOW + 15 * M,
        errors=[
            {
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }
        ],
    )
    assert _post(client, failed).status_code == 200
    db.session.refresh(notice)
    assert notice.status == "failed" and notice.remote_status == "failed"
    assert chat.working_channels(db.session, supervisor) == ["email"]
    tick(db.session, NOW + 15 * M + timedelta(seconds=1))
    assert any("Verifikasi fakta" in m["subject"] for m in smtp.messages if m["to"] == [supervisor.email])


def test_a_number_whatsapp_refuses_is_named_in_words_next_to_the_field(app, db, org, client, login_as, whatsapp_api):
    whatsapp_api.script = [WHATSAPP_NOT_ON_WHATSAPP]
    login_as("supervisor", "KOTA-SEMARANG")
    response = form_post(client, "/settings/channels/whatsapp/number", {"number": NUMBER}, page="/settings/channels")
    assert response.status_code == 422
    assert "tidak terdaftar di WhatsApp" in response.get_data(as_text=True)
    assert db.session.scalar(select(ChatLink)) is None
