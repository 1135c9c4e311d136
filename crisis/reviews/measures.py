"""The measures of one response, computed from what the incident recorded.

Definitions (the evaluation dashboard in crisis.reports.dashboard uses the same ones, in SQL):

- time to acknowledge: incident start -> completion of its first stage (position 0).
- time to holding statement: incident start -> the first publication of a statement of kind
  "holding" (Statement.published_at is the owner's first publication of that statement).
- time to first statement: incident start -> the first publication of a statement of any kind.
- time to resolve: incident start -> resolved_at.
- a stage is *performed* when it was started and completed, and was not merely closed at the
  moment of resolution (started and completed at resolved_at: resolving completes the stages
  never reached); otherwise it is *not performed*.
- a performed stage is *met* when completed_at <= due_at; otherwise it is breached by
  completed_at - due_at.
- suggested rating: met -> performed; late by at most 50 % of its target -> with some challenges;
  later -> with major challenges; not performed -> not performed. A waived required item
  downgrades "performed" to "with some challenges".
- escalations: Notice rows of the deadline engine for escalation-step timers, one per
  (timer, person); acknowledged when any of that person's notices of the timer was.
- publication lag of shared key messages: from the key messages' approval to each involved
  unit's first publication of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crisis.incidents.models import ChecklistEntry, Incident, StageRun, Statement

LATE_SHARE_SOME = 0.5  # late by at most half the target: "with some challenges"


def _is_performed(run: StageRun, incident: Incident) -> bool:
    if run.started_at is None or run.completed_at is None:
        return False
    skipped = run.started_at == run.completed_at and run.completed_at == incident.resolved_at
    return not skipped


def suggest_rating(*, performed: bool, late: timedelta | None, target: timedelta, waived_required: bool) -> str:
    """performed | some_challenges | major_challenges | not_performed (see the module docstring)."""
    if not performed:
        return "not_performed"
    if late is None or late <= timedelta(0):
        return "some_challenges" if waived_required else "performed"
    if late <= target * LATE_SHARE_SOME:
        return "some_challenges"
    return "major_challenges"


@dataclass
class StageMeasure:
    run: StageRun
    key: str
    position: int
    title: dict[str, str]
    target: timedelta
    started_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    performed: bool
    met: bool | None  # None when not performed
    late: timedelta | None  # breach amount (completed - due) when breached
    actual: timedelta | None  # completed - started
    items_total: int
    items_done: int
    items_waived: int
    waivers: list[ChecklistEntry]
    suggested: str
    rating: str = ""

    @property
    def early(self) -> timedelta | None:
        """How long before its due time a met stage completed."""
        if self.met and self.due_at and self.completed_at:
            return self.due_at - self.completed_at
        return None


@dataclass
class EscalationRow:
    who: str
    unit: str | None
    kind: str
    stage_key: str | None
    channel: str
    status: str
    sent_at: datetime | None
    queued_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


@dataclass
class LagRow:
    statement: Statement
    unit: Any
    published_at: datetime | None
    lag: timedelta | None


@dataclass
class IncidentMeasures:
    incident: Incident
    stages: list[StageMeasure]
    time_to_acknowledge: timedelta | None
    time_to_holding_statement: timedelta | None
    time_to_first_statement: timedelta | None
    time_to_resolve: timedelta | None
    first_statement: Statement | None
    items_total: int
    items_done: int
    items_waived: int
    items_open: int
    waivers: list[tuple[StageMeasure, ChecklistEntry]]
    escalations: list[EscalationRow]
    escalation_count: int
    escalations_acknowledged: int
    notices_available: bool
    statements: list[Statement]
    lags: list[LagRow]
    missing_fields: list[str] = field(default_factory=list)

    @property
    def stages_met(self) -> int:
        return sum(1 for stage in self.stages if stage.met)

    @property
    def stages_judged(self) -> int:
        return sum(1 for stage in self.stages if stage.performed or self.incident.state in ("resolved", "closed"))

    @property
    def checklist_share(self) -> float | None:
        return (self.items_done + self.items_waived) / self.items_total if self.items_total else None


def _since(moment: datetime | None, start: datetime) -> timedelta | None:
    return moment - start if moment is not None else None


def load_incident(*, session: Session, incident_id: int) -> Incident:
    """The incident with everything the review reads, in a handful of queries."""
    return session.scalar(
        select(Incident)
        .where(Incident.id == incident_id)
        .options(
            selectinload(Incident.stage_runs).selectinload(StageRun.entries).selectinload(ChecklistEntry.waived_by),
            selectinload(Incident.statements).selectinload(Statement.publications),
            selectinload(Incident.involved),
            selectinload(Incident.participants),
        )
    )


def _escalations(session: Session, incident: Incident) -> tuple[list[EscalationRow], int, int, bool]:
    try:
        from crisis.escalation.models import Timer
        from crisis.notify.models import Notice
    except ImportError:  # the deadline engine is not installed: nothing to show
        return [], 0, 0, False
    rows = session.execute(
        select(Notice, Timer.kind)
        .outerjoin(Timer, Timer.id == Notice.timer_id)
        .where(Notice.incident_id == incident.id, Notice.kind == "deadline")
        .options(selectinload(Notice.recipient), selectinload(Notice.acknowledged_by), selectinload(Notice.webhook))
        .order_by(Notice.queued_at, Notice.id)
    ).all()
    result: list[EscalationRow] = []
    people: dict[tuple[int | None, int], bool] = {}
    for notice, timer_kind in rows:
        payload = notice.payload or {}
        kind = timer_kind or payload.get("kind") or notice.kind
        recipient = notice.recipient
        who = recipient.name if recipient is not None else (notice.webhook.name if notice.webhook else "?")
        result.append(
            EscalationRow(
                who=who,
                unit=payload.get("unit_code"),
                kind=kind,
                stage_key=payload.get("stage_key"),
                channel=notice.channel,
                status=notice.status,
                sent_at=notice.sent_at,
                queued_at=notice.queued_at,
                acknowledged_at=notice.acknowledged_at,
                acknowledged_by=notice.acknowledged_by.name if notice.acknowledged_by else None,
            )
        )
        if kind == "escalation_step" and notice.recipient_user_id is not None:
            key = (notice.timer_id, notice.recipient_user_id)
            people[key] = people.get(key, False) or notice.acknowledged_at is not None
    return result, len(people), sum(people.values()), True


def measure(*, session: Session, incident: Incident) -> IncidentMeasures:
    start = incident.started_at
    stages: list[StageMeasure] = []
    waivers: list[tuple[StageMeasure, ChecklistEntry]] = []
    for run in incident.stage_runs:
        snapshot = incident.playbook_snapshot["stages"][run.position]
        performed = _is_performed(run, incident)
        target = timedelta(seconds=run.target_seconds)
        met: bool | None = None
        late: timedelta | None = None
        if performed:
            assert run.completed_at is not None  # nosec B101  # type narrowing: performed means completed
            met = run.due_at is None or run.completed_at <= run.due_at
            late = None if met or run.due_at is None else run.completed_at - run.due_at
        stage_waivers = [e for e in run.entries if e.waived_at is not None]
        stage = StageMeasure(
            run=run,
            key=run.stage_key,
            position=run.position,
            title=snapshot["title"],
            target=target,
            started_at=run.started_at,
            due_at=run.due_at,
            completed_at=run.completed_at,
            performed=performed,
            met=met,
            late=late,
            actual=(run.completed_at - run.started_at) if performed and run.started_at and run.completed_at else None,
            items_total=len(run.entries),
            items_done=sum(1 for e in run.entries if e.done_at is not None),
            items_waived=len(stage_waivers),
            waivers=stage_waivers,
            suggested=suggest_rating(
                performed=performed, late=late, target=target, waived_required=any(e.required for e in stage_waivers)
            ),
        )
        stages.append(stage)
        waivers.extend((stage, entry) for entry in stage_waivers)

    published = sorted((s for s in incident.statements if s.published_at is not None), key=lambda s: s.published_at)
    holding = next((s for s in published if s.kind == "holding"), None)
    first = published[0] if published else None
    first_stage = next((run for run in incident.stage_runs if run.position == 0), None)

    lags: list[LagRow] = []
    for statement in incident.statements:
        if statement.kind != "key_messages" or statement.approved_at is None:
            continue
        for involved in incident.involved:
            own = [p for p in statement.publications if p.unit_id == involved.unit_id]
            moment = min((p.published_at for p in own), default=None)
            lags.append(
                LagRow(statement=statement, unit=involved.unit, published_at=moment,
                       lag=moment - statement.approved_at if moment else None)
            )

    escalations, count, acknowledged, available = _escalations(session, incident)
    entries = [e for run in incident.stage_runs for e in run.entries]
    done = sum(1 for e in entries if e.done_at is not None)
    waived = sum(1 for e in entries if e.waived_at is not None)
    return IncidentMeasures(
        incident=incident,
        stages=stages,
        time_to_acknowledge=_since(first_stage.completed_at if first_stage else None, start),
        time_to_holding_statement=_since(holding.published_at if holding else None, start),
        time_to_first_statement=_since(first.published_at if first else None, start),
        time_to_resolve=_since(incident.resolved_at, start),
        first_statement=first,
        items_total=len(entries),
        items_done=done,
        items_waived=waived,
        items_open=len(entries) - done - waived,
        waivers=waivers,
        escalations=escalations,
        escalation_count=count,
        escalations_acknowledged=acknowledged,
        notices_available=available,
        statements=list(incident.statements),
        lags=lags,
    )
