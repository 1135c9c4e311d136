"""The media desk: every journalist's question logged, assigned, answered on time (with an approved
statement or an approved text) or declined with the holding line; late ones escalate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis.errors import Conflict, NotPermitted, ValidationFailed
from crisis.escalation import media as media_engine
from crisis.escalation.models import Timer
from crisis.incidents import media, statements
from crisis.incidents.models import MediaQuery
from crisis.notify.models import Notice
from crisis.playbooks import service as playbooks
from crisis.timeline.models import TimelineEvent
from tests import factories
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick

NOW = FIXED_NOW
NO_TARGET = Path(__file__).resolve().parent / "playbooks" / "fixtures" / "update-cycle.yaml"
M = timedelta(minutes=1)
H = timedelta(hours=1)

QUESTION = {
    "journalist": "Rina Wulandari",
    "outlet": "Kompas TV",
    "outlet_type": "national_tv",
    "channel": "phone",
    "question": "Benarkah air PDAM tercemar bahan kimia?",
}


def _user(org, unit, role):
    return org["users"][(unit, role)]


def _log(db, org, incident, *, by=("KOTA-SEMARANG", "officer"), now=NOW + 5 * M, **fields):
    query = media.log(
        session=db.session,
        actor=_user(org, *by),
        incident_id=incident.id,
        fields={**QUESTION, **fields},
        now=now,
    )
    db.session.commit()
    return query


def _approved_statement(db, org, incident, *, now=NOW + 10 * M):
    statement = statements.draft(
        session=db.session,
        actor=_user(org, "KOTA-SEMARANG", "officer"),
        incident_id=incident.id,
        kind="holding",
        title="Klarifikasi air PDAM",
        body="Air PDAM aman diminum; hasil uji laboratorium menyusul pukul 15.00.",
        now=now,
    )
    statements.approve(
        session=db.session, actor=_user(org, "KOTA-SEMARANG", "supervisor"), statement_id=statement.id, now=now
    )
    factories.sign_through(db.session, statement, now=now)  # severity 3: the institution head signs last
    db.session.commit()
    return statement


def _events(db, incident, kind):
    return list(
        db.session.scalars(
            select(TimelineEvent).where(
                TimelineEvent.subject_type == "incident",
                TimelineEvent.subject_id == incident.id,
                TimelineEvent.kind == kind,
            )
        )
    )


def _open_timers(db, query):
    return list(
        db.session.scalars(
            select(Timer).where(Timer.media_query_id == query.id, Timer.state.in_(("pending", "claimed")))
        )
    )


# --- logging ---------------------------------------------------------------------------------------


def test_a_logged_question_is_due_four_hours_after_it_came_when_the_sop_sets_no_target(db, org):
    # Every SOP of the library sets its answer target: a test SOP that sets none.
    playbooks.publish(session=db.session, actor=None, text=NO_TARGET.read_text(), filename=NO_TARGET.name)
    incident = factories.escalate(
        db.session, org, factories.log_issue(db.session, org, now=NOW), now=NOW, playbook="update-cycle"
    )
    db.session.commit()
    assert "media_answer_within" not in incident.playbook_snapshot.get("settings", {})
    query = _log(db, org, incident, received_at=NOW - 10 * M)
    assert query.state == "open" and query.received_at == NOW - 10 * M
    assert query.due_at == NOW - 10 * M + 4 * H
    [event] = _events(db, incident, "media_query.logged")
    assert event.data["journalist"] == "Rina Wulandari" and event.data["due_at"] == query.due_at.isoformat()
    [timer] = _open_timers(db, query)
    assert timer.kind == "media_query" and timer.fire_at == query.due_at and timer.step_index == 0


def test_the_journalists_own_deadline_is_the_target_when_it_is_sooner(db, org, incident):
    # The hoax SOP answers within 2 hours at severity 3.
    query = _log(db, org, incident, journalist_deadline=NOW + 1 * H)
    assert query.due_at == NOW + 1 * H
    later = _log(db, org, incident, journalist_deadline=NOW + 9 * H)
    assert later.due_at == NOW + 5 * M + 2 * H


def test_the_sops_answer_target_follows_the_severity(db, org, incident):
    snapshot = dict(incident.playbook_snapshot)
    snapshot["settings"] = {**snapshot["settings"], "media_answer_within": {"default": "4h", "3": "2h", "4": "1h"}}
    incident.playbook_snapshot = snapshot
    db.session.commit()
    query = _log(db, org, incident)
    assert query.due_at == NOW + 5 * M + 2 * H  # severity 3
    from crisis.incidents import service as incidents

    incidents.change_severity(
        session=db.session,
        actor=_user(org, "KOTA-SEMARANG", "head"),
        incident_id=incident.id,
        severity=4,
        reason="Liputan langsung",
        now=NOW + 20 * M,
    )
    db.session.commit()
    assert query.due_at == NOW + 5 * M + 1 * H
    [timer] = _open_timers(db, query)
    assert timer.fire_at == NOW + 5 * M + 1 * H


def test_a_question_in_the_future_or_before_the_issue_was_seen_is_refused_next_to_its_field(db, org, incident):
    with pytest.raises(ValidationFailed) as future:
        _log(db, org, incident, received_at=NOW + 1 * H)
    assert set(future.value.errors) == {"received_at"}
    db.session.rollback()
    first_seen = incident.issue.first_seen_at
    with pytest.raises(ValidationFailed) as early:
        _log(db, org, incident, received_at=first_seen - 1 * M)
    assert "sebelum isu pertama kali terlihat" in early.value.errors["received_at"][0]
    db.session.rollback()
    with pytest.raises(ValidationFailed) as blank:
        _log(db, org, incident, journalist=" ", outlet_type="tabloid", channel="pigeon", question="")
    assert set(blank.value.errors) == {"journalist", "outlet_type", "channel", "question"}
    db.session.rollback()
    assert db.session.scalar(select(MediaQuery.id)) is None
    # A time just at the issue's first sighting is fine.
    assert _log(db, org, incident, received_at=first_seen).received_at == first_seen


def test_an_observer_and_another_regency_cannot_log_a_question(db, org, incident):
    with pytest.raises(NotPermitted):
        _log(db, org, incident, by=("PUSAT", "observer"))
    db.session.rollback()
    from crisis.errors import NotFound

    with pytest.raises(NotFound):  # Banyumas does not see Semarang's incident at all
        _log(db, org, incident, by=("KAB-BANYUMAS", "officer"))


# --- assigning -------------------------------------------------------------------------------------


def test_a_query_is_assigned_to_a_person_of_the_owning_or_an_involved_unit(db, org, incident):
    from crisis.incidents import service as incidents

    query = _log(db, org, incident)
    supervisor = _user(org, "KOTA-SEMARANG", "supervisor")
    media.assign(
        session=db.session,
        actor=_user(org, "KOTA-SEMARANG", "officer"),
        query_id=query.id,
        assignee_id=supervisor.id,
        now=NOW + 6 * M,
    )
    db.session.commit()
    assert query.assignee_id == supervisor.id and query.assigned_at == NOW + 6 * M
    [event] = _events(db, incident, "media_query.assigned")
    assert event.data["assignee_id"] == supervisor.id
    banyumas = _user(org, "KAB-BANYUMAS", "officer")
    with pytest.raises(ValidationFailed) as outsider:
        media.assign(session=db.session, actor=supervisor, query_id=query.id, assignee_id=banyumas.id, now=NOW + 7 * M)
    assert set(outsider.value.errors) == {"assignee_id"}
    db.session.rollback()
    incidents.involve_unit(
        session=db.session,
        actor=_user(org, "KOTA-SEMARANG", "head"),
        incident_id=incident.id,
        unit_id=org["units"]["KAB-BANYUMAS"].id,
        now=NOW + 8 * M,
    )
    media.assign(session=db.session, actor=supervisor, query_id=query.id, assignee_id=banyumas.id, now=NOW + 9 * M)
    db.session.commit()
    assert query.assignee_id == banyumas.id


# --- answering -------------------------------------------------------------------------------------


def test_answering_with_the_approved_holding_statement_closes_the_query_on_time_and_cancels_its_timers(
    db, org, incident
):
    query = _log(db, org, incident)
    statement = _approved_statement(db, org, incident)
    assert _open_timers(db, query)
    media.answer_with_statement(
        session=db.session,
        actor=_user(org, "KOTA-SEMARANG", "officer"),
        query_id=query.id,
        statement_id=statement.id,
        now=NOW + 40 * M,
    )
    db.session.commit()
    assert query.state == "answered" and query.answer_kind == "statement" and query.statement_id == statement.id
    assert query.answered_at == NOW + 40 * M and query.on_time is True
    assert _open_timers(db, query) == []
    [event] = _events(db, incident, "media_query.answered")
    assert event.data["on_time"] is True and event.data["statement_kind"] == "holding"


def test_a_draft_statement_is_not_an_answer(db, org, incident):
    query = _log(db, org, incident)
    draft = statements.draft(
        session=db.session,
        actor=_user(org, "KOTA-SEMARANG", "officer"),
        incident_id=incident.id,
        kind="holding",
        title="Draf",
        body="Belum disetujui.",
        now=NOW + 6 * M,
    )
    with pytest.raises(ValidationFailed) as refused:
        media.answer_with_statement(
            session=db.session,
            actor=_user(org, "KOTA-SEMARANG", "officer"),
            query_id=query.id,
            statement_id=draft.id,
            now=NOW + 7 * M,
        )
    assert set(refused.value.errors) == {"statement_id"}


def test_a_text_answer_is_approved_by_a_supervisor_who_did_not_write_it(db, org, incident):
    query = _log(db, org, incident)
    officer, supervisor = _user(org, "KOTA-SEMARANG", "officer"), _user(org, "KOTA-SEMARANG", "supervisor")
    media.draft_answer(
        session=db.session,
        actor=officer,
        query_id=query.id,
        answer_text="Uji lab selesai pukul 15.00.",
        now=NOW + 20 * M,
    )
    db.session.commit()
    assert query.state == "open" and query.answer_drafted_by_id == officer.id
    with pytest.raises(NotPermitted):  # an officer is no approver
        media.approve_answer(session=db.session, actor=officer, query_id=query.id, now=NOW + 21 * M)
    db.session.rollback()
    media.approve_answer(session=db.session, actor=supervisor, query_id=query.id, now=NOW + 5 * H)
    db.session.commit()
    assert query.state == "answered" and query.answer_kind == "text"
    assert query.answer_approved_by_id == supervisor.id and query.answered_by_id == officer.id
    assert query.on_time is False  # 4h55m after it came, against 4 hours
    [event] = _events(db, incident, "media_query.answered")
    assert event.data["on_time"] is False


def test_the_writer_of_an_answer_cannot_approve_it(db, org, incident):
    query = _log(db, org, incident)
    supervisor = _user(org, "KOTA-SEMARANG", "supervisor")
    media.draft_answer(session=db.session, actor=supervisor, query_id=query.id, answer_text="Teks.", now=NOW + 6 * M)
    with pytest.raises(NotPermitted):
        media.approve_answer(session=db.session, actor=supervisor, query_id=query.id, now=NOW + 7 * M)


def test_an_answer_time_before_the_question_or_in_the_future_is_refused(db, org, incident):
    query = _log(db, org, incident, received_at=NOW)
    statement = _approved_statement(db, org, incident)
    for moment in (NOW - 1 * M, NOW + 2 * H):
        with pytest.raises(ValidationFailed) as refused:
            media.answer_with_statement(
                session=db.session,
                actor=_user(org, "KOTA-SEMARANG", "officer"),
                query_id=query.id,
                statement_id=statement.id,
                answered_at=moment,
                now=NOW + 30 * M,
            )
        assert set(refused.value.errors) == {"answered_at"}
        db.session.rollback()
    assert query.state == "open"


# --- declining -------------------------------------------------------------------------------------


def test_a_decline_without_a_holding_line_is_refused_and_no_comment_is_no_holding_line(db, org, incident):
    query = _log(db, org, incident)
    officer = _user(org, "KOTA-SEMARANG", "officer")
    with pytest.raises(ValidationFailed) as missing:
        media.decline(
            session=db.session, actor=officer, query_id=query.id, reason="Di luar kewenangan", holding_line=""
        )
    assert set(missing.value.errors) == {"holding_line"}
    db.session.rollback()
    with pytest.raises(ValidationFailed) as no_comment:
        media.decline(
            session=db.session,
            actor=officer,
            query_id=query.id,
            reason="Di luar kewenangan",
            holding_line="No comment.",
        )
    assert set(no_comment.value.errors) == {"holding_line"}
    db.session.rollback()
    assert query.state == "open" and _open_timers(db, query)
    media.decline(
        session=db.session,
        actor=officer,
        query_id=query.id,
        reason="Data korban hanya dari BPBD",
        holding_line="Kami sedang memverifikasi; pembaruan berikutnya pukul 15.00 WIB.",
        now=NOW + 30 * M,
    )
    db.session.commit()
    assert query.state == "declined" and query.on_time is True and _open_timers(db, query) == []
    [event] = _events(db, incident, "media_query.declined")
    assert event.data["reason"] == "Data korban hanya dari BPBD"


def test_an_answered_query_does_not_change_again(db, org, incident):
    query = _log(db, org, incident)
    officer = _user(org, "KOTA-SEMARANG", "officer")
    media.decline(session=db.session, actor=officer, query_id=query.id, reason="r", holding_line="h", now=NOW + 9 * M)
    db.session.commit()
    with pytest.raises(Conflict):
        media.decline(session=db.session, actor=officer, query_id=query.id, reason="r", holding_line="h")
    db.session.rollback()
    with pytest.raises(NotPermitted):  # who may not act learns nothing of the state
        media.decline(
            session=db.session,
            actor=_user(org, "PUSAT", "observer"),
            query_id=query.id,
            reason="r",
            holding_line="h",
        )


def test_correcting_the_received_time_moves_the_target_and_its_timer(db, org, incident):
    query = _log(db, org, incident)
    media.edit(
        session=db.session,
        actor=_user(org, "KOTA-SEMARANG", "officer"),
        query_id=query.id,
        fields={"received_at": NOW - 5 * M, "outlet": "Kompas.com", "outlet_type": "national_print_online"},
        now=NOW + 10 * M,
    )
    db.session.commit()
    assert query.due_at == NOW - 5 * M + 2 * H and query.outlet == "Kompas.com"  # the SOP's 2 hours at severity 3
    [timer] = _open_timers(db, query)
    assert timer.fire_at == query.due_at
    [event] = _events(db, incident, "media_query.edited")
    assert event.data["fields"] == ["outlet", "outlet_type", "received_at"]


# --- measures --------------------------------------------------------------------------------------


def test_figures_count_received_on_time_and_the_median_by_outlet_type(db, org, incident):
    officer = _user(org, "KOTA-SEMARANG", "officer")
    queries = [
        _log(db, org, incident, received_at=NOW, outlet_type="national_tv"),
        _log(db, org, incident, received_at=NOW, outlet_type="national_tv"),
        _log(db, org, incident, received_at=NOW, outlet_type="regional"),
        _log(db, org, incident, received_at=NOW, outlet_type="regional"),
    ]
    # The SOP's target at severity 3 is 2 hours: 1 hour and 90 minutes are on time, 5 hours is late.
    for query, after in zip(queries[:3], (1 * H, 5 * H, 90 * M), strict=True):
        media.decline(
            session=db.session, actor=officer, query_id=query.id, reason="r", holding_line="h", now=NOW + after
        )
    db.session.commit()
    total = media.figures(queries)
    assert (total.received, total.closed, total.on_time) == (4, 3, 2)
    assert total.median_seconds == 90 * 60
    by_outlet = media.figures_by_outlet(queries)
    assert list(by_outlet) == ["national_tv", "regional"]
    tv, regional = by_outlet["national_tv"], by_outlet["regional"]
    assert (tv.received, tv.on_time, tv.median_seconds) == (2, 1, 3 * 3600)  # median of 1h and 5h
    assert (regional.received, regional.closed, regional.on_time, regional.median_seconds) == (2, 1, 1, 90 * 60)


# --- the deadline engine ---------------------------------------------------------------------------


def test_a_late_query_escalates_to_the_assignee_then_the_commander_and_supervisor_then_the_head(db, org, incident):
    officer = _user(org, "KOTA-SEMARANG", "officer")
    query = _log(db, org, incident, received_at=NOW)
    media.assign(session=db.session, actor=officer, query_id=query.id, assignee_id=officer.id, now=NOW + 6 * M)
    db.session.commit()
    due = NOW + 2 * H  # the hoax SOP's target at severity 3

    def told(since):
        notices = db.session.scalars(
            select(Notice).where(Notice.channel == "inapp", Notice.queued_at >= since, Notice.kind == "deadline")
        )
        return sorted(n.recipient.name for n in notices if (n.payload or {}).get("kind") == "media_query")

    tick(db.session, due - 1 * M)
    assert told(NOW) == []
    tick(db.session, due)
    assert told(due) == [officer.name]
    tick(db.session, due + 30 * M)
    assert told(due + 30 * M) == sorted(
        [_user(org, "KOTA-SEMARANG", "head").name, _user(org, "KOTA-SEMARANG", "supervisor").name]
    )  # the commander is the unit's head here
    tick(db.session, due + 1 * H)
    assert told(due + 1 * H) == [_user(org, "KOTA-SEMARANG", "head").name]
    [event, *_rest] = _events(db, incident, "escalation.media_query")
    assert event.data["media_query_id"] == query.id and event.data["recipients"] == [officer.name]
    # Answering stops the repeats, in the same transaction.
    statement = _approved_statement(db, org, incident, now=due + 61 * M)
    media.answer_with_statement(
        session=db.session, actor=officer, query_id=query.id, statement_id=statement.id, now=due + 70 * M
    )
    db.session.commit()
    assert _open_timers(db, query) == []
    cancelled = db.session.scalar(
        select(Timer)
        .where(Timer.media_query_id == query.id, Timer.state == "cancelled")
        .order_by(Timer.id.desc())
        .limit(1)
    )
    assert cancelled.cancel_reason == "media_answered"
    tick(db.session, due + 3 * H)
    assert told(due + 2 * H) == []


def test_a_timer_of_a_query_answered_meanwhile_sends_nothing(db, org, incident):
    query = _log(db, org, incident, received_at=NOW)
    # Answered behind the engine's back (no hook): the firing itself sees the query is closed.
    query.state, query.answered_at = "answered", NOW + 1 * H
    db.session.commit()
    tick(db.session, NOW + 4 * H)
    timer = db.session.scalar(select(Timer).where(Timer.media_query_id == query.id))
    assert timer.state == "cancelled" and timer.cancel_reason == "media_answered"
    assert media_engine.why_not(db.session, timer) == "media_answered"
