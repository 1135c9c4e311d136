"""Every measure of a response, defined once.

`MEASURES` is the registry: per measure its key, its label, its unit, and what it means, either the
two moments a duration runs between or the rules a share counts by. Both ways of computing the
measures are built from it:

- crisis.reviews.measures: one incident's own rows in Python, for its review;
- crisis.reports.measures: many incidents at once in SQL, for the evaluation dashboard and its
  precomputed rows (crisis.reports.models).

A rule is written once over `o`, a logic: `PY` evaluates it on rows, `SQL` turns it into an SQL
expression over the tables. Both follow SQL's three-valued logic: a comparison with a missing value
is unknown (None in Python, NULL in SQL), and only a rule that holds counts. A measure that only one
of the two computes says so in `paths`, and why.

tests/test_evaluation_history.py checks, on a generated history, that both ways give every measure
of the registry the same value for every incident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crisis.i18n import lazy_gettext as _l

FINISHED = ("resolved", "closed")  # incident states in which every stage is judged
REVIEW = "review"  # crisis.reviews.measures: one incident, in Python
DASHBOARD = "dashboard"  # crisis.reports.measures: every incident, in SQL
BOTH = (REVIEW, DASHBOARD)


class _Python:
    """Three-valued logic on values: None is unknown, as NULL is in SQL."""

    @staticmethod
    def is_set(value: Any) -> bool:
        return value is not None

    @staticmethod
    def is_null(value: Any) -> bool:
        return value is None

    @staticmethod
    def eq(a: Any, b: Any) -> bool | None:
        return None if a is None or b is None else a == b

    @staticmethod
    def ne(a: Any, b: Any) -> bool | None:
        return None if a is None or b is None else a != b

    @staticmethod
    def le(a: Any, b: Any) -> bool | None:
        return None if a is None or b is None else a <= b

    @staticmethod
    def in_(a: Any, values: tuple[Any, ...]) -> bool | None:
        return None if a is None else a in values

    @staticmethod
    def and_(*terms: bool | None) -> bool | None:
        if any(term is False for term in terms):
            return False
        return None if any(term is None for term in terms) else True

    @staticmethod
    def or_(*terms: bool | None) -> bool | None:
        if any(term is True for term in terms):
            return True
        return None if any(term is None for term in terms) else False

    @staticmethod
    def not_(term: bool | None) -> bool | None:
        return None if term is None else not term

    @staticmethod
    def holds(term: bool | None) -> bool:
        return term is True


class _Sql:
    """The same operations as SQL expressions over columns (SQLAlchemy)."""

    is_set = staticmethod(lambda value: value.is_not(None))
    is_null = staticmethod(lambda value: value.is_(None))
    eq = staticmethod(lambda a, b: a == b)
    ne = staticmethod(lambda a, b: a != b)
    le = staticmethod(lambda a, b: a <= b)
    in_ = staticmethod(lambda a, values: a.in_(values))
    and_ = staticmethod(sa.and_)
    or_ = staticmethod(sa.or_)
    not_ = staticmethod(sa.not_)


PY = _Python()
SQL = _Sql()


@dataclass(frozen=True)
class Scope:
    """What a rule reads besides its row: the row's incident, the moment measured at, the kind of
    the row's timer (notices), the unit a key message is shared with. Values in Python, columns in SQL."""

    incident: Any = None
    now: Any = None
    timer_kind: Any = None
    unit_id: Any = None


Rule = Callable[[Any, Any, Scope], Any]  # (logic, row, scope) -> condition


# --- the rules ----------------------------------------------------------------------------------


def stage_performed(o: Any, run: Any, s: Scope) -> Any:
    """Started and completed, and not merely closed at the moment of resolution (started and
    completed at resolved_at: resolving completes the stages never reached)."""
    closed_by_resolving = o.and_(
        o.eq(run.started_at, run.completed_at),
        o.is_set(s.incident.resolved_at),
        o.eq(run.completed_at, s.incident.resolved_at),
    )
    return o.and_(o.is_set(run.started_at), o.is_set(run.completed_at), o.not_(closed_by_resolving))


def stage_judged(o: Any, run: Any, s: Scope) -> Any:
    """Performed, or the incident is over (a stage never performed then counts as not met); never a
    stage the SOP skips at the incident's severity (`severities: [...]`: not run, not measured)."""
    return o.and_(o.ne(run.state, "skipped"), o.or_(stage_performed(o, run, s), o.in_(s.incident.state, FINISHED)))


def stage_met(o: Any, run: Any, s: Scope) -> Any:
    """Performed, and completed by its due time."""
    return o.and_(stage_performed(o, run, s), o.or_(o.is_null(run.due_at), o.le(run.completed_at, run.due_at)))


def stage_breached(o: Any, run: Any, s: Scope) -> Any:
    """Performed, and completed after its due time (a stage not performed is not breached)."""
    return o.and_(stage_performed(o, run, s), o.not_(stage_met(o, run, s)))


def review_judged(o: Any, review: Any, s: Scope) -> Any:
    """Approved, or due by now."""
    return o.or_(o.is_set(review.approved_at), o.le(review.due_at, s.now))


def review_on_time(o: Any, review: Any, s: Scope) -> Any:
    return o.and_(o.is_set(review.approved_at), o.le(review.approved_at, review.due_at))


def action_item_judged(o: Any, item: Any, s: Scope) -> Any:
    """Not dropped, and either done or due by now."""
    return o.and_(o.ne(item.status, "dropped"), o.or_(o.eq(item.status, "done"), o.le(item.due_at, s.now)))


def action_item_on_time(o: Any, item: Any, s: Scope) -> Any:
    return o.and_(o.eq(item.status, "done"), o.le(item.done_at, item.due_at))


def escalation_notice(o: Any, notice: Any, s: Scope) -> Any:
    """A deadline notice of an escalation-step timer to a person."""
    return o.and_(
        o.eq(notice.kind, "deadline"), o.eq(s.timer_kind, "escalation_step"), o.is_set(notice.recipient_user_id)
    )


def acknowledged(o: Any, notice: Any, s: Scope) -> Any:
    return o.is_set(notice.acknowledged_at)


def every_row(o: Any, row: Any, s: Scope) -> Any:
    return o.is_set(row.id)


def checklist_closed(o: Any, entry: Any, s: Scope) -> Any:
    """Done or waived."""
    return o.or_(o.is_set(entry.done_at), o.is_set(entry.waived_at))


def first_stage(o: Any, run: Any, s: Scope) -> Any:
    return o.eq(run.position, 0)


def holding_statement(o: Any, statement: Any, s: Scope) -> Any:
    return o.eq(statement.kind, "holding")


def shared_key_messages(o: Any, statement: Any, s: Scope) -> Any:
    """Key messages approved by the owner: shared with the units involved, each to publish them."""
    return o.and_(o.eq(statement.kind, "key_messages"), o.is_set(statement.approved_at))


def published_by_the_unit(o: Any, publication: Any, s: Scope) -> Any:
    return o.eq(publication.unit_id, s.unit_id)


def media_query_judged(o: Any, query: Any, s: Scope) -> Any:
    """A journalist's question answered or declined, or still open when the incident is over (a
    miss). An open question of a running incident is not judged yet: it may still be answered."""
    return o.or_(o.is_set(query.answered_at), o.in_(s.incident.state, FINISHED))


def media_query_on_time(o: Any, query: Any, s: Scope) -> Any:
    """Answered (or declined with the holding line) by its target: received_at plus the SOP's
    media_answer_within, or the journalist's own deadline if sooner (crisis.incidents.media)."""
    return o.and_(o.is_set(query.answered_at), o.le(query.answered_at, query.due_at))


# --- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """A moment of a subject row: its own column `at`, or, with `rows` (a relationship of the
    subject), the earliest `at` of those related rows that meet `where`."""

    at: str
    rows: str | None = None
    where: Rule | None = None

    def of(self, subject: Any, scope: Scope = Scope()) -> datetime | None:
        """The moment of one subject (Python)."""
        if self.rows is None:
            return getattr(subject, self.at)
        moments = (
            getattr(row, self.at)
            for row in getattr(subject, self.rows)
            if self.where is None or PY.holds(self.where(PY, row, scope))
        )
        return min((moment for moment in moments if moment is not None), default=None)


@dataclass(frozen=True)
class Duration:
    """From `start` to `end` of each subject (no value while either is missing); `where`: which
    rows are subjects (None: all). `column`: where the dashboard's precomputed rows hold it, in
    seconds (crisis.reports.models)."""

    key: str
    label: Any
    subject: str  # "incident" | "shared key message and unit"
    start: Moment
    end: Moment
    column: str
    target: bool  # heads may set a KPI target on it: "this share of incidents within a threshold"
    where: Rule | None = None
    paths: tuple[str, ...] = BOTH
    unit: str = "seconds"

    def raw(self, subject: Any, scope: Scope = Scope()) -> timedelta | None:
        """end - start as recorded, negative when the recorded moments are out of order."""
        start, end = self.start.of(subject, scope), self.end.of(subject, scope)
        return end - start if start is not None and end is not None else None

    def of(self, subject: Any, scope: Scope = Scope()) -> timedelta | None:
        """The duration; None (not measured) where the moments are out of order: a time entered
        before the services checked it (a statement "published" before the incident opened) must
        never make a median negative or a KPI met. The review says which were left out."""
        value = self.raw(subject, scope)
        return None if value is None or value < timedelta(0) else value


@dataclass(frozen=True)
class Rate:
    """A share: of an incident's rows of one kind (`of`: its stage runs, its review, ...) those
    `judged`, and of these the `hit` ones. `per`: rows with the same values of these columns count
    as one, a hit when any of them is. `columns`: where the dashboard's precomputed rows hold the
    judged and hit counts (crisis.reports.models)."""

    key: str
    label: Any
    of: str  # "stage_runs" | "review" | "action_items" | "notices" | "checklist_entries" | "media_queries"
    judged: Rule
    hit: Rule
    columns: tuple[str, str] | None
    target: bool  # heads may set a KPI target on it: "this share or more"
    per: tuple[str, ...] = ()
    paths: tuple[str, ...] = BOTH
    unit: str = "share"


_INCIDENT_START = Moment("started_at")
DURATIONS: dict[str, Duration] = {
    m.key: m
    for m in (
        Duration(
            "time_to_acknowledge",
            _l("Time to complete the first stage (internal acknowledgement)"),
            "incident",
            _INCIDENT_START,
            Moment("completed_at", rows="stage_runs", where=first_stage),
            column="tta",
            target=True,
        ),
        Duration(
            "time_to_holding_statement",
            _l("Time to holding statement"),
            "incident",
            _INCIDENT_START,
            # Statement.published_at is the owner's first publication of the statement.
            Moment("published_at", rows="statements", where=holding_statement),
            column="ths",
            target=True,
        ),
        Duration(
            "time_to_first_statement",
            _l("Time to first public statement"),
            "incident",
            _INCIDENT_START,
            Moment("published_at", rows="statements"),
            column="tfs",
            target=True,
        ),
        Duration(
            "time_to_resolve",
            _l("Time to resolve"),
            "incident",
            _INCIDENT_START,
            Moment("resolved_at"),
            column="ttr",
            target=True,
        ),
        # Publication lag of shared key messages: per statement and unit sharing it, approval to the
        # unit's first publication. The units sharing it: those involved in the incident, and any other
        # unit but the owner that recorded a publication of it.
        Duration(
            "key_message_lag",
            _l("Key-message publication lag per unit"),
            "shared key message and unit",
            Moment("approved_at"),
            Moment("published_at", rows="publications", where=published_by_the_unit),
            column="lag",
            target=False,
            where=shared_key_messages,
        ),
    )
}
RATES: dict[str, Rate] = {
    m.key: m
    for m in (
        Rate(
            "stage_sla",
            _l("Stages completed on time"),
            "stage_runs",
            stage_judged,
            stage_met,
            columns=("st_judged", "st_met"),
            target=True,
        ),
        Rate(
            "review_on_time",
            _l("Reviews approved on time"),
            "review",
            review_judged,
            review_on_time,
            columns=("rv_judged", "rv_on_time"),
            target=True,
        ),
        Rate(
            "action_items_on_time",
            _l("Action items closed on time"),
            "action_items",
            action_item_judged,
            action_item_on_time,
            columns=("ai_judged", "ai_on_time"),
            target=True,
        ),
        # One escalation per (timer, person), however many channels it went out on; acknowledged when
        # any of that person's notices of the timer was.
        Rate(
            "escalations_acknowledged",
            _l("Escalations acknowledged"),
            "notices",
            escalation_notice,
            acknowledged,
            columns=("esc_sent", "esc_acknowledged"),
            target=True,
            per=("timer_id", "recipient_user_id"),
        ),
        Rate(
            "media_on_time",
            _l("Media queries answered on time"),
            "media_queries",
            media_query_judged,
            media_query_on_time,
            columns=("mq_judged", "mq_on_time"),
            target=True,
        ),
        # The heat map: breached stages out of those judged.
        Rate(
            "stages_breached",
            _l("Breached"),
            "stage_runs",
            stage_judged,
            stage_breached,
            columns=("st_judged", "st_breached"),
            target=False,
        ),
        # Review only: the dashboard does not report on checklists, so no precomputed row holds it.
        Rate(
            "checklist",
            _l("Checklist"),
            "checklist_entries",
            every_row,
            checklist_closed,
            columns=None,
            target=False,
            paths=(REVIEW,),
        ),
    )
}
MEASURES: dict[str, Duration | Rate] = {**DURATIONS, **RATES}

INCIDENT_DURATIONS = [m for m in DURATIONS.values() if m.subject == "incident"]
# What heads set KPI targets on (crisis.reports): durations as "this share of incidents within a
# threshold", rates as "this share or more".
TARGET_MEASURES = [m for m in MEASURES.values() if m.target]
