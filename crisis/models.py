"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from crisis.auth.models import ApiToken, Membership, User
from crisis.idempotency import IdempotencyRecord
from crisis.incidents.models import (
    ChecklistEntry,
    Comment,
    Exercise,
    Incident,
    InvolvedUnit,
    Participant,
    Publication,
    StageRun,
    Statement,
)
from crisis.issues.models import Issue, IssueEvidence, MonitoringNote
from crisis.playbooks.models import Playbook, PlaybookVersion, ScenarioVersion
from crisis.ratelimit import RateLimitCount
from crisis.system.models import SchedulerHeartbeat, WorkerCheck
from crisis.timeline.models import TimelineEvent
from crisis.units.letterhead import UnitLetterhead
from crisis.units.models import DutyShift, Unit

__all__ = [
    "ApiToken",
    "ChecklistEntry",
    "Comment",
    "DutyShift",
    "IdempotencyRecord",
    "Exercise",
    "Incident",
    "InvolvedUnit",
    "Issue",
    "IssueEvidence",
    "Membership",
    "MonitoringNote",
    "Participant",
    "Playbook",
    "PlaybookVersion",
    "Publication",
    "RateLimitCount",
    "SchedulerHeartbeat",
    "ScenarioVersion",
    "StageRun",
    "Statement",
    "TimelineEvent",
    "Unit",
    "UnitLetterhead",
    "User",
    "WorkerCheck",
]
from crisis.escalation.models import Timer  # noqa: E402, F401, I001
from crisis.notify.models import ChannelPreference, Notice, WebhookEndpoint  # noqa: E402, F401, I001
from crisis.reviews.models import ActionItem, Review  # noqa: E402, F401, I001
from crisis.reports.models import IncidentMeasure, KeyMessageLag, KpiTarget, MonthlyReport  # noqa: E402, F401, I001
from crisis.audit.models import AuditEvent  # noqa: E402, F401, I001
from crisis.exercises.models import ExerciseTarget  # noqa: E402, F401, I001
