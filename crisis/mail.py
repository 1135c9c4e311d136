"""Outgoing e-mail, notices and reports alike: one way to build a message (the standard library's
EmailMessage, which encodes headers and MIME itself) and one way to send it over SMTP with the
app's SMTP_* settings."""

from __future__ import annotations

import atexit
import base64
import contextlib
import email.policy
import email.utils
import functools
import os
import secrets
import smtplib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import base64mime
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
    return _sender_address(current_app.config["MAIL_SENDER"]).rpartition("@")[2] or "localhost"


def new_message_id(local_part: str | None = None) -> str:
    """A Message-ID in the sender's domain. Give a stable `local_part` where a resend must carry the
    same id (receivers de-duplicate on it); without one, it is made unique from the clock."""
    if local_part is None:
        local_part = f"crisis.{clock.now():%Y%m%d%H%M%S}.{secrets.token_hex(8)}"
    return f"<{local_part}@{sender_domain()}>"


def _address(recipient: str | tuple[str, str]) -> Address:
    if isinstance(recipient, tuple):
        name, address = recipient
        return Address(display_name=_display_name(name), addr_spec=address)
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
    message.set_raw(name, encode_header(name, value))


def encode_header(name: str, value: str) -> str:
    """A header's value as it goes on the wire: folded, and in encoded words where it is not ASCII."""
    if value.isascii() and len(name) + len(value) < 76 and "=?" not in value and value.isprintable():
        return value  # fits on its line as it is
    if value.isascii():
        return Header(value, "us-ascii", header_name=name).encode(linesep=POLICY.linesep)
    return _encoded_words(name, value)


def _encoded_words(name: str, value: str) -> str:
    """UTF-8 base64 encoded words (`email.base64mime`), each line within 78 columns, cut between two
    characters (a reader joins adjacent encoded words without a space). email.header measures the
    encoded length again after every character, which costs a notice's subject more than its body;
    here each word takes as many whole characters' bytes as fit, found from the UTF-8 bytes."""
    data = value.encode("utf-8")
    words: list[str] = []
    start = 0
    room = (78 - len(name) - 2 - len("=?utf-8?b??=")) // 4 * 3  # bytes on the header's first line
    while True:
        end = start + max(room, 1)  # a header name too long to leave room still gets one character a line
        if end >= len(data):
            words.append(base64mime.header_encode(data[start:], "utf-8"))
            return (POLICY.linesep + " ").join(words)
        while end > start and data[end] & 0xC0 == 0x80:  # inside a character: cut before it
            end -= 1
        if end == start:  # less room than the character's bytes: it goes whole
            end += 1
            while end < len(data) and data[end] & 0xC0 == 0x80:
                end += 1
        words.append(base64mime.header_encode(data[start:end], "utf-8"))
        start = end
        room = (78 - 1 - len("=?utf-8?b??=")) // 4 * 3  # a continuation line starts with a space


def _boundary() -> str:
    return f"=_crisis_{secrets.token_hex(12)}"


def envelope(message: EmailMessage) -> Envelope:
    """Serialise a composed message: what `transmit` sends, with nothing left to compute."""
    recipients = tuple(
        address.addr_spec for name in ("To", "Cc") if message[name] is not None for address in message[name].addresses
    )
    return Envelope(sender=message["From"].addresses[0].addr_spec, recipients=recipients, data=message.as_bytes())


class Form:
    """A kind of message sent many times (a deadline notice): its skeleton is composed once by `compose`,
    with a slot for everything that differs between two messages; `fill` puts each message's values in
    the slots, encoded by the same standard-library functions, and gives what `envelope` would. A
    burst of deadlines sends thousands of notices, and composing each from scratch cost more CPU than
    everything else a deadline does.

    `headers` names the extra headers every message of the form carries; `html` whether it has an HTML
    alternative. The skeleton depends on the configured sender, so it is kept per sender."""

    def __init__(self, *, headers: tuple[str, ...] = (), html: bool = True) -> None:
        self.headers = headers
        self.html = html
        self._skeletons: dict[str, list[bytes | str]] = {}

    def fill(
        self,
        *,
        to: tuple[str, str],
        subject: str,
        text: str,
        html: str | None = None,
        message_id: str,
        headers: Mapping[str, str],
    ) -> Envelope:
        if (html is not None) != self.html or set(headers) != set(self.headers):
            raise ValueError("the message does not fit this form")
        sender = current_app.config["MAIL_SENDER"]
        skeleton = self._skeletons.get(sender)
        if skeleton is None:
            skeleton = self._skeletons[sender] = self._skeleton()
        name, address = to
        values = {
            "Subject": encode_header("Subject", one_line(subject)),
            "To": _encode_address(name, address),
            "Date": _date(int(clock.now().timestamp())),
            "Message-ID": message_id,
            "text": _base64_body(text),
            "html": _base64_body(html) if html is not None else "",
            **{key: encode_header(key, one_line(value)) for key, value in headers.items()},
        }
        data = b"".join(part if isinstance(part, bytes) else values[part].encode("ascii") for part in skeleton)
        return Envelope(sender=_sender_address(sender), recipients=(address,), data=data)

    def _skeleton(self) -> list[bytes | str]:
        """The composed message as bytes cut at each slot: bytes, then a slot's name, then bytes..."""
        slots = {name: f"crisis-slot-{index}-{secrets.token_hex(6)}" for index, name in enumerate(self._slot_names())}
        message = compose(
            to=["slot@slot.invalid"],
            subject=slots["Subject"],
            text=slots["text"],
            html=slots["html"] if self.html else None,
            headers={name: slots[name] for name in self.headers},
        )
        # Slots for the structured headers too, in the places compose gave them.
        raw = list(message.raw_items())
        for name in {name for name, _value in raw}:
            del message[name]
        for name, value in raw:
            message.set_raw(name, slots[name] if name in ("To", "Date", "Message-ID") else value)
        data = message.as_bytes()
        marks = {name: token.encode() for name, token in slots.items() if name not in ("text", "html")}
        for name in ("text", "html"):  # the bodies are base64: their slot is the encoded token's line
            marks[name] = _base64_body(slots[name]).encode()
        parts: list[bytes | str] = [data]
        for name, mark in marks.items():
            if name == "html" and not self.html:
                continue
            head = parts.pop()
            assert head.count(mark) == 1, name  # nosec B101  # a slot's token is unique in the skeleton
            before, after = head.split(mark)
            parts += [before, name, after]
        return parts

    def _slot_names(self) -> list[str]:
        return ["Subject", "To", "Date", "Message-ID", "text", "html", *self.headers]


@functools.lru_cache(maxsize=8)
def _sender_address(sender: str) -> str:
    return parseaddr(sender)[1]


@functools.lru_cache(maxsize=4)
def _date(second: int) -> str:
    """The Date header of a message sent in this second (a burst sends many in the same one)."""
    return email.utils.format_datetime(datetime.fromtimestamp(second, UTC))


def _display_name(name: str) -> str:
    """A person's name on one line, its runs of white space one space each."""
    return " ".join(name.split())


def _encode_address(name: str, address: str) -> str:
    """`Name <address>` as it goes on the wire: quoted where ASCII needs it, else in encoded words; folded."""
    name = _display_name(name)
    if not name:
        return address
    if name.isascii():
        return encode_header("To", email.utils.formataddr((name, address)))
    return f"{_encoded_words('To', name)}{POLICY.linesep} <{address}>"  # the address on a line of its own


def _base64_body(text: str) -> str:
    """A text body as `set_content(cte="base64")` writes it: CRLF line ends, a final one, 76 columns."""
    lines = text.encode("utf-8").splitlines()
    data = b"\r\n".join(lines) + b"\r\n"
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


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


# An address in MAIL FROM / RCPT TO as smtplib quotes it. `smtplib.quoteaddr` parses the address
# with email.utils on every call: 3 % of a deadline's instructions in a burst (`fire_profile.py`),
# for the same sender and the same few heads again and again.
_quoted = functools.lru_cache(maxsize=4096)(smtplib.quoteaddr)


class _SMTP(smtplib.SMTP):
    """`mail` and `rcpt` as smtplib writes them, each address quoted once per process."""

    def mail(self, sender: str, options: Any = ()) -> tuple[int, bytes]:
        if any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)  # smtplib switches the command encoding
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("mail", f"FROM:{_quoted(sender)}{optionlist}")
        return self.getreply()

    def rcpt(self, recip: str, options: Any = ()) -> tuple[int, bytes]:
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("rcpt", f"TO:{_quoted(recip)}{optionlist}")
        return self.getreply()


class _SMTPSSL(_SMTP, smtplib.SMTP_SSL):
    pass


def _open(config: Any) -> smtplib.SMTP:
    smtp_cls = _SMTPSSL if config["SMTP_SSL"] else _SMTP
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
