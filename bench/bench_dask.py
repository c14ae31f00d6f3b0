"""Fuzzing on Dask: scaling, overhead against local worker processes, stop time, Redis load.

Usage::

    python bench/bench_dask.py          # 3 runs of each side, 15 s windows (a few minutes)
    python bench/bench_dask.py --quick  # 1 run of each side, 5 s windows (about a minute)

(``--runs``, ``--window`` and ``--warmup`` override either form.)

Every side fuzzes bench_scaling.py's four-test project into one real redis-server
started here, and is measured over ``--window`` seconds after ``--warmup`` seconds
(start-up, collection and the checks of the workers are not counted):

1. Aggregate inputs/s of ``fuzz(workers=N, cluster="local")`` (a ``LocalCluster`` of N
   single-threaded worker processes, each lane fuzzing in a subprocess) for N = 1
   and 2, and their ratio (2 cores: ideal 2.0; the issue's target >= 1.7x).
2. The same with local worker processes, ``fuzz(workers=2)``: Dask / local at the same
   count, and Dask's overhead ``1 - Dask / local`` (target: at most 10%).
3. Seconds from ``stop()`` to the session's end (every lane task and its fuzzing
   process ended; target <= 5 s).
4. Redis load per fuzzing process during the window: commands/s and bytes/s (in+out),
   from ``INFO stats``.

Sides run interleaved (``interleave``), so a change in machine load hits them alike.
Every figure: median with min-max and the number of runs, beside the 1-minute load
average at the end of each side's windows (min-max over its runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    context,
    interleave,
    print_header,
    ratios,
    summarize,
    summarize_ratio,
)
from bench_scaling import PROJECT_TESTS, RedisServer  # noqa: E402

CONFTEST = """
import os
from hypothesis import settings
from hypofuzz_nb.redis_url import redis_database_from_url

settings.register_profile(
    "bench-dask", database=redis_database_from_url(os.environ["HFNB_BENCH_REDIS_URL"]), deadline=None
)
settings.load_profile("bench-dask")
"""

#: Seconds a session may take to start fuzzing before the run is abandoned.
START_LIMIT_S = 180
#: ``(runs, window s, warmup s)`` of the full form and of ``--quick``. The quick form
#: keeps the full warm-up: after 2 s, a single lane was still finding its first
#: behaviors (9 inputs/s against 390 for two).
FULL = (3, 15.0, 5.0)
QUICK = (1, 5.0, 5.0)


def _redis_totals(client) -> tuple[int, int]:
    stats = client.info("stats")
    return (
        int(stats["total_commands_processed"]),
        int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"]),
    )


def measure(
    server: RedisServer, *, workers: int, cluster: str | None, window: float, warmup: float
):
    """``(inputs/s, stop seconds, commands/s per process, bytes/s per process, load)``,
    ``load`` being the 1-minute load average at the end of the window."""
    import redis

    import hypofuzz_nb

    project = Path(tempfile.mkdtemp(prefix="hypofuzz_nb-dask-"))
    (project / "tests").mkdir()
    (project / "tests" / "test_scaling.py").write_text(PROJECT_TESTS)
    (project / "conftest.py").write_text(CONFTEST)
    client = redis.Redis(port=server.port)
    client.flushall()
    old = os.getcwd()
    os.chdir(project)
    try:
        session = hypofuzz_nb.fuzz(["tests"], workers=workers, cluster=cluster)
        try:
            deadline = time.monotonic() + START_LIMIT_S
            while session.status().inputs == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(warmup)
            first, t0, (cmd0, bytes0) = (
                session.status().inputs,
                time.monotonic(),
                _redis_totals(client),
            )
            time.sleep(window)
            last, t1, (cmd1, bytes1) = (
                session.status().inputs,
                time.monotonic(),
                _redis_totals(client),
            )
            load = os.getloadavg()[0]
        finally:
            asked = time.monotonic()
            session.stop(timeout=0)
            session.wait(timeout=60)
            stop_s = time.monotonic() - asked
        if session.error is not None:
            raise SystemExit(f"the session failed: {session.status().error}")
    finally:
        os.chdir(old)
        shutil.rmtree(project, ignore_errors=True)
    span = t1 - t0
    return (
        (last - first) / span,
        stop_s,
        (cmd1 - cmd0) / span / workers,
        (bytes1 - bytes0) / span / workers,
        load,
    )


def _load(runs: list[tuple[float, ...]]) -> str:
    loads = [r[4] for r in runs]
    return f"[load {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run of each side, 5 s windows")
    parser.add_argument("--runs", type=int, default=None, help="runs of each side (3; quick 1)")
    parser.add_argument("--window", type=float, default=None, help="seconds (15; quick 5)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (5, quick too)")
    args = parser.parse_args()
    runs, window, warmup = QUICK if args.quick else FULL
    args.runs = args.runs if args.runs is not None else runs
    args.window = args.window if args.window is not None else window
    args.warmup = args.warmup if args.warmup is not None else warmup
    print_header(
        "bench_dask",
        form="quick" if args.quick else "full",
        runs=args.runs,
        window_s=args.window,
        warmup_s=args.warmup,
    )
    server = RedisServer()
    os.environ["HFNB_BENCH_REDIS_URL"] = server.url
    try:
        sides = {
            "dask-1": lambda _: measure(
                server, workers=1, cluster="local", window=args.window, warmup=args.warmup
            ),
            "dask-2": lambda _: measure(
                server, workers=2, cluster="local", window=args.window, warmup=args.warmup
            ),
            "local-2": lambda _: measure(
                server, workers=2, cluster=None, window=args.window, warmup=args.warmup
            ),
        }
        results = interleave(sides, args.runs)
    finally:
        server.stop()
    rate = {name: [r[0] for r in runs] for name, runs in results.items()}
    for name, runs in results.items():
        load = _load(runs)
        print(f"{name}: inputs/s {summarize([r[0] for r in runs], fmt=',.0f')} {load}")
        print(
            f"{name}: stop() to the last task ending "
            f"{summarize([r[1] for r in runs], fmt='.2f', unit=' s')} {load} (target <= 5 s)"
        )
        print(
            f"{name}: Redis commands/s per process "
            f"{summarize([r[2] for r in runs], fmt=',.0f')} {load}"
        )
        print(
            f"{name}: Redis bytes/s per process {summarize([r[3] for r in runs], fmt=',.0f')} {load}"
        )
    both = _load([*results["dask-1"], *results["dask-2"]])
    print(
        f"2 Dask workers / 1: {summarize_ratio(rate['dask-2'], rate['dask-1'])} {both} "
        "(target >= 1.7x on a quiet machine)"
    )
    both = _load([*results["dask-2"], *results["local-2"]])
    print(
        "Dask / local worker processes (2 each): "
        f"{summarize_ratio(rate['dask-2'], rate['local-2'])} {both}"
    )
    overhead = [100 * (1 - r) for r in ratios(rate["dask-2"], rate["local-2"])]
    print(
        "Dask's overhead against local worker processes (2 each): "
        f"{summarize(overhead, fmt='.1f', unit='%')} {both} (target <= 10%)"
    )
    print(context())


if __name__ == "__main__":
    main()
