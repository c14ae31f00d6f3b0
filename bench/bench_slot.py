"""Cost of the per-input crash-tracking slot of worker processes.

Each worker process writes the input about to run into a shared-memory slot
(``hypofuzz_nb.worker._SlotWriter``), so that its supervisor can save the input that
killed it. This measures what that costs, in one process, without process start-up
or scheduling noise: the same fuzz loop on bench_scaling.py's four-test project, with
and without the slot writer, alternating ``--rounds`` times, best of each.

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

from bench_scaling import PROJECT_TESTS  # noqa: E402


def run_loop(with_slot: bool, window: float) -> float:
    """Inputs/s of one fuzz loop over the project for ``window`` seconds."""
    from hypothesis.database import InMemoryExampleDatabase

    from hypofuzz_nb.collect import collect_tests
    from hypofuzz_nb.worker import SLOT_SIZE, _FuzzLoop, _SlotWriter

    # A fresh collection each time: the slot writer wraps the collected tests.
    collection = collect_tests(["tests"], ())
    slot = multiprocessing.Array("B", SLOT_SIZE, lock=False) if with_slot else None
    loop = _FuzzLoop(
        collection.targets,
        InMemoryExampleDatabase(),
        max_time=window,
        max_examples=None,
        timeout=10.0,
        on_input=_SlotWriter(slot) if with_slot else None,
        on_exit=collection.close,
    )
    start = time.perf_counter()
    loop.run()
    elapsed = time.perf_counter() - start
    return sum(t.inputs for t in loop.snapshot()) / elapsed


def writer_cost_us(n: int = 20_000) -> float:
    """Microseconds per input of the slot writer alone, on a typical choice sequence."""
    from hypofuzz_nb.worker import SLOT_SIZE, _SlotWriter

    writer = _SlotWriter(multiprocessing.Array("B", SLOT_SIZE, lock=False))
    choices = (True, 12345, False, "héllo wörld", 3.5, b"\x00\x01", True, -7, False)
    start = time.perf_counter()
    for _ in range(n):
        writer(0, choices)
        writer(-1, None)
    return (time.perf_counter() - start) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="hypofuzz_nb-slot-"))
    (project / "tests").mkdir()
    (project / "tests" / "test_scaling.py").write_text(PROJECT_TESTS)
    old = os.getcwd()
    os.chdir(project)
    try:
        without = with_slot = 0.0
        for _ in range(args.rounds):
            without = max(without, run_loop(False, args.window))
            with_slot = max(with_slot, run_loop(True, args.window))
    finally:
        os.chdir(old)
        shutil.rmtree(project, ignore_errors=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"inputs/s without the slot:  {without:10,.0f}")
    print(f"inputs/s with the slot:     {with_slot:10,.0f}")
    print(f"ratio with / without:       {with_slot / without:10.3f}  (no cost: 1.000)")
    print(f"slot writer alone:          {writer_cost_us():10.2f} us per input")
    return 0


if __name__ == "__main__":
    sys.exit(main())
