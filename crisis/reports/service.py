"""Evaluation across incidents: who sees which part of the dashboard, KPI targets, CSV tables, and
the monthly evaluation report of a unit (built as a PDF, e-mailed to the unit's heads).

Plain functions; keyword-only session, actor and now; flush, never commit.
"""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import format_decimal
from sqlalchemy import delete, func, insert, literal, or_, select, union, update
from sqlalchemy.orm import Session, selectinload

from crisis import clock
from crisis.auth.models import Role, User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.guards import parse_id
from crisis.i18n import _
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.models import Incident, Statement
from crisis.playbooks.models import Playbook
from crisis.playbooks.spec import Settings
from crisis.reports import dashboard, measures
from crisis.reports.measures import MEASURE_LABELS, TIME_MEASURES
from crisis.reports.models import IncidentMeasure, KeyMessageLag, KpiTarget
from crisis.reviews import measures as review_measures
from crisis.reviews.models import Review
from crisis.timefmt import format_duration, is_valid_zone
from crisis.timeline import service as timeline
from crisis.timeline.models import TimelineEvent
from crisis.units import service as units
from crisis.units.models import Unit

DEFAULT_DAYS = 90
MAX_DAYS = 366 * 2


# --- the dashboard's filters and scope ---------------------------------------------------------------


def parse_day(value: Any, name: str, errors: dict[str, str]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        day = None
    if day is None or not 1900 <= day.year <= 2999:  # far dates overflow the period arithmetic
        errors[name] = str(_l("Give a date (YYYY-MM-DD)."))
        return None
    return day


def filters_for(
    *,
    session: Session,
    user: User,
    start: Any = None,
    end: Any = None,
    unit_id: Any = None,
    playbook: str | None = None,
    severity: Any = None,
    zone: str | None = None,
    now: datetime | None = None,
) -> dashboard.Filters:
    """The viewer's filters, checked: dates are local days (end inclusive) in the viewer's zone;
    a unit out of the viewer's sight answers 404; the rest name their field."""
    now = now or clock.now()
    zone = zone or user.timezone
    if not is_valid_zone(zone):
        raise ValidationFailed(
            {
                "zone": str(
                    _l("Unknown time zone; use e.g. Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT).")
                )
            }
        )
    errors: dict[str, str] = {}
    first = parse_day(start, "from", errors)
    last = parse_day(end, "to", errors)
    today = now.astimezone(ZoneInfo(zone)).date()
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if "from" not in errors and "to" not in errors:
        if first > last:
            errors["to"] = str(_l("The end comes before the start."))
        elif (last - first).days > MAX_DAYS:
            errors["from"] = str(_l("At most two years at once."))
    level = None
    if severity not in (None, ""):
        try:
            level = int(severity)
        except (TypeError, ValueError):
            level = None
        if level not in (1, 2, 3, 4):
            errors["severity"] = str(_l("Choose a severity from 1 to 4."))
    key = (playbook or "").strip() or None
    if key is not None and session.scalar(select(Playbook.id).where(Playbook.key == key)) is None:
        errors["playbook"] = str(_l("No SOP with this key."))
    root: int | None = None
    if unit_id not in (None, ""):
        root = unit_id if isinstance(unit_id, int) else parse_id(unit_id)
        if root is None:
            errors["unit"] = str(_l("No such unit."))
    if errors:
        raise ValidationFailed(errors)
    scope = units.visible_scope(session=session, user=user)
    if root is not None:
        units.get(session=session, user=user, unit_id=root)  # 404 out of sight
        unit_ids: frozenset[int] | None = frozenset(units.subtree_ids(session=session, root_ids={root}))
    elif scope.everything:
        unit_ids = None
    else:
        unit_ids = scope.unit_ids
        tops = [m.unit_id for m in user.memberships if m.unit_id in scope]
        root = tops[0] if len(tops) == 1 else None
    return dashboard.Filters(
        start=datetime.combine(first, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC),
        end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC),
        unit_ids=unit_ids,
        root_unit_id=root,
        playbook_key=key,
        severity=level,
        zone=zone,
        now=now,
    )


def build_dashboard(*, session: Session, filters: dashboard.Filters, lang: str = "id") -> dashboard.Dashboard:
    """The dashboard from the precomputed rows, brought up to date first (cheap when nothing changed).
    Writes those rows: the caller commits (or rolls back: the next read recomputes them)."""
    refresh_measures(session=session, now=filters.now, thorough=False)
    if measures.is_postgresql(session):  # for this transaction only (dashboard.PLANNER_SETTINGS)
        session.execute(select(*(func.set_config(name, value, True) for name, value in dashboard.PLANNER_SETTINGS)))
    return dashboard.build(session, filters, lang=lang)


# --- the precomputed measures -----------------------------------------------------------------------

# Events committed out of id order (a transaction that took its id early and committed late) are
# still found if at most this many later events committed before it.
LOOKBACK_EVENTS = 1000
REFRESH_BATCH = 2000


def dirty_incidents(*, session: Session, now: datetime, limit: int | None = None, thorough: bool = True) -> list[int]:
    """Incidents whose measures are missing or out of date: their timeline moved past the row's
    stamp (only incidents with events near the newest stamp are looked at), or `now` left the
    window their figures hold for, or the row was computed by an older definition. Oldest change
    first, so a limited sweep never skips one.

    Missing rows: `thorough` compares every incident with its row (an anti-join over both tables);
    otherwise only incidents newer than the newest row are looked at
    (new incidents; an incident created by a service also has an event, found above)."""
    real = Incident.exercise_id.is_(None)  # exercises never count in the evaluation: they get no rows
    newest_stamp, newest_row = session.execute(
        select(
            func.coalesce(func.max(IncidentMeasure.stamp), 0), func.coalesce(func.max(IncidentMeasure.incident_id), 0)
        )
    ).one()
    # Two steps, so the second looks the few candidates up by index.
    candidates = list(
        session.scalars(
            select(TimelineEvent.subject_id)
            .where(TimelineEvent.subject_type == "incident", TimelineEvent.id > newest_stamp - LOOKBACK_EVENTS)
            .distinct()
        )
    )
    parts: list[Any] = []
    if candidates:
        stamps = (
            select(
                TimelineEvent.subject_id.label("incident_id"),
                func.max(TimelineEvent.id).label("newest"),
                func.count().label("events"),
            )
            .where(TimelineEvent.subject_type == "incident", TimelineEvent.subject_id.in_(sorted(candidates)))
            .group_by(TimelineEvent.subject_id)
            .subquery("stamps")
        )
        parts.append(
            select(stamps.c.incident_id, stamps.c.newest)
            .join(Incident, Incident.id == stamps.c.incident_id)
            .outerjoin(IncidentMeasure, IncidentMeasure.incident_id == stamps.c.incident_id)
            .where(
                real,
                or_(
                    IncidentMeasure.incident_id.is_(None),
                    IncidentMeasure.stamp != stamps.c.newest,
                    IncidentMeasure.events != stamps.c.events,
                ),
            )
        )
    if thorough:
        parts.append(
            select(Incident.id, literal(0)).where(
                real, ~select(IncidentMeasure.incident_id).where(IncidentMeasure.incident_id == Incident.id).exists()
            )
        )
    else:
        parts.append(select(Incident.id, literal(0)).where(real, Incident.id > newest_row))
    parts.append(
        select(IncidentMeasure.incident_id, IncidentMeasure.stamp).where(
            or_(
                IncidentMeasure.valid_until <= now,
                IncidentMeasure.valid_from > now,
                IncidentMeasure.definition < measures.DEFINITION,
            )
        )
    )
    dirty = union(*parts).subquery("dirty")
    incident_id = dirty.c[0]
    query = select(incident_id).group_by(incident_id).order_by(func.max(dirty.c[1]), incident_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def refresh_measures(*, session: Session, now: datetime, limit: int | None = None, thorough: bool = True) -> int:
    """(Re)compute the IncidentMeasure and KeyMessageLag rows of the dirty incidents (at most
    `limit`), set-based, per batch: one INSERT ... SELECT ... ON CONFLICT DO UPDATE of the incidents'
    rows, then their lag rows deleted and inserted again. Idempotent; two sweeps at once are safe
    (primary keys decide, rows are written in id order, a row computed from fewer events never
    overwrites one computed from more, and the first statement locks the incidents' rows, so a
    second sweep of the same incidents waits for the first to commit). Returns how many incidents
    were refreshed; flush, not commit: the caller commits. `thorough`: see dirty_incidents.

    The scheduler runs it every minute through crisis.reports.tasks.refresh_measures (it commits)."""
    ids = dirty_incidents(session=session, now=now, limit=limit, thorough=thorough)
    for start in range(0, len(ids), REFRESH_BATCH):
        batch = sorted(ids[start : start + REFRESH_BATCH])
        _upsert(
            session,
            IncidentMeasure,
            measures.incident_measures_select(session=session, now=now, incident_ids=batch),
            key="incident_id",
            newer_only=True,
        )
        practice_measures(session=session, incident_ids=batch)
        session.execute(delete(KeyMessageLag).where(KeyMessageLag.incident_id.in_(batch)))
        lags = measures.key_message_lags_select(session=session, incident_ids=batch)
        session.execute(insert(KeyMessageLag).from_select([c.name for c in lags.selected_columns], lags))
    session.flush()
    return len(ids)


def practice_measures(*, session: Session, incident_ids: list[int]) -> None:
    """Time to detect, update-cadence adherence and hoax/clarification reach of the incidents'
    measures rows, computed as their reviews compute them (crisis.reviews.measures): the cadence
    reads each incident's SOP snapshot, which SQL cannot."""
    incidents = session.scalars(
        select(Incident)
        .where(Incident.id.in_(incident_ids))
        .options(
            selectinload(Incident.issue),
            selectinload(Incident.statements).selectinload(Statement.publications),
        )
    ).all()
    reached = {
        incident_id: (hoax, clarification)
        for incident_id, hoax, clarification in session.execute(
            select(Review.incident_id, Review.hoax_reach, Review.clarification_reach).where(
                Review.incident_id.in_(incident_ids)
            )
        )
    }
    for incident in incidents:
        if incident.state == "cancelled":
            continue
        every = Settings.from_canonical(incident.playbook_snapshot["settings"]).update_every_for(incident.severity)
        cadence = review_measures.update_cadence(incident, every)
        detect = review_measures.time_to_detect(incident)
        hoax, clarification = reached.get(incident.id) or (None, None)
        both = hoax is not None and clarification is not None
        session.execute(
            update(IncidentMeasure)
            .where(IncidentMeasure.incident_id == incident.id)
            .values(
                ttd=detect.total_seconds() if detect is not None else None,
                upd_judged=len(cadence.intervals),
                upd_kept=cadence.kept,
                hoax_reach=hoax if both else None,
                clar_reach=clarification if both else None,
            )
        )


def _upsert(session: Session, model: Any, source: Any, *, key: str, newer_only: bool = False) -> None:
    if measures.is_postgresql(session):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = model.__table__
    names = [c.name for c in source.selected_columns]
    statement = insert(table).from_select(names, source)
    updates = {name: statement.excluded[name] for name in names if name != key}
    where = table.c.events <= statement.excluded.events if newer_only else None
    session.execute(statement.on_conflict_do_update(index_elements=[key], set_=updates, where=where))


def first_and_last_day(filters: dashboard.Filters) -> tuple[date, date]:
    zone = ZoneInfo(filters.zone)
    return filters.start.astimezone(zone).date(), (filters.end - timedelta(microseconds=1)).astimezone(zone).date()


# --- KPI targets ----------------------------------------------------------------------------------


def can_set_targets(*, session: Session, user: User, unit_id: int) -> bool:
    """Heads set targets for their unit and the units below it (admins too)."""
    unit = session.get(Unit, unit_id)
    return unit is not None and bool(units_for_targets(session=session, user=user, candidates=[unit]))


def units_for_targets(*, session: Session, user: User, candidates: list[Unit]) -> list[Unit]:
    """The candidates a head or admin may set targets for, with their scope worked out once."""
    lead = {m.unit_id for m in user.memberships if m.role in (Role.head, Role.admin)}
    if not lead:
        return []
    if any(session.get(Unit, uid).kind == "central" for uid in lead):
        return list(candidates)
    allowed = set(units.subtree_ids(session=session, root_ids=lead))
    return [u for u in candidates if u.id in allowed]


def set_target(
    *,
    session: Session,
    actor: User,
    unit_id: int,
    measure: str,
    target_percent: Any,
    threshold_minutes: Any = None,
    comparison: str = "<=",
    now: datetime | None = None,
) -> KpiTarget:
    """Create or change the unit's target for one measure, e.g. 90 % of holding statements within
    60 minutes: measure=time_to_holding_statement, threshold_minutes=60, target_percent=90."""
    now = now or clock.now()
    unit = units.get(session=session, user=actor, unit_id=unit_id)
    if not can_set_targets(session=session, user=actor, unit_id=unit.id):
        raise NotPermitted(_l("Only a head of the unit or above it sets its targets."))
    errors: dict[str, str] = {}
    if measure not in MEASURE_LABELS:
        errors["measure"] = str(_l("Choose one of the measures listed."))
    percent = None
    with contextlib.suppress(TypeError, ValueError):
        percent = float(target_percent)
    if percent is None or not 0 < percent <= 100:
        errors["target_percent"] = str(_l("Give a percentage above 0 and at most 100."))
    threshold = None
    if measure in TIME_MEASURES:
        try:
            threshold = int(threshold_minutes)
        except (TypeError, ValueError):
            threshold = None
        if threshold is None or not 0 < threshold <= 60 * 24 * 365:
            errors["threshold_minutes"] = str(_l("Give the time limit in minutes (more than 0)."))
    if comparison not in ("<=", ">="):
        errors["comparison"] = str(_l("Choose 'at most' (<=) or 'at least' (>=)."))
    if errors:
        raise ValidationFailed(errors)
    assert percent is not None  # nosec B101  # type narrowing: errors raised above
    target = session.scalar(select(KpiTarget).where(KpiTarget.unit_id == unit.id, KpiTarget.measure == measure))
    if target is None:
        target = KpiTarget(unit_id=unit.id, measure=measure, created_at=now)
        session.add(target)
    target.threshold_seconds = threshold * 60 if threshold is not None else None
    target.comparison = comparison
    target.target_share = round(percent / 100, 4)
    target.updated_at, target.updated_by_id = now, actor.id
    session.flush()
    timeline.record(
        session=session,
        kind="kpi.target_set",
        subject_type="unit",
        subject_id=unit.id,
        actor_id=actor.id,
        unit_id=unit.id,
        now=now,
        data={
            "measure": measure,
            "threshold_seconds": target.threshold_seconds,
            "comparison": comparison,
            "target_share": target.target_share,
        },
    )
    return target


def delete_target(*, session: Session, actor: User, target_id: int, now: datetime | None = None) -> None:
    now = now or clock.now()
    target = session.get(KpiTarget, target_id)
    if target is None or target.unit_id not in units.visible_scope(session=session, user=actor):
        raise NotFound(_l("Target not found."))
    if not can_set_targets(session=session, user=actor, unit_id=target.unit_id):
        raise NotPermitted(_l("Only a head of the unit or above it sets its targets."))
    timeline.record(
        session=session,
        kind="kpi.target_removed",
        subject_type="unit",
        subject_id=target.unit_id,
        actor_id=actor.id,
        unit_id=target.unit_id,
        now=now,
        data={"measure": target.measure},
    )
    session.delete(target)
    session.flush()


def list_targets(*, session: Session, user: User) -> list[KpiTarget]:
    scope = units.visible_scope(session=session, user=user)
    return list(session.scalars(select(KpiTarget).where(scope.filter(KpiTarget.unit_id)).order_by(KpiTarget.id)))


def describe_target(target: KpiTarget) -> str:
    share = f"{format_decimal(target.target_share * 100, '#,##0.#')} %"  # "92,5 %" in Indonesian
    label = MEASURE_LABELS[target.measure]
    if target.threshold_seconds is None:
        return _("%(label)s: at least %(share)s", label=label, share=share)
    limit = format_duration(timedelta(seconds=target.threshold_seconds))
    if target.comparison == ">=":
        return _("%(share)s of incidents with %(label)s of at least %(limit)s", share=share, label=label, limit=limit)
    return _("%(share)s of incidents with %(label)s within %(limit)s", share=share, label=label, limit=limit)


# --- CSV ------------------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "" if value is None else str(round(value))


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def tables(board: dashboard.Dashboard) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Every table of the dashboard, as CSV-ready headers and rows (seconds and percentages)."""
    headline = [[name, stat.n, _seconds(stat.p50), _seconds(stat.p90)] for name, stat in board.headline.items()]
    return {
        "headline": (["measure", "incidents_measured", "median_seconds", "p90_seconds"], headline),
        "counts": (["state", "incidents"], [[state, n] for state, n in board.counts.items()]),
        "stages": (
            ["playbook", "stage", "title", "judged", "met", "breached", "not_met", "met_percent"],
            [
                [
                    s["playbook"],
                    s["key"],
                    s["title"],
                    s["judged"],
                    s["met"],
                    s["breached"],
                    s["not_met"],
                    _percent(s["share"]),
                ]
                for s in board.stages
            ],
        ),
        "heatmap": (
            ["unit", *[f"{s['playbook']}/{s['key']}" for s in board.heatmap["stages"]]],
            [
                [row["unit"].code, *[f"{c['breached']}/{c['judged']}" if c else "" for c in row["cells"]]]
                for row in board.heatmap["rows"]
            ],
        ),
        "per_unit": (
            [
                "unit",
                "incidents",
                "tta_median_seconds",
                "ths_median_seconds",
                "ttr_median_seconds",
                "stages_judged",
                "stages_met_percent",
                "reviews_due",
                "reviews_on_time_percent",
                "action_items_due",
                "action_items_on_time_percent",
                "escalations",
                "escalations_acknowledged",
                "media_queries_judged",
                "media_queries_on_time_percent",
            ],
            [
                [
                    r["unit"].code,
                    r["incidents"],
                    _seconds(r["tta"].p50),
                    _seconds(r["ths"].p50),
                    _seconds(r["ttr"].p50),
                    r["stage_sla"].judged,
                    _percent(r["stage_sla"].share),
                    r["reviews"].judged,
                    _percent(r["reviews"].share),
                    r["action_items"].judged,
                    _percent(r["action_items"].share),
                    r["escalations"],
                    r["acknowledged"],
                    r["media"].judged,
                    _percent(r["media"].share),
                ]
                for r in board.per_unit
            ],
        ),
        "weekly": (
            [
                "week",
                "incidents",
                "tta_median_seconds",
                "ths_median_seconds",
                "ttr_median_seconds",
                "stages_met_percent",
            ],
            [
                [
                    w["week"].isoformat(),
                    w["incidents"],
                    _seconds(w["tta"]),
                    _seconds(w["ths"]),
                    _seconds(w["ttr"]),
                    _percent(w["stage_sla"]),
                ]
                for w in board.weekly
            ],
        ),
        "key_message_lag": (
            ["unit", "shared", "published", "median_lag_seconds", "p90_lag_seconds"],
            [
                [
                    r["unit"].code if r["unit"] else "",
                    r["shared"],
                    r["published"],
                    _seconds(r["p50"]),
                    _seconds(r["p90"]),
                ]
                for r in board.lag
            ],
        ),
        "kpi": (
            [
                "unit",
                "measure",
                "threshold_seconds",
                "comparison",
                "target_percent",
                "judged",
                "hits",
                "actual_percent",
                "met",
            ],
            [
                [
                    k["unit"].code if k["unit"] else "",
                    k["target"].measure,
                    k["target"].threshold_seconds or "",
                    k["target"].comparison,
                    _percent(k["target"].target_share),
                    k["judged"],
                    k["hits"],
                    _percent(k["share"]),
                    "" if k["met"] is None else ("yes" if k["met"] else "no"),
                ]
                for k in board.kpis
            ],
        ),
        "outcomes": (
            ["measure", "judged", "on_time", "percent"],
            [
                [
                    "stage_sla",
                    board.stage_overall.judged,
                    board.stage_overall.hits,
                    _percent(board.stage_overall.share),
                ],
                ["review_on_time", board.reviews.judged, board.reviews.hits, _percent(board.reviews.share)],
                [
                    "action_items_on_time",
                    board.action_items.judged,
                    board.action_items.hits,
                    _percent(board.action_items.share),
                ],
                [
                    "escalations_acknowledged",
                    board.escalations["escalations"],
                    board.escalations["acknowledged"],
                    _percent(board.escalations["share_acknowledged"]),
                ],
                ["media_on_time", board.media.judged, board.media.hits, _percent(board.media.share)],
            ],
        ),
        "media": (
            ["outlet_type", "received", "answered", "answered_on_time", "on_time_percent", "median_seconds_to_answer"],
            [
                [
                    r["outlet_type"],
                    r["received"],
                    r["answered"],
                    r["on_time"],
                    _percent(r["on_time"] / r["received"] if r["received"] else None),
                    _seconds(r["median"]),
                ]
                for r in board.media_by_outlet
            ],
        ),
    }


def to_csv(headers: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in rows:
        # A cell starting with = + - @ is read as a formula by spreadsheets: quote it as text.
        writer.writerow([f"'{c}" if isinstance(c, str) and c[:1] in ("=", "+", "-", "@") else c for c in row])
    return buffer.getvalue()
