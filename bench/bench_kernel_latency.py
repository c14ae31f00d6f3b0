"""Kernel responsiveness: round-trip latency of a trivial cell in a real IPython kernel
(jupyter_client) in three conditions, in one run:

  idle            the extension loaded, nothing running
  fuzzing         ``%hypofuzz tests --no-dashboard``: the in-kernel worker only
  fuzzing + live  ``%hypofuzz tests``: the default, worker and live dashboard

Each condition gets a fresh kernel and a fresh copy of examples/ (no database left
from another condition); the conditions' order rotates from round to round, so no
condition always runs first. Per round and condition: median and p95 of ``--cells``
cells; printed: the median over rounds of each, min-max and the number of rounds, and
the p95 the live dashboard adds (p95 fuzzing + live minus p95 fuzzing, per round).
Targets (quiet machine): the dashboard adds at most 5 ms to the p95, and the p95
while fuzzing with it stays <= 35 ms.

A cell goes every ``--pause`` seconds (0.1: faster than a person types, and longer
than the tail for which the in-kernel fuzzer keeps giving way after a cell,
hypofuzz_nb.cell_gate.TAIL_S, so every cell arrives while the fuzzer runs). What
giving way costs the fuzzer is printed too: its inputs/s while the cells ran, as a
share of its inputs/s in an equally long spell without cells right after.

    python bench/bench_kernel_latency.py [--rounds 5] [--cells 200] [--quick] [--views]

--views adds a fourth condition: the insight views (a test's page with its coverage, then
the distributions, every VIEW_PAUSE_S) working in a thread beside the live dashboard.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import context, percentile, print_header, summarize
from jupyter_client.manager import start_new_kernel

REPO = Path(__file__).resolve().parent.parent
#: Seconds to wait for the fuzzer's first inputs, then to let it settle.
STARTUP_LIMIT_S = 60.0
SETTLE_S = 2.0
#: The insight views working in a thread of the kernel beside the live dashboard, as
#: when a test's page computes its coverage on its button: a test's page with its
#: coverage, then the distributions, again and again with VIEW_PAUSE_S between.
VIEW_PAUSE_S = 2.0
VIEWS = f"""
import threading, time, hypofuzz_nb
def _views():
    nodeid = "tests/test_packets.py::test_decode_never_crashes"
    while True:
        hypofuzz_nb.test_page(nodeid, paths=["tests"], coverage=True)
        time.sleep({VIEW_PAUSE_S})
        hypofuzz_nb.distributions(paths=["tests"])
        time.sleep({VIEW_PAUSE_S})
threading.Thread(target=_views, daemon=True).start()
"""
CONDITIONS = {
    "idle": None,
    "fuzzing": "%hypofuzz tests --no-dashboard --max-time 600",
    "fuzzing + live dashboard": "%hypofuzz tests --max-time 600",
}
#: With --views: the live dashboard and the insight views (issue: the views raise the
#: p95 while fuzzing by at most 10 ms).
VIEWS_CONDITION = {"fuzzing + dashboard + views": "%hypofuzz tests --max-time 600\n" + VIEWS}


def _run(client, code: str, timeout: float = 120.0) -> float:
    """Execute ``code`` and return the wall time until the kernel is idle again."""
    start = time.perf_counter()
    msg_id = client.execute(code, store_history=False)
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if (
            message["parent_header"].get("msg_id") == msg_id
            and message["msg_type"] == "status"
            and message["content"]["execution_state"] == "idle"
        ):
            break
    elapsed = time.perf_counter() - start
    reply = client.get_shell_msg(timeout=timeout)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed in the kernel: {reply['content']}")
    return elapsed


def _inputs(client) -> int:
    """The kernel's fuzzing session's inputs so far (``%hypofuzz status``)."""
    msg_id = client.execute(
        "_hf_status = %hypofuzz status",
        store_history=False,
        user_expressions={"inputs": "_hf_status.inputs"},
    )
    while True:
        reply = client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    value = reply["content"]["user_expressions"]["inputs"]
    if value.get("status") != "ok":
        raise RuntimeError(f"%hypofuzz status failed in the kernel: {value}")
    return int(value["data"]["text/plain"])


@contextlib.contextmanager
def example_kernel(prefix: str) -> Iterator[Any]:
    """A client of a fresh kernel in a fresh copy of examples/ (no database left from
    another run), with the extension loaded; the kernel is shut down afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.copytree(
        REPO / "examples", workdir / "examples", ignore=shutil.ignore_patterns(".hypothesis")
    )
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(workdir / "examples"))
    try:
        _run(client, "%load_ext hypofuzz_nb")
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        shutil.rmtree(workdir, ignore_errors=True)


def start_fuzzing(client: Any, start_code: str) -> None:
    """Run ``start_code`` and wait for the steady state: past collection and Hypothesis'
    one-off set-up of the tests' strategies (a fresh copy builds its Unicode tables:
    seconds)."""
    _run(client, start_code)
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while _inputs(client) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(SETTLE_S)


def measure(
    start_code: str | None, cells: int, warmup: int, pause: float
) -> tuple[list[float], float | None]:
    """Latencies of ``cells`` trivial cells in a fresh kernel after ``start_code``, and
    (when fuzzing) the fuzzer's inputs/s while they ran as a share of its inputs/s in
    as long a spell without cells right after (None when idle)."""
    with example_kernel("hypofuzz-nb-latency-") as client:
        if start_code is not None:
            start_fuzzing(client, start_code)
        for _ in range(warmup):
            _run(client, "x = 1 + 1")
        fuzzing = start_code is not None
        before, started = (_inputs(client), time.monotonic()) if fuzzing else (0, 0.0)
        out = []
        for _ in range(cells):
            out.append(_run(client, "x = 1 + 1"))
            time.sleep(pause)  # a person types between cells; this is not an assertion
        kept = None
        if fuzzing:
            during, spell = _inputs(client) - before, time.monotonic() - started
            time.sleep(spell)  # the same length of time without cells
            after = _inputs(client) - before - during
            kept = during / after if after else None
            _run(client, "%hypofuzz stop")
        return out, kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds (5)")
    parser.add_argument("--cells", type=int, default=None, help="cells per condition (200)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between cells")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 60 cells")
    parser.add_argument(
        "--views", action="store_true", help="also: the insight views working in a thread"
    )
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    cells = args.cells or (60 if args.quick else 200)
    print_header(
        "kernel latency of a trivial cell: idle, fuzzing, fuzzing + live dashboard",
        rounds=rounds,
        cells_per_condition_and_round=cells,
    )
    conditions = {**CONDITIONS, **(VIEWS_CONDITION if args.views else {})}
    names = list(conditions)
    med: dict[str, list[float]] = {name: [] for name in names}
    p95: dict[str, list[float]] = {name: [] for name in names}
    kept: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            values, share = measure(conditions[name], cells, args.warmup, args.pause)
            if share is not None:
                kept[name].append(share)
            med[name].append(statistics.median(values) * 1000)
            p95[name].append(percentile(values, 0.95) * 1000)
        print(
            f"round {index + 1}: "
            + ", ".join(f"{n} p95 {p95[n][-1]:.1f} ms" for n in names)
            + f"  {context()}",
            flush=True,
        )
    print()
    for name in names:
        print(f"{name:<26} cell median: {summarize(med[name], unit=' ms')} over rounds")
        print(f"{'':<26} cell p95:    {summarize(p95[name], unit=' ms')} over rounds")
        if kept[name]:
            print(
                f"{'':<26} fuzzing rate while the cells ran, as a share of the rate "
                f"without them: {summarize(kept[name], fmt='.2f')}"
            )
    added = [a - b for a, b in zip(p95["fuzzing + live dashboard"], p95["fuzzing"], strict=True)]
    live = statistics.median(p95["fuzzing + live dashboard"])
    if args.views:
        by_views = [
            a - b
            for a, b in zip(
                p95["fuzzing + dashboard + views"], p95["fuzzing + live dashboard"], strict=True
            )
        ]
        print(
            f"p95 added by the insight views: {summarize(by_views, unit=' ms')} "
            f"(target <= 10 ms: {'met' if statistics.median(by_views) <= 10 else 'missed'})"
        )
    print(f"p95 added by the live dashboard: {summarize(added, unit=' ms')}")
    print(
        f"targets (quiet machine): added p95 <= 5 ms: "
        f"{'met' if statistics.median(added) <= 5 else 'missed'}; p95 with the live "
        f"dashboard <= 35 ms: {'met' if live <= 35 else 'missed'}  {context()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
