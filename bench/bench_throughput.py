"""Throughput: test-body calls per second of the fuzzer (coverage on) against plain
Hypothesis generating the same tests, in the same wall time, interleaved run by run;
with the mean size of the inputs each side runs and the behaviors each reached, so
that smaller inputs cannot pass for speed.

    python bench/bench_throughput.py [--seconds 5] [--runs 5] [--quick]

Per test and side, every figure is the median of ``--runs`` runs with its min-max:
  calls/s      test-body executions per second of wall time
  choices      mean number of Hypothesis choices per input (every 8th input sampled,
               at the end of the test body, the same on both sides)
  branches     distinct branches reached in the run in the tests' own code
               (bench/targets/throughput_tests.py, less its bookkeeping), by the fuzzer's own BranchRecorder on
               both sides (the standard library is not code under test: the JSON test's
               branches are its own body's)
and the paired ratios fuzzer/plain of calls/s and of choices/s (calls/s x choices:
the volume of input each side ran). Plain Hypothesis: max_examples 10**9,
no database, no deadline, phases generate + target, stopped at the same wall time.
On Python 3.11 recording branches costs plain Hypothesis a sys.settrace tracer, so
its calls/s and choices come from an untraced run and its branches from a second,
traced run of the same length (on 3.12+ one run does both: sys.monitoring is cheap).
Targets: ratio >= 1.0x on 3.12, >= 0.7x on 3.11.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import io
import math
import statistics
import time
from random import Random
from typing import Any

from _common import (
    BenchTarget,
    context,
    fresh_store,
    interleave,
    machine_target,
    plain_settings,
    print_header,
    ratios,
    summarize,
)
from hypothesis import HealthCheck, Phase, seed, settings
from targets import throughput_tests as T

from hypofuzz_nb.behaviors import BranchRecorder
from hypofuzz_nb.engine import TestFuzzer

Sample = dict[str, float]
_TARGET_FILE = T.__file__
_HOOKS = {"observe", "reset"}  # the benchmark's own bookkeeping, not the tests' code


def _target_branches(tokens: Any) -> int:
    """How many of ``tokens`` are branches in the benchmark's own test module: the
    recorder also sees third-party code that Hypothesis' engine calls between test
    cases (sortedcontainers, for one) in the plain run, and not in the fuzzer's, whose
    recording covers the test case only; counting the test module alone compares
    like with like. The bookkeeping in ``observe`` is left out too: its sampled
    branches are the benchmark's, not the tests'."""
    return sum(
        1
        for token in tokens
        if isinstance(token, tuple)
        and token
        and isinstance(token[0], tuple)
        and token[0]
        and token[0][0] == _TARGET_FILE
        and token[0][1] not in _HOOKS
    )


def _mean_size() -> float:
    return statistics.fmean(T.SIZES) if T.SIZES else math.nan


def _plain_once(test: Any, run_seed: int, seconds: float, record: bool) -> tuple[Sample, int]:
    plain = settings(
        max_examples=10**9,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.target],
        suppress_health_check=list(HealthCheck),
    )
    # a state machine's runTest is a bound method, which @seed cannot mark
    seeded = test if inspect.ismethod(test) else seed(run_seed)(test)
    recorder = BranchRecorder()
    branches = 0
    gc.collect()
    t0 = time.perf_counter()
    T.reset(stop_at=t0 + seconds)
    # Hypothesis prints a @seed line when the run ends by an exception: not our output
    with contextlib.redirect_stdout(io.StringIO()), plain_settings(seeded, plain):
        if record:
            recorder.start()
            recorder.reset()
        try:
            seeded()
        except T.TimeUp:
            pass
        finally:
            if record:
                branches = _target_branches(recorder.take())
                recorder.close()
    elapsed = time.perf_counter() - t0
    return {"calls/s": T.CALLS["n"] / elapsed, "choices": _mean_size()}, branches


def plain_run(test: Any, run_seed: int, seconds: float) -> Sample:
    cheap = not BranchRecorder().expensive
    sample, branches = _plain_once(test, run_seed, seconds, record=cheap)
    if not cheap:
        _, branches = _plain_once(test, run_seed, seconds, record=True)
    sample["branches"] = branches
    return sample


def engine_run(target: Any, run_seed: int, seconds: float, *, solver: bool = False) -> Sample:
    """The fuzzer's figures of one run; with ``solver``, also its ``solver calls``."""
    fuzzer = TestFuzzer(
        target, fresh_store(), worker_uuid="bench", random=Random(run_seed), solver=solver
    )
    fuzzer.start()
    gc.collect()
    T.reset()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds and not fuzzer.finished:
        fuzzer.run(100)
    elapsed = time.perf_counter() - t0
    fuzzer.stop()
    return {
        "calls/s": T.CALLS["n"] / elapsed,
        "choices": _mean_size(),
        "branches": _target_branches(fuzzer.corpus.known_behaviors()),
        "solver calls": fuzzer.status.solver_calls,
    }


def cases() -> list[tuple[str, Any, BenchTarget]]:
    """The benchmark's tests: (name, plain Hypothesis test, the fuzzer's target)."""
    return [
        ("sort", T.test_sort, BenchTarget(T.test_sort, "sort")),
        ("json round-trip", T.test_json_roundtrip, BenchTarget(T.test_json_roundtrip, "json")),
        ("nested lists", T.test_nested_lists, BenchTarget(T.test_nested_lists, "nested")),
        ("state machine", T.TestStack().runTest, machine_target(T.Stack, "stack")),
    ]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="per run and side (5)")
    parser.add_argument("--runs", type=int, default=None, help="runs per test and side (5)")
    parser.add_argument("--quick", action="store_true", help="3 runs of 1.5 s")
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 5.0)
    runs = args.runs or (3 if args.quick else 5)
    print_header(
        "throughput: fuzzer against plain Hypothesis, same wall time, interleaved",
        runs_per_test_and_side=runs,
        seconds_per_run=seconds,
    )
    medians = []
    for name, plain_test, target in cases():
        results = interleave(
            {
                "fuzzer": lambda i, target=target: engine_run(target, i, seconds),
                "plain": lambda i, test=plain_test: plain_run(test, i, seconds),
            },
            runs,
        )
        print(f"\n{name}  {context()}", flush=True)
        for side in ("fuzzer", "plain"):
            samples = results[side]
            print(f"   {side:<7}", flush=True)
            for key, fmt in (("calls/s", ",.0f"), ("choices", ".1f"), ("branches", ".0f")):
                print(f"      {key:<9}{summarize([s[key] for s in samples], fmt=fmt)}")
        paired = ratios(
            [s["calls/s"] for s in results["fuzzer"]], [s["calls/s"] for s in results["plain"]]
        )
        medians.append(statistics.median(paired))
        print(f"   ratio fuzzer/plain calls/s {summarize(paired, fmt='.2f', unit='x')}")
        volume = ratios(
            [s["calls/s"] * s["choices"] for s in results["fuzzer"]],
            [s["calls/s"] * s["choices"] for s in results["plain"]],
        )
        print(f"   ratio fuzzer/plain choices/s {summarize(volume, fmt='.2f', unit='x')}")
    geo = math.exp(statistics.fmean(math.log(r) for r in medians))
    print(f"\ngeometric mean of the median ratios: {geo:.2f}x  {context()}")


if __name__ == "__main__":
    main()
