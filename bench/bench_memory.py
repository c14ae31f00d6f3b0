"""Memory over a long fuzzing session: RSS after N minutes against RSS after 1 minute.

Fuzzes a copy of the bundled example suite (without the planted bug, so that every
test keeps running) on a directory database, in a fresh child process per run, samples
that process's RSS, and prints the median over ``--runs`` runs of both values and of
their ratio, with min-max. Target (issue 3): ratio <= 1.5.

    python bench/bench_memory.py            # 3 runs, 10 minutes against 1 minute
    python bench/bench_memory.py --quick    # 1 run, 2 minutes against 0.5 minutes
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import context, print_header, summarize, summarize_ratio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def rss_mib() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status: this benchmark needs Linux")


def one_run(early: float, late: float) -> dict[str, float]:
    """One session in this process: RSS before, after ``early`` and ``late`` minutes."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    from hypofuzz_nb.session import fuzz

    with tempfile.TemporaryDirectory(prefix="hypofuzz_nb-memory-") as tmp:
        project = Path(tmp) / "examples"
        shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns(".hypothesis"))
        database = DirectoryBasedExampleDatabase(Path(tmp) / "db")
        baseline = rss_mib()
        session = fuzz(
            [str(project / "tests")],
            pytest_args=["-k", "not packets", "--rootdir", str(project)],
            database=database,
            max_time=late * 60 + 5,
        )
        start = time.monotonic()
        samples: list[tuple[float, int]] = []
        try:
            for minutes in (early, late):
                while session.running and time.monotonic() - start < minutes * 60:
                    time.sleep(min(1.0, max(0.0, minutes * 60 - (time.monotonic() - start))))
                samples.append((rss_mib(), session.status().inputs))
        finally:
            session.stop()
            session.wait(30)
        if session.error is not None:
            sys.exit(f"the session failed: {session.status().error}")
    (r1, n1), (r2, n2) = samples
    return {"before": baseline, "early": r1, "late": r2, "inputs_early": n1, "inputs_late": n2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run, 2 against 0.5 minutes")
    parser.add_argument("--early", type=float, default=None, help="minutes of the first sample")
    parser.add_argument("--late", type=float, default=None, help="minutes of the second sample")
    parser.add_argument("--runs", type=int, default=None, help="sessions, one per process (3)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    early = args.early if args.early is not None else (0.5 if args.quick else 1.0)
    late = args.late if args.late is not None else (2.0 if args.quick else 10.0)
    runs = args.runs or (1 if args.quick else 3)
    if not 0 < early < late:
        parser.error("need 0 < --early < --late")
    if args.child:
        print(json.dumps(one_run(early, late)))
        return

    print_header(
        "memory: RSS late in a session against early in it",
        runs=runs,
        early=f"{early:g} min",
        late=f"{late:g} min",
    )
    results = []
    for _ in range(runs):
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--early", str(early), "--late", str(late)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"   run {len(results)} done  {context()}", flush=True)

    def col(key: str) -> list[float]:
        return [r[key] for r in results]

    mib = {"fmt": ".0f", "unit": " MiB"}
    rows = [
        ("RSS before fuzzing", summarize(col("before"), **mib)),
        (f"RSS after {early:g} min", summarize(col("early"), **mib)),
        (f"RSS after {late:g} min", summarize(col("late"), **mib)),
        (f"inputs after {late:g} min", summarize(col("inputs_late"), fmt=",.0f")),
    ]
    for label, figure in rows:
        print(f"{label:<24}{figure}")
    print(
        f"ratio RSS({late:g} min) / RSS({early:g} min) {summarize_ratio(col('late'), col('early'))}"
        f"  (target <= 1.5)  {context()}"
    )


if __name__ == "__main__":
    main()
