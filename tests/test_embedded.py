"""The embedded default, as a newcomer meets it: SQLite, `crisis` commands, `crisis run`."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.helpers import BIN, ROOT, crisis_env, free_port, invoke_crisis, run_crisis, serving, wait_until

pytestmark = pytest.mark.real_clock


@pytest.fixture
def embedded_env(tmp_path):
    return crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path / "instance"))


def test_cli_migrates_seeds_and_lists_the_tree(embedded_env, tmp_path):
    assert invoke_crisis("db", "upgrade", env=embedded_env).returncode == 0
    assert (tmp_path / "instance" / "crisis.sqlite3").exists()
    first = invoke_crisis("seed", "demo", "--if-empty", env=embedded_env)
    assert first.returncode == 0, first.stderr
    assert "Demo organisation loaded." in first.stdout
    assert "petugas.kota-semarang@demo.example" in first.stdout
    again = invoke_crisis("seed", "demo", "--if-empty", env=embedded_env)
    assert "not loaded again" in again.stdout and "petugas.pusat@demo.example" in again.stdout
    refused = invoke_crisis("seed", "demo", env=embedded_env)
    assert refused.returncode != 0 and "already has units" in refused.stderr
    tree = invoke_crisis("units", "list", env=embedded_env).stdout.splitlines()
    assert tree[0].startswith("PUSAT")
    assert any(line.startswith("    KOTA-MAKASSAR") and " WITA " in line for line in tree)


def test_cli_creates_users_and_explains_bad_input(embedded_env):
    invoke_crisis("db", "upgrade", env=embedded_env)
    invoke_crisis("seed", "demo", env=embedded_env)
    weak = invoke_crisis(
        "users",
        "create",
        "--email",
        "baru@demo.example",
        "--name",
        "Baru",
        "--unit",
        "PUSAT",
        "--role",
        "officer",
        "--password",
        "12345",
        env=embedded_env,
    )
    # The server's own language is Indonesian first; the field and the number are in any language.
    assert weak.returncode != 0 and "--password" in weak.stderr and "10" in weak.stderr
    unknown = invoke_crisis(
        "users",
        "create",
        "--email",
        "baru@demo.example",
        "--name",
        "Baru",
        "--unit",
        "NOPE",
        "--role",
        "officer",
        "--password",
        "sungai kapuas panjang",
        env=embedded_env,
    )
    assert unknown.returncode != 0 and "--unit" in unknown.stderr
    created = invoke_crisis(
        "users",
        "create",
        "--email",
        "Baru@Demo.Example",
        "--name",
        "Baru",
        "--unit",
        "SULSEL",
        "--role",
        "officer",
        "--password",
        "sungai kapuas panjang",
        env=embedded_env,
    )
    assert created.returncode == 0, created.stderr
    assert "baru@demo.example" in created.stdout.lower()


@pytest.mark.slow
def test_start_up_outside_embedded_mode_needs_a_secret(embedded_env):
    result = run_crisis("units", "list", env={**embedded_env, "CRISIS_BROKER_URL": "redis://127.0.0.1:6379/13"})
    assert result.returncode != 0
    assert "CRISIS_SECRET_KEY is not set" in result.stderr


@pytest.mark.slow
def test_crisis_run_serves_sign_in_and_demo_accounts_work(embedded_env):
    invoke_crisis("db", "upgrade", env=embedded_env)
    invoke_crisis("seed", "demo", env=embedded_env)
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "crisis"), "run", "--port", str(port)],
        env=embedded_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            try:
                return urllib.request.urlopen(f"{base}/healthz", timeout=1).status == 200
            except OSError:
                return False

        assert wait_until(answers, timeout=30), "crisis run did not start"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{base}/login").read().decode()
        assert "Masuk" in page
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"email": "kepala.papua@demo.example", "password": "piket-demo-2026", "csrf_token": token}
        ).encode()
        console = opener.open(f"{base}/login", data=form).read().decode()
        assert "Yohanes Wenda" in console and "WIT" in console

        def scheduler_ticks() -> bool:
            try:
                return urllib.request.urlopen(f"{base}/readyz", timeout=1).status == 200
            except OSError:
                return False

        assert wait_until(scheduler_ticks, timeout=15), "embedded scheduler never ticked"
    finally:
        server.terminate()
        server.communicate(timeout=10)


@pytest.mark.slow
def test_two_embedded_servers_on_one_database_share_the_sign_in_limit(embedded_env):
    """`crisis run` twice on one instance folder, no Redis: the 11th wrong password answers 429,
    whichever process it reaches."""
    invoke_crisis("db", "upgrade", env=embedded_env)
    invoke_crisis("seed", "demo", env=embedded_env)
    second_env = {**embedded_env, "CRISIS_EMBEDDED_SCHEDULER": "false"}  # one scheduler is enough

    def wrong_password(base: str) -> int:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(f"{base}/login").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {"email": "petugas.kab-gowa@demo.example", "password": "tebakan-yang-salah", "csrf_token": token}
        try:
            return opener.open(f"{base}/login", data=urllib.parse.urlencode(form).encode()).status
        except urllib.error.HTTPError as error:
            return error.code

    with serving(embedded_env) as first, serving(second_env) as second:
        answers = [wrong_password(first) for _ in range(5)] + [wrong_password(second) for _ in range(5)]
        assert answers == [401] * 10
        assert wrong_password(first) == 429
        assert wrong_password(second) == 429
