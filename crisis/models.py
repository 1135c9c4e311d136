"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from crisis.auth.models import ApiToken, Membership, User
from crisis.playbooks.models import Playbook, PlaybookVersion
from crisis.system.models import SchedulerHeartbeat, WorkerCheck
from crisis.timeline.models import TimelineEvent
from crisis.units.models import DutyShift, Unit

__all__ = [
    "ApiToken",
    "DutyShift",
    "Membership",
    "Playbook",
    "PlaybookVersion",
    "SchedulerHeartbeat",
    "TimelineEvent",
    "Unit",
    "User",
    "WorkerCheck",
]
