"""Production serving as the image runs it: `gunicorn -c python:crisis.serving crisis.wsgi:app` on
a loopback port. What gunicorn refuses itself, before the app sees a request (a request line or
headers over its limits, text that is not HTTP), is answered as application/problem+json in the
default language, like every refusal of the app; an address over the app's own limit but within
gunicorn's is the app's 414."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
from collections.abc import Iterator

import pytest

from crisis import serving
from tests.helpers import BIN, ROOT, crisis_env, free_port, wait_until

pytestmark = pytest.mark.slow
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def gunicorn(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    env = crisis_env(
        CRISIS_DATABASE_URL=pg_url,
        CRISIS_SECRET_KEY="gunicorn-test-secret",
        CRISIS_INSTANCE_PATH=str(tmp_path_factory.mktemp("gunicorn-instance")),
        WEB_CONCURRENCY="1",
    )
    log = tmp_path_factory.mktemp("gunicorn-log") / "gunicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "python:crisis.serving", "--bind", f"127.0.0.1:{port}", "crisis.wsgi:app"],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def up() -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    try:
        assert wait_until(up, timeout=60), "gunicorn did not answer /healthz:\n" + log.read_text()[-3000:]
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received:
                head, _, body = received.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    return int(lines[0].split()[1]), headers, body


def test_the_configuration_raises_gunicorns_limits_to_their_maximum_and_uses_the_problem_worker():
    assert serving.limit_request_line == 8190  # gunicorn's largest; 0 (unlimited) would read any length
    assert serving.worker_class == "crisis.serving.ProblemWorker"


@pytest.mark.parametrize(
    ("request_bytes", "status", "words"),
    [
        (b"GET /api/v1/issues?q=" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "8.000"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"x" * 10_000 + b"\r\n\r\n", 431, "header"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(120)) + b"\r\n", 431, ""),
        (b"GARBAGE\r\n\r\n", 400, "HTTP"),
    ],
    ids=["request line over gunicorn's limit", "a header too long", "too many headers", "not HTTP"],
)
def test_gunicorns_own_refusals_are_problem_json_in_the_default_language(gunicorn, request_bytes, status, words):
    got, headers, body = _exchange(gunicorn, request_bytes)
    assert got == status, body[:300]
    assert headers["content-type"] == PROBLEM, headers
    problem = json.loads(body)
    assert problem["status"] == status, problem
    assert words in problem["detail"], problem


def test_an_address_over_the_apps_limit_within_gunicorns_is_the_apps_414(gunicorn):
    target = b"/api/v1/issues?q=" + b"x" * 8100  # over 8,000, and the request line under 8,190
    got, headers, body = _exchange(gunicorn, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got == 414, body[:300]
    assert headers["content-type"] == PROBLEM
    assert "8.000" in json.loads(body)["detail"]


def test_gunicorn_serves_ordinary_requests(gunicorn):
    got, _headers, body = _exchange(gunicorn, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got == 200, body
