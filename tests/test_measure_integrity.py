"""Measures nobody can bend: times people enter are checked against the incident's own timeline,
checklist items are closed by their owners, the dashboard keeps each SOP's stages apart, the review
names everyone who acted, and a statement can be sent back with a reason and edited."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from crisis.errors import Conflict, NotPermitted, ValidationFailed
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.incidents.models import ChecklistEntry, Incident, Publication, Statement
from crisis.issues import service as issues
from crisis.reports import heatmap
from crisis.reports import service as reports
from crisis.reviews import service as reviews
from crisis.timeline.models import TimelineEvent
from tests import factories
from tests.conftest import FIXED_NOW, form_post
from tests.factories import run_through

T0 = FIXED_NOW
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
WIB = ZoneInfo("Asia/Jakarta")


def _people(org, code="KOTA-SEMARANG"):
    u = org["users"]
    return u[(code, "officer")], u[(code, "supervisor")], u[(code, "head")]


def _approved(db, org, incident, *, kind="holding", approved=T0 + 10 * M) -> Statement:
    """Drafted by the officer, signed along the SOP's chain (the supervisor first, the institution
    head last, at `approved`), with the spokesperson the SOP asks for at severity 3 designated."""
    officer, supervisor, _head = _people(org)
    factories.designate_spokesperson(db.session, incident, now=T0 + 5 * M)
    statement = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind=kind,
        title="Air PDAM aman diminum",
        body="Kami telah memeriksa kualitas air bersama PDAM.",
        now=T0 + 5 * M,
    )
    statements.approve(session=db.session, actor=supervisor, statement_id=statement.id, now=approved)
    factories.sign_through(db.session, statement, now=approved)
    db.session.commit()
    return statement


def _entry(incident, key) -> ChecklistEntry:
    return next(e for run in incident.stage_runs for e in run.entries if e.item_key == key)


# --- person-entered times ------------------------------------------------------------------------


def test_a_statement_published_before_the_incident_opened_is_refused_and_nothing_changes(db, org, incident):
    officer, _supervisor, _head = _people(org)
    statement = _approved(db, org, incident)
    with pytest.raises(ValidationFailed) as caught:
        statements.publish(
            session=db.session,
            actor=officer,
            statement_id=statement.id,
            channel="website",
            published_at=T0 - 6 * D,  # "1 Dec" for an incident opened on 7 Dec
            now=T0 + 20 * M,
        )
    assert set(caught.value.errors) == {"published_at"}
    assert "sebelum insiden dimulai" in caught.value.errors["published_at"][0]
    db.session.rollback()
    db.session.expire_all()
    statement, incident = db.session.get(Statement, statement.id), db.session.get(Incident, incident.id)
    assert statement.state == "approved" and statement.published_at is None
    assert incident.first_statement_at is None and incident.last_update_at is None
    assert db.session.query(Publication).count() == 0
    assert db.session.query(TimelineEvent).filter_by(kind="statement.published").count() == 0


def test_a_publication_before_approval_or_in_the_future_is_refused_a_minute_ahead_is_not(db, org, incident):
    officer, _supervisor, _head = _people(org)
    statement = _approved(db, org, incident, approved=T0 + 10 * M)
    now = T0 + 20 * M

    def publish(moment):
        return statements.publish(
            session=db.session,
            actor=officer,
            statement_id=statement.id,
            channel="website",
            published_at=moment,
            now=now,
        )

    for moment, words in ((T0 + 9 * M, "sebelum disetujui"), (now + 3 * M, "masa depan")):
        with pytest.raises(ValidationFailed) as caught:
            publish(moment)
        assert words in caught.value.errors["published_at"][0]
        db.session.rollback()
    # Within the clock skew (CLOCK_SKEW_SECONDS, 2 minutes): a phone a minute fast is not refused.
    assert publish(now + M).published_at == now + M
    assert incident.first_statement_at == now + M


def test_the_api_refuses_a_publication_before_the_start_naming_the_field_in_the_callers_language(
    client, db, org, incident, token_for
):
    officer, _supervisor, _head = _people(org)
    statement = _approved(db, org, incident)
    headers = token_for("officer", "KOTA-SEMARANG")
    body = {"channel": "website", "published_at": (T0 - 6 * D).isoformat()}
    answer = client.post(f"/api/v1/statements/{statement.id}/publish", json=body, headers=headers)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert "sebelum insiden dimulai" in answer.get_json()["errors"]["published_at"][0]
    answer = client.post(
        f"/api/v1/statements/{statement.id}/publish", json=body, headers={**headers, "Accept-Language": "en"}
    )
    assert "before the incident started" in answer.get_json()["errors"]["published_at"][0]
    assert db.session.query(Publication).count() == 0


def test_the_page_refuses_a_publication_before_the_start_and_says_why(login_as, db, org, incident):
    statement = _approved(db, org, incident)
    client = login_as("officer", "KOTA-SEMARANG")
    page = f"/incidents/{incident.id}"
    typed = (T0 - 6 * D).astimezone(WIB).strftime("%Y-%m-%dT%H:%M")
    form_post(
        client,
        f"{page}/statements/{statement.id}/publish",
        {"channel": "website", "published_at": typed},
        page=page,
    )
    shown = client.get(page).get_data(as_text=True)
    assert "Pernyataan tidak mungkin dipublikasikan sebelum insiden dimulai." in shown
    assert db.session.query(Publication).count() == 0


def test_an_involved_unit_cannot_record_key_messages_published_before_their_approval(db, org, incident):
    _officer, _supervisor, head = _people(org)
    banyumas = org["units"]["KAB-BANYUMAS"]
    incidents.involve_unit(session=db.session, actor=head, incident_id=incident.id, unit_id=banyumas.id, now=T0 + M)
    key = _approved(db, org, incident, kind="key_messages", approved=T0 + H)
    with pytest.raises(ValidationFailed) as caught:
        statements.record_shared_publication(
            session=db.session,
            actor=org["users"][("KAB-BANYUMAS", "officer")],
            statement_id=key.id,
            unit_id=banyumas.id,
            channel="instagram",
            published_at=T0 + 30 * M,
            now=T0 + 2 * H,
        )
    assert "sebelum disetujui" in caught.value.errors["published_at"][0]


def test_first_seen_cannot_be_moved_after_the_issue_was_logged(db, org, log_issue):
    issue = log_issue()  # logged at T0, first seen 20 minutes before
    officer, _supervisor, _head = _people(org)
    with pytest.raises(ValidationFailed) as caught:
        issues.update(
            session=db.session,
            actor=officer,
            issue_id=issue.id,
            changes={"first_seen_at": T0 + H},
            expected_version=issue.version,
            now=T0 + 2 * H,
        )
    assert set(caught.value.errors) == {"first_seen_at"}
    db.session.rollback()
    updated = issues.update(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        changes={"first_seen_at": T0 - 2 * H},
        expected_version=issue.version,
        now=T0 + 2 * H,
    )
    assert updated.first_seen_at == T0 - 2 * H


def test_the_issue_edit_page_shows_a_first_sighting_after_logging_next_to_the_field(login_as, db, org, clock):
    from tests.test_issues_pages import new_issue_form

    issue = issues.create(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        now=T0,
        title="Antrean BPJS di RSUD mengular",
        channel="x",
        category="service_failure",
        first_seen_at=T0 - H,
        evidence_urls=["https://x.com/warga/status/1"],
    )
    db.session.commit()
    clock.now = T0 + 3 * H  # edited three hours after it was logged
    client = login_as("officer", "KOTA-SEMARANG")
    edit = f"/issues/{issue.id}/edit"
    fields = new_issue_form(first_seen_at=(T0 + H).astimezone(WIB).strftime("%Y-%m-%dT%H:%M"), version="1")
    del fields["evidence_urls"]
    response = form_post(client, edit, fields, page=edit)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="first_seen_at-msg"[^>]*>.*?tidak mungkin pertama terlihat setelah dicatat', page, re.S)
    db.session.expire_all()
    assert (
        issues.get(session=db.session, user=org["users"][("KOTA-SEMARANG", "officer")], issue_id=issue.id).first_seen_at
        == T0 - H
    )


def _resolved(db, org, incident, at=T0 + 3 * H):
    _officer, _supervisor, head = _people(org)
    run_through(db.session, head, incident, now=at - H)
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=at)
    db.session.commit()
    return reviews.get_for_incident(session=db.session, user=head, incident_id=incident.id)


def test_an_action_item_due_years_ahead_is_refused_as_a_typo(db, org, incident):
    officer, _supervisor, head = _people(org)
    review = _resolved(db, org, incident)
    with pytest.raises(ValidationFailed) as caught:
        reviews.add_action_item(
            session=db.session,
            actor=head,
            review_id=review.id,
            title="Perbarui FAQ",
            owner_id=officer.id,
            due_on=(T0 + 400 * D).astimezone(WIB).date(),
            now=T0 + 4 * H,
        )
    assert set(caught.value.errors) == {"due_on"}


def test_a_legacy_publication_before_the_start_is_never_measured_and_the_review_says_so(db, org, incident):
    """Data entered before the checks existed: left out of every median, never negative."""
    statement = _approved(db, org, incident)
    db.session.add(
        Publication(
            statement_id=statement.id,
            unit_id=incident.unit_id,
            channel="website",
            published_at=T0 - 6 * D,
            recorded_by_id=statement.drafted_by_id,
            recorded_at=T0 + 20 * M,
        )
    )
    statement.state, statement.published_at = "published", T0 - 6 * D
    review = _resolved(db, org, incident)
    measured = reviews.document(session=db.session, review=review).measures
    assert measured.time_to_first_statement is None and measured.time_to_holding_statement is None
    assert len(measured.out_of_order) == 2  # time to holding statement and to first statement
    user = org["users"][("PUSAT", "head")]
    f = reports.filters_for(
        session=db.session, user=user, start=(T0 - 7 * D).date(), end=(T0 + D).date(), now=T0 + 4 * H
    )
    board = reports.build_dashboard(session=db.session, filters=f)
    assert board.headline["tfs"].n == 0 and board.headline["ths"].n == 0
    assert board.headline["ttr"].n == 1 and board.headline["ttr"].p50 == 3 * 3600


def test_the_review_page_warns_which_measures_were_left_out(login_as, db, org, incident):
    statement = _approved(db, org, incident)
    statement.state, statement.published_at = "published", T0 - 6 * D
    review = _resolved(db, org, incident)
    page = login_as("head", "KOTA-SEMARANG").get(f"/incidents/{review.incident_id}/review").get_data(as_text=True)
    assert "Tidak diukur karena urutan waktu yang tercatat tidak masuk akal" in page


# --- checklist owners ----------------------------------------------------------------------------


def test_an_officer_cannot_tick_a_supervisors_item_and_is_told_who_may(db, org, incident):
    officer, supervisor, _head = _people(org)
    label = _entry(incident, "provisional-label")  # owner: supervisor
    with pytest.raises(NotPermitted) as caught:
        incidents.tick(session=db.session, actor=officer, entry_id=label.id, now=T0 + M)
    assert "supervisor atau kepala unit" in caught.value.message
    db.session.rollback()
    assert db.session.get(ChecklistEntry, label.id).done_at is None
    assert (
        incidents.tick(session=db.session, actor=supervisor, entry_id=label.id, now=T0 + M).done_by_id == supervisor.id
    )


def test_commander_items_are_closed_by_the_commander_or_a_head(db, org, log_issue):
    from tests.factories import escalate

    incident = escalate(db.session, org, log_issue(), now=T0, commander="supervisor")
    officer, supervisor, head = _people(org)
    jateng_supervisor, jateng_head = org["users"][("JATENG", "supervisor")], org["users"][("JATENG", "head")]
    share = _entry(incident, "share-key-messages")  # owner: commander
    allowed = {
        who.email: incidents.Closers(user=who, incident=incident).may_close(share)
        for who in (officer, supervisor, head, jateng_supervisor, jateng_head)
    }
    assert allowed == {
        officer.email: False,
        supervisor.email: True,  # the commander
        head.email: True,
        jateng_supervisor.email: False,  # a supervisor above, but not the commander
        jateng_head.email: True,
    }


def test_the_api_refuses_an_item_of_a_higher_owner_with_403_and_the_page_offers_no_tick(
    client, login_as, db, org, incident, token_for
):
    label, archive = _entry(incident, "provisional-label"), _entry(incident, "archive-content")
    answer = client.post(f"/api/v1/checklist/{label.id}/tick", json={}, headers=token_for("officer", "KOTA-SEMARANG"))
    assert answer.status_code == 403 and answer.mimetype == "application/problem+json"
    assert "supervisor" in answer.get_json()["detail"]
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)

    def item(entry):
        return re.search(rf'<li id="entry-{entry.id}".*?</li>', page, re.S).group(0)

    assert "tickform" in item(archive) and "tickform" not in item(label)


def test_items_of_a_stage_not_started_cannot_be_ticked(client, db, org, incident, token_for):
    _officer, _supervisor, head = _people(org)
    later = incident.stage_runs[1].entries[0]
    with pytest.raises(Conflict) as caught:
        incidents.tick(session=db.session, actor=head, entry_id=later.id, now=T0 + M)
    assert "belum dimulai" in caught.value.message
    db.session.rollback()
    answer = client.post(f"/api/v1/checklist/{later.id}/tick", json={}, headers=token_for("head", "KOTA-SEMARANG"))
    assert answer.status_code == 409
    assert db.session.get(ChecklistEntry, later.id).done_at is None


# --- the dashboard keeps each SOP's stages apart ------------------------------------------------


def test_stages_of_two_sops_with_one_key_are_two_rows_titled_with_their_sop(db, org):
    titles = heatmap.stage_titles(db.session, "en")
    unit = org["units"]["KOTA-SEMARANG"]
    groups = [
        (unit.id, "viral-service-complaint", ["verify", "activate"], [2, 1], [2, 0], [0, 1]),
        (unit.id, "data-leak-cyber", ["verify", "holding-statement"], [1, 0], [0, 0], [1, 0]),
    ]
    stages, heat = heatmap.stage_tables(groups, titles, {unit.id: unit})
    verify = {s["playbook"]: s for s in stages if s["key"] == "verify"}
    assert set(verify) == {"viral-service-complaint", "data-leak-cyber"}
    assert (verify["viral-service-complaint"]["judged"], verify["viral-service-complaint"]["met"]) == (2, 2)
    assert (verify["data-leak-cyber"]["judged"], verify["data-leak-cyber"]["breached"]) == (1, 1)
    assert verify["data-leak-cyber"]["playbook_title"] != verify["viral-service-complaint"]["playbook_title"]
    assert verify["data-leak-cyber"]["title"] == titles[("data-leak-cyber", "verify")][1]
    assert len(heat["stages"]) == 4 and len(heat["rows"][0]["cells"]) == 4


def test_the_dashboard_page_names_each_stage_with_its_sop(login_as, db, org, log_issue):
    from tests.factories import escalate

    officer, _supervisor, head = _people(org)
    for playbook in ("hoax-clarification", "viral-service-complaint"):
        opened = escalate(db.session, org, log_issue(title=f"Isu {playbook}"), now=T0, playbook=playbook)
        run_through(db.session, head, opened, now=T0 + H)
        incidents.resolve(session=db.session, actor=head, incident_id=opened.id, now=T0 + 2 * H)
    db.session.commit()
    user = org["users"][("PUSAT", "head")]
    f = reports.filters_for(session=db.session, user=user, start=(T0 - D).date(), end=(T0 + D).date(), now=T0 + 3 * H)
    board = reports.build_dashboard(session=db.session, filters=f, lang="en")
    pairs = [(s["playbook"], s["key"]) for s in board.stages]
    assert len(pairs) == len(set(pairs))
    assert {p for p, _ in pairs} == {"hoax-clarification", "viral-service-complaint"}
    assert all(s["judged"] == 1 for s in board.stages)


# --- the review names everyone who acted ---------------------------------------------------------


def test_the_review_lists_everyone_who_acted_with_their_role(db, org, incident):
    officer, supervisor, head = _people(org)
    banyumas = org["units"]["KAB-BANYUMAS"]
    incidents.involve_unit(session=db.session, actor=head, incident_id=incident.id, unit_id=banyumas.id, now=T0 + M)
    key = _approved(db, org, incident, kind="key_messages")
    banyumas_officer = org["users"][("KAB-BANYUMAS", "officer")]
    statements.record_shared_publication(
        session=db.session,
        actor=banyumas_officer,
        statement_id=key.id,
        unit_id=banyumas.id,
        channel="instagram",
        published_at=T0 + 30 * M,
        now=T0 + 30 * M,
    )
    incidents.tick(
        session=db.session,
        actor=officer,
        entry_id=_entry(incident, "archive-content").id,
        evidence_url="https://example.com/arsip",
        now=T0 + M,
    )
    review = _resolved(db, org, incident)
    people = reviews.document(session=db.session, review=review).participants
    assert people[0].user.id == head.id and people[0].commander  # the commander first
    roles = {p.user.id: (p.role, p.unit_code) for p in people}
    assert roles[officer.id] == ("officer", "KOTA-SEMARANG")
    assert roles[supervisor.id] == ("supervisor", "KOTA-SEMARANG")
    assert roles[banyumas_officer.id] == ("officer", "KAB-BANYUMAS")


# --- statements sent back ------------------------------------------------------------------------


def _draft(db, org, incident) -> Statement:
    officer, _supervisor, _head = _people(org)
    statement = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind="holding",
        title="Air PDAM aman",
        body="Korban 12 orang.",
        now=T0 + 5 * M,
    )
    db.session.commit()
    return statement


def test_an_approver_sends_a_statement_back_and_the_authors_edit_makes_it_a_draft_again(db, org, incident):
    officer, supervisor, _head = _people(org)
    statement = _draft(db, org, incident)
    statements.send_back(
        session=db.session,
        actor=supervisor,
        statement_id=statement.id,
        reason="Angka korban belum dikonfirmasi BPBD.",
        now=T0 + 10 * M,
    )
    db.session.commit()
    assert statement.state == "returned" and statement.return_reason == "Angka korban belum dikonfirmasi BPBD."
    event = db.session.query(TimelineEvent).filter_by(kind="statement.returned").one()
    assert event.actor_id == supervisor.id and event.data["reason"] == "Angka korban belum dikonfirmasi BPBD."
    with pytest.raises(Conflict):
        statements.approve(session=db.session, actor=supervisor, statement_id=statement.id, now=T0 + 11 * M)
    db.session.rollback()
    statements.edit(
        session=db.session,
        actor=officer,
        statement_id=statement.id,
        title="Air PDAM aman",
        body="Korban masih didata BPBD.",
        now=T0 + 15 * M,
    )
    assert statement.state == "draft"
    assert db.session.query(TimelineEvent).filter_by(kind="statement.edited").one().data["resubmitted"] is True
    statements.approve(session=db.session, actor=supervisor, statement_id=statement.id, now=T0 + 16 * M)
    assert statement.state == "draft" and statement.awaiting_role == "leader"  # severity 3: the head of the institution
    factories.sign_through(db.session, statement, now=T0 + 17 * M)
    assert statement.state == "approved"
    with pytest.raises(Conflict):  # approved: no longer edited
        statements.edit(session=db.session, actor=officer, statement_id=statement.id, title="x", body="y")


def test_sending_back_needs_a_reason_and_an_approver(db, org, incident):
    officer, supervisor, _head = _people(org)
    statement = _draft(db, org, incident)
    with pytest.raises(ValidationFailed) as caught:
        statements.send_back(session=db.session, actor=supervisor, statement_id=statement.id, reason="  ")
    assert set(caught.value.errors) == {"reason"}
    db.session.rollback()
    with pytest.raises(NotPermitted):  # the author does not return their own draft: they edit it
        statements.send_back(session=db.session, actor=officer, statement_id=statement.id, reason="Salah ketik")
    db.session.rollback()
    assert db.session.get(Statement, statement.id).state == "draft"


def test_the_author_reads_the_reason_on_the_page_and_the_api_returns_and_edits(
    client, login_as, db, org, incident, token_for
):
    statement = _draft(db, org, incident)
    answer = client.post(
        f"/api/v1/statements/{statement.id}/return",
        json={"reason": "Sebutkan sumber data BPBD."},
        headers=token_for("supervisor", "KOTA-SEMARANG"),
    )
    assert answer.status_code == 200 and answer.get_json()["state"] == "returned"
    assert answer.get_json()["return_reason"] == "Sebutkan sumber data BPBD."
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Sebutkan sumber data BPBD." in page and "Simpan dan ajukan persetujuan lagi" in page
    edited = client.patch(
        f"/api/v1/statements/{statement.id}",
        json={"title": "Air PDAM aman", "body": "Data korban dari BPBD Kota Semarang."},
        headers=token_for("officer", "KOTA-SEMARANG"),
    )
    assert edited.status_code == 200 and edited.get_json()["state"] == "draft"
