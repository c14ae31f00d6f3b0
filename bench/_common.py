"""Shared helpers of the benchmarks: how every figure is reported (median of repeated
runs, min-max spread, number of runs, beside the load average and Python version), a
minimal FuzzTarget for plain @given functions and state machines, and a fresh
in-memory Store.

Every benchmark calls ``print_header`` first and reports each figure through
``summarize`` (or ``summarize_ratio`` for paired runs), so a reader can always tell
how many runs a figure stands for, how much they varied, and how busy the machine
was. Baselines are run interleaved with the measured side (``interleave``), so a
change in machine load hits both sides alike.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hypothesis.database import InMemoryExampleDatabase
from hypothesis.stateful import get_state_machine_test

from hypofuzz_nb import _compat
from hypofuzz_nb.store import Store

R = TypeVar("R")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the number of cores, e.g.
    ``load 0.42/0.51/0.60 on 2 cores``; timing targets hold only below 1."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # not every platform has it; say so rather than guess
        return "load average unavailable"
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f} on {os.cpu_count()} cores"


def python_version() -> str:
    return f"Python {platform.python_version()} ({platform.python_implementation()})"


def context() -> str:
    """What to print beside each figure: Python version and the load average now."""
    return f"[{python_version()}, {load_average()}]"


def print_header(name: str, **parameters: Any) -> None:
    """Start a benchmark's output: its name, its parameters, Python and the load."""
    print(f"== {name}", flush=True)
    print(f"   {python_version()}, {load_average()}", flush=True)
    if parameters:
        shown = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in parameters.items())
        print(f"   {shown}", flush=True)


def _fmt(value: float, fmt: str, miss: str) -> str:
    return miss if math.isinf(value) else format(value, fmt)


def summarize(
    values: Sequence[float], *, fmt: str = ".1f", unit: str = "", miss: str = "miss"
) -> str:
    """``median X (min-max A-B, n=N)`` of ``values``; ``unit`` follows the median as
    given (``" s"``, ``" ms"``, ``"x"``).

    Infinite values stand for runs that hit a cap (a bug not found in time): they
    are printed as ``miss`` and still take part in the median, so half or more
    misses give a median of ``miss`` rather than a flattering finite number.
    """
    if not values:
        raise ValueError("summarize() needs at least one value")
    ordered = sorted(values)
    median = statistics.median(ordered)
    shown_unit = "" if math.isinf(median) else unit
    return (
        f"median {_fmt(median, fmt, miss)}{shown_unit} "
        f"(min-max {_fmt(ordered[0], fmt, miss)}-{_fmt(ordered[-1], fmt, miss)}, "
        f"n={len(ordered)})"
    )


def ratios(measured: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Per-run ratios of paired runs (run i of one side against run i of the other)."""
    if len(measured) != len(baseline):
        raise ValueError(f"unpaired runs: {len(measured)} against {len(baseline)}")
    return [m / b if b else math.inf for m, b in zip(measured, baseline, strict=True)]


def summarize_ratio(measured: Sequence[float], baseline: Sequence[float]) -> str:
    """The paired ratios' ``median Xx (min-max A-B, n=N)``."""
    return summarize(ratios(measured, baseline), fmt=".2f", unit="x")


def interleave(sides: dict[str, Callable[[int], R]], runs: int) -> dict[str, list[R]]:
    """Run each side ``runs`` times, alternating A B A B ... (run index passed in, to
    seed it), so that both sides see the same machine load."""
    out: dict[str, list[R]] = {name: [] for name in sides}
    for run in range(runs):
        order = list(sides.items())
        if run % 2:  # alternate who goes first, so neither always gets a warm cache
            order.reverse()
        for name, side in order:
            out[name].append(side(run))
    return out


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (inclusive method, as p95 = 0.95)."""
    if not values:
        raise ValueError("percentile() needs at least one value")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


class BenchTarget:
    """What hypofuzz_nb.fuzzable.FuzzTarget provides, for a @given function."""

    def __init__(self, test: Any, nodeid: str) -> None:
        self.test = test
        self.nodeid = nodeid
        self.item = None
        self.settings = _compat.engine_given_settings(test)
        self.database_key = _compat.collection_function_digest(test.hypothesis.inner_test)

    @contextlib.contextmanager
    def fixtures(self) -> Iterator[dict[str, Any]]:
        yield {}


def machine_target(machine: type, nodeid: str) -> BenchTarget:
    return BenchTarget(get_state_machine_test(machine, settings=machine.TestCase.settings), nodeid)


def fresh_store() -> Store:
    return Store(InMemoryExampleDatabase())


@contextlib.contextmanager
def plain_settings(test: Any, settings: Any) -> Iterator[None]:
    """Run plain Hypothesis on ``test`` with ``settings`` (a @given function, or a
    state machine's ``TestCase().runTest``), although its settings were fixed when
    it was decorated."""
    machine_case = getattr(test, "__self__", None)
    if machine_case is not None and hasattr(type(machine_case), "settings"):
        cls = type(machine_case)
        old = cls.settings
        cls.settings = settings
        try:
            yield
        finally:
            cls.settings = old
        return
    key = _compat.collection_function_digest(test.hypothesis.inner_test)
    with _compat.engine_overridden_given(test, settings, key):
        yield
