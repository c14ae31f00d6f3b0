"""What one dashboard refresh costs, and how long a new report takes to show.

Usage: ``python bench/bench_dashboard.py [--tests 100 --reports 200] [--rounds 5]``

On the foundation benchmark's directory database (built by bench_load.build and
cached under ``bench/results/``; 100 tests x 200 reports by default, pass
``--reports 2000`` for the full 200,000), in one process:

- ``load``: ``hypofuzz_nb.load(db)`` alone, the baseline of this run;
- ``redraw``: ``Dashboard.refresh()`` on already-loaded frames after a change:
  tests table, progress PNG, failure list: the dashboard's own cost (target
  <= 200 ms); a refresh in the refresher thread costs load + redraw;
- ``check``: the refresh when nothing changed (signature comparison only);
- ``latency``: from a report written by another database object (as another
  process would) to its test's row shown in the table of a live dashboard, on a
  temporary directory database of as many tests (polling, ``poll_interval``
  0.5 s) and on an in-memory one (change events only, ``poll_interval`` 60 s).

Figures are medians over ``--rounds`` with min-max; ratios are against ``load`` in
the same run, paired round by round.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import context, print_header, summarize, summarize_ratio
from bench_load import RESULTS, build

import hypofuzz_nb
from hypofuzz_nb import records
from hypofuzz_nb.widgets import Dashboard

LATENCY_TIMEOUT = 30.0


def _write_report(db, nodeid: str) -> None:
    key = hashlib.sha384(nodeid.encode()).digest()
    db.save(records.TEST_KEYS_KEY, key)
    report = records.Report(
        database_key=records.key_to_base64(key),
        nodeid=nodeid,
        elapsed_time=1.0,
        timestamp=time.time(),
        worker_uuid="b" * 32,
        status_counts={"0": 0, "1": 0, "2": 10, "3": 0},
        behaviors=3,
        fingerprints=2,
        since_new_behavior=0,
        phase="generate",
    )
    db.save(records.reports_key(key), report.to_bytes())


def measure_refresh(path: Path, rounds: int) -> dict[str, list[float]]:
    db = DirectoryBasedExampleDatabase(path)
    data = hypofuzz_nb.load(db)  # warm the page cache and imports
    loads = []
    for _ in range(rounds):
        start = time.perf_counter()
        data = hypofuzz_nb.load(db)
        loads.append(time.perf_counter() - start)
    # The dashboard's own work, apart from loading: its loader hands back the
    # frames loaded above, so a refresh times the drawing alone.
    dashboard = Dashboard(lambda: data, live=False)
    dashboard.refresh()  # first drawing pays one-off font and cache set-up
    changed, unchanged = [], []
    for _ in range(rounds):
        dashboard._signature = None  # as if a report had arrived: redraw everything
        start = time.perf_counter()
        assert dashboard.refresh()
        changed.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert not dashboard.refresh()
        unchanged.append(time.perf_counter() - start)
    dashboard.close()
    return {
        "load": [t * 1000 for t in loads],
        "draw": [t * 1000 for t in changed],
        "check": [t * 1000 for t in unchanged],
    }


def measure_latency(dashboard_db, writer_db, rounds: int, poll_interval: float) -> list[float]:
    dashboard = Dashboard(dashboard_db, poll_interval=poll_interval)
    samples = []
    try:
        for i in range(rounds):
            nodeid = f"tests/test_latency.py::test_new_{i}_{time.time_ns()}"
            start = time.perf_counter()
            _write_report(writer_db, nodeid)
            while nodeid not in dashboard.page_picker.rows:
                if time.perf_counter() - start > LATENCY_TIMEOUT:
                    raise RuntimeError(f"report not shown within {LATENCY_TIMEOUT}s")
                time.sleep(0.005)
            samples.append(time.perf_counter() - start)
            time.sleep(0.6)  # let the refresher's rate limit reset between samples
    finally:
        dashboard.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print_header(
        "dashboard: refresh cost and report-to-table latency",
        tests=args.tests,
        reports_per_test=args.reports,
        rounds=args.rounds,
    )

    cached = RESULTS / f"load-db-{args.tests}x{args.reports}"
    print(f"database {cached.name}: building if not cached", flush=True)
    build(cached, args.tests, args.reports)
    path = cached / "db"

    refresh = measure_refresh(path, args.rounds)
    n_reports = args.tests * args.reports
    print(f"\n== one refresh, {args.tests} tests x {args.reports} reports ({n_reports:,})")
    print(f"   {context()}")
    ms = {"fmt": ".1f", "unit": " ms"}
    print(f"load() (baseline)                {summarize(refresh['load'], **ms)}")
    print(
        f"redraw after a change            {summarize(refresh['draw'], **ms)}  (target <= 200 ms)"
    )
    print(f"check when nothing changed       {summarize(refresh['check'], **ms)}")
    total = [a + b for a, b in zip(refresh["load"], refresh["draw"], strict=True)]
    print(f"one refresh with a change        {summarize(total, **ms)}")
    print(f"   as a multiple of load()       {summarize_ratio(total, refresh['load'])}")

    # Latency on databases of the same number of tests, in a temporary directory:
    # the cached benchmark database must stay as bench_load built it.
    with tempfile.TemporaryDirectory() as tmp:
        directory_db = DirectoryBasedExampleDatabase(Path(tmp) / "db")
        for t in range(args.tests):
            _write_report(directory_db, f"tests/test_directory.py::test_{t}")
        other_process_db = DirectoryBasedExampleDatabase(Path(tmp) / "db")
        directory = measure_latency(directory_db, other_process_db, args.rounds, 0.5)
    memory_db = InMemoryExampleDatabase()
    for t in range(args.tests):
        _write_report(memory_db, f"tests/test_memory.py::test_{t}")
    memory = measure_latency(memory_db, memory_db, args.rounds, 60.0)
    print("\n== latency: report written -> shown in the table")
    print(f"   {context()}")
    directory_ms = [t * 1000 for t in directory]
    memory_ms = [t * 1000 for t in memory]
    print(f"directory db (polling 0.5 s)   {summarize(directory_ms, fmt='.1f', unit=' ms')}")
    print(f"in-memory db (change events)   {summarize(memory_ms, fmt='.1f', unit=' ms')}")


if __name__ == "__main__":
    main()
