"""Evaluation across incidents: every measure on hand-built incidents whose answers are known exactly.

The history is planned from the suite's clock (NOW): MON is the Monday, 03:00 UTC (10:00 WIB), of the week
ten days before NOW; the period runs from the Sunday MON - 15 d to the Monday MON + 14 d, as 1-30 November
2026 did around Monday 16 November when NOW was 26 November. Incidents (hoax-clarification; stage 0
`identify` target 60 m, stage 1 `verify` 120 m):

  A  KOTA-SEMARANG (WIB)  MON 03:00 UTC          ack 30 m (met), verify 30 m late, first statement 40 m,
                          holding 50 m, resolved after 5 h; review approved on time; 4 action items
  B  KOTA-MAKASSAR (WITA) Tue MON - 6 d 03:00 UTC  ack 90 m (30 m late), verify never reached, press release
                          at 2 h (no holding), resolved after 10 h; review overdue; 2 people escalated, 1 ack
  C  KOTA-JAYAPURA (WIT)  Sun MON - 1 d 18:00 UTC  = MON 01:00 WIB; ack 20 m, holding 20 m, still active
  D  JATENG               Fri MON + 4 d, cancelled (counted, never measured)
  E  KOTA-SEMARANG        the day before the period, 16:00 UTC = 23:00 WIB (before the period) but 01:00 WIT
                          on its first day; cancelled

A's action items fall due on Friday MON + 4 d at 23:59 WIB, before NOW, except one due 30 days later.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.incidents.models import Incident, InvolvedUnit, Publication, StageRun, Statement
from crisis.playbooks import service as playbooks
from crisis.reports import service as reports
from crisis.reports.measures import percentile_cont
from crisis.reviews.models import ActionItem, Review
from tests.conftest import FIXED_NOW

M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
NOW = FIXED_NOW
# The Monday, 03:00 UTC, of the week ten days before NOW: between 9 d 21 h and 17 d before NOW.
_ten_days_ago = (NOW - 10 * D).date()
MON = datetime.combine(_ten_days_ago - _ten_days_ago.weekday() * D, time(3), UTC)
START, END = (MON - 15 * D).date(), (MON + 14 * D).date()  # a Sunday and a Monday: six local weeks


def _incident(db, org, unit, started, *, state="resolved", resolved=None, stages=(), statements=(), involved=()):
    version = playbooks.get_version(session=db.session, key="hoax-clarification")
    incident = Incident(
        unit_id=org["units"][unit].id,
        title=f"Insiden {unit}",
        severity=2,
        state=state,
        commander_id=org["users"][(unit, "head")].id,
        playbook_version_id=version.id,
        playbook_snapshot=version.canonical,
        started_at=started,
        resolved_at=started + resolved if resolved is not None else None,
        cancelled_at=started + H if state == "cancelled" else None,
    )
    db.session.add(incident)
    db.session.flush()
    for position, (target, begin, end) in enumerate(stages):
        key = version.canonical["stages"][position]["key"]
        db.session.add(
            StageRun(
                incident_id=incident.id,
                position=position,
                stage_key=key,
                target_seconds=int(target.total_seconds()),
                state="completed" if end is not None else ("active" if begin is not None else "pending"),
                started_at=started + begin if begin is not None else None,
                due_at=started + begin + target if begin is not None else None,
                completed_at=started + end if end is not None else None,
            )
        )
    for code in involved:
        db.session.add(InvolvedUnit(incident_id=incident.id, unit_id=org["units"][code].id, involved_at=started))
    author = org["users"][(unit, "officer")].id
    for kind, approved, published, shared in statements:
        st = Statement(
            incident_id=incident.id,
            kind=kind,
            title=kind,
            body="...",
            state="published",
            drafted_by_id=author,
            drafted_at=started,
            approved_at=started + approved,
            published_at=started + published if published is not None else None,
        )
        db.session.add(st)
        db.session.flush()
        for code, after in shared:
            db.session.add(
                Publication(
                    statement_id=st.id,
                    unit_id=org["units"][code].id,
                    channel="website",
                    published_at=started + after,
                    recorded_by_id=author,
                )
            )
    db.session.flush()
    return incident


@pytest.fixture
def history(db, org):
    from crisis.escalation.models import Timer
    from crisis.notify.models import Notice

    a_start = MON
    a = _incident(
        db,
        org,
        "KOTA-SEMARANG",
        a_start,
        resolved=5 * H,
        stages=[(60 * M, timedelta(0), 30 * M), (120 * M, 30 * M, 3 * H)],
        statements=[
            ("press_release", 30 * M, 40 * M, ()),
            ("holding", 45 * M, 50 * M, ()),
            ("key_messages", H, None, [("KAB-BANYUMAS", H + 30 * M), ("KOTA-MAKASSAR", H + 90 * M)]),
        ],
        involved=("KAB-BANYUMAS", "KOTA-MAKASSAR"),
    )
    b_start = MON - 6 * D
    b = _incident(
        db,
        org,
        "KOTA-MAKASSAR",
        b_start,
        resolved=10 * H,
        stages=[(60 * M, timedelta(0), 90 * M), (120 * M, 10 * H, 10 * H)],
        statements=[("press_release", H, 2 * H, ()), ("key_messages", H, None, [("KAB-GOWA", H + 10 * M)])],
        involved=("KAB-GOWA",),
    )
    _incident(
        db,
        org,
        "KOTA-JAYAPURA",
        MON - D + 15 * H,
        state="active",
        stages=[(60 * M, timedelta(0), 20 * M), (120 * M, 20 * M, None)],
        statements=[("holding", 10 * M, 20 * M, ())],
    )
    _incident(db, org, "JATENG", MON + 4 * D, state="cancelled", stages=[(60 * M, timedelta(0), None)])
    _incident(db, org, "KOTA-SEMARANG", MON - 16 * D + 13 * H, state="cancelled")  # E

    review_a = Review(
        incident_id=a.id,
        unit_id=a.unit_id,
        state="approved",
        due_at=a.resolved_at + timedelta(days=7),
        approved_at=a.resolved_at + timedelta(days=2),
        created_at=a.resolved_at,
    )
    review_b = Review(
        incident_id=b.id,
        unit_id=b.unit_id,
        state="draft",
        due_at=b.resolved_at + timedelta(days=7),
        created_at=b.resolved_at,
    )
    db.session.add_all([review_a, review_b])
    db.session.flush()
    owner = org["users"][("KOTA-SEMARANG", "supervisor")].id
    due_on = (MON + 4 * D).date()
    due = MON + 4 * D + 13 * H + 59 * M  # 23:59 WIB
    db.session.add_all(
        [
            ActionItem(
                review_id=review_a.id,
                title="tepat",
                owner_id=owner,
                due_on=due_on,
                due_at=due,
                status="done",
                done_at=due - H,
            ),
            ActionItem(
                review_id=review_a.id,
                title="telat",
                owner_id=owner,
                due_on=due_on,
                due_at=due,
                status="done",
                done_at=due + H,
            ),
            ActionItem(
                review_id=review_a.id, title="batal", owner_id=owner, due_on=due_on, due_at=due, status="dropped"
            ),
            ActionItem(
                review_id=review_a.id,
                title="nanti",
                owner_id=owner,
                due_on=due_on + 30 * D,
                due_at=due + timedelta(days=30),
                status="open",
            ),
        ]
    )
    timer = Timer(incident_id=b.id, kind="escalation_step", step_index=0, fire_at=b_start + H, state="fired")
    db.session.add(timer)
    db.session.flush()
    for user, channel, ack in (
        (org["users"][("SULSEL", "head")], "email", None),
        (org["users"][("SULSEL", "head")], "inapp", b_start + 2 * H),
        (org["users"][("KOTA-MAKASSAR", "head")], "inapp", None),
    ):
        db.session.add(
            Notice(
                idempotency_key=f"k{user.id}{channel}",
                timer_id=timer.id,
                incident_id=b.id,
                channel=channel,
                recipient_user_id=user.id,
                status="sent",
                due_at=timer.fire_at,
                queued_at=timer.fire_at,
                next_attempt_at=timer.fire_at,
                acknowledged_at=ack,
            )
        )
    db.session.commit()
    return {"a": a, "b": b}


def _board(db, org, role="head", unit="PUSAT", **filters):
    user = org["users"][(unit, role)]
    options = {"start": START.isoformat(), "end": END.isoformat(), "now": NOW} | filters
    f = reports.filters_for(session=db.session, user=user, **options)
    return reports.build_dashboard(session=db.session, filters=f, lang="en")


def test_percentiles_match_postgresql_percentile_cont():
    assert percentile_cont([20, 30, 90], 0.5) == 30
    assert percentile_cont([20, 30, 90], 0.9) == pytest.approx(78)
    assert percentile_cont([], 0.5) is None


def test_headline_medians_and_p90_are_exact(db, org, history):
    board = _board(db, org)
    assert board.counts == {"active": 1, "resolved": 2, "closed": 0, "cancelled": 1}
    minutes = {
        name: (s.n, s.p50 / 60 if s.p50 is not None else None, round(s.p90 / 60, 6) if s.p90 else None)
        for name, s in board.headline.items()
    }
    assert minutes == {
        "ttd": (0, None, None),  # none of these incidents came from a logged issue
        "tta": (3, 30, 78),
        "ths": (2, 35, 47),
        "tfs": (3, 40, 104),
        "ttr": (2, 450, 570),
    }


def test_stage_compliance_counts_breaches_and_stages_never_performed(db, org, history):
    board = _board(db, org)
    assert (board.stage_overall.judged, board.stage_overall.hits) == (5, 2)
    by_key = {s["key"]: (s["judged"], s["met"], s["breached"], s["not_met"]) for s in board.stages}
    assert by_key == {"identify": (3, 2, 1, 1), "verify-with-institution": (2, 0, 1, 2)}
    heat = {
        row["unit"].code: [c and (c["breached"], c["judged"]) for c in row["cells"]] for row in board.heatmap["rows"]
    }
    assert heat == {"JATENG": [(0, 1), (1, 1)], "SULSEL": [(1, 1), (0, 1)], "PAPUA": [(0, 1), None]}


def test_reviews_action_items_escalations_and_key_message_lag(db, org, history):
    board = _board(db, org)
    assert (board.reviews.judged, board.reviews.hits) == (2, 1)
    assert (board.action_items.judged, board.action_items.hits) == (2, 1)
    assert board.escalations["escalations"] == 2 and board.escalations["acknowledged"] == 1
    assert board.escalations["per_incident"] == pytest.approx(2 / 3)
    lag = {row["unit"].code: (row["shared"], row["published"], row["p50"] / 60) for row in board.lag}
    assert lag == {"KAB-BANYUMAS": (1, 1, 30), "KAB-GOWA": (1, 1, 10), "KOTA-MAKASSAR": (1, 1, 90)}


def test_weeks_and_periods_follow_the_viewers_zone(db, org, history):
    board = _board(db, org)
    weeks = {w["week"]: w["incidents"] for w in board.weekly}
    # C started Sunday 18:00 UTC, which is Monday 01:00 WIB: it belongs to the week of MON.
    monday = MON.date()
    assert weeks == {
        monday - 21 * D: 0,
        monday - 14 * D: 0,
        monday - 7 * D: 1,
        monday: 2,
        monday + 7 * D: 0,
        monday + 14 * D: 0,
    }  # START is a Sunday, END a Monday
    assert board.counts["cancelled"] == 1  # D; E fell on the day before the period in WIB
    in_papua_time = _board(db, org, zone="Asia/Jayapura")
    assert in_papua_time.counts["cancelled"] == 2  # E: 23:00 WIB the day before is 01:00 WIT on START


def _last_summer_time_end(before):
    """The Sunday summer time last ended in Berlin (the last Sunday of October, 01:00 UTC) at least
    eight days before `before`."""
    year = before.year
    while True:
        last_of_october = datetime(year, 10, 31, 1, 0, tzinfo=UTC)
        change = last_of_october - (last_of_october.weekday() + 1) % 7 * D
        if change + 8 * D <= before:
            return change
        year -= 1


def test_weeks_follow_daylight_saving_time_in_the_viewers_zone(db, org):
    # Summer time ends in Berlin on a Sunday (03:00 CEST -> 02:00 CET): the Monday after starts at
    # 23:00 UTC, not 22:00 as the offset at the period's start would have it.
    change = _last_summer_time_end(NOW)
    sunday = change.date()
    berlin = ZoneInfo("Europe/Berlin")
    assert (change - M).astimezone(berlin).utcoffset() == 2 * H and change.astimezone(berlin).utcoffset() == H
    late_sunday = change + 21 * H + 30 * M  # 22:30 UTC
    _incident(db, org, "KOTA-SEMARANG", late_sunday, resolved=H)  # Sun 23:30 CET
    _incident(db, org, "KOTA-SEMARANG", late_sunday + H, resolved=H)  # Mon 00:30 CET
    _incident(db, org, "KOTA-SEMARANG", late_sunday - 7 * D, resolved=H)  # Mon 00:30 CEST
    db.session.commit()
    board = _board(db, org, start=(sunday - 6 * D).isoformat(), end=(sunday + 7 * D).isoformat(), zone="Europe/Berlin")
    assert {w["week"]: w["incidents"] for w in board.weekly} == {sunday - 6 * D: 2, sunday + D: 1}
    assert board.headline["ttr"].n == 3


def test_dashboard_is_scoped_by_role(db, org, history):
    assert _board(db, org, unit="KOTA-SEMARANG").counts == {"active": 0, "resolved": 1, "closed": 0, "cancelled": 0}
    assert _board(db, org, unit="JATENG").counts == {"active": 0, "resolved": 1, "closed": 0, "cancelled": 1}
    assert _board(db, org, unit="SULSEL").counts == {"active": 0, "resolved": 1, "closed": 0, "cancelled": 0}
    assert _board(db, org, unit="PAPUA", role="officer").counts["active"] == 1
    with pytest.raises(NotFound):
        _board(db, org, unit="KOTA-SEMARANG", unit_id=org["units"]["KAB-BANYUMAS"].id)
    jateng = _board(db, org, unit_id=org["units"]["JATENG"].id)
    assert [row["unit"].code for row in jateng.per_unit] == ["KOTA-SEMARANG"]
    assert [row["unit"].code for row in jateng.heatmap["rows"]] == ["KOTA-SEMARANG"]


def test_filters_name_each_bad_field(db, org, history):
    with pytest.raises(ValidationFailed) as caught:
        _board(db, org, start="2026-13-01", severity="7", playbook="nope")
    assert set(caught.value.errors) == {"from", "severity", "playbook"}
    assert _board(db, org, severity="3").counts == {"active": 0, "resolved": 0, "closed": 0, "cancelled": 0}
    assert _board(db, org, playbook="hoax-clarification").counts["resolved"] == 2


def test_kpi_targets_are_met_or_not_per_unit_subtree(db, org, history):
    u = org["users"]
    with pytest.raises(NotPermitted):
        reports.set_target(
            session=db.session,
            actor=u[("JATENG", "officer")],
            unit_id=org["units"]["JATENG"].id,
            measure="time_to_holding_statement",
            threshold_minutes=60,
            target_percent=90,
        )
    db.session.rollback()
    with pytest.raises(ValidationFailed) as caught:
        reports.set_target(
            session=db.session,
            actor=u[("JATENG", "head")],
            unit_id=org["units"]["JATENG"].id,
            measure="nope",
            threshold_minutes=0,
            target_percent=120,
            comparison="<",
        )
    assert set(caught.value.errors) == {"measure", "target_percent", "comparison"}
    db.session.rollback()
    with pytest.raises(NotFound):  # out of sight
        reports.set_target(
            session=db.session,
            actor=u[("JATENG", "head")],
            unit_id=org["units"]["PUSAT"].id,
            measure="stage_sla",
            target_percent=50,
        )
    db.session.rollback()
    for unit in ("JATENG", "PUSAT"):
        reports.set_target(
            session=db.session,
            actor=u[(unit, "head")],
            unit_id=org["units"][unit].id,
            measure="time_to_holding_statement",
            threshold_minutes=60,
            target_percent=90,
            now=NOW,
        )
    reports.set_target(
        session=db.session,
        actor=u[("PUSAT", "head")],
        unit_id=org["units"]["PUSAT"].id,
        measure="stage_sla",
        target_percent=40,
        now=NOW,
    )
    reports.set_target(
        session=db.session,
        actor=u[("PUSAT", "head")],
        unit_id=org["units"]["PUSAT"].id,
        measure="escalations_acknowledged",
        target_percent=60,
        now=NOW,
    )
    db.session.commit()
    kpis = {(k["unit"].code, k["target"].measure): (k["judged"], k["hits"], k["met"]) for k in _board(db, org).kpis}
    assert kpis == {
        ("JATENG", "time_to_holding_statement"): (1, 1, True),  # A within 60 m; D cancelled
        ("PUSAT", "time_to_holding_statement"): (3, 2, False),  # B resolved without one: a miss
        ("PUSAT", "stage_sla"): (5, 2, True),  # exactly 40 %
        ("PUSAT", "escalations_acknowledged"): (2, 1, False),
    }
    # Time to detect is judged only where an incident came from a logged issue: none of these did.
    reports.set_target(
        session=db.session,
        actor=u[("PUSAT", "head")],
        unit_id=org["units"]["PUSAT"].id,
        measure="time_to_detect",
        threshold_minutes=30,
        target_percent=80,
        now=NOW,
    )
    db.session.commit()
    detect = next(k for k in _board(db, org).kpis if k["target"].measure == "time_to_detect")
    assert (detect["judged"], detect["hits"], detect["met"]) == (0, 0, None)
    seen_by_jateng = {(k["unit"].code, k["target"].measure) for k in _board(db, org, unit="JATENG").kpis}
    assert seen_by_jateng == {("JATENG", "time_to_holding_statement")}


def test_every_table_exports_as_csv(db, org, history):
    board = _board(db, org)
    tables = reports.tables(board)
    assert set(tables) >= {"headline", "stages", "heatmap", "per_unit", "weekly", "key_message_lag", "kpi"}
    text = reports.to_csv(*tables["headline"])
    assert text.splitlines()[0] == "measure,incidents_measured,median_seconds,p90_seconds"
    assert "tta,3,1800,4680" in text
    assert reports.to_csv(["a"], [["=HYPERLINK(1)"]]).splitlines()[1] == "'=HYPERLINK(1)"
