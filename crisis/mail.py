"""Outgoing e-mail, notices and reports alike: one way to build a message (the standard library's
EmailMessage, which encodes headers and MIME itself) and one way to send it over SMTP with the
app's SMTP_* settings."""

from __future__ import annotations

import atexit
import contextlib
import email.policy
import os
import secrets
import smtplib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from flask import current_app

from crisis import clock


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, except that each header's class is made once, not once per header."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(key)
        return made


# CRLF line ends, lines of at most 78 characters, RFC 2047 encoded words for non-ASCII headers.
POLICY = email.policy.SMTP.clone(header_factory=_HeaderClasses())


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "application/pdf"
    data: bytes


@dataclass(frozen=True)
class Envelope:
    """A message as it goes over the wire: SMTP sender, recipients, and the serialised message."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


def one_line(value: str) -> str:
    """Line breaks become spaces: no header injection through a title or a name."""
    return " ".join(value.splitlines())


def sender_domain() -> str:
    return parseaddr(current_app.config["MAIL_SENDER"])[1].rpartition("@")[2] or "localhost"


def new_message_id(local_part: str | None = None) -> str:
    """A Message-ID in the sender's domain. Give a stable `local_part` where a resend must carry the
    same id (receivers de-duplicate on it); without one, it is made unique from the clock."""
    if local_part is None:
        local_part = f"crisis.{clock.now():%Y%m%d%H%M%S}.{secrets.token_hex(8)}"
    return f"<{local_part}@{sender_domain()}>"


def _address(recipient: str | tuple[str, str]) -> Address:
    if isinstance(recipient, tuple):
        name, address = recipient
        return Address(display_name=one_line(name), addr_spec=address)
    return Address(addr_spec=recipient)


def compose(
    *,
    to: Iterable[str | tuple[str, str]],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """One message from the configured sender: plain text, with `html` as its alternative, then any
    attachments. `to` holds addresses or (name, address) pairs. Dated by the app's clock."""
    message = EmailMessage(policy=POLICY)
    _set_text(message, "Subject", subject)
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = [_address(recipient) for recipient in to]
    message["Date"] = clock.now()
    message["Message-ID"] = message_id or new_message_id()
    message["Auto-Submitted"] = "auto-generated"
    # Bodies in base64 (7-bit safe, whatever the language), and boundaries given rather than searched for:
    # a boundary with "_" in it cannot occur in base64 text.
    message.set_content(text, cte="base64")
    if html is not None:
        message.make_alternative(boundary=_boundary())
        message.add_alternative(html, subtype="html", cte="base64")
    attachments = list(attachments)
    if attachments:
        message.make_mixed(boundary=_boundary())
    for attachment in attachments:
        maintype, _sep, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    for name, value in (headers or {}).items():  # after the body, which clears and moves Content-* headers
        _set_text(message, name, value)
    return message


def _set_text(message: EmailMessage, name: str, value: str) -> None:
    value = one_line(value)
    if value.isascii():
        message[name] = value
        return
    # Encoded words made by email.header, not by the policy's folding, which drops the space between two
    # encoded words on Python 3.11 and, on 3.12.5 to 3.13, writes some that servers reject (CPython
    # gh-92081, gh-144156).
    message.set_raw(name, Header(value, "utf-8", header_name=name).encode(linesep=POLICY.linesep))


def _boundary() -> str:
    return f"=_crisis_{secrets.token_hex(12)}"


def envelope(message: EmailMessage) -> Envelope:
    """Serialise a composed message: what `transmit` sends, with nothing left to compute."""
    recipients = tuple(
        address.addr_spec for name in ("To", "Cc") if message[name] is not None for address in message[name].addresses
    )
    return Envelope(sender=message["From"].addresses[0].addr_spec, recipients=recipients, data=message.as_bytes())


def send(message: EmailMessage, *, keep_open: bool = False) -> None:
    transmit(envelope(message), keep_open=keep_open)


def transmit(mail: Envelope, *, keep_open: bool = True) -> None:
    """Hand a message to the SMTP server; returns once the server accepted it. With `keep_open`,
    through the process's one kept connection (a worker sends many notices); otherwise through a
    connection of its own, closed afterwards (a monthly report never waits behind a notice)."""
    config = current_app.config
    if not keep_open:
        with contextlib.closing(_open(config)) as smtp:
            smtp.sendmail(mail.sender, list(mail.recipients), mail.data)
        return
    with _kept_lock:
        smtp = _kept_connection(config)
        try:
            smtp.sendmail(mail.sender, list(mail.recipients), mail.data)
        except smtplib.SMTPServerDisconnected:
            # An idle kept connection the server closed: one fresh connection, once.
            _drop_kept()
            _kept_connection(config).sendmail(mail.sender, list(mail.recipients), mail.data)
        except Exception:
            _drop_kept()
            raise


def connect() -> None:
    """Open the process's kept connection ahead of the first message (a worker's warm-up)."""
    with _kept_lock:
        _kept_connection(current_app.config)


def disconnect() -> None:
    """Close the process's kept connection, if any."""
    with _kept_lock:
        _drop_kept()


def _open(config: Any) -> smtplib.SMTP:
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
    return conn


_kept_lock = threading.Lock()
_kept: dict[str, Any] = {}


def _kept_connection(config: Any) -> smtplib.SMTP:
    key = (config["SMTP_HOST"], int(config["SMTP_PORT"]), config.get("SMTP_USERNAME"), os.getpid())
    if _kept.get("key") == key and _kept.get("conn") is not None:
        return _kept["conn"]
    _drop_kept()
    conn = _open(config)
    _kept.update(key=key, conn=conn)
    return conn


def _drop_kept() -> None:
    conn = _kept.pop("conn", None)
    _kept.pop("key", None)
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


atexit.register(_drop_kept)  # a process that ends closes its kept connection (no dangling socket)
