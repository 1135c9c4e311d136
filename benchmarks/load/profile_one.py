"""Where the time of one request goes: pyinstrument and the SQL it sends, in-process, on a kept database.

    .venv/bin/python benchmarks/load/run.py --keep ...            # leaves crisis_load_XXXXXXXX
    .venv/bin/python benchmarks/load/profile_one.py crisis_load_XXXXXXXX page [--runs 20] [--sql]

Kinds: tick, page, issue, batch (--batch issues per request), console, situation. Prints the pyinstrument
tree of `--runs` requests (after one warm-up) and, with --sql, every statement of the last request
with its time. pyinstrument is a development tool (`.venv/bin/pip install pyinstrument`), not a
dependency of the app.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402
from run import CONSOLE_USER, LOGGER_USER, PAGE_USER, PASSWORD, TICK_USER, open_tick_items  # noqa: E402

# The vocabulary of run.py's issue-logging wrk script.
WORDS = re.findall(r'"([^"]+)"', Path(run.__file__).read_text().split("local words = {")[1].split("}")[0])

ADMIN = os.environ.get("CRISIS_TEST_PG_ADMIN_URL", "postgresql://crisis_test:crisis_test@127.0.0.1:5432/postgres")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("kind", choices=("tick", "page", "issue", "batch", "console", "situation"))
    parser.add_argument("--batch", type=int, default=20, help="issues per request of kind batch")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--time-only", action="store_true", help="only the CPU and wall times, no profile")
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="instead of the pyinstrument tree, cProfile's N costliest functions by own time",
    )
    parser.add_argument(
        "--callers",
        action="append",
        default=[],
        metavar="REGEX",
        help="with --cprofile: also who calls the functions matching REGEX, and at what cost",
    )
    parser.add_argument("--incident", type=int, help="incident page to open (default: the newest)")
    options = parser.parse_args()

    from pyinstrument import Profiler
    from sqlalchemy import event, select

    from crisis import create_app
    from crisis.auth import service as people
    from crisis.auth.models import User
    from crisis.extensions import db
    from crisis.incidents.models import Incident

    url = "postgresql+psycopg://" + re.sub(r"/[^/]*$", f"/{options.database}", ADMIN).removeprefix("postgresql://")
    os.environ.setdefault("CRISIS_INSTANCE_PATH", "/tmp/crisis-load-profile")
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "profile",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            "SESSION_COOKIE_SECURE": False,
        }
    )
    with app.app_context():
        session = db.session
        officer = session.scalar(select(User).where(User.email == TICK_USER))
        logger = session.scalar(select(User).where(User.email == LOGGER_USER))
        _r, tick_token = people.create_token(session=session, user=officer, name="profile")
        _r, issue_token = people.create_token(session=session, user=logger, name="profile")
        incident_id = options.incident or session.scalar(
            select(Incident.id).where(Incident.title.like("Uji beban halaman insiden%")).order_by(Incident.id.desc())
        )
        open_items = open_tick_items(session=session, officer=officer, needed=2 * options.runs + 4, tag="profile")
        session.commit()
        engine = db.engine

    client = app.test_client()
    email = CONSOLE_USER if options.kind in ("console", "situation") else PAGE_USER
    client.post("/login", data={"email": email, "password": PASSWORD})
    api = app.test_client()  # no session cookie: API calls carry only the bearer token, as in run.py
    units = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    rng = random.Random()  # noqa: S311  titles as run.py's wrk script makes them (rarely 80 % alike)

    def request() -> Any:
        if options.kind == "tick":
            return api.post(
                f"/api/v1/checklist/{open_items.pop()}/tick",
                json={"note": "", "evidence_url": "https://example.org/e"},
                headers={"Authorization": f"Bearer {tick_token}"},
            )
        if options.kind == "page":
            return client.get(f"/incidents/{incident_id}")
        if options.kind in ("issue", "batch"):
            key = uuid.uuid4().hex

            def issue(n: int) -> dict[str, Any]:
                return {
                    "unit_id": units[hash(key + str(n)) % len(units)],
                    "title": " ".join(rng.choice(WORDS) for _ in range(7)),
                    "channel": "x",
                    "category": "hoax",
                    "evidence_urls": [f"https://example.org/p/{key}-{n}"],
                }

            path, body = (
                ("/api/v1/issues", issue(0))
                if options.kind == "issue"
                else ("/api/v1/issues/batch", {"issues": [issue(n) for n in range(options.batch)]})
            )
            return api.post(path, json=body, headers={"Authorization": f"Bearer {issue_token}", "Idempotency-Key": key})
        if options.kind == "situation":
            return client.get("/situation")
        return client.get("/")

    first = request()
    assert first.status_code in (200, 201), (first.status_code, first.get_data(as_text=True)[:500])
    # Plain timing first: CPU time of this process (the app's Python work; PostgreSQL runs elsewhere)
    # is steadier than wall time on a shared machine.
    wall, cpu = [], []
    for _ in range(options.runs):
        w, c = time.perf_counter(), time.process_time()
        response = request()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
        assert response.status_code in (200, 201), response.status_code
    cpu.sort()
    wall.sort()
    print(
        f"{options.kind}: median {wall[len(wall) // 2]:.1f} ms wall, {cpu[len(cpu) // 2]:.1f} ms CPU "
        f"(min {cpu[0]:.1f}) in the app process per request (in-process, {options.runs} runs, "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    if options.time_only:
        return
    start = time.perf_counter()
    if options.cprofile:
        import cProfile
        import pstats

        with cProfile.Profile(time.process_time) as profile:
            for _ in range(options.runs):
                response = request()
                assert response.status_code in (200, 201), response.status_code
        elapsed = (time.perf_counter() - start) * 1000 / options.runs
        stats = pstats.Stats(profile).sort_stats("tottime")
        stats.print_stats(options.cprofile)
        for pattern in options.callers:
            stats.print_callers(pattern)
    else:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(options.runs):
            response = request()
            assert response.status_code in (200, 201), response.status_code
        profiler.stop()
        elapsed = (time.perf_counter() - start) * 1000 / options.runs
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(
        f"{options.kind}: {elapsed:.1f} ms per request (in-process, under the profiler), "
        f"{len(response.get_data())} bytes"
    )
    if options.sql:
        statements: list[tuple[float, str]] = []

        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            conn.info["t"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(((time.perf_counter() - conn.info["t"]) * 1000, statement))

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        request()
        width = int(os.environ.get("SQL_WIDTH", "220"))  # characters of each statement shown
        for ms, statement in statements:
            print(f"{ms:7.2f} ms  {' '.join(statement.split())[:width]}")
        print(f"{len(statements)} statements, {sum(ms for ms, _ in statements):.1f} ms")


if __name__ == "__main__":
    main()
