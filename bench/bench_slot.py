"""Cost of the per-input crash-tracking slot of worker processes.

Each worker process writes the input about to run into a shared-memory slot
(``hypofuzz_nb.slot.SlotWriter``), so that its supervisor can save the input that
killed it. This measures what that costs, in one process, without process start-up
or scheduling noise: the same fuzz loop on bench_scaling.py's four-test project, with
and without the slot writer, alternating ``--rounds`` times; each figure is the median
with min-max.

Usage::

    python bench/bench_slot.py [--window SECONDS] [--rounds N]

Printed: inputs/s of each and the ratio with / without (no cost: 1.00), and the
microseconds per input of the writer itself.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import context, interleave, print_header, summarize, summarize_ratio  # noqa: E402
from bench_scaling import PROJECT_TESTS  # noqa: E402


def run_loop(with_slot: bool, window: float) -> float:
    """Inputs/s of one fuzz loop over the project for ``window`` seconds."""
    from hypothesis.database import InMemoryExampleDatabase

    from hypofuzz_nb.collect import collect_tests
    from hypofuzz_nb.fuzz_loop import FuzzLoop
    from hypofuzz_nb.slot import SLOT_SIZE, SlotWriter

    # A fresh collection each time: the slot writer wraps the collected tests.
    collection = collect_tests(["tests"], ())
    slot = multiprocessing.Array("B", SLOT_SIZE, lock=False) if with_slot else None
    loop = FuzzLoop(
        collection.targets,
        InMemoryExampleDatabase(),
        max_time=window,
        max_examples=None,
        timeout=10.0,
        on_input=SlotWriter(slot) if with_slot else None,
        on_exit=collection.close,
    )
    start = time.perf_counter()
    loop.run()
    elapsed = time.perf_counter() - start
    return sum(t.inputs for t in loop.snapshot()) / elapsed


def writer_cost_us(n: int = 20_000) -> float:
    """Microseconds per input of the slot writer alone, on a typical choice sequence."""
    from hypofuzz_nb.slot import SLOT_SIZE, SlotWriter

    writer = SlotWriter(multiprocessing.Array("B", SLOT_SIZE, lock=False))
    choices = (True, 12345, False, "héllo wörld", 3.5, b"\x00\x01", True, -7, False)
    start = time.perf_counter()
    for _ in range(n):
        writer(0, choices)
        writer(-1, None)
    return (time.perf_counter() - start) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print_header("crash-tracking slot: fuzz loop with and without it", rounds=args.rounds)
    project = Path(tempfile.mkdtemp(prefix="hypofuzz_nb-slot-"))
    (project / "tests").mkdir()
    (project / "tests" / "test_scaling.py").write_text(PROJECT_TESTS)
    old = os.getcwd()
    os.chdir(project)
    try:
        runs = interleave(
            {
                "without": lambda _i: run_loop(False, args.window),
                "with": lambda _i: run_loop(True, args.window),
            },
            args.rounds,
        )
    finally:
        os.chdir(old)
        shutil.rmtree(project, ignore_errors=True)
    writer = [writer_cost_us() for _ in range(args.rounds)]
    print(f"inputs/s without the slot:  {summarize(runs['without'], fmt=',.0f')}")
    print(f"inputs/s with the slot:     {summarize(runs['with'], fmt=',.0f')}")
    print(f"ratio with / without:       {summarize_ratio(runs['with'], runs['without'])}")
    print(f"slot writer alone:          {summarize(writer, fmt='.2f', unit=' us')} per input")
    print(f"   {context()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
