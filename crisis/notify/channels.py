"""Notice channels: small classes in a registry keyed by name (STYLE.md §5). A new channel
(Telegram, WhatsApp Business) is one class with `@register` and nothing else."""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import json
import os
import smtplib
import threading
import urllib.error
import urllib.request
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, ClassVar

from flask import current_app

from crisis import clock
from crisis.i18n import lazy_gettext as _l
from crisis.notify.models import Notice
from crisis.notify.render import message_id, render

SIGNATURE_HEADER = "X-Crisis-Signature"


class DeliveryError(Exception):
    """The channel could not deliver; the notice is retried with backoff, then marked failed."""


class Channel:
    name: ClassVar[str]
    label: ClassVar[Any]
    # Chosen per person (e-mail, in-app); otherwise configured per unit (webhooks).
    personal: ClassVar[bool] = True
    # Delivered by being written (the in-app inbox): no task, no retry.
    immediate: ClassVar[bool] = False

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
    return [name for name, channel in CHANNELS.items() if channel.personal]


@register
class EmailChannel(Channel):
    name = "email"
    label = _l("E-mail")

    def build(self, notice: Notice) -> bytes:
        """The message as sent: multipart/alternative, plain text then HTML, both UTF-8 in base64.

        Written out directly rather than through email.mime (whose header folding and generator
        cost a millisecond or more per message, on the path of every deadline)."""
        rendered = render(notice)
        config = current_app.config
        boundary = "=_crisis_" + hashlib.sha256(notice.idempotency_key.encode()).hexdigest()[:24]
        headers = [
            ("Subject", encode_header(rendered.subject)),
            ("From", _address_header(config["MAIL_SENDER"])),
            ("To", formataddr((" ".join(notice.recipient.name.splitlines()), notice.recipient.email), charset="utf-8")),
            ("Date", format_datetime(clock.now())),
            ("Message-ID", message_id(notice)),
            ("Auto-Submitted", "auto-generated"),
            ("X-Crisis-Notice", str(notice.id)),
            ("X-Crisis-Idempotency-Key", notice.idempotency_key),
            ("Content-Language", rendered.language),
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ]
        lines = [f"{name}: {value}" for name, value in headers]
        for subtype, body in (("plain", rendered.text), ("html", rendered.html)):
            lines += [
                "", f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"',
                "Content-Transfer-Encoding: base64", "",
                base64.encodebytes(body.encode("utf-8")).decode("ascii").rstrip("\n").replace("\n", "\r\n"),
            ]
        lines += ["", f"--{boundary}--", ""]
        return "\r\n".join(lines).encode("ascii")

    def prepare(self, notice: Notice) -> tuple[str, bytes]:
        if notice.recipient is None:
            raise DeliveryError("an e-mail notice needs a recipient")
        return notice.recipient.email, self.build(notice)

    def transmit(self, prepared: tuple[str, bytes]) -> None:
        recipient, body = prepared
        config = current_app.config
        sender = parseaddr(config["MAIL_SENDER"])[1]
        with _smtp_lock:
            smtp = _smtp_connection(config)
            try:
                smtp.sendmail(sender, [recipient], body)
            except smtplib.SMTPServerDisconnected:
                # An idle cached connection the server closed: one fresh connection, once.
                _drop_smtp()
                _smtp_connection(config).sendmail(sender, [recipient], body)
            except Exception:
                _drop_smtp()
                raise


def encode_header(value: str) -> str:
    """RFC 2047: ASCII as it is; anything else as UTF-8 base64 encoded-words of at most 75 characters,
    split between characters, one per folded line. Line breaks in the value become spaces (no header
    injection through a title or a name)."""
    value = " ".join(value.splitlines())
    if value.isascii() and len(value) <= 900:
        return value
    words: list[str] = []
    current = ""
    for char in value:
        if len((current + char).encode("utf-8")) > 45:  # 45 bytes -> 60 base64 characters + 12 of framing
            words.append(current)
            current = char
        else:
            current += char
    words.append(current)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word.encode('utf-8')).decode('ascii')}?=" for word in words)


def _address_header(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


# One SMTP connection per process, reused across deliveries (a worker sends many notices).
_smtp_lock = threading.Lock()
_smtp: dict[str, Any] = {}


def open_smtp(config: Any) -> None:
    """Open the process's SMTP connection ahead of the first notice (a worker's warm-up)."""
    with _smtp_lock:
        _smtp_connection(config)


def _smtp_connection(config: Any) -> smtplib.SMTP:
    key = (config["SMTP_HOST"], int(config["SMTP_PORT"]), config.get("SMTP_USERNAME"), os.getpid())
    if _smtp.get("key") == key and _smtp.get("conn") is not None:
        return _smtp["conn"]
    _drop_smtp()
    smtp_cls = smtplib.SMTP_SSL if config["SMTP_SSL"] else smtplib.SMTP
    conn = smtp_cls(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=float(config["SMTP_TIMEOUT"]))
    try:
        if config["SMTP_STARTTLS"] and not config["SMTP_SSL"]:
            conn.starttls()
        if config.get("SMTP_USERNAME"):
            conn.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
    except Exception:
        with contextlib.suppress(Exception):
            conn.close()
        raise
    _smtp.update(key=key, conn=conn)
    return conn


def _drop_smtp() -> None:
    conn = _smtp.pop("conn", None)
    _smtp.pop("key", None)
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


atexit.register(_drop_smtp)  # a process that ends closes its cached connection (no dangling socket)


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
