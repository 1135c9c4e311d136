from __future__ import annotations

import marshmallow as ma


class NoticeOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    incident_id = ma.fields.Integer()
    timer_id = ma.fields.Integer(allow_none=True)
    channel = ma.fields.String()
    recipient_user_id = ma.fields.Integer(allow_none=True)
    recipient = ma.fields.Function(lambda n: n.recipient.name if n.recipient else None)
    webhook_id = ma.fields.Integer(allow_none=True)
    status = ma.fields.String(metadata={"description": "queued, sent, failed or cancelled"})
    attempts = ma.fields.Integer()
    last_error = ma.fields.String()
    due_at = ma.fields.DateTime()
    queued_at = ma.fields.DateTime()
    sent_at = ma.fields.DateTime(allow_none=True)
    failed_at = ma.fields.DateTime(allow_none=True)
    read_at = ma.fields.DateTime(allow_none=True)
    acknowledged_at = ma.fields.DateTime(allow_none=True)
    acknowledged_by_id = ma.fields.Integer(allow_none=True)
    payload = ma.fields.Dict()


class ChannelsIn(ma.Schema):
    channels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Boolean(), required=True)


class ChannelsOut(ma.Schema):
    channels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Boolean())


class WebhookIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    url = ma.fields.String(required=True, validate=ma.validate.Length(max=2000))


class WebhookPatch(ma.Schema):
    active = ma.fields.Boolean(required=True)


class WebhookOut(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    name = ma.fields.String()
    url = ma.fields.String()
    active = ma.fields.Boolean()
    created_at = ma.fields.DateTime()


class WebhookCreated(WebhookOut):
    secret = ma.fields.String(metadata={"description": "HMAC-SHA256 key of X-Crisis-Signature; shown once"})
