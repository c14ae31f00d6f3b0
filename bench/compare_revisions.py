"""Before and after: the same benchmarks run on two revisions of this repository,
alternating run by run, so that a refactor can show it changed no figure that matters.

    python bench/compare_revisions.py BEFORE [AFTER] [--rounds 3] [--only throughput,load]

``BEFORE`` and ``AFTER`` are git revisions (``AFTER`` defaults to the working tree as it
is). Each revision is exported (``git archive``) into a temporary directory and its own
``bench/`` scripts run there, with this Python and ``PYTHONPATH`` pointing at that
checkout, so each side measures its own code with its own benchmark. Per round the two
sides run one after the other, the order alternating from round to round.

Figures compared (each benchmark's quick form; every one is already a median of that
benchmark's own repeated runs, and this script takes the median over rounds):

- throughput: the fuzzer's calls/s against plain Hypothesis (geometric mean of the
  per-test ratios; higher is better), from ``bench_throughput.py --quick``;
- load: ``load()`` time against the plain reader, per database size (lower is
  better), from ``bench_load.py --tests 100 --reports 200 --rounds 3``;
- latency: a trivial cell's p95 in a kernel that is fuzzing, without and with the
  live dashboard (lower is better), from ``bench_kernel_latency.py --quick``.

Ratios against a baseline run inside the same benchmark are what is compared, not
raw rates, so a change in machine load between the two sides cancels out as far as
it can. The verdict is "within 10%" when the after/before ratio of the medians is
between 0.9 and 1.1 (or better than that in the right direction).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from _common import print_header, summarize  # noqa: E402

TOLERANCE = 0.10
_MEDIAN = r"median ([0-9.]+)"


def _throughput(out: str) -> dict[str, float]:
    found = re.search(r"geometric mean of the median ratios: ([0-9.]+)x", out)
    return (
        {"throughput fuzzer/plain calls/s (x, higher is better)": float(found[1])} if found else {}
    )


def _load(out: str) -> dict[str, float]:
    figures = {}
    for name, ratio in re.findall(
        r"\n(\S+): [0-9,]+ reports in .*?\n(?:.*\n)*?\s+load / plain reader " + _MEDIAN, out
    ):
        figures[f"load {name} / plain reader (x, lower is better)"] = float(ratio)
    return figures


def _latency(out: str) -> dict[str, float]:
    figures = {}
    for name, p95 in re.findall(
        r"\n(fuzzing(?: \+ live dashboard)?)\s+cell median: .*\n\s+cell p95:\s+" + _MEDIAN, out
    ):
        figures[f"kernel p95 {name} (ms, lower is better)"] = float(p95)
    return figures


#: name -> (the benchmark's command line, the parser of its output, higher is better)
BENCHMARKS: dict[str, tuple[list[str], Callable[[str], dict[str, float]], bool]] = {
    "throughput": (["bench_throughput.py", "--quick"], _throughput, True),
    "load": (
        ["bench_load.py", "--tests", "100", "--reports", "200", "--rounds", "3"],
        _load,
        False,
    ),
    "latency": (["bench_kernel_latency.py", "--quick"], _latency, False),
}


def _export(revision: str | None, into: Path) -> Path:
    """A checkout of ``revision`` (None: the working tree itself) to run benchmarks in."""
    if revision is None:
        return REPO
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision],
        check=True,
        capture_output=True,
    ).stdout
    archive_path = into.with_suffix(".tar")
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(into, filter="data")
    archive_path.unlink()
    return into


def _run(checkout: Path, command: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    result = subprocess.run(
        [sys.executable, str(checkout / "bench" / command[0]), *command[1:]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"{command[0]} failed in {checkout} (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="git revision measured first in round 1")
    parser.add_argument(
        "after", nargs="?", default=None, help="git revision (default: working tree)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")

    print_header(
        "compare_revisions",
        before=args.before,
        after=args.after or "working tree",
        rounds=args.rounds,
        benchmarks=",".join(chosen),
    )
    with tempfile.TemporaryDirectory(prefix="hypofuzz-nb-compare-") as tmp:
        sides = {
            "before": _export(args.before, Path(tmp) / "before"),
            "after": _export(args.after, Path(tmp) / "after"),
        }
        values: dict[str, dict[str, list[float]]] = {}
        higher_is_better: dict[str, bool] = {}
        for round_number in range(args.rounds):
            order = ["before", "after"] if round_number % 2 == 0 else ["after", "before"]
            for name in chosen:
                command, parse, higher = BENCHMARKS[name]
                for side in order:
                    started = time.monotonic()
                    figures = parse(_run(sides[side], command))
                    if not figures:
                        raise SystemExit(f"{command[0]} printed none of the figures compared here")
                    print(
                        f"round {round_number + 1} {name:<10} {side:<6} "
                        f"{time.monotonic() - started:5.0f} s: "
                        + ", ".join(f"{k.split(' (')[0]} {v:g}" for k, v in figures.items()),
                        flush=True,
                    )
                    for figure, value in figures.items():
                        values.setdefault(figure, {}).setdefault(side, []).append(value)
                        higher_is_better[figure] = higher

    print()
    worst = 0.0
    for figure, by_side in values.items():
        before, after = by_side.get("before", []), by_side.get("after", [])
        if not before or not after:
            continue
        ratio = statistics.median(after) / statistics.median(before)
        change = (ratio - 1) if higher_is_better[figure] else (1 - ratio)  # > 0: better
        verdict = "within 10%" if change >= -TOLERANCE else "WORSE by more than 10%"
        worst = min(worst, change)
        print(figure)
        print(f"   before {summarize(before, fmt='.2f')}")
        print(f"   after  {summarize(after, fmt='.2f')}")
        print(f"   after/before {ratio:.2f}  {verdict}")
    return 0 if worst >= -TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
