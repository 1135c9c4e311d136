"""Review API schemas. Domain checks (stage keys, owners, dates) stay in the services,
which name every field at fault."""

from __future__ import annotations

import marshmallow as ma

from crisis.http import bounded_int, row_id
from crisis.links import MAX_URL_LENGTH
from crisis.reviews.models import ACTION_STATES, RATINGS


def _moment(**kwargs: object) -> ma.fields.String:
    """A time already written as ISO 8601 UTC by the export (documented as date-time)."""
    return ma.fields.String(allow_none=True, metadata={"format": "date-time"}, **kwargs)


class ReviewPartOut(ma.Schema):
    id = ma.fields.Integer()
    state = ma.fields.String(metadata={"enum": ["draft", "submitted", "approved"]})
    summary = ma.fields.String()
    went_well = ma.fields.String()
    to_improve = ma.fields.String()
    background = ma.fields.String()
    legal_basis = ma.fields.String()
    volume_before = ma.fields.Integer(allow_none=True)
    volume_after = ma.fields.Integer(allow_none=True)
    tone_before = ma.fields.String()
    tone_after = ma.fields.String()
    dominant_narrative = ma.fields.String()
    top_accounts = ma.fields.String()
    hoax_reach = ma.fields.Integer(allow_none=True)
    clarification_reach = ma.fields.Integer(allow_none=True)
    obstacles = ma.fields.String()
    recommendations = ma.fields.String()
    attachments = ma.fields.List(ma.fields.String())
    due_at = _moment()
    submitted_at = _moment()
    submitted_by = ma.fields.String(allow_none=True)
    approved_at = _moment()
    approved_by = ma.fields.String(allow_none=True)
    on_time = ma.fields.Boolean(allow_none=True)
    version = ma.fields.Integer(metadata={"description": "Send back as `version` to detect a concurrent change"})


class ReviewDocumentOut(ma.Schema):
    """The review with every measure: times UTC (ISO 8601), durations in seconds."""

    language = ma.fields.String(metadata={"enum": ["id", "en"]})
    review = ma.fields.Nested(ReviewPartOut)
    incident = ma.fields.Dict(keys=ma.fields.String())
    measures = ma.fields.Dict(keys=ma.fields.String())
    stages = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))
    waivers = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))
    escalations = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))
    statements = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))
    key_message_lag = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))
    # Every journalist's question with its answer (the measures are under measures.media_queries).
    media_queries = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))
    action_items = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))
    timeline = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()))


class LangQuery(ma.Schema):
    lang = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["id", "en"]))


class ExportQuery(LangQuery):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "md", "html", "pdf"]))


class ReviewPatch(ma.Schema):
    summary = ma.fields.String(validate=ma.validate.Length(max=20000))
    went_well = ma.fields.String(validate=ma.validate.Length(max=20000))
    to_improve = ma.fields.String(validate=ma.validate.Length(max=20000))
    background = ma.fields.String(validate=ma.validate.Length(max=20000))
    legal_basis = ma.fields.String(validate=ma.validate.Length(max=20000))
    dominant_narrative = ma.fields.String(validate=ma.validate.Length(max=20000))
    top_accounts = ma.fields.String(validate=ma.validate.Length(max=20000))
    obstacles = ma.fields.String(validate=ma.validate.Length(max=20000))
    recommendations = ma.fields.String(validate=ma.validate.Length(max=20000))
    volume_before = ma.fields.Integer(
        allow_none=True, metadata={"description": "Posts and articles before the clarification"}
    )
    volume_after = ma.fields.Integer(allow_none=True)
    tone_before = ma.fields.String(metadata={"enum": ["", "negative", "mixed", "neutral", "positive"]})
    tone_after = ma.fields.String(metadata={"enum": ["", "negative", "mixed", "neutral", "positive"]})
    hoax_reach = ma.fields.Integer(
        allow_none=True, metadata={"description": "People the hoax reached, as the team counted"}
    )
    clarification_reach = ma.fields.Integer(
        allow_none=True, metadata={"description": "People the clarification reached"}
    )
    attachments = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=MAX_URL_LENGTH)),
        validate=ma.validate.Length(max=20),
        metadata={"description": "http(s) links", "maxItems": 20},
    )
    stage_ratings = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.String(validate=ma.validate.OneOf([*RATINGS, "suggested"]))
    )
    version = bounded_int(load_default=None)


class ReviewVersionIn(ma.Schema):
    version = bounded_int(load_default=None)


class ReviewReturnIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))


class ActionItemIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    owner_id = row_id(required=True)
    due_on = ma.fields.Date(required=True)


class ActionItemPatch(ma.Schema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTION_STATES))


class ActionItemOut(ma.Schema):
    id = ma.fields.Integer()
    review_id = ma.fields.Integer()
    incident_id = ma.fields.Function(lambda a: a.review.incident_id)
    title = ma.fields.String()
    owner_id = ma.fields.Integer()
    due_on = ma.fields.Date()
    due_at = ma.fields.AwareDateTime()
    status = ma.fields.String()
    done_at = ma.fields.AwareDateTime(allow_none=True)
