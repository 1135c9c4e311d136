"""`crisis seed history`: a generated history is consistent, and the set-based dashboard agrees with
the per-incident measures of every review on it."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from crisis.incidents.models import Incident
from crisis.reports import service as reports
from crisis.reports.cli import seed_history
from crisis.reports.measures import percentile_cont
from crisis.reviews import measures
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

    per_stage: dict[str, list[int]] = {}
    heat: dict[tuple[str, str], list[int]] = {}
    shared: dict[str, int] = {}
    lags: dict[str, list[float]] = {}
    for incident in db.session.query(Incident).filter(Incident.state != "cancelled"):
        measured = measures.measure(session=db.session, incident=incident)
        finished = incident.state in ("resolved", "closed")
        for stage in measured.stages:
            judged = stage.performed or finished
            counts = per_stage.setdefault(stage.key, [0, 0, 0])
            cell = heat.setdefault((heat_row(units[incident.unit_id]), stage.key), [0, 0])
            counts[0] += judged
            counts[1] += bool(stage.met)
            counts[2] += stage.performed and not stage.met
            cell[0] += judged
            cell[1] += stage.performed and not stage.met
        for row in measured.lags:
            shared[row.unit.code] = shared.get(row.unit.code, 0) + 1
            if row.lag is not None:
                lags.setdefault(row.unit.code, []).append(row.lag.total_seconds())
    assert {s["key"]: [s["judged"], s["met"], s["breached"]] for s in board.stages} == per_stage
    shown = {(row["unit"].code, stage["key"]): [cell["judged"], cell["breached"]]
             for row in board.heatmap["rows"] for stage, cell in zip(board.heatmap["stages"], row["cells"], strict=True)
             if cell is not None}
    assert shown == {key: cell for key, cell in heat.items() if cell[0]}
    assert shared and lags  # the history shares key messages, and most units publish them
    assert {row["unit"].code: (row["shared"], row["published"]) for row in board.lag} == {
        code: (n, len(lags.get(code, []))) for code, n in shared.items()}
    for row in board.lag:
        values = lags.get(row["unit"].code, [])
        assert row["p50"] == pytest.approx(percentile_cont(values, 0.5))
        assert row["p90"] == pytest.approx(percentile_cont(values, 0.9))


def test_a_seeded_incident_has_a_review_to_open(db, org, seeded):
    review = db.session.query(Review).filter_by(state="approved").first()
    from crisis.reviews import service as reviews

    doc = reviews.document(session=db.session, review=review)
    assert doc.stages and doc.measures.time_to_resolve is not None
    assert review.due_at == doc.incident.resolved_at + timedelta(days=7)
