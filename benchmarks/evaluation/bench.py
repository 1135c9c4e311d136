"""Evaluation benchmarks on PostgreSQL (issue 6).

    .venv/bin/python benchmarks/evaluation/bench.py --incidents 50000 --units 500 [--workers 8]

Creates a scratch database (CRISIS_TEST_PG_ADMIN_URL, default the test role), migrates it, seeds the
demo organisation and `--incidents` incidents over 12 months across `--units` units, then measures:

0. the precomputed measures: a full recompute of every incident, the minute sweep when nothing
   changed, and the sweep after 100 incidents changed;
1. the evaluation dashboard for the whole country over 12 months (service build and the full HTML
   page through the app), p50/p95 over `--runs` runs after one warm-up;
2. the review of one incident with 1,000 timeline events: HTML page and PDF;
3. monthly reports for every unit, built by `--workers` processes in parallel (the task body each
   worker runs), mailed to a local SMTP sink.

The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
ADMIN = os.environ.get("CRISIS_TEST_PG_ADMIN_URL", "postgresql://crisis_test:crisis_test@127.0.0.1:5432/postgres")
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 WIB on the 1st: every unit's monthly report is due


def _app(url: str, **extra):
    from crisis import create_app

    os.environ.setdefault("CRISIS_INSTANCE_PATH", "/tmp/crisis-bench-instance")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            **extra,
        }
    )
    # One moment for every measurement: the pages read the app's clock, the services get `now=NOW`.
    # (Two moments would make the measures of reviews and action items falling due between them
    # flip back and forth, and every build recompute them.)
    app.extensions["clock"] = lambda: NOW
    return app


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _timed(fn, runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _report(name: str, ms: list[float]) -> None:
    print(f"  {name:52} p50 {statistics.median(ms):8.1f} ms   p95 {_pct(ms, 0.95):8.1f} ms   (n={len(ms)})")


_TICK = 1000 / os.sysconf("SC_CLK_TCK")


def _backend_cpu(pids: list[int]) -> float:
    """CPU ms (user + system) the PostgreSQL backends with these pids have used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * _TICK
    return total


def _timed_cpu(fn, runs: int, database: str) -> tuple[list[float], list[float], list[float]]:
    """Wall ms, this process's CPU ms and the database backends' CPU ms of each run (the CPU figures
    move least with other work on the machine; the backends' are in clock ticks, 10 ms)."""
    fn()  # warm-up
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
            )
        ]
    wall, own, backend = [], [], []
    for _ in range(runs):
        start, cpu, db_cpu = time.perf_counter(), time.process_time(), _backend_cpu(pids)
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        own.append((time.process_time() - cpu) * 1000)
        backend.append(_backend_cpu(pids) - db_cpu)
    return wall, own, backend


def _report_cpu(name: str, measured: tuple[list[float], list[float], list[float]]) -> None:
    wall, own, backend = measured
    _report(name, wall)
    print(
        f"  {'  CPU per request: Python / PostgreSQL':52} p50 {statistics.median(own):5.0f} / "
        f"{statistics.median(backend):3.0f} ms   p95 {_pct(own, 0.95):5.0f} / {_pct(backend, 0.95):3.0f} ms   "
        f"(mean PostgreSQL {statistics.mean(backend):.0f} ms)"
    )


def _build_one(args: tuple[str, int, int]) -> tuple[int, float, str]:
    url, report_id, smtp_port = args
    app = _worker_app(url, smtp_port)
    from crisis.extensions import db
    from crisis.reports import tasks as report_tasks

    with app.app_context():
        start = time.perf_counter()
        status = report_tasks.build_monthly.run(report_id)
        elapsed = time.perf_counter() - start
        db.session.remove()
    return report_id, elapsed, status or ""


_APP = None


def _worker_app(url: str, smtp_port: int):
    global _APP
    if _APP is None:
        _APP = _app(url, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port)
    return _APP


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=50000)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 4)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a database kept by an earlier --keep run")
    parser.add_argument("--skip-sweeps", action="store_true", help="skip 0. (needs measures already computed)")
    parser.add_argument("--skip-review", action="store_true", help="skip 2. (review page and PDF)")
    parser.add_argument("--skip-monthly", action="store_true", help="skip 3. (monthly reports)")
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="create, seed and keep the database, measure nothing (run it outside the lock)",
    )
    options = parser.parse_args()

    name = options.reuse or f"crisis_bench_{uuid.uuid4().hex[:8]}"
    options.keep = options.keep or options.seed_only
    if options.reuse:
        options.keep = True
    else:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://" + re.sub(r"/[^/]*$", f"/{name}", ADMIN).removeprefix("postgresql://")
    try:
        run(url, options)
    finally:
        if not options.keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")


def run(url: str, options: argparse.Namespace) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from crisis.extensions import db
    from crisis.incidents.models import Incident, StageRun
    from crisis.reports import service as reports
    from crisis.reports.cli import seed_history
    from crisis.seed import seed_demo_data
    from crisis.timeline.models import TimelineEvent

    app = _app(url)
    with app.app_context():
        if not options.reuse:
            upgrade()
            seed_demo_data(session=db.session, now=NOW)
            db.session.commit()
            start = time.perf_counter()
            counts = seed_history(
                session=db.session, incidents=options.incidents, months=12, units=options.units, seed=2026, now=NOW
            )
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            print(f"seeded in {time.perf_counter() - start:.1f} s: {counts}")
            if options.seed_only:
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE"))
                return
        else:
            db.session.execute(text("DELETE FROM monthly_report"))
            db.session.commit()
        print(
            f"stage runs {db.session.scalar(select(func.count(StageRun.id)))}, "
            f"timeline events {db.session.scalar(select(func.count(TimelineEvent.id)))}"
        )
        if not options.skip_sweeps:
            _measure_sweeps(db, reports, options.runs)

        from crisis.auth.models import User

        head = db.session.scalar(select(User).where(User.email == "kepala.pusat@demo.example"))
        total = db.session.scalar(select(func.count(Incident.id)))
        print(
            f"\n1. dashboard, whole country, 12 months ({total} incidents in the database); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )

        def build() -> None:
            f = reports.filters_for(session=db.session, user=head, start="2025-12-01", end="2026-11-30", now=NOW)
            reports.build_dashboard(session=db.session, filters=f)
            db.session.rollback()

        _report("service (all SQL + assembly)", _timed(build, options.runs))

    client = app.test_client()
    with app.app_context():
        client.post("/login", data={"email": "kepala.pusat@demo.example", "password": "piket-demo-2026"})
    database = url.rsplit("/", 1)[1]

    def page() -> None:
        _check(client.get("/evaluation?from=2025-12-01&to=2026-11-30"))

    _report_cpu("GET /evaluation (HTML page, signed in)", _timed_cpu(page, options.runs, database))
    print(f"  load average {os.getloadavg()[0]:.1f}")
    # What the page costs as the production entry point serves it: crisis.wsgi:app moves the objects
    # made at start-up out of the garbage collector's full collections (crisis.warmup, gc.freeze();
    # otherwise one every few pages, ~100 ms each over ~190,000 objects). The line above is the bare
    # create_app() of a test or `crisis run`.
    gc.collect()
    gc.freeze()
    try:
        _report_cpu(
            "  same, as crisis.wsgi:app serves it (start-up objects frozen)", _timed_cpu(page, options.runs, database)
        )
    finally:
        gc.unfreeze()
    csv_ms = _timed(lambda: _check(client.get("/evaluation/per_unit.csv?from=2025-12-01&to=2026-11-30")), 10)
    _report("GET /evaluation/per_unit.csv", csv_ms)
    if not options.skip_review:
        _measure_review(app, client, db, url, options)
    if not options.skip_monthly:
        _measure_monthly(app, db, reports, url, options)


def _measure_review(app, client, db, url: str, options: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from crisis.incidents.models import Incident
    from crisis.reviews import exports
    from crisis.reviews import service as reviews
    from crisis.reviews.models import Review
    from crisis.timeline.models import TimelineEvent

    with app.app_context():
        review = db.session.scalar(select(Review).where(Review.state == "approved").order_by(Review.id))
        incident = db.session.get(Incident, review.incident_id)
        have = db.session.scalar(
            select(func.count(TimelineEvent.id)).where(
                TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == incident.id
            )
        )
        extra = [
            TimelineEvent(
                kind="comment.added",
                subject_type="incident",
                subject_id=incident.id,
                unit_id=incident.unit_id,
                data={"comment_id": i},
                occurred_at=incident.started_at + timedelta(seconds=30 * i),
            )
            for i in range(1000 - have)
        ]
        db.session.add_all(extra)
        db.session.commit()
        incident_id = incident.id
        print(f"\n2. review of incident {incident_id} with 1000 timeline events")
        doc_ms = _timed(lambda: reviews.document(session=db.session, review=review), 10)
        _report("document (queries + measures)", doc_ms)
    html_ms = _timed(lambda: _check(client.get(f"/incidents/{incident_id}/review")), 20)
    _report("GET review page (HTML)", html_ms)
    print_ms = _timed(lambda: _check(client.get(f"/incidents/{incident_id}/review.html?lang=en")), 20)
    _report("GET review.html (print)", print_ms)
    pdf = _timed_cpu(
        lambda: _check(client.get(f"/incidents/{incident_id}/review.pdf?lang=en")), 10, url.rsplit("/", 1)[1]
    )
    _report_cpu("GET review.pdf (WeasyPrint)", pdf)
    with app.app_context():
        doc = reviews.document(session=db.session, review=db.session.get(Review, review.id))
        with app.test_request_context():
            pages = len(
                __import__("pypdf")
                .PdfReader(__import__("io").BytesIO(exports.render_pdf(doc, lang="en", zone="Asia/Jakarta")))
                .pages
            )
        print(f"  PDF pages: {pages}")


def _measure_monthly(app, db, reports, url: str, options: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from crisis.reports import monthly
    from crisis.reports.models import MonthlyReport

    print(f"\n3. monthly reports, every unit, {options.workers} worker processes")
    from tests.engine.sinks import SmtpSink

    sink = SmtpSink().start()
    try:
        with app.app_context():
            start = time.perf_counter()
            ids = monthly.monthly_sweep(session=db.session, now=NOW)
            db.session.commit()
            print(
                f"  sweep created {len(ids)} reports in {(time.perf_counter() - start) * 1000:.0f} ms; "
                f"a second sweep hands out {len(monthly.monthly_sweep(session=db.session, now=NOW))}"
            )
            db.session.commit()
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=options.workers) as pool:
            results = list(pool.map(_build_one, [(url, i, sink.port) for i in ids], chunksize=4))
        wall = time.perf_counter() - start
        each = [r[1] for r in results]
        statuses = {s: sum(1 for r in results if r[2] == s) for s in {r[2] for r in results}}
        print(
            f"  {len(results)} reports in {wall:.1f} s wall ({len(results) / wall:.1f}/s); per report "
            f"p50 {statistics.median(each) * 1000:.0f} ms, p95 {_pct(each, 0.95) * 1000:.0f} ms; {statuses}; "
            f"{len(sink.messages)} e-mails"
        )
        with app.app_context():
            sizes = db.session.execute(select(func.avg(MonthlyReport.pdf_size), func.max(MonthlyReport.pdf_size))).one()
            print(f"  PDF size avg {sizes[0] / 1024:.0f} KiB, max {sizes[1] / 1024:.0f} KiB")
    finally:
        sink.stop()


def _measure_sweeps(db, reports, runs: int) -> None:
    from sqlalchemy import select, text

    from crisis.incidents.models import Incident
    from crisis.timeline.models import TimelineEvent

    print(f"\n0. precomputed measures; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    db.session.execute(text("DELETE FROM key_message_lag"))
    db.session.execute(text("DELETE FROM incident_measure"))
    db.session.commit()
    start = time.perf_counter()
    refreshed = reports.refresh_measures(session=db.session, now=NOW)
    db.session.commit()
    print(f"  full recompute: {refreshed} incidents in {time.perf_counter() - start:.1f} s")
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # What autovacuum does a little later: the full recompute left the deleted rows behind.
        connection.execute(text("VACUUM ANALYZE incident_measure"))
        connection.execute(text("VACUUM ANALYZE key_message_lag"))

    def idle() -> None:
        assert reports.refresh_measures(session=db.session, now=NOW) == 0
        db.session.rollback()

    _report("sweep, nothing changed", _timed(idle, runs))
    touched = list(db.session.scalars(select(Incident.id).order_by(Incident.id.desc()).limit(100)))

    def hundred() -> None:
        db.session.add_all(
            [
                TimelineEvent(
                    kind="comment.added", subject_type="incident", subject_id=incident_id, data={}, occurred_at=NOW
                )
                for incident_id in touched
            ]
        )
        db.session.flush()
        assert reports.refresh_measures(session=db.session, now=NOW) == 100
        db.session.rollback()

    _report("sweep after 100 incidents changed", _timed(hundred, runs))


def _check(response):
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
    return response


if __name__ == "__main__":
    main()
