from __future__ import annotations

import marshmallow as ma

from crisis.http import ProblemSchema, bounded_int, row_id
from crisis.incidents import statements
from crisis.incidents.models import (
    EMERGENCY_STATUSES,
    MEDIA_ANSWER_KINDS,
    MEDIA_CHANNELS,
    MEDIA_OUTLET_TYPES,
    MEDIA_QUERY_STATES,
    STATEMENT_KINDS,
)


class EntryOut(ma.Schema):
    id = ma.fields.Integer()
    item_key = ma.fields.String()
    text = ma.fields.Function(lambda e: e.stage_run.spec.checklist[e.position].text.to_canonical())
    required = ma.fields.Boolean()
    owner_role = ma.fields.String()
    evidence_expected = ma.fields.Boolean()
    assignee_id = row_id(allow_none=True)
    done_at = ma.fields.AwareDateTime(allow_none=True)
    done_by_id = ma.fields.Integer(allow_none=True)
    note = ma.fields.String()
    evidence_url = ma.fields.String()
    waived_at = ma.fields.AwareDateTime(allow_none=True)
    waive_reason = ma.fields.String()
    # The time the item records (its SOP item says `records: known_at`); null when none yet.
    recorded_at = ma.fields.AwareDateTime(allow_none=True)


class StageRunOut(ma.Schema):
    id = ma.fields.Integer()
    position = ma.fields.Integer()
    stage_key = ma.fields.String()
    title = ma.fields.Function(lambda r: r.spec.title.to_canonical())
    state = ma.fields.String()
    target_seconds = ma.fields.Integer()
    started_at = ma.fields.AwareDateTime(allow_none=True)
    due_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    breached = ma.fields.Boolean()
    entries = ma.fields.List(ma.fields.Nested(EntryOut))


class PublicationOut(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit_code = ma.fields.Function(lambda p: p.unit.code)
    channel = ma.fields.String()
    url = ma.fields.String()
    published_at = ma.fields.AwareDateTime()
    spokesperson_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "The incident's spokesperson when the owner published it"}
    )


class ChainStepOut(ma.Schema):
    step = ma.fields.Integer(attribute="index", metadata={"description": "Position in the playbook's chain"})
    role = ma.fields.String(
        metadata={
            "description": "Who signs it: supervisor (or head), head, legal (legal reviewer), leader "
            "(head of the institution or delegate, of the owning unit itself)"
        }
    )
    state = ma.fields.String(metadata={"description": "signed, waiting (the next to sign), to_come or not_needed"})
    signed_by_id = ma.fields.Function(lambda c: c.signature.signed_by_id if c.signature else None, allow_none=True)
    signed_by_name = ma.fields.Function(lambda c: c.signature.signed_by.name if c.signature else None, allow_none=True)
    signed_at = ma.fields.Function(
        lambda c: c.signature.signed_at.isoformat() if c.signature else None,
        allow_none=True,
        metadata={"description": "When it was signed, with its zone"},
    )


class StatementOut(ma.Schema):
    id = ma.fields.Integer()
    incident_id = ma.fields.Integer()
    kind = ma.fields.String()
    title = ma.fields.String()
    body = ma.fields.String()
    state = ma.fields.String()
    version = bounded_int()
    drafted_by_id = ma.fields.Integer()
    drafted_at = ma.fields.AwareDateTime()
    approved_by_id = ma.fields.Integer(allow_none=True)
    approved_at = ma.fields.AwareDateTime(allow_none=True)
    published_at = ma.fields.AwareDateTime(allow_none=True)
    returned_at = ma.fields.AwareDateTime(allow_none=True)
    returned_by_id = ma.fields.Integer(allow_none=True)
    return_reason = ma.fields.String(metadata={"description": "Why an approver sent it back (state `returned`)"})
    approval = ma.fields.Function(
        lambda st: ChainStepOut(many=True).dump(statements.chain(st)),
        metadata={"description": "The approval chain of the playbook (settings.approval), each step as it stands"},
    )
    awaiting_role = ma.fields.String(
        allow_none=True, metadata={"description": "The role whose signature the statement waits for, if any"}
    )
    publications = ma.fields.List(ma.fields.Nested(PublicationOut))


class InvolvedOut(ma.Schema):
    unit_id = ma.fields.Integer()
    unit_code = ma.fields.Function(lambda i: i.unit.code)
    involved_at = ma.fields.AwareDateTime()
    released_at = ma.fields.AwareDateTime(allow_none=True)


class IncidentSummaryOut(ma.Schema):
    id = ma.fields.Integer()
    reference = ma.fields.String()
    title = ma.fields.String()
    severity = ma.fields.Integer()
    state = ma.fields.String()
    unit_id = ma.fields.Integer()
    unit_code = ma.fields.Function(lambda i: i.unit.code)
    commander_id = ma.fields.Integer()
    issue_id = ma.fields.Integer(allow_none=True)
    exercise_id = ma.fields.Integer(allow_none=True, metadata={"description": "Set when this is a drill (latihan)"})
    playbook = ma.fields.Function(lambda i: {"key": i.playbook_snapshot["key"], "version": i.playbook_version.number})
    started_at = ma.fields.AwareDateTime()
    first_statement_at = ma.fields.AwareDateTime(allow_none=True)
    resolved_at = ma.fields.AwareDateTime(allow_none=True)
    cancelled_at = ma.fields.AwareDateTime(allow_none=True)
    version = ma.fields.Integer(metadata={"description": "Send back as `version` to detect a concurrent change"})


class IncidentOut(IncidentSummaryOut):
    state_reason = ma.fields.String()
    stages = ma.fields.List(ma.fields.Nested(StageRunOut), attribute="stage_runs")
    involved = ma.fields.List(ma.fields.Nested(InvolvedOut))
    statements = ma.fields.List(ma.fields.Nested(StatementOut))
    spokesperson_id = ma.fields.Integer(allow_none=True)
    emergency_status = ma.fields.String(
        metadata={
            "description": "none, alert (siaga darurat), response (tanggap darurat) or transition (transisi "
            "darurat ke pemulihan)"
        }
    )
    emergency_since = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "When the status in force was declared (or the last one ended)"}
    )


class IncidentConflictOut(ProblemSchema):
    current = ma.fields.Nested(IncidentOut, metadata={"description": "The incident as it is now"})


class TimelineOut(ma.Schema):
    id = ma.fields.Integer()
    occurred_at = ma.fields.AwareDateTime()
    kind = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True)
    data = ma.fields.Dict()


class CommentOut(ma.Schema):
    id = ma.fields.Integer()
    author_id = ma.fields.Integer()
    body = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class IncidentQuery(ma.Schema):
    state = ma.fields.String(
        load_default="active", validate=ma.validate.OneOf(["active", "resolved", "closed", "cancelled"])
    )
    unit_id = row_id()
    severity = bounded_int(1, 4)
    exercises = ma.fields.Boolean(
        load_default=False, metadata={"description": "true: the drills (latihan) instead of the real incidents"}
    )


class EscalateIn(ma.Schema):
    playbook_key = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    severity = bounded_int(1, 4, required=True)
    commander_id = row_id(required=True)


class TickIn(ma.Schema):
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    evidence_url = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))


class RecordedTimeIn(ma.Schema):
    recorded_at = ma.fields.AwareDateTime(required=True)


class EntryPatch(ma.Schema):
    note = ma.fields.String(validate=ma.validate.Length(max=5000))
    evidence_url = ma.fields.String(validate=ma.validate.Length(max=2000))
    assignee_id = row_id(allow_none=True)


class ReasonIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))
    version = bounded_int()


class VersionIn(ma.Schema):
    version = bounded_int()


class SeverityIn(ReasonIn):
    severity = bounded_int(1, 4, required=True)


class SpokespersonIn(ma.Schema):
    spokesperson_id = row_id(required=True, allow_none=True, metadata={"description": "null: nobody any more"})
    version = bounded_int()


class EmergencyStatusIn(ma.Schema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(EMERGENCY_STATUSES))
    declared_at = ma.fields.AwareDateTime(
        load_default=None, allow_none=True, metadata={"description": "When it was declared or ended; default now"}
    )
    version = bounded_int()


class InvolveUnitIn(ma.Schema):
    unit_id = row_id(required=True)


class HandoverIn(ma.Schema):
    to = ma.fields.String(required=True, validate=ma.validate.OneOf(["parent", "central"]))
    commander_id = row_id(load_default=None, allow_none=True)
    version = bounded_int()


class CommentIn(ma.Schema):
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))


class StatementIn(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(STATEMENT_KINDS))
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20000))


class StatementPatch(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20000))
    version = bounded_int()


class StatementReturnIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))
    version = bounded_int()


class PublicationIn(ma.Schema):
    channel = ma.fields.String(required=True, validate=ma.validate.Length(max=32))
    url = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    published_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)


class SharedPublicationIn(PublicationIn):
    unit_id = row_id(required=True)


# --- the media desk ------------------------------------------------------------------------------


class MediaQueryOut(ma.Schema):
    id = ma.fields.Integer()
    incident_id = ma.fields.Integer()
    journalist = ma.fields.String()
    outlet = ma.fields.String()
    outlet_type = ma.fields.String(metadata={"enum": list(MEDIA_OUTLET_TYPES)})
    channel = ma.fields.String(metadata={"enum": list(MEDIA_CHANNELS)})
    question = ma.fields.String()
    journalist_deadline = ma.fields.AwareDateTime(allow_none=True)
    received_at = ma.fields.AwareDateTime()
    due_at = ma.fields.AwareDateTime(metadata={"description": "The answer target."})
    logged_by_id = ma.fields.Integer()
    logged_at = ma.fields.AwareDateTime()
    assignee_id = ma.fields.Integer(allow_none=True)
    assigned_at = ma.fields.AwareDateTime(allow_none=True)
    state = ma.fields.String(metadata={"enum": list(MEDIA_QUERY_STATES)})
    answer_kind = ma.fields.String(allow_none=True, metadata={"enum": list(MEDIA_ANSWER_KINDS)})
    statement_id = ma.fields.Integer(allow_none=True)
    answer_text = ma.fields.String()
    answer_drafted_by_id = ma.fields.Integer(allow_none=True)
    answer_approved_by_id = ma.fields.Integer(allow_none=True)
    answered_at = ma.fields.AwareDateTime(allow_none=True)
    answered_by_id = ma.fields.Integer(allow_none=True)
    decline_reason = ma.fields.String()
    holding_line = ma.fields.String()
    on_time = ma.fields.Boolean(allow_none=True)
    version = ma.fields.Integer()


class MediaQueryFields(ma.Schema):
    journalist = ma.fields.String(validate=ma.validate.Length(max=200))
    outlet = ma.fields.String(validate=ma.validate.Length(max=200))
    outlet_type = ma.fields.String(validate=ma.validate.Length(max=24), metadata={"enum": list(MEDIA_OUTLET_TYPES)})
    channel = ma.fields.String(validate=ma.validate.Length(max=24), metadata={"enum": list(MEDIA_CHANNELS)})
    question = ma.fields.String(validate=ma.validate.Length(max=5000))
    journalist_deadline = ma.fields.AwareDateTime(allow_none=True)
    received_at = ma.fields.AwareDateTime(
        metadata={"description": "When the question came; not in the future, not before the issue was first seen."}
    )


class MediaQueryIn(MediaQueryFields):
    journalist = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    outlet = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    outlet_type = ma.fields.String(
        required=True, validate=ma.validate.Length(max=24), metadata={"enum": list(MEDIA_OUTLET_TYPES)}
    )
    channel = ma.fields.String(
        required=True, validate=ma.validate.Length(max=24), metadata={"enum": list(MEDIA_CHANNELS)}
    )
    question = ma.fields.String(required=True, validate=ma.validate.Length(max=5000))
    received_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    assignee_id = row_id(load_default=None, allow_none=True)


class MediaQueryPatch(MediaQueryFields):
    """One action per request: assign, edit (the fields above), answer (with statement_id),
    draft_answer (answer_text), approve_answer, or decline (decline_reason and holding_line)."""

    action = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(["assign", "edit", "answer", "draft_answer", "approve_answer", "decline"]),
    )
    assignee_id = row_id(allow_none=True)
    statement_id = row_id()
    answer_text = ma.fields.String(validate=ma.validate.Length(max=5000))
    answered_at = ma.fields.AwareDateTime(allow_none=True)
    decline_reason = ma.fields.String(validate=ma.validate.Length(max=5000))
    holding_line = ma.fields.String(validate=ma.validate.Length(max=5000))
    version = bounded_int()
