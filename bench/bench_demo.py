"""The demo's promise: time to the planted bug among the five example tests, as a user
gets it from the real command line.

    python bench/bench_demo.py [--quick] [--seeds 10] [--cap 60] [--python PATH]

For each seed, a fresh copy of examples/ (no .hypothesis) is fuzzed by
``python -m hypofuzz_nb fuzz tests --max-time CAP --no-dashboard --seed N``, the
command ``make demo`` runs, with PATH's Python (default: the one running this). The
time to the bug is the failing input's ``run_start`` in the database minus the moment
the command was launched, so it includes start-up and collection, as a user waits for
them. The run is interrupted once the bug is reported. ``--quick``: 2 seeds.

Targets (issue 8, quiet machine: load average below 1 at the start): on Python 3.11
median <= 30 s and every run <= 60 s; on 3.12 and 3.13 median <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import load_average, print_header, summarize

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PLANTED = "test_packets.py::test_decode_never_crashes"
FAILING = re.compile(r", (\d+) failing")

# Run with the interpreter under test, in the example copy: the failures the
# profile's database holds, with when each was first seen.
READ_FAILURES = """
import json, warnings
warnings.simplefilter("ignore")
import hypofuzz_nb
data = hypofuzz_nb.load(paths=["tests"])
rows = data.failures[["nodeid", "state", "first_seen"]]
def seconds(f):
    return None if f is None or f != f else (f.timestamp() if hasattr(f, "timestamp") else float(f))
print(json.dumps([[n, s, seconds(f)] for n, s, f in rows.itertuples(index=False)]))
"""


def target_python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def one_run(python: str, seed: int, cap: float) -> tuple[float, str]:
    """Seconds from launch to the planted bug (inf if not found within ``cap``), and
    the command's last progress line."""
    workdir = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    try:
        copy = workdir / "examples"
        shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
        command = [python, "-m", "hypofuzz_nb", "fuzz", "tests", "--max-time", str(cap)]
        command += ["--no-dashboard", "--seed", str(seed)]
        launched = time.time()
        process = subprocess.Popen(
            command,
            cwd=copy,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        last_line = [""]

        def follow() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                match = FAILING.search(line)
                if match:
                    last_line[0] = line.strip()
                    if int(match.group(1)) > 0 and process.poll() is None:
                        # found: the command stops on SIGTERM as on Ctrl-C (SIGINT is
                        # ignored in processes started from a non-interactive background job)
                        process.send_signal(signal.SIGTERM)

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        try:
            process.wait(timeout=cap + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        out = subprocess.run(
            [python, "-c", READ_FAILURES], cwd=copy, capture_output=True, text=True, timeout=300
        )
        if out.returncode != 0:
            raise RuntimeError(f"could not read the database back:\n{out.stderr[-2000:]}")
        rows = json.loads(out.stdout.strip().splitlines()[-1])
        seen = [f for nodeid, _state, f in rows if nodeid.endswith(PLANTED) and f is not None]
        if not seen:
            return math.inf, last_line[0]
        found = min(seen) - launched
        return (found if found <= cap else math.inf), last_line[0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per run (default 60)")
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter to fuzz with (default: this one)"
    )
    args = parser.parse_args()
    seeds = 2 if args.quick else args.seeds
    # each run has its own working directory: a relative path would not resolve there
    found = shutil.which(args.python)
    if found is None:
        parser.error(f"--python {args.python}: no such interpreter")
    args.python = os.path.abspath(found)
    version = target_python_version(args.python)
    print_header(
        "demo: time to the planted bug among the five example tests (real CLI)",
        fuzzing_with=f"Python {version} ({args.python})",
        seeds=seeds,
        cap=f"{args.cap:.0f} s",
    )
    times = []
    for seed in range(seeds):
        load = load_average()
        found, progress = one_run(args.python, seed, args.cap)
        times.append(found)
        shown = "not found" if math.isinf(found) else f"{found:5.1f} s"
        print(f"   seed {seed}: {shown}   [{load} at start]  {progress}", flush=True)
    n_found = sum(not math.isinf(t) for t in times)
    print(
        f"   Python {version}: time to bug {summarize(times, unit=' s')}, "
        f"found {n_found}/{seeds} within {args.cap:.0f} s   [{load_average()}]",
        flush=True,
    )


if __name__ == "__main__":
    main()
