"""CPU per request of two code trees, measured side by side: the comparison a shared machine allows.

    .venv/bin/python benchmarks/load/run.py --keep --probe-only          # leaves crisis_load_XXXXXXXX
    git worktree add /tmp/before <rev>                                   # and copy its compiled catalogs
    .venv/bin/python benchmarks/load/compare.py crisis_load_XXXXXXXX /tmp/before . [--rounds 12]

On a virtual machine whose host is shared, throughput and even CPU time per request drift by
20-40 % within minutes, so measuring one tree and then the other compares two moments as much as
two trees. Here both trees are served at once (gunicorn, one sync worker each, on the same kept
database) and take turns: a batch of issue-logging requests (POST /api/v1/issues with a bearer
token and an Idempotency-Key, as run.py's c.) to one, then to the other, alternating which goes
first. Each batch counts the CPU of the tree's worker and of the PostgreSQL backends; drift hits
both trees alike. Printed: the median over rounds of each tree's web and PostgreSQL CPU per
request, and B's total as a share of A's, with the spread of that share over the rounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402
from run import HOST, LOGGER_USER, Gunicorn, _backends, _process_cpu, _workers  # noqa: E402

WORDS = re.findall(r'"([^"]+)"', Path(run.__file__).read_text().split("local words = {")[1].split("}")[0])


def issue_token(url: str) -> tuple[str, list[int]]:
    """A token of the central desk's officer (logs for every unit) and the unit ids, made in this process."""
    os.environ.setdefault("CRISIS_INSTANCE_PATH", "/tmp/crisis-load-compare")
    from sqlalchemy import select

    from crisis import create_app
    from crisis.auth import service as people
    from crisis.auth.models import User
    from crisis.extensions import db
    from crisis.units.models import Unit

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "compare", "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == LOGGER_USER))
        _row, token = people.create_token(session=db.session, user=user, name="load compare")
        units = sorted(db.session.scalars(select(Unit.id)))
        db.session.commit()
        db.engine.dispose()
    return f"Bearer {token}", units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database")
    parser.add_argument("tree_a")
    parser.add_argument("tree_b")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=40, help="requests per tree per round")
    options = parser.parse_args()

    url = "postgresql+psycopg://" + re.sub(r"/[^/]*$", f"/{options.database}", run.ADMIN).removeprefix("postgresql://")
    token, units = issue_token(url)
    env = run.crisis_env(url, f"redis://127.0.0.1:6379/{9}", "/tmp/crisis-load-compare")
    serving = argparse.Namespace(workers=1, worker_class="sync", threads=1)
    trees = {"A": Path(options.tree_a).resolve(), "B": Path(options.tree_b).resolve()}
    servers = {name: Gunicorn(name, "crisis.wsgi:app", env, serving, chdir=tree) for name, tree in trees.items()}
    counter = iter(range(10**9))
    rng = random.Random(7)  # noqa: S311  reproducible titles, rarely 80 % alike

    def log_issue(server: Gunicorn) -> None:
        number = next(counter)
        body = json.dumps(
            {
                "unit_id": units[number % len(units)],
                "channel": "x",
                "category": "hoax",
                "title": " ".join(rng.choice(WORDS) for _ in range(7)),  # as run.py's wrk script
                "description": "Dipantau otomatis.",
                "evidence_urls": [f"https://example.org/compare/{uuid.uuid4().hex}"],
            }
        )
        conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        conn.request(
            "POST",
            "/api/v1/issues",
            body=body,
            headers={"Authorization": token, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 201:
            raise RuntimeError(f"{server.name}: {response.status}")

    figures: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    try:
        for server in servers.values():
            server.wait_ready()
            for _ in range(20):
                log_issue(server)
        for number in range(options.rounds):
            order = ["A", "B"] if number % 2 == 0 else ["B", "A"]
            for name in order:
                server = servers[name]
                workers, backends = _workers(server), _backends(url)
                web, pg = _process_cpu(workers), _process_cpu(backends)
                for _ in range(options.batch):
                    log_issue(server)
                backends = sorted(set(backends) | set(_backends(url)))
                figures[name].append(
                    (
                        (_process_cpu(workers) - web) * 1000 / options.batch,
                        (_process_cpu(backends) - pg) * 1000 / options.batch,
                    )
                )
    finally:
        for server in servers.values():
            server.stop()

    def summary(name: str) -> tuple[float, float]:
        return statistics.median(w for w, _ in figures[name]), statistics.median(p for _, p in figures[name])

    shares = sorted((b[0] + b[1]) / (a[0] + a[1]) for a, b in zip(figures["A"], figures["B"], strict=True))
    for name, tree in trees.items():
        web, pg = summary(name)
        print(
            f"{name} {tree}: web {web:.2f} ms + PostgreSQL {pg:.2f} ms CPU per issue (median of {options.rounds} "
            f"rounds of {options.batch})"
        )
    print(
        f"B / A, web + PostgreSQL: median {statistics.median(shares):.3f}, "
        f"rounds {shares[0]:.3f}–{shares[-1]:.3f}; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
