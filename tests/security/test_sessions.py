"""Session rules and acknowledgement links, by an injected clock: a new session at sign-in, idle and
absolute timeouts, a disabled person out everywhere at once, the security headers on every kind of
answer, and acknowledgement links that expire and acknowledge once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crisis import signing
from crisis.escalation import firing
from crisis.notify import links
from crisis.notify.models import Notice
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW, form_post, sign_in
from tests.factories import escalate, log_issue

M = timedelta(minutes=1)
H = timedelta(hours=1)


def _signed_in(response) -> bool:
    return response.status_code == 200


def _sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- a new session at sign-in ---------------------------------------------------------------------


def test_sign_in_replaces_whatever_session_came_before(app, client, org, clock):
    """Session fixation: a value planted in the visitor's session before sign-in does not survive,
    and every sign-in gets a session id of its own."""
    email = org["users"][("JATENG", "officer")].email
    client.get("/login")
    with client.session_transaction() as planted:
        planted["sid"] = "dipasang-penyerang"
        planted["signed_in_at"] = planted["last_seen"] = (FIXED_NOW + 24 * H).timestamp()
        planted["next_hop"] = "https://evil.example/"
    assert sign_in(client, email).status_code == 302
    with client.session_transaction() as session:
        first_sid = session["sid"]
        assert first_sid != "dipasang-penyerang" and "next_hop" not in session
        assert session["signed_in_at"] == FIXED_NOW.timestamp()
    form_post(client, "/logout", {}, page="/")
    assert sign_in(client, email).status_code == 302
    other = app.test_client()
    assert sign_in(other, email).status_code == 302
    with client.session_transaction() as again, other.session_transaction() as elsewhere:
        assert len({first_sid, again["sid"], elsewhere["sid"]}) == 3


# --- idle and absolute timeouts -------------------------------------------------------------------


def test_idle_sessions_end_after_two_hours_without_a_request(login_as, clock):
    client = login_as("officer", "JATENG")
    clock.now = FIXED_NOW + 119 * M
    assert _signed_in(client.get("/"))  # activity moves the idle limit on
    clock.now = FIXED_NOW + 119 * M + 119 * M
    assert _signed_in(client.get("/"))
    clock.now += 120 * M + timedelta(seconds=1)
    response = client.get("/issues")
    assert _sent_to_sign_in(response) and "next=/issues" in response.headers["Location"]
    clock.now += M
    assert _sent_to_sign_in(client.get("/"))  # the session was cleared, not just refused once


def test_active_sessions_still_end_after_twelve_hours(login_as, clock):
    client = login_as("supervisor", "SULSEL")
    for step in range(1, 8):  # a request every 100 minutes: never idle
        clock.now = FIXED_NOW + step * 100 * M
        assert _signed_in(client.get("/")), step
    clock.now = FIXED_NOW + 12 * H - M
    assert _signed_in(client.get("/"))
    clock.now = FIXED_NOW + 12 * H + timedelta(seconds=1)
    assert _sent_to_sign_in(client.get("/"))


def test_the_limits_follow_the_configuration(app, login_as, clock):
    saved = app.config["SESSION_IDLE_MINUTES"], app.config["SESSION_ABSOLUTE_HOURS"]
    app.config.update(SESSION_IDLE_MINUTES=15, SESSION_ABSOLUTE_HOURS=1)
    try:
        client = login_as("head", "PAPUA")
        clock.now = FIXED_NOW + 16 * M
        assert _sent_to_sign_in(client.get("/"))
    finally:
        app.config["SESSION_IDLE_MINUTES"], app.config["SESSION_ABSOLUTE_HOURS"] = saved


# --- signing out ends the session on the server, not only in the browser ------------------------


def _copy_of(client, app):
    """Another browser holding a copy of the client's session cookie (stolen, or left on a shared PC)."""
    thief = app.test_client()
    thief.set_cookie("crisis_session", client.get_cookie("crisis_session").value)
    return thief


def _api_refuses(response) -> bool:
    return response.status_code == 401 and response.mimetype == "application/problem+json"


def test_a_copied_cookie_is_signed_out_with_the_browser_it_came_from(app, client, org):
    email = org["users"][("JATENG", "officer")].email
    assert sign_in(client, email).status_code == 302
    phone = app.test_client()
    assert sign_in(phone, email).status_code == 302
    copy = _copy_of(client, app)
    assert _signed_in(copy.get("/"))  # a copy of a live session is that session
    assert _api_refuses(copy.get("/api/v1/me"))  # cookies never authenticate the API
    assert form_post(client, "/logout", {}, page="/").status_code == 302
    assert _sent_to_sign_in(copy.get("/")) and _sent_to_sign_in(copy.get("/issues"))
    assert _api_refuses(copy.get("/api/v1/me"))
    assert _signed_in(phone.get("/"))  # signing out of one browser leaves the others signed in
    assert sign_in(client, email).status_code == 302  # and the person signs in again as usual
    assert _sent_to_sign_in(copy.get("/"))  # the new sign-in does not revive the old cookie


def test_a_password_change_ends_every_other_session_and_its_copies(app, client, org):
    email = org["users"][("SULSEL", "officer")].email
    laptop, phone = app.test_client(), app.test_client()
    for browser in (laptop, phone):
        assert sign_in(browser, email).status_code == 302
    copy = _copy_of(phone, app)
    changed = form_post(
        laptop,
        "/account/password",
        {"current_password": "piket-demo-2026", "new_password": "ombak besar di teluk bone"},
    )
    assert changed.status_code == 302
    assert _signed_in(laptop.get("/"))  # the browser that changed it stays signed in
    assert _sent_to_sign_in(phone.get("/")) and _sent_to_sign_in(copy.get("/"))


def test_disabling_a_person_ends_the_copies_of_their_sessions_too(app, client, org, token_for):
    victim = org["users"][("KAB-GOWA", "officer")]
    assert sign_in(client, victim.email).status_code == 302
    copy = _copy_of(client, app)
    response = app.test_client().patch(
        f"/api/v1/users/{victim.id}", json={"active": False}, headers=token_for("admin", "PUSAT")
    )
    assert response.status_code == 200
    assert _sent_to_sign_in(client.get("/")) and _sent_to_sign_in(copy.get("/"))


# --- a disabled person is out everywhere at once --------------------------------------------------


def test_disabling_on_the_admin_page_ends_every_session_and_token_at_once(app, client, db, org, token_for):
    victim = org["users"][("KAB-BANYUMAS", "officer")]
    phone, laptop = app.test_client(), app.test_client()
    for browser in (phone, laptop):
        assert sign_in(browser, victim.email).status_code == 302
        assert _signed_in(browser.get("/"))
    tool = token_for("officer", "KAB-BANYUMAS")
    assert client.get("/api/v1/me", headers=tool).status_code == 200
    admin = app.test_client()
    assert sign_in(admin, org["users"][("JATENG", "admin")].email).status_code == 302
    disabled = form_post(
        admin, f"/admin/users/{victim.id}/edit", {"email": victim.email, "name": victim.name, "language": "id"}
    )  # "active" unticked
    assert disabled.status_code == 302
    assert _sent_to_sign_in(phone.get("/")) and _sent_to_sign_in(laptop.get("/"))
    assert client.get("/api/v1/me", headers=tool).status_code == 401
    # Enabling the account again does not bring the old sessions back.
    enabled = form_post(
        admin,
        f"/admin/users/{victim.id}/edit",
        {"email": victim.email, "name": victim.name, "language": "id", "active": "y"},
    )
    assert enabled.status_code == 302
    assert _sent_to_sign_in(phone.get("/"))
    assert client.get("/api/v1/me", headers=tool).status_code == 200  # a token is revoked on its own page


# --- security headers -----------------------------------------------------------------------------


def _csp(response) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in response.headers["Content-Security-Policy"].split(";")}


def test_every_kind_of_answer_carries_the_security_headers(login_as, token_for, app):
    client = login_as("admin", "JATENG")
    api = app.test_client()
    answers = {
        "page": client.get("/"),
        "form": client.get("/issues/new"),
        "not found": client.get("/incidents/999999"),
        "refused": client.get("/playbooks/publish"),
        "static": client.get("/static/css/app.css"),
        "api": api.get("/api/v1/me", headers=token_for("admin", "JATENG")),
        "api 401": api.get("/api/v1/me"),
        "health": api.get("/healthz"),
    }
    assert answers["not found"].status_code == 404 and answers["refused"].status_code == 403
    for name, response in answers.items():
        csp = _csp(response)
        assert csp["script-src"] == "script-src 'self'", name
        assert csp["frame-ancestors"] == "frame-ancestors 'none'", name
        assert csp["object-src"] == "object-src 'none'" and csp["base-uri"] == "base-uri 'self'", name
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"], name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] == "same-origin", name
        assert response.headers["X-Frame-Options"] == "DENY", name
        # The embedded mode serves plain http on loopback: HSTS there would lock browsers out.
        assert "Strict-Transport-Security" not in response.headers, name
    assert answers["page"].headers["Cache-Control"] == "no-store"
    for response in answers.values():
        response.close()  # the static file answer holds the file open until closed


def test_pages_carry_no_inline_script_for_the_policy_to_block(login_as, db, org):
    """script-src 'self' only works if the pages need nothing else: no inline <script> bodies and no
    on* event attributes anywhere a person goes."""
    client = login_as("admin", "PUSAT")
    paths = [
        "/",
        "/issues",
        "/issues/new",
        "/incidents",
        "/playbooks",
        "/playbooks/publish",
        "/reviews",
        "/evaluation",
        "/evaluation/reports",
        "/admin/units",
        "/admin/users",
        "/admin/users/new",
        "/admin/audit",
        "/inbox",
        "/account/tokens",
        "/account/password",
        f"/units/{org['units']['PUSAT'].id}/roster",
        "/playbooks/hoax-clarification",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        for script in re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S):
            assert not script.strip(), f"inline script on {path}"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", page), f"inline event handler on {path}"
        assert "javascript:" not in page.lower(), path


def test_hsts_outside_the_embedded_mode(pg_url, tmp_path_factory):
    from tests.conftest import make_app

    app = make_app(pg_url, tmp_path_factory, BROKER_URL="redis://127.0.0.1:6379/13")
    for path in ("/login", "/api/v1/me", "/healthz"):
        hsts = app.test_client().get(path).headers["Strict-Transport-Security"]
        assert hsts == "max-age=31536000; includeSubDomains", path


# --- acknowledgement links expire and work once ---------------------------------------------------


@pytest.fixture
def notice(db, org, clock):
    """An e-mail escalation notice of a hoax in Kota Semarang, from the engine's own firing."""
    issue = log_issue(db.session, org, now=FIXED_NOW, title="Hoaks air PDAM", description="Pesan berantai.")
    escalate(db.session, org, issue, now=FIXED_NOW)
    db.session.commit()
    fired_at = FIXED_NOW + 31 * M  # the first step: supervisor@own after 30 minutes
    for timer in firing.claim_due(session=db.session, now=fired_at, lease=30):
        db.session.commit()
        firing.fire_timer(session=db.session, timer_id=timer.id, now=fired_at)
        db.session.commit()
    row = db.session.scalar(
        select(Notice).where(Notice.channel == "email", Notice.kind == "deadline").order_by(Notice.id)
    )
    assert row is not None
    return row


def _acknowledgements(db, notice_id: int) -> list[TimelineEvent]:
    db.session.expire_all()
    return [
        e
        for e in db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "escalation.acknowledged"))
        if e.data.get("notice_id") == notice_id
    ]


def test_an_acknowledgement_link_works_once(client, db, notice, clock):
    clock.now = FIXED_NOW + 40 * M
    path = links.ack_path(notice)
    first = client.post(path, headers={"Accept-Language": "en"})
    assert first.status_code == 200
    assert f"Acknowledged as {notice.recipient.name}. Repeats of this escalation step stop." in first.get_data(
        as_text=True
    )
    db.session.expire_all()
    acknowledged_at = db.session.get(Notice, notice.id).acknowledged_at
    assert acknowledged_at == FIXED_NOW + 40 * M
    clock.now = FIXED_NOW + 50 * M
    second = client.post(path, headers={"Accept-Language": "en"})
    assert second.status_code == 200
    assert "This notice had already been acknowledged." in second.get_data(as_text=True)
    shown = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Already acknowledged at" in shown and f'action="{path}"' not in shown
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_at == acknowledged_at  # the first answer stands
    assert len(_acknowledgements(db, notice.id)) == 1


def test_an_acknowledgement_link_expires_after_a_week_by_the_clock(client, db, notice, clock):
    clock.now = FIXED_NOW + 40 * M
    path = links.ack_path(notice)  # signed now
    clock.now = FIXED_NOW + 40 * M + timedelta(days=7)
    assert client.get(path).status_code == 200  # exactly a week: still valid
    clock.now += timedelta(seconds=1)
    assert client.get(path).status_code == 410
    expired = client.post(path, headers={"Accept-Language": "en"})
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_at is None
    assert _acknowledgements(db, notice.id) == []


def test_links_are_signed_to_the_very_bytes_itsdangerous_makes(app, clock):
    """`signing.dumps` makes itsdangerous's token itself (its call chain cost more than the link):
    byte for byte the same, for any data a link carries, so itsdangerous checks it."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from itsdangerous import URLSafeTimedSerializer

    values = st.none() | st.integers(-(2**63), 2**63) | st.text(max_size=40) | st.booleans()

    @settings(max_examples=200, deadline=None)
    @given(data=st.dictionaries(st.text(max_size=8), values, max_size=4), seconds=st.integers(0, 10**9))
    def same(data, seconds):
        clock.now = FIXED_NOW + timedelta(seconds=seconds)
        with app.app_context():
            theirs = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=links.SALT, signer=signing._ClockSigner)
            ours = signing.dumps(links.SALT, data)
            assert ours == theirs.dumps(data) or theirs.dumps(data).startswith(".")  # theirs compressed
            assert signing.loads(links.SALT, ours, max_age=60) == data

    same()


def test_an_acknowledgement_link_signed_in_the_older_compressed_form_still_works(app, client, db, notice, clock):
    """Links are signed without zlib now (a few fields never come out shorter); one in an e-mail sent
    before, in itsdangerous's compressed form (a leading "."), still acknowledges."""
    import zlib

    from itsdangerous import URLSafeTimedSerializer
    from itsdangerous.encoding import base64_encode

    clock.now = FIXED_NOW + 40 * M
    fresh = links.ack_token(notice)
    assert not fresh.startswith(".")

    class Compressing(URLSafeTimedSerializer):
        def dump_payload(self, obj):  # always compressed, as itsdangerous does when that is shorter
            return b"." + base64_encode(zlib.compress(self.serializer.dumps(obj).encode()))

    data = {"n": notice.id, "k": links._key_digest(notice), "r": notice.recipient_user_id}
    with app.app_context():
        old = Compressing(app.config["SECRET_KEY"], salt=links.SALT, signer=signing._ClockSigner).dumps(data)
    assert old.startswith(".") and old != fresh
    answer = client.post(f"/ack/{old}", headers={"Accept-Language": "en"})
    assert answer.status_code == 200 and "Acknowledged as" in answer.get_data(as_text=True)


# --- an acknowledgement link acknowledges for the person it was sent to ---------------------------


def _stranger(client, org, db):
    """An officer of Kota Makassar, signed in: another province, who cannot see Semarang's incident.
    Reads the app in English (a person's own choice of language wins over the browser's)."""
    person = org["users"][("KOTA-MAKASSAR", "officer")]
    db.session.get(type(person), person.id).language = "en"
    db.session.commit()
    assert sign_in(client, person.email).status_code == 302
    return person


def _en(client, method, path):
    return getattr(client, method)(path, headers={"Accept-Language": "en"})


def test_a_link_acknowledges_for_its_recipient_whoever_is_signed_in(client, db, org, notice, clock):
    recipient = notice.recipient
    incident = notice.incident
    stranger = _stranger(client, org, db)
    clock.now = FIXED_NOW + 40 * M
    path = links.ack_path(notice)
    confirm = _en(client, "get", path).get_data(as_text=True)
    assert f"You acknowledge as {recipient.name}." in confirm
    assert f"You are signed in as {stranger.name}, but this link was sent to {recipient.name}" in confirm
    done = _en(client, "post", path)
    assert done.status_code == 200
    page = done.get_data(as_text=True)
    assert f"Acknowledged as {recipient.name}." in page
    db.session.expire_all()
    acknowledged = db.session.get(Notice, notice.id)
    assert acknowledged.acknowledged_by_id == recipient.id != stranger.id
    [event] = _acknowledgements(db, notice.id)
    assert event.actor_id == recipient.id and event.data["recipient_user_id"] == recipient.id
    assert event.data["via"] == "link"
    # The stranger learnt from the link what its recipient may see, nothing of their own: their own
    # view of the incident is still "not found".
    assert client.get(f"/incidents/{incident.id}").status_code == 404
    assert "Already acknowledged at" in client.get(path).get_data(as_text=True)


def test_the_link_page_speaks_indonesian_first_and_names_the_recipient(client, db, org, notice, clock):
    recipient = notice.recipient
    path = links.ack_path(notice)
    page = client.get(path).get_data(as_text=True)
    assert f"Anda mengonfirmasi terima atas nama {recipient.name}." in page
    assert "Anda masuk sebagai" not in page  # nobody is signed in
    assert sign_in(client, recipient.email).status_code == 302
    own = client.get(path).get_data(as_text=True)
    assert f"Anda mengonfirmasi terima atas nama {recipient.name}." in own and "Anda masuk sebagai" not in own


def test_a_link_shows_no_more_of_the_incident_than_its_recipient_may_see(client, db, org, notice, clock):
    """The recipient moved to Kota Makassar since the notice left: the link still acknowledges in
    their name, but the page no longer shows the incident to anyone holding it."""
    recipient, incident = notice.recipient, notice.incident
    recipient.memberships[0].unit_id = org["units"]["KOTA-MAKASSAR"].id
    db.session.commit()
    _stranger(client, org, db)
    path = links.ack_path(notice)
    for page in (_en(client, "get", path), _en(client, "post", path)):
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert incident.title not in text and incident.reference not in text and incident.unit.name not in text
        assert f"{recipient.name}" in text
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_by_id == recipient.id


def test_a_link_for_someone_else_or_a_disabled_recipient_acknowledges_nothing(app, client, db, org, notice, clock):
    stranger = _stranger(client, org, db)
    with app.test_request_context():
        digest = links._key_digest(notice)
        # Signed with the real secret, naming the stranger as the recipient of the supervisor's notice.
        claimed = "/ack/" + signing.dumps(links.SALT, {"n": notice.id, "k": digest, "r": stranger.id})
    for method in ("get", "post"):
        refused = _en(client, method, claimed)
        assert refused.status_code == 404 and "not valid" in refused.get_data(as_text=True)
        assert notice.incident.title not in refused.get_data(as_text=True)
    path = links.ack_path(notice)
    notice.recipient.active = False
    db.session.commit()
    gone = _en(client, "post", path)
    assert gone.status_code == 404 and notice.incident.title not in gone.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_at is None
    assert _acknowledgements(db, notice.id) == []


def test_an_expired_or_tampered_link_changes_nothing_with_a_stranger_signed_in(client, db, org, notice, clock):
    path = links.ack_path(notice)
    clock.now = FIXED_NOW + timedelta(days=8)  # signed in after: an idle session would end first
    _stranger(client, org, db)
    tampered = _en(client, "post", path[:-3] + "abc")
    assert tampered.status_code == 404 and notice.incident.title not in tampered.get_data(as_text=True)
    expired = _en(client, "post", path)
    assert expired.status_code == 410 and notice.incident.title not in expired.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_at is None
    assert _acknowledgements(db, notice.id) == []


def test_replaying_a_link_with_someone_else_signed_in_changes_nothing(client, db, org, notice, clock):
    recipient = notice.recipient
    path = links.ack_path(notice)
    clock.now = FIXED_NOW + 40 * M
    assert client.post(path).status_code == 200  # the recipient, from the e-mail, signed out
    _stranger(client, org, db)
    clock.now = FIXED_NOW + 50 * M
    again = _en(client, "post", path)
    assert again.status_code == 200 and "This notice had already been acknowledged." in again.get_data(as_text=True)
    db.session.expire_all()
    acknowledged = db.session.get(Notice, notice.id)
    assert acknowledged.acknowledged_at == FIXED_NOW + 40 * M and acknowledged.acknowledged_by_id == recipient.id
    assert len(_acknowledgements(db, notice.id)) == 1
