"""The measures of one response, computed in Python from what the incident recorded: the review's
way of computing the definitions in crisis.reviews.definitions (the evaluation dashboard computes the
same ones in SQL, crisis.reports.measures).

Besides the measures, the review shows per stage its target, actual time, breach and a suggested
rating (review only):

- suggested rating: met -> performed; late by at most 50 % of its target -> with some challenges;
  later -> with major challenges; not performed -> not performed. A waived required item
  downgrades "performed" to "with some challenges".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crisis.escalation.models import Timer
from crisis.incidents import media as media_desk
from crisis.incidents.models import ChecklistEntry, Incident, MediaQuery, StageRun, Statement
from crisis.notify.models import Notice
from crisis.playbooks.spec import Settings, WorkingDays
from crisis.reviews.definitions import (
    DURATIONS,
    INCIDENT_DURATIONS,
    PY,
    RATES,
    Rate,
    Scope,
    stage_met,
    stage_performed,
)
from crisis.reviews.models import Review

LATE_SHARE_SOME = 0.5  # late by at most half the target: "with some challenges"


class Share(NamedTuple):
    """Of the rows judged, how many hit (were on time, acknowledged, ...)."""

    judged: int
    hits: int

    @property
    def share(self) -> float | None:
        return self.hits / self.judged if self.judged else None


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
    # The SOP's target in working days (`5wd`) when it counts them: the review says "5 hari kerja",
    # not the hours the deadline happened to span.
    working_days: WorkingDays | None = None

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
    notice: Notice | None = None  # the notice itself, for its sentences (crisis.notify.words)


@dataclass
class LagRow:
    statement: Statement
    unit: Any
    published_at: datetime | None
    lag: timedelta | None
    involved: bool  # the unit is involved in the incident (else: it published without being asked)


@dataclass
class Cadence:
    """Update-cadence adherence: the SOP's update interval at the incident's severity, and of the
    intervals while the incident was active (opened → first publication, publication → next
    publication, last publication → resolved), how many were within it."""

    every: timedelta
    intervals: list[timedelta]

    @property
    def kept(self) -> int:
        return sum(1 for gap in self.intervals if gap <= self.every)

    @property
    def share(self) -> float | None:
        return self.kept / len(self.intervals) if self.intervals else None


def update_cadence(incident: Incident, every: timedelta) -> Cadence:
    """The owner's publications between the incident's start and its resolution (or its last
    publication while it still runs), measured against `every`."""
    start, end = incident.started_at, incident.resolved_at
    moments = sorted(
        publication.published_at
        for statement in incident.statements
        for publication in statement.publications
        if publication.unit_id == incident.unit_id
        and publication.published_at is not None
        and start is not None
        and publication.published_at >= start
        and (end is None or publication.published_at <= end)
    )
    points = [start, *moments] if start is not None else []
    if end is not None:
        points.append(end)
    intervals = [later - earlier for earlier, later in zip(points, points[1:], strict=False)]
    return Cadence(every=every, intervals=intervals)


def time_to_detect(incident: Incident) -> timedelta | None:
    """From when the issue was first seen to when the incident was opened; None without an issue
    or when the recorded moments are out of order."""
    issue = incident.issue
    if issue is None or issue.first_seen_at is None or incident.started_at is None:
        return None
    gap = incident.started_at - issue.first_seen_at
    return gap if gap >= timedelta(0) else None


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
    statements: list[Statement]
    lags: list[LagRow]
    time_to_detect: timedelta | None = None
    cadence: Cadence | None = None
    # Durations left out because their recorded moments are out of order (legacy data): labels.
    out_of_order: list[Any] = field(default_factory=list)
    # The media desk: every journalist's question with its answer, and how many were answered on time.
    media_queries: list[MediaQuery] = field(default_factory=list)
    media: media_desk.Figures | None = None
    media_by_outlet: dict[str, media_desk.Figures] = field(default_factory=dict)

    @property
    def stages_met(self) -> int:
        return sum(1 for stage in self.stages if stage.met)


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
            selectinload(Incident.issue),
        )
    )


def count(rate: Rate, rows: Iterable[tuple[Any, Scope]]) -> Share:
    """A rate of the registry over rows (each with what its rules read): the rows judged (those
    with the same `rate.per` values as one), and the hits among them."""
    judged: dict[Any, bool] = {}
    for index, (row, scope) in enumerate(rows):
        if PY.holds(rate.judged(PY, row, scope)):
            key = tuple(getattr(row, name) for name in rate.per) if rate.per else index
            judged[key] = judged.get(key, False) or PY.holds(rate.hit(PY, row, scope))
    return Share(len(judged), sum(judged.values()))


def durations(incident: Incident) -> dict[str, timedelta | None]:
    """Every duration of the registry measured on the incident, by key."""
    return {duration.key: duration.of(incident) for duration in INCIDENT_DURATIONS}


def rates(*, session: Session, incident: Incident, now: datetime) -> dict[str, Share]:
    """Every rate of the registry over the incident's own rows as of `now`, by key."""
    scope = Scope(incident=incident, now=now)
    review = session.scalar(
        select(Review).where(Review.incident_id == incident.id).options(selectinload(Review.action_items))
    )
    rows: dict[str, list[tuple[Any, Scope]]] = {
        "stage_runs": [(run, scope) for run in incident.stage_runs],
        "checklist_entries": [(entry, scope) for run in incident.stage_runs for entry in run.entries],
        "review": [(review, scope)] if review is not None else [],
        "action_items": [(item, scope) for item in review.action_items] if review is not None else [],
        "media_queries": [
            (query, scope) for query in session.scalars(select(MediaQuery).where(MediaQuery.incident_id == incident.id))
        ],
        "notices": [
            (notice, Scope(incident=incident, now=now, timer_kind=kind))
            for notice, kind in _deadline_notices(session, incident)
        ],
    }
    return {rate.key: count(rate, rows[rate.of]) for rate in RATES.values()}


def key_message_lags(incident: Incident) -> list[LagRow]:
    """Per shared key-messages statement and unit sharing it: when the unit first published it."""
    lag = DURATIONS["key_message_lag"]
    involved = {row.unit_id: row.unit for row in incident.involved}
    rows: list[LagRow] = []
    for statement in incident.statements:
        if lag.where is not None and not PY.holds(lag.where(PY, statement, Scope(incident=incident))):
            continue
        units = dict(involved)
        for publication in statement.publications:
            if publication.unit_id != incident.unit_id:
                units.setdefault(publication.unit_id, publication.unit)
        for unit_id, unit in units.items():
            scope = Scope(incident=incident, unit_id=unit_id)
            rows.append(
                LagRow(
                    statement=statement,
                    unit=unit,
                    published_at=lag.end.of(statement, scope),
                    lag=lag.of(statement, scope),
                    involved=unit_id in involved,
                )
            )
    return rows


def _deadline_notices(session: Session, incident: Incident) -> list[Any]:
    """The deadline notices of the incident, each with its timer's kind, oldest first."""
    return list(
        session.execute(
            select(Notice, Timer.kind)
            .outerjoin(Timer, Timer.id == Notice.timer_id)
            .where(Notice.incident_id == incident.id, Notice.kind == "deadline")
            .options(selectinload(Notice.recipient), selectinload(Notice.acknowledged_by), selectinload(Notice.webhook))
            .order_by(Notice.queued_at, Notice.id)
        ).all()
    )


def _escalations(session: Session, incident: Incident) -> tuple[list[EscalationRow], Share]:
    notices = _deadline_notices(session, incident)
    result: list[EscalationRow] = []
    for notice, timer_kind in notices:
        payload = notice.payload or {}
        recipient = notice.recipient
        who = recipient.name if recipient is not None else (notice.webhook.name if notice.webhook else "?")
        result.append(
            EscalationRow(
                who=who,
                unit=payload.get("unit_code"),
                kind=timer_kind or payload.get("kind") or notice.kind,
                stage_key=payload.get("stage_key"),
                channel=notice.channel,
                status=notice.status,
                sent_at=notice.sent_at,
                queued_at=notice.queued_at,
                acknowledged_at=notice.acknowledged_at,
                acknowledged_by=notice.acknowledged_by.name if notice.acknowledged_by else None,
                notice=notice,
            )
        )
    escalated = count(
        RATES["escalations_acknowledged"],
        ((notice, Scope(incident=incident, timer_kind=kind)) for notice, kind in notices),
    )
    return result, escalated


def _working_days(run: StageRun, severity: int) -> WorkingDays | None:
    """The stage's target in working days at the incident's severity, if the SOP counts it so."""
    spec = run.spec
    if spec.cycle is not None or not spec.target.covers(severity):
        return None
    target = spec.target_for(severity)
    return target if isinstance(target, WorkingDays) else None


def measure(*, session: Session, incident: Incident) -> IncidentMeasures:
    scope = Scope(incident=incident)
    stages: list[StageMeasure] = []
    waivers: list[tuple[StageMeasure, ChecklistEntry]] = []
    for run in incident.stage_runs:
        if run.state == "skipped":  # the SOP does not run it at the incident's severity: not measured
            continue
        snapshot = incident.playbook_snapshot["stages"][run.position]
        performed = PY.holds(stage_performed(PY, run, scope))
        target = timedelta(seconds=run.target_seconds)
        met: bool | None = None
        late: timedelta | None = None
        if performed:
            assert run.completed_at is not None  # nosec B101  # type narrowing: performed means completed
            met = PY.holds(stage_met(PY, run, scope))
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
            working_days=_working_days(run, incident.severity),
        )
        stages.append(stage)
        waivers.extend((stage, entry) for entry in stage_waivers)

    published = sorted((s for s in incident.statements if s.published_at is not None), key=lambda s: s.published_at)
    escalations, escalated = _escalations(session, incident)
    entries = [e for run in incident.stage_runs for e in run.entries]
    done = sum(1 for e in entries if e.done_at is not None)
    waived = sum(1 for e in entries if e.waived_at is not None)
    times = durations(incident)
    queries = list(
        session.scalars(
            select(MediaQuery)
            .where(MediaQuery.incident_id == incident.id)
            .options(selectinload(MediaQuery.statement), selectinload(MediaQuery.answered_by))
            .order_by(MediaQuery.received_at, MediaQuery.id)
        )
    )
    return IncidentMeasures(
        media_queries=queries,
        media=media_desk.figures(queries),
        media_by_outlet=media_desk.figures_by_outlet(queries),
        incident=incident,
        stages=stages,
        time_to_acknowledge=times["time_to_acknowledge"],
        time_to_holding_statement=times["time_to_holding_statement"],
        time_to_first_statement=times["time_to_first_statement"],
        time_to_resolve=times["time_to_resolve"],
        first_statement=published[0] if published else None,
        items_total=len(entries),
        items_done=done,
        items_waived=waived,
        items_open=len(entries) - done - waived,
        waivers=waivers,
        escalations=escalations,
        escalation_count=escalated.judged,
        escalations_acknowledged=escalated.hits,
        statements=list(incident.statements),
        lags=key_message_lags(incident),
        time_to_detect=time_to_detect(incident),
        cadence=update_cadence(
            incident,
            Settings.from_canonical(incident.playbook_snapshot["settings"]).update_every_for(incident.severity),
        ),
        out_of_order=[
            d.label for d in INCIDENT_DURATIONS if (raw := d.raw(incident)) is not None and raw < timedelta(0)
        ],
    )
