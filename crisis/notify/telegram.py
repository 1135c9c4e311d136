"""Telegram notices through the Bot API, over plain HTTP (crisis.notify.channels.call_json).

A notice is one `sendMessage` to the person's linked chat with an inline button "Konfirmasi terima";
the button's callback comes back to `POST /hooks/telegram` (crisis.escalation.chat_views), which
acknowledges through the same `acknowledge` as the e-mail link and the inbox. The Bot API has no
idempotency key: delivery claims the notice (marks it sent in the open transaction) before it calls
sendMessage, exactly as the e-mail channel does, so a retry never follows an accepted message
except after a crash in the one round trip between Telegram's answer and our commit."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import object_session

from crisis import clock
from crisis.i18n import _
from crisis.i18n import lazy_gettext as _l
from crisis.notify.channels import Channel, DeliveryError, PermanentDeliveryError, call_json, register
from crisis.notify.models import ChatLink, Notice
from crisis.notify.render import render
from crisis.playbooks.spec import format_duration_words

NAME = "telegram"
ACK_PREFIX = "ack"


def configured() -> bool:
    return bool(current_app.config.get("TELEGRAM_BOT_TOKEN"))


def _secret() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


def _mac(text: str, length: int = 20) -> str:
    return hmac.new(_secret(), text.encode(), hashlib.sha256).hexdigest()[:length]


# --- the API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One Bot API method call, prepared."""

    method: str
    body: dict[str, Any]


def api(method: str, body: dict[str, Any]) -> Any:
    """Call a Bot API method; its `result` on success. Errors by their meaning: 429 and 5xx (and an
    unreachable API) are retried with backoff, honouring `retry_after`; the bot blocked or the chat gone
    (403, 400 "chat not found") fail at once and break the person's link; other 400s fail at once."""
    config = current_app.config
    url = f"{config['TELEGRAM_API_URL'].rstrip('/')}/bot{config['TELEGRAM_BOT_TOKEN']}/{method}"
    status, answer, _headers = call_json(url, body, headers={}, timeout=float(config["CHAT_API_TIMEOUT"]))
    answer = answer if isinstance(answer, dict) else {}
    if 200 <= status < 300 and answer.get("ok"):
        return answer.get("result")
    description = str(answer.get("description") or f"HTTP {status}")
    code = int(answer.get("error_code") or status)
    if code == 429:
        retry_after = (answer.get("parameters") or {}).get("retry_after")
        raise DeliveryError(f"Telegram: {description}", retry_after=float(retry_after) if retry_after else None)
    if code == 403:
        # "Forbidden: bot was blocked by the user", "... user is deactivated", "... bot was kicked ..."
        raise PermanentDeliveryError(
            str(_l("Telegram refused: the person blocked the bot or left the chat (%(reason)s).", reason=description)),
            broken_link=True,
        )
    if code == 400 and "chat not found" in description.lower():
        raise PermanentDeliveryError(
            str(_l("Telegram refused: the chat no longer exists (%(reason)s).", reason=description)), broken_link=True
        )
    if code == 400:
        raise PermanentDeliveryError(str(_l("Telegram refused the message (%(reason)s).", reason=description)))
    raise DeliveryError(f"Telegram: {description}")


# --- signed short tokens: the /start link and the button's callback_data (64 bytes at most) ---------


def link_token(*, kind: str, subject_id: int, now: datetime | None = None) -> str:
    """The /start payload that links a chat: `u<user id>` (a person) or `g<unit id>` (a unit's group),
    the time it was made, and a MAC. Telegram allows 64 characters of A-Z, a-z, 0-9, _ and -."""
    moment = int((now or clock.now()).timestamp())
    body = f"{kind}{subject_id}_{moment:x}"
    return f"{body}_{_mac('tg-link:' + body)}"


def read_link_token(token: str, *, now: datetime | None = None) -> tuple[str, int] | None:
    """(kind, subject id) of a valid, unexpired token; None otherwise."""
    parts = token.strip().split("_")
    if len(parts) != 3 or parts[0][:1] not in ("u", "g"):
        return None
    body = f"{parts[0]}_{parts[1]}"
    if not hmac.compare_digest(parts[2], _mac("tg-link:" + body)):
        return None
    try:
        subject_id, made = int(parts[0][1:]), int(parts[1], 16)
    except ValueError:
        return None
    age = (now or clock.now()).timestamp() - made
    if not 0 <= age <= float(current_app.config["TELEGRAM_LINK_MAX_AGE_SECONDS"]):
        return None
    return parts[0][0], subject_id


def start_url(token: str, *, group: bool = False) -> str:
    """The t.me link that opens the bot (or adds it to a group) with the token."""
    username = current_app.config.get("TELEGRAM_BOT_USERNAME") or ""
    return f"https://t.me/{username.lstrip('@')}?{'startgroup' if group else 'start'}={token}"


def ack_data(notice: Notice) -> str:
    """The button's callback_data: the notice and a MAC bound to its idempotency key."""
    return f"{ACK_PREFIX}:{notice.id}:{_mac(f'tg-ack:{notice.id}:{notice.idempotency_key}', 16)}"


def notice_id_of(data: str) -> int | None:
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != ACK_PREFIX or not parts[1].isdigit():
        return None
    return int(parts[1])


def ack_data_valid(data: str, notice: Notice) -> bool:
    return hmac.compare_digest(data, ack_data(notice))


# --- the message -------------------------------------------------------------------------------


def notice_text(notice: Notice, *, now: datetime | None = None) -> tuple[str, str]:
    """(text, button label) in the recipient's language and zone: severity, unit, incident number and
    title, stage, how late, and the link to the incident."""
    rendered = render(notice)
    context = rendered.context
    with force_locale(rendered.language):
        lines = [
            _("Severity %(severity)s · %(unit)s", severity=context["severity"], unit=context["unit_code"]),
            f"{context['reference']} {context['incident'].title}",
        ]
        if context["exercise"]:  # first line of a drill's message: it is an exercise
            lines.insert(0, f"{context['exercise_mark']} " + _("This is an exercise, not a real incident."))
        if context["inject_text"]:
            lines.append(context["inject_text"])
        if context["stage_title"]:
            lines.append(_("Stage: %(stage)s", stage=context["stage_title"]))
        payload = notice.payload or {}
        due = payload.get("stage_due_at")
        moment = now or clock.now()
        if due:
            late = moment - datetime.fromisoformat(due)
            if late >= timedelta(minutes=1):
                lines.append(
                    _(
                        "Due %(due)s, late by %(late)s",
                        due=context["stage_due_local"],
                        late=format_duration_words(late, rendered.language),
                    )
                )
            else:
                lines.append(_("Due %(due)s", due=context["stage_due_local"]))
        about = rendered.subject.split(" · ")[-1]
        if about and about not in lines[1] and about != context["stage_title"] and not context["inject_text"]:
            lines.append(about)
        lines.append(_("Open the incident: %(url)s", url=context["incident_url"]))
        button = _("Acknowledge")
    return "\n".join(lines), button


def acknowledged_text(text: str, *, who: str, when: str, language: str) -> str:
    with force_locale(language):
        return f"{text}\n\n✅ " + _("Acknowledged by %(who)s at %(when)s", who=who, when=when)


@register
class TelegramChannel(Channel):
    name = NAME
    label = _l("Telegram")
    reaching = True
    linked = True
    pushes = True
    rank = 10

    def configured(self) -> bool:
        return configured()

    def prepare(self, notice: Notice) -> Call:
        if not configured():
            raise DeliveryError("Telegram is not configured (CRISIS_TELEGRAM_BOT_TOKEN)")
        payload = notice.payload or {}
        if notice.recipient is None:
            chat_id = payload.get("chat_id")  # a unit's group (key messages)
            if not chat_id:
                raise PermanentDeliveryError(str(_l("This Telegram message has no chat to go to.")))
            return Call("sendMessage", {"chat_id": chat_id, "text": payload.get("text", "")})
        link = next(
            (link for link in _links(notice) if link.channel == NAME and link.state == "active"),
            None,
        )
        if link is None:
            raise PermanentDeliveryError(str(_l("The person has no working Telegram link.")))
        text, button = notice_text(notice)
        body: dict[str, Any] = {"chat_id": link.address, "text": text, "link_preview_options": {"is_disabled": True}}
        if notice.kind == "deadline":
            body["reply_markup"] = {"inline_keyboard": [[{"text": button, "callback_data": ack_data(notice)}]]}
        return Call("sendMessage", body)

    def transmit(self, prepared: Call) -> None:
        api(prepared.method, prepared.body)


def _links(notice: Notice) -> list[ChatLink]:
    session = object_session(notice)
    if session is None or notice.recipient_user_id is None:
        return []
    return list(session.scalars(select(ChatLink).where(ChatLink.user_id == notice.recipient_user_id)))
