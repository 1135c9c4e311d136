"""An incident's emergency status, as BNPB and the regional disaster agencies declare it: none, siaga
darurat (alert), tanggap darurat (response) or transisi darurat ke pemulihan (transition to recovery).
The status in force is kept on the incident with the time it was declared (the decree's, as entered);
ending it keeps the time it ended. Each change is a timeline event, and a stage with
`cycle: {until: emergency_ends}` follows it (crisis.escalation.planning.emergency_changed, through the
EMERGENCY_STATUS_CHANGED hook): its cycles stop when the status ends and start again when one is
declared."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crisis import clock, hooks, moments
from crisis.auth.models import User
from crisis.errors import ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.access import lead_action, record
from crisis.incidents.models import EMERGENCY_STATUSES, Incident


def _not_before(incident: Incident) -> list[tuple[datetime | None, object]]:
    issue = incident.issue
    first_seen = issue.first_seen_at if issue is not None else None
    bounds: list[tuple[datetime | None, object]] = [
        (
            min(first_seen, incident.started_at) if first_seen is not None else incident.started_at,
            _l("The status cannot be declared before the issue was first seen or the incident started."),
        )
    ]
    if incident.emergency_since is not None:
        bounds.append(
            (incident.emergency_since, _l("The change cannot be earlier than the status it replaces was declared."))
        )
    return bounds


def set_status(
    *,
    session: Session,
    actor: User,
    incident_id: int,
    status: str,
    declared_at: datetime | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """Declare, change or end (status `none`) the emergency status, as of `declared_at` (default now).
    The commander, a supervisor, head or administrator over the owning unit decides it."""
    now = now or clock.now()
    incident = lead_action(session=session, actor=actor, incident_id=incident_id, expected_version=expected_version)
    errors: dict[str, str] = {}
    if status not in EMERGENCY_STATUSES:
        errors["status"] = str(
            _l("Choose siaga darurat, tanggap darurat, transisi darurat ke pemulihan, or no status (ended).")
        )
    elif status == incident.emergency_status:
        errors["status"] = str(_l("This status is already in force."))
    moment = declared_at or now
    wrong = moments.problem(moment, now=now, not_before=_not_before(incident))
    if wrong is not None:
        errors["declared_at"] = wrong
    if errors:
        raise ValidationFailed(errors)
    before = incident.emergency_status
    incident.emergency_status, incident.emergency_since = status, moment
    session.flush()
    record(
        session=session,
        incident=incident,
        actor=actor,
        kind="incident.emergency_status",
        now=now,
        before=before,
        after=status,
        declared_at=moment.isoformat(),
    )
    hooks.run(hooks.EMERGENCY_STATUS_CHANGED, session=session, incident=incident, before=before, now=now)
    return incident
