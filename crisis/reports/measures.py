"""The measures the evaluation reports on and heads set KPI targets for, over many incidents in SQL.

The measures are those of the registry in crisis.reviews.definitions (whose rules the review also
evaluates in Python, one incident at a time). `incident_measures_select` and
`key_message_lags_select` build them from the registry set-based (joins and GROUP BY, never a query
per incident) into the rows of crisis.reports.models, which crisis.reports.service.refresh_measures
keeps current and the dashboard reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, and_, case, cast, func, literal, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from crisis.dbtypes import UTCDateTime
from crisis.escalation.models import Timer
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.models import Incident, InvolvedUnit, MediaQuery, StageRun, Statement
from crisis.notify.models import Notice
from crisis.playbooks.models import Playbook, PlaybookVersion
from crisis.playbooks.validator import MAX_STAGES
from crisis.reviews.definitions import (
    DASHBOARD,
    DURATIONS,
    INCIDENT_DURATIONS,
    RATES,
    SQL,
    TARGET_MEASURES,
    Duration,
    Moment,
    Rate,
    Rule,
    Scope,
)
from crisis.reviews.definitions import FINISHED as FINISHED  # the dashboard's, as the rules have it
from crisis.reviews.models import ActionItem, Review
from crisis.timeline.models import TimelineEvent

# The definitions' revision, stored on every measures row: raise it when what a row holds changes
# (2: stage bits and key-message lag rows; 3: a stage completed the moment it started in an active
# incident is performed, as the review always said; 4: a negative duration is not measured; 5: time
# to detect, update cadence and hoax/clarification reach; 6: media queries answered on time), and
# the sweep recomputes the rows of an older one.
DEFINITION = 6
# A measures row holds one bit per stage position in a BIGINT: the validator caps a playbook's stages.
assert MAX_STAGES <= 63  # nosec B101  # import-time self-check of a constant

# Time measures: a target says "share of incidents with value <= threshold" (or >=).
TIME_MEASURES = {m.key: m.label for m in TARGET_MEASURES if isinstance(m, Duration)}
# Share measures: a target says "this share or more".
SHARE_MEASURES = {m.key: m.label for m in TARGET_MEASURES if isinstance(m, Rate)}
# Column of the per-incident measures (crisis.reports.models.IncidentMeasure) behind each measure.
TIME_COLUMNS = {m.key: m.column for m in INCIDENT_DURATIONS}
SHARE_COLUMNS = {m.key: m.columns for m in RATES.values() if m.columns is not None}
# Practice measures computed in Python after the row, as the review computes them
# (crisis.reports.service.practice_measures): heads set targets on them too. Time to detect is
# judged only where there is one (an incident not opened from a logged issue has none).
TIME_MEASURES["time_to_detect"] = _l("Time to detect (issue first seen → incident opened)")
TIME_COLUMNS["time_to_detect"] = "ttd"
JUDGED_WITH_VALUE_ONLY = frozenset({"time_to_detect"})
SHARE_MEASURES["update_cadence"] = _l("Update cadence kept")
SHARE_COLUMNS["update_cadence"] = ("upd_judged", "upd_kept")
MEASURE_LABELS = {**TIME_MEASURES, **SHARE_MEASURES}
# The stage bits of a measures row (one per position) and the per-run count each holds.
STAGE_BITS = {"stages_judged": "st_judged", "stages_met": "st_met", "stages_breached": "st_breached"}


def _counts(of: str) -> dict[str, Rule]:
    """Column -> rule of every count kept for the rates over `of` rows (rates sharing a count share
    its column, e.g. the stages judged)."""
    counts: dict[str, Rule] = {}
    for rate in RATES.values():
        if rate.of == of and rate.columns is not None and DASHBOARD in rate.paths:
            counts.update(zip(rate.columns, (rate.judged, rate.hit), strict=True))
    return counts


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


def non_negative(seconds: Any) -> Any:
    """NULL (not measured) where a duration is negative: moments recorded out of order (legacy data
    entered before the services checked it) never bend a median (crisis.reviews.definitions.Duration.of)."""
    return case((seconds < 0, None), else_=seconds)


def count_if(condition: Any) -> Any:
    return func.count(case((condition, literal(1))))


def flag(condition: Any) -> Any:
    """1 where the condition holds, else 0 (also where it is unknown: NULL)."""
    return case((condition, 1), else_=0)


def _earliest(a: Any, b: Any) -> Any:
    """The earlier of two moments, either of which may be NULL (LEAST/MIN differ per dialect)."""
    return case((a.is_(None), b), (b.is_(None), a), (a < b, a), else_=b)


def _latest(a: Any, b: Any) -> Any:
    return case((a.is_(None), b), (b.is_(None), a), (a > b, a), else_=b)


def _moments(conditions: list[Any]) -> tuple[dict[Moment, Any], list[Any]]:
    """The SQL of every moment the incident durations run between: a column of the incident, or the
    earliest moment of its related rows, one grouped subquery per relationship (to outer-join)."""
    moments: dict[Moment, Any] = {}
    related: dict[str, list[Moment]] = {}
    for duration in INCIDENT_DURATIONS:
        for moment in (duration.start, duration.end):
            if moment.rows is None:
                moments[moment] = getattr(Incident, moment.at)
            elif moment not in related.setdefault(moment.rows, []):
                related[moment.rows].append(moment)
    subqueries = []
    for rows, wanted in related.items():
        model = getattr(Incident, rows).property.mapper.class_
        columns, relevant = [], []
        for index, moment in enumerate(wanted):
            at = getattr(model, moment.at)
            where = moment.where(SQL, model, Scope()) if moment.where is not None else None
            columns.append(func.min(at if where is None else case((where, at))).label(f"m{index}"))
            relevant.append(and_(at.is_not(None), *([] if where is None else [where])))
        subquery = (
            select(model.incident_id, *columns)
            .join(Incident, Incident.id == model.incident_id)
            .where(or_(*relevant), *conditions)
            .group_by(model.incident_id)
            .subquery(rows)
        )
        subqueries.append(subquery)
        moments.update({moment: subquery.c[f"m{index}"] for index, moment in enumerate(wanted)})
    return moments, subqueries


def _real(incident_ids: Any) -> Any:
    """The incidents among `incident_ids` (ids, or a select of ids) that are not exercises."""
    return select(Incident.id).where(Incident.id.in_(incident_ids), Incident.exercise_id.is_(None)).scalar_subquery()


def incident_measures_select(*, session: Session, now: datetime, incident_ids: Any) -> Select[Any]:
    """One row per incident in `incident_ids` (ids, or a select of ids), in incident order, with
    the columns of IncidentMeasure: its filter columns, the time measures in seconds, the counts of
    every rate (stages, review, action items, escalations: judged and hits), the stage bits, and
    what the row was computed from (`stamp`, `events`, the window of `now` the figures hold for).
    Exercises (drills) are never measured: their ids are left out whatever the caller passes."""
    conditions = [Incident.id.in_(_real(incident_ids))]
    at = literal(now, UTCDateTime)
    moments, related = _moments(conditions)
    stage_counts = _counts("stage_runs")
    in_incident = Scope(incident=Incident)
    runs = (
        select(
            StageRun.incident_id,
            StageRun.position,
            StageRun.stage_key,
            *(flag(rule(SQL, StageRun, in_incident)).label(column) for column, rule in stage_counts.items()),
            case((Incident.state == "cancelled", 0), else_=1).label("measured"),
        )
        .join(Incident, Incident.id == StageRun.incident_id)
        .where(*conditions)
        .order_by(StageRun.incident_id, StageRun.position)  # the order SQLite's group_concat keeps
        .subquery("runs")
    )
    stages = (
        select(
            runs.c.incident_id,
            *(func.sum(runs.c[column]).label(column) for column in stage_counts),
            _ordered_keys(session, runs.c.stage_key, runs.c.position).label("key_list"),
            # A cancelled incident is counted, never measured: its stage bits stay 0.
            *(
                _mask(runs.c[column] * runs.c.measured, runs.c.position).label(bits)
                for bits, column in STAGE_BITS.items()
            ),
        )
        .group_by(runs.c.incident_id)
        .subquery("stages")
    )
    as_of_now = Scope(now=at)
    item_open = ActionItem.status == "open"
    items = (
        select(
            Review.incident_id,
            *(
                count_if(rule(SQL, ActionItem, as_of_now)).label(column)
                for column, rule in _counts("action_items").items()
            ),
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
    escalations = _notices_per_incident(conditions)
    in_its_incident = Scope(incident=Incident)
    media = (
        select(
            MediaQuery.incident_id,
            *(
                count_if(rule(SQL, MediaQuery, in_its_incident)).label(column)
                for column, rule in _counts("media_queries").items()
            ),
        )
        .join(Incident, Incident.id == MediaQuery.incident_id)
        .where(*conditions)
        .group_by(MediaQuery.incident_id)
        .subquery("media")
    )
    review_pending = and_(Review.id.is_not(None), Review.approved_at.is_(None))
    columns: list[Any] = [
        Incident.id.label("incident_id"),
        Incident.unit_id.label("unit_id"),
        Playbook.key.label("playbook_key"),
        Incident.severity.label("severity"),
        Incident.state.label("state"),
        Incident.started_at.label("started_at"),
        *(
            non_negative(seconds_between(session, moments[d.end], moments[d.start])).label(d.column)
            for d in INCIDENT_DURATIONS
        ),
        *(func.coalesce(stages.c[column], 0).label(column) for column in stage_counts),
        func.coalesce(stages.c.key_list, "").label("stage_keys"),
        *(func.coalesce(stages.c[bits], 0).label(bits) for bits in STAGE_BITS),
        # No review: its columns are NULL, and a rule on NULL does not hold.
        *(flag(rule(SQL, Review, as_of_now)).label(column) for column, rule in _counts("review").items()),
        *(func.coalesce(items.c[column], 0).label(column) for column in _counts("action_items")),
        *(func.coalesce(escalations.c[column], 0).label(column) for column in _counts("notices")),
        *(func.coalesce(media.c[column], 0).label(column) for column in _counts("media_queries")),
        at.label("computed_at"),
        literal(DEFINITION).label("definition"),
        func.coalesce(events.c.newest, 0).label("stamp"),
        func.coalesce(events.c.events, 0).label("events"),
        _latest(items.c.last_due, case((and_(review_pending, Review.due_at <= at), Review.due_at))).label("valid_from"),
        _earliest(items.c.next_due, case((and_(review_pending, Review.due_at > at), Review.due_at))).label(
            "valid_until"
        ),
    ]
    query = (
        select(*columns)
        .join(PlaybookVersion, PlaybookVersion.id == Incident.playbook_version_id)
        .join(Playbook, Playbook.id == PlaybookVersion.playbook_id)
        .outerjoin(stages, stages.c.incident_id == Incident.id)
        .outerjoin(Review, Review.incident_id == Incident.id)
        .outerjoin(items, items.c.incident_id == Incident.id)
        .outerjoin(events, events.c.incident_id == Incident.id)
        .outerjoin(escalations, escalations.c.incident_id == Incident.id)
        .outerjoin(media, media.c.incident_id == Incident.id)
        .where(*conditions)
        .order_by(Incident.id)  # one lock order for every sweep
    )
    for subquery in related:
        query = query.outerjoin(subquery, subquery.c.incident_id == Incident.id)
    return query


def _notices_per_incident(conditions: list[Any]) -> Any:
    """Per incident, the escalations (the rate over its notices): the notices judged, those with
    the same `per` values as one, and how many of those hit (any of their notices)."""
    rate = RATES["escalations_acknowledged"]
    assert rate.of == "notices" and rate.columns is not None  # nosec B101  # its registry entry says so
    scope = Scope(incident=Incident, timer_kind=Timer.kind)
    one = (
        select(Notice.incident_id.label("incident_id"), func.max(flag(rate.hit(SQL, Notice, scope))).label("hit"))
        .outerjoin(Timer, Timer.id == Notice.timer_id)
        .join(Incident, Incident.id == Notice.incident_id)
        .where(rate.judged(SQL, Notice, scope), *conditions)
        .group_by(Notice.incident_id, *(getattr(Notice, name) for name in rate.per or ("id",)))
        .subquery("escalated_person")
    )
    judged, hits = rate.columns
    return (
        select(one.c.incident_id, func.count().label(judged), func.sum(one.c.hit).label(hits))
        .group_by(one.c.incident_id)
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
    """One row per shared key-messages statement of the incidents in `incident_ids` and unit that
    shares it, with the columns of KeyMessageLag (the measure `key_message_lag` of the registry):
    the units involved in the incident, and any other unit but the owner that recorded a
    publication of it. Lag: approval to the unit's first publication."""
    lag = DURATIONS["key_message_lag"]
    assert lag.where is not None and lag.end.rows is not None  # nosec B101  # its registry entry says so
    approved = getattr(Statement, lag.start.at)
    publication = getattr(Statement, lag.end.rows).property.mapper.class_
    shared = [Statement.incident_id.in_(_real(incident_ids)), lag.where(SQL, Statement, Scope())]
    first = (  # per unit: its own publications (the end moment's `where`)
        select(
            publication.statement_id,
            publication.unit_id,
            func.min(getattr(publication, lag.end.at)).label("published_at"),
        )
        .join(Statement, Statement.id == publication.statement_id)
        .where(*shared)
        .group_by(publication.statement_id, publication.unit_id)
        .subquery("first_publication")
    )
    candidates = union_all(
        select(Statement.id.label("statement_id"), InvolvedUnit.unit_id.label("unit_id"), literal(1).label("involved"))
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
            non_negative(seconds_between(session, first.c.published_at, approved)).label(lag.column),
        )
        .join(Statement, Statement.id == pairs.c.statement_id)
        .join(Incident, Incident.id == Statement.incident_id)
        .join(PlaybookVersion, PlaybookVersion.id == Incident.playbook_version_id)
        .join(Playbook, Playbook.id == PlaybookVersion.playbook_id)
        .outerjoin(first, and_(first.c.statement_id == pairs.c.statement_id, first.c.unit_id == pairs.c.unit_id))
        .order_by(pairs.c.statement_id, pairs.c.unit_id)
    )
