"""Notice channels: small classes in a registry keyed by name (STYLE.md §5). A new channel
(Telegram, WhatsApp Business) is one class with `@register` and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from typing import Any, ClassVar

from flask import current_app

from crisis import mail
from crisis.i18n import lazy_gettext as _l
from crisis.notify.models import Notice
from crisis.notify.render import render
from crisis.notify.words import EMAIL_NOT_SET_UP

SIGNATURE_HEADER = "X-Crisis-Signature"


class DeliveryError(Exception):
    """The channel could not deliver; the notice is retried with backoff, then marked failed.
    `retry_after`: seconds the receiver asked us to wait (HTTP 429), at least that before the next try."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (the bot was blocked, the number is not on WhatsApp, the template is
    not approved): the notice fails at once, with the reason in words, and falls back to the
    person's next channel. `broken_link`: the person's link on this channel no longer works."""

    def __init__(self, message: str, *, broken_link: bool = False) -> None:
        super().__init__(message)
        self.broken_link = broken_link


class Channel:
    name: ClassVar[str]
    label: ClassVar[Any]
    # Chosen per person (e-mail, in-app); otherwise configured per unit (webhooks).
    personal: ClassVar[bool] = True
    # Delivered by being written (the in-app inbox): no task, no retry.
    immediate: ClassVar[bool] = False
    # Reaches a person away from the app (e-mail, chat), in the order the person chose; the first that
    # works is used and a notice that cannot be delivered falls back to the next.
    reaching: ClassVar[bool] = False
    # Needs a link made by the person (a Telegram chat, a WhatsApp number): not a checkbox.
    linked: ClassVar[bool] = False
    # Quiet hours hold it back for severity 1-2 (a phone that buzzes at night).
    pushes: ClassVar[bool] = False
    # Place in the default order of reaching channels (lowest first), whatever order modules load in.
    rank: ClassVar[int] = 50

    def configured(self) -> bool:
        """Whether this deployment set the channel up (tokens given)."""
        return True

    def not_set_up(self) -> str | None:
        """Why this installation cannot use the channel at all (a reason code, kept on the notice,
        which is then not sent and not retried), or None when it can."""
        return None

    def prepare(self, notice: Notice) -> Any:
        """Everything short of sending (rendering, signing); raises DeliveryError when it cannot be sent."""
        return None

    def transmit(self, prepared: Any) -> None:
        """Hand the prepared message to the receiver; returns once it was accepted. Reads nothing
        from the database: it may run after the notice's row was already marked sent."""
        raise NotImplementedError

    def send(self, notice: Notice) -> None:
        self.transmit(self.prepare(notice))


CHANNELS: dict[str, Channel] = {}


def register(cls: type[Channel]) -> type[Channel]:
    CHANNELS[cls.name] = cls()
    return cls


def personal_channel_names() -> list[str]:
    """Channels a person turns on or off with a checkbox (e-mail, in-app); chat channels are linked instead."""
    return [name for name, channel in CHANNELS.items() if channel.personal and not channel.linked]


def reaching_channel_names() -> list[str]:
    """Channels that reach a person away from the app, in the default order (chat first, e-mail last)."""
    return sorted((name for name, channel in CHANNELS.items() if channel.reaching), key=lambda n: CHANNELS[n].rank)


def call_json(
    url: str, body: dict[str, Any] | None, *, headers: dict[str, str], timeout: float
) -> tuple[int, Any, Any]:
    """POST (or GET without a body) JSON to a chat API: (HTTP status, decoded answer or None, headers).
    Only transport failures raise (DeliveryError); an HTTP error status is returned for the caller to read."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(  # noqa: S310  configured https base URL (a loopback one in tests)
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json", "User-Agent": "crisis-notices/1", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            status, raw, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, answer_headers = error.code, error.read(), error.headers
    except (OSError, ValueError) as error:  # refused, reset, timed out, DNS
        raise DeliveryError(f"{type(error).__name__}: {error}") from error
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    return status, answer, answer_headers


NOTICE_MAIL = mail.Form(headers=("X-Crisis-Notice", "X-Crisis-Idempotency-Key", "Content-Language"))


@register
class EmailChannel(Channel):
    name = "email"
    label = _l("E-mail")
    reaching = True
    rank = 90

    def not_set_up(self) -> str | None:
        # No CRISIS_SMTP_HOST (the embedded default): nothing to send through, so nothing to retry.
        return None if current_app.config.get("SMTP_HOST") else EMAIL_NOT_SET_UP

    def prepare(self, notice: Notice) -> mail.Envelope:
        """The message as sent: plain text with its HTML alternative, in the recipient's language."""
        if notice.recipient is None:
            raise DeliveryError("an e-mail notice needs a recipient")
        rendered = render(notice)
        return NOTICE_MAIL.fill(
            to=(notice.recipient.name, notice.recipient.email),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=message_id(notice),
            headers={
                "X-Crisis-Notice": str(notice.id),
                "X-Crisis-Idempotency-Key": notice.idempotency_key,
                "Content-Language": rendered.language,
            },
        )

    def transmit(self, prepared: mail.Envelope) -> None:
        mail.transmit(prepared, keep_open=True)


def message_id(notice: Notice) -> str:
    """Stable per notice: a resend after a crash carries the same Message-ID, so receivers de-duplicate."""
    digest = hashlib.sha256(notice.idempotency_key.encode()).hexdigest()[:20]
    return mail.new_message_id(f"crisis.notice.{notice.id}.{digest}")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@register
class WebhookChannel(Channel):
    name = "webhook"
    label = _l("Webhook")
    personal = False

    def document(self, notice: Notice) -> dict[str, Any]:
        rendered = render(notice)
        payload = notice.payload or {}
        incident = notice.incident
        return {
            "type": f"crisis.{notice.kind}",
            "notice_id": notice.id,
            "idempotency_key": notice.idempotency_key,
            "kind": payload.get("kind"),
            "subject": rendered.subject,
            "text": rendered.text,
            "language": rendered.language,
            "incident": {
                "id": incident.id,
                "reference": incident.reference,
                "title": incident.title,
                "severity": incident.severity,
                "unit": incident.unit.code,
                "url": rendered.context["incident_url"],
            },
            "stage": payload.get("stage_key"),
            "step_index": payload.get("step_index"),
            "repeat_index": payload.get("repeat_index"),
            "unit": payload.get("unit_code"),
            "recipients": payload.get("recipients", []),
            "due_at": notice.due_at.isoformat(),
            "ack_url": rendered.context["ack_url"],
        }

    def prepare(self, notice: Notice) -> urllib.request.Request:
        hook = notice.webhook
        if hook is None or not hook.active:
            raise DeliveryError("the webhook endpoint was removed or disabled")
        body = json.dumps(self.document(notice), ensure_ascii=False, sort_keys=True).encode()
        return urllib.request.Request(  # noqa: S310  the URL was validated as http(s) when configured
            hook.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "crisis-notices/1",
                SIGNATURE_HEADER: sign(hook.secret, body),
                "X-Crisis-Notice-Id": str(notice.id),
                "Idempotency-Key": notice.idempotency_key,
            },
        )

    def transmit(self, prepared: urllib.request.Request) -> None:
        request = prepared
        timeout = float(current_app.config["WEBHOOK_TIMEOUT"])
        try:
            # The scheme is http(s): checked when the endpoint is configured (notify.service.create_webhook).
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"HTTP {response.status}")
        except urllib.error.HTTPError as error:
            raise DeliveryError(f"HTTP {error.code}") from error


@register
class InAppChannel(Channel):
    name = "inapp"
    label = _l("In-app inbox")
    immediate = True

    def transmit(self, prepared: Any) -> None:
        return None  # the row is the message: it is in the inbox once committed


# Chat channels register themselves the same way, in their own modules.
from crisis.notify import telegram as _telegram  # noqa: E402, F401
from crisis.notify import whatsapp as _whatsapp  # noqa: E402, F401
