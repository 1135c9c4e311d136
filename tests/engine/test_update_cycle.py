"""A repeating stage (tests/playbooks/fixtures/update-cycle.yaml) measured per cycle with the
injected clock: a situation update inside a window makes it on time, a window without one is missed
(its deadline fires and the next window starts), completing the stage ends the window it is in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis import hooks
from crisis.escalation.models import Timer
from crisis.incidents import cycles
from crisis.incidents import service as incidents
from crisis.playbooks import service as playbooks
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import close_required, escalate, log_issue

NOW = FIXED_NOW
H = timedelta(hours=1)
M = timedelta(minutes=1)
FIXTURE = Path(__file__).resolve().parents[1] / "playbooks" / "fixtures" / "update-cycle.yaml"


@pytest.fixture
def disaster(db, org):
    playbooks.publish(session=db.session, actor=None, text=FIXTURE.read_text(), filename=FIXTURE.name)
    db.session.flush()
    issue = log_issue(db.session, org, now=NOW)
    incident = escalate(db.session, org, issue, now=NOW, playbook="update-cycle", severity=3)
    head = org["users"][("KOTA-SEMARANG", "head")]
    assess = incident.stage_runs[0]
    close_required(db.session, head, assess, now=NOW + 10 * M)
    incidents.complete_stage(session=db.session, actor=head, stage_run_id=assess.id, now=NOW + 30 * M)
    db.session.commit()
    return org, incident


def _update(db, incident, at):
    # What publishing a situation update runs (crisis.incidents.statements), in its transaction.
    hooks.run(hooks.UPDATE_PUBLISHED, session=db.session, incident=incident, now=at)
    incident.last_update_at = at
    db.session.commit()


def _outcomes(db, run, now, ended_at=None):
    return [w.outcome(now, ended_at) for w in cycles.cycles(session=db.session, run=run)]


def _pending_windows(db, run):
    return sorted(
        (t.repeat_index, t.fire_at)
        for t in db.session.scalars(
            select(Timer).where(Timer.stage_run_id == run.id, Timer.kind == "stage_due", Timer.state == "pending")
        )
    )


def test_each_six_hour_window_is_measured_on_its_own(db, disaster, smtp):
    org, incident = disaster
    updates = incident.stage_runs[1]
    start = NOW + 30 * M
    assert _pending_windows(db, updates) == [(0, start + 6 * H)] and updates.due_at == start + 6 * H
    _update(db, incident, NOW + 2 * H)  # inside window 0: on time, window 1 planned
    assert _pending_windows(db, updates) == [(1, start + 12 * H)]
    assert _outcomes(db, updates, NOW + 2 * H) == ["on_time", "open"]
    # No update in window 1: its deadline fires (the commander hears) and window 2 begins.
    delivered = tick(db.session, start + 12 * H)
    assert delivered
    assert _pending_windows(db, updates) == [(2, start + 18 * H)]
    assert _outcomes(db, updates, start + 12 * H) == ["on_time", "missed", "open"]
    _update(db, incident, start + 13 * H)
    assert _outcomes(db, updates, start + 13 * H) == ["on_time", "missed", "on_time", "open"]
    # The emergency status is lifted: completing the stage ends window 3, neither on time nor late.
    head = org["users"][("KOTA-SEMARANG", "head")]
    close_required(db.session, head, updates, now=start + 19 * H)
    incidents.complete_stage(session=db.session, actor=head, stage_run_id=updates.id, now=start + 20 * H)
    db.session.commit()
    assert _outcomes(db, updates, start + 20 * H, ended_at=updates.completed_at) == [
        "on_time",
        "missed",
        "on_time",
        "ended",
    ]
    assert not updates.breached and _pending_windows(db, updates) == []


def test_at_severity_4_the_next_window_is_three_hours(db, disaster):
    org, incident = disaster
    updates = incident.stage_runs[1]
    start = NOW + 30 * M
    incidents.change_severity(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "head")],
        incident_id=incident.id,
        severity=4,
        reason="Status tanggap darurat provinsi",
        now=NOW + H,
    )
    db.session.commit()
    # The window running keeps its length; the next one follows the new severity.
    assert _pending_windows(db, updates) == [(0, start + 6 * H)]
    _update(db, incident, NOW + 2 * H)
    assert _pending_windows(db, updates) == [(1, start + 9 * H)]
