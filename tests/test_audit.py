"""The audit trail: every security-relevant act is recorded once, scoped to the admins of its unit,
filterable, paged without gaps, and never changed afterwards."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_datetime
from sqlalchemy import select

from crisis.audit import service as audit
from crisis.audit.models import AuditEvent
from tests.conftest import DEMO_PASSWORD, FIXED_NOW, csrf_token, form_post, sign_in

BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36"
JAKARTA = ZoneInfo("Asia/Jakarta")


def _events(db, kind=None):
    query = select(AuditEvent).order_by(AuditEvent.id)
    if kind:
        query = query.where(AuditEvent.kind == kind)
    db.session.expire_all()
    return list(db.session.scalars(query))


def _row_text(event: AuditEvent) -> str:
    return json.dumps({c.name: str(getattr(event, c.name)) for c in AuditEvent.__table__.columns}, default=str)


# --- what is recorded -----------------------------------------------------------------------------


def test_sign_in_and_sign_out_are_recorded_with_address_and_browser(client, db, org, clock):
    user = org["users"][("KOTA-SEMARANG", "officer")]
    page = client.get("/login", headers={"User-Agent": BROWSER}).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"email": user.email.upper(), "password": DEMO_PASSWORD, "csrf_token": token},
        headers={"User-Agent": BROWSER},
        environ_base={"REMOTE_ADDR": "10.20.30.40"},
    )
    assert response.status_code == 302
    clock.now = FIXED_NOW + timedelta(minutes=5)
    form_post(client, "/logout", {}, page="/")
    signed_in, signed_out = _events(db, "auth.sign_in"), _events(db, "auth.sign_out")
    assert len(signed_in) == 1 and len(signed_out) == 1
    event = signed_in[0]
    assert (event.actor_id, event.actor_email, event.unit_id) == (user.id, user.email, user.memberships[0].unit_id)
    assert (event.remote_addr, event.user_agent, event.at) == ("10.20.30.40", BROWSER, FIXED_NOW)
    assert signed_out[0].actor_id == user.id and signed_out[0].at == FIXED_NOW + timedelta(minutes=5)


def test_failed_sign_ins_record_the_address_tried_never_the_password(client, db, org):
    user = org["users"][("KAB-GOWA", "officer")]
    assert sign_in(client, user.email, "tebakan-pertama-salah").status_code == 401
    assert sign_in(client, "Tidak.Dikenal@Contoh.go.id", "tebakan-kedua-salah").status_code == 401
    known, unknown = _events(db, "auth.sign_in_failed")
    assert (known.actor_id, known.actor_email, known.target) == (None, user.email, f"user:{user.id}")
    assert known.unit_id == org["units"]["KAB-GOWA"].id and known.detail == {"known_email": True}
    # An address nobody has concerns no unit: only central administrators see it.
    assert (unknown.actor_email, unknown.unit_id, unknown.target) == ("tidak.dikenal@contoh.go.id", None, "")
    assert unknown.detail == {"known_email": False}
    for event in (known, unknown):
        assert "tebakan" not in _row_text(event)


def test_api_tokens_created_and_revoked_are_recorded_on_the_page_and_the_api(login_as, client, db, org):
    browser = login_as("officer", "KOTA-MAKASSAR")
    page = form_post(browser, "/account/tokens", {"name": "Dasbor pemantauan"}).get_data(as_text=True)
    plaintext = page.split('id="new-token">')[1].split("<")[0]
    headers = {"Authorization": f"Bearer {plaintext}"}
    second = client.post("/api/v1/tokens", json={"name": "Skrip malam"}, headers=headers).get_json()
    assert client.delete(f"/api/v1/tokens/{second['id']}", headers=headers).status_code == 204
    token_id = int(
        re.search(r"/account/tokens/(\d+)/revoke", browser.get("/account/tokens").get_data(as_text=True)).group(1)
    )
    form_post(browser, f"/account/tokens/{token_id}/revoke", {}, page="/account/tokens")
    created, revoked = _events(db, "token.created"), _events(db, "token.revoked")
    assert [e.detail["name"] for e in created] == ["Dasbor pemantauan", "Skrip malam"]
    assert [e.target for e in revoked] == [f"token:{second['id']}", f"token:{token_id}"]
    user = org["users"][("KOTA-MAKASSAR", "officer")]
    assert {e.actor_id for e in created + revoked} == {user.id}
    assert all(plaintext not in _row_text(e) for e in created + revoked)


def _officer_made_supervisor(client, headers, unit_id: int, email: str, name: str) -> dict:
    """A person created through the API as an officer of the unit, then made its supervisor."""
    body = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": email,
            "name": name,
            "password": "hujan turun di semarang",
            "unit_id": unit_id,
            "role": "officer",
        },
    ).get_json()
    first = body["memberships"][0]["id"]
    assert client.patch(f"/api/v1/memberships/{first}", json={"role": "supervisor"}, headers=headers).status_code == 200
    return body


def test_user_creation_role_changes_and_disabling_are_recorded(client, db, org, token_for):
    headers = token_for("admin", "JATENG")
    admin = org["users"][("JATENG", "admin")]
    semarang, banyumas = org["units"]["KOTA-SEMARANG"].id, org["units"]["KAB-BANYUMAS"].id
    body = _officer_made_supervisor(client, headers, semarang, "petugas2.semarang@demo.example", "Lina Marlina")
    added = client.post(
        f"/api/v1/users/{body['id']}/memberships", json={"unit_id": banyumas, "role": "observer"}, headers=headers
    )
    assert added.status_code == 201
    assert client.delete(f"/api/v1/memberships/{added.get_json()['id']}", headers=headers).status_code == 204
    for active in (False, True):
        response = client.patch(f"/api/v1/users/{body['id']}", json={"active": active}, headers=headers)
        assert response.status_code == 200
    client.patch(f"/api/v1/users/{body['id']}", json={"name": "Lina M."}, headers=headers)  # not an access change
    events = [e for e in _events(db) if e.target == f"user:{body['id']}"]
    assert [e.kind for e in events] == [
        "user.created",
        "membership.added",
        "membership.role_changed",
        "membership.added",
        "membership.removed",
        "user.disabled",
        "user.enabled",
    ]
    assert {e.actor_id for e in events} == {admin.id}
    assert events[2].detail["before"] == "officer" and events[2].detail["after"] == "supervisor"
    assert [e.unit_id for e in events[1:5]] == [semarang, semarang, banyumas, banyumas]
    assert events[5].unit_id == semarang  # a person's events belong to their first unit


def test_the_page_says_each_detail_in_words_roles_and_yes_or_no_included(client, db, org, token_for, login_as):
    headers = token_for("admin", "JATENG")
    semarang = org["units"]["KOTA-SEMARANG"].id
    _officer_made_supervisor(client, headers, semarang, "petugas3.semarang@demo.example", "Rudi Hartono")
    form_post(client, "/login", {"email": "siapa@contoh.example", "password": "salah-salah-salah"})  # unknown
    admin = login_as("admin", "JATENG")
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "id"
    page = admin.get("/admin/audit?kind=membership.role_changed").get_data(as_text=True)
    assert "Sebelumnya: Petugas piket · Sesudahnya: Supervisor" in page
    assert "membership_id" not in page and "before:" not in page and "officer" not in page
    admin.post("/logout", data={"csrf_token": csrf_token(admin, "/")})
    central = login_as("admin", "PUSAT")
    central.environ_base["HTTP_ACCEPT_LANGUAGE"] = "id"
    failed = central.get("/admin/audit?kind=auth.sign_in_failed").get_data(as_text=True)
    assert "Alamat dikenal: tidak" in failed and "known_email" not in failed and "False" not in failed


def test_the_page_names_each_target_in_words_never_by_its_reference(client, db, org, token_for, login_as):
    headers = token_for("admin", "PUSAT")
    person = _officer_made_supervisor(
        client,
        token_for("admin", "JATENG"),
        org["units"]["KOTA-SEMARANG"].id,
        "petugas4.semarang@demo.example",
        "Dewi Lestari",
    )
    hook = client.post(
        f"/api/v1/units/{org['units']['JATENG'].id}/webhooks",
        headers=headers,
        json={"name": "Grup piket", "url": "https://hooks.example.go.id/T0/rahasia"},
    ).get_json()
    token = client.post("/api/v1/tokens", json={"name": "Dasbor provinsi"}, headers=headers).get_json()
    leave = FIXED_NOW.date() + timedelta(days=30)
    for target in (f"day:{leave.isoformat()}", "user:987654", "playbook:hoax-clarification@v1"):
        audit.record(session=db.session, kind="collective_leave.added", target=target)
    db.session.commit()
    central = login_as("admin", "PUSAT")
    central.environ_base["HTTP_ACCEPT_LANGUAGE"] = "id"
    page = central.get("/admin/audit").get_data(as_text=True)
    assert "Dewi Lestari (petugas4.semarang@demo.example)" in page
    assert "Webhook “Grup piket” milik JATENG" in page and "Token API “Dasbor provinsi”" in page
    assert f"SOP “{_title(db, 'hoax-clarification', 'id')}”, versi 1" in page
    assert format_date(leave, "full", locale="id") in page
    assert "sudah tidak tercatat" in page  # a person no longer on record
    for reference in (f"user:{person['id']}", f"webhook:{hook['id']}", f"token:{token['id']}", "playbook:", "day:"):
        assert reference not in page
    org["users"][("PUSAT", "admin")].language = "en"  # the page speaks the reader's language
    db.session.commit()
    english = central.get("/admin/audit").get_data(as_text=True)
    assert f"SOP “{_title(db, 'hoax-clarification', 'en')}”, version 1" in english and "no longer on record" in english


def _title(db, key: str, language: str) -> str:
    from crisis.playbooks.models import Playbook

    playbook = db.session.scalar(select(Playbook).where(Playbook.key == key))
    return playbook.title_id if language == "id" else playbook.title_en


def test_disabling_through_the_admin_page_is_recorded(login_as, db, org):
    client = login_as("admin", "JATENG")
    victim = org["users"][("KAB-BANYUMAS", "officer")]
    response = form_post(
        client, f"/admin/users/{victim.id}/edit", {"email": victim.email, "name": victim.name, "language": "id"}
    )  # "active" unticked
    assert response.status_code == 302
    (event,) = _events(db, "user.disabled")
    assert event.target == f"user:{victim.id}" and event.actor_id == org["users"][("JATENG", "admin")].id


def test_password_change_is_recorded(login_as, db, org):
    client = login_as("supervisor", "PAPUA")
    form_post(
        client,
        "/account/password",
        {"current_password": DEMO_PASSWORD, "new_password": "ombak besar di teluk humboldt"},
    )
    (event,) = _events(db, "auth.password_changed")
    assert event.actor_id == org["users"][("PAPUA", "supervisor")].id
    assert "ombak" not in _row_text(event)


def test_playbook_publication_is_recorded_for_central_admins(client, db, org, token_for):
    from crisis.config import resource_dir

    text = (resource_dir("sops") / "hoax-clarification.yaml").read_text()
    first_target = next(line for line in text.splitlines() if line.strip().startswith("target:"))
    changed = text.replace(first_target, first_target.split("target:")[0] + "target: 1m", 1)
    seeded = len(_events(db, "playbook.published"))  # the demo library loaded by the command line
    response = client.post(
        "/api/v1/playbooks",
        json={"yaml": changed, "filename": "hoax-clarification.yaml"},
        headers=token_for("admin", "PUSAT"),
    )
    assert response.status_code == 201
    events = _events(db, "playbook.published")
    assert len(events) == seeded + 1
    event = events[-1]
    assert event.actor_id == org["users"][("PUSAT", "admin")].id and event.unit_id is None
    assert event.target == "playbook:hoax-clarification@v2" and event.detail["version"] == 2
    assert seeded == len(list(resource_dir("sops").glob("*.yaml"))) and all(e.actor_id is None for e in events[:seeded])


def test_webhook_configuration_changes_are_recorded_without_the_secret(client, db, org, token_for):
    headers = token_for("admin", "JATENG")
    unit = org["units"]["JATENG"]
    created = client.post(
        f"/api/v1/units/{unit.id}/webhooks",
        headers=headers,
        json={"name": "Grup piket", "url": "https://hooks.example.go.id/T0/rahasia-sekali"},
    )
    assert created.status_code == 201
    hook = created.get_json()
    assert client.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False}, headers=headers).status_code == 200
    made, changed = _events(db, "webhook.created"), _events(db, "webhook.updated")
    assert made[0].unit_id == unit.id and made[0].detail == {"name": "Grup piket", "host": "hooks.example.go.id"}
    assert changed[0].detail["active"] is False
    for event in made + changed:
        assert hook["secret"] not in _row_text(event) and "rahasia-sekali" not in _row_text(event)


# --- who reads it ---------------------------------------------------------------------------------


@pytest.fixture
def trail(client, db, org):
    """Failed sign-ins across the country, one per regency officer, plus one for an unknown address."""
    for code in ("KOTA-SEMARANG", "KAB-BANYUMAS", "KOTA-MAKASSAR", "KOTA-JAYAPURA"):
        sign_in(client, org["users"][(code, "officer")].email, "salah-salah-salah")
    sign_in(client, "penyusup@contoh.example", "salah-salah-salah")
    return org


def _page_emails(page: str) -> set[str]:
    table = page.split("<tbody>")[1].split("</tbody>")[0]
    return set(re.findall(r"[\w.-]+@[\w.-]+", table))


def test_a_province_admin_sees_only_the_events_of_its_subtree(app, trail):
    admin = app.test_client()
    sign_in(admin, trail["users"][("JATENG", "admin")].email)
    page = admin.get("/admin/audit?kind=auth.sign_in_failed").get_data(as_text=True)
    assert _page_emails(page) == {"petugas.kota-semarang@demo.example", "petugas.kab-banyumas@demo.example"}


def test_a_central_admin_sees_every_event_including_unknown_addresses(app, trail):
    admin = app.test_client()
    sign_in(admin, trail["users"][("PUSAT", "admin")].email)
    page = admin.get("/admin/audit?kind=auth.sign_in_failed").get_data(as_text=True)
    assert _page_emails(page) == {
        "petugas.kota-semarang@demo.example",
        "petugas.kab-banyumas@demo.example",
        "petugas.kota-makassar@demo.example",
        "petugas.kota-jayapura@demo.example",
        "penyusup@contoh.example",
    }


def test_the_api_lists_the_same_scope(client, trail, token_for):
    def emails(headers):
        response = client.get("/api/v1/audit-events?kind=auth.sign_in_failed", headers=headers)
        assert response.status_code == 200, response.get_json()
        return {e["actor_email"] for e in response.get_json()["events"]}

    assert emails(token_for("admin", "JATENG")) == {
        "petugas.kota-semarang@demo.example",
        "petugas.kab-banyumas@demo.example",
    }
    assert "penyusup@contoh.example" in emails(token_for("admin", "PUSAT"))


@pytest.mark.parametrize("role", ["officer", "supervisor", "head", "observer"])
def test_non_admins_are_refused_on_the_page_and_the_api(client, login_as, token_for, role):
    headers = token_for(role, "PUSAT")
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 403
    browser = login_as(role, "PUSAT")
    assert browser.get("/admin/audit").status_code == 403
    assert 'href="/admin/audit"' not in browser.get("/").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/admin/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/api/v1/audit-events").status_code == 401


# --- filters, paging, presentation ---------------------------------------------------------------


def test_filters_by_kind_person_and_days_in_the_viewers_zone(client, db, org, clock, token_for):
    pusat_admin = org["users"][("PUSAT", "admin")]
    # 23:30 WIB two days ago and 00:30 WIB yesterday (by FIXED_NOW's UTC date): different days in
    # Jakarta, the same day in UTC; the admin signed in at 10:00 WIB that UTC day.
    day_before = FIXED_NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    late, after_midnight = day_before + timedelta(hours=16, minutes=30), day_before + timedelta(hours=17, minutes=30)
    for moment, email in ((late, "a@contoh.example"), (after_midnight, "b@contoh.example")):
        audit.record(session=db.session, kind="auth.sign_in_failed", actor_email=email, now=moment)
    audit.record(session=db.session, kind="auth.sign_in", actor=pusat_admin, now=day_before + timedelta(hours=3))
    db.session.commit()
    headers = token_for("admin", "PUSAT")
    utc_day = day_before.date().isoformat()
    jakarta_day = after_midnight.astimezone(JAKARTA).date().isoformat()  # the day after utc_day

    def emails(query):
        response = client.get(f"/api/v1/audit-events?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [e["actor_email"] for e in response.get_json()["events"]]

    assert emails(f"from={jakarta_day}&to={jakarta_day}") == ["b@contoh.example"]
    assert emails(f"from={utc_day}&to={utc_day}&zone=UTC") == [
        "b@contoh.example",
        "a@contoh.example",
        pusat_admin.email,
    ]
    assert emails("kind=auth.sign_in_failed&person=CONTOH") == ["b@contoh.example", "a@contoh.example"]
    assert emails("person=100%25") == []  # % is a character to find, not a wildcard
    today, earlier = FIXED_NOW.date(), FIXED_NOW.date() - timedelta(days=25)
    bad = client.get(f"/api/v1/audit-events?from={today}&to={earlier}", headers=headers)
    assert bad.status_code == 422 and "to" in bad.get_json()["errors"]
    sign_in(client, pusat_admin.email)
    page = client.get(f"/admin/audit?from={jakarta_day}&to={jakarta_day}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert _page_emails(text) == {"b@contoh.example"}
    # Rina reads in Indonesian: e.g. "25 Nov 2026 00.30.00 WIB".
    shown = format_datetime(after_midnight, "d MMM yyyy HH.mm.ss", tzinfo=JAKARTA, locale=pusat_admin.language)
    assert shown.endswith(" 00.30.00") and f"{shown} WIB" in text
    wrong = client.get("/admin/audit?from=kemarin")
    assert wrong.status_code == 422 and "field-errors" in wrong.get_data(as_text=True)


def test_keyset_pages_neither_repeat_nor_skip_when_events_arrive(client, db, org, token_for):
    moment = FIXED_NOW - timedelta(hours=1)
    for number in range(120):
        # Pairs share a timestamp: the page break must fall between equal times without loss.
        audit.record(
            session=db.session,
            kind="auth.sign_in_failed",
            actor_email=f"u{number:03d}@contoh.example",
            now=moment + timedelta(seconds=number // 2),
        )
    db.session.commit()
    headers = token_for("admin", "PUSAT")
    seen: list[str] = []
    cursor = None
    while True:
        query = "kind=auth.sign_in_failed&limit=25" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/v1/audit-events?{query}", headers=headers).get_json()
        seen += [e["actor_email"] for e in body["events"]]
        if not seen[25:]:  # after the first page, newer events arrive: they must not shift the pages
            audit.record(session=db.session, kind="auth.sign_in_failed", actor_email="baru@contoh.example")
            db.session.commit()
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"u{n:03d}@contoh.example" for n in reversed(range(120))]
    assert client.get("/api/v1/audit-events?cursor=bukan-kursor", headers=headers).status_code == 422


def test_the_page_pages_with_older_and_newest_links_and_fits_a_phone(client, db, org):
    for number in range(60):
        audit.record(
            session=db.session,
            kind="auth.sign_in_failed",
            actor_email=f"u{number:03d}@contoh.example",
            now=FIXED_NOW - timedelta(minutes=number),
        )
    db.session.commit()
    sign_in(client, org["users"][("PUSAT", "admin")].email)
    first = client.get("/admin/audit?kind=auth.sign_in_failed").get_data(as_text=True)
    older = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "kind=auth.sign_in_failed" in older
    second = client.get(older).get_data(as_text=True)
    assert len(_page_emails(first)) == 50 and _page_emails(first) | _page_emails(second) == {
        f"u{n:03d}@contoh.example" for n in range(60)
    }
    assert 'rel="next"' not in second and "/admin/audit?kind=auth.sign_in_failed" in second
    assert 'data-label="' in first and 'name="viewport"' in first


# --- append-only ------------------------------------------------------------------------------------


def test_audit_rows_cannot_be_changed_or_deleted_through_the_app(db, org):
    event = audit.record(session=db.session, kind="auth.sign_out", actor=org["users"][("PUSAT", "admin")])
    db.session.commit()
    event.kind = "auth.sign_in"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, event.id))
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()


def test_no_code_updates_or_deletes_audit_rows_in_bulk():
    """Bulk statements skip the ORM guard above, so none may name the audit table."""
    package = Path(__file__).resolve().parent.parent / "crisis"
    pattern = re.compile(r"(update|delete)\(\s*AuditEvent|(UPDATE|DELETE FROM)\s+\"?audit_event", re.IGNORECASE)
    offenders = [str(path) for path in package.rglob("*.py") if pattern.search(path.read_text())]
    assert offenders == []


def test_recording_an_unknown_kind_is_a_programming_error(db):
    with pytest.raises(ValueError, match="unknown audit kind"):
        audit.record(session=db.session, kind="auth.sign_in_typo")
