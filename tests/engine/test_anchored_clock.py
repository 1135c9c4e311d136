"""A target measured from a recorded time (tests/playbooks/fixtures/anchored-clock.yaml): the UU PDP
3 x 24 hours run from when the leak was known, entered in a checklist item, and the engine re-plans
when that time is entered or corrected; the first stage runs from the issue's first-seen time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis.errors import ValidationFailed
from crisis.escalation.models import Timer
from crisis.incidents import service as incidents
from crisis.playbooks import service as playbooks
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.factories import SEEN_BEFORE, escalate, log_issue

NOW = FIXED_NOW
H = timedelta(hours=1)
FIXTURE = Path(__file__).resolve().parents[1] / "playbooks" / "fixtures" / "anchored-clock.yaml"


@pytest.fixture
def leak(db, org):
    playbooks.publish(session=db.session, actor=None, text=FIXTURE.read_text(), filename=FIXTURE.name)
    db.session.flush()
    issue = log_issue(db.session, org, now=NOW)
    incident = escalate(db.session, org, issue, now=NOW, playbook="anchored-clock", severity=3)
    db.session.commit()
    return org, incident


def _due_timers(db, incident, state="pending"):
    return [
        t.fire_at
        for t in db.session.scalars(
            select(Timer)
            .where(Timer.incident_id == incident.id, Timer.kind == "stage_due", Timer.state == state)
            .order_by(Timer.id)
        )
    ]


def _head(org):
    return org["users"][("KOTA-SEMARANG", "head")]


def _next_stage(db, org, incident, at):
    triage = incident.stage_runs[0]
    incidents.complete_stage(session=db.session, actor=_head(org), stage_run_id=triage.id, now=at)
    db.session.commit()


def test_the_first_stage_counts_from_when_the_issue_was_first_seen(db, leak):
    _, incident = leak
    assert incident.stage_runs[0].due_at == NOW - SEEN_BEFORE + 6 * H
    assert _due_timers(db, incident) == [NOW - SEEN_BEFORE + 6 * H]


def test_the_72_hour_notice_runs_from_the_known_time_and_is_replanned_when_corrected(db, leak):
    org, incident = leak
    entry = incident.stage_runs[0].entries[0]
    incidents.record_time(session=db.session, actor=_head(org), entry_id=entry.id, at=NOW - 10 * H, now=NOW + H)
    db.session.commit()
    _next_stage(db, org, incident, NOW + 2 * H)
    notice = incident.stage_runs[1]
    assert notice.due_at == NOW + 62 * H  # 72 h from the known time, not from the stage's start
    assert _due_timers(db, incident) == [NOW + 62 * H]
    # The team learns it was known ten hours earlier still: the deadline moves, the old timer goes.
    incidents.record_time(session=db.session, actor=_head(org), entry_id=entry.id, at=NOW - 20 * H, now=NOW + 3 * H)
    db.session.commit()
    assert notice.due_at == NOW + 52 * H and notice.target_seconds == 72 * 3600
    assert _due_timers(db, incident) == [NOW + 52 * H]
    assert NOW + 62 * H in _due_timers(db, incident, "cancelled")
    events = db.session.scalars(
        select(TimelineEvent).where(
            TimelineEvent.subject_type == "incident",
            TimelineEvent.subject_id == incident.id,
            TimelineEvent.kind == "checklist.time_recorded",
        )
    ).all()
    assert [bool(e.data.get("before")) for e in events] == [False, True]


def test_a_known_time_entered_while_the_stage_runs_replans_it(db, leak):
    org, incident = leak
    entry = incident.stage_runs[0].entries[0]
    incidents.tick(session=db.session, actor=_head(org), entry_id=entry.id, now=NOW + H)  # ticked, no time yet
    _next_stage(db, org, incident, NOW + 2 * H)
    notice = incident.stage_runs[1]
    assert notice.due_at == NOW + 2 * H + 72 * H  # until the time is entered: from the stage's start
    incidents.record_time(session=db.session, actor=_head(org), entry_id=entry.id, at=NOW - H, now=NOW + 5 * H)
    db.session.commit()
    assert notice.due_at == NOW + 71 * H and _due_timers(db, incident) == [NOW + 71 * H]


def test_a_recorded_time_in_the_future_is_refused_and_changes_nothing(db, leak):
    org, incident = leak
    entry = incident.stage_runs[0].entries[0]
    with pytest.raises(ValidationFailed) as refused:
        incidents.record_time(session=db.session, actor=_head(org), entry_id=entry.id, at=NOW + 2 * H, now=NOW + H)
    assert "recorded_at" in refused.value.errors
    assert entry.recorded_at is None and entry.done_at is None


def test_the_known_time_is_entered_over_the_api_and_a_time_without_zone_is_refused(app, db, leak, token_for):
    org, incident = leak
    entry = incident.stage_runs[0].entries[0]
    client = app.test_client()
    headers = token_for("head", "KOTA-SEMARANG")
    naive = client.post(
        f"/api/v1/checklist/{entry.id}/recorded-time", json={"recorded_at": "2026-01-01T10:00:00"}, headers=headers
    )
    assert naive.status_code == 422 and "recorded_at" in naive.get_json()["errors"]
    known = (NOW - 3 * H).isoformat()
    answer = client.post(f"/api/v1/checklist/{entry.id}/recorded-time", json={"recorded_at": known}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["recorded_at"] is not None and answer.get_json()["done_at"] is not None
