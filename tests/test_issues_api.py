"""Monitoring tools and other desks use issues over JSON: scoped, versioned, idempotent, problem+json."""

from __future__ import annotations

import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from crisis.idempotency import IdempotencyRecord
from crisis.issues.models import Issue
from tests.conftest import FIXED_NOW

NOW = FIXED_NOW
WIB = ZoneInfo("Asia/Jakarta")
SEEN = NOW - timedelta(hours=2)  # when the monitoring tool first saw the post


def in_wib(moment):
    """A moment as a tool in Java sends it: ISO 8601 with +07:00."""
    return moment.astimezone(WIB).isoformat()


@pytest.fixture(autouse=True)
def frozen_clock(clock):
    clock.now = NOW


def body(**overrides):
    payload = {
        "title": "Hoaks bansos Rp 3 juta beredar di WhatsApp",
        "description": "Pesan berantai meminta warga mengisi data KTP.",
        "channel": "x",
        "category": "hoax",
        "first_seen_at": in_wib(SEEN),  # two hours before NOW
        "reach": 50_000,
        "engagement": 5_000,
        "sentiment": "negative",
        "mainstream_pickup": False,
        "evidence_urls": ["https://x.com/warga/status/1"],
    }
    payload.update(overrides)
    return payload


def problem(response, status, *fields):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    payload = response.get_json()
    for field in fields:
        assert field in payload.get("errors", {}), payload
    return payload


@pytest.fixture
def semarang(client, org, token_for):
    """Headers of the Kota Semarang duty officer and a way to log an issue there."""
    headers = token_for("officer", "KOTA-SEMARANG")

    def post(**overrides):
        response = client.post(
            "/api/v1/issues", json=body(unit_id=org["units"]["KOTA-SEMARANG"].id, **overrides), headers=headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    post.headers = headers
    return post


def test_tool_logs_an_issue_and_sees_the_factors_behind_its_score(client, org, token_for, db):
    headers = {**token_for("officer", "KOTA-SEMARANG"), "Accept-Language": "en"}
    response = client.post("/api/v1/issues", json=body(unit_id=org["units"]["KOTA-SEMARANG"].id), headers=headers)
    assert response.status_code == 201, response.get_json()
    issue = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/issues/{issue['id']}")
    assert (issue["state"], issue["version"], issue["unit_code"]) == ("new", 1, "KOTA-SEMARANG")
    assert (issue["risk_score"], issue["suggested_severity"]) == (71, 3)
    factors = {f["key"]: f for f in issue["risk_factors"]}
    assert sum(f["points"] for f in factors.values()) == issue["risk_score"]
    assert "50,000" in factors["reach"]["explanation"]
    assert factors["velocity"]["inputs"] == {"engagement": 5000, "hours": 2.0, "per_hour": 2500.0}
    assert issue["first_seen_at"] == SEEN.isoformat() and SEEN.isoformat().endswith("+00:00")
    assert issue["created_at"] == NOW.isoformat()
    assert [e["url"] for e in issue["evidence"]] == ["https://x.com/warga/status/1"]
    assert issue["duplicates"] == []


def test_explanations_follow_the_request_language(client, semarang):
    issue = semarang()
    response = client.get(f"/api/v1/issues/{issue['id']}", headers={**semarang.headers, "Accept-Language": "id"})
    reach = next(f for f in response.get_json()["risk_factors"] if f["key"] == "reach")
    assert "50.000" in reach["explanation"]


def test_duplicates_are_offered_in_the_answer(client, semarang):
    first = semarang()
    second = semarang(title="Bansos Rp 3 juta: hoaks di WA", evidence_urls=["http://twitter.com/warga/status/1/"])
    assert [d["id"] for d in second["duplicates"]] == [first["id"]]


def test_unit_defaults_to_the_officers_own(client, org, token_for):
    response = client.post("/api/v1/issues", json=body(), headers=token_for("officer", "KAB-GOWA"))
    assert response.status_code == 201
    assert response.get_json()["unit_code"] == "KAB-GOWA"


def test_bad_fields_are_each_named_and_nothing_is_written(client, org, token_for, db):
    headers = token_for("officer", "KOTA-SEMARANG")
    response = client.post(
        "/api/v1/issues",
        json=body(
            title="x",
            channel="telegram",
            category="gosip",
            sentiment="marah",
            reach=-1,
            engagement=9_000_000_000,
            first_seen_at=in_wib(SEEN + timedelta(days=1)),  # tomorrow: in the future
            evidence_urls=["javascript:alert(1)"],
        ),
        headers=headers,
    )
    problem(
        response,
        422,
        "title",
        "channel",
        "category",
        "sentiment",
        "reach",
        "engagement",
        "first_seen_at",
        "evidence_urls",
    )
    assert db.session.query(Issue).count() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"first_seen_at": SEEN.astimezone(WIB).replace(tzinfo=None).isoformat()}, "first_seen_at"),  # no zone
        ({"reach": "banyak"}, "reach"),
        ({"evidence_urls": "https://x.com/a"}, "evidence_urls"),  # not a list
        ({"colour": "red"}, "colour"),
        ({"title": None}, "title"),
    ],
)
def test_wrong_types_are_named(client, token_for, db, overrides, field):
    response = client.post("/api/v1/issues", json=body(**overrides), headers=token_for("officer", "KOTA-SEMARANG"))
    problem(response, 422, field)
    assert db.session.query(Issue).count() == 0


def test_missing_required_fields_are_named(client, token_for):
    response = client.post("/api/v1/issues", json={}, headers=token_for("officer", "KOTA-SEMARANG"))
    problem(response, 422, "title", "channel", "category")


def test_without_a_token_there_is_no_api(client):
    assert client.get("/api/v1/issues").status_code == 401
    assert client.post("/api/v1/issues", json=body()).status_code == 401


def test_observer_cannot_log_through_the_api(client, org, token_for, db):
    response = client.post(
        "/api/v1/issues", json=body(unit_id=org["units"]["PUSAT"].id), headers=token_for("observer", "PUSAT")
    )
    problem(response, 403)
    assert db.session.query(Issue).count() == 0


def test_sibling_regency_gets_404_everywhere(client, org, token_for, semarang):
    issue = semarang()
    stranger = token_for("officer", "KAB-BANYUMAS")
    base = f"/api/v1/issues/{issue['id']}"
    problem(client.get(base, headers=stranger), 404)
    problem(client.patch(base, json={"version": 1, "title": "Diambil alih"}, headers=stranger), 404)
    problem(client.post(f"{base}/notes", json={"body": "intip"}, headers=stranger), 404)
    problem(client.post(f"{base}/evidence", json={"url": "https://a.example/b"}, headers=stranger), 404)
    problem(client.post(f"{base}/monitor", json={}, headers=stranger), 404)
    problem(client.post(f"{base}/dismiss", json={"reason": "x"}, headers=stranger), 404)
    problem(client.post(f"{base}/merge", json={"target_id": issue["id"]}, headers=stranger), 404)
    logged_there = client.post("/api/v1/issues", json=body(unit_id=org["units"]["KOTA-SEMARANG"].id), headers=stranger)
    problem(logged_there, 404)
    assert client.get("/api/v1/issues", headers=stranger).get_json() == []


def test_province_sees_regency_issues_and_central_sees_all(client, org, token_for, semarang):
    issue = semarang()
    gowa = client.post("/api/v1/issues", json=body(title="Banjir Gowa"), headers=token_for("officer", "KAB-GOWA"))
    assert gowa.status_code == 201
    province = token_for("head", "JATENG")
    assert client.get(f"/api/v1/issues/{issue['id']}", headers=province).status_code == 200
    assert [i["id"] for i in client.get("/api/v1/issues", headers=province).get_json()] == [issue["id"]]
    central = client.get("/api/v1/issues", headers=token_for("observer", "PUSAT")).get_json()
    assert {i["id"] for i in central} == {issue["id"], gowa.get_json()["id"]}
    by_unit = client.get(f"/api/v1/issues?unit_id={org['units']['SULSEL'].id}", headers=token_for("observer", "PUSAT"))
    assert [i["id"] for i in by_unit.get_json()] == [gowa.get_json()["id"]]


def test_observer_reads_but_cannot_change(client, token_for, semarang):
    issue = semarang()
    observer = token_for("observer", "PUSAT")
    assert client.get(f"/api/v1/issues/{issue['id']}", headers=observer).status_code == 200
    problem(client.post(f"/api/v1/issues/{issue['id']}/monitor", json={}, headers=observer), 403)
    problem(client.patch(f"/api/v1/issues/{issue['id']}", json={"version": 1, "title": "Ganti"}, headers=observer), 403)


def test_list_filters(client, token_for, semarang):
    first = semarang(title="Banjir rob Tanjung Mas")
    semarang(title="Antrean RSUD")
    headers = semarang.headers
    assert [i["id"] for i in client.get("/api/v1/issues?q=banjir", headers=headers).get_json()] == [first["id"]]
    assert client.get("/api/v1/issues?state=dismissed", headers=headers).get_json() == []
    assert len(client.get("/api/v1/issues?state=open&limit=1", headers=headers).get_json()) == 1
    problem(client.get("/api/v1/issues?state=closed", headers=headers), 422, "state")


# --- transitions -------------------------------------------------------------------------------


def test_monitor_note_evidence_dismiss(client, semarang):
    issue = semarang()
    url, headers = f"/api/v1/issues/{issue['id']}", semarang.headers
    monitored = client.post(f"{url}/monitor", json={}, headers=headers)
    assert monitored.status_code == 200 and monitored.get_json()["state"] == "monitoring"
    noted = client.post(f"{url}/notes", json={"body": "Naik tajam.", "reach": 400_000}, headers=headers)
    assert noted.status_code == 201, noted.get_json()
    after = noted.get_json()
    assert after["reach"] == 400_000 and after["risk_score"] > issue["risk_score"]
    assert after["notes"][0]["body"] == "Naik tajam." and after["notes"][0]["created_at"].endswith("+00:00")
    added = client.post(
        f"{url}/evidence", json={"url": "https://news.example/bansos", "note": "Berita"}, headers=headers
    )
    assert added.status_code == 201 and len(added.get_json()["evidence"]) == 2
    problem(client.post(f"{url}/evidence", json={"url": "http://news.example/bansos/"}, headers=headers), 422, "url")
    problem(client.post(f"{url}/dismiss", json={}, headers=headers), 422, "reason")
    problem(client.post(f"{url}/dismiss", json={"reason": "  "}, headers=headers), 422, "reason")
    dismissed = client.post(f"{url}/dismiss", json={"reason": "Sudah diklarifikasi Kominfo."}, headers=headers)
    assert dismissed.status_code == 200
    assert (dismissed.get_json()["state"], dismissed.get_json()["state_reason"]) == (
        "dismissed",
        "Sudah diklarifikasi Kominfo.",
    )


def test_a_transition_the_state_does_not_allow_is_409_with_the_current_state(client, semarang):
    issue = semarang()
    url, headers = f"/api/v1/issues/{issue['id']}", semarang.headers
    assert client.post(f"{url}/monitor", json={}, headers=headers).status_code == 200
    again = problem(client.post(f"{url}/monitor", json={}, headers=headers), 409, "state")
    assert again["current"]["state"] == "monitoring" and again["current"]["version"] == 2
    client.post(f"{url}/dismiss", json={"reason": "bukan isu"}, headers=headers)
    closed = problem(client.post(f"{url}/notes", json={"body": "lagi"}, headers=headers), 409, "state")
    assert closed["current"]["state"] == "dismissed"


def test_patch_needs_the_version_it_read(client, semarang):
    issue = semarang()
    url, headers = f"/api/v1/issues/{issue['id']}", semarang.headers
    problem(client.patch(url, json={"title": "Tanpa versi"}, headers=headers), 422, "version")
    saved = client.patch(
        url, json={"version": 1, "title": "Hoaks bansos Rp 3 juta", "sentiment": "mixed"}, headers=headers
    )
    assert saved.status_code == 200, saved.get_json()
    assert (saved.get_json()["version"], saved.get_json()["title"]) == (2, "Hoaks bansos Rp 3 juta")
    assert saved.get_json()["risk_score"] == issue["risk_score"] - 6  # negative 15 → mixed 9


def test_two_people_patching_at_once_the_loser_gets_409_and_the_current_state(client, token_for, semarang, db):
    issue = semarang()
    url = f"/api/v1/issues/{issue['id']}"
    supervisor = {**token_for("supervisor", "KOTA-SEMARANG"), "Accept-Language": "en"}
    # Both read version 1; the officer saves first.
    assert client.patch(url, json={"version": 1, "title": "Versi petugas"}, headers=semarang.headers).status_code == 200
    lost = problem(
        client.patch(url, json={"version": 1, "title": "Versi supervisor"}, headers=supervisor), 409, "version"
    )
    assert lost["current"]["title"] == "Versi petugas" and lost["current"]["version"] == 2
    assert "version 2" in lost["detail"]
    db.session.expire_all()
    assert db.session.get(Issue, issue["id"]).title == "Versi petugas"


def test_a_note_with_a_stale_version_is_refused(client, semarang):
    issue = semarang()
    url, headers = f"/api/v1/issues/{issue['id']}", semarang.headers
    client.post(f"{url}/notes", json={"body": "pertama"}, headers=headers)
    stale = problem(client.post(f"{url}/notes", json={"body": "kedua", "version": 1}, headers=headers), 409, "version")
    assert [n["body"] for n in stale["current"]["notes"]] == ["pertama"]


def test_merge_through_the_api_keeps_everything(client, semarang):
    target = semarang()
    source = semarang(title="Pesan bansos palsu", evidence_urls=["https://facebook.com/groups/rt05/posts/9"])
    client.post(f"/api/v1/issues/{source['id']}/notes", json={"body": "dari grup RT"}, headers=semarang.headers)
    merged = client.post(
        f"/api/v1/issues/{source['id']}/merge", json={"target_id": target["id"]}, headers=semarang.headers
    )
    assert merged.status_code == 200, merged.get_json()
    result = merged.get_json()
    assert result["id"] == target["id"]
    assert {e["url"] for e in result["evidence"]} == {
        "https://x.com/warga/status/1",
        "https://facebook.com/groups/rt05/posts/9",
    }
    assert "dari grup RT" in [n["body"] for n in result["notes"]]
    gone = client.get(f"/api/v1/issues/{source['id']}", headers=semarang.headers).get_json()
    assert (gone["state"], gone["merged_into_id"]) == ("merged", target["id"])
    problem(
        client.post(f"/api/v1/issues/{target['id']}/merge", json={"target_id": target["id"]}, headers=semarang.headers),
        422,
        "target_id",
    )
    again = client.post(
        f"/api/v1/issues/{source['id']}/merge", json={"target_id": target["id"]}, headers=semarang.headers
    )
    assert problem(again, 409)["current"]["state"] == "merged"


# --- Idempotency-Key -------------------------------------------------------------------------


def test_a_retried_post_with_the_same_key_logs_one_issue(client, org, token_for, db):
    headers = {**token_for("officer", "KOTA-SEMARANG"), "Idempotency-Key": "monitor-7f3a"}
    first = client.post("/api/v1/issues", json=body(), headers=headers)
    retry = client.post("/api/v1/issues", json=dict(reversed(list(body().items()))), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert db.session.query(Issue).count() == 1


def test_the_same_key_with_another_body_is_refused(client, token_for, db):
    headers = {**token_for("officer", "KOTA-SEMARANG"), "Idempotency-Key": "monitor-7f3a"}
    assert client.post("/api/v1/issues", json=body(), headers=headers).status_code == 201
    reused = client.post("/api/v1/issues", json=body(title="Isu yang lain sama sekali"), headers=headers)
    problem(reused, 422, "Idempotency-Key")
    assert db.session.query(Issue).count() == 1


def test_keys_belong_to_their_user(client, token_for, db):
    key = {"Idempotency-Key": "same-key"}
    assert (
        client.post("/api/v1/issues", json=body(), headers={**token_for("officer", "KOTA-SEMARANG"), **key}).status_code
        == 201
    )
    assert (
        client.post("/api/v1/issues", json=body(), headers={**token_for("head", "KOTA-SEMARANG"), **key}).status_code
        == 201
    )
    assert db.session.query(Issue).count() == 2


def test_a_refused_request_is_not_remembered(client, token_for, db):
    headers = {**token_for("officer", "KOTA-SEMARANG"), "Idempotency-Key": "fix-and-retry"}
    problem(client.post("/api/v1/issues", json=body(title="x"), headers=headers), 422, "title")
    assert db.session.query(IdempotencyRecord).count() == 0
    assert client.post("/api/v1/issues", json=body(title="x"), headers=headers).status_code == 422


@pytest.mark.parametrize("key", ["", "k" * 201, "kunci rahasia\u00e9"])
def test_unusable_keys_are_refused(client, token_for, key, db):
    headers = {**token_for("officer", "KOTA-SEMARANG"), "Idempotency-Key": key}
    problem(client.post("/api/v1/issues", json=body(), headers=headers), 422, "Idempotency-Key")
    assert db.session.query(Issue).count() == 0


def test_notes_honour_the_key_too(client, semarang, db):
    issue = semarang()
    headers = {**semarang.headers, "Idempotency-Key": "note-1"}
    url = f"/api/v1/issues/{issue['id']}/notes"
    first = client.post(url, json={"body": "Naik", "reach": 60_000}, headers=headers)
    retry = client.post(url, json={"body": "Naik", "reach": 60_000}, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert len(retry.get_json()["notes"]) == 1
    assert len(client.get(f"/api/v1/issues/{issue['id']}", headers=semarang.headers).get_json()["notes"]) == 1


def test_two_copies_of_a_request_at_the_same_moment_create_one_issue(app, db, org):
    """The first copy holds the (user, key) row uncommitted; the second must not add a second issue."""
    from crisis.auth.models import User
    from crisis.extensions import db as _db
    from crisis.idempotency import perform_once
    from crisis.issues import service as issues
    from crisis.issues.schemas import IssueOut

    officer_id = org["users"][("KOTA-SEMARANG", "officer")].id
    unit_id = org["units"]["KOTA-SEMARANG"].id

    def perform(session):
        def run():
            issue = issues.create(
                session=session,
                actor=session.get(User, officer_id),
                unit_id=unit_id,
                title="Hoaks bansos",
                channel="whatsapp",
                category="hoax",
                first_seen_at=NOW,
                now=NOW,
            )
            return 201, IssueOut().dump(issue)

        return run

    second_performed = threading.Event()
    outcome = {}

    def second_copy():
        with app.app_context():

            def run_and_signal():
                result = perform(_db.session)()
                second_performed.set()
                return result

            outcome["second"] = perform_once(
                session=_db.session, user_id=officer_id, key="k-1", fingerprint="same", perform=run_and_signal
            )

    # The first copy: its issue and key are written but not yet committed.
    status, first_body = perform(db.session)()
    db.session.add(
        IdempotencyRecord(
            user_id=officer_id, key="k-1", request_hash="same", status_code=status, response_body=first_body
        )
    )
    db.session.flush()
    thread = threading.Thread(target=second_copy)
    thread.start()
    assert second_performed.wait(10)
    db.session.commit()
    thread.join(20)
    assert outcome["second"] == (201, first_body, True)
    db.session.expire_all()
    assert db.session.query(Issue).count() == 1


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_documents_issues_and_the_idempotency_header(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    for path in (
        "/api/v1/issues",
        "/api/v1/issues/{issue_id}",
        "/api/v1/issues/{issue_id}/notes",
        "/api/v1/issues/{issue_id}/evidence",
        "/api/v1/issues/{issue_id}/monitor",
        "/api/v1/issues/{issue_id}/dismiss",
        "/api/v1/issues/{issue_id}/merge",
    ):
        assert path in document["paths"], path
    post = document["paths"]["/api/v1/issues"]["post"]
    headers = [p for p in post["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in headers] == ["Idempotency-Key"]
    assert "409" in document["paths"]["/api/v1/issues/{issue_id}"]["patch"]["responses"]
    schemas = document["components"]["schemas"]
    issue_schema = next(s for name, s in schemas.items() if name.startswith("IssueOut"))
    for field in ("risk_score", "suggested_severity", "risk_factors", "state", "version", "evidence", "notes"):
        assert field in issue_schema["properties"], field
    assert "x" in issue_schema["properties"]["channel"]["enum"]


def test_first_seen_can_be_left_out_and_means_now(client, token_for):
    payload = body()
    del payload["first_seen_at"]
    response = client.post("/api/v1/issues", json=payload, headers=token_for("officer", "KOTA-SEMARANG"))
    assert response.get_json()["first_seen_at"] == NOW.isoformat()


# --- batches: what a monitoring tool that collects many posts sends ------------------------------


def test_a_batch_logs_every_item_in_order_and_each_finds_the_ones_before_it(client, org, token_for, db):
    from crisis.timeline.models import TimelineEvent

    semarang_id = org["units"]["KOTA-SEMARANG"].id
    items = [
        body(unit_id=semarang_id),
        body(
            unit_id=semarang_id,
            title="Jalan tol ambles di Kaligawe",
            category="disaster",
            evidence_urls=["https://x.com/warga/status/2"],
        ),
        body(
            unit_id=semarang_id,
            title="Bansos Rp 3 juta: hoaks di WA",
            evidence_urls=["http://twitter.com/warga/status/1/"],
        ),
        body(
            unit_id=semarang_id, title="Jalan tol ambles di Kaligawe!", evidence_urls=["https://x.com/warga/status/4"]
        ),
    ]
    headers = {**token_for("officer", "KOTA-SEMARANG"), "Accept-Language": "en"}
    response = client.post("/api/v1/issues/batch", json={"issues": items}, headers=headers)
    assert response.status_code == 201, response.get_json()
    logged = response.get_json()["issues"]
    assert [issue["title"] for issue in logged] == [item["title"] for item in items]
    assert [[d["id"] for d in issue["duplicates"]] for issue in logged] == [
        [],
        [],
        [logged[0]["id"]],
        [logged[1]["id"]],
    ]
    # Each answer is what POST /issues answers for it.
    one = client.get(f"/api/v1/issues/{logged[1]['id']}", headers=headers).get_json()
    assert {key: value for key, value in logged[1].items() if key != "duplicates"} == one
    assert (one["risk_score"], one["category"], one["unit_code"]) == (
        logged[1]["risk_score"],
        "disaster",
        "KOTA-SEMARANG",
    )
    assert "50,000" in next(f for f in one["risk_factors"] if f["key"] == "reach")["explanation"]
    assert db.session.query(Issue).order_by(Issue.id).with_entities(Issue.title).all() == [
        (item["title"],) for item in items
    ]
    created = db.session.query(TimelineEvent).filter_by(kind="issue.created").order_by(TimelineEvent.id).all()
    assert [event.subject_id for event in created] == [issue["id"] for issue in logged]


def test_a_bad_item_refuses_the_whole_batch_naming_the_item_and_field(client, org, token_for, db):
    semarang_id = org["units"]["KOTA-SEMARANG"].id
    headers = token_for("officer", "KOTA-SEMARANG")
    items = [
        body(unit_id=semarang_id),
        body(unit_id=semarang_id, title="x", evidence_urls=["ftp://a.example/b"]),
        body(unit_id=semarang_id, channel="telepati"),
    ]
    payload = problem(
        client.post("/api/v1/issues/batch", json={"issues": items}, headers=headers),
        422,
        "issues.1.title",
        "issues.1.evidence_urls",
        "issues.2.channel",
    )
    assert not any(field.startswith("issues.0.") for field in payload["errors"])
    assert db.session.query(Issue).count() == 0


def test_a_batch_reaching_into_another_unit_is_refused_whole(client, org, token_for, db):
    headers = token_for("officer", "KOTA-SEMARANG")
    own, sibling, central = (org["units"][code].id for code in ("KOTA-SEMARANG", "KAB-BANYUMAS", "PUSAT"))
    items = [body(unit_id=own), body(unit_id=sibling)]
    problem(client.post("/api/v1/issues/batch", json={"issues": items}, headers=headers), 404, "issues.1.unit_id")
    # A unit one may read but not act in is 403.
    observer = token_for("observer", "PUSAT")
    problem(
        client.post("/api/v1/issues/batch", json={"issues": [body(unit_id=central)]}, headers=observer),
        403,
        "issues.0.unit_id",
    )
    assert db.session.query(Issue).count() == 0


@pytest.mark.parametrize("count", [0, 101])
def test_a_batch_holds_one_to_a_hundred_issues(client, token_for, db, count):
    items = [body(evidence_urls=[f"https://x.com/warga/status/{n}"]) for n in range(count)]
    problem(
        client.post("/api/v1/issues/batch", json={"issues": items}, headers=token_for("officer", "KOTA-SEMARANG")),
        422,
        "issues",
    )
    assert db.session.query(Issue).count() == 0


def test_a_retried_batch_with_the_same_key_logs_it_once(client, token_for, db):
    headers = {**token_for("officer", "KOTA-SEMARANG"), "Idempotency-Key": f"feed-{NOW.astimezone(WIB):%Y-%m-%dT%H:%M}"}
    items = {"issues": [body(), body(title="Jalan tol ambles di Kaligawe", evidence_urls=["https://x.com/a/2"])]}
    first = client.post("/api/v1/issues/batch", json=items, headers=headers)
    retry = client.post("/api/v1/issues/batch", json=items, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json() and retry.headers["Idempotent-Replayed"] == "true"
    assert db.session.query(Issue).count() == 2
