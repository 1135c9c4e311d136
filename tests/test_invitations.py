"""People imported in bulk sign in: an invitation (a signed link that works once and expires) lets
them choose a password, as strong as the password rules want; e-mailed when mail is set up, listed
for the admin to hand over otherwise."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from crisis.audit.models import AuditEvent
from crisis.auth.models import User
from crisis.cli import main
from tests.conftest import csrf_token, form_post
from tests.engine.sinks import SmtpRecorder, SmtpSink
from tests.helpers import free_port

PEOPLE = (
    "name,email,unit_code,role,phone,language\n"
    "Siti Rahma,siti.rahma@jatengprov.go.id,KOTA-SEMARANG,officer,+62 812-3456-7890,id\n"
    "Budi Santoso,budi.santoso@jatengprov.go.id,KAB-BANYUMAS,supervisor,0281-123456,en\n"
)
LINK = re.compile(r"https?://\S+/invite/\S+")
GOOD_PASSWORD = "kopi tubruk di alun-alun"


@pytest.fixture
def no_mail(app: Any) -> Iterator[None]:
    saved = app.config["SMTP_HOST"]
    app.config["SMTP_HOST"] = None
    yield
    app.config["SMTP_HOST"] = saved


@pytest.fixture
def smtp(app: Any) -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    yield sink
    sink.stop()
    app.config.update(saved)


def _import(app: Any, tmp_path: Any, *args: str) -> Any:
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    return app.test_cli_runner().invoke(main, ["users", "import", str(path), *args])


def _links(output: str) -> dict[str, str]:
    """e-mail → link path, from the printed lines `email<TAB>link`."""
    found = {}
    for line in output.splitlines():
        email, _sep, rest = line.partition("\t")
        match = LINK.search(rest)
        if match:
            found[email] = urlsplit(match.group(0)).path
    return found


def _sign_in(client: Any, email: str, password: str) -> Any:
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/login")}
    )


def test_imported_person_sets_a_password_through_the_printed_link_and_signs_in(app, db, org, client, tmp_path, no_mail):
    result = _import(app, tmp_path, "--invite")
    assert result.exit_code == 0, result.output
    links = _links(result.output)
    assert set(links) == {"siti.rahma@jatengprov.go.id", "budi.santoso@jatengprov.go.id"}
    assert "2 orang diundang" in result.output  # the command line speaks the default language
    # Before: no password works.
    assert _sign_in(client, "siti.rahma@jatengprov.go.id", GOOD_PASSWORD).status_code == 401

    link = links["siti.rahma@jatengprov.go.id"]
    page = client.get(link, headers={"Accept-Language": "id"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Pilih kata sandi Anda" in text and "Siti Rahma" in text
    answer = client.post(
        link,
        data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD, "csrf_token": csrf_token(client, link)},
        headers={"Accept-Language": "id"},
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    signed_in = _sign_in(client, "siti.rahma@jatengprov.go.id", GOOD_PASSWORD)
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:300]
    assert client.get("/").status_code == 200
    kinds = set(db.session.scalars(select(AuditEvent.kind)))
    assert {"user.invited", "auth.password_set", "auth.sign_in"} <= kinds


def test_the_link_works_once(app, db, org, client, tmp_path, no_mail):
    link = _links(_import(app, tmp_path, "--invite").output)["budi.santoso@jatengprov.go.id"]
    data = {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}
    assert client.post(link, data={**data, "csrf_token": csrf_token(client, link)}).status_code == 302
    again = client.get(link, headers={"Accept-Language": "en"})
    assert again.status_code == 404
    assert "already been used" in again.get_data(as_text=True)
    # Nor can a copy of the form posted again change the password.
    token = csrf_token(client, "/login")
    assert client.post(link, data={**data, "password": "another one entirely", "csrf_token": token}).status_code == 404


def test_a_weak_or_mistyped_password_is_refused_next_to_its_field_in_both_languages(
    app, db, org, client, tmp_path, no_mail
):
    link = _links(_import(app, tmp_path, "--invite").output)["siti.rahma@jatengprov.go.id"]
    for lang, too_short, differ in (
        ("en", "Use at least 10 characters.", "The two passwords differ."),
        ("id", "Gunakan minimal 10 karakter.", "Kedua kata sandi berbeda."),
    ):
        headers = {"Accept-Language": lang}
        weak = client.post(
            link, data={"password": "abc", "confirm": "abc", "csrf_token": csrf_token(client, link)}, headers=headers
        )
        assert weak.status_code == 200
        assert too_short in weak.get_data(as_text=True)
        differing = client.post(
            link,
            data={"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD + "!", "csrf_token": csrf_token(client, link)},
            headers=headers,
        )
        assert differ in differing.get_data(as_text=True)
    db.session.expire_all()
    siti = db.session.scalar(select(User).where(User.email == "siti.rahma@jatengprov.go.id"))
    assert siti.password_hash == "!imported"  # nothing changed


def test_an_expired_link_is_refused(app, db, org, client, clock, tmp_path, no_mail):
    link = _links(_import(app, tmp_path, "--invite").output)["siti.rahma@jatengprov.go.id"]
    clock.now = clock.now + timedelta(seconds=app.config["INVITE_LINK_MAX_AGE_SECONDS"] + 60)
    page = client.get(link, headers={"Accept-Language": "id"})
    assert page.status_code == 410
    assert "kedaluwarsa" in page.get_data(as_text=True)


def test_a_forged_link_is_refused(app, db, org, client):
    assert client.get("/invite/eyJ1IjoxfQ.forged.signature").status_code == 404


def test_invite_by_unit_emails_each_person_in_their_language(app, db, org, tmp_path, smtp):
    assert _import(app, tmp_path).exit_code == 0
    result = app.test_cli_runner().invoke(main, ["users", "invite", "--unit", "JATENG"])
    assert result.exit_code == 0, result.output
    assert "siti.rahma@jatengprov.go.id" in result.output and "/invite/" not in result.output  # mailed, not printed
    by_address = {m["to"][0]: m["message"] for m in smtp.messages}
    assert set(by_address) == {"siti.rahma@jatengprov.go.id", "budi.santoso@jatengprov.go.id"}
    siti = by_address["siti.rahma@jatengprov.go.id"].get_body(("plain",)).get_content()
    budi = by_address["budi.santoso@jatengprov.go.id"].get_body(("plain",)).get_content()
    assert "pilih kata sandi" in str(by_address["siti.rahma@jatengprov.go.id"]["Subject"])
    assert "choose a password" in str(by_address["budi.santoso@jatengprov.go.id"]["Subject"])
    assert LINK.search(siti) and LINK.search(budi)
    assert "Halo Siti Rahma" in siti and "Hello Budi Santoso" in budi


def test_people_with_a_password_are_not_invited(app, db, org):
    result = app.test_cli_runner().invoke(main, ["users", "invite", "--email", "petugas.kota-semarang@demo.example"])
    assert result.exit_code == 2
    assert "petugas.kota-semarang@demo.example" in result.output
    nobody = app.test_cli_runner().invoke(main, ["users", "invite", "--unit", "PUSAT"])
    assert nobody.exit_code == 0 and "0 " in nobody.output


def test_admin_upload_leads_to_invitations_listed_to_hand_over(app, db, org, login_as, no_mail):
    client = login_as("admin", "JATENG")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "id"
    imported = form_post(client, "/admin/users/import", {"csv": PEOPLE, "action": "import"})
    assert imported.status_code == 302 and imported.headers["Location"].endswith("/admin/users/invitations")
    page = client.get("/admin/users/invitations").get_data(as_text=True)
    assert "Siti Rahma" in page and "/invite/" not in page  # links are made on request, each one recorded
    made = form_post(client, "/admin/users/invitations", {})
    links = re.findall(r'value="(https?://[^"]+/invite/[^"]+)"', made.get_data(as_text=True))
    assert len(links) == 2
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    path = urlsplit(links[0]).path
    assert client.get(path).status_code == 200


class _CheckingRecorder(SmtpRecorder):
    """A mail server that looks, as each invitation arrives, whether its record is already committed
    (on a connection of its own, which sees committed rows only)."""

    def __init__(self, engine: Any) -> None:
        super().__init__()
        self.engine = engine
        self.recorded_before: dict[str, bool] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.engine.connect() as conn:
            for address in envelope.rcpt_tos:
                found = conn.scalar(
                    select(AuditEvent.id).where(
                        AuditEvent.kind == "user.invited", AuditEvent.detail["email"].as_string() == address
                    )
                )
                self.recorded_before[address] = found is not None
        return await super().handle_DATA(server, session, envelope)


def test_an_invitation_is_recorded_before_its_link_goes_out(app, db, org, tmp_path):
    sink = SmtpSink()
    sink.recorder = _CheckingRecorder(db.engine)
    sink.start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    try:
        assert _import(app, tmp_path).exit_code == 0
        result = app.test_cli_runner().invoke(main, ["users", "invite", "--unit", "JATENG"])
        assert result.exit_code == 0, result.output
    finally:
        sink.stop()
        app.config.update(saved)
    assert sink.recorder.recorded_before == {
        "siti.rahma@jatengprov.go.id": True,
        "budi.santoso@jatengprov.go.id": True,
    }


def test_a_failed_invitation_mail_is_recorded_with_why_and_its_link_is_handed_over(app, db, org, login_as, tmp_path):
    assert _import(app, tmp_path).exit_code == 0
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())  # nothing listens there
    try:
        client = login_as("admin", "JATENG")
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "id"
        made = form_post(client, "/admin/users/invitations", {}).get_data(as_text=True)
    finally:
        app.config.update(saved)
    assert made.count("Surel gagal: ") == 2 and "Serahkan tautan ini" in made  # why, next to each person
    assert len(re.findall(r'value="(https?://[^"]+/invite/[^"]+)"', made)) == 2  # each link to hand over
    db.session.expire_all()
    kinds = sorted(e.kind for e in db.session.scalars(select(AuditEvent).where(AuditEvent.kind.like("user.invit%"))))
    assert kinds == ["user.invitation_not_mailed"] * 2 + ["user.invited"] * 2
    failed = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "user.invitation_not_mailed")).all()
    assert {e.detail["email"] for e in failed} == {"siti.rahma@jatengprov.go.id", "budi.santoso@jatengprov.go.id"}
    assert all(e.detail["problem"] for e in failed)
    audit_page = client.get("/admin/audit").get_data(as_text=True)
    assert "Surel undangan tidak dapat dikirim" in audit_page
