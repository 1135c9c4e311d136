"""Load benchmark (issue 7): the app under gunicorn on PostgreSQL + Redis, loaded from loopback.

    .venv/bin/python benchmarks/load/run.py                      # seed 50,000 incidents, measure, drop
    .venv/bin/python benchmarks/load/run.py --keep               # ... and keep the database
    .venv/bin/python benchmarks/load/run.py --reuse crisis_load_XXXXXXXX   # measure a kept database again

1. Creates a scratch PostgreSQL database (CRISIS_TEST_PG_ADMIN_URL, default the test role `crisis_test`
   made by scripts/test-services.sh) and uses Redis on 127.0.0.1:6379 database 9 (--redis-db) as broker
   and rate-limit store; runs `crisis db upgrade`, `crisis seed demo` and
   `crisis seed history --incidents 50000` through the real command line.
2. Prepares what the load needs, through the services: API tokens, enough fresh incidents that every
   tick request ticks a distinct open checklist item, and one incident with exactly 200 timeline events.
3. Starts the app as production does (`gunicorn crisis.wsgi:app`: templates compiled and start-up
   objects frozen out of the garbage collector; `crisis:create_app()` for an --app-root without
   crisis/wsgi.py) and the peer (benchmarks/load/peer.py: Flask, one INSERT per request into its own
   table of the same database) with the same gunicorn settings (default CPUs + 1 sync workers).
4. Measures each kind of request one at a time first (median time, and CPU per request in the web
   workers and in PostgreSQL: the figure least moved by other work on the machine), then, from
   loopback:
   a. ticking a checklist item (POST /api/v1/checklist/<id>/tick, bearer token) at a fixed rate of
      100 requests/s with an open-loop client (latency counted from the moment each request was due,
      so a slow answer cannot hold back the next request: no coordinated omission);
   b. the incident page with 200 timeline events (GET /incidents/<id>, signed-in session), wrk, and
      then at a fixed rate (--page-rate, default 40/s) with the same open-loop client as a.;
   c. logging an issue (POST /api/v1/issues with an Idempotency-Key, bearer token), wrk, every body
      distinct;
   d. the console (GET /, signed in as the central desk's head, who sees every unit), wrk;
   e. logging issues in batches (POST /api/v1/issues/batch, --batch issues per request, default 20,
      each distinct, with an Idempotency-Key), wrk, reported in issues per second, beside the peer's
      batch twin (POST /insert-batch: the same number of rows in one multi-row INSERT);
   f. the national situation room (GET /situation, the central head: every province), wrk;
   and the peer under the same two load shapes (100 requests/s open loop; wrk at maximum throughput
   before and after the app's runs), reporting p50/p95/p99, throughput, non-2xx counts and the ratio
   of each figure to the peer's.
5. Checks that the work was done (every successful tick ticked its item, every logged issue exists),
   prints the load average and CPU use of the machine during each run, and drops the database.

wrk is Debian's package `wrk`; when it is missing the script installs it with apt-get and says so.
National scale (issue 21): `--national` imports the whole of Indonesia first (`crisis units
import-indonesia`: 38 provinces, 514 regencies/cities), seeds 55,000 incidents over every unit (about
2,500 of them still active), opens incidents until 3,000 run (--active) and tops the issues up to
30,000 (--issues), then measures d. and f.; a run that does not measure a. opens only the probe's
few tick incidents, so a kept database measured again (--reuse) keeps about as many running:

    .venv/bin/python benchmarks/load/run.py --national --only df

Measuring holds `flock /tmp/crisis-bench.lock` (seeding does not), so benchmarks never overlap.
To compare code versions on one database: `--keep`, then `--reuse DB --app-root OTHER_TREE`
(and `--drop-index NAME` to measure without an index that version did not have).
Results and what they led to: benchmarks/load/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))
ADMIN = os.environ.get("CRISIS_TEST_PG_ADMIN_URL", "postgresql://crisis_test:crisis_test@127.0.0.1:5432/postgres")
HOST = "127.0.0.1"
PASSWORD = "piket-demo-2026"
TICK_USER = "petugas.kota-semarang@demo.example"  # officer of a regency, commander of the tick incidents
PAGE_USER = TICK_USER  # opens the incident they command: every form on the page is rendered
CONSOLE_USER = "kepala.pusat@demo.example"  # head of the central desk: sees every unit and open incident
LOGGER_USER = "petugas.pusat@demo.example"  # a national monitoring tool logging issues for every unit
PEER_TABLE = (  # the peer's own table (benchmarks/load/peer.py)
    "CREATE TABLE IF NOT EXISTS load_peer_event (id bigserial PRIMARY KEY, title varchar(300) NOT NULL, "
    "payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)

# --- the machine ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk is not installed: installing the Debian package `wrk` with apt-get", flush=True)
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", "wrk"], env=env).returncode != 0:
        subprocess.run([*prefix, "apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk could not be installed")
    return path


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class MachineLoad:
    """Load average and CPU use of the whole machine (all agents on it) while a measurement runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> MachineLoad:
        self.load_start = os.getloadavg()[0]
        self.cpu_start = _cpu_times()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        busy, total = _cpu_times()
        self.cpu_busy = 100.0 * (busy - self.cpu_start[0]) / max(1, total - self.cpu_start[1])
        self.load_end = os.getloadavg()[0]

    def describe(self) -> dict[str, float]:
        values = self.samples or [self.load_start]
        return {
            "load_start": round(self.load_start, 2),
            "load_max": round(max(values + [self.load_end]), 2),
            "load_end": round(self.load_end, 2),
            "cpu_busy_percent": round(self.cpu_busy, 1),
        }


# --- measurements --------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    shape: str  # "rate" (open loop at a fixed rate) or "max" (wrk, as fast as it answers)
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    errors: int
    machine: dict[str, float] = field(default_factory=dict)
    note: str = ""
    items: int = 1  # rows written per request (a batch)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def item_throughput(self) -> float:
        return self.throughput * self.items


def _pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


async def _one_request(raw: bytes, port: int, due: float, out: list[tuple[float, int, bytes]]) -> None:
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        body = await reader.readexactly(int(length.group(1))) if length else await reader.read()
        writer.close()
        out.append((loop.time() - due, status, body[:2000]))  # enough to show an error; pages are ~100 kB
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        out.append((loop.time() - due, 0, repr(error).encode()))


async def _open_loop(raws: list[bytes], port: int, rate: float) -> tuple[list[tuple[float, int, bytes]], float]:
    """Send request i at start + i / rate whether or not earlier ones have answered."""
    loop = asyncio.get_running_loop()
    out: list[tuple[float, int, bytes]] = []
    start = loop.time() + 0.1
    tasks = []
    for i, raw in enumerate(raws):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one_request(raw, port, due, out)))
    await asyncio.gather(*tasks)
    return out, loop.time() - start


def open_loop(name: str, raws: list[bytes], port: int, rate: float) -> tuple[Figures, list[tuple[float, int, bytes]]]:
    with MachineLoad() as machine:
        out, seconds = asyncio.run(_open_loop(raws, port, rate))
    latencies = sorted(latency * 1000 for latency, _status, _body in out)
    figures = Figures(
        name=name,
        shape="rate",
        requests=len(out),
        seconds=seconds,
        p50_ms=_pct(latencies, 0.5),
        p95_ms=_pct(latencies, 0.95),
        p99_ms=_pct(latencies, 0.99),
        max_ms=latencies[-1],
        non_2xx=sum(1 for _l, status, _b in out if status and not 200 <= status < 300),
        errors=sum(1 for _l, status, _b in out if status == 0),
        machine=machine.describe(),
    )
    return figures, out


def http_request(method: str, path: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


WRK_REPORT = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  bad = 0
  n = 0
  math.randomseed(os.time() * 1000 + tid)
end
function response(status, headers, body)
  if status ~= EXPECTED then bad = bad + 1 end
end
function done(summary, latency, requests)
  local unexpected = 0
  for _, t in ipairs(threads) do unexpected = unexpected + t:get("bad") end
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "unexpected": %d, "status": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "p50": %d, "p95": %d, "p99": %d, "max": %d}\n',
    summary.requests, summary.duration, unexpected, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max))
end
"""

WRK_GET = r"""
EXPECTED = 200
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
wrk.headers["Accept-Language"] = "id"
"""

# Monitoring tools post distinct issues: random titles from a vocabulary (rarely 80 % alike), a fresh
# link and a fresh Idempotency-Key each, spread over every unit; with BENCH_BATCH, that many per request
# (POST /api/v1/issues/batch).
WRK_POST_ISSUE = r"""
EXPECTED = 201
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_TOKEN")
local units = {}
for u in string.gmatch(os.getenv("BENCH_UNITS") or "", "%d+") do table.insert(units, u) end
local tag = os.getenv("BENCH_TAG")
local batch = tonumber(os.getenv("BENCH_BATCH") or "0")  -- 0: one issue per request, POST /api/v1/issues
local words = {"warga", "keluhan", "antrean", "layanan", "hoaks", "bantuan", "sosial", "banjir", "jalan", "rusak",
  "pemadaman", "air", "listrik", "sekolah", "puskesmas", "pasar", "parkir", "tarif", "bus", "kereta", "gempa",
  "longsor", "izin", "data", "bocor", "viral", "video", "petugas", "kasar", "pungli", "kantor", "kelurahan",
  "kecamatan", "sampah", "banjir", "rob", "demo", "mahasiswa", "buruh", "nelayan", "harga", "beras", "minyak",
  "gas", "elpiji", "vaksin", "rumah", "sakit", "ambulans", "jembatan", "macet", "tol", "bandara", "pelabuhan",
  "kapal", "tiket", "mudik", "zakat", "pajak", "ktp", "kk", "akta", "nikah", "bpjs", "klaim", "ditolak",
  "video", "tiktok", "instagram", "grup", "whatsapp", "pesan", "berantai", "foto", "palsu", "surat", "edaran"}
local channels = {"x", "instagram", "tiktok", "facebook", "youtube", "online_news"}
local categories = {"service_failure", "hoax", "disaster", "data_leak", "policy_backlash", "official_conduct",
  "public_complaint", "other"}
local sentiments = {"negative", "mixed", "neutral", "positive"}
local function issue(key)
  local title = {}
  for i = 1, 7 do title[i] = words[math.random(#words)] end
  return string.format('{"unit_id": %s, "title": "%s", "description": "Dipantau otomatis.", ' ..
    '"channel": "%s", "category": "%s", "reach": %d, "engagement": %d, "sentiment": "%s", ' ..
    '"evidence_urls": ["https://example.org/posts/%s"]}',
    units[(n % #units) + 1], table.concat(title, " "), channels[math.random(#channels)],
    categories[math.random(#categories)], math.random(100, 2000000), math.random(10, 200000),
    sentiments[math.random(#sentiments)], key)
end
function request()
  n = n + 1
  local key = tag .. "-" .. tid .. "-" .. n
  wrk.headers["Idempotency-Key"] = key
  if batch == 0 then return wrk.format(nil, nil, nil, issue(key)) end
  local items = {}
  for i = 1, batch do items[i] = issue(key .. "-" .. i) end
  return wrk.format(nil, nil, nil, '{"issues": [' .. table.concat(items, ", ") .. ']}')
end
"""

WRK_PEER = r"""
EXPECTED = 201
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local tag = os.getenv("BENCH_TAG")
local batch = tonumber(os.getenv("BENCH_BATCH") or "0")  -- 0: one row per request, POST /insert
local function item(key)
  return string.format('{"title": "peer %s", "channel": "x", "reach": %d, ' ..
    '"evidence_urls": ["https://example.org/posts/%s"]}', key, math.random(100, 2000000), key)
end
function request()
  n = n + 1
  local key = tag .. "-" .. tid .. "-" .. n
  if batch == 0 then return wrk.format(nil, nil, nil, item(key)) end
  local items = {}
  for i = 1, batch do items[i] = item(key .. "-" .. i) end
  return wrk.format(nil, nil, nil, '{"items": [' .. table.concat(items, ", ") .. ']}')
end
"""


def wrk(
    name: str, url: str, script: str, env: dict[str, str], *, seconds: int, connections: int, threads: int = 1
) -> Figures:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + WRK_REPORT)
        path = handle.name
    try:
        with MachineLoad() as machine:
            result = subprocess.run(
                ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", path, url],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            )
    finally:
        os.unlink(path)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no report:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return Figures(
        name=name,
        shape="max",
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
        non_2xx=data["unexpected"],
        errors=socket_errors,
        machine=machine.describe(),
        note=f"wrk -t{threads} -c{connections} -d{seconds}s",
    )


# --- processes -----------------------------------------------------------------------------------


def crisis_env(url: str, redis_url: str, instance: str) -> dict[str, str]:
    return {
        **os.environ,
        "CRISIS_DATABASE_URL": url,
        "CRISIS_BROKER_URL": redis_url,
        "CRISIS_SECRET_KEY": "load-benchmark-secret-not-for-production-0123456789",
        "CRISIS_SESSION_COOKIE_SECURE": "false",  # plain http on loopback
        "CRISIS_INSTANCE_PATH": instance,
    }


def crisis_cli(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    print(f"$ crisis {' '.join(args)}", flush=True)
    subprocess.run([str(BIN / "crisis"), *args], env=env, check=True, cwd=ROOT)
    return time.perf_counter() - start


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@functools.cache
def _control_socket_flag() -> list[str]:
    """gunicorn 27 opens a control socket at ~/.gunicorn/gunicorn.ctl; the app and the peer (or two
    trees in compare.py) would both claim it ("Control server error: File exists"). Nothing here
    uses it: off, where this gunicorn has the switch."""
    help_text = subprocess.run([str(BIN / "gunicorn"), "--help"], capture_output=True, text=True).stdout
    return ["--no-control-socket"] if "--no-control-socket" in help_text else []


class Gunicorn:
    def __init__(self, name: str, app: str, env: dict[str, str], options: argparse.Namespace, chdir: Path = ROOT):
        self.name, self.port = name, free_port()
        env = {**env, "PYTHONPATH": str(chdir)}  # the app's code from chdir (--app-root), not the installed copy
        command = [
            str(BIN / "gunicorn"),
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(options.workers),
            "--worker-class",
            options.worker_class,
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--log-level",
            "warning",
            "--chdir",
            str(chdir),
            *_control_socket_flag(),
        ]
        if options.worker_class == "gthread":
            command += ["--threads", str(options.threads)]
        self.command = [*command, app]
        self.process = subprocess.Popen(self.command, env=env, cwd=chdir)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer /healthz within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def sign_in(port: int, email: str) -> str:
    """A session cookie for `email`, through the real sign-in form."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://{HOST}:{port}"
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=form).read()
    cookies = {c.name: c.value for c in jar}
    if "crisis_session" not in cookies:
        raise RuntimeError(f"sign-in as {email} gave no session cookie")
    probe = urllib.request.Request(f"{base}/", headers={"Cookie": f"crisis_session={cookies['crisis_session']}"})
    with urllib.request.build_opener(_NoRedirect).open(probe) as response:
        if response.status != 200:
            raise RuntimeError(f"sign-in as {email} did not give a working session ({response.status})")
    return f"crisis_session={cookies['crisis_session']}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


# --- data ------------------------------------------------------------------------------------------


def _app(url: str, redis_url: str) -> Any:
    from crisis import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "BROKER_URL": redis_url,
            "SECRET_KEY": "load-benchmark",
            "WTF_CSRF_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
        }
    )


def open_incident(*, session: Any, officer: Any, title: str, number: int, now: datetime | None = None) -> Any:
    """An issue logged by `officer` and escalated at once, with them as commander (SOPs in turn)."""
    from crisis.incidents import service as incidents
    from crisis.issues import service as issues
    from crisis.playbooks import service as playbooks

    versions = [playbooks.get_version(session=session, key=p.key) for p in playbooks.list_playbooks(session=session)]
    version = versions[number % len(versions)]
    issue = issues.create(
        session=session,
        actor=officer,
        unit_id=None,
        title=title,
        channel="hotline",
        category=version.canonical["category"],
        first_seen_at=None,
        now=now,
    )
    return incidents.open_from_issue(
        session=session,
        actor=officer,
        issue_id=issue.id,
        playbook_key=version.playbook.key,
        severity=max(version.canonical["severities"]),
        commander_id=officer.id,
        now=now,
    )


def open_tick_items(*, session: Any, officer: Any, needed: int, tag: str) -> list[int]:
    """At least `needed` open checklist items of fresh incidents, interleaved across the incidents so
    that consecutive ticks lock different incidents."""
    from crisis.incidents import service as incidents_service

    per_incident: list[list[int]] = []
    while sum(map(len, per_incident)) < needed:
        number = len(per_incident) + 1
        incident = open_incident(
            session=session, officer=officer, title=f"Uji beban centang {tag} #{number}", number=number
        )
        # Items an officer may tick: the running stage's, owned by an officer (owners are enforced).
        closers = incidents_service.Closers(user=officer, incident=incident)
        running = [run for run in incident.stage_runs if run.state == "active"]
        per_incident.append([entry.id for run in running for entry in run.entries if closers.may_close(entry)])
    return [ids[k] for k in range(max(map(len, per_incident))) for ids in per_incident if k < len(ids)]


def prepare(url: str, redis_url: str, *, tick_items: int, tag: str) -> dict[str, Any]:
    """Tokens, fresh incidents with `tick_items` open checklist items, and one incident with 200 events."""
    from sqlalchemy import func, select

    from crisis.auth import service as people
    from crisis.auth.models import User
    from crisis.extensions import db
    from crisis.incidents import service as incidents
    from crisis.incidents import statements
    from crisis.incidents.models import Incident
    from crisis.issues.models import Issue
    from crisis.timeline.models import TimelineEvent
    from crisis.units.models import Unit

    app = _app(url, redis_url)
    with app.app_context():
        session = db.session

        def user(email: str) -> User:
            return session.scalar(select(User).where(User.email == email))

        officer, logger = user(TICK_USER), user(LOGGER_USER)
        supervisor = user("supervisor.kota-semarang@demo.example")
        _row, tick_token = people.create_token(session=session, user=officer, name=f"load {tag} tick")
        _row, issue_token = people.create_token(session=session, user=logger, name=f"load {tag} issues")
        entries = open_tick_items(session=session, officer=officer, needed=tick_items, tag=tag)
        session.commit()

        # b. one incident with exactly 200 timeline events: a realistic mix, then comments
        started = datetime.now(UTC) - timedelta(hours=3)
        moment = iter(started + timedelta(seconds=45 * k) for k in range(10_000))
        page = open_incident(
            session=session, officer=officer, title=f"Uji beban halaman insiden {tag}", number=1, now=next(moment)
        )
        head = user("kepala.kota-semarang@demo.example")
        for _stage in range(2):  # the first two stages that run (a stage gated off by severity is skipped)
            run = page.current_stage
            for entry in run.entries:
                # Each item by someone who may close it: its owner role or above (enforced).
                closer = next(
                    person
                    for person in (officer, supervisor, head)
                    if incidents.Closers(user=person, incident=page).may_close(entry)
                )
                incidents.tick(
                    session=session,
                    actor=closer,
                    entry_id=entry.id,
                    note="Sudah dikerjakan.",
                    evidence_url="https://example.org/bukti/" + str(entry.id),
                    now=next(moment),
                )
            incidents.complete_stage(session=session, actor=officer, stage_run_id=run.id, now=next(moment))
        current = page.current_stage
        for entry in current.entries[:2]:
            incidents.annotate(
                session=session, actor=officer, entry_id=entry.id, note="Menunggu konfirmasi dinas.", now=next(moment)
            )
            incidents.assign(
                session=session, actor=officer, entry_id=entry.id, assignee_id=officer.id, now=next(moment)
            )
        statement = statements.draft(
            session=session,
            actor=officer,
            incident_id=page.id,
            kind="holding",
            title="Pernyataan awal",
            body="Kami sedang menangani laporan ini. " * 8,
            now=next(moment),
        )
        # Signed along the SOP's approval chain by the demo's people who hold each step's role.
        signers = [
            supervisor,
            head,
            user("hukum.kota-semarang@demo.example"),
            user("pimpinan.kota-semarang@demo.example"),
        ]
        while statement.state in statements.AWAITING and statement.awaiting_role is not None:
            signer = next(
                p
                for p in signers
                if p is not None and statements.can_approve(session=session, user=p, statement=statement)
            )
            statements.approve(session=session, actor=signer, statement_id=statement.id, now=next(moment))
        if page.spokesperson_id is None:
            statements.designate_spokesperson(
                session=session, actor=officer, incident_id=page.id, spokesperson_id=head.id, now=next(moment)
            )
        statements.publish(
            session=session,
            actor=officer,
            statement_id=statement.id,
            channel="website",
            url="https://example.org/siaran-pers/1",
            now=next(moment),
        )
        banyumas = session.scalar(select(Unit).where(Unit.code == "KAB-BANYUMAS"))
        incidents.involve_unit(
            session=session, actor=officer, incident_id=page.id, unit_id=banyumas.id, now=next(moment)
        )
        session.flush()

        def events() -> int:
            return session.scalar(
                select(func.count(TimelineEvent.id)).where(
                    TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == page.id
                )
            )

        missing = 200 - events()
        for k in range(missing):
            incidents.comment(
                session=session,
                actor=officer if k % 3 else supervisor,
                incident_id=page.id,
                body=f"Perkembangan {k + 1}: pantauan media sosial diperbarui.",
                now=next(moment),
            )
        session.commit()
        assert events() == 200, events()
        unit_ids = sorted(session.scalars(select(Unit.id)))
        counts = {
            "incidents": session.scalar(select(func.count()).select_from(Incident)),
            "active incidents": session.scalar(
                select(func.count()).select_from(Incident).where(Incident.state == "active")
            ),
            "issues": session.scalar(select(func.count()).select_from(Issue)),
            "timeline events": session.scalar(select(func.count(TimelineEvent.id))),
            "units": len(unit_ids),
        }
        db.session.remove()
        db.engine.dispose()
    return {
        "tick_token": f"Bearer {tick_token}",
        "issue_token": f"Bearer {issue_token}",
        "entries": entries,
        "page_incident": page.id,
        "units": unit_ids,
        "counts": counts,
    }


def count_queries(url: str, redis_url: str, data: dict[str, Any], spare_entry: int) -> dict[str, int]:
    """SQL statements per request of each kind, through the app in-process (one request each, warm)."""
    from sqlalchemy import event

    from crisis.extensions import db

    app = _app(url, redis_url)
    counts: dict[str, int] = {}
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(*_args: Any) -> None:
        statements.append(_args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        client = app.test_client()
        client.post("/login", data={"email": PAGE_USER, "password": PASSWORD})
        api = app.test_client()  # no session cookie: the API runs on the bearer token alone
        head = app.test_client()
        head.post("/login", data={"email": CONSOLE_USER, "password": PASSWORD})
        issue = {
            "unit_id": data["units"][0],
            "title": "hitung kueri sekali saja",
            "channel": "x",
            "category": "hoax",
            "evidence_urls": ["https://example.org/count-queries"],
        }
        probes = {
            "a. tick": lambda: api.post(
                f"/api/v1/checklist/{spare_entry}/tick",
                json={"note": "", "evidence_url": "https://example.org/e"},
                headers={"Authorization": data["tick_token"]},
            ),
            "b. incident page": lambda: client.get(f"/incidents/{data['page_incident']}"),
            "c. log an issue": lambda: api.post(
                "/api/v1/issues",
                json=issue,
                headers={"Authorization": data["issue_token"], "Idempotency-Key": uuid.uuid4().hex},
            ),
            "d. console": lambda: head.get("/"),
            "f. situation room": lambda: head.get("/situation"),
        }
        for name, probe in probes.items():
            if name != "a. tick":
                probe()  # warm (first use of templates and caches)
            statements.clear()
            response = probe()
            if response.status_code not in (200, 201):
                raise RuntimeError(f"{name}: {response.status_code} {response.get_data(as_text=True)[:300]}")
            counts[name] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        with app.app_context():
            db.engine.dispose()
    return counts


# --- the run ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=50000, help="crisis seed history --incidents")
    parser.add_argument("--units", type=int, default=0, help="crisis seed history --units (0: the demo units)")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a database kept by --keep (no seeding)")
    parser.add_argument("--redis-db", type=int, default=9)
    # CPUs + 1, not gunicorn's 2 x CPUs + 1: PostgreSQL shares the CPUs, and 5 workers on 2 CPUs
    # spent ~30 % more CPU per request than 3 in context switches and cold caches (RESULTS.md).
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4, help="threads per worker with --worker-class gthread")
    parser.add_argument("--rate", type=float, default=100.0, help="ticks per second (a.)")
    parser.add_argument("--rate-seconds", type=int, default=30, help="length of the fixed-rate runs")
    parser.add_argument(
        "--page-rate",
        type=float,
        default=40.0,
        help="incident pages per second in the fixed-rate page run (b., after wrk's; 0: none)",
    )
    parser.add_argument("--seconds", type=int, default=20, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=0, help="wrk connections (default: --workers)")
    parser.add_argument("--only", default="abcdef", help="which of a, b, c, d, e, f to measure")
    parser.add_argument(
        "--national",
        action="store_true",
        help="the whole of Indonesia imported, 55,000 incidents (~3,000 active) and 30,000 issues",
    )
    parser.add_argument(
        "--active",
        type=int,
        default=None,
        help="open incidents until this many run (default 3,000 with --national, else none)",
    )
    parser.add_argument("--issues", type=int, default=0, help="top the issues up to this many (--national: 30,000)")
    parser.add_argument("--batch", type=int, default=20, help="issues per request in e. (at most 100)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON here")
    parser.add_argument("--probe-only", action="store_true", help="only the one-request-at-a-time CPU probe")
    parser.add_argument("--skip-probe", action="store_true", help="no one-request-at-a-time CPU probe")
    parser.add_argument(
        "--drop-index",
        action="append",
        default=[],
        metavar="NAME",
        help="measure without this index (as before it was added); it is created again at the end",
    )
    parser.add_argument(
        "--app-root",
        default=str(ROOT),
        help="serve the app from this source tree (e.g. `git archive HEAD` unpacked, to compare)",
    )
    parser.add_argument(
        "--lock",
        default="/tmp/crisis-bench.lock",
        help="flock held while measuring, so two benchmarks never overlap (seeding runs outside it)",
    )
    options = parser.parse_args()
    options.connections = options.connections or options.workers
    if options.national:
        if "--incidents" not in sys.argv:
            options.incidents = NATIONAL_INCIDENTS
        options.issues = options.issues or NATIONAL_ISSUES
        options.active = options.active if options.active is not None else NATIONAL_ACTIVE

    ensure_wrk()
    name = options.reuse or f"crisis_load_{uuid.uuid4().hex[:8]}"
    if options.reuse:
        options.keep = True
    else:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://" + re.sub(r"/[^/]*$", f"/{name}", ADMIN).removeprefix("postgresql://")
    redis_url = f"redis://{HOST}:6379/{options.redis_db}"
    instance = tempfile.mkdtemp(prefix="crisis-load-")
    try:
        run(url, redis_url, instance, options)
    finally:
        if not options.keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")
        shutil.rmtree(instance, ignore_errors=True)


def run(url: str, redis_url: str, instance: str, options: argparse.Namespace) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = crisis_env(url, redis_url, instance)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    print(
        f"database {url.rsplit('/', 1)[1]}, Redis {redis_url}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if not options.reuse:
        crisis_cli(env, "db", "upgrade")
        crisis_cli(env, "seed", "demo")
        if options.national:
            print(f"imported Indonesia in {crisis_cli(env, 'units', 'import-indonesia'):.0f} s", flush=True)
        history = ["seed", "history", "--incidents", str(options.incidents)]
        if options.units:
            history += ["--units", str(options.units)]
        print(f"seeded in {crisis_cli(env, *history):.0f} s", flush=True)
    else:
        crisis_cli(env, "db", "upgrade")
    if options.issues:
        print(f"issues: {top_up_issues(plain, options.issues)} in the database", flush=True)
    tag = uuid.uuid4().hex[:6]
    warm_ticks = 5 * options.workers
    # Each open item is a fresh running incident's: a run that does not measure a. makes only the
    # probe's, so a kept database measured again (--reuse --only df) keeps about as many active incidents.
    ticked = int(options.rate * options.rate_seconds) + warm_ticks if "a" in options.only else 0
    needed = ticked + PROBE["a. tick"] + 3 * options.workers + 1
    start = time.perf_counter()
    if options.active:
        print(f"active incidents: {top_up_active(url, redis_url, options.active, tag)}", flush=True)
    data = prepare(url, redis_url, tick_items=needed, tag=tag)
    with psycopg.connect(plain, autocommit=True) as conn:
        # What autovacuum does after a bulk load (visibility map for index-only scans, statistics);
        # this machine's PostgreSQL runs with autovacuum off.
        conn.execute("VACUUM ANALYZE")
        conn.execute(PEER_TABLE)
    print(
        f"prepared in {time.perf_counter() - start:.0f} s: {data['counts']}; "
        f"{len(data['entries'])} open items for ticks; incident {data['page_incident']} has 200 events",
        flush=True,
    )
    queries: dict[str, int] = {}
    if Path(options.app_root).resolve() == ROOT:  # counted in this process, with this checkout's code
        queries = count_queries(url, redis_url, data, data["entries"].pop())
        print("SQL statements per request: " + ", ".join(f"{k} {v}" for k, v in queries.items()), flush=True)

    dropped = drop_indexes(url, options.drop_index)
    lock = open(options.lock, "a")  # noqa: SIM115  held until the process ends
    waited = time.perf_counter()
    fcntl.flock(lock, fcntl.LOCK_EX)  # one benchmark at a time on this machine
    print(
        f"holding {options.lock} (waited {time.perf_counter() - waited:.0f} s); load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    app_root = Path(options.app_root).resolve()
    # The production entry point (README, Dockerfile); older trees only have the factory.
    entry = "crisis.wsgi:app" if (app_root / "crisis" / "wsgi.py").exists() else "crisis:create_app()"
    app = Gunicorn("app", entry, env, options, chdir=app_root)
    peer = Gunicorn("peer", "peer:app", {**env, "PEER_DATABASE_URL": url}, options, chdir=HERE)
    results: list[Figures] = []
    probes: list[dict[str, Any]] = []
    try:
        app.wait_ready()
        peer.wait_ready()
        print(f"gunicorn: {' '.join(app.command[1:])}", flush=True)
        page_cookie = sign_in(app.port, PAGE_USER)
        console_cookie = sign_in(app.port, CONSOLE_USER)
        if not options.skip_probe:
            probes = probe_cpu(app, peer, data, page_cookie, console_cookie, tag, url, options.workers)
        if not options.probe_only:
            results = measure(app, peer, data, page_cookie, console_cookie, tag, options, url)
    finally:
        app.stop()
        peer.stop()
        redis.Redis.from_url(redis_url).flushdb()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        with psycopg.connect(plain, autocommit=True) as conn:
            for definition in dropped:
                conn.execute(definition)
    report(results, options, queries, probes)


PROBE = {
    "peer INSERT": 200,
    "a. tick": 100,
    "b. incident page": 40,
    "c. log an issue": 100,
    "d. console": 20,
    "f. situation room": 20,
}
NATIONAL_INCIDENTS = 55_000  # 51,309 seeded left 2,764 active (README); the run prints the count
NATIONAL_ISSUES = 30_000
NATIONAL_ACTIVE = 3_000


def top_up_active(url: str, redis_url: str, total: int, tag: str) -> int:
    """Open incidents through the services until `total` are running (the history leaves about 2,500):
    logged and escalated by Kota Semarang's officer, as the tick incidents are. Returns how many run."""
    from sqlalchemy import func, select

    from crisis.auth.models import User
    from crisis.extensions import db
    from crisis.incidents.models import Incident

    app = _app(url, redis_url)
    with app.app_context():
        session = db.session
        running = session.scalar(select(func.count()).select_from(Incident).where(Incident.state == "active"))
        officer = session.scalar(select(User).where(User.email == TICK_USER))
        for number in range(max(0, total - running)):
            open_incident(
                session=session, officer=officer, title=f"Uji skala nasional {tag} #{number + 1}", number=number
            )
            if number % 100 == 99:
                session.commit()
        session.commit()
        running = session.scalar(select(func.count()).select_from(Incident).where(Incident.state == "active"))
        db.session.remove()
        db.engine.dispose()
    return running


def top_up_issues(plain_url: str, total: int) -> int:
    """Add issues until there are `total`, spread over every unit and the past year, in the states a
    desk's year leaves them (most dismissed or escalated, a tenth new, a tenth being monitored), in
    one INSERT ... SELECT. Returns how many there are."""
    with psycopg.connect(plain_url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM issue").fetchone()[0]
        missing = max(0, total - have)
        if missing:
            conn.execute(
                """
                INSERT INTO issue (unit_id, title, description, channel, category, first_seen_at, reach, engagement,
                    sentiment, mainstream_pickup, source_person, source_contact, state, state_reason, risk_score,
                    suggested_severity, risk_factors, created_at, updated_at, version)
                SELECT u.ids[1 + (n * 7919) %% array_length(u.ids, 1)],
                    'Isu uji skala nasional ' || n, '',
                    (ARRAY['x','instagram','tiktok','facebook','online_news'])[1 + n %% 5],
                    'hoax', now() - (n %% 8760) * interval '1 hour', (n * 37) %% 50000, (n * 13) %% 5000,
                    (ARRAY['negative','neutral','positive'])[1 + n %% 3], n %% 7 = 0, '', '',
                    (ARRAY['new','monitoring','escalated','dismissed','dismissed','escalated','dismissed','dismissed',
                           'escalated','dismissed'])[1 + n %% 10],
                    '', n %% 100, 1 + n %% 4, '{}'::json, now() - (n %% 8760) * interval '1 hour', now(), 1
                FROM generate_series(1, %s) AS n, (SELECT array_agg(id ORDER BY id) AS ids FROM unit) AS u
                """,
                [missing],
            )
            conn.execute("ANALYZE issue")
        return conn.execute("SELECT count(*) FROM issue").fetchone()[0]


def _process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (0 for one that has gone)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _backends(url: str) -> list[int]:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            )
        ]


def _workers(server: Gunicorn) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def probe_cpu(
    app: Gunicorn,
    peer: Gunicorn,
    data: dict[str, Any],
    page_cookie: str,
    console_cookie: str,
    tag: str,
    url: str,
    workers: int,
) -> list[dict[str, Any]]:
    """One request at a time: the time each takes unloaded, and the CPU it costs in the web workers
    and in PostgreSQL. CPU per request is the figure least moved by other work on a shared machine."""
    import http.client

    entries = data["entries"]
    warm = 3 * workers  # enough that every worker has served each kind before it counts
    taken = PROBE["a. tick"] + warm
    probe_entries, data["entries"] = entries[-taken:], entries[:-taken]
    tick_body = json.dumps({"note": "", "evidence_url": "https://example.org/bukti/uji-beban"})

    def call(port: int, method: str, path: str, headers: dict[str, str], body: str | None = None) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status}")

    counter = iter(range(10**9))
    kinds = {
        "peer INSERT": (
            peer,
            lambda: call(
                peer.port,
                "POST",
                "/insert",
                {"Content-Type": "application/json"},
                json.dumps({"title": f"peer probe {tag} {next(counter)}"}),
            ),
        ),
        "a. tick": (
            app,
            lambda: call(
                app.port,
                "POST",
                f"/api/v1/checklist/{probe_entries.pop()}/tick",
                {"Authorization": data["tick_token"], "Content-Type": "application/json"},
                tick_body,
            ),
        ),
        "b. incident page": (
            app,
            lambda: call(app.port, "GET", f"/incidents/{data['page_incident']}", {"Cookie": page_cookie}),
        ),
        "c. log an issue": (
            app,
            lambda: call(
                app.port,
                "POST",
                "/api/v1/issues",
                {
                    "Authorization": data["issue_token"],
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"probe-{tag}-{next(counter)}",
                },
                json.dumps(
                    {
                        "unit_id": data["units"][next(counter) % len(data["units"])],
                        "channel": "x",
                        "category": "hoax",
                        "title": f"probe {tag} {next(counter)} " + " ".join(uuid.uuid4().hex[:6] for _ in range(4)),
                        "evidence_urls": [f"https://example.org/probe/{tag}/{next(counter)}"],
                    }
                ),
            ),
        ),
        "d. console": (app, lambda: call(app.port, "GET", "/", {"Cookie": console_cookie})),
        "f. situation room": (app, lambda: call(app.port, "GET", "/situation", {"Cookie": console_cookie})),
    }
    print("one request at a time (CPU per request):", flush=True)
    out = []
    for name, (server, request) in kinds.items():
        for _ in range(warm):
            request()
        count = PROBE[name]
        workers, backends = _workers(server), _backends(url)
        app_cpu, pg_cpu, load = _process_cpu(workers), _process_cpu(backends), os.getloadavg()[0]
        walls = []
        for _ in range(count):
            start = time.perf_counter()
            request()
            walls.append((time.perf_counter() - start) * 1000)
        backends = sorted(set(backends) | set(_backends(url)))
        row = {
            "name": name,
            "requests": count,
            "wall_p50_ms": round(_pct(sorted(walls), 0.5), 1),
            "app_cpu_ms": round((_process_cpu(workers) - app_cpu) * 1000 / count, 2),
            "pg_cpu_ms": round((_process_cpu(backends) - pg_cpu) * 1000 / count, 2),
            "load": round(load, 2),
        }
        out.append(row)
        print(
            f"  {name:20} {row['wall_p50_ms']:7.1f} ms each (median), CPU per request: web {row['app_cpu_ms']:6.2f}"
            f" ms + PostgreSQL {row['pg_cpu_ms']:5.2f} ms; load average {row['load']}",
            flush=True,
        )
    return out


def drop_indexes(url: str, names: list[str]) -> list[str]:
    """Drop these indexes; returns the statements that create them again."""
    definitions = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for name in names:
            row = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name]).fetchone()
            if row is None:
                raise SystemExit(f"no index {name}")
            conn.execute(f'DROP INDEX "{name}"')
            definitions.append(row[0])
            print(f"measuring without index {name} ({row[0]})", flush=True)
    return definitions


def measure(
    app: Gunicorn,
    peer: Gunicorn,
    data: dict[str, Any],
    page_cookie: str,
    console_cookie: str,
    tag: str,
    options: argparse.Namespace,
    url: str,
) -> list[Figures]:
    results: list[Figures] = []
    seconds, conns = options.seconds, options.connections
    peer_url = f"http://{HOST}:{peer.port}/insert"
    peer_env = {"BENCH_TAG": tag}

    def peer_body(i: int) -> bytes:
        return json.dumps(
            {
                "title": f"peer {tag} {i}",
                "channel": "x",
                "reach": 1000 + i,
                "evidence_urls": [f"https://example.org/posts/{tag}-{i}"],
            }
        ).encode()

    def show(figures: Figures) -> Figures:
        rows = f" = {figures.item_throughput:.1f} rows/s" if figures.items > 1 else ""
        print(
            f"  {figures.name:42} {figures.requests:6d} req {figures.throughput:7.1f}/s{rows}"
            f"  p50 {figures.p50_ms:7.1f}"
            f"  p95 {figures.p95_ms:7.1f}  p99 {figures.p99_ms:7.1f}  max {figures.max_ms:7.1f} ms  non-2xx "
            f"{figures.non_2xx}  errors {figures.errors}  machine {figures.machine}",
            flush=True,
        )
        results.append(figures)
        return figures

    print("warm-up (not measured)", flush=True)
    wrk("warm peer", peer_url, WRK_PEER, peer_env, seconds=3, connections=conns)
    if "b" in options.only:
        wrk(
            "warm page",
            f"http://{HOST}:{app.port}/incidents/{data['page_incident']}",
            WRK_GET,
            {"BENCH_COOKIE": page_cookie},
            seconds=3,
            connections=conns,
        )
    if "d" in options.only:
        wrk(
            "warm console",
            f"http://{HOST}:{app.port}/",
            WRK_GET,
            {"BENCH_COOKIE": console_cookie},
            seconds=3,
            connections=conns,
        )
    entries = data["entries"]
    tick_body = json.dumps({"note": "", "evidence_url": "https://example.org/bukti/uji-beban"}).encode()

    def tick(entry_id: int) -> bytes:
        return http_request(
            "POST",
            f"/api/v1/checklist/{entry_id}/tick",
            app.port,
            {"Authorization": data["tick_token"], "Content-Type": "application/json"},
            tick_body,
        )

    warm, entries = entries[: 5 * options.workers], entries[5 * options.workers :]
    if "a" in options.only:
        asyncio.run(_open_loop([tick(e) for e in warm], app.port, 50))
    print("measuring", flush=True)
    total = int(options.rate * options.rate_seconds)
    if "a" in options.only:
        peer_raws = [
            http_request("POST", "/insert", peer.port, {"Content-Type": "application/json"}, peer_body(i))
            for i in range(total)
        ]
        show(open_loop(f"peer INSERT at {options.rate:g}/s", peer_raws, peer.port, options.rate)[0])
        ticked = entries[:total]
        figures, out = open_loop(f"a. tick at {options.rate:g}/s", [tick(e) for e in ticked], app.port, options.rate)
        statuses: dict[int, int] = {}
        for _latency, status, _body in out:
            statuses[status] = statuses.get(status, 0) + 1
        done = _count(url, "SELECT count(*) FROM checklist_entry WHERE done_at IS NOT NULL AND id = ANY(%s)", ticked)
        figures.note = f"statuses {statuses}; {done} of {len(ticked)} items ticked in the database"
        show(figures)
        bad = next((body for _l, status, body in out if status != 200), None)
        if bad:
            print(f"    first non-200 answer: {bad[:300]!r}")
    show(wrk("peer INSERT, max throughput (before)", peer_url, WRK_PEER, peer_env, seconds=seconds, connections=conns))
    if "b" in options.only:
        # A fresh sign-in: the session's last-seen time is recent, so no answer rewrites the cookie.
        show(
            wrk(
                "b. incident page, 200 events",
                f"http://{HOST}:{app.port}/incidents/{data['page_incident']}",
                WRK_GET,
                {"BENCH_COOKIE": sign_in(app.port, PAGE_USER)},
                seconds=seconds,
                connections=conns,
            )
        )
    if "b" in options.only and options.page_rate:
        # The same page at a fixed arrival rate, open loop: its latency at that load, not under saturation.
        raw = http_request(
            "GET",
            f"/incidents/{data['page_incident']}",
            app.port,
            {"Cookie": sign_in(app.port, PAGE_USER), "Accept-Language": "id"},
        )
        count = int(options.page_rate * options.rate_seconds)
        show(open_loop(f"b. incident page at {options.page_rate:g}/s", [raw] * count, app.port, options.page_rate)[0])
    if "c" in options.only:
        before = _count(url, "SELECT count(*) FROM issue WHERE logged_by_id = %s", [_user_id(url, LOGGER_USER)])
        figures = wrk(
            "c. log an issue",
            f"http://{HOST}:{app.port}/api/v1/issues",
            WRK_POST_ISSUE,
            {"BENCH_TOKEN": data["issue_token"], "BENCH_UNITS": ",".join(map(str, data["units"])), "BENCH_TAG": tag},
            seconds=seconds,
            connections=conns,
        )
        after = _count(url, "SELECT count(*) FROM issue WHERE logged_by_id = %s", [_user_id(url, LOGGER_USER)])
        figures.note += f"; {after - before} issues in the database (wrk counted {figures.requests} answers)"
        show(figures)
    if "e" in options.only:
        size = options.batch
        peer_batch = wrk(
            f"peer INSERT, batches of {size}",
            f"http://{HOST}:{peer.port}/insert-batch",
            WRK_PEER,
            {**peer_env, "BENCH_BATCH": str(size)},
            seconds=seconds,
            connections=conns,
        )
        peer_batch.items = size
        show(peer_batch)
        before = _count(url, "SELECT count(*) FROM issue WHERE logged_by_id = %s", [_user_id(url, LOGGER_USER)])
        figures = wrk(
            f"e. log issues in batches of {size}",
            f"http://{HOST}:{app.port}/api/v1/issues/batch",
            WRK_POST_ISSUE,
            {
                "BENCH_TOKEN": data["issue_token"],
                "BENCH_TAG": tag + "b",
                "BENCH_UNITS": ",".join(map(str, data["units"])),
                "BENCH_BATCH": str(size),
            },
            seconds=seconds,
            connections=conns,
        )
        figures.items = size
        after = _count(url, "SELECT count(*) FROM issue WHERE logged_by_id = %s", [_user_id(url, LOGGER_USER)])
        figures.note += f"; {after - before} issues in the database (wrk counted {figures.requests} answers × {size})"
        show(figures)
    if "d" in options.only:
        show(
            wrk(
                "d. console (central head)",
                f"http://{HOST}:{app.port}/",
                WRK_GET,
                {"BENCH_COOKIE": sign_in(app.port, CONSOLE_USER)},
                seconds=seconds,
                connections=conns,
            )
        )
    if "f" in options.only:
        show(
            wrk(
                "f. situation room (central head)",
                f"http://{HOST}:{app.port}/situation",
                WRK_GET,
                {"BENCH_COOKIE": sign_in(app.port, CONSOLE_USER)},
                seconds=seconds,
                connections=conns,
            )
        )
    show(wrk("peer INSERT, max throughput (after)", peer_url, WRK_PEER, peer_env, seconds=seconds, connections=conns))
    return results


def _count(url: str, sql: str, values: list[int]) -> int:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        param = values if "ANY" in sql else values[0]
        return conn.execute(sql, [param]).fetchone()[0]


def _user_id(url: str, email: str) -> int:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        return conn.execute('SELECT id FROM "user" WHERE email = %s', [email]).fetchone()[0]


def report(
    results: list[Figures], options: argparse.Namespace, queries: dict[str, int], probes: list[dict[str, Any]]
) -> None:
    if probes:
        peer = probes[0]
        base = peer["app_cpu_ms"] + peer["pg_cpu_ms"]
        print("\n| one request at a time | median ms | web CPU ms | PostgreSQL CPU ms | CPU ÷ peer | SQL statements |")
        print("|---|---|---|---|---|---|")
        for row in probes:
            total = row["app_cpu_ms"] + row["pg_cpu_ms"]
            sql = next((v for k, v in queries.items() if k.startswith(row["name"][:2])), "") if row is not peer else 1
            print(
                f"| {row['name']} | {row['wall_p50_ms']} | {row['app_cpu_ms']} | {row['pg_cpu_ms']} | "
                f"{total / base:.1f} | {sql} |"
            )
    if options.json:
        Path(options.json).write_text(
            json.dumps(
                {
                    "options": vars(options),
                    "queries": queries,
                    "probes": probes,
                    "results": [asdict(r) | {"throughput": r.throughput} for r in results],
                },
                indent=2,
            )
        )
    if not results:
        return
    peer_rate = next((r for r in results if r.name.startswith("peer INSERT at")), None)
    peer_max = [r for r in results if r.name.startswith("peer INSERT, max")]
    peer_batch = next((r for r in results if r.name.startswith("peer INSERT, batches")), None)

    def mean(attr: str) -> float:
        return sum(getattr(r, attr) if attr != "throughput" else r.throughput for r in peer_max) / len(peer_max)

    targets = {
        "a.": ("p99_ms", 50.0, "p99 ≤ 50 ms"),
        "b.": ("p95_ms", 100.0, "p95 ≤ 100 ms"),
        "c.": ("throughput", 300.0, "≥ 300/s"),
        "e.": ("item_throughput", 300.0, "≥ 300 issues/s"),
    }
    print(
        f"\nworkers {options.workers} × {options.worker_class}"
        + (f" ({options.threads} threads)" if options.worker_class == "gthread" else "")
        + f"; wrk connections {options.connections}; {os.cpu_count()} CPUs\n"
    )
    print(
        "| measurement | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | p50 / p95 / p99 ÷ peer | throughput ÷ peer"
        " | target | load avg (start → max) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r.name.startswith("peer"):
            ratio, tput, target = "1", "1", ""
        else:
            if r.items > 1 and peer_batch is not None:  # a batch beside the peer's batches of as many rows
                base = (peer_batch.p50_ms, peer_batch.p95_ms, peer_batch.p99_ms, peer_batch.throughput)
            elif r.shape == "rate" and peer_rate is not None:
                base = (peer_rate.p50_ms, peer_rate.p95_ms, peer_rate.p99_ms, peer_rate.throughput)
            elif peer_max:
                base = (mean("p50_ms"), mean("p95_ms"), mean("p99_ms"), mean("throughput"))
            else:
                base = (float("nan"),) * 4
            ratio = f"{r.p50_ms / base[0]:.1f} / {r.p95_ms / base[1]:.1f} / {r.p99_ms / base[2]:.1f}"
            tput = f"{r.throughput / base[3]:.2f}"
            target = ""
            for prefix, (attr, limit, text) in targets.items():
                if r.name.startswith(prefix):
                    value = getattr(r, attr)
                    met = value >= limit if attr.endswith("throughput") else value <= limit
                    target = f"{text} — {'met' if met else '**not met**'}"
        m = r.machine
        rows = f" ({r.item_throughput:.1f} rows)" if r.items > 1 else ""
        print(
            f"| {r.name} | {r.throughput:.1f}{rows} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.non_2xx}"
            f"{' + ' + str(r.errors) + ' socket errors' if r.errors else ''} | {ratio} | {tput} | {target} | "
            f"{m.get('load_start')} → {m.get('load_max')} (CPU {m.get('cpu_busy_percent')} %) |"
        )
    for r in results:
        if r.note:
            print(f"  {r.name}: {r.note}")


if __name__ == "__main__":
    main()
