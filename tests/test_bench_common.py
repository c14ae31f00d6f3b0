"""The benchmarks' reporting helpers (bench/_common.py): every figure the README quotes
goes through them, so a wrong median or spread would mislead every reader."""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "_common.py"
_spec = importlib.util.spec_from_file_location("bench_common_under_test", _PATH)
assert _spec is not None and _spec.loader is not None
common = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = common
_spec.loader.exec_module(common)


def test_summarize_gives_median_spread_and_count() -> None:
    assert common.summarize([3.0, 1.0, 2.0, 10.0]) == "median 2.5 (min-max 1.0-10.0, n=4)"


def test_summarize_unit_and_format() -> None:
    assert common.summarize([0.5], fmt=".2f", unit=" s") == "median 0.50 s (min-max 0.50-0.50, n=1)"


def test_summarize_counts_misses_in_the_median() -> None:
    # Three of five runs hit the cap: the median is a miss, not the best finite time.
    assert (
        common.summarize([1.0, math.inf, 2.0, math.inf, math.inf])
        == "median miss (min-max 1.0-miss, n=5)"
    )
    assert common.summarize([1.0, math.inf, 2.0]) == "median 2.0 (min-max 1.0-miss, n=3)"


def test_summarize_refuses_no_values() -> None:
    with pytest.raises(ValueError, match="at least one"):
        common.summarize([])


def test_ratios_are_paired_run_by_run() -> None:
    assert common.ratios([2.0, 9.0], [1.0, 3.0]) == [2.0, 3.0]
    assert common.summarize_ratio([2.0, 9.0, 4.0], [1.0, 3.0, 4.0]) == (
        "median 2.00x (min-max 1.00-3.00, n=3)"
    )
    with pytest.raises(ValueError, match="unpaired"):
        common.ratios([1.0], [1.0, 2.0])


def test_interleave_alternates_sides_and_passes_the_run_index() -> None:
    calls: list[tuple[str, int]] = []

    def side(name: str):
        def run(index: int) -> int:
            calls.append((name, index))
            return index * 10

        return run

    out = common.interleave({"a": side("a"), "b": side("b")}, runs=3)
    assert out == {"a": [0, 10, 20], "b": [0, 10, 20]}
    assert calls == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2)]


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert common.percentile(values, 0.95) == pytest.approx(95.05)
    assert common.percentile(values, 0.5) == pytest.approx(50.5)
    assert common.percentile([7.0], 0.95) == 7.0


def test_header_prints_python_version_and_load(capsys: pytest.CaptureFixture[str]) -> None:
    common.print_header("demo bench", runs=10, cap_s=60)
    out = capsys.readouterr().out
    assert "== demo bench" in out
    assert platform.python_version() in out
    assert f"on {os.cpu_count()} cores" in out
    assert "runs 10, cap s 60" in out
    load_line = out.splitlines()[1]
    one, five, fifteen = load_line.split("load ", 1)[1].split(" on ")[0].split("/")
    assert all(float(value) >= 0 for value in (one, five, fifteen))


def test_context_names_python_and_load() -> None:
    text = common.context()
    assert text.startswith("[Python ") and "load " in text and text.endswith("]")


def _load_compare_revisions():
    path = _PATH.parent / "compare_revisions.py"
    spec = importlib.util.spec_from_file_location("compare_revisions_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_revisions_reads_the_figures_the_benchmarks_print() -> None:
    compare = _load_compare_revisions()
    s = common.summarize
    latency = "\n".join(
        [
            "round 1: idle p95 1.0 ms",
            "",
            f"{'idle':<26} cell median: {s([1.0, 2.0], unit=' ms')} over rounds",
            f"{'':<26} cell p95:    {s([3.0, 4.0], unit=' ms')} over rounds",
            f"{'fuzzing':<26} cell median: {s([5.0, 6.0], unit=' ms')} over rounds",
            f"{'':<26} cell p95:    {s([30.0, 40.0], unit=' ms')} over rounds",
            f"{'fuzzing + live dashboard':<26} cell median: {s([7.0], unit=' ms')} over rounds",
            f"{'':<26} cell p95:    {s([50.0], unit=' ms')} over rounds",
        ]
    )
    assert compare._latency(latency) == {
        "kernel p95 fuzzing (ms, lower is better)": 35.0,
        "kernel p95 fuzzing + live dashboard (ms, lower is better)": 50.0,
    }
    load = "\n".join(
        [
            "database x: building if not cached",
            "",
            "small: 2,000 reports in 2,010 files  [Python]",
            f"   plain reader  {s([0.1], fmt='.2f', unit=' s')}   peak RSS 10 MB",
            f"   load / plain reader {s([2.0, 3.0], fmt='.2f', unit='x')}",
            f"   load / read+parse   {s([1.5], fmt='.2f', unit='x')}",
            "",
            "big: 20,000 reports in 20,100 files  [Python]",
            f"   load / plain reader {s([4.0], fmt='.2f', unit='x')}",
        ]
    )
    assert compare._load(load) == {
        "load small / plain reader (x, lower is better)": 2.5,
        "load big / plain reader (x, lower is better)": 4.0,
    }
    assert compare._throughput("\ngeometric mean of the median ratios: 1.66x  [x]") == {
        "throughput fuzzer/plain calls/s (x, higher is better)": 1.66
    }
    assert compare._throughput("no figures") == {}
