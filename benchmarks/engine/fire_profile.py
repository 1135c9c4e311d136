"""Where a deadline's CPU goes inside a worker, without Celery around it: the burst's timers are
claimed and fired in batches in this process, exactly as `escalation.fire_timers` does (fire,
render and compose before the commit, then send over one kept SMTP connection to a loopback sink),
and the firing thread's CPU time is divided by the deadlines fired.

    .venv/bin/python benchmarks/engine/fire_profile.py            # DEADLINES=1000 BATCH=25
    PROFILE=1 .venv/bin/python benchmarks/engine/fire_profile.py  # and the top functions (cProfile;
                                                                  # SORT=tottime, CALLERS=<function> too,
                                                                  # DUMP=/tmp/p: the stats to files)

CPU time on a shared virtual machine varies by a quarter from one round to the next, which hides a
change worth a tenth. Instructions do not: under callgrind the firing is counted alone (the rest
runs uninstrumented) and the same build gives the same count within a fraction of a percent:

    COUNT=1 DEADLINES=300 BATCH=6 valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file=/tmp/cg.%p .venv/bin/python benchmarks/engine/fire_profile.py

(`callgrind_annotate /tmp/cg.<pid>.<n>` then names the C functions the instructions went to.)
"""

import cProfile
import ctypes
import os
import pstats
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402

DEADLINES = int(os.environ.get("DEADLINES", "1000"))
BATCH = int(os.environ.get("BATCH", "25"))


SHIM = r"""
#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void count_stop(const char *name) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS_AT(name); }
"""


def counter(tmp: Path):
    """Start and stop callgrind's counting from Python (client requests, compiled once into a shim)."""
    source, library = tmp / "count.c", tmp / "count.so"
    source.write_text(SHIM)
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return ctypes.CDLL(str(library))


class Task:
    """What `workers.tasks._fire` reads of a Celery task: not eager, no retries."""

    class request:  # noqa: N801
        is_eager = False
        retries = 0


def main():
    tmp = Path(f"/tmp/crisis-fire-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    sink = R.Sink()
    name, url = R.create_database()
    redis = R.Redis(tmp)
    redis.start()
    bench = R.EngineBench("postgresql+psycopg://" + url.split("://", 1)[1], redis, sink, tmp)
    bench.app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, ENGINE_INLINE_DELIVERIES=BATCH)
    try:
        bench.setup()
        from crisis.escalation import firing
        from crisis.extensions import db
        from workers import tasks

        count = counter(tmp) if os.environ.get("COUNT") else None
        for rnd in range(int(os.environ.get("ROUNDS", "2"))):
            mark = sink.mark()
            _s, keys = bench.schedule([datetime.now(UTC) - timedelta(seconds=1)] * DEADLINES)
            with bench.app.app_context():
                claimed = [c.id for c in firing.claim_due(session=db.session, limit=DEADLINES)]
                db.session.commit()
                profile = cProfile.Profile(time.thread_time) if os.environ.get("PROFILE") else None
                cpu, wall = time.thread_time(), time.perf_counter()
                if profile:
                    profile.enable()
                if count:
                    count.count_start()
                for offset in range(0, len(claimed), BATCH):
                    tasks._fire(Task, claimed[offset : offset + BATCH])
                if count:
                    count.count_stop(f"round {rnd}".encode())
                if profile:
                    profile.disable()
                cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                db.session.remove()
            R.wait_for_keys(sink, mark, keys, timeout=60)
            got = len(sink.since(mark))
            print(
                f"round {rnd}: {len(claimed)} deadlines in batches of {BATCH}, {got} e-mails: "
                f"{1000 * cpu / len(claimed):.2f} ms CPU and {1000 * wall / len(claimed):.2f} ms wall per deadline"
                " (this thread only: the sink runs in another)"
            )
            if profile:
                stats = pstats.Stats(profile)
                stats.sort_stats(os.environ.get("SORT", "cumulative")).print_stats(int(os.environ.get("TOP", "45")))
                if os.environ.get("CALLERS"):
                    stats.print_callers(os.environ["CALLERS"])
                if os.environ.get("DUMP"):  # for pstats later: print_callees, other sorts
                    stats.dump_stats(f"{os.environ['DUMP']}.{rnd}")
    finally:
        from crisis.extensions import db

        redis.kill()
        with bench.app.app_context():
            db.engine.dispose()
        R.drop_database(name)
        sink.controller.stop()


if __name__ == "__main__":
    main()
