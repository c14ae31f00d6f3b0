"""Scaling: inputs/s with 1 and 2 workers, load() over Redis against the directory database.

Usage::

    python bench/bench_scaling.py                     # both measurements (a few minutes)
    python bench/bench_scaling.py --window 20         # longer fuzzing window per run
    python bench/bench_scaling.py --skip-load         # only the worker scaling
    python bench/bench_scaling.py --nothing-lost 300  # also: 4 writers + 1 reader for 300 s,
                                                      # on the directory database and on Redis

1. Aggregate inputs/s: ``hypofuzz_nb.fuzz(workers=1)`` (one worker thread) and
   ``fuzz(workers=2)`` (two worker processes) on the same four-test project. The rate is
   measured between two status snapshots after a warm-up, so start-up (spawning,
   re-collecting) is not counted. Printed: both rates and their ratio (2 cores: ideal 2.0).
2. ``load()`` of bench_load.py's 100-test database (``--reports`` per test), from the
   directory database and from the same values copied into a real redis-server started
   here on a free loopback port: ``--rounds`` interleaved rounds, and the ratio Redis /
   directory. Every figure: median with min-max and the number of runs.

Every number is measured in this run; nothing is compared with a stored baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import context, interleave, print_header, summarize, summarize_ratio  # noqa: E402

PROJECT_TESTS = textwrap.dedent(
    """
    from hypothesis import given, strategies as st


    @given(st.lists(st.integers()))
    def test_sort_idempotent(xs):
        assert sorted(sorted(xs)) == sorted(xs)


    @given(st.text())
    def test_utf8_roundtrip(s):
        assert s.encode("utf-8").decode("utf-8") == s


    @given(st.dictionaries(st.text(max_size=5), st.integers()))
    def test_dict_copy(d):
        assert dict(d) == d


    @given(st.integers(), st.integers())
    def test_add_commutes(a, b):
        assert a + b == b + a
    """
)


def _cpu_seconds(workers: int) -> float:
    """CPU seconds used so far by the fuzzing: this process for the in-process worker
    thread, the worker processes (spawned children) otherwise. Linux only."""
    if workers == 1:
        return time.process_time()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and b"spawn_main" in cmdline:
            total += (int(stat[11]) + int(stat[12])) / ticks
    return total


def measure_workers(workers: int, window: float, warmup: float) -> tuple[float, float]:
    """Aggregate inputs/s of ``workers`` over ``window`` seconds after ``warmup``, and
    inputs per CPU second (which says whether a loaded machine, not the design, limits
    the scaling)."""
    from hypothesis.database import InMemoryExampleDatabase

    import hypofuzz_nb

    project = Path(tempfile.mkdtemp(prefix="hypofuzz_nb-scaling-"))
    (project / "tests").mkdir()
    (project / "tests" / "test_scaling.py").write_text(PROJECT_TESTS)
    old = os.getcwd()
    os.chdir(project)
    try:
        database = None if workers > 1 else InMemoryExampleDatabase()
        session = hypofuzz_nb.fuzz(
            ["tests"], workers=workers, max_time=warmup + window + 60, database=database
        )
        try:
            deadline = time.monotonic() + warmup + 120
            while session.status().inputs == 0 and time.monotonic() < deadline:
                time.sleep(0.1)  # processes still starting
            time.sleep(warmup)
            first, t0, c0 = session.status().inputs, time.monotonic(), _cpu_seconds(workers)
            time.sleep(window)
            last, t1, c1 = session.status().inputs, time.monotonic(), _cpu_seconds(workers)
        finally:
            session.stop(timeout=10)
            session.wait(timeout=30)
    finally:
        os.chdir(old)
        shutil.rmtree(project, ignore_errors=True)
    return (last - first) / (t1 - t0), (last - first) / max(c1 - c0, 1e-9)


class RedisServer:
    """A throwaway redis-server on a free loopback port (no persistence)."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tempfile.mkdtemp(prefix="hypofuzz_nb-redis-")
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def copy_database(source, destination) -> int:
    """Copy every key of ``source`` (a directory database) into ``destination``."""
    from hypofuzz_nb import _compat

    keys = _compat.store_list_keys(source) or []
    n = 0
    for key in keys:
        for value in source.fetch(key):
            destination.save(key, value)
            n += 1
    return n


def time_load(database) -> float:
    from hypofuzz_nb.frames import load

    start = time.perf_counter()
    data = load(database)
    elapsed = time.perf_counter() - start
    assert len(data.tests) > 0
    return elapsed


def measure_load(n_tests: int, n_reports: int, rounds: int) -> dict[str, Any]:
    from bench_load import RESULTS, build
    from hypothesis.database import DirectoryBasedExampleDatabase

    from hypofuzz_nb.redis_url import redis_database_from_url

    path = RESULTS / f"load-db-{n_tests}x{n_reports}"
    build(path, n_tests, n_reports)
    directory = DirectoryBasedExampleDatabase(path / "db")
    server = RedisServer()
    try:
        redis_db = redis_database_from_url(server.url)
        start = time.perf_counter()
        values = copy_database(directory, redis_db)
        print(f"  copied {values:,} values into Redis in {time.perf_counter() - start:.1f} s")
        time_load(directory)  # warm the page cache and imports
        runs = interleave(
            {"directory": lambda _i: time_load(directory), "redis": lambda _i: time_load(redis_db)},
            rounds,
        )
    finally:
        server.stop()
    return {"values": values, "directory_s": runs["directory"], "redis_s": runs["redis"]}


def nothing_lost(seconds: float, writers: int) -> bool:
    import nothing_lost as nl

    ok = True
    workdir = Path(tempfile.mkdtemp(prefix="hypofuzz_nb-nothing-lost-"))
    server = RedisServer()
    try:
        for name, spec in (("directory", f"dir:{workdir / 'db'}"), ("redis", server.url)):
            result = nl.run(spec, writers, seconds, workdir / name)
            lost = (
                result["missing_reports"] + result["missing_failures"] + result["missing_test_keys"]
            )
            ok &= lost == 0
            print(f"nothing lost, {name}, {writers} writers, {seconds:.0f} s: {json.dumps(result)}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--worker-rounds", type=int, default=3, help="alternating runs of each")
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--nothing-lost", type=float, default=0, metavar="SECONDS")
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    print_header(
        "scaling: 1 against 2 workers; load() over Redis against the directory database",
        worker_rounds=args.worker_rounds,
        load_rounds=args.rounds,
    )
    if not args.skip_workers:
        runs = interleave(
            {
                "one": lambda _i: measure_workers(1, args.window, args.warmup),
                "two": lambda _i: measure_workers(2, args.window, args.warmup),
            },
            args.worker_rounds,
        )
        one, two = runs["one"], runs["two"]
        rate = {"fmt": ",.0f"}
        print(f"inputs/s, 1 worker (thread):  {summarize([r for r, _ in one], **rate)}")
        print(f"   per CPU second:            {summarize([c for _, c in one], **rate)}")
        print(f"inputs/s, 2 worker processes: {summarize([r for r, _ in two], **rate)}")
        print(f"   per CPU second:            {summarize([c for _, c in two], **rate)}")
        print(
            f"scaling ratio 2 / 1:          {summarize_ratio([r for r, _ in two], [r for r, _ in one])}"
            "  (ideal on 2 cores: 2.00)"
        )
        print(
            "per-CPU-second ratio 2 / 1:   "
            f"{summarize_ratio([c for _, c in two], [c for _, c in one])}  (no overhead: 1.00)"
        )
        print(f"   {context()}")
    if not args.skip_load:
        result = measure_load(args.tests, args.reports, args.rounds)
        print(
            f"load() of {args.tests} tests x {args.reports} reports ({result['values']:,} values):"
        )
        print(f"  directory database: {summarize(result['directory_s'], fmt='.2f', unit=' s')}")
        print(f"  Redis database:     {summarize(result['redis_s'], fmt='.2f', unit=' s')}")
        print(
            f"  ratio Redis / directory: "
            f"{summarize_ratio(result['redis_s'], result['directory_s'])}  {context()}"
        )
    if args.nothing_lost and not nothing_lost(args.nothing_lost, args.writers):
        print("SOMETHING WAS LOST")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
