"""A unit sees its own data and its descendants'; siblings see nothing of each other; central sees all."""

from __future__ import annotations

import pytest

from crisis.units import service as units


def _codes(scope, org) -> set[str]:
    return {code for code, unit in org["units"].items() if unit.id in scope}


def test_regency_officer_sees_only_own_regency(db, org):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    assert _codes(units.visible_scope(session=db.session, user=officer), org) == {"KOTA-SEMARANG"}


def test_province_sees_its_regencies_and_not_other_provinces(db, org):
    head = org["users"][("SULSEL", "head")]
    assert _codes(units.visible_scope(session=db.session, user=head), org) == {"SULSEL", "KOTA-MAKASSAR", "KAB-GOWA"}


def test_central_sees_every_unit(db, org):
    officer = org["users"][("PUSAT", "officer")]
    scope = units.visible_scope(session=db.session, user=officer)
    assert scope.everything
    assert _codes(scope, org) == set(org["units"])


def test_observer_sees_but_cannot_act(db, org):
    observer = org["users"][("PUSAT", "observer")]
    assert units.visible_scope(session=db.session, user=observer).everything
    assert _codes(units.acting_scope(session=db.session, user=observer), org) == set()


def test_province_admin_administers_only_its_subtree(db, org):
    admin = org["users"][("JATENG", "admin")]
    assert _codes(units.admin_scope(session=db.session, user=admin), org) == {"JATENG", "KOTA-SEMARANG", "KAB-BANYUMAS"}


@pytest.mark.parametrize(
    ("role", "unit", "target", "allowed"),
    [
        ("officer", "KOTA-SEMARANG", "KOTA-SEMARANG", True),
        ("officer", "KOTA-SEMARANG", "KAB-BANYUMAS", False),
        ("officer", "KOTA-SEMARANG", "JATENG", False),
        ("officer", "JATENG", "KAB-BANYUMAS", True),
        ("officer", "JATENG", "KOTA-MAKASSAR", False),
        ("head", "PAPUA", "KAB-JAYAPURA", True),
        ("officer", "PUSAT", "KAB-GOWA", True),
    ],
)
def test_roster_page_follows_the_unit_tree(login_as, org, role, unit, target, allowed):
    client = login_as(role, unit)
    response = client.get(f"/units/{org['units'][target].id}/roster")
    assert response.status_code == (200 if allowed else 404)


def test_api_unit_list_is_scoped(client, org, token_for):
    def codes(headers):
        response = client.get("/api/v1/units", headers=headers)
        assert response.status_code == 200
        return {unit["code"] for unit in response.get_json()}

    assert codes(token_for("officer", "KAB-GOWA")) == {"KAB-GOWA"}
    assert codes(token_for("supervisor", "PAPUA")) == {"PAPUA", "KOTA-JAYAPURA", "KAB-JAYAPURA"}
    assert codes(token_for("observer", "PUSAT")) == set(org["units"])


def test_regency_cannot_read_or_change_a_sibling_through_the_api(client, org, token_for):
    headers = token_for("head", "KOTA-SEMARANG")
    sibling = org["units"]["KAB-BANYUMAS"]
    assert client.get(f"/api/v1/units/{sibling.id}", headers=headers).status_code == 404
    response = client.patch(f"/api/v1/units/{sibling.id}", json={"name": "Diambil alih"}, headers=headers)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    sibling_officer = org["users"][("KAB-BANYUMAS", "officer")]
    assert client.get(f"/api/v1/users/{sibling_officer.id}", headers=headers).status_code == 404
    listed = client.get(f"/api/v1/duty-shifts?unit_id={sibling.id}", headers=headers)
    assert listed.status_code == 404


def test_regency_cannot_plan_a_siblings_roster(client, org, token_for):
    headers = token_for("head", "KOTA-SEMARANG")
    sibling = org["units"]["KAB-BANYUMAS"]
    response = client.post(
        "/api/v1/duty-shifts",
        headers=headers,
        json={
            "unit_id": sibling.id,
            "user_id": org["users"][("KAB-BANYUMAS", "officer")].id,
            "starts_at": "2026-11-27T07:00:00+07:00",
            "ends_at": "2026-11-27T19:00:00+07:00",
        },
    )
    assert response.status_code == 404


def test_province_admin_cannot_create_a_unit_in_another_province(client, org, token_for):
    headers = token_for("admin", "JATENG")
    response = client.post(
        "/api/v1/units",
        headers=headers,
        json={
            "code": "KAB-MAROS",
            "name": "Diskominfo Kabupaten Maros",
            "kind": "regency",
            "parent_id": org["units"]["SULSEL"].id,
            "timezone": "Asia/Makassar",
        },
    )
    assert response.status_code == 403
    allowed = client.post(
        "/api/v1/units",
        headers=headers,
        json={
            "code": "KAB-KUDUS",
            "name": "Diskominfo Kabupaten Kudus",
            "kind": "regency",
            "parent_id": org["units"]["JATENG"].id,
            "timezone": "Asia/Jakarta",
        },
    )
    assert allowed.status_code == 201, allowed.get_json()


def test_non_admin_gets_403_on_admin_pages(login_as):
    client = login_as("head", "JATENG")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/units/new").status_code == 403
