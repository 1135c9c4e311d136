"""JSON API of the deadline engine: notices of an incident, acknowledgement, the caller's inbox and
channels, and each unit's webhook endpoints."""

from __future__ import annotations

from typing import Any

from crisis.auth.identity import authenticated, bearer_user
from crisis.escalation import acknowledgement
from crisis.escalation import inbox as notice_inbox
from crisis.escalation.schemas import (
    ChannelsIn,
    ChannelsOut,
    NoticeOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from crisis.extensions import db
from crisis.http import Blueprint
from crisis.notify import service as notify

blp = Blueprint("escalation_api", __name__, url_prefix="/api/v1", description="escalation")


@blp.route("/incidents/<int:incident_id>/notices")
@authenticated
@blp.response(200, NoticeOut(many=True))
def incident_notices(incident_id: int) -> Any:
    """Who was notified about an incident, when, on which channel, delivery status and acknowledgement."""
    return notice_inbox.list_for_incident(session=db.session, user=bearer_user(), incident_id=incident_id)


@blp.route("/notices/<int:notice_id>/ack", methods=["POST"])
@authenticated
@blp.response(200, NoticeOut)
def acknowledge(notice_id: int) -> Any:
    """Acknowledge a notice (the recipient, or someone acting in the incident's unit). Idempotent."""
    notice = acknowledgement.acknowledge_as(session=db.session, notice_id=notice_id, actor=bearer_user())
    db.session.commit()
    return notice


@blp.route("/me/notices")
@authenticated
@blp.response(200, NoticeOut(many=True))
def my_notices() -> Any:
    """The caller's in-app inbox, newest first."""
    return notice_inbox.inbox(session=db.session, user=bearer_user())


@blp.route("/me/channels", methods=["GET"])
@authenticated
@blp.response(200, ChannelsOut)
def my_channels() -> Any:
    return {"channels": notify.preferences(session=db.session, user=bearer_user())}


@blp.route("/me/channels", methods=["PUT"])
@authenticated
@blp.arguments(ChannelsIn)
@blp.response(200, ChannelsOut)
def set_my_channels(data: dict[str, Any]) -> Any:
    """Choose the personal channels escalations reach you on (at least one stays on)."""
    channels = notify.set_preferences(session=db.session, user=bearer_user(), choices=data["channels"])
    db.session.commit()
    return {"channels": channels}


@blp.route("/units/<int:unit_id>/webhooks", methods=["GET"])
@authenticated
@blp.response(200, WebhookOut(many=True))
def unit_webhooks(unit_id: int) -> Any:
    return notify.list_webhooks(session=db.session, actor=bearer_user(), unit_id=unit_id)


@blp.route("/units/<int:unit_id>/webhooks", methods=["POST"])
@authenticated
@blp.arguments(WebhookIn)
@blp.response(201, WebhookCreated)
def create_webhook(data: dict[str, Any], unit_id: int) -> Any:
    """Post this unit's escalations as signed JSON to a URL; the signing secret is shown once."""
    hook = notify.create_webhook(session=db.session, actor=bearer_user(), unit_id=unit_id, **data)
    db.session.commit()
    return hook


@blp.route("/webhooks/<int:webhook_id>", methods=["PATCH"])
@authenticated
@blp.arguments(WebhookPatch)
@blp.response(200, WebhookOut)
def update_webhook(data: dict[str, Any], webhook_id: int) -> Any:
    """Switch an endpoint off (or on again). Endpoints are never deleted: notices refer to them."""
    hook = notify.update_webhook(session=db.session, actor=bearer_user(), webhook_id=webhook_id, **data)
    db.session.commit()
    return hook
