"""A production install that starts from nothing: the `crisis` commands of the README's *First
install*, run in order on a new, empty PostgreSQL database, end in a working sign-in and an API
call with the printed token. Bad input to the commands that create units, users and tokens is
refused with the option at fault on stderr, exit status 2, and nothing written."""

from __future__ import annotations

import hashlib
import re
import shlex
import uuid

import pytest
from sqlalchemy import func, select

from crisis.auth.models import ApiToken, User
from crisis.extensions import db as _db
from crisis.playbooks.models import Playbook
from crisis.playbooks.service import library_files
from crisis.units.models import Unit
from tests.conftest import REDIS_URL, RequestScopedClient, make_app, sign_in
from tests.helpers import ROOT, crisis_env, invoke_crisis

PASSWORD = "Rahasia-awal-2026!"


def first_install_commands() -> list[list[str]]:
    """The arguments of each `crisis` line of the first shell block under "### First install"."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### First install", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README.md: no shell block under ### First install"
    return [shlex.split(line, comments=True)[1:] for line in block.group(1).splitlines() if line.startswith("crisis ")]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def row_counts(session) -> dict[str, int]:
    session.commit()  # a new snapshot: what the command committed, or did not
    return {
        table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
        for table in _db.metadata.sorted_tables
    }


@pytest.mark.real_clock  # the commands run on their own apps, on the real clock; nothing plans from FIXED_NOW
def test_readme_first_install_on_an_empty_database_ends_in_sign_in_and_an_api_call(
    scratch_database, tmp_path, tmp_path_factory, monkeypatch
):
    url = scratch_database()
    env = crisis_env(
        CRISIS_DATABASE_URL=url,
        CRISIS_BROKER_URL=REDIS_URL,
        CRISIS_TASK_QUEUE=f"install-{uuid.uuid4().hex[:8]}",
        CRISIS_SECRET_KEY="install-test-secret-key",
        CRISIS_INSTANCE_PATH=str(tmp_path),
    )
    monkeypatch.chdir(ROOT)  # the README's paths (sops/) are a checkout's
    commands = first_install_commands()
    assert [args[:2] for args in commands] == [
        ["db", "upgrade"],
        ["units", "create"],
        ["users", "create"],
        ["sops", "load"],
        ["tokens", "create"],
    ]
    done = {}
    for args in commands:
        typed = f"{PASSWORD}\n{PASSWORD}\n" if args[:2] == ["users", "create"] else None  # the password prompt
        result = invoke_crisis(*args, env=env, input=typed)
        assert result.returncode == 0, f"crisis {shlex.join(args)}\n{result.stdout}\n{result.stderr}"
        done[" ".join(args[:2])] = result
    unit_code = option(commands[1], "--code")
    admin_email = option(commands[2], "--email")
    assert option(commands[4], "--email") == admin_email
    token = done["tokens create"].stdout.strip()  # the token alone on stdout; the explanation on stderr
    assert re.fullmatch(r"crs_[A-Za-z0-9_-]{43}", token), done["tokens create"].stdout
    assert token not in done["tokens create"].stderr

    app = make_app(url, tmp_path_factory)
    app.test_client_class = RequestScopedClient
    try:
        with app.app_context():
            assert [(u.code, u.kind, u.parent_id) for u in _db.session.scalars(select(Unit))] == [
                (unit_code, "central", None)
            ]
            assert _db.session.scalar(select(func.count()).select_from(Playbook)) == len(library_files(ROOT / "sops"))
            stored = _db.session.scalars(select(ApiToken)).one()
            assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert token not in {stored.name, stored.prefix, stored.token_hash}
            assert _db.session.scalar(select(User.email)) == admin_email

        browser = app.test_client()
        signed_in = sign_in(browser, admin_email, PASSWORD)
        assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:500]
        home = browser.get(signed_in.headers["Location"])
        assert home.status_code == 200 and option(commands[2], "--name") in home.get_data(as_text=True)

        tool = app.test_client()
        bearer = {"Authorization": f"Bearer {token}"}
        me = tool.get("/api/v1/me", headers=bearer)
        assert me.status_code == 200, me.get_data(as_text=True)
        assert me.get_json()["email"] == admin_email
        assert [(m["unit_code"], m["role"]) for m in me.get_json()["memberships"]] == [(unit_code, "admin")]
        assert [u["code"] for u in tool.get("/api/v1/units", headers=bearer).get_json()] == [unit_code]
        assert tool.get("/api/v1/me", headers={"Authorization": "Bearer crs_not-a-token"}).status_code == 401
    finally:
        with app.app_context():
            _db.engine.dispose()


# (command line, the option the message names): each refused with exit status 2, nothing written.
BAD_INPUT = {
    "unknown parent": (["units", "create", "--code", "KAB-BARU", "--name", "Kab Baru", "--kind", "regency",
                        "--parent", "NOPE"], "--parent", "NOPE"),
    "central unit under a province": (["units", "create", "--code", "BIRO-X", "--name", "Biro X", "--kind", "central",
                                       "--parent", "JATENG"], "--parent", None),
    "regency without a parent": (["units", "create", "--code", "KAB-BARU", "--name", "Kab Baru", "--kind", "regency"],
                                 "--parent", None),
    "province without a parent": (["units", "create", "--code", "PROV-BARU", "--name", "Provinsi Baru", "--kind",
                                   "province"], "--parent", None),
    "unknown time zone": (["units", "create", "--code", "KAB-BARU", "--name", "Kab Baru", "--kind", "regency",
                           "--parent", "JATENG", "--timezone", "Asia/Bandung"], "--timezone", "Asia/Jakarta"),
    "duplicate code": (["units", "create", "--code", "JATENG", "--name", "Jawa Tengah lagi", "--kind", "province",
                        "--parent", "PUSAT"], "--code", None),
    "badly formed code": (["units", "create", "--code", "kab baru", "--name", "Kab Baru", "--kind", "regency",
                           "--parent", "JATENG"], "--code", None),
    "unknown kind": (["units", "create", "--code", "KAB-BARU", "--name", "Kab Baru", "--kind", "village",
                      "--parent", "JATENG"], "--kind", None),
    "token for an unknown e-mail address": (["tokens", "create", "--email", "nobody@example.go.id", "--name",
                                             "monitoring"], "--email", "nobody@example.go.id"),
    "token without a name": (["tokens", "create", "--email", "admin.pusat@demo.example", "--name", " "],
                             "--name", None),
    "user in an unknown unit": (["users", "create", "--email", "baru@example.go.id", "--name", "Baru", "--unit",
                                 "NOPE", "--role", "admin", "--password", PASSWORD], "--unit", "NOPE"),
    "user whose e-mail address is taken": (["users", "create", "--email", "admin.pusat@demo.example", "--name",
                                            "Lagi", "--unit", "PUSAT", "--role", "admin", "--password", PASSWORD],
                                           "--email", None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_names_the_option_exits_2_and_writes_nothing(case, db, org, pg_url, tmp_path):
    args, named, quoted = BAD_INPUT[case]
    before = row_counts(db.session)
    result = invoke_crisis(*args, env=crisis_env(CRISIS_DATABASE_URL=pg_url, CRISIS_INSTANCE_PATH=str(tmp_path)))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert named in result.stderr, result.stderr
    if quoted:
        assert quoted in result.stderr, result.stderr
    assert result.stdout == ""
    assert row_counts(db.session) == before


def test_a_refusal_says_why_in_indonesian_and_that_nothing_changed(db, org, pg_url, tmp_path):
    env = crisis_env(CRISIS_DATABASE_URL=pg_url, CRISIS_INSTANCE_PATH=str(tmp_path))
    regency = invoke_crisis(
        "units", "create", "--code", "KAB-BARU", "--name", "Kab Baru", "--kind", "regency", "--parent", "NOPE", env=env
    )
    assert regency.stderr.splitlines() == ["--parent: Tidak ada unit dengan kode NOPE.", "Tidak ada yang diubah."]
    orphan = invoke_crisis("units", "create", "--code", "KAB-BARU", "--name", "Kab Baru", "--kind", "regency", env=env)
    assert orphan.stderr.splitlines()[0].startswith("--parent: Unit jenis Kabupaten/kota tidak dapat berada di bawah")


def test_token_for_a_disabled_user_is_refused(db, org, pg_url, tmp_path):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    officer.active = False
    db.session.commit()
    before = row_counts(db.session)
    result = invoke_crisis(
        "tokens",
        "create",
        "--email",
        officer.email,
        "--name",
        "monitoring",
        env=crisis_env(CRISIS_DATABASE_URL=pg_url, CRISIS_INSTANCE_PATH=str(tmp_path)),
    )
    assert result.returncode == 2 and result.stderr.startswith("--email: ") and officer.email in result.stderr
    assert row_counts(db.session) == before


def test_units_below_the_central_one_are_created_parent_first(db, org, pg_url, tmp_path):
    env = crisis_env(CRISIS_DATABASE_URL=pg_url, CRISIS_INSTANCE_PATH=str(tmp_path))
    province = invoke_crisis(
        "units", "create", "--code", "KALTIM", "--name", "Diskominfo Kalimantan Timur", "--kind", "province",
        "--parent", "PUSAT", "--timezone", "Asia/Makassar", env=env,
    )  # fmt: skip
    assert province.returncode == 0, province.stderr
    assert province.stdout.strip() == "Unit KALTIM (Provinsi, WITA) dibuat: Diskominfo Kalimantan Timur."
    city = invoke_crisis(
        "units", "create", "--code", "KOTA-SAMARINDA", "--name", "Diskominfo Kota Samarinda", "--kind", "regency",
        "--parent", "KALTIM", "--timezone", "Asia/Makassar", env=env,
    )  # fmt: skip
    assert city.returncode == 0, city.stderr
    db.session.commit()
    samarinda = db.session.scalar(select(Unit).where(Unit.code == "KOTA-SAMARINDA"))
    assert (samarinda.kind, samarinda.parent.code, samarinda.parent.parent.code) == ("regency", "KALTIM", "PUSAT")
    assert samarinda.timezone == "Asia/Makassar"
