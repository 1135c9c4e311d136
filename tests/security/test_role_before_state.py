"""The role is asked before the state (issue 17): a person whose role does not allow an action gets
403 whatever state the record is in, so they never learn the state from a 409 or a 422.

A Kota Semarang world with records in every state a person can reach (issues new, monitored,
escalated, dismissed and merged; incidents active, resolved, closed and cancelled, each with
stages, checklist items and statements in each of their states; reviews draft, submitted and
approved; action items; notices). Actors of Jawa Tengah, the province above, see all of it; each
state-changing route is sent by every one of them whose role lacks the right, on every record in
every state, through the API and through the pages."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from crisis.auth import service as people
from crisis.escalation.acknowledgement import acknowledge
from crisis.escalation.models import Timer
from crisis.incidents import service as incidents
from crisis.incidents import statements
from crisis.issues import service as issues
from crisis.notify.models import Notice
from crisis.reviews import service as reviews
from tests import factories
from tests.conftest import FIXED_NOW, csrf_token, sign_in

NOW = FIXED_NOW
M = timedelta(minutes=1)
OWNER, INVOLVED = "KOTA-SEMARANG", "KAB-BANYUMAS"
PASSWORD = "Kata-sandi-panjang-2026"

# Who lacks the right, among the roles of Jawa Tengah (the unit above the owner).
ACT = {"observer"}
LEAD = {"observer", "officer"}
APPROVE_STATEMENT = {"observer", "officer", "admin"}
HEAD_ONLY = {"observer", "officer", "supervisor", "admin"}
ROLES = ("observer", "officer", "supervisor", "head", "admin")


@dataclass(frozen=True)
class Route:
    kind: str  # the record it addresses: issue, incident, run, entry, statement, review, item, notice
    denied: set[str]
    api: tuple[str, str, Any]  # method, path, JSON body (or a function of the ids)
    page: tuple[str, Any] | None = None  # path, form

    def body(self, ids: dict[str, Any], page: bool = False) -> Any:
        body = self.page[1] if page else self.api[2]
        return body(ids) if callable(body) else body


ROUTES = [
    # issues
    Route(
        "issue",
        ACT,
        ("PATCH", "/api/v1/issues/{issue}", lambda ids: {"version": ids["issue_version"], "title": "Judul diperbaiki"}),
        (
            "/issues/{issue}/edit",
            lambda ids: {
                "title": "Judul diperbaiki",
                "channel": "x",
                "category": "hoax",
                "first_seen_at": "2026-01-01T09:00",
                "sentiment": "negative",
                "version": ids["issue_version"],
            },
        ),
    ),
    Route("issue", ACT, ("POST", "/api/v1/issues/{issue}/monitor", {}), ("/issues/{issue}/monitor", {})),
    Route(
        "issue",
        ACT,
        ("POST", "/api/v1/issues/{issue}/notes", {"body": "Tayangan naik."}),
        ("/issues/{issue}/notes", {"body": "Tayangan naik."}),
    ),
    Route(
        "issue",
        ACT,
        ("POST", "/api/v1/issues/{issue}/evidence", {"url": "https://example.com/bukti-baru"}),
        ("/issues/{issue}/evidence", {"url": "https://example.com/bukti-baru"}),
    ),
    Route(
        "issue",
        ACT,
        ("POST", "/api/v1/issues/{issue}/merge", lambda ids: {"target_id": ids["open_issue"]}),
        ("/issues/{issue}/merge", lambda ids: {"target_id": str(ids["open_issue"])}),
    ),
    Route(
        "issue",
        ACT,
        (
            "POST",
            "/api/v1/issues/{issue}/escalate",
            lambda ids: {"playbook_key": "hoax-clarification", "severity": 3, "commander_id": ids["head"]},
        ),
        (
            "/issues/{issue}/escalate",
            lambda ids: {"playbook_key": "hoax-clarification", "severity": "3", "commander_id": str(ids["head"])},
        ),
    ),
    Route(
        "issue",
        ACT,
        ("POST", "/api/v1/issues/{issue}/dismiss", {"reason": "Bukan isu kami."}),
        ("/issues/{issue}/dismiss", {"reason": "Bukan isu kami."}),
    ),
    # incidents
    Route(
        "incident",
        ACT,
        ("POST", "/api/v1/incidents/{incident}/comments", {"body": "Cek."}),
        ("/incidents/{incident}/comment", {"body": "Cek."}),
    ),
    Route(
        "incident",
        ACT,
        ("POST", "/api/v1/incidents/{incident}/statements", {"kind": "holding", "title": "Awal", "body": "Isi."}),
        ("/incidents/{incident}/statements", {"kind": "holding", "title": "Awal", "body": "Isi."}),
    ),
    Route(
        "incident",
        LEAD,
        ("POST", "/api/v1/incidents/{incident}/severity", {"severity": 2, "reason": "Melambat."}),
        ("/incidents/{incident}/severity", {"severity": "2", "reason": "Melambat."}),
    ),
    Route(
        "incident",
        LEAD,
        ("POST", "/api/v1/incidents/{incident}/involved", lambda ids: {"unit_id": ids["other_unit"]}),
        ("/incidents/{incident}/involve", lambda ids: {"unit_id": str(ids["other_unit"])}),
    ),
    Route(
        "incident",
        LEAD,
        ("DELETE", "/api/v1/incidents/{incident}/involved/{involved_unit}", None),
        ("/incidents/{incident}/release", lambda ids: {"unit_id": str(ids["involved_unit"])}),
    ),
    Route(
        "incident",
        LEAD,
        ("POST", "/api/v1/incidents/{incident}/resolve", {}),
        ("/incidents/{incident}/resolve", {}),
    ),
    Route(
        "incident",
        LEAD,
        ("POST", "/api/v1/incidents/{incident}/handover", {"to": "parent"}),
        ("/incidents/{incident}/handover", {"to": "parent"}),
    ),
    Route(
        "incident",
        LEAD,
        ("POST", "/api/v1/incidents/{incident}/cancel", {"reason": "Alarm palsu."}),
        ("/incidents/{incident}/cancel", {"reason": "Alarm palsu."}),
    ),
    Route(
        "run",
        ACT,
        ("POST", "/api/v1/incidents/{incident}/stages/{run}/complete", None),
        ("/incidents/{incident}/stages/{run}/complete", {}),
    ),
    # checklist items
    Route(
        "entry",
        ACT,
        ("POST", "/api/v1/checklist/{entry}/tick", {"evidence_url": "https://example.com/bukti"}),
        ("/incidents/{incident}/entries/{entry}/tick", {"evidence_url": "https://example.com/bukti"}),
    ),
    Route(
        "entry",
        ACT,
        ("POST", "/api/v1/checklist/{entry}/untick", None),
        ("/incidents/{incident}/entries/{entry}/untick", {}),
    ),
    Route(
        "entry",
        ACT,
        ("PATCH", "/api/v1/checklist/{entry}", {"note": "Sudah dicek."}),
        ("/incidents/{incident}/entries/{entry}/note", {"note": "Sudah dicek."}),
    ),
    Route(
        "entry",
        ACT,
        ("PATCH", "/api/v1/checklist/{entry}", lambda ids: {"assignee_id": ids["officer"]}),
        ("/incidents/{incident}/entries/{entry}/assign", lambda ids: {"assignee_id": str(ids["officer"])}),
    ),
    Route(
        "entry",
        LEAD,
        ("POST", "/api/v1/checklist/{entry}/waive", {"reason": "Tidak relevan."}),
        ("/incidents/{incident}/entries/{entry}/waive", {"reason": "Tidak relevan."}),
    ),
    # statements
    Route(
        "statement",
        ACT,
        ("PATCH", "/api/v1/statements/{statement}", {"title": "Awal", "body": "Teks baru."}),
        ("/incidents/{incident}/statements/{statement}/edit", {"title": "Awal", "body": "Teks baru."}),
    ),
    Route(
        "statement",
        APPROVE_STATEMENT,
        ("POST", "/api/v1/statements/{statement}/approve", {}),
        ("/incidents/{incident}/statements/{statement}/approve", {}),
    ),
    Route(
        "statement",
        ACT,
        ("POST", "/api/v1/statements/{statement}/publish", {"channel": "website", "url": "https://example.go.id/a"}),
        ("/incidents/{incident}/statements/{statement}/publish", {"channel": "website", "url": "https://x.go.id/a"}),
    ),
    Route(
        "statement",
        ACT,
        (
            "POST",
            "/api/v1/statements/{statement}/shared-publications",
            lambda ids: {"unit_id": ids["involved_unit"], "channel": "instagram", "url": "https://instagram.com/p/a"},
        ),
        (
            "/incidents/{incident}/statements/{statement}/share",
            lambda ids: {
                "unit_id": str(ids["involved_unit"]),
                "channel": "instagram",
                "url": "https://instagram.com/p",
            },
        ),
    ),
    # reviews and their action items
    Route(
        "review",
        ACT,
        ("PATCH", "/api/v1/reviews/{review}", {"summary": "Ringkas."}),
        ("/reviews/{review}/edit", {"summary": "Ringkas.", "went_well": "Cepat.", "to_improve": "Koordinasi."}),
    ),
    Route(
        "review",
        ACT,
        (
            "POST",
            "/api/v1/reviews/{review}/action-items",
            lambda ids: {"title": "Perbarui FAQ", "owner_id": ids["officer"], "due_on": ids["later"]},
        ),
        (
            "/reviews/{review}/actions",
            lambda ids: {"title": "Perbarui FAQ", "owner_id": str(ids["officer"]), "due_on": ids["later"]},
        ),
    ),
    Route("review", ACT, ("POST", "/api/v1/reviews/{review}/submit", {}), ("/reviews/{review}/submit", {})),
    Route(
        "review",
        HEAD_ONLY,
        ("POST", "/api/v1/reviews/{review}/return", {"reason": "Lengkapi."}),
        ("/reviews/{review}/return", {"reason": "Lengkapi."}),
    ),
    Route("review", HEAD_ONLY, ("POST", "/api/v1/reviews/{review}/approve", {}), ("/reviews/{review}/approve", {})),
    Route(
        "item",
        ACT,
        ("PATCH", "/api/v1/action-items/{item}", {"status": "dropped"}),
        ("/action-items/{item}/status", {"status": "dropped"}),
    ),
    # the deadline engine
    Route("notice", ACT, ("POST", "/api/v1/notices/{notice}/ack", None), ("/inbox/{notice}/ack", {})),
]


# --- the records in every state -------------------------------------------------------------------


class Builder:
    def __init__(self, session: Any, org: dict[str, Any]) -> None:
        self.session, self.org = session, org
        self.officer, self.head = org["users"][(OWNER, "officer")], org["users"][(OWNER, "head")]
        self.counter = itertools.count(1)
        self.records: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def add(self, kind: str, state: str, **ids: Any) -> None:
        self.records.setdefault(kind, []).append((state, ids))

    def issue(self, title: str) -> Any:
        return factories.log_issue(
            self.session,
            self.org,
            now=NOW,
            unit=OWNER,
            title=f"{title} {next(self.counter)}",
            evidence_urls=[f"https://example.com/negara/{next(self.counter)}"],
        )

    def issues(self) -> None:
        fresh = self.issue("Hoaks bansos")
        monitored = self.issue("Video antrean")
        issues.start_monitoring(session=self.session, actor=self.officer, issue_id=monitored.id, now=NOW)
        dismissed = self.issue("Keluhan lama")
        issues.dismiss(session=self.session, actor=self.officer, issue_id=dismissed.id, reason="Bukan isu.", now=NOW)
        merged = self.issue("Hoaks bansos lagi")
        issues.merge(session=self.session, actor=self.officer, source_id=merged.id, target_id=fresh.id, now=NOW)
        escalated = self.issue("Air PDAM tercemar")
        factories.escalate(self.session, self.org, escalated, now=NOW)
        for state, issue in (
            ("new", fresh),
            ("monitoring", monitored),
            ("dismissed", dismissed),
            ("merged", merged),
            ("escalated", escalated),
        ):
            self.add("issue", state, issue=issue.id, issue_version=issue.version, open_issue=monitored.id)

    def incident(self, state: str) -> Any:
        incident = factories.escalate(self.session, self.org, self.issue(f"Insiden {state}"), now=NOW)
        incidents.involve_unit(
            session=self.session, actor=self.head, incident_id=incident.id, unit_id=self.unit(INVOLVED), now=NOW
        )
        # The first stage completed, the second running with an item done, one waived and the rest open.
        first, second = incident.stage_runs[0], incident.stage_runs[1]
        factories.close_required(self.session, self.officer, first, now=NOW + M)
        incidents.complete_stage(session=self.session, actor=self.officer, stage_run_id=first.id, now=NOW + M)
        done, waived = second.entries[0], second.entries[1]
        incidents.tick(
            session=self.session,
            actor=self.officer,
            entry_id=done.id,
            evidence_url="https://example.com/bukti",
            now=NOW + 2 * M,
        )
        incidents.waive(
            session=self.session, actor=self.head, entry_id=waived.id, reason="Tidak perlu.", now=NOW + 2 * M
        )
        # Each kind of statement that matters, in each of its states.
        written = []
        for kind, goal in (
            ("holding", "draft"),
            ("holding", "approved"),
            ("key_messages", "draft"),
            ("key_messages", "approved"),
            ("key_messages", "published"),
        ):
            statement = statements.draft(
                session=self.session,
                actor=self.officer,
                incident_id=incident.id,
                kind=kind,
                title=f"Pernyataan {kind}",
                body="Isi pernyataan.",
                now=NOW + 3 * M,
            )
            if goal != "draft":
                # Severity 3: the head signs first, then the rest of the SOP's chain (the institution head).
                factories.sign_through(self.session, statement, now=NOW + 4 * M, first=self.head)
            if goal == "published":
                factories.designate_spokesperson(self.session, incident, now=NOW + 4 * M, person=self.head)
                statements.publish(
                    session=self.session,
                    actor=self.officer,
                    statement_id=statement.id,
                    channel="website",
                    url="https://example.go.id/klarifikasi",
                    now=NOW + 5 * M,
                )
            written.append((f"{kind}:{goal}", statement))
        self.notices(incident)
        for stage_run in incident.stage_runs:
            for entry in stage_run.entries:
                entry_state = "waived" if entry.waived_at else "done" if entry.done_at else "open"
                self.add("entry", f"{state}/{stage_run.state}/{entry_state}", incident=incident.id, entry=entry.id)
            self.add("run", f"{state}/{stage_run.state}", incident=incident.id, run=stage_run.id)
        for label, statement in written:
            self.add("statement", f"{state}/{label}", incident=incident.id, statement=statement.id)
        return incident

    def notices(self, incident: Any) -> None:
        run = incident.current_stage
        for label in ("deadline", "acknowledged", "digest"):
            kind = "digest" if label == "digest" else "deadline"
            timer = Timer(
                incident_id=incident.id,
                stage_run_id=run.id,
                kind="escalation_step",
                step_index=0,
                fire_at=NOW + 30 * M,
                state="fired",
                fired_at=NOW + 30 * M,
            )
            self.session.add(timer)
            self.session.flush()
            notice = Notice(
                idempotency_key=f"role-before-state:{timer.id}",
                timer_id=timer.id,
                incident_id=incident.id,
                channel="inapp",
                kind=kind,
                recipient_user_id=self.head.id,
                payload={"kind": "escalation_step"},
                status="sent",
                attempts=1,
                due_at=timer.fire_at,
                queued_at=timer.fire_at,
                next_attempt_at=timer.fire_at,
                sent_at=timer.fire_at,
            )
            self.session.add(notice)
            self.session.flush()
            if label == "acknowledged":
                acknowledge(session=self.session, notice_id=notice.id, actor=self.head, now=NOW + 31 * M)
            self.add("notice", label, incident=incident.id, notice=notice.id)

    def finish(self, incident: Any) -> None:
        factories.run_through(self.session, self.officer, incident, now=NOW + 6 * M)

    def review(self, incident: Any, state: str) -> Any:
        review = reviews.get_for_incident(session=self.session, user=self.head, incident_id=incident.id)
        for status in ("open", "done"):
            item = reviews.add_action_item(
                session=self.session,
                actor=self.head,
                review_id=review.id,
                title=f"Tindak lanjut {status}",
                owner_id=self.org["users"][(OWNER, "supervisor")].id,
                due_on=(NOW + timedelta(days=7)).date().isoformat(),
                now=NOW + 8 * M,
            )
            if status == "done":
                reviews.set_action_status(
                    session=self.session, actor=self.head, item_id=item.id, status="done", now=NOW + 8 * M
                )
            self.add("item", f"{state}/{status}", item=item.id, incident=incident.id)
        if state in ("submitted", "approved"):
            reviews.update(
                session=self.session,
                actor=self.head,
                review_id=review.id,
                summary="Ringkas.",
                went_well="Cepat.",
                to_improve="Koordinasi.",
                now=NOW + 9 * M,
            )
            reviews.submit(session=self.session, actor=self.head, review_id=review.id, now=NOW + 9 * M)
        if state == "approved":
            reviews.approve(
                session=self.session, actor=self.org["users"][("JATENG", "head")], review_id=review.id, now=NOW + 10 * M
            )
        self.add("review", state, review=review.id, incident=incident.id)
        return review

    def unit(self, code: str) -> int:
        return self.org["units"][code].id

    def build(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        self.issues()
        made = [self.incident("active"), self.incident("cancelled")]
        incidents.cancel(session=self.session, actor=self.head, incident_id=made[1].id, reason="Alarm.", now=NOW)
        for review_state in ("draft", "submitted", "approved"):
            resolved = self.incident(f"resolved/{review_state}")
            self.finish(resolved)
            incidents.resolve(session=self.session, actor=self.head, incident_id=resolved.id, now=NOW + 7 * M)
            self.review(resolved, review_state)
            made.append(resolved)
        for incident in made:
            self.add("incident", incident.state, incident=incident.id)
        self.session.commit()
        return self.records


@pytest.fixture
def world(app, db, org, client):  # client: every test client gets its own app context per request
    app.extensions["clock"] = lambda: NOW
    observer = people.create_user(
        session=db.session,
        actor=None,
        email="pemantau.jateng@demo.example",
        name="Pemantau Jateng",
        password=PASSWORD,
        unit_id=org["units"]["JATENG"].id,
        role="observer",
    )
    org["users"][("JATENG", "observer")] = observer
    db.session.commit()
    records = Builder(db.session, org).build()
    yield records
    app.extensions.pop("clock", None)


def _shared_ids(org: dict[str, Any]) -> dict[str, Any]:
    return {
        "head": org["users"][(OWNER, "head")].id,
        "officer": org["users"][(OWNER, "officer")].id,
        "involved_unit": org["units"][INVOLVED].id,
        "other_unit": org["units"]["KAB-JAYAPURA"].id,
        "later": (NOW + timedelta(days=14)).date().isoformat(),
    }


def _states_covered(world: dict[str, Any]) -> dict[str, set[str]]:
    return {kind: {state for state, _ids in rows} for kind, rows in world.items()}


def test_the_world_has_records_in_every_state(world):
    states = _states_covered(world)
    assert states["issue"] == {"new", "monitoring", "escalated", "dismissed", "merged"}
    assert states["incident"] == {"active", "cancelled", "resolved", "closed"}
    assert {s.split("/")[0] for s in states["entry"]} == {"active", "cancelled", "resolved"}
    assert {s.rsplit("/", 1)[1] for s in states["entry"]} == {"open", "done", "waived"}
    assert {s.rsplit("/", 1)[1] for s in states["run"]} >= {"active", "completed", "pending"}
    assert {s.rsplit("/", 1)[1] for s in states["statement"]} == {
        "holding:draft",
        "holding:approved",
        "key_messages:draft",
        "key_messages:approved",
        "key_messages:published",
    }
    assert states["review"] == {"draft", "submitted", "approved"}
    assert states["notice"] == {"deadline", "acknowledged", "digest"}


def _send(client: Any, route: Route, ids: dict[str, Any], *, page: bool, headers: dict[str, str], csrf: str) -> Any:
    if page:
        assert route.page is not None
        return client.post(route.page[0].format(**ids), data={**route.body(ids, page=True), "csrf_token": csrf})
    method, path, _body = route.api
    body = route.body(ids)
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return client.open(path.format(**ids), method=method, **kwargs)


def _walk(app: Any, org: dict[str, Any], world: dict[str, Any], *, page: bool) -> tuple[int, list[str]]:
    shared = _shared_ids(org)
    sent, wrong = 0, []
    for role in ROLES:
        user = org["users"][("JATENG", role)]
        client = app.test_client()
        headers: dict[str, str] = {}
        csrf = ""
        if page:
            password = PASSWORD if role == "observer" else None
            response = sign_in(client, user.email, password) if password else sign_in(client, user.email)
            assert response.status_code == 302, role
            csrf = csrf_token(client, "/account/password")
        else:
            _row, plaintext = people.create_token(session=world_session(app), user=user, name="matriks-status")
            world_session(app).commit()
            headers = {"Authorization": f"Bearer {plaintext}"}
        for route in ROUTES:
            if role not in route.denied or (page and route.page is None):
                continue
            for state, record in world[route.kind]:
                ids = {**shared, **record}
                sent += 1
                response = _send(client, route, ids, page=page, headers=headers, csrf=csrf)
                if response.status_code != 403:
                    where = route.page[0] if page else " ".join(route.api[:2])
                    text = response.get_data(as_text=True)
                    wrong.append(f"{role} {where} on {route.kind} {state}: {response.status_code} {text[:160]!r}")
    return sent, wrong


def world_session(app: Any) -> Any:
    from crisis.extensions import db

    return db.session


def test_every_api_change_answers_403_to_a_role_without_the_right_whatever_the_state(app, db, org, world):
    sent, wrong = _walk(app, org, world, page=False)
    assert sent > 500
    assert wrong == [], f"{len(wrong)} of {sent}:\n" + "\n".join(wrong)


def test_every_page_action_answers_403_to_a_role_without_the_right_whatever_the_state(app, db, org, world):
    sent, wrong = _walk(app, org, world, page=True)
    assert sent > 500
    assert wrong == [], f"{len(wrong)} of {sent}:\n" + "\n".join(wrong)


def test_an_observer_publishing_shared_key_messages_of_a_draft_learns_nothing_of_its_state(client, org, world):
    """The finding as reported: the observer got 409 (not approved yet) instead of 403."""
    _row, plaintext = people.create_token(
        session=world_session(client.application), user=org["users"][("JATENG", "observer")], name="probe"
    )
    world_session(client.application).commit()
    draft = next(ids for state, ids in world["statement"] if state == "active/key_messages:draft")
    response = client.post(
        f"/api/v1/statements/{draft['statement']}/shared-publications",
        json={"unit_id": org["units"][INVOLVED].id, "channel": "instagram"},
        headers={"Authorization": f"Bearer {plaintext}"},
    )
    assert response.status_code == 403, response.get_json()
    assert response.mimetype == "application/problem+json"


def test_an_administrator_of_another_part_learns_nothing_of_its_people_or_units(client, org, token_for):
    """Jawa Tengah's administrator adding people in Sulawesi Selatan: 403 whether or not the e-mail
    address is taken there (it was 422 "already exists" before the role was asked)."""
    headers = token_for("admin", "JATENG")
    sulsel = org["units"]["SULSEL"].id
    for email in (org["users"][("SULSEL", "officer")].email, "baru@demo.example"):
        body = {"email": email, "name": "Orang", "password": PASSWORD, "unit_id": sulsel, "role": "officer"}
        response = client.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == 403, response.get_json()
    # Someone of Jawa Tengah (in the administrator's sight) given a role in Sulawesi Selatan.
    officer = org["users"][("JATENG", "officer")]
    response = client.post(
        f"/api/v1/users/{officer.id}/memberships", json={"unit_id": sulsel, "role": "officer"}, headers=headers
    )
    assert response.status_code == 403, response.get_json()
