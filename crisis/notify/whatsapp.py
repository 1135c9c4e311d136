"""WhatsApp notices through the Cloud API (Graph API `/<phone number id>/messages`), over plain HTTP.

A notice is an approved template message with a quick-reply button "Konfirmasi terima" whose payload
names the notice (with a MAC); a tap comes back to `POST /hooks/whatsapp` as a message of type
`button`, and acknowledges through the same `acknowledge` as the e-mail link and the inbox. Templates
are used always, inside the 24-hour service window as well as outside it, so one approved text is what
every person reads. `biz_opaque_callback_data` carries the notice in every status callback (sent,
delivered, read, failed), so nothing has to be written after the send: delivery claims the notice
before it calls the API, as every channel does."""

from __future__ import annotations

import hashlib
import hmac
import re
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

NAME = "whatsapp"
E164_INDONESIA = re.compile(r"^\+62[1-9][0-9]{7,12}$")
SIGNATURE_HEADER = "X-Hub-Signature-256"

# Cloud API error codes by what they mean for a notice (developers.facebook.com, "WhatsApp error codes").
RATE_LIMITED = {4, 80007, 130429, 131048, 131056}  # throughput, spam rate, pair rate: wait and retry
TEMPORARY = {1, 2, 131000, 131016}  # unknown, service unavailable: retry
NOT_ON_WHATSAPP = {131026, 131030, 131021}  # undeliverable, not in allowed list, sender = recipient
TEMPLATE_PROBLEMS = {132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018}


def configured() -> bool:
    config = current_app.config
    return bool(config.get("WHATSAPP_TOKEN") and config.get("WHATSAPP_PHONE_NUMBER_ID"))


def _mac(text: str, length: int = 16) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:length]


def signature_valid(raw_body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256: "sha256=" and the HMAC-SHA256 of the raw body with the app secret."""
    secret = current_app.config.get("WHATSAPP_APP_SECRET")
    if not secret or not header:
        return False
    expected = "sha256=" + hmac.new(str(secret).encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip())


def normalise_number(raw: str) -> str:
    """+62... in E.164, spaces and dashes dropped; ValueError with the reason otherwise."""
    number = re.sub(r"[\s\-().]", "", raw or "")
    if not E164_INDONESIA.match(number):
        raise ValueError(str(_l("Give an Indonesian mobile number in international form, e.g. +6281234567890.")))
    return number


def ack_payload(notice: Notice) -> str:
    return f"ack:{notice.id}:{_mac(f'wa-ack:{notice.id}:{notice.idempotency_key}')}"


def callback_data(notice: Notice) -> str:
    return f"notice:{notice.id}:{_mac(f'wa-status:{notice.id}:{notice.idempotency_key}')}"


def notice_id_of(data: str, prefix: str) -> int | None:
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != prefix or not parts[1].isdigit():
        return None
    return int(parts[1])


# --- the API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    body: dict[str, Any]


def error_words(code: int, message: str, details: str) -> str:
    if code in NOT_ON_WHATSAPP:
        return str(
            _l(
                "WhatsApp could not deliver to this number: it is not on WhatsApp "
                "or cannot receive messages (%(details)s).",
                details=details or message,
            )
        )
    if code in TEMPLATE_PROBLEMS:
        return str(
            _l(
                "WhatsApp refused the message template: it is missing, not approved or paused (%(details)s).",
                details=details or message,
            )
        )
    return str(_l("WhatsApp refused the message (%(details)s).", details=details or message))


def api(body: dict[str, Any]) -> dict[str, Any]:
    """POST a message; the answer on success. Errors by their meaning: rate limits and 5xx are retried
    with backoff (honouring Retry-After); a number not on WhatsApp or an unusable template fails at once."""
    config = current_app.config
    url = f"{config['WHATSAPP_API_URL'].rstrip('/')}/{config['WHATSAPP_PHONE_NUMBER_ID']}/messages"
    status, answer, headers = call_json(
        url,
        body,
        headers={"Authorization": f"Bearer {config['WHATSAPP_TOKEN']}"},
        timeout=float(config["CHAT_API_TIMEOUT"]),
    )
    answer = answer if isinstance(answer, dict) else {}
    if 200 <= status < 300 and answer.get("messages"):
        return answer
    error = answer.get("error") or {}
    code = int(error.get("code") or 0)
    message = str(error.get("message") or f"HTTP {status}")
    details = str((error.get("error_data") or {}).get("details") or "")
    if status == 429 or code in RATE_LIMITED:
        retry_after = headers.get("Retry-After") if headers is not None else None
        raise DeliveryError(
            f"WhatsApp {code or status}: {message}",
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    if status >= 500 or code in TEMPORARY or status in (401, 403):
        # An expired token (190, 401) or a server error: retried, and surfaced if it lasts.
        raise DeliveryError(f"WhatsApp {code or status}: {message}")
    raise PermanentDeliveryError(error_words(code, message, details), broken_link=code in NOT_ON_WHATSAPP)


def _param(text: str) -> dict[str, str]:
    # Template parameters may hold no newline or tab, nor more than four spaces in a row (132018).
    return {"type": "text", "text": re.sub(r"\s+", " ", str(text)).strip()[:1000] or "—"}


def _language_code(language: str) -> str:
    return "id" if language == "id" else "en"


def code_message(number: str, code: str, language: str) -> dict[str, Any]:
    """The verification code, in the approved authentication template (body and copy-code button)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": number.lstrip("+"),
        "type": "template",
        "template": {
            "name": current_app.config["WHATSAPP_CODE_TEMPLATE"],
            "language": {"code": _language_code(language)},
            "components": [
                {"type": "body", "parameters": [_param(code)]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [_param(code)]},
            ],
        },
    }


def notice_parameters(notice: Notice, *, now: datetime | None = None) -> tuple[list[str], str]:
    """The notice template's six body parameters in the recipient's language and zone, and that language."""
    rendered = render(notice)
    context = rendered.context
    payload = notice.payload or {}
    with force_locale(rendered.language):
        timing = rendered.subject.split(" · ")[-1]
        due = payload.get("stage_due_at")
        if due:
            late = (now or clock.now()) - datetime.fromisoformat(due)
            if late >= timedelta(minutes=1):
                timing = _(
                    "due %(due)s, late by %(late)s",
                    due=context["stage_due_local"],
                    late=format_duration_words(late, rendered.language),
                )
            else:
                timing = _("due %(due)s", due=context["stage_due_local"])
        title = f"{context['reference']} {context['incident'].title}"
        if context["exercise"] and not title.startswith(context["exercise_mark"]):
            title = f"{context['exercise_mark']} {title}"  # a drill's message says so first
        return [
            str(context["severity"]),
            str(context["unit_code"]),
            title,
            context["inject_text"] or context["stage_title"] or "—",
            timing,
            context["incident_url"],
        ], rendered.language


@register
class WhatsAppChannel(Channel):
    name = NAME
    label = _l("WhatsApp")
    reaching = True
    linked = True
    pushes = True
    rank = 20

    def configured(self) -> bool:
        return configured()

    def prepare(self, notice: Notice) -> Call:
        if not configured():
            raise DeliveryError("WhatsApp is not configured (CRISIS_WHATSAPP_TOKEN, CRISIS_WHATSAPP_PHONE_NUMBER_ID)")
        session = object_session(notice)
        link = (
            session.scalar(
                select(ChatLink).where(
                    ChatLink.user_id == notice.recipient_user_id, ChatLink.channel == NAME, ChatLink.state == "active"
                )
            )
            if session is not None and notice.recipient_user_id is not None
            else None
        )
        if link is None:
            raise PermanentDeliveryError(str(_l("The person has no verified WhatsApp number.")))
        parameters, language = notice_parameters(notice)
        components: list[dict[str, Any]] = [{"type": "body", "parameters": [_param(p) for p in parameters]}]
        if notice.kind == "deadline":
            components.append(
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": ack_payload(notice)}],
                }
            )
        return Call(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": link.address.lstrip("+"),
                "type": "template",
                "biz_opaque_callback_data": callback_data(notice),
                "template": {
                    "name": current_app.config["WHATSAPP_NOTICE_TEMPLATE"],
                    "language": {"code": _language_code(language)},
                    "components": components,
                },
            }
        )

    def transmit(self, prepared: Call) -> None:
        api(prepared.body)
