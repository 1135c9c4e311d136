"""Sign-in, sessions, passwords, rate limits and personal API tokens."""

from __future__ import annotations

from typing import Any

import pytest

from crisis import ConfigurationError, create_app
from crisis.auth.models import ApiToken
from crisis.extensions import db as _db
from crisis.timeline.models import TimelineEvent
from tests.conftest import DEMO_PASSWORD, FIXED_NOW, csrf_token, form_post, make_app, sign_in


def _session_cookie(client):
    cookie = client.get_cookie("crisis_session")
    return cookie.value if cookie else None


def test_sign_in_page_speaks_indonesian_first(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="id">' in page
    assert "Masuk" in page


def test_english_visitor_can_switch_language(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Sign in to the crisis desk" in page
    token = csrf_token(client)
    client.post("/language", data={"language": "id", "csrf_token": token, "next": "/login"})
    assert "Masuk" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_wrong_password_is_refused_and_audited(client, db, org):
    user = org["users"][("JATENG", "officer")]
    response = sign_in(client, user.email, "salah-sekali-kata-sandi")
    assert response.status_code == 401
    assert client.get("/").status_code == 302
    kinds = [e.kind for e in db.session.query(TimelineEvent).filter_by(subject_type="user", subject_id=user.id)]
    assert kinds == ["auth.sign_in_failed"]


def test_sign_in_renews_the_session_and_sets_safe_cookies(client, org):
    client.get("/login")
    before = _session_cookie(client)
    response = sign_in(client, org["users"][("JATENG", "officer")].email)
    assert response.status_code == 302
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # embedded mode serves plain http on loopback
    assert _session_cookie(client) != before
    with client.session_transaction() as session:
        assert "sid" in session and "csrf_token" not in session


def test_cookies_are_secure_outside_the_embedded_mode(pg_url, tmp_path_factory):
    app = make_app(pg_url, tmp_path_factory, BROKER_URL="redis://127.0.0.1:6379/13")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_start_up_without_secret_key_outside_embedded_mode_stops(monkeypatch, pg_url):
    monkeypatch.delenv("CRISIS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="CRISIS_SECRET_KEY"):
        create_app({"BROKER_URL": "redis://127.0.0.1:6379/13", "DATABASE_URL": pg_url})


def test_login_without_csrf_token_is_rejected(client, org):
    client.get("/login")
    response = client.post(
        "/login", data={"email": org["users"][("JATENG", "officer")].email, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 400


def test_logout_is_post_only(login_as):
    client = login_as("officer", "JATENG")
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200
    form_post(client, "/logout", {}, page="/")
    assert client.get("/").status_code == 302


def test_rate_limit_per_email_and_address_does_not_lock_the_user_out(client, org):
    email = org["users"][("KAB-GOWA", "officer")].email
    for _ in range(10):
        assert sign_in(client, email, "tebakan-yang-salah").status_code == 401
    token = csrf_token(client)
    blocked = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429
    # The real user, from their own address, still gets in.
    other = client.application.test_client()
    page = other.get("/login", environ_base={"REMOTE_ADDR": "127.0.0.2"}).get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    allowed = other.post(
        "/login",
        data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "127.0.0.2"},
    )
    assert allowed.status_code == 302


def test_the_sign_in_limit_is_one_count_for_every_process_sharing_the_database(pg_url, tmp_path_factory, db, org):
    """Two web processes of one deployment without Redis (the default storage, nothing configured):
    the 11th wrong password, whichever process it reaches, answers 429. Each make_app builds the
    limiter afresh, as a new process does; a count kept in process memory starts again at zero."""
    email = org["users"][("KOTA-MAKASSAR", "officer")].email
    apps = []

    def web_process() -> Any:
        application = make_app(pg_url, tmp_path_factory)
        application.extensions["clock"] = lambda: FIXED_NOW
        apps.append(application)
        return application.test_client()

    try:
        first = web_process()
        for _ in range(6):
            assert sign_in(first, email, "tebakan-yang-salah").status_code == 401
        second = web_process()  # started after the first had counted six
        for _ in range(4):
            assert sign_in(second, email, "tebakan-yang-salah").status_code == 401
        assert sign_in(second, email, "tebakan-yang-salah").status_code == 429
        assert sign_in(first, email).status_code == 429  # the right password too, until the window ends
    finally:
        for application in apps:
            with application.app_context():
                _db.engine.dispose()


def test_changing_password_ends_other_sessions(app, client, org):
    email = org["users"][("PAPUA", "supervisor")].email
    other = app.test_client()
    assert sign_in(other, email).status_code == 302
    assert sign_in(client, email).status_code == 302
    weak = form_post(client, "/account/password", {"current_password": DEMO_PASSWORD, "new_password": "password1"})
    assert "too easy" in weak.get_data(as_text=True) or "mudah" in weak.get_data(as_text=True)
    response = form_post(
        client,
        "/account/password",
        {"current_password": DEMO_PASSWORD, "new_password": "ombak besar di teluk humboldt"},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302


def test_disabling_a_user_ends_their_sessions_at_once(app, client, org, token_for):
    victim = app.test_client()
    assert sign_in(victim, org["users"][("KAB-BANYUMAS", "officer")].email).status_code == 302
    assert victim.get("/").status_code == 200
    user_id = org["users"][("KAB-BANYUMAS", "officer")].id
    response = client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=token_for("admin", "JATENG"))
    assert response.status_code == 200
    assert victim.get("/").status_code == 302
    assert sign_in(app.test_client(), org["users"][("KAB-BANYUMAS", "officer")].email).status_code == 401


def test_idle_session_expires(login_as):
    client = login_as("officer", "JATENG")
    with client.session_transaction() as session:
        session["last_seen"] = FIXED_NOW.timestamp() - 3 * 3600
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_absolute_session_lifetime(login_as):
    client = login_as("officer", "JATENG")
    with client.session_transaction() as session:
        session["signed_in_at"] = FIXED_NOW.timestamp() - 13 * 3600
    assert client.get("/").status_code == 302


def test_open_redirect_after_sign_in_is_refused(client, org):
    token = csrf_token(client)
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": org["users"][("JATENG", "officer")].email, "password": DEMO_PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_api_token_is_shown_once_stored_hashed_and_revocable(login_as, db):
    client = login_as("officer", "KOTA-MAKASSAR")
    page = form_post(client, "/account/tokens", {"name": "Dasbor pemantauan"}).get_data(as_text=True)
    plaintext = page.split('id="new-token">')[1].split("<")[0]
    assert plaintext.startswith("crs_")
    stored = db.session.query(ApiToken).one()
    assert plaintext not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
    assert plaintext not in client.get("/account/tokens").get_data(as_text=True)
    headers = {"Authorization": f"Bearer {plaintext}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["email"].startswith("petugas.kota-makassar")
    form_post(client, f"/account/tokens/{stored.id}/revoke", {}, page="/account/tokens")
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_session_cookie_does_not_authenticate_the_api(login_as):
    client = login_as("admin", "PUSAT")
    assert client.get("/api/v1/me").status_code == 401


def test_security_headers(client):
    headers = client.get("/login").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_a_token_brings_its_user_and_roles_in_one_statement_and_role_changes_count_at_once(client, db, org, token_for):
    from sqlalchemy import event

    from crisis.auth import service as people
    from crisis.units import service as units

    # Every API call checks access with the token's user, memberships and their units: one statement.
    headers = token_for("head", "PUSAT")
    officer_id, admin_id = org["users"][("KAB-BANYUMAS", "officer")].id, org["users"][("PUSAT", "admin")].id
    sulsel, banyumas = org["units"]["SULSEL"].id, org["units"]["KAB-BANYUMAS"].id
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(statement)

    db.session.expunge_all()  # nothing already loaded: what the check reads, it reads now
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        user = people.user_for_token(session=db.session, plaintext=headers["Authorization"].split()[1])
        assert units.visible_scope(session=db.session, user=user).everything
        assert user.timezone == "Asia/Jakarta" and [m.unit.code for m in user.memberships] == ["PUSAT"]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(sent) == 1, sent

    # Nothing is kept between requests: a new role or a revoked token counts from the next call.
    from crisis.auth.models import User

    officer, admin = db.session.get(User, officer_id), db.session.get(User, admin_id)
    _row, plaintext = people.create_token(session=db.session, user=officer, name="test")
    db.session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get(f"/api/v1/units/{sulsel}", headers=headers).status_code == 404
    membership = people.add_membership(
        session=db.session, actor=None, user_id=officer.id, unit_id=sulsel, role="observer"
    )
    db.session.commit()
    assert client.get(f"/api/v1/units/{sulsel}", headers=headers).status_code == 200
    people.remove_membership(session=db.session, actor=admin, membership_id=membership.id)
    db.session.commit()
    assert client.get(f"/api/v1/units/{sulsel}", headers=headers).status_code == 404
    token = db.session.query(ApiToken).filter_by(user_id=officer.id).one()
    people.revoke_token(session=db.session, user=officer, token_id=token.id)
    db.session.commit()
    assert client.get(f"/api/v1/units/{banyumas}", headers=headers).status_code == 401
