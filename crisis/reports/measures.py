"""The measures the evaluation reports on and heads set KPI targets for: their names, and their
definitions over many incidents in SQL.

The definitions are those of crisis.reviews.measures (one incident). `incident_measures_select`
and `key_message_lags_select` compute them set-based (joins and GROUP BY, never a query per
incident) into the rows of crisis.reports.models, which crisis.reports.service.refresh_measures
keeps current and the dashboard reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, and_, case, cast, func, literal, literal_column, not_, or_, select, union_all
from sqlalchemy.orm import Session

from crisis.dbtypes import UTCDateTime
from crisis.i18n import lazy_gettext
from crisis.incidents.models import Incident, InvolvedUnit, Publication, StageRun, Statement
from crisis.playbooks.models import Playbook, PlaybookVersion
from crisis.playbooks.validator import MAX_STAGES
from crisis.reviews.models import ActionItem, Review
from crisis.timeline.models import TimelineEvent

FINISHED = ("resolved", "closed")
# The definitions' revision, stored on every measures row: raise it when what a row holds changes
# (2: stage bits and key-message lag rows), and the sweep recomputes the rows of an older one.
DEFINITION = 2
# A measures row holds one bit per stage position in a BIGINT: the validator caps a playbook's stages.
assert MAX_STAGES <= 63  # nosec B101  # import-time self-check of a constant

# Time measures: a target says "share of incidents with value <= threshold" (or >=).
TIME_MEASURES = {
    "time_to_acknowledge": lazy_gettext("Time to acknowledge"),
    "time_to_holding_statement": lazy_gettext("Time to holding statement"),
    "time_to_first_statement": lazy_gettext("Time to first statement"),
    "time_to_resolve": lazy_gettext("Time to resolve"),
}
# Share measures: a target says "this share or more".
SHARE_MEASURES = {
    "stage_sla": lazy_gettext("Stages completed on time"),
    "review_on_time": lazy_gettext("Reviews approved on time"),
    "action_items_on_time": lazy_gettext("Action items closed on time"),
    "escalations_acknowledged": lazy_gettext("Escalations acknowledged"),
}
MEASURE_LABELS = {**TIME_MEASURES, **SHARE_MEASURES}
# Column of the per-incident measures (crisis.reports.dashboard) behind each time measure.
TIME_COLUMNS = {
    "time_to_acknowledge": "tta",
    "time_to_holding_statement": "ths",
    "time_to_first_statement": "tfs",
    "time_to_resolve": "ttr",
}


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the definitions in SQL ------------------------------------------------------------------------


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    if is_postgresql(session):
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def count_if(condition: Any) -> Any:
    return func.count(case((condition, literal(1))))


def stage_conditions(incident: Any) -> tuple[Any, Any, Any]:
    """(judged, met, performed) for a StageRun row joined to its incident (anything with `state`
    and `resolved_at`)."""
    performed = and_(
        StageRun.started_at.is_not(None),
        StageRun.completed_at.is_not(None),
        not_(and_(StageRun.started_at == StageRun.completed_at, StageRun.completed_at == incident.resolved_at)),
    )
    judged = or_(performed, incident.state.in_(FINISHED))
    met = and_(performed, or_(StageRun.due_at.is_(None), StageRun.completed_at <= StageRun.due_at))
    return judged, met, performed


def _earliest(a: Any, b: Any) -> Any:
    """The earlier of two moments, either of which may be NULL (LEAST/MIN differ per dialect)."""
    return case((a.is_(None), b), (b.is_(None), a), (a < b, a), else_=b)


def _latest(a: Any, b: Any) -> Any:
    return case((a.is_(None), b), (b.is_(None), a), (a > b, a), else_=b)


def incident_measures_select(*, session: Session, now: datetime, incident_ids: Any) -> Select[Any]:
    """One row per incident in `incident_ids` (ids, or a select of ids), in incident order, with
    the columns of IncidentMeasure: its filter columns, the four time measures in seconds, its
    counts of stages (judged, met, breached), review (judged, on time), action items (judged, on
    time) and escalations (sent, acknowledged), and what the row was computed from (`stamp`,
    `events`, the window of `now` the figures hold for)."""
    conditions = [Incident.id.in_(incident_ids)]
    at = literal(now, UTCDateTime)
    first_stage = (
        select(StageRun.incident_id, StageRun.completed_at)
        .join(Incident, Incident.id == StageRun.incident_id)
        .where(StageRun.position == 0, *conditions)
        .subquery("first_stage")
    )
    published = (
        select(
            Statement.incident_id,
            func.min(case((Statement.kind == "holding", Statement.published_at))).label("holding_at"),
            func.min(Statement.published_at).label("first_at"),
        )
        .join(Incident, Incident.id == Statement.incident_id)
        .where(Statement.published_at.is_not(None), *conditions)
        .group_by(Statement.incident_id)
        .subquery("published")
    )
    judged, met, performed = stage_conditions(Incident)
    breached = and_(performed, not_(met))
    runs = (
        select(StageRun.incident_id, StageRun.position, StageRun.stage_key,
               case((judged, 1), else_=0).label("judged"), case((met, 1), else_=0).label("met"),
               case((breached, 1), else_=0).label("breached"),
               case((Incident.state == "cancelled", 0), else_=1).label("measured"))
        .join(Incident, Incident.id == StageRun.incident_id)
        .where(*conditions)
        .order_by(StageRun.incident_id, StageRun.position)  # the order SQLite's group_concat keeps
        .subquery("runs")
    )
    stages = (
        select(
            runs.c.incident_id,
            func.sum(runs.c.judged).label("judged"),
            func.sum(runs.c.met).label("met"),
            func.sum(runs.c.breached).label("breached"),
            _ordered_keys(session, runs.c.stage_key, runs.c.position).label("key_list"),
            # A cancelled incident is counted, never measured: its stage bits stay 0.
            *(_mask(runs.c[name] * runs.c.measured, runs.c.position).label(f"{name}_mask")
              for name in ("judged", "met", "breached")),
        )
        .group_by(runs.c.incident_id)
        .subquery("stages")
    )
    item_open = ActionItem.status == "open"
    item_judged = and_(ActionItem.status != "dropped", or_(ActionItem.status == "done", ActionItem.due_at <= at))
    item_on_time = and_(ActionItem.status == "done", ActionItem.done_at <= ActionItem.due_at)
    items = (
        select(
            Review.incident_id,
            count_if(item_judged).label("judged"),
            count_if(item_on_time).label("on_time"),
            # An open item falling due is judged from then on: the figures change without an event.
            func.max(case((and_(item_open, ActionItem.due_at <= at), ActionItem.due_at))).label("last_due"),
            func.min(case((and_(item_open, ActionItem.due_at > at), ActionItem.due_at))).label("next_due"),
        )
        .join(ActionItem, ActionItem.review_id == Review.id)
        .join(Incident, Incident.id == Review.incident_id)
        .where(*conditions)
        .group_by(Review.incident_id)
        .subquery("items")
    )
    events = (
        select(
            TimelineEvent.subject_id.label("incident_id"),
            func.max(TimelineEvent.id).label("newest"),
            func.count().label("events"),
        )
        .join(Incident, Incident.id == TimelineEvent.subject_id)
        .where(TimelineEvent.subject_type == "incident", *conditions)
        .group_by(TimelineEvent.subject_id)
        .subquery("events")
    )
    review_pending = and_(Review.id.is_not(None), Review.approved_at.is_(None))
    review_judged = or_(Review.approved_at.is_not(None), Review.due_at <= at)
    review_on_time = and_(Review.approved_at.is_not(None), Review.approved_at <= Review.due_at)
    columns: list[Any] = [
        Incident.id.label("incident_id"),
        Incident.unit_id.label("unit_id"),
        Playbook.key.label("playbook_key"),
        Incident.severity.label("severity"),
        Incident.state.label("state"),
        Incident.started_at.label("started_at"),
        seconds_between(session, first_stage.c.completed_at, Incident.started_at).label("tta"),
        seconds_between(session, published.c.holding_at, Incident.started_at).label("ths"),
        seconds_between(session, published.c.first_at, Incident.started_at).label("tfs"),
        seconds_between(session, Incident.resolved_at, Incident.started_at).label("ttr"),
        func.coalesce(stages.c.judged, 0).label("st_judged"),
        func.coalesce(stages.c.met, 0).label("st_met"),
        func.coalesce(stages.c.breached, 0).label("st_breached"),
        func.coalesce(stages.c.key_list, "").label("stage_keys"),
        func.coalesce(stages.c.judged_mask, 0).label("stages_judged"),
        func.coalesce(stages.c.met_mask, 0).label("stages_met"),
        func.coalesce(stages.c.breached_mask, 0).label("stages_breached"),
        case((and_(Review.id.is_not(None), review_judged), 1), else_=0).label("rv_judged"),
        case((and_(Review.id.is_not(None), review_on_time), 1), else_=0).label("rv_on_time"),
        func.coalesce(items.c.judged, 0).label("ai_judged"),
        func.coalesce(items.c.on_time, 0).label("ai_on_time"),
        at.label("computed_at"),
        literal(DEFINITION).label("definition"),
        func.coalesce(events.c.newest, 0).label("stamp"),
        func.coalesce(events.c.events, 0).label("events"),
        _latest(items.c.last_due, case((and_(review_pending, Review.due_at <= at), Review.due_at))).label(
            "valid_from"),
        _earliest(items.c.next_due, case((and_(review_pending, Review.due_at > at), Review.due_at))).label(
            "valid_until"),
    ]
    query = (
        select(*columns)
        .join(PlaybookVersion, PlaybookVersion.id == Incident.playbook_version_id)
        .join(Playbook, Playbook.id == PlaybookVersion.playbook_id)
        .outerjoin(first_stage, first_stage.c.incident_id == Incident.id)
        .outerjoin(published, published.c.incident_id == Incident.id)
        .outerjoin(stages, stages.c.incident_id == Incident.id)
        .outerjoin(Review, Review.incident_id == Incident.id)
        .outerjoin(items, items.c.incident_id == Incident.id)
        .outerjoin(events, events.c.incident_id == Incident.id)
        .where(*conditions)
        .order_by(Incident.id)  # one lock order for every sweep
    )
    escalations = _escalations_per_incident(conditions)
    if escalations is not None:
        query = query.add_columns(
            func.coalesce(escalations.c.sent, 0).label("esc_sent"),
            func.coalesce(escalations.c.acknowledged, 0).label("esc_acknowledged"),
        ).outerjoin(escalations, escalations.c.incident_id == Incident.id)
    else:
        query = query.add_columns(literal(0).label("esc_sent"), literal(0).label("esc_acknowledged"))
    return query


def _escalations_per_incident(conditions: list[Any]) -> Any:
    """Per incident: escalations (one per escalation-step timer and person) and acknowledged ones."""
    try:
        from crisis.escalation.models import Timer
        from crisis.notify.models import Notice
    except ImportError:  # no deadline engine: no escalations to count
        return None
    person = (
        select(Notice.incident_id.label("incident_id"), func.max(Notice.acknowledged_at).label("acknowledged_at"))
        .join(Timer, Timer.id == Notice.timer_id)
        .join(Incident, Incident.id == Notice.incident_id)
        .where(Timer.kind == "escalation_step", Notice.kind == "deadline", Notice.recipient_user_id.is_not(None),
               *conditions)
        .group_by(Notice.incident_id, Notice.timer_id, Notice.recipient_user_id)
        .subquery("escalated_person")
    )
    return (
        select(person.c.incident_id, func.count().label("sent"),
               func.count(person.c.acknowledged_at).label("acknowledged"))
        .group_by(person.c.incident_id)
        .subquery("escalations")
    )


def _ordered_keys(session: Session, key: Any, position: Any) -> Any:
    """The stage keys of one incident in position order, space-separated."""
    if is_postgresql(session):
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        return func.string_agg(key, aggregate_order_by(literal_column("' '"), position))
    return func.group_concat(key, " ")  # rows arrive ordered by position (the subquery's ORDER BY)


def _mask(flag: Any, position: Any) -> Any:
    """One bit per stage position where `flag` (0 or 1) is set: the sum of flag << position."""
    return cast(func.sum(flag.op("<<")(position)), BigInteger)


def key_message_lags_select(*, session: Session, incident_ids: Any) -> Select[Any]:
    """One row per approved key-messages statement of the incidents in `incident_ids` and unit that
    shares it, with the columns of KeyMessageLag: the units involved in the incident, and any other
    unit but the owner that recorded a publication of it (crisis.reviews.measures lists the
    involved ones; the owner is the source). Lag: approval to the unit's first publication."""
    shared = [Statement.incident_id.in_(incident_ids), Statement.kind == "key_messages",
              Statement.approved_at.is_not(None)]
    first = (
        select(Publication.statement_id, Publication.unit_id,
               func.min(Publication.published_at).label("published_at"))
        .join(Statement, Statement.id == Publication.statement_id)
        .where(*shared)
        .group_by(Publication.statement_id, Publication.unit_id)
        .subquery("first_publication")
    )
    candidates = union_all(
        select(Statement.id.label("statement_id"), InvolvedUnit.unit_id.label("unit_id"),
               literal(1).label("involved"))
        .join(InvolvedUnit, InvolvedUnit.incident_id == Statement.incident_id)
        .where(*shared),
        select(first.c.statement_id, first.c.unit_id, literal(0))
        .join(Statement, Statement.id == first.c.statement_id)
        .join(Incident, Incident.id == Statement.incident_id)
        .where(first.c.unit_id != Incident.unit_id),
    ).subquery("candidates")
    pairs = (
        select(candidates.c.statement_id, candidates.c.unit_id, func.max(candidates.c.involved).label("involved"))
        .group_by(candidates.c.statement_id, candidates.c.unit_id)
        .subquery("pairs")
    )
    return (
        select(
            pairs.c.statement_id,
            pairs.c.unit_id,
            Incident.id.label("incident_id"),
            Incident.unit_id.label("owner_unit_id"),
            Playbook.key.label("playbook_key"),
            Incident.severity.label("severity"),
            Incident.state.label("incident_state"),
            Incident.started_at.label("incident_started_at"),
            pairs.c.involved,
            seconds_between(session, first.c.published_at, Statement.approved_at).label("lag"),
        )
        .join(Statement, Statement.id == pairs.c.statement_id)
        .join(Incident, Incident.id == Statement.incident_id)
        .join(PlaybookVersion, PlaybookVersion.id == Incident.playbook_version_id)
        .join(Playbook, Playbook.id == PlaybookVersion.playbook_id)
        .outerjoin(first, and_(first.c.statement_id == pairs.c.statement_id, first.c.unit_id == pairs.c.unit_id))
        .order_by(pairs.c.statement_id, pairs.c.unit_id)
    )
