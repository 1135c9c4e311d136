"""The chat services' webhooks: `POST /hooks/telegram` (updates: /start links, button taps) and
`GET|POST /hooks/whatsapp` (verification handshake, status callbacks, quick-reply taps).

Here rather than in crisis.notify because a tap acknowledges through crisis.escalation's
`acknowledge`, the same as the e-mail link and the inbox. A request that does not carry the
service's secret (Telegram) or signature (WhatsApp) is answered 403 and changes nothing."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import force_locale
from sqlalchemy import select

from crisis import clock
from crisis.auth.models import User
from crisis.escalation import acknowledgement, delivery
from crisis.extensions import csrf, db
from crisis.i18n import _
from crisis.notify import chat, telegram, whatsapp
from crisis.notify.channels import DeliveryError, PermanentDeliveryError
from crisis.notify.models import ChatLink, Notice
from crisis.timefmt import format_local

log = logging.getLogger(__name__)
bp = Blueprint("chat_hooks", __name__)

REMOTE_ORDER = {"sent": 1, "delivered": 2, "read": 3}


def _forbidden() -> Response:
    return Response("forbidden", status=403, mimetype="text/plain")


def _language(user: User | None) -> str:
    languages = current_app.config["LANGUAGES"]
    return user.language if user is not None and user.language in languages else languages[0]


# --- Telegram ---------------------------------------------------------------------------------


@bp.route("/hooks/telegram", methods=["POST"])
@csrf.exempt  # authenticated by the secret Telegram sends back (setWebhook secret_token)
def telegram_hook() -> Any:
    secret = current_app.config.get("TELEGRAM_WEBHOOK_SECRET")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), str(secret).encode()):
        return _forbidden()
    update = request.get_json(silent=True)
    if not isinstance(update, dict):
        return jsonify(ok=True)  # nothing we understand; Telegram must not retry it
    now = clock.now()
    ended: list[User] = []
    calls = telegram_update(update, now=now, ended=ended)
    db.session.commit()
    for user in ended:  # the bot blocked: the person hears of it by e-mail too
        chat.mail_link_ended(user, "telegram", now=now)
    for call in calls:  # after the commit: what the person sees follows what was recorded
        try:
            telegram.api(call.method, call.body)
        except DeliveryError:
            log.warning("Telegram %s after an update failed", call.method, exc_info=True)
    return jsonify(ok=True)


def telegram_update(update: dict[str, Any], *, now: datetime, ended: list[User] | None = None) -> list[telegram.Call]:
    """What an update changes (flushed, not committed), and the Bot API calls that answer it; the people
    whose link it ended are added to `ended` (told by e-mail after the commit)."""
    session = db.session
    if isinstance(update.get("callback_query"), dict):
        return _telegram_tap(update["callback_query"], now)
    member = update.get("my_chat_member")
    if isinstance(member, dict) and (member.get("new_chat_member") or {}).get("status") == "kicked":
        chat_id = str((member.get("chat") or {}).get("id"))
        for link in session.scalars(
            select(ChatLink).where(
                ChatLink.channel == "telegram", ChatLink.address == chat_id, ChatLink.state == "active"
            )
        ):
            chat.break_link(
                session=session,
                user_id=link.user_id,
                channel="telegram",
                reason=str(_("The person blocked the bot in Telegram.")),
                now=now,
            )
            if ended is not None:
                ended.append(link.user)
        return []
    message = update.get("message")
    if not isinstance(message, dict):
        return []
    text = str(message.get("text") or "")
    if not text.startswith("/start"):
        return []
    chat_info = message.get("chat") or {}
    chat_id = str(chat_info.get("id"))
    parts = text.split(maxsplit=1)
    found = telegram.read_link_token(parts[1], now=now) if len(parts) == 2 else None
    if found is None:
        with force_locale(_language(None)):
            reply = _(
                "This link is no longer valid. Open your channel settings in the app "
                "and press “Connect Telegram” again."
            )
        return [telegram.Call("sendMessage", {"chat_id": chat_id, "text": reply})]
    kind, subject_id = found
    if kind == "u" and chat_info.get("type") == "private":
        user = session.get(User, subject_id)
        if user is None or not user.active:
            return []
        chat.link_telegram(session=session, user=user, chat_id=chat_id, now=now)
        with force_locale(_language(user)):
            reply = _("Connected. Escalation notices for %(name)s will arrive here.", name=user.name)
        return [telegram.Call("sendMessage", {"chat_id": chat_id, "text": reply})]
    if kind == "g" and chat_info.get("type") in ("group", "supergroup"):
        group = chat.link_group(
            session=session, unit_id=subject_id, chat_id=chat_id, title=str(chat_info.get("title") or ""), now=now
        )
        with force_locale(_language(None)):
            reply = _("This group now receives the approved key messages for %(unit)s.", unit=group.unit.name)
        return [telegram.Call("sendMessage", {"chat_id": chat_id, "text": reply})]
    return []


def _telegram_tap(callback: dict[str, Any], now: datetime) -> list[telegram.Call]:
    session = db.session
    answer: dict[str, Any] = {"callback_query_id": str(callback.get("id"))}
    data = str(callback.get("data") or "")
    notice_id = telegram.notice_id_of(data)
    notice = session.get(Notice, notice_id) if notice_id is not None else None
    message = callback.get("message") or {}
    chat_id = str((message.get("chat") or {}).get("id"))
    link = (
        session.scalar(
            select(ChatLink).where(
                ChatLink.user_id == notice.recipient_user_id, ChatLink.channel == "telegram", ChatLink.state == "active"
            )
        )
        if notice is not None and notice.recipient_user_id is not None
        else None
    )
    user = notice.recipient if notice is not None else None
    with force_locale(_language(user)):
        if (
            notice is None
            or link is None
            or link.address != chat_id
            or str((callback.get("from") or {}).get("id")) != chat_id
            or not telegram.ack_data_valid(data, notice)
            or notice.kind != "deadline"
        ):
            answer.update(text=_("This button is no longer valid."), show_alert=True)
            return [telegram.Call("answerCallbackQuery", answer)]
        acknowledgement.acknowledge(session=session, notice_id=notice.id, actor=None, now=now, via="telegram")
        assert user is not None  # nosec B101  # the link above is the recipient's
        when = format_local(notice.acknowledged_at, user.timezone, "HH:mm")
        answer["text"] = _("Acknowledged. Thank you.")
        calls = [telegram.Call("answerCallbackQuery", answer)]
        if message.get("message_id") is not None:
            who = notice.acknowledged_by.name if notice.acknowledged_by is not None else user.name
            calls.append(
                telegram.Call(
                    "editMessageText",
                    {
                        "chat_id": chat_id,
                        "message_id": message["message_id"],
                        "text": telegram.acknowledged_text(
                            str(message.get("text") or ""), who=who, when=when, language=_language(user)
                        ),
                    },
                )
            )
        return calls


# --- WhatsApp ---------------------------------------------------------------------------------


@bp.route("/hooks/whatsapp", methods=["GET"])
def whatsapp_verify() -> Any:
    """The subscription handshake: echo hub.challenge when hub.verify_token is ours."""
    expected = current_app.config.get("WHATSAPP_VERIFY_TOKEN")
    given = request.args.get("hub.verify_token", "")
    if (
        request.args.get("hub.mode") != "subscribe"
        or not expected
        or not hmac.compare_digest(given.encode(), str(expected).encode())
    ):
        return _forbidden()
    return Response(request.args.get("hub.challenge", ""), mimetype="text/plain")


@bp.route("/hooks/whatsapp", methods=["POST"])
@csrf.exempt  # authenticated by X-Hub-Signature-256 over the raw body
def whatsapp_hook() -> Any:
    raw = request.get_data(cache=True)
    if not whatsapp.signature_valid(raw, request.headers.get(whatsapp.SIGNATURE_HEADER)):
        return _forbidden()
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        whatsapp_update(body, now=clock.now())
        db.session.commit()
    return jsonify(ok=True)


def whatsapp_update(body: dict[str, Any], *, now: datetime) -> None:
    for entry in body.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            for status in value.get("statuses") or []:
                if isinstance(status, dict):
                    _whatsapp_status(status, now)
            for message in value.get("messages") or []:
                if isinstance(message, dict) and message.get("type") == "button":
                    _whatsapp_tap(message, now)


def _whatsapp_notice(data: str, prefix: str, expected: Any) -> Notice | None:
    notice_id = whatsapp.notice_id_of(data, prefix)
    notice = db.session.get(Notice, notice_id) if notice_id is not None else None
    if notice is None or notice.channel != "whatsapp" or not hmac.compare_digest(data, expected(notice)):
        return None
    return notice


def _whatsapp_status(status: dict[str, Any], now: datetime) -> None:
    notice = _whatsapp_notice(str(status.get("biz_opaque_callback_data") or ""), "notice", whatsapp.callback_data)
    name = str(status.get("status") or "")
    if notice is None or name not in (*REMOTE_ORDER, "failed"):
        return
    db.session.refresh(notice, with_for_update=True)
    try:
        at = datetime.fromtimestamp(int(status.get("timestamp")), UTC)
    except (TypeError, ValueError):
        at = now
    if name == "failed":
        notice.remote_status, notice.remote_status_at = "failed", at
        if notice.status == "sent":  # accepted, then not delivered: the person has not been told
            error = (status.get("errors") or [{}])[0] or {}
            code = int(error.get("code") or 0)
            words = whatsapp.error_words(
                code,
                str(error.get("title") or error.get("message") or ""),
                str((error.get("error_data") or {}).get("details") or ""),
            )
            notice.last_error = words
            delivery.give_up(
                db.session, notice, PermanentDeliveryError(words, broken_link=code in whatsapp.NOT_ON_WHATSAPP), now
            )
        return
    # Callbacks can arrive out of order: a late "delivered" never hides "read".
    if notice.remote_status == "failed" or REMOTE_ORDER.get(notice.remote_status or "", 0) >= REMOTE_ORDER[name]:
        return
    notice.remote_status, notice.remote_status_at = name, at


def _whatsapp_tap(message: dict[str, Any], now: datetime) -> None:
    payload = str((message.get("button") or {}).get("payload") or "")
    notice = _whatsapp_notice(payload, "ack", whatsapp.ack_payload)
    if notice is None or notice.kind != "deadline" or notice.recipient_user_id is None:
        return
    link = db.session.scalar(
        select(ChatLink).where(
            ChatLink.user_id == notice.recipient_user_id, ChatLink.channel == "whatsapp", ChatLink.state == "active"
        )
    )
    if link is None or link.address.lstrip("+") != str(message.get("from") or ""):
        return  # only the person it was sent to acknowledges with it
    acknowledgement.acknowledge(session=db.session, notice_id=notice.id, actor=None, now=now, via="whatsapp")
