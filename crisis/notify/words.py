"""Notices in sentences: what a notice is about, whom it reached, and what became of it — with a
failure said as what it means and what to do, never as the exception that caused it (the technical
text stays in `Notice.last_error` for administrators)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale

from crisis import clock
from crisis.i18n import _, lazy_gettext
from crisis.timefmt import format_local
from crisis.timeline.presenters import Names, selector_text

# A notice not sent because this installation has no mail server (crisis.notify.channels): kept as
# the reason of a `cancelled` notice, so it is never retried as a failure.
EMAIL_NOT_SET_UP = "email_not_set_up"
MAIL_SETTINGS = (
    "CRISIS_SMTP_HOST",
    "CRISIS_SMTP_PORT",
    "CRISIS_SMTP_USERNAME",
    "CRISIS_SMTP_PASSWORD",
    "CRISIS_SMTP_STARTTLS",
    "CRISIS_MAIL_SENDER",
)


def mail_configured() -> bool:
    """A mail server is set up (CRISIS_SMTP_HOST). Without one, e-mail is not attempted at all."""
    return bool(current_app.config.get("SMTP_HOST"))


def mail_setup_advice() -> str:
    return _(
        "E-mail is not set up on this server. An administrator sets %(settings)s and restarts the app; "
        "until then notices reach people in the in-app inbox.",
        settings=", ".join(MAIL_SETTINGS),
    )


# --- failures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    code: str
    matches: Callable[[str], bool]


def _has(*needles: str) -> Callable[[str], bool]:
    return lambda text: any(needle in text for needle in needles)


# The order matters: the first that matches names the failure.
FAILURES = (
    Failure(EMAIL_NOT_SET_UP, _has(EMAIL_NOT_SET_UP)),
    Failure("auth", _has("SMTPAuthenticationError", "authentication failed", "Authentication")),
    Failure("recipient_refused", _has("SMTPRecipientsRefused", "recipient address", "needs a recipient")),
    Failure("sender_refused", _has("SMTPSenderRefused")),
    Failure("tls", _has("SSLError", "SSL:", "CERTIFICATE", "certificate", "STARTTLS", "SMTPNotSupportedError")),
    Failure("not_found", _has("gaierror", "Name or service not known", "getaddrinfo", "nodename nor servname")),
    Failure("refused", _has("ConnectionRefusedError", "Errno 111", "Connection refused")),
    Failure("timeout", _has("TimeoutError", "timed out", "timeout")),
    Failure("disconnected", _has("SMTPServerDisconnected", "ConnectionResetError", "Connection reset")),
    Failure("webhook_gone", _has("removed or disabled")),
    Failure("http", lambda text: re.search(r"\bHTTP \d{3}\b", text) is not None),
    Failure("message_refused", _has("SMTPDataError", "SMTPResponseException", "SMTPHeloError")),
    Failure("address", _has("ValueError")),
)


def failure_code(error: str | None) -> str:
    text = error or ""
    return next((failure.code for failure in FAILURES if failure.matches(text)), "other")


def explain_failure(error: str | None, *, channel: str = "email") -> str:
    """What a recorded delivery error means for the reader, and what to do about it."""
    code = failure_code(error)
    webhook = channel == "webhook"
    if code == EMAIL_NOT_SET_UP:
        return mail_setup_advice()
    if code == "auth":
        return _(
            "The mail server refused the app's user name or password: an administrator checks "
            "CRISIS_SMTP_USERNAME and CRISIS_SMTP_PASSWORD."
        )
    if code == "recipient_refused":
        return _("The address was refused by the mail server: check the person's e-mail address.")
    if code == "sender_refused":
        return _("The mail server refused the sender address: an administrator checks CRISIS_MAIL_SENDER.")
    if code == "tls":
        return _(
            "No secure (TLS) connection could be made with the mail server: an administrator checks "
            "CRISIS_SMTP_STARTTLS, CRISIS_SMTP_SSL and the port."
        )
    if code == "not_found":
        if webhook:
            return _("The webhook's server name could not be found: check the webhook's address.")
        return _("The mail server's name could not be found: an administrator checks CRISIS_SMTP_HOST.")
    if code == "refused":
        if webhook:
            return _("The webhook receiver did not answer (connection refused): check that it is running.")
        return _(
            "The mail server did not answer (connection refused): an administrator checks that the server "
            "at CRISIS_SMTP_HOST and CRISIS_SMTP_PORT is running."
        )
    if code == "timeout":
        if webhook:
            return _("The webhook receiver did not answer in time.")
        return _("The mail server did not answer in time.")
    if code == "disconnected":
        return _("The server closed the connection before the message was accepted.")
    if code == "webhook_gone":
        return _("The webhook was removed or switched off, so the notice was not posted.")
    if code == "http":
        status = int(re.search(r"\bHTTP (\d{3})\b", error or "").group(1))  # type: ignore[union-attr]
        if status >= 500:
            return _("The webhook receiver had an error of its own (HTTP %(status)s).", status=status)
        return _(
            "The webhook receiver refused the notice (HTTP %(status)s): check the webhook's address and secret.",
            status=status,
        )
    if code == "message_refused":
        return _("The mail server refused the message.")
    if code == "address":
        return _("This e-mail address cannot be used: check the person's e-mail address.")
    return _("Delivery failed for a technical reason; an administrator can see the details.")


def next_try_sentence(next_try: datetime | None, zone: str) -> str:
    """'The app will try again at 10:42 WIB.' (today, in the reader's zone), with the date otherwise."""
    if next_try is None:
        return ""
    if next_try.astimezone(ZoneInfo(zone)).date() == clock.now().astimezone(ZoneInfo(zone)).date():
        return _("The app will try again at %(time)s.", time=format_local(next_try, zone, "HH:mm"))
    return _("The app will try again on %(when)s.", when=format_local(next_try, zone, "d MMM yyyy HH:mm"))


def retry_sentence(error: str | None, *, channel: str, next_try: datetime | None, zone: str) -> str:
    """A failure that will be tried again: its meaning, then when the app tries again."""
    text = explain_failure(error, channel=channel)
    later = next_try_sentence(next_try, zone)
    return f"{text} {later}" if later else text


# --- notices -----------------------------------------------------------------------------------

CANCEL_REASONS = {
    "stage_completed": lazy_gettext("Not sent: the stage was completed before it was due to leave."),
    "acknowledged": lazy_gettext("Not sent: someone had already acknowledged this step."),
    "incident_resolved": lazy_gettext("Not sent: the incident was resolved."),
    "incident_closed": lazy_gettext("Not sent: the incident was closed."),
    "incident_cancelled": lazy_gettext("Not sent: the incident was cancelled."),
    "replanned": lazy_gettext("Not sent: the deadline was planned again."),
    # crisis.escalation.planning.NOT_AT_SEVERITY: a step gated to other severities (`severities: [3, 4]`)
    "not_at_severity": lazy_gettext("Not sent: at the incident's severity now, the SOP does not take this step."),
    # crisis.escalation.media: the journalist's question was dealt with before its reminder left.
    "media_answered": lazy_gettext("Not sent: the media query was answered."),
    "media_declined": lazy_gettext("Not sent: the media query was declined with a holding line."),
    "media_missing": lazy_gettext("Not sent: the media query no longer exists."),
}


def cancel_sentence(reason: str | None) -> str:
    if reason == EMAIL_NOT_SET_UP:
        return _("Not sent: e-mail is not set up on this server.") + " " + mail_setup_advice()
    label = CANCEL_REASONS.get(reason or "")
    return str(label) if label is not None else _("Not sent.")


def about(notice: Any, names: Names) -> str:
    """What the notice is about: 'Escalation for stage Verifikasi, step 1', 'Action item overdue: ...'."""
    payload = notice.payload or {}
    kind = payload.get("kind") or notice.kind
    stage = names.stage(payload.get("stage_key"))
    if notice.kind == "delivery_failed":
        return _(
            "A notice could not be delivered by %(channel)s. %(why)s",
            channel=names.notice_channel(payload.get("failed_channel")),
            why=explain_failure(payload.get("error"), channel=payload.get("failed_channel") or "email"),
        )
    if kind == "escalation_step":
        step = int(payload.get("step_index") or 0) + 1
        repeat = int(payload.get("repeat_index") or 0)
        if repeat:
            return _("Escalation for stage %(stage)s, step %(step)s, reminder %(n)s", stage=stage, step=step, n=repeat)
        return _("Escalation for stage %(stage)s, step %(step)s", stage=stage, step=step)
    if kind == "inject":
        texts = payload.get("inject_text") or {}
        language = getattr(get_locale(), "language", "id")
        return _("Exercise inject: %(text)s", text=texts.get(language) or texts.get("id") or "")
    if kind == "stage_due":
        return _("Stage %(stage)s is overdue", stage=stage)
    if kind == "update_due":
        return _("A situation update is due")
    if kind == "media_query":
        return _(
            "Media query from %(journalist)s (%(outlet)s) not answered by %(when)s",
            journalist=payload.get("journalist", ""),
            outlet=payload.get("outlet", ""),
            when=names.at(payload.get("media_due_at")),
        )
    if kind == "review_due":
        return _("The post-incident review is due")
    if kind == "review_due_soon":
        return _("Post-incident review due by %(when)s", when=names.time(notice.due_at))
    if kind == "action_item_due_soon":
        return _(
            "Action item due by %(when)s: %(title)s", when=names.time(notice.due_at), title=payload.get("title", "")
        )
    if kind == "action_item_overdue":
        return _("Action item overdue: %(title)s", title=payload.get("title", ""))
    if kind == "statement_submitted":
        return _("Statement waiting for your approval: %(title)s", title=payload.get("statement_title", ""))
    if kind == "review_submitted":
        return _("Post-incident review waiting for your approval")
    if kind == "unit_involved":
        return _(
            "%(unit)s is involved in this incident",
            unit=payload.get("involved_unit_name") or names.unit(payload.get("involved_unit")),
        )
    if kind == "link_broken":  # chat channels (crisis.notify.chat)
        return _(
            "Your %(channel)s link no longer works: %(reason)s",
            channel=names.notice_channel(payload.get("channel")),
            reason=payload.get("error", ""),
        )
    if kind == "key_messages":
        return _("Approved key messages for the Telegram group of %(unit)s", unit=names.unit(payload.get("unit_code")))
    return _("Notice about the incident")


def fallback_sentence(notice: Any, names: Names) -> str:
    """'No supervisor in Diskominfo Kota Semarang; sent on to Diskominfo Jawa Tengah, higher up.'"""
    payload = notice.payload or {}
    if not payload.get("fallback_from"):
        return ""
    role = selector_text(str(payload.get("selector") or "").partition("@")[0], names)
    return _(
        "No %(role)s in %(unit)s; sent on to %(to_unit)s, higher up the tree.",
        role=role,
        unit=names.unit(payload.get("fallback_from")),
        to_unit=names.unit(payload.get("unit_code")),
    )


def recipient(notice: Any, names: Names) -> str:
    """'unit head of Diskominfo Jawa Tengah (Budi)'; a webhook by its name."""
    payload = notice.payload or {}
    if notice.recipient is not None:
        role = selector_text(payload.get("selector"), names, unit_code=payload.get("unit_code"))
        if role:
            return _("%(role)s (%(name)s)", role=role, name=notice.recipient.name)
        return notice.recipient.name
    if notice.webhook is not None:
        return _("webhook %(name)s", name=notice.webhook.name)
    return ""


def status(notice: Any, names: Names) -> str:
    """What became of the notice, as a sentence."""
    channel = names.notice_channel(notice.channel)
    if notice.status == "sent":
        sent = _("Sent by %(channel)s at %(when)s.", channel=channel, when=names.time(notice.sent_at))
        remote = remote_status(notice, names)  # chat channels: "read 02:03 WIT"
        return f"{sent} {remote}" if remote else sent
    if notice.status == "failed" and notice.channel in CHAT_CHANNELS and "Error:" not in (notice.last_error or ""):
        # A chat service's refusal is recorded in words already (crisis.notify.telegram, .whatsapp).
        return _("Not delivered after %(n)s attempts.", n=notice.attempts) + " " + notice.last_error
    if notice.status == "failed":
        return (
            _("Not delivered after %(n)s attempts.", n=notice.attempts)
            + " "
            + explain_failure(notice.last_error, channel=notice.channel)
        )
    if notice.status == "cancelled":
        return cancel_sentence(notice.last_error)
    if notice.attempts:
        return retry_sentence(
            notice.last_error, channel=notice.channel, next_try=notice.next_attempt_at, zone=names.zone
        )
    return _("Waiting to be sent by %(channel)s.", channel=channel)


# --- chat channels (issue 20) ------------------------------------------------------------------------

CHAT_CHANNELS = ("telegram", "whatsapp")


def remote_status(notice: Any, names: Names) -> str:
    """What the chat service last said of a sent notice, e.g. "Dibaca 02:03 WIT."; "" when nothing."""
    if not getattr(notice, "remote_status", None) or notice.remote_status_at is None:
        return ""
    when = format_local(notice.remote_status_at, names.zone, "HH:mm")
    words = {
        "sent": _("On the phone's way %(when)s.", when=when),
        "delivered": _("Delivered %(when)s.", when=when),
        "read": _("Read %(when)s.", when=when),
        "failed": _("Not delivered %(when)s.", when=when),
    }
    return words.get(notice.remote_status, "")
