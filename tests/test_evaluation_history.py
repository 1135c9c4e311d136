"""`crisis seed history`: a generated history is consistent, and the set-based dashboard agrees with
the per-incident measures of every review on it: every measure of the registry
(crisis.reviews.definitions), computed both ways, for every incident."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crisis.incidents.models import Incident, Publication, StageRun, Statement
from crisis.notify.models import Notice
from crisis.reports import service as reports
from crisis.reports.cli import seed_history
from crisis.reports.measures import incident_measures_select, key_message_lags_select, percentile_cont
from crisis.reviews import measures
from crisis.reviews.definitions import DASHBOARD, MEASURES, REVIEW, Duration, Rate
from crisis.reviews.models import Review
from crisis.units.models import Unit
from tests.conftest import FIXED_NOW

# The history spans the three months (90 days) before FIXED_NOW; the period holds it all, in the
# PUSAT head's zone (WIB), up to FIXED_NOW's own day.
JAKARTA = ZoneInfo("Asia/Jakarta")
START = (FIXED_NOW - timedelta(days=120)).astimezone(JAKARTA).date()
END = FIXED_NOW.astimezone(JAKARTA).date()


@pytest.fixture
def seeded(db, org):
    counts = seed_history(session=db.session, incidents=150, months=3, units=24, seed=7, now=FIXED_NOW)
    db.session.commit()
    return counts


def test_seeding_creates_units_across_zones_and_a_realistic_history(db, seeded):
    assert seeded["incidents"] == 150 and db.session.query(Incident).count() == 150
    assert db.session.query(Unit).count() == 24
    assert {u.timezone for u in db.session.query(Unit)} == {"Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"}
    states = {state for (state,) in db.session.query(Incident.state)}
    assert {"resolved", "closed", "active"} <= states
    assert seeded["reviews"] == db.session.query(Review).count() > 0
    assert seeded["notices"] > 0 and seeded["statements"] > 0


def test_the_dashboard_agrees_with_every_incidents_own_measures(db, org, seeded):
    user = org["users"][("PUSAT", "head")]
    f = reports.filters_for(session=db.session, user=user, start=START, end=END, now=FIXED_NOW)
    board = reports.build_dashboard(session=db.session, filters=f)
    tta, ths, judged, met, breaches = [], [], 0, 0, 0
    for incident in db.session.query(Incident).filter(Incident.state != "cancelled"):
        measured = measures.measure(session=db.session, incident=incident)
        if measured.time_to_acknowledge is not None:
            tta.append(measured.time_to_acknowledge.total_seconds())
        if measured.time_to_holding_statement is not None:
            ths.append(measured.time_to_holding_statement.total_seconds())
        finished = incident.state in ("resolved", "closed")
        for stage in measured.stages:
            if stage.performed or finished:
                judged += 1
                met += bool(stage.met)
                breaches += stage.performed and not stage.met
    assert board.headline["tta"].n == len(tta)
    assert board.headline["tta"].p50 == pytest.approx(percentile_cont(tta, 0.5))
    assert board.headline["tta"].p90 == pytest.approx(percentile_cont(tta, 0.9))
    assert board.headline["ths"].p50 == pytest.approx(percentile_cont(ths, 0.5))
    assert (board.stage_overall.judged, board.stage_overall.hits) == (judged, met)
    assert sum(s["breached"] for s in board.stages) == breaches
    assert 0.4 < met / judged < 0.95  # realistic: most stages on time, a fair share breached
    assert board.kpis and all(k["judged"] >= 0 for k in board.kpis)


def test_the_stage_table_heat_map_and_key_message_lag_agree_with_every_incident(db, org, seeded):
    """The stage bits on the measures rows and the key-message lag rows, against each incident's own
    stage and lag measures (crisis.reviews.measures), per stage, per heat-map row and per unit."""
    user = org["users"][("PUSAT", "head")]
    f = reports.filters_for(session=db.session, user=user, start=START, end=END, now=FIXED_NOW)
    board = reports.build_dashboard(session=db.session, filters=f)
    units = {u.id: u for u in db.session.query(Unit)}

    def heat_row(unit):  # the child of the root (PUSAT) the unit sits under
        while unit.parent_id is not None and units[unit.parent_id].parent_id is not None:
            unit = units[unit.parent_id]
        return unit.code

    per_stage: dict[tuple[str, str], list[int]] = {}  # by (playbook, stage): SOPs share stage keys
    heat: dict[tuple[str, str, str], list[int]] = {}
    shared: dict[str, int] = {}
    lags: dict[str, list[float]] = {}
    for incident in db.session.query(Incident).filter(Incident.state != "cancelled"):
        measured = measures.measure(session=db.session, incident=incident)
        finished = incident.state in ("resolved", "closed")
        for stage in measured.stages:
            judged = stage.performed or finished
            playbook = incident.playbook_snapshot["key"]
            counts = per_stage.setdefault((playbook, stage.key), [0, 0, 0])
            cell = heat.setdefault((heat_row(units[incident.unit_id]), playbook, stage.key), [0, 0])
            counts[0] += judged
            counts[1] += bool(stage.met)
            counts[2] += stage.performed and not stage.met
            cell[0] += judged
            cell[1] += stage.performed and not stage.met
        for row in measured.lags:
            shared[row.unit.code] = shared.get(row.unit.code, 0) + 1
            if row.lag is not None:
                lags.setdefault(row.unit.code, []).append(row.lag.total_seconds())
    assert {(s["playbook"], s["key"]): [s["judged"], s["met"], s["breached"]] for s in board.stages} == per_stage
    shown = {
        (row["unit"].code, stage["playbook"], stage["key"]): [cell["judged"], cell["breached"]]
        for row in board.heatmap["rows"]
        for stage, cell in zip(board.heatmap["stages"], row["cells"], strict=True)
        if cell is not None
    }
    assert shown == {key: cell for key, cell in heat.items() if cell[0]}
    assert shared and lags  # the history shares key messages, and most units publish them
    assert {row["unit"].code: (row["shared"], row["published"]) for row in board.lag} == {
        code: (n, len(lags.get(code, []))) for code, n in shared.items()
    }
    for row in board.lag:
        values = lags.get(row["unit"].code, [])
        assert row["p50"] == pytest.approx(percentile_cont(values, 0.5))
        assert row["p90"] == pytest.approx(percentile_cont(values, 0.9))


def _corner_cases(db):
    """What the generator never makes, added to its history: a stage completed the moment it started
    in an active incident (performed), one closed the moment the incident was resolved (not
    performed), a person acknowledging an escalation on their second channel only, and a unit
    publishing key messages it was not asked to."""
    active = db.session.scalars(
        select(StageRun)
        .join(Incident)
        .where(Incident.state == "active", StageRun.started_at.is_not(None), StageRun.completed_at.is_(None))
    ).first()
    active.completed_at = active.started_at
    resolved = db.session.scalars(select(Incident).where(Incident.state == "resolved")).first()
    last = max(resolved.stage_runs, key=lambda run: run.position)
    last.started_at = last.completed_at = resolved.resolved_at
    notice = db.session.scalars(select(Notice).where(Notice.acknowledged_at.is_(None))).first()
    db.session.add(
        Notice(
            kind=notice.kind,
            idempotency_key=f"{notice.idempotency_key}:email",
            timer_id=notice.timer_id,
            incident_id=notice.incident_id,
            channel="email",
            recipient_user_id=notice.recipient_user_id,
            payload=notice.payload,
            status="sent",
            due_at=notice.due_at,
            queued_at=notice.queued_at,
            next_attempt_at=notice.queued_at,
            sent_at=notice.queued_at,
            acknowledged_at=notice.queued_at + timedelta(minutes=5),
            acknowledged_by_id=notice.recipient_user_id,
        )
    )
    statement = db.session.scalars(select(Statement).where(Statement.kind == "key_messages")).first()
    asked = {statement.incident.unit_id} | {row.unit_id for row in statement.incident.involved}
    outsider = db.session.scalars(select(Unit).where(Unit.id.not_in(asked), Unit.kind != "central")).first()
    db.session.add(
        Publication(
            statement_id=statement.id,
            unit_id=outsider.id,
            channel="website",
            published_at=statement.approved_at + timedelta(hours=2),
            recorded_by_id=statement.drafted_by_id,
        )
    )
    db.session.flush()
    db.session.expire_all()
    return active, last, statement.id


def _same(duration, seconds) -> bool:
    """A duration (Python) and seconds (SQL) are the same measure: both missing, or equal to the millisecond."""
    if duration is None or seconds is None:
        return duration is None and seconds is None
    return abs(duration.total_seconds() - float(seconds)) < 1e-3


def test_every_measure_of_the_registry_is_the_same_both_ways_for_every_incident(db, seeded):
    """The review's measures (Python, one incident) and the dashboard's (SQL, every incident at once)
    are built from one registry: for every incident and every measure in it they agree, corner cases
    included. A measure that only one way computes says so in the registry."""
    cases = _corner_cases(db)
    rows = {
        row["incident_id"]: row
        for row in db.session.execute(
            incident_measures_select(session=db.session, now=FIXED_NOW, incident_ids=select(Incident.id))
        ).mappings()
    }
    lags = {
        (row["statement_id"], row["unit_id"]): (bool(row["involved"]), row["lag"])
        for row in db.session.execute(
            key_message_lags_select(session=db.session, incident_ids=select(Incident.id))
        ).mappings()
    }
    incidents = db.session.scalars(select(Incident).order_by(Incident.id)).all()
    assert len(incidents) == len(rows) == 150
    measured: dict[str, list] = {key: [] for key in MEASURES}  # per measure: its value for every incident
    python_lags = {}
    for incident in incidents:
        times = measures.durations(incident)
        shares = measures.rates(session=db.session, incident=incident, now=FIXED_NOW)
        for measure in MEASURES.values():
            if isinstance(measure, Duration) and measure.subject == "incident":
                value = times[measure.key]
                seconds = rows[incident.id][measure.column]
                assert _same(value, seconds), (measure.key, incident.id, value, seconds)
                measured[measure.key].append(value)
            elif isinstance(measure, Rate) and measure.columns is not None:
                judged, hits = measure.columns
                sql = (rows[incident.id][judged], rows[incident.id][hits])
                assert tuple(shares[measure.key]) == sql, (measure.key, incident.id)
                measured[measure.key].append(sql)
            elif isinstance(measure, Rate):  # one way only: the registry says which
                assert measure.paths == (REVIEW,), measure.key
                measured[measure.key].append(tuple(shares[measure.key]))
        for row in measures.key_message_lags(incident):
            python_lags[(row.statement.id, row.unit.id)] = (row.involved, row.lag)
            measured["key_message_lag"].append(row.lag)
    assert python_lags.keys() == lags.keys() and len(measured["key_message_lag"]) == len(lags)
    for pair, (involved, lag) in python_lags.items():
        assert involved == lags[pair][0] and _same(lag, lags[pair][1]), (pair, lag, lags[pair])
    # Every measure was computed both ways unless the registry says otherwise, and on values that
    # say something: some incidents have it, some are judged and some of those hit, some miss.
    for key, values in measured.items():
        measure = MEASURES[key]
        assert set(measure.paths) == {REVIEW, DASHBOARD} or measure.paths == (REVIEW,), key
        if isinstance(measure, Duration):
            assert any(v is not None for v in values) and None in values, key
        else:
            assert any(hits for _judged, hits in values), key
            assert DASHBOARD not in measure.paths or any(judged > hits for judged, hits in values), key
    # The corner cases counted as the rules say, both ways.
    instant, closed_by_resolving, shared_further = cases
    for run, performed in ((instant, True), (closed_by_resolving, False)):
        stage = measures.measure(session=db.session, incident=run.incident).stages[run.position]
        bit = 1 << run.position
        assert (stage.performed, stage.met) == (performed, True if performed else None)
        row = rows[run.incident_id]
        assert (bool(row["stages_met"] & bit), bool(row["stages_judged"] & bit)) == (performed, True)
    assert any(statement == shared_further and not involved for (statement, _unit), (involved, _lag) in lags.items())


def test_a_seeded_incident_has_a_review_to_open(db, org, seeded):
    review = db.session.query(Review).filter_by(state="approved").first()
    from crisis.reviews import service as reviews

    doc = reviews.document(session=db.session, review=review)
    assert doc.stages and doc.measures.time_to_resolve is not None
    assert review.due_at == doc.incident.resolved_at + timedelta(days=7)
