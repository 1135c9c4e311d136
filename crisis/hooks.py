"""Hook points: where a lower layer causes work in a higher one, inside the same transaction.

Imports flow one way (incidents never import escalation or reviews), yet starting a stage must
write its timers and resolving an incident must open its review in the same commit. The lower
layer runs a named hook point; the higher layers' handlers are connected to it in one place,
`crisis.wiring.connect_hooks`, called by `create_app`. Every handler takes keyword arguments only
and flushes, never commits. A hook point with no handler connected is an error, never a silent
skip: a deadline that was never planned would be a deadline missed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[..., Any]

# Each hook point, who runs it and with which arguments.
INCIDENT_OPENED = "incident.opened"  # incidents: session, incident, now
STAGE_STARTED = "stage.started"  # incidents: session, stage_run, now
STAGE_COMPLETED = "stage.completed"  # incidents: session, stage_run, now
SEVERITY_CHANGED = "incident.severity_changed"  # incidents: session, incident, now
# A time a stage's target is measured from was entered or corrected (records: known_at).
RECORDED_TIME_CHANGED = "incident.recorded_time_changed"  # incidents: session, incident, now
UPDATE_PUBLISHED = "incident.update_published"  # incidents (statements): session, incident, now
INCIDENT_RESOLVED = "incident.resolved"  # incidents: session, incident, now, actor
INCIDENT_CANCELLED = "incident.cancelled"  # incidents: session, incident, now
INCIDENT_CLOSED = "incident.closed"  # reviews (review approved): session, incident, now
# Someone has to act on it: the desk tells them (crisis.desk.notices).
STATEMENT_SUBMITTED = "statement.submitted"  # incidents (statements): session, statement, actor, now
UNIT_INVOLVED = "incident.unit_involved"  # incidents: session, incident, involved, actor, now
REVIEW_SUBMITTED = "review.submitted"  # reviews: session, review, actor, now
STATEMENT_APPROVED = "statement.approved"  # incidents (statements): session, statement, incident, now
# A media query was logged, assigned, edited, answered or declined: plan or cancel its escalation.
MEDIA_QUERY_CHANGED = "media_query.changed"  # incidents (media): session, media_query, now
# The emergency status was declared, changed or ended (cycles `until: emergency_ends` follow it).
EMERGENCY_STATUS_CHANGED = "incident.emergency_status_changed"  # incidents: session, incident, before, now

POINTS = (
    INCIDENT_OPENED,
    STAGE_STARTED,
    STAGE_COMPLETED,
    SEVERITY_CHANGED,
    RECORDED_TIME_CHANGED,
    UPDATE_PUBLISHED,
    INCIDENT_RESOLVED,
    INCIDENT_CANCELLED,
    INCIDENT_CLOSED,
    STATEMENT_SUBMITTED,
    UNIT_INVOLVED,
    REVIEW_SUBMITTED,
    STATEMENT_APPROVED,
    MEDIA_QUERY_CHANGED,
    EMERGENCY_STATUS_CHANGED,
)

_handlers: dict[str, list[Handler]] = {point: [] for point in POINTS}


class HookNotConnected(RuntimeError):
    """A hook point ran before `create_app` connected its handlers."""


def connect(point: str, handler: Handler) -> None:
    """Run `handler` at `point`, after the handlers connected before it; connecting twice is a no-op."""
    handlers = _handlers[point]
    if handler not in handlers:
        handlers.append(handler)


def run(point: str, **arguments: Any) -> None:
    handlers = _handlers[point]
    if not handlers:
        raise HookNotConnected(f"no handler is connected to {point!r}: create_app() connects them")
    for handler in handlers:
        handler(**arguments)


def connected() -> dict[str, list[str]]:
    """Each hook point and its handlers, by qualified name, in the order they run."""
    return {point: [f"{h.__module__}.{h.__qualname__}" for h in handlers] for point, handlers in _handlers.items()}
