"""Where a burst's CPU goes: the engine benchmark's burst (run.py's EngineBench) with the CPU of each
process group read from /proc, and lateness per half-second of the burst.

    .venv/bin/python benchmarks/engine/burst_profile.py        # ROUNDS=2 BURST=2000 WINDOW=10 PENDING=2000

EXTRA="CRISIS_ENGINE_LINGER_SECONDS=0,..." sets engine settings for the scheduler and workers;
SPY=/path/to/py-spy records each worker process and the scheduler (py-spy is not a dependency).
The postgres group counts every PostgreSQL process of the machine: run it on a quiet one.
"""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
BURST = int(os.environ.get("BURST", "2000"))
WINDOW = float(os.environ.get("WINDOW", "10"))
SPY = os.environ.get("SPY")


def cpu_of(pids):
    total = 0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total / TICK


def tree(root):
    children = {}
    for e in Path("/proc").iterdir():
        if e.name.isdigit():
            try:
                ppid = int((e / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(e.name))
            except OSError:
                pass
    out, stack = [root], [root]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def postgres_pids():
    out = []
    for e in Path("/proc").iterdir():
        if e.name.isdigit():
            try:
                if (e / "comm").read_text().strip() == "postgres":
                    out.append(int(e.name))
            except OSError:
                pass
    return out


def snapshot(bench, redis):
    groups = {
        "scheduler": tree(bench.scheduler.proc.pid),
        "w-parents": [w.proc.pid for w in bench.workers],
        "w-children": [p for w in bench.workers for p in tree(w.proc.pid)[1:]],
        "postgres": postgres_pids(),
        "redis": [redis.proc.pid],
        "bench+sink": [os.getpid()],
    }
    return {k: cpu_of(v) for k, v in groups.items()}


def main():
    tmp = Path(f"/tmp/crisis-prof-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    sink = R.Sink()
    name, url = R.create_database()
    redis = R.Redis(tmp)
    redis.start()
    bench = R.EngineBench("postgresql+psycopg://" + url.split("://", 1)[1], redis, sink, tmp)
    for item in filter(None, os.environ.get("EXTRA", "").split(",")):
        k, v = item.split("=", 1)
        bench.env[k] = v
    try:
        bench.setup()
        bench.start()
        time.sleep(2)
        bench.schedule(
            R.spread(int(os.environ.get("PENDING", "2000")), datetime.now(UTC) + timedelta(hours=1), timedelta(days=3))
        )
        for rnd in range(int(os.environ.get("ROUNDS", "1"))):
            mark = sink.mark()
            start = datetime.now(UTC) + timedelta(seconds=3)
            _s, keys = bench.schedule(R.spread(BURST, start, timedelta(seconds=WINDOW)))
            keys, dues = bench.keys_for(keys)
            time.sleep(max(0, (start - datetime.now(UTC)).total_seconds()) - 0.5)
            spies = []
            if SPY:
                for w in bench.workers:
                    for pid in tree(w.proc.pid):
                        spies.append(
                            subprocess.Popen(
                                [
                                    SPY,
                                    "record",
                                    "-p",
                                    str(pid),
                                    "-d",
                                    str(int(WINDOW) + 2),
                                    "-r",
                                    "200",
                                    "-f",
                                    "raw",
                                    "-o",
                                    f"{tmp}/spy-{pid}.txt",
                                    "--nonblocking",
                                    *os.environ.get("SPY_ARGS", "").split(),
                                ],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                            )
                        )
                spies.append(
                    subprocess.Popen(
                        [
                            SPY,
                            "record",
                            "-p",
                            str(bench.scheduler.proc.pid),
                            "-d",
                            str(int(WINDOW) + 2),
                            "-r",
                            "200",
                            "-f",
                            "raw",
                            "-o",
                            f"{tmp}/spy-scheduler.txt",
                            "--nonblocking",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            before = snapshot(bench, redis)
            R.wait_for_keys(sink, mark, keys, timeout=WINDOW + 60)
            after = snapshot(bench, redis)
            for s in spies:
                s.wait()
            arrivals = sink.since(mark)
            late = sorted((at - dues[k]) * 1000 for k, _d, at in arrivals if k in dues)
            faults = R.count_faults(keys, arrivals)
            print(
                f"round {rnd}: n={len(late)} p50={R.percentile(late, 0.5):.1f} p90={R.percentile(late, 0.9):.1f} "
                f"p99={R.percentile(late, 0.99):.1f} max={late[-1]:.1f} faults={faults}"
            )
            pairs = sorted((dues[k], (at - dues[k]) * 1000) for k, _d, at in arrivals if k in dues)
            t0 = pairs[0][0]
            buckets = {}
            for due, lt in pairs:
                buckets.setdefault(int((due - t0) * 2), []).append(lt)
            halves = (f"{b / 2:.1f}s:{R.percentile(v, 0.5):.0f}/{max(v):.0f}" for b, v in sorted(buckets.items()))
            print("  p50/max per 0.5 s of the burst: " + " ".join(halves))
            for k in before:
                d = after[k] - before[k]
                print(f"  cpu {k:12s} {d:6.2f} s  = {1000 * d / BURST:5.2f} ms/deadline")
            print("  load", Path("/proc/loadavg").read_text().strip())
    finally:
        bench.stop()
        redis.kill()
        from crisis.extensions import db

        with bench.app.app_context():
            db.engine.dispose()
        R.drop_database(name)
        sink.controller.stop()


if __name__ == "__main__":
    main()
