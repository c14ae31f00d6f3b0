"""Throughput: inputs/s of the engine (coverage on) against plain Hypothesis
generating the same tests (max_examples large, database=None), in the same run.

    python bench/bench_throughput.py [--seconds 5] [--quick]

Prints one line per test and the ratio engine / plain Hypothesis. Targets: >= 1.0x
on Python 3.12, >= 0.7x on 3.11.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from random import Random

from _common import BenchTarget, fresh_store, machine_target, plain_settings
from hypothesis import HealthCheck, Phase, settings
from targets import throughput_tests as T

from hypofuzz_nb.engine import TestFuzzer


def plain_rate(test, seconds: float) -> float:
    """Executions per second of plain Hypothesis, generation only, no database."""
    n = 200
    while True:
        T.CALLS["n"] = 0
        plain = settings(
            max_examples=n,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        gc.collect()
        t0 = time.perf_counter()
        with plain_settings(test, plain):
            test()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds or n >= 1_000_000:
            return T.CALLS["n"] / elapsed
        n = int(n * max(2.0, min(10.0, seconds / max(elapsed, 1e-3))))


def engine_rate(target, seconds: float) -> tuple[float, int]:
    fuzzer = TestFuzzer(target, fresh_store(), worker_uuid="bench", random=Random(0))
    fuzzer.start()
    gc.collect()
    T.CALLS["n"] = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds and not fuzzer.finished:
        fuzzer.run(100)
    elapsed = time.perf_counter() - t0
    fuzzer.stop()
    return T.CALLS["n"] / elapsed, fuzzer.status.behaviors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1.5 s per measurement")
    args = parser.parse_args()
    seconds = 1.5 if args.quick else args.seconds
    cases = [
        ("sort", T.test_sort, BenchTarget(T.test_sort, "sort")),
        ("json round-trip", T.test_json_roundtrip, BenchTarget(T.test_json_roundtrip, "json")),
        ("nested lists", T.test_nested_lists, BenchTarget(T.test_nested_lists, "nested")),
        ("state machine", T.TestStack().runTest, machine_target(T.Stack, "stack")),
    ]
    print(f"Python {sys.version.split()[0]}, {seconds:.1f} s per measurement")
    print(f"{'test':<18}{'plain/s':>10}{'engine/s':>10}{'ratio':>8}{'behaviours':>12}")
    ratios = []
    for name, plain_test, target in cases:
        plain = plain_rate(plain_test, seconds)
        engine, n_behaviors = engine_rate(target, seconds)
        ratios.append(engine / plain)
        print(f"{name:<18}{plain:>10.0f}{engine:>10.0f}{engine / plain:>7.2f}x{n_behaviors:>12}")
    geo = 1.0
    for r in ratios:
        geo *= r
    print(f"geometric mean ratio: {geo ** (1 / len(ratios)):.2f}x")


if __name__ == "__main__":
    main()
