"""Statements signed along the playbook's approval chain (tests/playbooks/fixtures/statement-approval.yaml:
a supervisor, then a legal reviewer for press releases and clarifications at severity 3-4, then the
head of the institution at severity 4), and the spokesperson the SOP asks for before publishing at
severity 3-4. Injected clock throughout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crisis.auth.models import Membership
from crisis.desk import waiting
from crisis.errors import Conflict, NotPermitted, ValidationFailed
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.notify.models import Notice
from crisis.playbooks import service as playbooks
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.factories import escalate, log_issue

NOW = FIXED_NOW
M = timedelta(minutes=1)
FIXTURE = Path(__file__).resolve().parents[1] / "playbooks" / "fixtures" / "statement-approval.yaml"


@pytest.fixture
def world(db, org):
    """A severity-4 incident of Kota Semarang running the approval fixture, and the demo's signers: the
    city's legal reviewer (Bagian Hukum), the Wali Kota's delegate (leader, the Sekda) of Kota Semarang
    and the Gubernur's (leader) of the province."""
    playbooks.publish(session=db.session, actor=None, text=FIXTURE.read_text(), filename=FIXTURE.name)
    issue = log_issue(db.session, org, now=NOW)
    incident = escalate(db.session, org, issue, now=NOW, playbook="statement-approval", severity=4)
    people = {
        "officer": org["users"][("KOTA-SEMARANG", "officer")],
        "supervisor": org["users"][("KOTA-SEMARANG", "supervisor")],
        "head": org["users"][("KOTA-SEMARANG", "head")],
        "legal": org["users"][("KOTA-SEMARANG", "legal")],
        "leader": org["users"][("KOTA-SEMARANG", "leader")],
        "governor": org["users"][("JATENG", "leader")],
    }
    db.session.commit()
    return incident, people


def _draft(db, incident, people, kind="press_release", at=NOW + M):
    statement = statements.draft(
        session=db.session,
        actor=people["officer"],
        incident_id=incident.id,
        kind=kind,
        title="Klarifikasi antrean layanan",
        body="Pemerintah Kota menjelaskan ...",
        now=at,
    )
    db.session.commit()
    return statement


def _sign(db, statement, person, at):
    statements.approve(session=db.session, actor=person, statement_id=statement.id, now=at)
    db.session.commit()


def _states(statement):
    return [(step.role, step.state) for step in statements.chain(statement)]


def _events(db, incident, kind):
    return list(
        db.session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.subject_id == incident.id, TimelineEvent.kind == kind)
            .order_by(TimelineEvent.id)
        )
    )


def test_a_press_release_at_severity_4_is_signed_by_the_supervisor_then_legal_then_the_institution_head(db, world):
    incident, people = world
    statement = _draft(db, incident, people)
    assert _states(statement) == [("supervisor", "waiting"), ("legal", "to_come"), ("leader", "to_come")]
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    assert statement.state == "draft" and statement.awaiting_role == "legal"
    _sign(db, statement, people["legal"], NOW + 10 * M)
    assert _states(statement) == [("supervisor", "signed"), ("legal", "signed"), ("leader", "waiting")]
    # The province's head of government does not sign for the city's.
    with pytest.raises(NotPermitted):
        statements.approve(session=db.session, actor=people["governor"], statement_id=statement.id, now=NOW + 11 * M)
    db.session.rollback()
    _sign(db, statement, people["leader"], NOW + 15 * M)
    assert statement.state == "approved" and statement.approved_by_id == people["leader"].id
    assert statement.approved_at == NOW + 15 * M and statement.awaiting_role is None
    signed = [(s.role, s.signed_by_id, s.signed_at) for s in statement.current_signatures]
    assert signed == [
        ("supervisor", people["supervisor"].id, NOW + 5 * M),
        ("legal", people["legal"].id, NOW + 10 * M),
        ("leader", people["leader"].id, NOW + 15 * M),
    ]
    # Each signature is on the timeline: two signed on the way, the last one approves.
    assert [(e.data["role"], e.data["next_role"]) for e in _events(db, incident, "statement.signed")] == [
        ("supervisor", "legal"),
        ("legal", "leader"),
    ]
    assert [e.data["role"] for e in _events(db, incident, "statement.approved")] == ["leader"]


def test_a_holding_statement_skips_the_legal_review(db, world):
    incident, people = world
    statement = _draft(db, incident, people, kind="holding")
    assert _states(statement) == [("supervisor", "waiting"), ("legal", "not_needed"), ("leader", "to_come")]
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    assert statement.awaiting_role == "leader"
    with pytest.raises(NotPermitted):  # a legal reviewer signs no step of a holding statement
        statements.approve(session=db.session, actor=people["legal"], statement_id=statement.id, now=NOW + 6 * M)


def test_nobody_signs_twice_and_the_author_never_signs(db, org, world):
    incident, people = world
    statement = _draft(db, incident, people)
    with pytest.raises(NotPermitted):  # the author
        statements.approve(session=db.session, actor=people["officer"], statement_id=statement.id, now=NOW + 2 * M)
    db.session.rollback()
    # The province's supervisor is also its legal reviewer: one signature only.
    both = org["users"][("JATENG", "supervisor")]
    db.session.add(Membership(user_id=both.id, unit_id=org["units"]["KAB-BANYUMAS"].id, role="legal"))
    db.session.add(Membership(user_id=both.id, unit_id=org["units"]["PUSAT"].id, role="legal"))
    db.session.commit()
    _sign(db, statement, both, NOW + 3 * M)
    with pytest.raises(NotPermitted):  # signed already
        statements.approve(session=db.session, actor=both, statement_id=statement.id, now=NOW + 4 * M)
    db.session.rollback()
    assert not statements.can_approve(session=db.session, user=both, statement=statement)
    assert statements.can_approve(session=db.session, user=people["legal"], statement=statement)


def test_the_role_is_checked_before_the_state(db, org, world):
    incident, people = world
    statement = _draft(db, incident, people, kind="holding")
    _sign(db, statement, people["supervisor"], NOW + 2 * M)
    _sign(db, statement, people["leader"], NOW + 3 * M)
    observer = org["users"][("PUSAT", "observer")]
    with pytest.raises(NotPermitted):  # 403, not "already approved"
        statements.approve(session=db.session, actor=observer, statement_id=statement.id, now=NOW + 4 * M)
    db.session.rollback()
    with pytest.raises(Conflict):  # a signer learns the state: 409
        statements.approve(session=db.session, actor=people["head"], statement_id=statement.id, now=NOW + 4 * M)


def test_any_signer_may_send_it_back_and_the_signatures_are_cleared(db, world):
    incident, people = world
    statement = _draft(db, incident, people)
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    statements.send_back(
        session=db.session,
        actor=people["legal"],
        statement_id=statement.id,
        reason="Dasar hukum belum ada.",
        now=NOW + 8 * M,
    )
    db.session.commit()
    assert statement.state == "returned" and statement.awaiting_role is None
    assert statement.current_signatures == [] and statement.signatures[0].cleared_at == NOW + 8 * M
    assert _events(db, incident, "statement.returned")[-1].data["signatures_cleared"] == 1
    statements.edit(
        session=db.session,
        actor=people["officer"],
        statement_id=statement.id,
        title="Klarifikasi antrean layanan",
        body="Berdasarkan Perwal ...",
        now=NOW + 20 * M,
    )
    db.session.commit()
    assert _states(statement) == [("supervisor", "waiting"), ("legal", "to_come"), ("leader", "to_come")]


def test_editing_a_draft_after_a_signature_starts_the_chain_again(db, world):
    incident, people = world
    statement = _draft(db, incident, people)
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    statements.edit(
        session=db.session,
        actor=people["officer"],
        statement_id=statement.id,
        title="Klarifikasi antrean layanan (revisi)",
        body="Teks baru",
        now=NOW + 6 * M,
    )
    db.session.commit()
    assert statement.awaiting_role == "supervisor" and statement.current_signatures == []


def test_raising_the_severity_adds_steps_but_an_approved_statement_stays_approved(db, org, world):
    incident, people = world
    head = people["head"]
    incidents.change_severity(
        session=db.session, actor=head, incident_id=incident.id, severity=3, reason="Mereda", now=NOW + M
    )
    db.session.commit()
    holding = _draft(db, incident, people, kind="holding", at=NOW + 2 * M)
    assert _states(holding) == [("supervisor", "waiting"), ("legal", "not_needed"), ("leader", "not_needed")]
    _sign(db, holding, people["supervisor"], NOW + 3 * M)
    assert holding.state == "approved"
    release = _draft(db, incident, people, at=NOW + 4 * M)
    _sign(db, release, people["supervisor"], NOW + 5 * M)
    assert release.awaiting_role == "legal"
    incidents.change_severity(
        session=db.session, actor=head, incident_id=incident.id, severity=4, reason="Viral nasional", now=NOW + 6 * M
    )
    db.session.commit()
    assert holding.state == "approved"
    kept = _events(db, incident, "statement.approval_kept")
    assert [(e.data["statement_id"], e.data["roles"]) for e in kept] == [(holding.id, ["leader"])]
    _sign(db, release, people["legal"], NOW + 7 * M)
    assert release.state == "draft" and release.awaiting_role == "leader"


def test_lowering_the_severity_approves_a_statement_whose_signatures_are_all_it_needs(db, world):
    incident, people = world
    statement = _draft(db, incident, people)
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    _sign(db, statement, people["legal"], NOW + 6 * M)
    incidents.change_severity(
        session=db.session, actor=people["head"], incident_id=incident.id, severity=3, reason="Mereda", now=NOW + 7 * M
    )
    db.session.commit()
    assert statement.state == "approved" and statement.approved_at == NOW + 7 * M
    assert _events(db, incident, "statement.approved")[-1].data["by_severity"] == 3


def test_the_people_who_sign_the_next_step_are_told_and_find_it_waiting_for_them(db, org, world):
    incident, people = world
    statement = _draft(db, incident, people)

    def told(person):
        return db.session.scalar(
            select(Notice).where(
                Notice.recipient_user_id == person.id, Notice.payload["statement_id"].as_integer() == statement.id
            )
        )

    def waits_for(person):
        rows = waiting.collect(session=db.session, user=person, now=NOW + 30 * M).statements
        return [row.subject.id for row in rows if row.kind == "statement"]

    assert told(people["supervisor"]) is not None and told(people["legal"]) is None
    assert waits_for(people["supervisor"]) == [statement.id] and waits_for(people["legal"]) == []
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    assert told(people["legal"]) is not None and told(people["legal"]).payload["step_role"] == "legal"
    assert waits_for(people["legal"]) == [statement.id]
    assert waits_for(people["supervisor"]) == [] and waits_for(people["leader"]) == []
    _sign(db, statement, people["legal"], NOW + 6 * M)
    assert waits_for(people["leader"]) == [statement.id] and waits_for(people["governor"]) == []
    assert told(people["governor"]) is None


def test_a_step_nobody_can_sign_is_said_with_what_an_administrator_does(db, world):
    incident, people = world
    statement = _draft(db, incident, people)
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    _sign(db, statement, people["legal"], NOW + 6 * M)
    assert statements.nobody_to_sign(session=db.session, statement=statement) is None
    db.session.delete(people["leader"].memberships[0])
    db.session.commit()
    db.session.expire_all()
    sentence = statements.nobody_to_sign(session=db.session, statement=statement)
    assert "Tidak ada yang dapat menandatangani" in sentence and "Diskominfo Kota Semarang" in sentence
    assert "Pengguna" in sentence


def test_publishing_waits_for_a_spokesperson_at_severity_4(db, org, world):
    incident, people = world
    statement = _draft(db, incident, people, kind="holding")
    _sign(db, statement, people["supervisor"], NOW + 2 * M)
    _sign(db, statement, people["leader"], NOW + 3 * M)
    with pytest.raises(Conflict):  # no spokesperson yet
        statements.publish(
            session=db.session, actor=people["officer"], statement_id=statement.id, channel="website", now=NOW + 4 * M
        )
    db.session.rollback()
    with pytest.raises(NotPermitted):  # an officer does not designate the spokesperson
        statements.designate_spokesperson(
            session=db.session, actor=people["officer"], incident_id=incident.id, spokesperson_id=people["head"].id
        )
    db.session.rollback()
    outsider = org["users"][("SULSEL", "head")]
    with pytest.raises(ValidationFailed) as refused:
        statements.designate_spokesperson(
            session=db.session, actor=people["head"], incident_id=incident.id, spokesperson_id=outsider.id
        )
    assert "spokesperson_id" in refused.value.errors
    db.session.rollback()
    statements.designate_spokesperson(
        session=db.session,
        actor=people["supervisor"],
        incident_id=incident.id,
        spokesperson_id=people["head"].id,
        now=NOW + 5 * M,
    )
    db.session.commit()
    assert incident.spokesperson_id == people["head"].id
    assert _events(db, incident, "incident.spokesperson")[-1].data == {"before": None, "after": people["head"].id}
    statements.publish(
        session=db.session, actor=people["officer"], statement_id=statement.id, channel="website", now=NOW + 6 * M
    )
    db.session.commit()
    assert statement.state == "published"


def test_without_approval_settings_one_supervisor_approves_as_before(db, org):
    # The library's SOPs all have a chain now: an SOP written before chains existed (the fixture).
    fixture = FIXTURE.with_name("single-approval.yaml")
    playbooks.publish(session=db.session, actor=None, text=fixture.read_text(), filename=fixture.name)
    issue = log_issue(db.session, org, now=NOW)
    incident = escalate(db.session, org, issue, now=NOW, playbook="single-approval", severity=4)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    statement = statements.draft(
        session=db.session, actor=officer, incident_id=incident.id, kind="press_release", title="T", body="B", now=NOW
    )
    assert [(s.role, s.state) for s in statements.chain(statement)] == [("supervisor", "waiting")]
    statements.approve(
        session=db.session, actor=org["users"][("JATENG", "head")], statement_id=statement.id, now=NOW + M
    )
    assert statement.state == "approved" and not _events(db, incident, "statement.signed")
    # Publishing needs no spokesperson: the SOP does not ask for one.
    statements.publish(session=db.session, actor=officer, statement_id=statement.id, channel="website", now=NOW + 2 * M)
    assert statement.state == "published"


# --- the page and the API -----------------------------------------------------------------------------


def test_the_statement_page_shows_the_chain_with_who_signed_when(db, org, world, login_as):
    incident, people = world
    statement = _draft(db, incident, people)
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    client = login_as("supervisor", "KOTA-SEMARANG")
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    article = page[page.index(f'id="statement-{statement.id}"') :]
    # Ratna Sari signed at NOW + 5 minutes, shown in WIB; the legal review waits.
    signed_at = (NOW + 5 * M).astimezone(ZoneInfo("Asia/Jakarta")).strftime("%H.%M")
    assert "Ratna Sari" in article and f"{signed_at} WIB" in article
    assert "Penelaah hukum" in article and "Menunggu tanda tangan" in article
    # She signed: no button to sign again, but she may still send it back.
    own = article.split("</article>")[0]
    assert f"/statements/{statement.id}/approve" not in own and f"/statements/{statement.id}/return" in own


def test_the_page_says_who_must_be_added_when_nobody_can_sign(db, org, world, login_as):
    incident, people = world
    statement = _draft(db, incident, people, kind="holding")
    _sign(db, statement, people["supervisor"], NOW + 5 * M)
    db.session.delete(people["leader"].memberships[0])
    db.session.commit()
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Tidak ada yang dapat menandatangani langkah berikutnya" in page


def test_the_api_shows_the_chain_and_signs_the_current_step(db, org, world, client, token_for):
    incident, people = world
    statement = _draft(db, incident, people)
    response = client.post(
        f"/api/v1/statements/{statement.id}/approve", json={}, headers=token_for("supervisor", "KOTA-SEMARANG")
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "draft" and body["awaiting_role"] == "legal"
    first = body["approval"][0]
    assert (first["role"], first["state"], first["signed_by_name"]) == ("supervisor", "signed", "Ratna Sari")
    assert first["signed_at"].endswith("+00:00")
    assert [step["state"] for step in body["approval"]] == ["signed", "waiting", "to_come"]
    # The same supervisor again: refused, and nothing changes.
    again = client.post(
        f"/api/v1/statements/{statement.id}/approve", json={}, headers=token_for("supervisor", "KOTA-SEMARANG")
    )
    assert again.status_code == 403
    detail = client.get(f"/api/v1/incidents/{incident.id}", headers=token_for("head", "KOTA-SEMARANG")).get_json()
    assert detail["spokesperson_id"] is None and detail["emergency_status"] == "none"
    assert detail["statements"][0]["approval"][1]["state"] == "waiting"


def test_the_commander_designates_the_spokesperson_on_the_incident_page(db, org, world, login_as):
    from tests.conftest import form_post

    incident, people = world
    client = login_as("head", "KOTA-SEMARANG")  # the commander
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Juru bicara" in page and "belum ada; wajib pada keparahan ini sebelum penerbitan" in page
    response = form_post(
        client,
        f"/incidents/{incident.id}/spokesperson",
        {"spokesperson_id": people["supervisor"].id, "version": incident.version},
        page=f"/incidents/{incident.id}",
    )
    assert response.status_code == 302
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Ratna Sari ditunjuk sebagai juru bicara." in page
    assert "belum ada; wajib" not in page
    # An officer is offered no form to change it (the service refuses one: see above).
    assert not statements.can_designate_spokesperson(session=db.session, user=people["officer"], incident=incident)


def test_the_spokesperson_is_on_the_publication_and_in_the_review(db, org, world, login_as):
    from crisis.reviews import exports
    from crisis.reviews import service as reviews
    from crisis.reviews.models import Review
    from tests.factories import run_through

    incident, people = world
    statements.designate_spokesperson(
        session=db.session, actor=people["head"], incident_id=incident.id, spokesperson_id=people["head"].id, now=NOW
    )
    statement = _draft(db, incident, people, kind="holding")
    _sign(db, statement, people["supervisor"], NOW + 2 * M)
    _sign(db, statement, people["leader"], NOW + 3 * M)
    publication = statements.publish(
        session=db.session, actor=people["officer"], statement_id=statement.id, channel="website", now=NOW + 4 * M
    )
    db.session.commit()
    assert publication.spokesperson_id == people["head"].id
    page = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "juru bicara Joko Santoso" in page
    run_through(db.session, people["head"], incident, now=NOW + 10 * M)
    incidents.resolve(session=db.session, actor=people["head"], incident_id=incident.id, now=NOW + 20 * M)
    db.session.commit()
    review = db.session.scalars(select(Review).where(Review.incident_id == incident.id)).one()
    doc = reviews.document(session=db.session, review=review)
    markdown = exports.render_markdown(doc, lang="id", zone="Asia/Jakarta")
    assert "- **Juru bicara:** Joko Santoso" in markdown
    assert "Ditandatangani oleh Ratna Sari (Supervisor atau kepala unit," in markdown
    assert f"{people['leader'].name} (Pimpinan instansi atau yang mewakili," in markdown
    html = exports.render_html(doc, lang="id", zone="Asia/Jakarta", for_pdf=True)
    assert "Juru bicara saat penerbitan: Joko Santoso" in html
    data = exports.as_dict(doc, lang="en")
    assert data["incident"]["spokesperson"] == "Joko Santoso"
    assert [s["role"] for s in data["statements"][0]["signatures"]] == ["supervisor", "leader"]
