"""JSON in and out of the issue API. Types only: every rule about values lives in the service."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from crisis.http import ProblemSchema, WholeNumber, bounded_int, row_id
from crisis.issues import risk
from crisis.issues.checks import MAX_EVIDENCE_NOTE, MAX_LINKS, MAX_REASON, MAX_SOURCE, MAX_TEXT
from crisis.issues.models import (
    ACTORS,
    CHANNELS,
    EMERGENCY_STATUSES,
    ISSUE_STATES,
    MAX_COUNT,
    NEWS_TIERS,
    SENSITIVITIES,
    SENTIMENTS,
)
from crisis.issues.service import MAX_BATCH
from crisis.links import MAX_URL_LENGTH
from crisis.playbooks.spec import CATEGORIES


def _enum(values: tuple[str, ...] | list[str], description: str = "") -> dict[str, Any]:
    # Documented in OpenAPI; checked by the service, which names every bad field at once.
    return {"enum": list(values), **({"description": description} if description else {})}


class RiskFactorOut(ma.Schema):
    key = ma.fields.String(
        metadata=_enum(
            ["reach", "velocity", "sentiment", "category", "pickup", "sensitivity", "actors", "trend", "impact"]
        )
    )
    points = ma.fields.Integer()
    max = ma.fields.Integer(metadata={"description": "The most points this factor can give"})
    inputs = ma.fields.Dict(metadata={"description": "The figures the points were computed from"})
    explanation = ma.fields.String(metadata={"description": "Where the points come from, in the request's language"})


class _StoredFactors(ma.fields.List):
    """The factors kept on the issue, each explained in the language of this request."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = ma.missing) -> Any:
        return risk.stored_factors(getattr(obj, "risk_factors", None))


class EvidenceOut(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    note = ma.fields.String()
    added_at = ma.fields.AwareDateTime()
    added_by_id = ma.fields.Integer(allow_none=True)


class NoteOut(ma.Schema):
    id = ma.fields.Integer()
    body = ma.fields.String()
    reach = ma.fields.Integer(allow_none=True, metadata={"description": "Reach at the time of the note, if counted"})
    engagement = ma.fields.Integer(allow_none=True)
    sentiment = ma.fields.String(allow_none=True, metadata=_enum(SENTIMENTS, "The tone at the time, if judged"))
    created_at = ma.fields.AwareDateTime()
    author_id = ma.fields.Integer(allow_none=True)
    author_name = ma.fields.Function(lambda note: note.author.name if note.author else None)


class IssueSummaryOut(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit_code = ma.fields.Function(lambda issue: issue.unit.code)
    title = ma.fields.String()
    channel = ma.fields.String(metadata=_enum(CHANNELS))
    category = ma.fields.String(metadata=_enum(CATEGORIES))
    sentiment = ma.fields.String(metadata=_enum(SENTIMENTS))
    state = ma.fields.String(metadata=_enum(ISSUE_STATES))
    first_seen_at = ma.fields.AwareDateTime()
    reach = ma.fields.Integer()
    engagement = ma.fields.Integer()
    mainstream_pickup = ma.fields.Boolean(metadata={"description": "news_tier is not none"})
    news_tier = ma.fields.String(metadata=_enum(NEWS_TIERS, "The widest news that carries it"))
    news_articles = ma.fields.Integer()
    sensitivities = ma.fields.List(ma.fields.String(metadata=_enum(SENSITIVITIES)))
    actors = ma.fields.List(ma.fields.String(metadata=_enum(ACTORS)), metadata={"description": "Who posts or is named"})
    whatsapp_groups = ma.fields.Integer()
    whatsapp_forwards = ma.fields.Integer()
    deaths = ma.fields.Integer()
    displaced = ma.fields.Integer()
    emergency_status = ma.fields.String(metadata=_enum(EMERGENCY_STATUSES))
    risk_score = ma.fields.Integer(
        metadata={"description": "0–100, the sum of the risk factors' points, capped at 100"}
    )
    suggested_severity = ma.fields.Integer(metadata={"description": "1–4, suggested by the score; people decide"})
    merged_into_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()
    version = ma.fields.Integer(metadata={"description": "Send it back when changing the issue (optimistic locking)"})


class IssueOut(IssueSummaryOut):
    description = ma.fields.String()
    source_person = ma.fields.String()
    source_contact = ma.fields.String()
    anonymised_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={
            "description": 'When source_person and source_contact were replaced by "[anonymised]" '
            "(retention period over)"
        },
    )
    state_reason = ma.fields.String(metadata={"description": "Why it was dismissed"})
    risk_factors = _StoredFactors(ma.fields.Nested(RiskFactorOut))
    logged_by_id = ma.fields.Integer(allow_none=True)
    incident_id = ma.fields.Function(
        lambda issue: issue.incident.id if issue.incident is not None else None,
        metadata={"description": "The incident this issue was escalated into"},
    )
    evidence = ma.fields.List(ma.fields.Nested(EvidenceOut))
    notes = ma.fields.List(ma.fields.Nested(NoteOut))


class IssueCreatedOut(IssueOut):
    duplicates = ma.fields.List(
        ma.fields.Nested(IssueSummaryOut),
        metadata={
            "description": "Issues that may be the same: the same evidence link anywhere you can see, or a similar "
            "title in the same unit within 48 hours. Merge with POST /issues/{id}/merge."
        },
    )


class IssueBatchOut(ma.Schema):
    issues = ma.fields.List(
        ma.fields.Nested(IssueCreatedOut), metadata={"description": "The issues logged, in the order sent"}
    )


class IssueConflictOut(ProblemSchema):
    current = ma.fields.Nested(IssueOut, metadata={"description": "The issue as it is now"})


class IssueIn(ma.Schema):
    unit_id = row_id(load_default=None, allow_none=True, metadata={"description": "Default: the first unit you act in"})
    title = ma.fields.String(required=True, metadata={"minLength": 3, "maxLength": 300})
    description = ma.fields.String(
        load_default="", metadata={"maxLength": MAX_TEXT, "description": "What is happening"}
    )
    channel = ma.fields.String(required=True, metadata=_enum(CHANNELS, "Where it was seen"))
    category = ma.fields.String(required=True, metadata=_enum(CATEGORIES))
    first_seen_at = ma.fields.AwareDateTime(
        load_default=None, allow_none=True, metadata={"description": "With its offset; default: now"}
    )
    reach = WholeNumber(
        load_default=0, metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "People who saw it"}
    )
    engagement = WholeNumber(
        load_default=0, metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Likes + shares + comments"}
    )
    sentiment = ma.fields.String(load_default="neutral", metadata=_enum(SENTIMENTS))
    mainstream_pickup = ma.fields.Boolean(load_default=False, metadata={"description": "Carried by news media"})
    news_tier = ma.fields.String(
        load_default=None,
        allow_none=True,
        metadata=_enum(NEWS_TIERS, "Default: national when mainstream_pickup, else none"),
    )
    news_articles = WholeNumber(load_default=0, metadata={"minimum": 0, "maximum": MAX_COUNT})
    sensitivities = ma.fields.List(ma.fields.String(metadata=_enum(SENSITIVITIES)), load_default=list)
    actors = ma.fields.List(ma.fields.String(metadata=_enum(ACTORS)), load_default=list)
    whatsapp_groups = WholeNumber(
        load_default=0, metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Estimate"}
    )
    whatsapp_forwards = WholeNumber(
        load_default=0, metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Estimate"}
    )
    deaths = WholeNumber(load_default=0, metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Disasters"})
    displaced = WholeNumber(load_default=0, metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Disasters"})
    emergency_status = ma.fields.String(load_default="none", metadata=_enum(EMERGENCY_STATUSES))
    evidence_urls = ma.fields.List(
        ma.fields.String(metadata={"maxLength": MAX_URL_LENGTH}),
        load_default=list,
        metadata={
            "maxItems": MAX_LINKS,
            "description": "http(s) links; at least one unless the channel is hotline or whatsapp",
        },
    )
    source_person = ma.fields.String(
        load_default="", metadata={"maxLength": MAX_SOURCE, "description": "Personal data: the complainant"}
    )
    source_contact = ma.fields.String(load_default="", metadata={"maxLength": MAX_SOURCE})


class IssueBatchIn(ma.Schema):
    issues = ma.fields.List(
        ma.fields.Nested(IssueIn),
        required=True,
        metadata={"minItems": 1, "maxItems": MAX_BATCH, "description": "The issues to log, each as for POST /issues"},
    )


class IssuePatch(ma.Schema):
    version = bounded_int(required=True, metadata={"description": "The version you read; 409 if it changed"})
    title = ma.fields.String(metadata={"minLength": 3, "maxLength": 300})
    description = ma.fields.String(metadata={"maxLength": MAX_TEXT})
    channel = ma.fields.String(metadata=_enum(CHANNELS))
    category = ma.fields.String(metadata=_enum(CATEGORIES))
    first_seen_at = ma.fields.AwareDateTime()
    reach = WholeNumber(metadata={"minimum": 0, "maximum": MAX_COUNT})
    engagement = WholeNumber(metadata={"minimum": 0, "maximum": MAX_COUNT})
    sentiment = ma.fields.String(metadata=_enum(SENTIMENTS))
    mainstream_pickup = ma.fields.Boolean()
    news_tier = ma.fields.String(metadata=_enum(NEWS_TIERS, "Default: national when mainstream_pickup, else none"))
    news_articles = WholeNumber(metadata={"minimum": 0, "maximum": MAX_COUNT})
    sensitivities = ma.fields.List(ma.fields.String(metadata=_enum(SENSITIVITIES)))
    actors = ma.fields.List(ma.fields.String(metadata=_enum(ACTORS)))
    whatsapp_groups = WholeNumber(metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Estimate"})
    whatsapp_forwards = WholeNumber(metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Estimate"})
    deaths = WholeNumber(metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Disasters"})
    displaced = WholeNumber(metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "Disasters"})
    emergency_status = ma.fields.String(metadata=_enum(EMERGENCY_STATUSES))
    source_person = ma.fields.String(metadata={"maxLength": MAX_SOURCE})
    source_contact = ma.fields.String(metadata={"maxLength": MAX_SOURCE})


class _Versioned(ma.Schema):
    version = bounded_int(
        load_default=None, allow_none=True, metadata={"description": "Optional: refuse with 409 unless still this"}
    )


class MonitorIn(_Versioned):
    pass


class NoteIn(_Versioned):
    body = ma.fields.String(
        required=True, metadata={"minLength": 1, "maxLength": MAX_TEXT, "description": "What you observed"}
    )
    reach = WholeNumber(
        load_default=None, allow_none=True, metadata={"minimum": 0, "maximum": MAX_COUNT, "description": "New reach"}
    )
    engagement = WholeNumber(load_default=None, allow_none=True, metadata={"minimum": 0, "maximum": MAX_COUNT})
    sentiment = ma.fields.String(load_default=None, allow_none=True, metadata=_enum(SENTIMENTS, "The tone now"))


class EvidenceIn(_Versioned):
    url = ma.fields.String(required=True, metadata={"maxLength": MAX_URL_LENGTH, "description": "An http(s) link"})
    note = ma.fields.String(
        load_default="", metadata={"maxLength": MAX_EVIDENCE_NOTE, "description": "What the link shows"}
    )


class DismissIn(_Versioned):
    reason = ma.fields.String(required=True, metadata={"minLength": 1, "maxLength": MAX_REASON})


class MergeIn(ma.Schema):
    target_id = row_id(required=True, metadata={"description": "The issue this one repeats"})


class IssueQuery(ma.Schema):
    state = ma.fields.String(metadata=_enum(["open", *ISSUE_STATES], "open = new + monitoring"))
    unit_id = row_id(metadata={"description": "This unit and the units below it"})
    q = ma.fields.String(
        validate=ma.validate.Length(max=200), metadata={"description": "Words in the title or description"}
    )
    limit = bounded_int(1, 500, load_default=100)
    offset = bounded_int(load_default=0)
