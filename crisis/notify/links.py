"""Signed, expiring acknowledgement links: the link is the recipient's credential, so a recipient who
is not signed in (an e-mail read on a phone) can still acknowledge, always in the recipient's name,
whoever else may be signed in where it is opened. GET confirms, POST acknowledges."""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired

from crisis import signing
from crisis.errors import DomainError
from crisis.i18n import lazy_gettext as _l
from crisis.notify.models import Notice

SALT = "crisis.notice-ack"


class LinkInvalid(DomainError):
    status = 404
    title = "Not found"


class LinkExpired(DomainError):
    status = 410
    title = "Gone"


def _key_digest(notice: Notice) -> str:
    # Binds the link to this notice's idempotency key: a reused id (restored database) never matches.
    return hashlib.sha256(notice.idempotency_key.encode()).hexdigest()[:16]


def ack_token(notice: Notice) -> str:
    # "r": the person it is sent to (None for a webhook), whose acknowledgement the link carries.
    return signing.dumps(SALT, {"n": notice.id, "k": _key_digest(notice), "r": notice.recipient_user_id})


def ack_path(notice: Notice) -> str:
    return f"/ack/{ack_token(notice)}"


def ack_url(notice: Notice) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + ack_path(notice)


def incident_url(incident_id: int) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/incidents/{incident_id}"


def thing_url(notice: Notice) -> str:
    """Where the notice's matter is: the statement or the review it is about, else the incident."""
    payload = notice.payload or {}
    base = incident_url(notice.incident_id)
    if payload.get("statement_id") is not None:
        return f"{base}#statement-{payload['statement_id']}"
    if payload.get("kind") in ("review_submitted", "review_due", "review_due_soon"):
        return f"{base}/review#workflow"
    if payload.get("action_item_id") is not None:
        return f"{base}/review#action-{payload['action_item_id']}"
    return base


def notice_for_token(*, session: object, token: str) -> Notice:
    """The notice a link names; LinkInvalid or LinkExpired otherwise."""
    max_age = int(current_app.config["ACK_LINK_MAX_AGE_SECONDS"])
    try:
        data = signing.loads(SALT, token, max_age=max_age)
    except SignatureExpired as error:
        raise LinkExpired(str(_l("This acknowledgement link has expired. Sign in to acknowledge."))) from error
    except BadSignature as error:
        raise LinkInvalid(str(_l("This acknowledgement link is not valid."))) from error
    notice = session.get(Notice, data.get("n")) if isinstance(data, dict) else None  # type: ignore[attr-defined]
    # Links sent before they named their recipient carry no "r": theirs is the notice's recipient.
    if (
        notice is None
        or data.get("k") != _key_digest(notice)
        or data.get("r", notice.recipient_user_id) != notice.recipient_user_id
    ):
        raise LinkInvalid(str(_l("This acknowledgement link is not valid.")))
    if notice.recipient is not None and not notice.recipient.active:
        # A disabled person's credentials all end: sessions, API tokens, and their links.
        raise LinkInvalid(str(_l("This acknowledgement link is not valid.")))
    return notice
