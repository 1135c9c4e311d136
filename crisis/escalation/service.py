"""The deadline engine's service: where the incident workflow plugs in its timers.

Each function writes or cancels Timer rows in the caller's transaction (flush, never commit),
so a stage that starts has its deadlines in the same commit, and a stage that completes
cancels them in the same commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crisis.incidents.models import Incident, StageRun


def plan_stage(*, session: Session, stage_run: StageRun, now: datetime) -> None:
    """A stage started: write its due timer and one timer per escalation step."""


def cancel_stage(*, session: Session, stage_run: StageRun, now: datetime) -> None:
    """A stage completed: cancel its pending timers."""


def replan_incident(*, session: Session, incident: Incident, now: datetime) -> None:
    """The severity changed: re-plan the active stage's timers from its start."""


def cancel_incident(*, session: Session, incident: Incident, now: datetime) -> None:
    """The incident was resolved or cancelled: cancel every pending timer of it."""


def plan_updates(*, session: Session, incident: Incident, now: datetime) -> None:
    """A situation update was published (or the incident opened): plan the next update reminder."""
