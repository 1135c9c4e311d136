"""The README's *The whole country, its people and rosters*: its `crisis` lines, run in order on a
new database after the first install's central unit, load Indonesia, import the people of a CSV,
invite them (each gets their link by e-mail, from a real SMTP server here) and give Kota Semarang
four weeks of duty; then one of the imported people chooses a password through the link in their
e-mail and signs in."""

from __future__ import annotations

import re
import shlex
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import REDIS_URL
from tests.engine.sinks import SmtpSink
from tests.helpers import ROOT, crisis_env, invoke_crisis


def country_commands() -> list[list[str]]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### The whole country", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README.md: no shell block under ### The whole country"
    return [shlex.split(line, comments=True)[1:] for line in block.group(1).splitlines() if line.startswith("crisis ")]


@pytest.mark.real_clock  # the commands run on their own apps; the rota's dates are the README's own
def test_readme_country_commands_load_indonesia_people_and_a_month_of_rosters(scratch_database, tmp_path, monkeypatch):
    url = scratch_database()
    smtp = SmtpSink().start()
    env = crisis_env(
        CRISIS_SMTP_HOST="127.0.0.1",
        CRISIS_SMTP_PORT=str(smtp.port),
        CRISIS_DATABASE_URL=url,
        CRISIS_BROKER_URL=REDIS_URL,
        CRISIS_TASK_QUEUE=f"country-{uuid.uuid4().hex[:8]}",
        CRISIS_SECRET_KEY="country-test-secret-key",
        CRISIS_INSTANCE_PATH=str(tmp_path),
    )
    for args in (
        ["db", "upgrade"],
        ["units", "create", "--code", "PUSAT", "--name", "Biro Humas", "--kind", "central"],
    ):
        assert invoke_crisis(*args, env=env).returncode == 0
    commands = country_commands()
    rotate = next(args for args in commands if args[:2] == ["roster", "rotate"])
    unit, emails = rotate[rotate.index("--unit") + 1], rotate[rotate.index("--people") + 1].split(",")
    people = "name,email,unit_code,role,phone,language\n" + "".join(
        f"Petugas {n},{email},{unit},officer,0812-000-{n},id\n" for n, email in enumerate(emails)
    )
    (tmp_path / "people.csv").write_text(people, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # where the README's people.csv is
    assert any(args[:2] == ["users", "invite"] for args in commands), "the README no longer invites the people"
    try:
        for args in commands:
            result = invoke_crisis(*args, env=env)
            assert result.returncode == 0, f"crisis {shlex.join(args)}\n{result.stdout}\n{result.stderr}"
    finally:
        smtp.stop()
    links = {
        m["to"][0]: re.search(r"https?://\S+/invite/\S+", m["message"].get_body(("plain",)).get_content()).group(0)
        for m in smtp.messages
    }
    assert set(links) == set(emails)

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            kinds = dict(conn.execute(text("SELECT kind, count(*) FROM unit GROUP BY kind")).all())
            assert kinds == {"central": 1, "province": 38, "regency": 514}
            assert conn.execute(text('SELECT count(*) FROM "user"')).scalar() == len(emails)
            shifts = conn.execute(
                text("SELECT count(*) FROM duty_shift JOIN unit ON unit.id = duty_shift.unit_id WHERE unit.code = :c"),
                {"c": unit},
            ).scalar()
            assert shifts == 4 * 7 * 2  # four weeks of day and night shifts
    finally:
        engine.dispose()

    # The first person of the roster chooses a password with the printed link, and signs in.
    from crisis import create_app

    app = create_app(
        {
            "DATABASE_URL": url,
            "BROKER_URL": REDIS_URL,
            "SECRET_KEY": "country-test-secret-key",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            "SESSION_COOKIE_SECURE": False,
        }
    )
    client = app.test_client()
    path = urlsplit(links[emails[0]]).path
    password = "jadwal piket kota lama"
    chosen = client.post(path, data={"password": password, "confirm": password})
    assert chosen.status_code == 302, chosen.get_data(as_text=True)[:500]
    signed_in = client.post("/login", data={"email": emails[0], "password": password})
    assert signed_in.status_code == 302 and not signed_in.headers["Location"].endswith("/login")
    with app.app_context():
        from crisis.extensions import db

        db.engine.dispose()
