"""The hooks of every layer, connected in one place (see crisis.hooks for the points)."""

from __future__ import annotations

from typing import Any

from crisis import hooks
from crisis.audit import service as audit
from crisis.auth import service as auth
from crisis.desk import notices as desk_notices
from crisis.escalation import media, planning
from crisis.exercises import service as exercises
from crisis.incidents import statements
from crisis.notify import chat
from crisis.notify import service as notify
from crisis.playbooks import service as playbooks
from crisis.reviews import service as reviews


def _open_review(*, session: Any, incident: Any, now: Any, actor: Any) -> None:
    # The post-incident review starts as a draft built from what was recorded.
    reviews.open_draft(session=session, incident=incident, now=now, actor=actor)


def _end_deadlines(*, session: Any, incident: Any, now: Any, **_: Any) -> None:
    # Resolved: pending timers are cancelled and the review-due timer planned; cancelled or
    # closed: every pending timer of the incident is cancelled.
    planning.cancel_incident(session=session, incident=incident, now=now)


def connect_hooks() -> None:
    # The audit page names each event's target in words (see crisis.audit.service.target_words).
    audit.name_targets("user", auth.user_names)
    audit.name_targets("token", auth.token_names)
    audit.name_targets("webhook", notify.webhook_names)
    audit.name_targets("playbook", playbooks.version_names)
    hooks.connect(hooks.INCIDENT_OPENED, planning.plan_updates)
    hooks.connect(hooks.STAGE_STARTED, planning.plan_stage)
    hooks.connect(hooks.STAGE_COMPLETED, planning.cancel_stage)
    hooks.connect(hooks.SEVERITY_CHANGED, planning.replan_incident)
    hooks.connect(hooks.SEVERITY_CHANGED, statements.severity_changed)  # the approval chain follows it
    hooks.connect(hooks.EMERGENCY_STATUS_CHANGED, planning.emergency_changed)
    hooks.connect(hooks.RECORDED_TIME_CHANGED, planning.replan_incident)
    hooks.connect(hooks.UPDATE_PUBLISHED, planning.plan_updates)
    hooks.connect(hooks.UPDATE_PUBLISHED, planning.close_cycle)
    hooks.connect(hooks.INCIDENT_RESOLVED, _end_deadlines)
    hooks.connect(hooks.INCIDENT_RESOLVED, _open_review)
    hooks.connect(hooks.INCIDENT_CANCELLED, _end_deadlines)
    hooks.connect(hooks.INCIDENT_CLOSED, _end_deadlines)
    hooks.connect(hooks.STATEMENT_SUBMITTED, desk_notices.statement_submitted)
    hooks.connect(hooks.UNIT_INVOLVED, desk_notices.unit_involved)
    hooks.connect(hooks.REVIEW_SUBMITTED, desk_notices.review_submitted)
    hooks.connect(hooks.STATEMENT_APPROVED, chat.post_key_messages)
    hooks.connect(hooks.INCIDENT_RESOLVED, exercises.incident_ended)
    hooks.connect(hooks.INCIDENT_CANCELLED, exercises.incident_ended)
    hooks.connect(hooks.MEDIA_QUERY_CHANGED, media.plan)
    hooks.connect(hooks.SEVERITY_CHANGED, media.replan_incident)
