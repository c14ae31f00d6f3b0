"""Kernel responsiveness while the in-kernel worker fuzzes (issue 4, section 8).

Starts a real IPython kernel (jupyter_client), times a trivial cell over and over
while the kernel is idle (the baseline), then again while ``%hypofuzz`` fuzzes the
example suite in a thread of that same kernel, and prints median and p95 round-trip
latency of both and their ratio. Target: p95 <= 50 ms while fuzzing.

    python bench/bench_kernel_latency.py [--cells 200] [--warmup 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

REPO = Path(__file__).resolve().parent.parent


def _run(client, code: str, timeout: float = 60.0) -> float:
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


def _latencies(client, cells: int, pause: float) -> list[float]:
    out = []
    for _ in range(cells):
        out.append(_run(client, "x = 1 + 1"))
        time.sleep(pause)  # a person types between cells; this is not an assertion
    return out


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.02)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="hypofuzz-nb-latency-"))
    shutil.copytree(
        REPO / "examples", workdir / "examples", ignore=shutil.ignore_patterns(".hypothesis")
    )
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(workdir / "examples"))
    try:
        _run(client, "%load_ext hypofuzz_nb")
        for _ in range(args.warmup):
            _run(client, "x = 1 + 1")
        idle = _latencies(client, args.cells, args.pause)
        _run(client, "%hypofuzz tests --no-dashboard --max-time 600")
        time.sleep(3)  # let collection finish and the worker reach steady state
        busy = _latencies(client, args.cells, args.pause)
        status = _run(client, "_s = %hypofuzz status")
        _run(client, "%hypofuzz stop")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        shutil.rmtree(workdir, ignore_errors=True)
    del status

    def ms(value: float) -> str:
        return f"{value * 1000:7.1f} ms"

    print(f"Python {sys.version.split()[0]}, {args.cells} trivial cells each")
    print(f"{'':24}{'median':>10}{'p95':>10}")
    print(f"{'idle kernel':24}{ms(statistics.median(idle)):>10}{ms(_p95(idle)):>10}")
    print(f"{'while fuzzing':24}{ms(statistics.median(busy)):>10}{ms(_p95(busy)):>10}")
    print(
        f"ratio fuzzing/idle: median {statistics.median(busy) / statistics.median(idle):.2f}x, "
        f"p95 {_p95(busy) / _p95(idle):.2f}x; target p95 <= 50 ms: "
        f"{'met' if _p95(busy) <= 0.050 else 'missed'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
