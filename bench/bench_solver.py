"""Time to bug with the solver: arithmetic gates (bench/targets/arithmetic.py) that mutation
cannot climb, and the example project's byte chain as a control, four ways:

  solver on     the fuzzer (TestFuzzer) with solver=True: CrossHair on plateaus
  solver off    the fuzzer alone
  plain         plain Hypothesis (generate phase, no database), in a child process
  crosshair     Hypothesis with settings(backend="crosshair") alone, in a child process

    python bench/bench_solver.py [--quick] [--seeds 10] [--cap 60] [--only NAME]
                                 [--sides "solver on,solver off,plain,crosshair"]
                                 [--plateau SECONDS]

Each figure is the median over the seeds with its min-max spread; a run that hits the
cap is a miss (see _common.summarize). The solver waits for a plateau
(hypofuzz_nb.status.PLATEAU_SECONDS of a test's own time, 30 s) before its first call;
--plateau shortens that wait, to see what the solver does without it.

Full form: 10 seeds, 60 s cap (up to about 4 x 6 x 10 minutes when nothing is found).
--quick: 2 seeds, 45 s cap.

    python bench/bench_solver.py --throughput [--quick] [--runs 7] [--seconds 5]

Throughput with the solver on, for tests without plateaus: the fuzzer's test-body calls
per second on bench_throughput.py's tests (bench/targets/throughput_tests.py), solver on
against solver off, runs interleaved; per test the median calls/s of each side with its
min-max, the paired ratio on/off, and the solver calls each run made (0 while the test
has no plateau: a test that reaches one spends time in the solver by design, and is not
what this measures). Target: every median ratio >= 0.9x. Full form: 7 runs of 5 s per
test and side (about 5 minutes); --quick: 3 runs of 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
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
    ratios,
)
from _common import summarize as summarize_values
from bench_throughput import cases as throughput_cases
from bench_throughput import engine_run
from hypothesis import HealthCheck, Phase, seed, settings
from targets import arithmetic as A

from hypofuzz_nb import solver
from hypofuzz_nb.engine import TestFuzzer

TARGETS = [
    ("arithmetic", "linear", A.test_linear),
    ("arithmetic", "modular", A.test_modular),
    ("arithmetic", "nested", A.test_nested),
    ("arithmetic", "list", A.test_list),
    ("arithmetic", "dataclasses (st.builds)", A.test_dataclasses),
    ("control", "example byte chain", A.test_byte_chain_control),
]
SIDES = ("solver on", "solver off", "plain", "crosshair")
#: The throughput target: solver on / solver off calls/s, on tests without plateaus.
THROUGHPUT_TARGET = 0.9
#: Batch size of the fuzzer's runs, as the fuzz loop uses.
BATCH = 100


def fuzzer_run(test: Any, run_seed: int, cap: float, use_solver: bool) -> float:
    """Seconds the fuzzer needs to the bug (inf at the cap)."""
    fuzzer = TestFuzzer(
        BenchTarget(test, test.__name__),
        fresh_store(),
        worker_uuid="b",
        random=Random(run_seed),
        solver=use_solver,
    )
    fuzzer.start()
    t0 = time.perf_counter()
    while not fuzzer.finished and time.perf_counter() - t0 < cap:
        fuzzer.run(BATCH)
    elapsed = time.perf_counter() - t0
    found = fuzzer.status.n_failures > 0
    fuzzer.stop()
    return elapsed if found else math.inf


def child_run(test: Any, run_seed: int, cap: float, backend: str) -> float:
    """Seconds Hypothesis needs to the bug with ``backend`` (inf at the cap), measured in
    a fresh process that stops itself at the cap."""
    name = next(n for _, n, t in TARGETS if t is test)
    child = subprocess.run(
        [sys.executable, __file__, "--child", name, str(run_seed), str(cap), backend],
        capture_output=True,
        text=True,
        timeout=cap + 120,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )
    lines = child.stdout.strip().splitlines()
    if child.returncode or not lines:
        raise RuntimeError(f"{backend} run failed:\n{child.stdout}\n{child.stderr}")
    result = json.loads(lines[-1])
    return result["seconds"] if result["found"] else math.inf


def _child(name: str, run_seed: int, cap: float, backend: str) -> None:
    """One Hypothesis run; print one JSON line and exit, at the bug or at the cap."""
    test = next(t for _, n, t in TARGETS if n == name)
    chosen = settings(
        backend=backend,
        max_examples=10**9,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    seeded = seed(run_seed)(test)
    t0 = time.perf_counter()

    def cap_reached() -> None:
        print(json.dumps({"found": False, "seconds": cap}), flush=True)
        os._exit(0)

    timer = threading.Timer(cap, cap_reached)
    timer.daemon = True
    timer.start()
    found = False
    try:
        with plain_settings(seeded, chosen):
            seeded()
    except Exception as e:  # the planted bug; anything else is reported as a miss
        found = "planted" in str(e) or isinstance(e, IndexError)
    print(json.dumps({"found": found, "seconds": time.perf_counter() - t0}), flush=True)
    os._exit(0)


def _side(side: str, test: Any, cap: float) -> Callable[[int], float]:
    if side == "solver on":
        return lambda i: fuzzer_run(test, i, cap, True)
    if side == "solver off":
        return lambda i: fuzzer_run(test, i, cap, False)
    backend = "hypothesis" if side == "plain" else "crosshair"
    return lambda i: child_run(test, i, cap, backend)


def throughput(runs: int, seconds: float) -> None:
    """Solver on against solver off, calls/s on tests without plateaus (see the module
    docstring)."""
    print_header(
        "throughput with the solver on, for tests without plateaus: on against off, interleaved",
        runs_per_test_and_side=runs,
        seconds_per_run=seconds,
        plateau=f"{solver.PLATEAU_SECONDS:g} s",
    )
    medians = []
    for name, _, target in throughput_cases():
        results = interleave(
            {
                "solver on": lambda i, t=target: engine_run(t, i, seconds, solver=True),
                "solver off": lambda i, t=target: engine_run(t, i, seconds, solver=False),
            },
            runs,
        )
        print(f"{name}  {context()}", flush=True)
        for side, samples in results.items():
            calls = sum(int(s["solver calls"]) for s in samples)
            print(
                f"   {side:<11} calls/s {summarize_values([s['calls/s'] for s in samples], fmt=',.0f')}"
                f"   solver calls {calls}",
                flush=True,
            )
        paired = ratios(
            [s["calls/s"] for s in results["solver on"]],
            [s["calls/s"] for s in results["solver off"]],
        )
        medians.append(statistics.median(paired))
        print(
            f"   ratio on/off calls/s {summarize_values(paired, fmt='.2f', unit='x')}", flush=True
        )
    held = all(m >= THROUGHPUT_TARGET for m in medians)
    print(
        f"\nlowest median ratio {min(medians):.2f}x (target >= {THROUGHPUT_TARGET}x: "
        f"{'met' if held else 'NOT met'})  {context()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 45 s cap")
    parser.add_argument("--cap", type=float, default=None, help="seconds per run (60)")
    parser.add_argument("--seeds", type=int, default=None, help="runs per target and side (10)")
    parser.add_argument("--only", default="", help="run only targets whose name contains this")
    parser.add_argument("--sides", default=",".join(SIDES), help="comma-separated sides")
    parser.add_argument("--plateau", type=float, default=None, help="plateau seconds (30)")
    parser.add_argument(
        "--throughput", action="store_true", help="calls/s solver on against off, no plateaus"
    )
    parser.add_argument("--runs", type=int, default=None, help="--throughput runs (7)")
    parser.add_argument("--seconds", type=float, default=None, help="--throughput run (5 s)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, run_seed, child_cap, backend = args.child
        _child(name, int(run_seed), float(child_cap), backend)
    if args.throughput:
        runs = args.runs or (3 if args.quick else 7)
        throughput(runs, args.seconds or (1.5 if args.quick else 5.0))
        return
    if args.plateau is not None:
        solver.PLATEAU_SECONDS = args.plateau
    seeds = args.seeds or (2 if args.quick else 10)
    cap = args.cap or (45.0 if args.quick else 60.0)
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = set(sides) - set(SIDES)
    if unknown:
        parser.error(f"unknown sides {sorted(unknown)}: choose from {SIDES}")
    print_header(
        "time to bug with the solver: arithmetic gates and a control, four ways",
        seeds_per_target_and_side=seeds,
        cap=f"{cap:.0f} s",
        plateau=f"{solver.PLATEAU_SECONDS:g} s",
    )
    for kind, name, test in TARGETS:
        if args.only not in name:
            continue
        results = interleave({side: _side(side, test, cap) for side in sides}, seeds)
        print(f"{kind}: {name}  {context()}", flush=True)
        for side, times in results.items():
            found = sum(math.isfinite(t) for t in times)
            print(
                f"   {side:<11} found {found}/{len(times)}   "
                f"seconds {summarize_values(times, unit=' s')}",
                flush=True,
            )


if __name__ == "__main__":
    main()
