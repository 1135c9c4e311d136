"""Issues over JSON: what monitoring tools post and what other desks read."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import jsonify, url_for
from flask.views import MethodView

from crisis import clock
from crisis.auth.identity import authenticated, bearer_user
from crisis.extensions import db
from crisis.http import PROBLEM_JSON, Blueprint
from crisis.idempotency import IDEMPOTENCY_PARAMETER, respond_once
from crisis.issues import service
from crisis.issues.schemas import (
    DismissIn,
    EvidenceIn,
    IssueBatchIn,
    IssueBatchOut,
    IssueConflictOut,
    IssueCreatedOut,
    IssueIn,
    IssueOut,
    IssuePatch,
    IssueQuery,
    IssueSummaryOut,
    MergeIn,
    MonitorIn,
    NoteIn,
)

blp = Blueprint(
    "issues_api",
    __name__,
    url_prefix="/api/v1",
    description="Issues: what duty officers and monitoring tools log, with a transparent risk score",
)

# Built once: a schema instance copies all its fields when made, and logging an issue is the busiest call.
_ISSUE_OUT, _SUMMARIES_OUT = IssueOut(), IssueSummaryOut(many=True)

CONFLICT_DOC = "Someone changed the issue first, or its state does not allow this; `current` is the issue now"


def _current_state_on_conflict(view: Callable[..., Any]) -> Callable[..., Any]:
    """409 problem+json that carries the issue as it is now, so the loser can redo their change."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except (service.StaleIssue, service.IssueClosed) as error:
            db.session.rollback()
            current = service.get(session=db.session, user=bearer_user(), issue_id=error.issue_id)
            response = jsonify(
                {
                    "type": "about:blank",
                    "title": error.title,
                    "status": error.status,
                    "detail": error.message,
                    "errors": error.errors,
                    "current": IssueOut().dump(current),
                }
            )
            response.status_code = error.status
            response.mimetype = "application/problem+json"
            return response

    return wrapper


def _created(issue: Any, duplicates: list[Any]) -> dict[str, Any]:
    """What logging an issue answers (IssueCreatedOut): the issue and its possible duplicates."""
    return {**_ISSUE_OUT.dump(issue), "duplicates": _SUMMARIES_OUT.dump(duplicates)}


def _issue_response(status: int, issue_id: int) -> Callable[[], tuple[int, Any]]:
    def perform() -> tuple[int, Any]:
        issue = service.get(session=db.session, user=bearer_user(), issue_id=issue_id)
        return status, IssueOut().dump(issue)

    return perform


@blp.route("/issues")
class Issues(MethodView):
    decorators = [authenticated]

    @blp.arguments(IssueQuery, location="query")
    @blp.response(200, IssueSummaryOut(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        """Issues in the units you can see, newest first.

        `state=open` gives new and monitored issues; `unit_id` includes the units below it.
        """
        return service.list_for_user(session=db.session, user=bearer_user(), **query)

    @blp.arguments(IssueIn)
    @blp.response(201, IssueCreatedOut)
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, data: dict[str, Any]) -> Any:
        """Log an issue; the answer includes its risk factors and possible duplicates.

        Send an `Idempotency-Key` header and a retry of the same request returns the first answer
        instead of logging the issue twice.
        """
        user = bearer_user()

        def perform() -> tuple[int, Any]:
            return 201, _created(*service.log(session=db.session, actor=user, now=clock.now(), **data))

        response = respond_once(session=db.session, user=user, perform=perform)
        response.headers["Location"] = url_for("issues_api.IssueById", issue_id=response.get_json()["id"])
        return response


@blp.route("/issues/batch", methods=["POST"])
@authenticated
@blp.arguments(IssueBatchIn)
@blp.response(201, IssueBatchOut)
@blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
def log_batch(data: dict[str, Any]) -> Any:
    """Log up to 100 issues at once, all or nothing; the answer lists each, in order, with its duplicates.

    For monitoring tools that collect many posts: one request instead of one per post. Every item
    is checked before anything is written; a bad item refuses the batch and is named
    `issues.<index>.<field>`. An item finds the items before it as possible duplicates. Send an
    `Idempotency-Key` header and a retry of the same batch returns the first answer.
    """
    user = bearer_user()

    def perform() -> tuple[int, Any]:
        logged = service.log_batch(session=db.session, actor=user, items=data["issues"], now=clock.now())
        return 201, {"issues": [_created(issue, duplicates) for issue, duplicates in logged]}

    return respond_once(session=db.session, user=user, perform=perform)


@blp.route("/issues/<int:issue_id>")
class IssueById(MethodView):
    decorators = [authenticated]

    @blp.response(200, IssueOut)
    def get(self, issue_id: int) -> Any:
        """One issue with its evidence, monitoring notes and the factors behind its risk score."""
        return service.get(session=db.session, user=bearer_user(), issue_id=issue_id)

    @blp.arguments(IssuePatch)
    @blp.response(200, IssueOut)
    @blp.alt_response(409, schema=IssueConflictOut, description=CONFLICT_DOC, content_type=PROBLEM_JSON)
    @_current_state_on_conflict
    def patch(self, data: dict[str, Any], issue_id: int) -> Any:
        """Correct an open issue. `version` must be the version you read: if anyone changed the
        issue since, the answer is 409 with the current state and nothing is written."""
        expected = data.pop("version")
        issue = service.update(
            session=db.session, actor=bearer_user(), issue_id=issue_id, changes=data, expected_version=expected
        )
        db.session.commit()
        return issue


@blp.route("/issues/<int:issue_id>/monitor", methods=["POST"])
@authenticated
@blp.arguments(MonitorIn)
@blp.response(200, IssueOut)
@blp.alt_response(409, schema=IssueConflictOut, description=CONFLICT_DOC, content_type=PROBLEM_JSON)
@_current_state_on_conflict
def monitor(data: dict[str, Any], issue_id: int) -> Any:
    """new → monitoring."""
    issue = service.start_monitoring(
        session=db.session, actor=bearer_user(), issue_id=issue_id, expected_version=data["version"]
    )
    db.session.commit()
    return issue


@blp.route("/issues/<int:issue_id>/notes", methods=["POST"])
@authenticated
@blp.arguments(NoteIn)
@blp.response(201, IssueOut)
@blp.alt_response(409, schema=IssueConflictOut, description=CONFLICT_DOC, content_type=PROBLEM_JSON)
@blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
@_current_state_on_conflict
def add_note(data: dict[str, Any], issue_id: int) -> Any:
    """Add a timestamped monitoring note; new reach/engagement figures update the issue and its risk."""
    user = bearer_user()

    def perform() -> tuple[int, Any]:
        service.add_note(
            session=db.session,
            actor=user,
            issue_id=issue_id,
            body=data["body"],
            reach=data["reach"],
            engagement=data["engagement"],
            sentiment=data["sentiment"],
            expected_version=data["version"],
        )
        return _issue_response(201, issue_id)()

    return respond_once(session=db.session, user=user, perform=perform)


@blp.route("/issues/<int:issue_id>/evidence", methods=["POST"])
@authenticated
@blp.arguments(EvidenceIn)
@blp.response(201, IssueOut)
@blp.alt_response(409, schema=IssueConflictOut, description=CONFLICT_DOC, content_type=PROBLEM_JSON)
@blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
@_current_state_on_conflict
def add_evidence(data: dict[str, Any], issue_id: int) -> Any:
    """Add an evidence link (a link the issue already has, in any spelling, is refused)."""
    user = bearer_user()

    def perform() -> tuple[int, Any]:
        service.add_evidence(
            session=db.session,
            actor=user,
            issue_id=issue_id,
            url=data["url"],
            note=data["note"],
            expected_version=data["version"],
        )
        return _issue_response(201, issue_id)()

    return respond_once(session=db.session, user=user, perform=perform)


@blp.route("/issues/<int:issue_id>/dismiss", methods=["POST"])
@authenticated
@blp.arguments(DismissIn)
@blp.response(200, IssueOut)
@blp.alt_response(409, schema=IssueConflictOut, description=CONFLICT_DOC, content_type=PROBLEM_JSON)
@_current_state_on_conflict
def dismiss(data: dict[str, Any], issue_id: int) -> Any:
    """new or monitoring → dismissed; `reason` is required."""
    issue = service.dismiss(
        session=db.session,
        actor=bearer_user(),
        issue_id=issue_id,
        reason=data["reason"],
        expected_version=data["version"],
    )
    db.session.commit()
    return issue


@blp.route("/issues/<int:issue_id>/merge", methods=["POST"])
@authenticated
@blp.arguments(MergeIn)
@blp.response(200, IssueOut)
@blp.alt_response(409, schema=IssueConflictOut, description=CONFLICT_DOC, content_type=PROBLEM_JSON)
@_current_state_on_conflict
def merge(data: dict[str, Any], issue_id: int) -> Any:
    """Merge this issue into `target_id`, the issue it repeats; answers with the target.

    Evidence and notes move to the target; this issue ends `merged`.
    """
    target = service.merge(session=db.session, actor=bearer_user(), source_id=issue_id, target_id=data["target_id"])
    db.session.commit()
    return target
