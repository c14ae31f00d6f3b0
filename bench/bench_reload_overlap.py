"""Which cells the live dashboard slows: cells that arrive while its refresher reloads,
against the others, in one fuzzing kernel.

In a real IPython kernel (jupyter_client) fuzzing the example project with the live
dashboard (``%hypofuzz tests``), the refresher's reloads (``hypofuzz_nb.load``) and
whole refreshes are timed from inside the kernel (wrappers installed before the
magic runs; the clock is the machine's monotonic clock on both sides), while the
client sends ``--cells`` trivial cells, one every 0.1 s as bench_kernel_latency does.
Printed: the share of the time the kernel spent reloading, and the latency of the
cells that overlapped a reload against the rest (median and max, and how many of
the slowest 5% overlapped one). One kernel per round; ``--rounds`` rounds.

    python bench/bench_reload_overlap.py [--rounds 3] [--cells 300]
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import time

from _common import context, print_header, summarize
from bench_kernel_latency import _run, example_kernel, start_fuzzing

WRAP = r"""
import time as _time, hypofuzz_nb.frames as _frames, hypofuzz_nb.widgets as _widgets
_HF_SPANS = []
def _hf_timed(kind, function):
    def timed(*args, **kwargs):
        start = _time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            _HF_SPANS.append((kind, start, _time.monotonic()))
    return timed
_frames.load = _hf_timed("reload", _frames.load)
_widgets.Dashboard._timed = _hf_timed("refresh", _widgets.Dashboard._timed)
"""


def one_round(cells: int) -> dict[str, list]:
    with example_kernel("hypofuzz-nb-overlap-") as client:
        _run(client, WRAP)
        start_fuzzing(client, "%hypofuzz tests --max-time 600")
        spans_before = time.monotonic()
        timed = []
        for _ in range(cells):
            start = time.monotonic()
            latency = _run(client, "x = 1 + 1")
            timed.append((start, start + latency, latency))
            time.sleep(0.1)  # a person types between cells; this is not an assertion
        msg_id = client.execute(
            "pass", user_expressions={"spans": "__import__('json').dumps(_HF_SPANS)"}
        )
        while True:
            reply = client.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        text = reply["content"]["user_expressions"]["spans"]["data"]["text/plain"]
        # text/plain is the repr of the JSON string
        spans = [s for s in json.loads(ast.literal_eval(text)) if s[2] > spans_before]
        _run(client, "%hypofuzz stop")
    return {"cells": timed, "spans": spans}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cells", type=int, default=300)
    args = parser.parse_args()
    print_header("cells during the dashboard's reloads", rounds=args.rounds, cells=args.cells)
    share, during, others, slow_during = [], [], [], []
    for index in range(args.rounds):
        result = one_round(args.cells)
        cells, spans = result["cells"], result["spans"]
        reloads = [(a, b) for kind, a, b in spans if kind == "reload"]
        first, last = cells[0][0], cells[-1][1]
        busy = sum(min(b, last) - max(a, first) for a, b in reloads if b > first and a < last)
        overlapped = [c for c in cells if any(a < c[1] and b > c[0] for a, b in reloads)]
        rest = [c for c in cells if c not in overlapped]
        cutoff = sorted(c[2] for c in cells)[int(0.95 * len(cells))]
        slow = [c for c in cells if c[2] >= cutoff]
        share.append(busy / (last - first))
        during.append(1000 * statistics.median(c[2] for c in overlapped) if overlapped else 0.0)
        others.append(1000 * statistics.median(c[2] for c in rest))
        slow_during.append(sum(c in overlapped for c in slow) / len(slow))
        print(
            f"round {index + 1}: {len(reloads)} reloads, {len(overlapped)} cells during one "
            f"(median {during[-1]:.1f} ms), {len(rest)} others (median {others[-1]:.1f} ms), "
            f"slowest 5% during a reload: {slow_during[-1]:.0%}  {context()}",
            flush=True,
        )
    print()
    print(f"share of the time spent reloading: {summarize(share, fmt='.3f')}")
    print(f"cell median during a reload:       {summarize(during, unit=' ms')}")
    print(f"cell median otherwise:             {summarize(others, unit=' ms')}")
    print(f"slowest 5% that came during one:   {summarize(slow_during, fmt='.2f')}  {context()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
