"""The duty officer's day: escalate, run the playbook, speak with one voice, resolve."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.incidents.models import ChecklistEntry, Incident
from crisis.playbooks import service as playbooks
from crisis.timeline.models import TimelineEvent
from tests import factories
from tests.conftest import FIXED_NOW
from tests.factories import close_required

T0 = FIXED_NOW


def _close_required(db, actor, run, now):
    close_required(db.session, actor, run, now=now)
    db.session.commit()


def test_escalating_opens_an_incident_with_a_snapshot_and_starts_the_first_stage(db, org, incident):
    version = playbooks.get_version(session=db.session, key="hoax-clarification")
    assert incident.playbook_snapshot == version.canonical
    assert incident.issue.state == "escalated"
    assert [run.stage_key for run in incident.stage_runs] == [s.key for s in version.spec.stages]
    first = incident.stage_runs[0]
    target = version.spec.stages[0].target_for(3)
    assert first.state == "active" and first.started_at == T0 and first.due_at == T0 + target
    assert all(run.state == "pending" for run in incident.stage_runs[1:])
    assert sum(len(run.entries) for run in incident.stage_runs) == sum(len(s.checklist) for s in version.spec.stages)
    kinds = [e.kind for e in db.session.query(TimelineEvent).filter_by(subject_type="incident", subject_id=incident.id)]
    assert kinds[:2] == ["incident.opened", "stage.started"]


def test_editing_the_playbook_never_changes_a_live_response(db, org, incident):
    from crisis.config import resource_dir

    text = (resource_dir("sops") / "hoax-clarification.yaml").read_text()
    first_target = next(line for line in text.splitlines() if line.strip().startswith("target:"))
    changed = text.replace(first_target, first_target.split("target:")[0] + "target: 1m", 1)
    assert playbooks.publish(session=db.session, actor=None, text=changed).created
    db.session.commit()
    db.session.expire_all()
    live = db.session.get(Incident, incident.id)
    assert live.playbook_version.number == 1
    assert live.stage_runs[0].spec.target_for(3) != timedelta(minutes=1)


def test_escalation_refusals_name_the_field(db, org, log_issue):
    issue = log_issue()
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    head = org["users"][("KOTA-SEMARANG", "head")]
    with pytest.raises(ValidationFailed) as caught:
        incidents.open_from_issue(
            session=db.session,
            actor=officer,
            issue_id=issue.id,
            playbook_key="nope",
            severity=9,
            commander_id=org["users"][("KAB-GOWA", "head")].id,
            now=T0,
        )
    assert set(caught.value.errors) == {"playbook_key", "severity", "commander_id"}
    db.session.rollback()
    with pytest.raises(ValidationFailed) as caught:
        incidents.open_from_issue(
            session=db.session,
            actor=officer,
            issue_id=issue.id,
            playbook_key="data-leak-cyber",
            severity=1,
            commander_id=head.id,
            now=T0,
        )
    assert "severity" in caught.value.errors  # that SOP starts at severity 2
    db.session.rollback()
    with pytest.raises(NotFound):
        incidents.open_from_issue(
            session=db.session,
            actor=org["users"][("KAB-BANYUMAS", "officer")],
            issue_id=issue.id,
            playbook_key="hoax-clarification",
            severity=2,
            commander_id=head.id,
            now=T0,
        )
    db.session.rollback()
    with pytest.raises(NotPermitted):
        incidents.open_from_issue(
            session=db.session,
            actor=org["users"][("PUSAT", "observer")],
            issue_id=issue.id,
            playbook_key="hoax-clarification",
            severity=2,
            commander_id=head.id,
            now=T0,
        )
    db.session.rollback()
    assert db.session.query(Incident).count() == 0


def test_an_issue_escalates_only_once(db, org, incident):
    with pytest.raises(Conflict):
        incidents.open_from_issue(
            session=db.session,
            actor=org["users"][("KOTA-SEMARANG", "officer")],
            issue_id=incident.issue_id,
            playbook_key="hoax-clarification",
            severity=2,
            commander_id=incident.commander_id,
            now=T0,
        )


def test_completing_a_stage_is_refused_while_required_items_are_open(db, org, incident):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    run = incident.stage_runs[0]
    with pytest.raises(ValidationFailed) as caught:
        incidents.complete_stage(session=db.session, actor=officer, stage_run_id=run.id, now=T0)
    required = [e.item_key for e in run.entries if e.required]
    assert len(caught.value.errors["checklist"]) == len(required)
    db.session.rollback()
    _close_required(db, officer, run, T0 + timedelta(minutes=5))
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=run.id, now=T0 + timedelta(minutes=6))
    db.session.commit()
    second = incident.stage_runs[1]
    assert run.state == "completed" and not run.breached
    assert second.state == "active" and second.started_at == T0 + timedelta(minutes=6)


def test_a_late_stage_is_measured_as_breached_by_how_much(db, org, incident):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    run = incident.stage_runs[0]
    late = run.due_at + timedelta(minutes=7)
    _close_required(db, officer, run, late)
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=run.id, now=late)
    db.session.commit()
    assert run.breached
    event = db.session.query(TimelineEvent).filter_by(kind="stage.completed").one()
    assert event.data == {"stage": run.stage_key, "breached": True, "late_seconds": 420}


def test_evidence_items_need_a_link_and_only_http_links(db, org, incident):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    entry = next(e for run in incident.stage_runs for e in run.entries if e.evidence_expected)
    with pytest.raises(ValidationFailed) as caught:
        incidents.tick(session=db.session, actor=officer, entry_id=entry.id, now=T0)
    assert "evidence_url" in caught.value.errors
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        incidents.tick(session=db.session, actor=officer, entry_id=entry.id, evidence_url="javascript:alert(1)", now=T0)
    db.session.rollback()
    incidents.tick(session=db.session, actor=officer, entry_id=entry.id, evidence_url="https://x.example/p", now=T0)
    db.session.commit()
    assert entry.done_by_id == officer.id and entry.evidence_url == "https://x.example/p"


def test_waiving_needs_a_reason_and_a_lead(db, org, incident):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    entry = incident.stage_runs[0].entries[0]
    with pytest.raises(NotPermitted):
        incidents.waive(session=db.session, actor=officer, entry_id=entry.id, reason="tidak relevan", now=T0)
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        incidents.waive(session=db.session, actor=supervisor, entry_id=entry.id, reason="  ", now=T0)
    db.session.rollback()
    incidents.waive(
        session=db.session, actor=supervisor, entry_id=entry.id, reason="Sumber sudah terverifikasi", now=T0
    )
    db.session.commit()
    assert entry.closed and entry.waive_reason == "Sumber sudah terverifikasi"


def test_sibling_regency_cannot_see_or_touch_the_incident(db, org, incident):
    outsider = org["users"][("KAB-BANYUMAS", "head")]
    with pytest.raises(NotFound):
        incidents.get(session=db.session, user=outsider, incident_id=incident.id)
    with pytest.raises(NotFound):
        incidents.tick(session=db.session, actor=outsider, entry_id=incident.stage_runs[0].entries[0].id, now=T0)
    province = org["users"][("JATENG", "officer")]
    assert incidents.get(session=db.session, user=province, incident_id=incident.id).id == incident.id


def test_severity_change_replans_the_running_stage_from_its_start(db, org, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    run = incident.stage_runs[0]
    with pytest.raises(ValidationFailed):
        incidents.change_severity(
            session=db.session, actor=head, incident_id=incident.id, severity=4, reason="", now=T0
        )
    db.session.rollback()
    incidents.change_severity(
        session=db.session,
        actor=head,
        incident_id=incident.id,
        severity=4,
        reason="Diliput televisi nasional",
        now=T0 + timedelta(minutes=3),
    )
    db.session.commit()
    assert run.due_at == run.started_at + run.spec.target_for(4)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    with pytest.raises(NotPermitted):
        incidents.change_severity(
            session=db.session, actor=officer, incident_id=incident.id, severity=3, reason="x", now=T0
        )


def test_stale_version_is_refused_with_a_conflict(db, org, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    seen = incident.version
    incidents.change_severity(
        session=db.session,
        actor=head,
        incident_id=incident.id,
        severity=4,
        reason="naik",
        expected_version=seen,
        now=T0,
    )
    db.session.commit()
    with pytest.raises(Conflict):
        incidents.cancel(
            session=db.session, actor=head, incident_id=incident.id, reason="hoaks lama", expected_version=seen, now=T0
        )


def test_two_people_ticking_the_same_item_at_once_never_lose_an_update(app, db, org, incident):
    entry_id = next(e.id for e in incident.stage_runs[0].entries if not e.evidence_expected)
    people = [org["users"][("KOTA-SEMARANG", "officer")].id, org["users"][("KOTA-SEMARANG", "supervisor")].id]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(user_id: int) -> None:
        from crisis.auth.models import User
        from crisis.extensions import db as _db

        with app.app_context():
            actor = _db.session.get(User, user_id)
            barrier.wait()
            try:
                incidents.tick(session=_db.session, actor=actor, entry_id=entry_id, now=T0)
                _db.session.commit()
                outcomes.append("ticked")
            except Conflict:
                _db.session.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(uid,)) for uid in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "ticked"]
    db.session.expire_all()
    entry = db.session.get(ChecklistEntry, entry_id)
    ticks = db.session.query(TimelineEvent).filter_by(kind="checklist.done").count()
    assert entry.done_by_id in people and ticks == 1


def test_statements_need_approval_by_someone_else(db, org, incident):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    draft = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind="holding",
        title="Pernyataan sementara",
        body="Kami mengetahui pesan yang beredar...",
        now=T0,
    )
    db.session.commit()
    with pytest.raises(NotPermitted):
        statements.approve(session=db.session, actor=officer, statement_id=draft.id, now=T0)
    db.session.rollback()
    with pytest.raises(Conflict):
        statements.publish(session=db.session, actor=officer, statement_id=draft.id, channel="website", now=T0)
    db.session.rollback()
    own = statements.draft(
        session=db.session,
        actor=supervisor,
        incident_id=incident.id,
        kind="press_release",
        title="Siaran pers",
        body="...",
        now=T0,
    )
    with pytest.raises(NotPermitted):
        statements.approve(session=db.session, actor=supervisor, statement_id=own.id, now=T0)
    db.session.rollback()
    statements.approve(session=db.session, actor=supervisor, statement_id=draft.id, now=T0 + timedelta(minutes=30))
    # At severity 3 the SOP's chain goes on to the institution head, and a spokesperson is designated.
    assert draft.state == "draft" and draft.awaiting_role == "leader"
    factories.sign_through(db.session, draft, now=T0 + timedelta(minutes=35))
    factories.designate_spokesperson(db.session, incident, now=T0 + timedelta(minutes=36))
    statements.publish(
        session=db.session,
        actor=officer,
        statement_id=draft.id,
        channel="x",
        url="https://x.com/pemkot/status/1",
        now=T0 + timedelta(minutes=41),
    )
    db.session.commit()
    assert incident.first_statement_at == T0 + timedelta(minutes=41)
    assert draft.state == "published"


def test_key_messages_are_shared_and_each_units_lag_is_shown(db, org, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    banyumas = org["units"]["KAB-BANYUMAS"]
    jateng = org["units"]["JATENG"]
    for unit in (banyumas, jateng):
        incidents.involve_unit(session=db.session, actor=head, incident_id=incident.id, unit_id=unit.id, now=T0)
    messages = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind="key_messages",
        title="Pesan kunci",
        body="1. Air PDAM aman diminum.",
        now=T0,
    )
    statements.approve(session=db.session, actor=head, statement_id=messages.id, now=T0 + timedelta(minutes=5))
    factories.sign_through(db.session, messages, now=T0 + timedelta(minutes=10))
    db.session.commit()
    banyumas_officer = org["users"][("KAB-BANYUMAS", "officer")]
    assert incidents.get(session=db.session, user=banyumas_officer, incident_id=incident.id)  # involved: sees it
    with pytest.raises(NotPermitted):
        incidents.tick(
            session=db.session, actor=banyumas_officer, entry_id=incident.stage_runs[0].entries[0].id, now=T0
        )
    db.session.rollback()
    statements.record_shared_publication(
        session=db.session,
        actor=banyumas_officer,
        statement_id=messages.id,
        unit_id=banyumas.id,
        channel="instagram",
        url="https://instagram.com/p/1",
        now=T0 + timedelta(minutes=55),
    )
    db.session.commit()
    status = {row.unit.code: row.lag for row in statements.shared_status(messages)}
    assert status == {"KAB-BANYUMAS": timedelta(minutes=45), "JATENG": None}
    with pytest.raises(NotPermitted):
        statements.record_shared_publication(
            session=db.session,
            actor=banyumas_officer,
            statement_id=messages.id,
            unit_id=jateng.id,
            channel="website",
            now=T0,
        )


def test_resolving_needs_every_required_item_closed(db, org, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    with pytest.raises(ValidationFailed) as caught:
        incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=T0)
    open_count = sum(1 for run in incident.stage_runs for e in run.entries if e.required)
    assert len(caught.value.errors["checklist"]) == open_count
    db.session.rollback()
    for run in incident.stage_runs:  # stage by stage: items of a stage not started cannot be ticked
        _close_required(db, head, run, T0 + timedelta(hours=1))
        if run is not incident.stage_runs[-1]:
            incidents.complete_stage(session=db.session, actor=head, stage_run_id=run.id, now=T0 + timedelta(hours=1))
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=T0 + timedelta(hours=2))
    db.session.commit()
    assert incident.state == "resolved" and incident.resolved_at == T0 + timedelta(hours=2)
    assert all(run.state == "completed" for run in incident.stage_runs)
    with pytest.raises(Conflict):
        incidents.untick(session=db.session, actor=head, entry_id=incident.stage_runs[0].entries[0].id, now=T0)


def test_cancelling_a_false_alarm_needs_a_reason(db, org, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    with pytest.raises(ValidationFailed):
        incidents.cancel(session=db.session, actor=head, incident_id=incident.id, reason="", now=T0)
    db.session.rollback()
    incidents.cancel(
        session=db.session, actor=head, incident_id=incident.id, reason="Bukan hoaks: sudah diklarifikasi", now=T0
    )
    db.session.commit()
    assert incident.state == "cancelled" and incident.state_reason.startswith("Bukan hoaks")


def test_handing_over_to_central_gives_central_command(db, org, incident):
    head = org["users"][("KOTA-SEMARANG", "head")]
    incidents.hand_over(session=db.session, actor=head, incident_id=incident.id, to="parent", now=T0)
    db.session.commit()
    assert incident.unit.code == "JATENG" and incident.commander_id == org["users"][("JATENG", "head")].id
    assert {i.unit.code for i in incident.involved if i.released_at is None} == {"KOTA-SEMARANG"}
    incidents.hand_over(
        session=db.session, actor=org["users"][("JATENG", "head")], incident_id=incident.id, to="central", now=T0
    )
    db.session.commit()
    assert incident.unit.code == "PUSAT" and incident.commander_id == org["users"][("PUSAT", "head")].id
    # The regency that started it still sees it (involved) and its head no longer leads it.
    assert incidents.get(session=db.session, user=head, incident_id=incident.id)
    assert not incidents.can_lead(session=db.session, user=head, incident=incident)


def test_the_reference_carries_the_year_where_the_owning_unit_is(db, incident):
    # 31 Dec 17:30 UTC is 1 January 00:30 WIB in Semarang: the incident belongs to the new year.
    year = T0.year
    incident.started_at = T0.replace(year=year, month=12, day=31, hour=17, minute=30)
    assert incident.reference == f"INS-{year + 1}-{incident.id:05d}"
    incident.started_at = T0.replace(year=year, month=12, day=31, hour=16, minute=30)  # 23:30 WIB
    assert incident.reference == f"INS-{year}-{incident.id:05d}"
    db.session.rollback()
