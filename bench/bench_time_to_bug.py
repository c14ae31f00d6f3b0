"""Time to bug: seconds and inputs the fuzzer needs to find each deep bug of
bench/targets/deep_bugs.py, against plain Hypothesis on the same bug with the same cap,
over several seeds, the two sides interleaved seed by seed.

    python bench/bench_time_to_bug.py [--quick] [--seeds 10] [--cap 60] [--only NAME]
                                      [--max-inputs N]

Two kinds of bug, reported apart (see bench/targets/deep_bugs.py):
  computed magic    magic values from a hash or arithmetic, compared one byte or field
                    at a time: only coverage feedback can climb them;
  literal constants magic values the code names as literals or module constants: what
                    this measures is the use of the code's own constants.

The baseline is plain Hypothesis set up to find bugs: max_examples 10**9, no database,
no deadline, phases generate + target, every health check off, stopped at the same cap.
Each figure is the median over the seeds with its min-max spread; a run that hits the
cap counts as a miss (and as the cap in neither direction: a median of "miss" means
half or more missed). Inputs to the bug do not depend on machine load; seconds do.
On a busy machine, ``--max-inputs N`` caps every run at N inputs as well (plain
Hypothesis: max_examples N), so both sides get the same number of tries.

Full form: 10 seeds, 60 s cap (up to about 2 x 6 x 10 minutes when nothing is found).
--quick: 3 seeds, 8 s cap.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from random import Random
from typing import Any

from _common import (
    BenchTarget,
    context,
    fresh_store,
    interleave,
    plain_settings,
    print_header,
    summarize,
)
from hypothesis import HealthCheck, Phase, seed, settings
from targets import deep_bugs as D

from hypofuzz_nb.engine import TestFuzzer

BUGS = [
    ("computed", "hashed bytes", D.test_hashed_bytes),
    ("computed", "computed fields", D.test_computed_fields),
    ("literal", "byte chain", D.test_byte_chain),
    ("literal", "int chain, min_size=4", D.test_int_chain_min_size),
    ("literal", "int chain", D.test_int_chain),
    ("literal", "nested-list parser", D.test_nested_parser),
]
MAX_INPUTS = [10**9]
KIND = {
    "computed": "computed magic (only coverage feedback leads there)",
    "literal": "literal constants (the code's own constants are mined: measures their use)",
}


def engine_run(test: Any, run_seed: int, cap: float) -> tuple[float, int]:
    """(seconds to the bug or inf, inputs run until then) for the fuzzer."""
    fuzzer = TestFuzzer(
        BenchTarget(test, test.__name__), fresh_store(), worker_uuid="b", random=Random(run_seed)
    )
    fuzzer.start()
    t0 = time.perf_counter()
    while not fuzzer.finished and time.perf_counter() - t0 < cap and fuzzer.inputs < MAX_INPUTS[0]:
        fuzzer.run(100)
    elapsed = time.perf_counter() - t0
    found = fuzzer.status.n_failures > 0
    inputs = fuzzer.status.inputs
    fuzzer.stop()
    return (elapsed if found else math.inf), inputs


def plain_run(test: Any, run_seed: int, cap: float) -> tuple[float, int]:
    """(seconds to the bug or inf, test calls until then) for plain Hypothesis, in a
    fresh process that stops itself at the cap (see ``_plain_child``)."""
    name = next(n for _, n, t in BUGS if t is test)
    child = subprocess.run(
        [sys.executable, __file__, "--plain-child", name, str(run_seed), str(cap)]
        + ["--max-inputs", str(MAX_INPUTS[0])] * (MAX_INPUTS[0] < 10**9),
        capture_output=True,
        text=True,
        timeout=cap + 120,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )
    lines = child.stdout.strip().splitlines()
    if child.returncode or not lines:
        raise RuntimeError(f"plain Hypothesis run failed:\n{child.stdout}\n{child.stderr}")
    result = json.loads(lines[-1])
    return (result["seconds"] if result["found"] else math.inf), result["calls"]


def _plain_child(name: str, run_seed: int, cap: float) -> None:
    """Run plain Hypothesis on one bug; print one JSON line and exit, at the bug or at
    the cap, whichever comes first. Stopping from a timer thread with os._exit leaves
    Hypothesis undisturbed up to the cap (an exception injected into it could land in
    the middle of data generation and change what it does)."""
    test = next(t for _, n, t in BUGS if n == name)
    plain = settings(
        max_examples=MAX_INPUTS[0],
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.target],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    seeded = seed(run_seed)(test)
    D.CALLS[0] = 0
    t0 = time.perf_counter()

    def cap_reached() -> None:
        print(json.dumps({"found": False, "seconds": cap, "calls": D.CALLS[0]}), flush=True)
        os._exit(0)

    timer = threading.Timer(cap, cap_reached)
    timer.daemon = True
    timer.start()
    found = False
    try:
        with plain_settings(seeded, plain):
            seeded()
    except AssertionError:
        found = True
    elapsed = time.perf_counter() - t0
    timer.cancel()
    # Without a shrink phase Hypothesis replays the failing example once more before
    # raising; that call is not one of the inputs it needed to find the bug.
    calls = D.CALLS[0] - 1 if found else D.CALLS[0]
    print(json.dumps({"found": found, "seconds": elapsed, "calls": calls}), flush=True)
    os._exit(0)


def _side(run: Callable[[Any, int, float], tuple[float, int]], test: Any, cap: float):
    return lambda index: run(test, index, cap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 8 s cap")
    parser.add_argument("--cap", type=float, default=None, help="seconds per run (60)")
    parser.add_argument("--seeds", type=int, default=None, help="runs per bug and side (10)")
    parser.add_argument("--only", default="", help="run only bugs whose name contains this")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain baseline")
    parser.add_argument(
        "--max-inputs",
        type=int,
        default=10**9,
        help="also stop each run after this many inputs (plain: max_examples); "
        "a cap that does not depend on machine load",
    )
    parser.add_argument("--plain-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    MAX_INPUTS[0] = args.max_inputs
    if args.plain_child:
        name, run_seed, child_cap = args.plain_child
        _plain_child(name, int(run_seed), float(child_cap))
    seeds = args.seeds or (3 if args.quick else 10)
    cap = args.cap or (8.0 if args.quick else 60.0)
    print_header(
        "time to bug: fuzzer against plain Hypothesis, same cap, interleaved",
        seeds_per_bug_and_side=seeds,
        cap=f"{cap:.0f} s" + (f" or {args.max_inputs:,} inputs" if args.max_inputs < 10**9 else ""),
    )
    for kind in ("computed", "literal"):
        print(f"\n-- {KIND[kind]}", flush=True)
        for bug_kind, name, test in BUGS:
            if bug_kind != kind or args.only not in name:
                continue
            sides = {"fuzzer": _side(engine_run, test, cap)}
            if not args.no_plain:
                sides["plain Hypothesis"] = _side(plain_run, test, cap)
            results = interleave(sides, seeds)
            print(f"{name}  {context()}", flush=True)
            for side, runs in results.items():
                times = [t for t, _ in runs]
                found = [n for t, n in runs if math.isfinite(t)]
                inputs = summarize(found, fmt=",.0f") if found else "-"
                every = summarize([n for _, n in runs], fmt=",.0f")
                print(
                    f"   {side:<17} found {len(found)}/{len(runs)}   "
                    f"seconds {summarize(times, unit=' s')}\n"
                    f"   {'':<17} inputs to bug (found runs) {inputs}\n"
                    f"   {'':<17} inputs run (all runs) {every}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
