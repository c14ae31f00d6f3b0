"""Memory over a long fuzzing session: RSS after N minutes against RSS after 1 minute.

Fuzzes a copy of the bundled example suite (without the planted bug, so that every
test keeps running) in this process on a directory database, samples this process's
RSS, and prints both values and their ratio. Target (issue 3): ratio <= 1.5.

    python bench/bench_memory.py            # 10 minutes against 1 minute
    python bench/bench_memory.py --quick    # 2 minutes against 0.5 minutes

Recorded on the shared, heavily loaded 2-core machine (Hypothesis 6.170.17):
Python 3.12.1, 10 min vs 1 min: 123 MiB vs 122 MiB (315,160 vs 45,192 inputs), ratio 1.00;
Python 3.11.7, 2 min vs 0.5 min (--quick): 129 MiB vs 129 MiB, ratio 1.00.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def rss_mib() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status: this benchmark needs Linux")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 minutes against 0.5 minutes")
    parser.add_argument("--early", type=float, default=None, help="minutes of the first sample")
    parser.add_argument("--late", type=float, default=None, help="minutes of the second sample")
    args = parser.parse_args()
    early = args.early if args.early is not None else (0.5 if args.quick else 1.0)
    late = args.late if args.late is not None else (2.0 if args.quick else 10.0)
    if not 0 < early < late:
        parser.error("need 0 < --early < --late")

    from hypothesis.database import DirectoryBasedExampleDatabase

    from hypofuzz_nb.worker import fuzz

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
        samples: list[tuple[float, float, int]] = []
        try:
            for minutes in (early, late):
                while session.running and time.monotonic() - start < minutes * 60:
                    time.sleep(min(1.0, max(0.0, minutes * 60 - (time.monotonic() - start))))
                samples.append((minutes, rss_mib(), session.status().inputs))
        finally:
            session.stop()
            session.wait(30)
        if session.error is not None:
            sys.exit(f"the session failed: {session.status().error}")
    (m1, r1, n1), (m2, r2, n2) = samples
    print(f"Python {sys.version.split()[0]}; RSS before fuzzing {baseline:.0f} MiB")
    print(f"after {m1:g} min: RSS {r1:.0f} MiB, {n1:,} inputs")
    print(f"after {m2:g} min: RSS {r2:.0f} MiB, {n2:,} inputs")
    print(f"ratio RSS({m2:g} min) / RSS({m1:g} min) = {r2 / r1:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
