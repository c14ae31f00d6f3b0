"""Time to bug: median over 5 seeds of the seconds the engine needs to find each deep
bug of bench/targets/deep_bugs.py (capped), optionally against plain Hypothesis.

    python bench/bench_time_to_bug.py [--quick] [--cap 60] [--seeds 5] [--plain 100000]

``--plain N`` also runs plain Hypothesis for N examples per bug (database off) and
says whether it found the bug. ``--quick``: 2 seeds, 20 s cap, no plain runs.
Target: each bug within 60 s on Python 3.12.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from random import Random

from _common import BenchTarget, fresh_store, plain_settings
from hypothesis import HealthCheck, Phase, settings
from targets import deep_bugs as D

from hypofuzz_nb.engine import TestFuzzer

BUGS = [
    ("byte chain", D.test_byte_chain),
    ("int chain, min_size=4", D.test_int_chain_min_size),
    ("int chain", D.test_int_chain),
    ("nested-list parser", D.test_nested_parser),
]


def engine_time(test, seed: int, cap: float) -> tuple[float | None, int]:
    fuzzer = TestFuzzer(
        BenchTarget(test, test.__name__), fresh_store(), worker_uuid="b", random=Random(seed)
    )
    fuzzer.start()
    t0 = time.perf_counter()
    while not fuzzer.finished and time.perf_counter() - t0 < cap:
        fuzzer.run(100)
    elapsed = time.perf_counter() - t0
    fuzzer.stop()
    return (elapsed if fuzzer.status.n_failures else None), fuzzer.status.inputs


def plain_finds(test, n: int) -> bool:
    plain = settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    try:
        with plain_settings(test, plain):
            test()
    except AssertionError:
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cap", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--plain", type=int, default=0)
    parser.add_argument("--only", default="", help="run only bugs whose name contains this")
    args = parser.parse_args()
    cap, seeds, plain = (20.0, 2, 0) if args.quick else (args.cap, args.seeds, args.plain)
    print(f"Python {sys.version.split()[0]}, {seeds} seeds, cap {cap:.0f} s")
    for name, test in BUGS:
        if args.only not in name:
            continue
        times = []
        for seed in range(seeds):
            found, _inputs = engine_time(test, seed, cap)
            times.append(found if found is not None else float("inf"))
        med = statistics.median(times)
        shown = " ".join("miss" if t == float("inf") else f"{t:.1f}" for t in times)
        line = f"{name:<24} median {med:6.1f} s   [{shown}]"
        if plain:
            t0 = time.perf_counter()
            hit = plain_finds(test, plain)
            line += f"   plain Hypothesis x{plain}: {'found' if hit else 'missed'} ({time.perf_counter() - t0:.0f} s)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
