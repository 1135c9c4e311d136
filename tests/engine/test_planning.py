"""Timers are written, cancelled and re-planned in the same transaction as the stage change."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crisis.escalation import planning
from crisis.escalation.models import Timer
from tests.conftest import FIXED_NOW
from tests.factories import change_severity, complete_stage, open_incident, resolve

NOW = FIXED_NOW
M = timedelta(minutes=1)


def _open(db):
    return sorted(
        (t.kind, t.step_index, t.repeat_index, t.fire_at)
        for t in db.session.scalars(select(Timer).where(Timer.state == "pending"))
    )


def test_starting_a_stage_writes_its_due_timer_and_one_timer_per_escalation_step(db, org):
    incident = open_incident(db.session, org, now=NOW, severity=3)
    db.session.commit()
    # severity 3: the supervisor and the own head at 5 minutes, the head again at 20; due at 30
    assert _open(db) == [
        ("escalation_step", 0, 0, NOW + 5 * M),
        ("escalation_step", 1, 0, NOW + 20 * M),
        ("stage_due", None, 0, NOW + 30 * M),
        ("update_due", None, 0, NOW + timedelta(hours=12)),
    ]
    assert all(
        t.stage_run_id == incident.stage_runs[0].id
        for t in db.session.scalars(select(Timer).where(Timer.kind != "update_due"))
    )


def test_planning_a_stage_twice_does_not_double_its_timers(db, org):
    incident = open_incident(db.session, org, now=NOW)
    planning.plan_stage(session=db.session, stage_run=incident.stage_runs[0], now=NOW)
    db.session.commit()
    assert len(_open(db)) == 4


def test_completing_a_stage_cancels_its_timers_and_plans_the_next_stage(db, org):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    later = NOW + 10 * M
    complete_stage(db.session, incident.stage_runs[0], now=later)
    db.session.commit()
    cancelled = db.session.scalars(select(Timer).where(Timer.state == "cancelled")).all()
    assert {t.cancel_reason for t in cancelled} == {"stage_completed"} and len(cancelled) == 3
    # activate, severity 2: target 1h, one step after 30m; a situation update every 24h
    assert _open(db) == [
        ("escalation_step", 0, 0, later + 30 * M),
        ("stage_due", None, 0, later + 60 * M),
        ("update_due", None, 0, NOW + timedelta(hours=24)),
    ]


def test_a_rolled_back_stage_change_leaves_the_timers_as_they_were(db, org):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    complete_stage(db.session, incident.stage_runs[0], now=NOW + M)
    db.session.rollback()
    assert len(_open(db)) == 4


def test_raising_severity_moves_the_stage_deadline_from_the_stage_start(db, org):
    incident = open_incident(db.session, org, now=NOW, severity=3)
    db.session.commit()
    change_severity(db.session, incident, 4, now=NOW + 5 * M)
    db.session.commit()
    # severity 4: verify target 15m, update every 6h; the steps move to severity 4's offsets from
    # the stage start (5 and 10 minutes)
    assert _open(db) == [
        ("escalation_step", 0, 0, NOW + 5 * M),
        ("escalation_step", 1, 0, NOW + 10 * M),
        ("stage_due", None, 0, NOW + 15 * M),
        ("update_due", None, 0, NOW + timedelta(hours=6)),
    ]
    assert incident.stage_runs[0].due_at == NOW + 15 * M


def test_resolving_cancels_every_timer_and_plans_the_review_reminder(db, org):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    resolve(db.session, incident, now=NOW + timedelta(hours=2))
    db.session.commit()
    assert _open(db) == [("review_due", None, 0, NOW + timedelta(hours=2) + timedelta(days=7))]


def test_cancelling_a_false_alarm_leaves_nothing_to_fire(db, org):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    resolve(db.session, incident, now=NOW + M, state="cancelled")
    db.session.commit()
    assert _open(db) == []


def test_publishing_an_update_moves_the_update_reminder(db, org):
    incident = open_incident(db.session, org, now=NOW, severity=3)
    db.session.commit()
    incident.last_update_at = NOW + timedelta(hours=3)
    planning.plan_updates(session=db.session, incident=incident, now=NOW + timedelta(hours=3))
    db.session.commit()
    assert [t for t in _open(db) if t[0] == "update_due"] == [("update_due", None, 0, NOW + timedelta(hours=15))]
