"""How fast ``hypofuzz_nb.load()`` reads a big directory database, against a bare fetch.

Usage: ``python bench/bench_load.py [--tests 100 --reports 2000] [--rounds 3]``

Builds (once, cached under ``bench/results/``) a directory database of ``tests x
reports`` report values written as HypoFuzz writes them (one value per report),
plus the same number of tests with a tenth of the reports for the scaling check.
Then, in fresh child processes so that peak RSS is the loader's own, it times:

- the bare fetch: ``list(db.fetch(...))`` of the test keys and every report key;
- ``hypofuzz_nb.load(db)``: fetch, parse, validate, merge and build all frames.

It prints the best time of each over ``--rounds`` alternating rounds, the ratio
load / fetch (target <= 1.2), peak RSS of the load child (target <= 300 MB), and
the ratio of load times between the big and the small database (linear: about
the ratio of sizes).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase

from hypofuzz_nb.records import TEST_KEYS_KEY, Report, key_to_base64, reports_key

RESULTS = Path(__file__).resolve().parent / "results"


def build(path: Path, n_tests: int, n_reports: int) -> None:
    """Write the database at ``path`` (skipped when a complete copy is cached there)."""
    done = path / "COMPLETE"
    if done.exists():
        return
    db = DirectoryBasedExampleDatabase(path / "db")
    rng = random.Random(0)
    workers = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(2)]
    start = time.perf_counter()
    for t in range(n_tests):
        key = rng.randbytes(48)
        db.save(TEST_KEYS_KEY, key)
        b64 = key_to_base64(key)
        nodeid = f"tests/test_bench_{t // 10}.py::test_case_{t}"
        inputs = {w: 0 for w in workers}
        elapsed = {w: 0.0 for w in workers}
        behaviors = 0
        ts = 1_790_000_000.0 + t
        for i in range(n_reports):
            w = workers[i % 2]
            inputs[w] += rng.randrange(50, 500)
            elapsed[w] += rng.random()
            ts += rng.random() * 5
            if rng.random() < 0.05:
                behaviors += 1
            report = Report(
                database_key=b64,
                nodeid=nodeid,
                elapsed_time=elapsed[w],
                timestamp=ts,
                worker_uuid=w,
                status_counts={"0": 0, "1": inputs[w] // 50, "2": inputs[w], "3": 0},
                behaviors=behaviors,
                fingerprints=behaviors // 2,
                since_new_behavior=rng.randrange(0, 10_000),
                phase="generate",
            )
            db.save(reports_key(key), report.to_bytes())
        if t % 10 == 9:
            print(
                f"  built {t + 1}/{n_tests} tests ({time.perf_counter() - start:.0f} s)", flush=True
            )
    done.write_text(json.dumps({"tests": n_tests, "reports": n_reports}))


def child(mode: str, path: str) -> None:
    """Run one measurement in this fresh process and print it as JSON."""
    import resource

    import hypofuzz_nb  # both sides pay the imports outside the timed part

    db = DirectoryBasedExampleDatabase(path)
    start = time.perf_counter()
    if mode == "fetch":
        keys = list(db.fetch(TEST_KEYS_KEY))
        count = sum(len(list(db.fetch(reports_key(k)))) for k in keys)
    else:
        data = hypofuzz_nb.load(db)
        count = len(data.reports)
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "count": count, "rss_mb": rss_mb}))


def measure(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(mode: str, path: Path, rounds: int) -> dict:
    runs = [measure(mode, path) for _ in range(rounds)]
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    big = RESULTS / f"load-db-{args.tests}x{args.reports}"
    small_reports = max(1, args.reports // 10)
    small = RESULTS / f"load-db-{args.tests}x{small_reports}"
    for path, n in ((small, small_reports), (big, args.reports)):
        print(f"database {path.name}: building if not cached", flush=True)
        build(path, args.tests, n)

    results = {}
    for name, path in (("small", small), ("big", big)):
        # Warm the page cache once so both sides read from memory, then alternate.
        measure("fetch", path / "db")
        fetches, loads = [], []
        for _ in range(args.rounds):
            fetches.append(measure("fetch", path / "db"))
            loads.append(measure("load", path / "db"))
        fetch = min(fetches, key=lambda r: r["seconds"])
        load = min(loads, key=lambda r: r["seconds"])
        assert fetch["count"] == load["count"], (fetch, load)
        results[name] = (fetch, load)
        print(
            f"{name}: {load['count']:,} reports  fetch {fetch['seconds']:.2f} s "
            f"(RSS {fetch['rss_mb']:.0f} MB)  load {load['seconds']:.2f} s "
            f"(RSS {load['rss_mb']:.0f} MB)  load/fetch = {load['seconds'] / fetch['seconds']:.2f}x"
        )
    fetch_big, load_big = results["big"]
    fetch_small, load_small = results["small"]
    size_ratio = load_big["count"] / max(1, load_small["count"])
    print(
        f"scaling {load_small['count']:,} -> {load_big['count']:,} reports (x{size_ratio:.1f}): "
        f"load x{load_big['seconds'] / load_small['seconds']:.2f}, "
        f"fetch x{fetch_big['seconds'] / fetch_small['seconds']:.2f}"
    )
    print(
        f"targets: load/fetch {load_big['seconds'] / fetch_big['seconds']:.2f}x (<= 1.2x), "
        f"peak RSS {load_big['rss_mb']:.0f} MB (<= 300 MB)"
    )


if __name__ == "__main__":
    main()
