"""Run every benchmark, in its quick form (``make bench``) or its full form (``--full``),
with the Python that runs this script, one after another.

Each benchmark prints the Python version and the load average first and beside its
figures, and every figure as the median of repeated runs with its min-max spread and
the number of runs; ratios compare against a baseline run interleaved with it.
Timing targets hold on a quiet machine (load average below 1 when a run starts).

    python bench/run_all.py            # quick forms (aim: under 15 minutes, quiet 2-core machine)
    python bench/run_all.py --full     # the full forms (several hours on 2 cores)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _common import print_header  # noqa: E402

QUICK = [
    ["bench_demo.py", "--quick"],
    ["bench_throughput.py", "--quick"],
    ["bench_time_to_bug.py", "--quick"],
    ["bench_load.py", "--tests", "100", "--reports", "200", "--rounds", "3"],
    ["bench_collect.py", "--rounds", "3"],
    ["bench_dashboard.py", "--reports", "200", "--rounds", "3"],
    ["bench_kernel_latency.py", "--quick"],
    ["bench_scaling.py", "--skip-load", "--worker-rounds", "2", "--window", "5"],
    ["bench_memory.py", "--quick"],
    ["bench_outage.py", "--quick"],
    ["bench_dask.py", "--quick"],
]
FULL = [
    ["bench_demo.py"],
    ["bench_throughput.py"],
    ["bench_time_to_bug.py"],
    ["bench_load.py"],
    ["bench_collect.py"],
    ["bench_dashboard.py", "--reports", "2000"],
    ["bench_kernel_latency.py"],
    ["bench_reload_overlap.py"],
    ["bench_scaling.py"],
    ["bench_memory.py"],
    ["bench_outage.py"],
    ["bench_dask.py"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full forms (slow)")
    parser.add_argument("--only", default="", help="run only scripts whose name contains this")
    args = parser.parse_args()
    print_header(f"all benchmarks, {'full' if args.full else 'quick'} forms")
    failed, missing = [], []
    start = time.monotonic()
    for command in FULL if args.full else QUICK:
        if args.only not in command[0]:
            continue
        if not (BENCH / command[0]).exists():
            missing.append(command[0])
            continue
        print(f"\n===== {' '.join(command)}", flush=True)
        t0 = time.monotonic()
        if subprocess.run([sys.executable, str(BENCH / command[0]), *command[1:]]).returncode:
            failed.append(command[0])
        print(f"===== {command[0]} took {time.monotonic() - t0:.0f} s", flush=True)
    print(f"\nall done in {time.monotonic() - start:.0f} s")
    if missing:
        print(f"not present, skipped: {', '.join(missing)}")
    if failed:
        print(f"failed to run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
