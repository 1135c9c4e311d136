"""Title similarity in the duplicate finder: the tree's comparison (rapidfuzz's Indel distance as the
bound) against the hand-written bit-parallel bounds it replaced (handwritten.py) and plain difflib.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/duplicates/compare.py [--rounds 3] [--checks 200]

The rule stays difflib's: a candidate is a duplicate when SequenceMatcher's ratio of the two
normalised titles reaches TITLE_SIMILARITY (0.8). Each check compares one title against
--candidates (500, as find_duplicates reads the unit's newest 500) and every implementation must
answer exactly the (ratio, id) pairs difflib does on every candidate: the script stops otherwise.
It also counts how often rapidfuzz's own ratio (fuzz.ratio, 2 * LCS / total) would decide
differently, which is why the tree uses it as a bound, not as the rule.

Scenarios (seeded, so every run compares the same titles):
  load-window  benchmarks/load/run.py's vocabulary, 7 random words a title (what the load benchmark
               posts; rarely 80 % alike), each title checked against the 500 before it: warm caches,
               as the unit's newest 500 titles come back at every check of that unit
  load-fresh   the same titles, 500 never seen before at every check, caches cleared: cold
  near-window  tests/test_load_paths.py's vocabulary (punctuation, accents), 1-8 words, half of the
               titles made from a recent one (a suffix, the words reversed, one word replaced)
  near-fresh   the test's mix (20 % near copies, 10 % reversed) and 20 % more made from the title

Reported per implementation and scenario: the median time of a check (500 candidates) and of one
candidate comparison, as the range over --rounds rounds; each round runs the implementations in a
rotated order. Plain difflib (every candidate, no bound) is timed only with --with-difflib.
On a shared machine, run it three times or more and read ranges, not digits.
"""

from __future__ import annotations

import argparse
import difflib
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rapidfuzz import fuzz

sys.path.insert(0, str(Path(__file__).resolve().parent))

import handwritten  # noqa: E402  the peer, next to this script

from crisis.issues import duplicates  # noqa: E402

LOAD_WORDS = (
    "warga", "keluhan", "antrean", "layanan", "hoaks", "bantuan", "sosial", "banjir", "jalan", "rusak", "pemadaman",
    "air", "listrik", "sekolah", "puskesmas", "pasar", "parkir", "tarif", "bus", "kereta", "gempa", "longsor", "izin",
    "data", "bocor", "viral", "video", "petugas", "kasar", "pungli", "kantor", "kelurahan", "kecamatan", "sampah",
    "banjir", "rob", "demo", "mahasiswa", "buruh", "nelayan", "harga", "beras", "minyak", "gas", "elpiji", "vaksin",
    "rumah", "sakit", "ambulans", "jembatan", "macet", "tol", "bandara", "pelabuhan", "kapal", "tiket", "mudik",
    "zakat", "pajak", "ktp", "kk", "akta", "nikah", "bpjs", "klaim", "ditolak", "video", "tiktok", "instagram", "grup",
    "whatsapp", "pesan", "berantai", "foto", "palsu", "surat", "edaran",
)  # fmt: skip
NEAR_WORDS = (
    "warga", "keluhan", "antrean", "layanan", "hoaks", "bantuan", "sosial", "banjir", "jalan", "rusak", "air", "PDAM",
    "listrik", "sekolah,", "puskesmas", "pasar!", "parkir", "tarif", "bus", "kafé", "naïve", "2026", "viral",
)  # fmt: skip

Check = tuple[str, list[tuple[int, str]]]
Compare = Callable[[str, list[tuple[int, str]]], list[tuple[float, int]]]


def plain_difflib(title: str, candidates: list[tuple[int, str]]) -> list[tuple[float, int]]:
    """The rule itself on every candidate (titles normalised once, as the others do)."""
    wanted = duplicates.normalise_title(title)
    scored = []
    for issue_id, other in candidates:
        ratio = difflib.SequenceMatcher(None, wanted, duplicates._normalised(other)).ratio()
        if ratio >= duplicates.TITLE_SIMILARITY:
            scored.append((ratio, issue_id))
    return scored


IMPLEMENTATIONS: dict[str, Compare] = {
    "difflib": plain_difflib,
    "handwritten": handwritten._similar_titles,
    "rapidfuzz": duplicates._similar_titles,
}


def clear_caches() -> None:
    handwritten._title_letters.cache_clear()
    duplicates._normalised.cache_clear()


def near_variant(rng: random.Random, words: tuple[str, ...], title: str) -> str:
    roll = rng.random()
    if roll < 0.4:
        return title + rng.choice(["", "!", " lagi", "s"])
    split = title.split()
    if roll < 0.6:
        return " ".join(reversed(split))
    split[rng.randrange(len(split))] = rng.choice(words)
    return " ".join(split)


def random_title(rng: random.Random, words: tuple[str, ...], low: int, high: int) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))


def window_checks(rng: random.Random, corpus: str, checks: int, size: int) -> list[Check]:
    """Each title of a stream checked against the `size` before it."""
    stream: list[str] = []
    for _ in range(size + checks):
        if corpus == "near" and stream and rng.random() < 0.5:
            stream.append(near_variant(rng, NEAR_WORDS, rng.choice(stream[-size:])))
        elif corpus == "near":
            stream.append(random_title(rng, NEAR_WORDS, 1, 8))
        else:
            stream.append(random_title(rng, LOAD_WORDS, 7, 7))
    return [(stream[i], list(enumerate(stream[i - size : i], start=i - size))) for i in range(size, size + checks)]


def fresh_checks(rng: random.Random, corpus: str, checks: int, size: int) -> list[Check]:
    """Each title checked against `size` titles made for it (tests/test_load_paths.py's mix for near)."""
    made = []
    for _ in range(checks):
        if corpus == "near":
            wanted = random_title(rng, NEAR_WORDS, 1, 8)
            candidates = []
            for number in range(size):
                roll = rng.random()
                if roll < 0.2:
                    other = wanted + rng.choice(["", "!", " lagi", "s"])
                elif roll < 0.3:
                    other = " ".join(reversed(wanted.split()))
                elif roll < 0.5:
                    other = near_variant(rng, NEAR_WORDS, wanted)
                else:
                    other = random_title(rng, NEAR_WORDS, 1, 8)
                candidates.append((number, other))
        else:
            wanted = random_title(rng, LOAD_WORDS, 7, 7)
            candidates = [(number, random_title(rng, LOAD_WORDS, 7, 7)) for number in range(size)]
        made.append((wanted, candidates))
    return made


def scenarios(seed: int, checks: int, size: int) -> dict[str, tuple[list[Check], bool]]:
    """name: (checks, whether caches are cleared before each check)."""
    return {
        "load-window": (window_checks(random.Random(seed), "load", checks, size), False),
        "load-fresh": (fresh_checks(random.Random(seed + 1), "load", checks, size), True),
        "near-window": (window_checks(random.Random(seed + 2), "near", checks, size), False),
        "near-fresh": (fresh_checks(random.Random(seed + 3), "near", checks, size), True),
    }


def verify(name: str, made: list[Check]) -> dict[str, int]:
    """Every implementation answers what difflib answers; and how rapidfuzz's own ratio would differ."""
    matches = ratio_differs = 0
    for wanted, candidates in made:
        expected = sorted(plain_difflib(wanted, candidates))
        for label, compare in IMPLEMENTATIONS.items():
            got = sorted(compare(wanted, candidates))
            if got != expected:
                raise SystemExit(f"{name}: {label} disagrees with difflib on {wanted!r}: {got} != {expected}")
        matches += len(expected)
        norm = duplicates.normalise_title
        by_lcs = {
            issue_id
            for issue_id, other in candidates
            if fuzz.ratio(norm(wanted), norm(other)) >= 100 * duplicates.TITLE_SIMILARITY
        }
        ratio_differs += len(by_lcs ^ {issue_id for _ratio, issue_id in expected})
    return {"matches": matches, "fuzz_ratio_differs": ratio_differs}


def time_one(compare: Compare, made: list[Check], cold: bool) -> float:
    """Median nanoseconds of one check."""
    clear_caches()
    if not cold:  # warm: the window's titles were seen by earlier checks
        for wanted, candidates in made[:1]:
            compare(wanted, candidates)
    times = []
    for wanted, candidates in made:
        if cold:
            clear_caches()
        start = time.perf_counter_ns()
        compare(wanted, candidates)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--with-difflib", action="store_true", help="time plain difflib too (slow)")
    args = parser.parse_args(argv)
    made = scenarios(args.seed, args.checks, args.candidates)
    for name, (checks, _cold) in made.items():
        counts = verify(name, checks)
        print(
            f"{name:12} agree on {args.checks} checks x {args.candidates}: {counts['matches']} matches; "
            f"fuzz.ratio as the rule would differ on {counts['fuzz_ratio_differs']} candidates"
        )
    results: dict[tuple[str, str], list[float]] = {}
    labels = [label for label in IMPLEMENTATIONS if args.with_difflib or label != "difflib"]
    for round_number in range(args.rounds):
        order = labels[round_number % len(labels) :] + labels[: round_number % len(labels)]
        for name, (checks, cold) in made.items():
            for label in order:
                results.setdefault((name, label), []).append(time_one(IMPLEMENTATIONS[label], checks, cold))
    print(f"\nmedian per check (ms) and per candidate (us), min-max over {args.rounds} rounds")
    for name in made:
        for label in labels:
            runs = results[(name, label)]
            per_check = f"{min(runs) / 1e6:.3f}-{max(runs) / 1e6:.3f}"
            per_candidate = f"{min(runs) / args.candidates / 1e3:.3f}-{max(runs) / args.candidates / 1e3:.3f}"
            print(f"  {name:12} {label:12} {per_check:>14} ms  {per_candidate:>14} us")
        speedups = [h / r for h, r in zip(results[(name, "handwritten")], results[(name, "rapidfuzz")], strict=True)]
        print(f"  {name:12} handwritten / rapidfuzz per round: {min(speedups):.2f}-{max(speedups):.2f}x")


if __name__ == "__main__":
    main()
