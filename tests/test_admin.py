"""Admins manage the tree, users, roles and duty shifts; bad input names the field and changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from crisis.auth import roster as duty
from crisis.auth.models import Membership, User
from crisis.timeline.models import TimelineEvent
from crisis.units.models import DutyShift, Unit
from tests.conftest import FIXED_NOW, form_post


def _tomorrow_in_makassar() -> date:
    """The day after FIXED_NOW's day in the unit's zone (WITA): a shift to plan."""
    return FIXED_NOW.astimezone(ZoneInfo("Asia/Makassar")).date() + timedelta(days=1)


def _problem(response, status, field):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert field in body["errors"], body
    return body["errors"][field][0]


def test_unit_parent_that_makes_a_cycle_is_refused(client, db, org, token_for):
    headers = token_for("admin", "PUSAT")
    jateng = org["units"]["JATENG"]
    semarang = org["units"]["KOTA-SEMARANG"]
    message = _problem(
        client.patch(
            f"/api/v1/units/{jateng.id}", json={"parent_id": semarang.id}, headers={**headers, "Accept-Language": "en"}
        ),
        422,
        "parent_id",
    )
    assert "descendant" in message
    db.session.expire_all()
    assert db.session.get(Unit, jateng.id).parent_id == org["units"]["PUSAT"].id


def test_unit_under_itself_is_refused(client, org, token_for):
    headers = token_for("admin", "PUSAT")
    jateng = org["units"]["JATENG"]
    _problem(
        client.patch(f"/api/v1/units/{jateng.id}", json={"parent_id": jateng.id}, headers=headers), 422, "parent_id"
    )


def test_unknown_time_zone_and_duplicate_code_are_named(client, db, org, token_for):
    headers = token_for("admin", "PUSAT")
    before = db.session.query(Unit).count()
    bad_zone = client.post(
        "/api/v1/units",
        headers=headers,
        json={
            "code": "KAB-MIMIKA",
            "name": "Diskominfo Kabupaten Mimika",
            "kind": "regency",
            "parent_id": org["units"]["PAPUA"].id,
            "timezone": "Asia/Papua",
        },
    )
    assert "Asia/Jayapura" in _problem(bad_zone, 422, "timezone")
    duplicate = client.post(
        "/api/v1/units",
        headers=headers,
        json={
            "code": "jateng",
            "name": "Duplikat",
            "kind": "province",
            "parent_id": org["units"]["PUSAT"].id,
            "timezone": "Asia/Jakarta",
        },
    )
    _problem(duplicate, 422, "code")
    assert db.session.query(Unit).count() == before


def test_regency_under_central_is_refused(client, org, token_for):
    response = client.post(
        "/api/v1/units",
        headers=token_for("admin", "PUSAT"),
        json={
            "code": "KAB-X",
            "name": "X",
            "kind": "regency",
            "parent_id": org["units"]["PUSAT"].id,
            "timezone": "Asia/Jakarta",
        },
    )
    _problem(response, 422, "parent_id")


def test_unknown_field_is_named(client, token_for):
    response = client.post(
        "/api/v1/units",
        headers=token_for("admin", "PUSAT"),
        json={
            "code": "X1",
            "name": "X",
            "kind": "central",
            "colour": "red",
        },
    )
    _problem(response, 422, "colour")


def test_weak_password_and_duplicate_email_are_named(client, db, org, token_for):
    headers = token_for("admin", "PUSAT")
    before = db.session.query(User).count()
    weak = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "baru@demo.example",
            "name": "Petugas Baru",
            "password": "password1",
            "unit_id": org["units"]["PUSAT"].id,
            "role": "officer",
        },
    )
    _problem(weak, 422, "password")
    duplicate = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "PETUGAS.PUSAT@demo.example",
            "name": "Petugas Ganda",
            "password": "tiga kata acak sekali",
        },
    )
    _problem(duplicate, 422, "email")
    assert db.session.query(User).count() == before


def test_admin_creates_user_with_role_and_changes_it(client, db, org, token_for):
    headers = token_for("admin", "JATENG")
    created = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "petugas2.semarang@demo.example",
            "name": "Lina Marlina",
            "password": "hujan turun di semarang",
            "unit_id": org["units"]["KOTA-SEMARANG"].id,
            "role": "officer",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["memberships"][0]["unit_code"] == "KOTA-SEMARANG"
    assert "password" not in body
    membership_id = body["memberships"][0]["id"]
    changed = client.patch(f"/api/v1/memberships/{membership_id}", json={"role": "supervisor"}, headers=headers)
    assert changed.status_code == 200
    assert db.session.get(Membership, membership_id).role == "supervisor"
    events = db.session.query(TimelineEvent).filter_by(subject_type="user", subject_id=body["id"])
    kinds = [e.kind for e in events.order_by(TimelineEvent.id)]  # rows come back in any order without it
    assert kinds == ["user.created", "membership.added", "membership.role_changed"]


def test_unit_form_shows_the_error_next_to_the_field(login_as, db, org):
    client = login_as("admin", "PUSAT")
    jateng = org["units"]["JATENG"]
    response = form_post(
        client,
        f"/admin/units/{jateng.id}/edit",
        {
            "code": "JATENG",
            "name": jateng.name,
            "kind": "province",
            "parent_id": org["units"]["KAB-BANYUMAS"].id,
            "timezone": "Asia/Jakarta",
        },
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="parent_id-msg"' in page and "has-error" in page
    db.session.expire_all()
    assert db.session.get(Unit, jateng.id).parent_id == org["units"]["PUSAT"].id


def test_admin_creates_a_unit_in_the_browser(login_as, db, org):
    client = login_as("admin", "PUSAT")
    response = form_post(
        client,
        "/admin/units/new",
        {
            "code": "KAB-MAROS",
            "name": "Diskominfo Kabupaten Maros",
            "kind": "regency",
            "parent_id": org["units"]["SULSEL"].id,
            "timezone": "Asia/Makassar",
        },
    )
    assert response.status_code == 302
    assert db.session.query(Unit).filter_by(code="KAB-MAROS").one().timezone == "Asia/Makassar"


def test_supervisor_plans_a_shift_and_bad_times_are_refused(client, db, org, token_for):
    headers = token_for("supervisor", "SULSEL")
    unit = org["units"]["SULSEL"]
    officer = org["users"][("SULSEL", "officer")]
    day = _tomorrow_in_makassar() + timedelta(days=10)  # after the demo's week of shifts: no overlap
    before = db.session.query(DutyShift).count()
    backwards = client.post(
        "/api/v1/duty-shifts",
        headers=headers,
        json={
            "unit_id": unit.id,
            "user_id": officer.id,
            "starts_at": f"{day}T19:00:00+08:00",
            "ends_at": f"{day}T07:00:00+08:00",
        },
    )
    _problem(backwards, 422, "ends_at")
    naive = client.post(
        "/api/v1/duty-shifts",
        headers=headers,
        json={
            "unit_id": unit.id,
            "user_id": officer.id,
            "starts_at": f"{day}T07:00:00",
            "ends_at": f"{day}T19:00:00",
        },
    )
    _problem(naive, 422, "starts_at")
    assert db.session.query(DutyShift).count() == before
    created = client.post(
        "/api/v1/duty-shifts",
        headers=headers,
        json={
            "unit_id": unit.id,
            "user_id": officer.id,
            "starts_at": f"{day}T07:00:00+08:00",
            "ends_at": f"{day}T19:00:00+08:00",
            "note": "Piket siang",
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["starts_at"].startswith(f"{day - timedelta(days=1)}T23:00:00")  # 07:00 WITA in UTC


def test_officer_cannot_plan_the_roster(client, org, token_for):
    day = _tomorrow_in_makassar()
    response = client.post(
        "/api/v1/duty-shifts",
        headers=token_for("officer", "SULSEL"),
        json={
            "unit_id": org["units"]["SULSEL"].id,
            "user_id": org["users"][("SULSEL", "officer")].id,
            "starts_at": f"{day}T07:00:00+08:00",
            "ends_at": f"{day}T19:00:00+08:00",
        },
    )
    assert response.status_code == 403


def test_roster_page_writes_times_in_the_units_zone(login_as, org):
    client = login_as("head", "SULSEL")
    page = client.get(f"/units/{org['units']['SULSEL'].id}/roster").get_data(as_text=True)
    assert "WITA" in page and "WIB" not in page
    assert "07.00 WITA" in page and "19.00 WITA" in page  # Indonesian time notation


def test_openapi_document_covers_the_api(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    for path in (
        "/api/v1/units",
        "/api/v1/units/{unit_id}",
        "/api/v1/users",
        "/api/v1/duty-shifts",
        "/api/v1/tokens",
        "/api/v1/me",
        "/api/v1/memberships/{membership_id}",
    ):
        assert path in document["paths"], path
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_api_without_token_is_401_problem(client):
    response = client.get("/api/v1/units")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_demo_seeded_weeks_ago_has_people_on_duty_when_started_again(app, db, org, clock):
    from crisis.seed import plan_demo_roster

    sulsel = org["units"]["SULSEL"]
    clock.now = FIXED_NOW + timedelta(days=30)  # `make run` again a month later: the seeded week is over
    assert duty.on_duty(session=db.session, unit_id=sulsel.id, at=clock.now) == []
    added = plan_demo_roster(session=db.session, now=clock.now)
    db.session.commit()
    assert added > 0
    on_duty = duty.on_duty(session=db.session, unit_id=sulsel.id, at=clock.now)
    assert [u.email for u in on_duty] == [
        org["users"][("SULSEL", "supervisor")].email
        if _is_night(clock.now, "Asia/Makassar")
        else org["users"][("SULSEL", "officer")].email
    ]
    assert plan_demo_roster(session=db.session, now=clock.now) == 0  # planned once, whatever runs it again


def _is_night(moment, zone):
    hour = moment.astimezone(ZoneInfo(zone)).hour
    return hour < 7 or hour >= 19


def test_an_admin_gives_the_legal_reviewer_and_institution_head_roles(client, db, org, token_for, login_as):
    headers = token_for("admin", "JATENG")
    created = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "sekda.semarang@demo.example",
            "name": "Sekda Kota Semarang",
            "password": "rapat koordinasi pagi hari",
            "unit_id": org["units"]["KOTA-SEMARANG"].id,
            "role": "leader",
        },
    )
    assert created.status_code == 201, created.get_json()
    membership_id = created.get_json()["memberships"][0]["id"]
    changed = client.patch(f"/api/v1/memberships/{membership_id}", json={"role": "legal"}, headers=headers)
    assert changed.status_code == 200 and db.session.get(Membership, membership_id).role == "legal"
    wrong = client.patch(f"/api/v1/memberships/{membership_id}", json={"role": "lawyer"}, headers=headers)
    assert wrong.status_code == 422
    page = login_as("admin", "JATENG").get(f"/admin/users/{created.get_json()['id']}/edit").get_data(as_text=True)
    assert ">Penelaah hukum</option>" in page and ">Pimpinan instansi atau yang mewakili</option>" in page
