"""The engine on a severity-aware SOP (tests/playbooks/fixtures/severity-gates.yaml), with the
injected clock: escalation waits and repeats per severity, steps and selectors gated by severity,
stages skipped and items not required at severity 1, and what a severity change re-plans."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis.escalation.models import Timer
from crisis.escalation.recipients import selectors_for
from crisis.incidents import service as incidents
from crisis.playbooks import service as playbooks
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.factories import close_required, escalate, log_issue

NOW = FIXED_NOW
M = timedelta(minutes=1)
FIXTURE = Path(__file__).resolve().parents[1] / "playbooks" / "fixtures" / "severity-gates.yaml"


@pytest.fixture
def gates(db, org):
    playbooks.publish(session=db.session, actor=None, text=FIXTURE.read_text(), filename=FIXTURE.name)
    db.session.flush()
    return org


def _incident(db, org, severity):
    issue = log_issue(db.session, org, now=NOW - 5 * M)
    incident = escalate(db.session, org, issue, now=NOW, playbook="severity-gates", severity=severity)
    db.session.commit()
    return incident


def _steps(db, incident, state="pending"):
    return sorted(
        (t.step_index, t.repeat_index, t.fire_at)
        for t in db.session.scalars(
            select(Timer).where(Timer.incident_id == incident.id, Timer.kind == "escalation_step", Timer.state == state)
        )
    )


def _severity(db, org, incident, severity, at):
    incidents.change_severity(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "head")],
        incident_id=incident.id,
        severity=severity,
        reason="Eskalasi media nasional",
        now=at,
    )
    db.session.commit()


def test_at_severity_4_the_head_is_told_sooner_than_at_severity_2(db, gates):
    severe = _incident(db, gates, 4)
    assert _steps(db, severe) == [(0, 0, NOW + 15 * M), (1, 0, NOW + 120 * M)]
    moderate = _incident(db, gates, 2)
    # At severity 2 the first step waits 45 minutes; the province step is gated to 3 and 4.
    assert _steps(db, moderate) == [(0, 0, NOW + 45 * M)]


def test_a_repeat_waits_its_per_severity_interval(db, gates):
    from crisis.escalation.planning import plan_next

    incident = _incident(db, gates, 4)
    run = incident.stage_runs[0]
    first = db.session.scalars(
        select(Timer).where(Timer.incident_id == incident.id, Timer.kind == "escalation_step", Timer.step_index == 0)
    ).one()
    following = plan_next(db.session, first, incident, run)
    assert following.fire_at == NOW + 15 * M + 10 * M  # severity 4: every 10m (default 30m)


def test_raising_the_severity_replans_waits_and_plans_steps_that_now_apply(db, gates):
    incident = _incident(db, gates, 2)
    _severity(db, gates, incident, 4, NOW + 5 * M)
    assert _steps(db, incident) == [(0, 0, NOW + 15 * M), (1, 0, NOW + 120 * M)]


def test_lowering_the_severity_cancels_a_step_gated_away_from_it(db, gates):
    incident = _incident(db, gates, 4)
    _severity(db, gates, incident, 2, NOW + 5 * M)
    assert _steps(db, incident) == [(0, 0, NOW + 45 * M)]
    cancelled = db.session.scalars(
        select(Timer).where(Timer.incident_id == incident.id, Timer.step_index == 1, Timer.state == "cancelled")
    ).all()
    assert [t.cancel_reason for t in cancelled] == ["not_at_severity"]
    # Back to 4: the step is planned again from the stage's start.
    _severity(db, gates, incident, 4, NOW + 6 * M)
    assert _steps(db, incident) == [(0, 0, NOW + 15 * M), (1, 0, NOW + 120 * M)]


def test_a_selector_gated_to_severity_3_and_4_is_not_told_at_severity_1(db, gates):
    incident = _incident(db, gates, 1)
    run = incident.stage_runs[0]
    timer = db.session.scalars(
        select(Timer).where(Timer.incident_id == incident.id, Timer.kind == "escalation_step")
    ).one()
    assert [str(s) for s in selectors_for(timer, run)] == ["supervisor@own"]
    _severity(db, gates, incident, 3, NOW + M)
    assert [str(s) for s in selectors_for(timer, run)] == ["supervisor@own", "head@own"]


def test_at_severity_1_the_public_statement_stage_is_skipped_and_the_head_briefing_not_required(db, gates):
    incident = _incident(db, gates, 1)
    verify, statement, monitor = incident.stage_runs
    assert (verify.state, statement.state, monitor.state) == ("active", "skipped", "pending")
    assert [(e.item_key, e.required) for e in verify.entries] == [("check-facts", True), ("brief-head", False)]
    officer = gates["users"][("KOTA-SEMARANG", "officer")]
    close_required(db.session, officer, verify, now=NOW + 10 * M)
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=verify.id, now=NOW + 10 * M)
    db.session.commit()
    # The monitoring stage follows the verification; the statement is never started nor measured.
    assert (statement.state, statement.started_at, monitor.state) == ("skipped", None, "active")
    close_required(db.session, officer, monitor, now=NOW + 20 * M)
    incidents.resolve(
        session=db.session, actor=gates["users"][("KOTA-SEMARANG", "head")], incident_id=incident.id, now=NOW + 30 * M
    )
    db.session.commit()
    assert incident.state == "resolved" and statement.state == "skipped"
    # The review measures the two stages that ran: the skipped statement is neither on time nor late.
    from crisis.reviews import measures

    measured = measures.measure(session=db.session, incident=incident)
    assert [stage.key for stage in measured.stages] == ["verify", "monitor"]
    assert measures.rates(session=db.session, incident=incident, now=NOW + 31 * M)["stage_sla"].judged == 2


def test_a_severity_raised_mid_incident_brings_back_a_stage_to_come_and_requires_the_gated_item(db, gates):
    incident = _incident(db, gates, 1)
    verify, statement, _ = incident.stage_runs
    _severity(db, gates, incident, 3, NOW + 5 * M)
    assert statement.state == "pending"
    assert [(e.item_key, e.required) for e in verify.entries] == [("check-facts", True), ("brief-head", True)]
    kinds = [
        e.kind
        for e in db.session.scalars(
            select(TimelineEvent).where(
                TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == incident.id
            )
        )
    ]
    assert "stage.restored" in kinds
    # Lowered again while the statement stage runs: it keeps running, only stages to come change.
    officer = gates["users"][("KOTA-SEMARANG", "officer")]
    close_required(db.session, officer, verify, now=NOW + 10 * M)
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=verify.id, now=NOW + 10 * M)
    db.session.commit()
    _severity(db, gates, incident, 1, NOW + 15 * M)
    assert statement.state == "active"
