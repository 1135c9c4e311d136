"""Incidents, stages, checklists and statements over JSON. Thin: parse, call a service, commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import jsonify

from crisis.auth.identity import authenticated, bearer_user
from crisis.errors import Conflict
from crisis.extensions import db
from crisis.http import PROBLEM_JSON, Blueprint, problem
from crisis.incidents import emergency, media, service, statements
from crisis.incidents import schemas as s
from crisis.incidents.models import ChecklistEntry, Statement

blp = Blueprint("incidents_api", __name__, url_prefix="/api/v1", description="Incidents, statements and media queries")


def _commit_or_conflict(
    incident_id: int | Callable[[], int], action: Callable[[], Any], answer: ma.Schema | None = None
) -> Any:
    """One action, one transaction; the loser of a race gets 409 with the current incident
    (incident_id may be a function, called only then).

    answer: the response schema, applied before the commit, while what the action changed is still
    loaded (after it, every object would be read again: three more queries for a checklist item)."""
    try:
        result = action()
        body = answer.dump(result) if answer is not None else None
    except Conflict as error:
        db.session.rollback()
        if callable(incident_id):
            incident_id = incident_id()
        current = service.get(session=db.session, user=bearer_user(), incident_id=incident_id)
        return problem(409, error.title, error.message, current=s.IncidentOut().dump(current))
    db.session.commit()
    return result if answer is None else jsonify(body)


def _incident_of_entry(entry_id: int) -> int:
    entry = db.session.get(ChecklistEntry, entry_id)
    return entry.stage_run.incident_id if entry else 0


def _incident_of_statement(statement_id: int) -> int:
    statement = db.session.get(Statement, statement_id)
    return statement.incident_id if statement else 0


@blp.route("/incidents")
@authenticated
@blp.arguments(s.IncidentQuery, location="query")
@blp.response(200, s.IncidentSummaryOut(many=True))
def list_incidents(query: dict[str, Any]) -> Any:
    """Incidents the caller may see: their units' subtree and incidents their units are involved in."""
    return service.list_for_user(
        session=db.session,
        user=bearer_user(),
        states=(query["state"],),
        unit_id=query.get("unit_id"),
        severity=query.get("severity"),
        exercises=query["exercises"],
    )


@blp.route("/issues/<int:issue_id>/escalate", methods=["POST"])
@authenticated
@blp.arguments(s.EscalateIn)
@blp.response(201, s.IncidentOut)
def escalate(data: dict[str, Any], issue_id: int) -> Any:
    """Open an incident from an issue, running a snapshot of the chosen playbook version."""
    incident = service.open_from_issue(session=db.session, actor=bearer_user(), issue_id=issue_id, **data)
    db.session.commit()
    return incident


@blp.route("/incidents/<int:incident_id>")
@authenticated
@blp.response(200, s.IncidentOut)
def get_incident(incident_id: int) -> Any:
    return service.get(session=db.session, user=bearer_user(), incident_id=incident_id)


@blp.route("/incidents/<int:incident_id>/timeline")
@authenticated
@blp.response(200, s.TimelineOut(many=True))
def timeline(incident_id: int) -> Any:
    incident = service.get(session=db.session, user=bearer_user(), incident_id=incident_id)
    return service.events(session=db.session, incident=incident)


@blp.route("/incidents/<int:incident_id>/stages/<int:run_id>/complete", methods=["POST"])
@authenticated
@blp.response(200, s.IncidentOut)
@blp.alt_response(
    409,
    schema=s.IncidentConflictOut,
    description="Stage not current; `current` is the incident now",
    content_type=PROBLEM_JSON,
)
def complete_stage(incident_id: int, run_id: int) -> Any:
    """Refused with 422 naming the open required items; completing starts the next stage."""

    def action() -> Any:
        run = service.complete_stage(session=db.session, actor=bearer_user(), stage_run_id=run_id)
        return run.incident

    return _commit_or_conflict(incident_id, action)


@blp.route("/checklist/<int:entry_id>/tick", methods=["POST"])
@authenticated
@blp.arguments(s.TickIn)
@blp.response(200, s.EntryOut)
def tick(data: dict[str, Any], entry_id: int) -> Any:
    return _commit_or_conflict(
        lambda: _incident_of_entry(entry_id),
        lambda: service.tick(session=db.session, actor=bearer_user(), entry_id=entry_id, **data),
        s.EntryOut(),
    )


@blp.route("/checklist/<int:entry_id>/recorded-time", methods=["POST"])
@authenticated
@blp.arguments(s.RecordedTimeIn)
@blp.response(200, s.EntryOut)
def recorded_time(data: dict[str, Any], entry_id: int) -> Any:
    """Enter or correct the time an item records (e.g. when the leak was known); the deadlines
    measured from it are planned again."""
    return _commit_or_conflict(
        lambda: _incident_of_entry(entry_id),
        lambda: service.record_time(session=db.session, actor=bearer_user(), entry_id=entry_id, at=data["recorded_at"]),
        s.EntryOut(),
    )


@blp.route("/checklist/<int:entry_id>/untick", methods=["POST"])
@authenticated
@blp.response(200, s.EntryOut)
def untick(entry_id: int) -> Any:
    return _commit_or_conflict(
        lambda: _incident_of_entry(entry_id),
        lambda: service.untick(session=db.session, actor=bearer_user(), entry_id=entry_id),
        s.EntryOut(),
    )


@blp.route("/checklist/<int:entry_id>/waive", methods=["POST"])
@authenticated
@blp.arguments(s.ReasonIn)
@blp.response(200, s.EntryOut)
def waive(data: dict[str, Any], entry_id: int) -> Any:
    """Skip a required item with a reason (commander, supervisors, heads)."""
    return _commit_or_conflict(
        lambda: _incident_of_entry(entry_id),
        lambda: service.waive(session=db.session, actor=bearer_user(), entry_id=entry_id, reason=data["reason"]),
    )


@blp.route("/checklist/<int:entry_id>", methods=["PATCH"])
@authenticated
@blp.arguments(s.EntryPatch)
@blp.response(200, s.EntryOut)
def patch_entry(data: dict[str, Any], entry_id: int) -> Any:
    """Note, evidence link and owner of a checklist item."""

    def action() -> Any:
        entry = None
        if "note" in data or "evidence_url" in data:
            entry = service.annotate(
                session=db.session,
                actor=bearer_user(),
                entry_id=entry_id,
                note=data.get("note"),
                evidence_url=data.get("evidence_url"),
            )
        if "assignee_id" in data:
            entry = service.assign(
                session=db.session, actor=bearer_user(), entry_id=entry_id, assignee_id=data["assignee_id"]
            )
        return entry or service.annotate(session=db.session, actor=bearer_user(), entry_id=entry_id)

    return _commit_or_conflict(lambda: _incident_of_entry(entry_id), action)


@blp.route("/incidents/<int:incident_id>/comments", methods=["POST"])
@authenticated
@blp.arguments(s.CommentIn)
@blp.response(201, s.CommentOut)
def comment(data: dict[str, Any], incident_id: int) -> Any:
    note = service.comment(session=db.session, actor=bearer_user(), incident_id=incident_id, body=data["body"])
    db.session.commit()
    return note


@blp.route("/incidents/<int:incident_id>/severity", methods=["POST"])
@authenticated
@blp.arguments(s.SeverityIn)
@blp.response(200, s.IncidentOut)
def change_severity(data: dict[str, Any], incident_id: int) -> Any:
    """Re-plans the running stage's target from its start. Send `version` to refuse a stale change."""
    return _commit_or_conflict(
        incident_id,
        lambda: service.change_severity(
            session=db.session,
            actor=bearer_user(),
            incident_id=incident_id,
            severity=data["severity"],
            reason=data["reason"],
            expected_version=data.get("version"),
        ),
    )


@blp.route("/incidents/<int:incident_id>/spokesperson", methods=["POST"])
@authenticated
@blp.arguments(s.SpokespersonIn)
@blp.response(200, s.IncidentOut)
def designate_spokesperson(data: dict[str, Any], incident_id: int) -> Any:
    """The commander, a supervisor or head over the owning unit designates who speaks for the
    institution (a person of the owning unit or a unit above it); null clears it."""
    return _commit_or_conflict(
        incident_id,
        lambda: statements.designate_spokesperson(
            session=db.session,
            actor=bearer_user(),
            incident_id=incident_id,
            spokesperson_id=data["spokesperson_id"],
            expected_version=data.get("version"),
        ),
    )


@blp.route("/incidents/<int:incident_id>/emergency-status", methods=["POST"])
@authenticated
@blp.arguments(s.EmergencyStatusIn)
@blp.response(200, s.IncidentOut)
def emergency_status(data: dict[str, Any], incident_id: int) -> Any:
    """Declare, change or end (`none`) the emergency status, as of `declared_at`; stages repeating
    `until: emergency_ends` stop when it ends."""
    return _commit_or_conflict(
        incident_id,
        lambda: emergency.set_status(
            session=db.session,
            actor=bearer_user(),
            incident_id=incident_id,
            status=data["status"],
            declared_at=data.get("declared_at"),
            expected_version=data.get("version"),
        ),
    )


@blp.route("/incidents/<int:incident_id>/involved", methods=["POST"])
@authenticated
@blp.arguments(s.InvolveUnitIn)
@blp.response(200, s.IncidentOut)
def involve(data: dict[str, Any], incident_id: int) -> Any:
    def action() -> Any:
        service.involve_unit(session=db.session, actor=bearer_user(), incident_id=incident_id, unit_id=data["unit_id"])
        return service.get(session=db.session, user=bearer_user(), incident_id=incident_id)

    return _commit_or_conflict(incident_id, action)


@blp.route("/incidents/<int:incident_id>/involved/<int:unit_id>", methods=["DELETE"])
@authenticated
@blp.response(200, s.IncidentOut)
def release(incident_id: int, unit_id: int) -> Any:
    def action() -> Any:
        service.release_unit(session=db.session, actor=bearer_user(), incident_id=incident_id, unit_id=unit_id)
        return service.get(session=db.session, user=bearer_user(), incident_id=incident_id)

    return _commit_or_conflict(incident_id, action)


@blp.route("/incidents/<int:incident_id>/handover", methods=["POST"])
@authenticated
@blp.arguments(s.HandoverIn)
@blp.response(200, s.IncidentOut)
def handover(data: dict[str, Any], incident_id: int) -> Any:
    """Hand ownership to the parent unit or the central desk, which takes command."""
    return _commit_or_conflict(
        incident_id,
        lambda: service.hand_over(
            session=db.session,
            actor=bearer_user(),
            incident_id=incident_id,
            to=data["to"],
            commander_id=data.get("commander_id"),
            expected_version=data.get("version"),
        ),
    )


@blp.route("/incidents/<int:incident_id>/resolve", methods=["POST"])
@authenticated
@blp.arguments(s.VersionIn)
@blp.response(200, s.IncidentOut)
def resolve(data: dict[str, Any], incident_id: int) -> Any:
    """Refused with 422 naming every required item still open."""
    return _commit_or_conflict(
        incident_id,
        lambda: service.resolve(
            session=db.session, actor=bearer_user(), incident_id=incident_id, expected_version=data.get("version")
        ),
    )


@blp.route("/incidents/<int:incident_id>/cancel", methods=["POST"])
@authenticated
@blp.arguments(s.ReasonIn)
@blp.response(200, s.IncidentOut)
def cancel(data: dict[str, Any], incident_id: int) -> Any:
    """A false alarm, with the reason on record."""
    return _commit_or_conflict(
        incident_id,
        lambda: service.cancel(
            session=db.session,
            actor=bearer_user(),
            incident_id=incident_id,
            reason=data["reason"],
            expected_version=data.get("version"),
        ),
    )


@blp.route("/incidents/<int:incident_id>/statements", methods=["POST"])
@authenticated
@blp.arguments(s.StatementIn)
@blp.response(201, s.StatementOut)
def draft_statement(data: dict[str, Any], incident_id: int) -> Any:
    statement = statements.draft(session=db.session, actor=bearer_user(), incident_id=incident_id, **data)
    db.session.commit()
    return statement


@blp.route("/statements/<int:statement_id>", methods=["PATCH"])
@authenticated
@blp.arguments(s.StatementPatch)
@blp.response(200, s.StatementOut)
def edit_statement(data: dict[str, Any], statement_id: int) -> Any:
    """Edit a draft, or one sent back (which becomes a draft waiting for approval again)."""
    return _commit_or_conflict(
        _incident_of_statement(statement_id),
        lambda: statements.edit(
            session=db.session,
            actor=bearer_user(),
            statement_id=statement_id,
            title=data["title"],
            body=data["body"],
            expected_version=data.get("version"),
        ),
    )


@blp.route("/statements/<int:statement_id>/approve", methods=["POST"])
@authenticated
@blp.arguments(s.VersionIn)
@blp.response(200, s.StatementOut)
def approve_statement(data: dict[str, Any], statement_id: int) -> Any:
    """Sign the step of the approval chain the statement waits for (a supervisor or head over the
    owning unit, a legal reviewer, the head of the institution, as the playbook asks); the last step
    approves it. Nobody signs their own draft or twice."""
    return _commit_or_conflict(
        _incident_of_statement(statement_id),
        lambda: statements.approve(
            session=db.session, actor=bearer_user(), statement_id=statement_id, expected_version=data.get("version")
        ),
    )


@blp.route("/statements/<int:statement_id>/return", methods=["POST"])
@authenticated
@blp.arguments(s.StatementReturnIn)
@blp.response(200, s.StatementOut)
def return_statement(data: dict[str, Any], statement_id: int) -> Any:
    """A signer sends a draft back to its author with a reason, clearing the signatures; editing it
    makes it a draft again."""
    return _commit_or_conflict(
        _incident_of_statement(statement_id),
        lambda: statements.send_back(
            session=db.session,
            actor=bearer_user(),
            statement_id=statement_id,
            reason=data["reason"],
            expected_version=data.get("version"),
        ),
    )


@blp.route("/statements/<int:statement_id>/publish", methods=["POST"])
@authenticated
@blp.arguments(s.PublicationIn)
@blp.response(201, s.PublicationOut)
def publish_statement(data: dict[str, Any], statement_id: int) -> Any:
    return _commit_or_conflict(
        _incident_of_statement(statement_id),
        lambda: statements.publish(session=db.session, actor=bearer_user(), statement_id=statement_id, **data),
    )


@blp.route("/statements/<int:statement_id>/shared-publications", methods=["POST"])
@authenticated
@blp.arguments(s.SharedPublicationIn)
@blp.response(201, s.PublicationOut)
def record_shared(data: dict[str, Any], statement_id: int) -> Any:
    """An involved unit records where and when it published the shared key messages."""
    return _commit_or_conflict(
        _incident_of_statement(statement_id),
        lambda: statements.record_shared_publication(
            session=db.session, actor=bearer_user(), statement_id=statement_id, **data
        ),
    )


# --- the media desk ------------------------------------------------------------------------------

_MEDIA_FIELDS = ("journalist", "outlet", "outlet_type", "channel", "question", "journalist_deadline", "received_at")


@blp.route("/incidents/<int:incident_id>/media-queries", methods=["POST"])
@authenticated
@blp.arguments(s.MediaQueryIn)
@blp.response(201, s.MediaQueryOut)
def log_media_query(data: dict[str, Any], incident_id: int) -> Any:
    """Log a journalist's question. Its answer target is received_at plus the SOP's
    `media_answer_within` at the incident's severity (4 hours by default), or the journalist's own
    deadline if sooner; past it the query escalates until answered or declined."""
    fields = {name: data[name] for name in _MEDIA_FIELDS if name in data and data[name] is not None}
    query = media.log(
        session=db.session,
        actor=bearer_user(),
        incident_id=incident_id,
        fields=fields,
        assignee_id=data.get("assignee_id"),
    )
    db.session.commit()
    return query


@blp.route("/incidents/<int:incident_id>/media-queries")
@authenticated
@blp.response(200, s.MediaQueryOut(many=True))
def list_media_queries(incident_id: int) -> Any:
    """The incident's media queries, oldest question first."""
    return media.list_for_incident(session=db.session, user=bearer_user(), incident_id=incident_id)


@blp.route("/media-queries/<int:query_id>", methods=["PATCH"])
@authenticated
@blp.arguments(s.MediaQueryPatch)
@blp.response(200, s.MediaQueryOut)
def change_media_query(data: dict[str, Any], query_id: int) -> Any:
    """One action: `assign` (assignee_id, null for nobody), `edit` (the query's fields), `answer`
    (statement_id: an approved statement or key messages of the incident), `draft_answer`
    (answer_text), `approve_answer` (a supervisor or head over the owning unit who did not write it),
    `decline` (decline_reason and holding_line: never "no comment"). answered_at defaults to now.
    Who may not act gets 403 before any 409 about the query's state."""
    query = apply_media_action(data, query_id)
    db.session.commit()
    return query


def apply_media_action(data: dict[str, Any], query_id: int) -> Any:
    """The PATCH's action, for the API and the page alike."""
    common = {
        "session": db.session,
        "actor": bearer_user(),
        "query_id": query_id,
        "expected_version": data.get("version"),
    }
    action = data["action"]
    if action == "assign":
        return media.assign(**common, assignee_id=data.get("assignee_id"))
    if action == "edit":
        return media.edit(**common, fields={name: data[name] for name in _MEDIA_FIELDS if name in data})
    if action == "answer":
        return media.answer_with_statement(
            **common, statement_id=data.get("statement_id"), answered_at=data.get("answered_at")
        )
    if action == "draft_answer":
        return media.draft_answer(**common, answer_text=data.get("answer_text", ""))
    if action == "approve_answer":
        return media.approve_answer(**common, answered_at=data.get("answered_at"))
    return media.decline(
        **common,
        reason=data.get("decline_reason", ""),
        holding_line=data.get("holding_line", ""),
        answered_at=data.get("answered_at"),
    )
