"""The dashboard reads precomputed measures: what changes after one read shows in the next, a due
date passing counts without any event, and the sweep is idempotent, cheap when nothing changed,
and safe with two schedulers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crisis.reports import service as reports
from crisis.reports import tasks as report_tasks
from crisis.reports.models import IncidentMeasure, KeyMessageLag
from crisis.reviews import service as reviews
from crisis.reviews.models import ActionItem
from tests.helpers import race
from tests.test_evaluation import END, MON, NOW, START, _board, _incident, history  # noqa: F401  the hand-built period


def _rows(db):
    measures = db.session.execute(select(IncidentMeasure).order_by(IncidentMeasure.incident_id)).scalars()
    lags = db.session.execute(select(KeyMessageLag).order_by(KeyMessageLag.statement_id, KeyMessageLag.unit_id))
    return (
        [{c.name: getattr(m, c.name) for c in IncidentMeasure.__table__.columns} for m in measures],
        [{c.name: getattr(o, c.name) for c in KeyMessageLag.__table__.columns} for o in lags.scalars()],
    )


def test_an_action_item_closed_after_one_read_shows_in_the_next(db, org, history):  # noqa: F811
    board = _board(db, org)
    assert (board.action_items.judged, board.action_items.hits) == (2, 1)
    db.session.commit()
    item = db.session.query(ActionItem).filter_by(status="open").one()  # due 30 days after the others, after NOW
    reviews.set_action_status(session=db.session, actor=item.owner, item_id=item.id, status="done", now=NOW)
    db.session.commit()
    board = _board(db, org)
    assert (board.action_items.judged, board.action_items.hits) == (3, 2)


def test_an_incident_recorded_after_one_read_shows_in_the_next(db, org, history):  # noqa: F811
    assert _board(db, org).counts["active"] == 1
    db.session.commit()
    _incident(db, org, "KOTA-SEMARANG", MON + timedelta(days=8), state="active")  # before NOW
    db.session.commit()
    assert _board(db, org).counts["active"] == 2


def test_a_due_date_passing_counts_without_any_event(db, org, history):  # noqa: F811
    assert (_board(db, org).action_items.judged, _board(db, org).action_items.hits) == (2, 1)
    db.session.commit()
    after_due = _board(db, org, now=MON + timedelta(days=35))  # the open item is overdue
    assert (after_due.action_items.judged, after_due.action_items.hits) == (3, 1)
    back = _board(db, org)  # an earlier moment again: the rows follow `now` both ways
    assert (back.action_items.judged, back.action_items.hits) == (2, 1)


def test_refreshing_twice_changes_nothing(db, org, history):  # noqa: F811
    assert reports.refresh_measures(session=db.session, now=NOW) == 5  # A to E, cancelled ones too
    db.session.commit()
    before = _rows(db)
    assert len(before[0]) == 5 and len(before[1]) == 3  # A shares with 2 units, B with 1
    assert reports.dirty_incidents(session=db.session, now=NOW) == []
    assert reports.refresh_measures(session=db.session, now=NOW + timedelta(minutes=1)) == 0
    db.session.commit()
    assert _rows(db) == before


def test_two_schedulers_refresh_each_incident_once_and_agree(app, db, org, history):  # noqa: F811
    refreshed = race(app, lambda session: report_tasks.refresh_measures(session, now=NOW))
    assert len(refreshed) == 2 and max(refreshed) == 5
    assert db.session.query(IncidentMeasure).count() == 5 and db.session.query(KeyMessageLag).count() == 3
    assert reports.refresh_measures(session=db.session, now=NOW) == 0
    board = _board(db, org)
    assert (board.stage_overall.judged, board.stage_overall.hits) == (5, 2)


def test_the_stage_bits_are_read_as_wide_as_the_longest_incident(db, org, history):  # noqa: F811
    """Stages are read one bit per position; a width too narrow for a row's stages reads them all anyway."""
    from crisis.reports import heatmap, scope

    user = org["users"][("PUSAT", "head")]
    f = reports.filters_for(session=db.session, user=user, start=START, end=END, now=NOW)
    reports.build_dashboard(session=db.session, filters=f)
    _units, rollup = scope.unit_rollup(db.session, f)
    wide = heatmap.stage_groups(db.session, f, rollup, 6)
    assert heatmap.stage_groups(db.session, f, rollup, 1) == wide
    counts, groups = wide
    assert counts == {"active": 1, "resolved": 2, "closed": 0, "cancelled": 1}
    assert {playbook for _row, playbook, *_rest in groups} == {"hoax-clarification"}
    assert sorted((keys, judged, met, breached) for _row, _playbook, keys, judged, met, breached in groups) == [
        (["identify", "verify-with-institution"], [1, 0], [1, 0], [0, 0]),  # C: active; verify still open
        (["identify", "verify-with-institution"], [1, 1], [0, 0], [1, 0]),  # B: 30 m late; verify never reached
        (["identify", "verify-with-institution"], [1, 1], [1, 0], [0, 1]),  # A: on time; verify 30 m late
    ]
