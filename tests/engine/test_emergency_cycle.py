"""Cycles that last while the emergency status is in force (tests/playbooks/fixtures/emergency-cycle.yaml,
`cycle: {every: 6h, until: emergency_ends}`), with the injected clock: windows keep coming while a
status (siaga, tanggap or transisi darurat) is in force, stop when it is ended (the pending deadline
cancelled, the window then running ended), and start again when a status is declared again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis.errors import NotPermitted, ValidationFailed
from crisis.escalation.models import Timer
from crisis.incidents import cycles, emergency
from crisis.incidents import service as incidents
from crisis.playbooks import service as playbooks
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import close_required, escalate, log_issue

NOW = FIXED_NOW
H = timedelta(hours=1)
M = timedelta(minutes=1)
FIXTURE = Path(__file__).resolve().parents[1] / "playbooks" / "fixtures" / "emergency-cycle.yaml"


@pytest.fixture
def disaster(db, org):
    """A flood in Kota Semarang at severity 3: its assessment done at NOW + 30 minutes, the update
    cycle running from then."""
    playbooks.publish(session=db.session, actor=None, text=FIXTURE.read_text(), filename=FIXTURE.name)
    db.session.flush()
    issue = log_issue(db.session, org, now=NOW, category="disaster", title="Banjir di Semarang Utara")
    incident = escalate(db.session, org, issue, now=NOW, playbook="emergency-cycle", severity=3)
    head = org["users"][("KOTA-SEMARANG", "head")]
    assess = incident.stage_runs[0]
    close_required(db.session, head, assess, now=NOW + 10 * M)
    incidents.complete_stage(session=db.session, actor=head, stage_run_id=assess.id, now=NOW + 30 * M)
    db.session.commit()
    return org, incident, head


def _set(db, incident, head, status, at, declared_at=None):
    emergency.set_status(
        session=db.session, actor=head, incident_id=incident.id, status=status, declared_at=declared_at, now=at
    )
    db.session.commit()


def _pending_windows(db, run):
    return sorted(
        (t.repeat_index, t.fire_at)
        for t in db.session.scalars(
            select(Timer).where(Timer.stage_run_id == run.id, Timer.kind == "stage_due", Timer.state == "pending")
        )
    )


def _outcomes(db, run, now):
    return [w.outcome(now) for w in cycles.cycles(session=db.session, run=run)]


def test_cycles_stop_when_the_emergency_status_ends_and_start_again_when_one_is_declared(db, disaster, smtp):
    org, incident, head = disaster
    updates = incident.stage_runs[1]
    start = NOW + 30 * M
    _set(db, incident, head, "response", NOW + H, declared_at=NOW + 40 * M)  # tanggap darurat
    assert incident.emergency_status == "response" and incident.emergency_since == NOW + 40 * M
    # No update in window 0: it is missed and window 1 begins, as any cycle.
    tick(db.session, start + 6 * H)
    assert _pending_windows(db, updates) == [(1, start + 12 * H)]
    # Transition to recovery is still a status in force: the cycles go on.
    _set(db, incident, head, "transition", start + 7 * H)
    assert _pending_windows(db, updates) == [(1, start + 12 * H)]
    # The status is ended: window 1's deadline is cancelled, the window is ended, none follows.
    _set(db, incident, head, "none", start + 8 * H)
    assert _pending_windows(db, updates) == [] and updates.due_at is None
    assert _outcomes(db, updates, start + 8 * H) == ["missed", "ended"]
    cancelled = db.session.scalar(
        select(Timer).where(Timer.stage_run_id == updates.id, Timer.kind == "stage_due", Timer.repeat_index == 1)
    )
    assert cancelled.state == "cancelled" and cancelled.cancel_reason == "emergency_ended"
    tick(db.session, start + 30 * H)  # a day on (the situation-update reminder still runs): no window opens
    assert _pending_windows(db, updates) == [] and len(cycles.cycles(session=db.session, run=updates)) == 2
    assert updates.state == "active" and not updates.breached  # the team completes the stage
    # A new status (the river rises again): a window starts at the time it is recorded.
    _set(db, incident, head, "alert", start + 40 * H)
    assert _pending_windows(db, updates) == [(2, start + 46 * H)] and updates.due_at == start + 46 * H


def test_each_change_is_on_the_timeline_with_the_time_it_was_declared(db, disaster):
    org, incident, head = disaster
    _set(db, incident, head, "alert", NOW + H, declared_at=NOW + 45 * M)
    _set(db, incident, head, "none", NOW + 3 * H)
    events = db.session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.subject_id == incident.id, TimelineEvent.kind == "incident.emergency_status")
        .order_by(TimelineEvent.id)
    ).all()
    assert [(e.data["before"], e.data["after"], e.data["declared_at"]) for e in events] == [
        ("none", "alert", (NOW + 45 * M).isoformat()),
        ("alert", "none", (NOW + 3 * H).isoformat()),
    ]


def test_a_declared_time_is_checked_against_the_incidents_own_timeline(db, disaster):
    org, incident, head = disaster
    issue_seen = incident.issue.first_seen_at
    with pytest.raises(ValidationFailed) as refused:
        _set(db, incident, head, "response", NOW + H, declared_at=issue_seen - M)
    assert set(refused.value.errors) == {"declared_at"}
    db.session.rollback()
    with pytest.raises(ValidationFailed) as refused:
        _set(db, incident, head, "response", NOW + H, declared_at=NOW + 2 * H)  # in the future
    assert set(refused.value.errors) == {"declared_at"}
    db.session.rollback()
    _set(db, incident, head, "response", NOW + H, declared_at=issue_seen)  # the decree came with the flood
    with pytest.raises(ValidationFailed) as refused:  # cannot end before it began
        _set(db, incident, head, "none", NOW + 2 * H, declared_at=issue_seen - M)
    assert set(refused.value.errors) == {"declared_at"}
    db.session.rollback()
    with pytest.raises(ValidationFailed) as refused:
        _set(db, incident, head, "response", NOW + 2 * H)
    assert set(refused.value.errors) == {"status"}
    db.session.rollback()
    with pytest.raises(NotPermitted):  # an officer does not declare it
        _set(db, incident, org["users"][("KOTA-SEMARANG", "officer")], "none", NOW + 2 * H)


def test_a_cycle_stage_started_after_the_status_ended_opens_no_window(db, org):
    playbooks.publish(session=db.session, actor=None, text=FIXTURE.read_text(), filename=FIXTURE.name)
    issue = log_issue(db.session, org, now=NOW, category="disaster")
    incident = escalate(db.session, org, issue, now=NOW, playbook="emergency-cycle", severity=4)
    head = org["users"][("KOTA-SEMARANG", "head")]
    _set(db, incident, head, "alert", NOW + 5 * M)
    _set(db, incident, head, "none", NOW + 10 * M)
    assess = incident.stage_runs[0]
    close_required(db.session, head, assess, now=NOW + 15 * M)
    incidents.complete_stage(session=db.session, actor=head, stage_run_id=assess.id, now=NOW + 20 * M)
    db.session.commit()
    updates = incident.stage_runs[1]
    assert updates.state == "active" and _pending_windows(db, updates) == []
    assert cycles.cycles(session=db.session, run=updates) == [] and updates.due_at is None


def test_a_stage_repeating_until_complete_ignores_the_emergency_status(db, org):
    fixture = FIXTURE.parent / "update-cycle.yaml"
    playbooks.publish(session=db.session, actor=None, text=fixture.read_text(), filename=fixture.name)
    issue = log_issue(db.session, org, now=NOW, category="disaster")
    incident = escalate(db.session, org, issue, now=NOW, playbook="update-cycle", severity=3)
    head = org["users"][("KOTA-SEMARANG", "head")]
    assess = incident.stage_runs[0]
    close_required(db.session, head, assess, now=NOW + 10 * M)
    incidents.complete_stage(session=db.session, actor=head, stage_run_id=assess.id, now=NOW + 30 * M)
    db.session.commit()
    _set(db, incident, head, "response", NOW + H)
    _set(db, incident, head, "none", NOW + 2 * H)
    assert _pending_windows(db, incident.stage_runs[1]) == [(0, NOW + 30 * M + 6 * H)]


# --- the page and the API -------------------------------------------------------------------------------


def test_the_incident_page_records_and_shows_the_emergency_status(db, disaster, login_as, app):
    from tests.conftest import form_post

    org, incident, head = disaster
    client = login_as("head", "KOTA-SEMARANG")
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Status darurat" in page and "Tanpa status darurat" in page
    response = form_post(
        client,
        f"/incidents/{incident.id}/emergency",
        {"status": "response", "version": incident.version},
        page=f"/incidents/{incident.id}",
    )
    assert response.status_code == 302
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Tanggap darurat · sejak" in page and "Status darurat: Tanggap darurat" in page


def test_the_api_declares_and_ends_the_status(db, disaster, client, token_for):
    org, incident, head = disaster
    headers = token_for("head", "KOTA-SEMARANG")
    declared = (NOW - 5 * M).isoformat()
    response = client.post(
        f"/api/v1/incidents/{incident.id}/emergency-status",
        json={"status": "alert", "declared_at": declared},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["emergency_status"] == "alert" and body["emergency_since"].startswith(declared[:16])
    wrong = client.post(
        f"/api/v1/incidents/{incident.id}/emergency-status", json={"status": "lockdown"}, headers=headers
    )
    assert wrong.status_code == 422 and "status" in str(wrong.get_json())
