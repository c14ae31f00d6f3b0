"""Run every benchmark once, in its quick form, with the Python that runs this script.

Each benchmark prints ratios against a baseline it measures in the same run; this
script only runs them one after another and says which failed to run.

    python bench/run_all.py            # quick forms (about 15 minutes)
    python bench/run_all.py --full     # the full forms the README quotes (about 45 minutes)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

QUICK = [
    ["bench_throughput.py", "--quick"],
    ["bench_time_to_bug.py", "--quick"],
    ["bench_load.py", "--tests", "100", "--reports", "200"],
    ["bench_collect.py"],
    ["bench_dashboard.py", "--reports", "200"],
    ["bench_kernel_latency.py", "--cells", "100"],
    ["bench_scaling.py", "--skip-load"],
    ["bench_memory.py", "--quick"],
]
FULL = [
    ["bench_throughput.py"],
    ["bench_time_to_bug.py"],
    ["bench_load.py"],
    ["bench_collect.py"],
    ["bench_dashboard.py"],
    ["bench_kernel_latency.py"],
    ["bench_scaling.py"],
    ["bench_memory.py"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full forms (slow)")
    args = parser.parse_args()
    failed = []
    for command in FULL if args.full else QUICK:
        print(f"\n===== {' '.join(command)}", flush=True)
        if subprocess.run([sys.executable, str(BENCH / command[0]), *command[1:]]).returncode:
            failed.append(command[0])
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
