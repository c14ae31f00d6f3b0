"""Fuzzing through a Redis outage: inputs/s with the server up, down, and back.

Usage::

    python bench/bench_outage.py              # 5 runs, 5 s windows (about 2 minutes)
    python bench/bench_outage.py --quick      # 3 runs, 3 s windows
    python bench/bench_outage.py --client url # the database of deploy/README.md's recipe

Each run is a fresh process: it starts a redis-server on a free loopback port, fuzzes
a two-test project (``lists(integers())`` and ``text()``) with ``hypofuzz_nb.fuzz``
(one worker thread in that process, as ``hypofuzz-nb fuzz`` runs by default) on a
``RedisExampleDatabase``, and after a warm-up measures inputs over three equal windows:
server up, server SIGKILLed, server restarted. The database's client is by default
``Redis(host=..., port=...)`` with redis-py's defaults (each command retried ten times,
with jitter), the case of issue 8. Printed per figure: median of the runs with min-max
and the number of runs, beside the load average; and the HypothesisDeprecationWarnings
about the random module that the runs saw (0 expected).

Every number is measured in this run; the outage/up ratio compares windows of the same
run, so machine load hits both alike (unless it changes within the run).
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
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import print_header, summarize  # noqa: E402

TEST_FILE = textwrap.dedent(
    """
    from hypothesis import given, strategies as st


    @given(st.lists(st.integers()))
    def test_sorting(xs):
        assert sorted(sorted(xs)) == sorted(xs)


    @given(st.text())
    def test_text(s):
        assert s.encode("utf-8").decode("utf-8") == s
    """
)


class _Server:
    """A redis-server on a free loopback port, without persistence, killable and restartable."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # A bare socket, not a redis-py client: its retries would touch `random`.
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise SystemExit(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _child(client_kind: str, window: float) -> dict[str, Any]:
    """One run, in this process: the three windows' input counts and the warnings."""
    import redis
    from hypothesis.errors import HypothesisDeprecationWarning
    from hypothesis.extra.redis import RedisExampleDatabase

    import hypofuzz_nb
    from hypofuzz_nb.redis_url import redis_database_from_url

    root = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    server = _Server(root)
    server.start()
    try:
        (root / "project" / "tests").mkdir(parents=True)
        (root / "project" / "tests" / "test_outage.py").write_text(TEST_FILE)
        os.chdir(root / "project")
        if client_kind == "default":
            database = RedisExampleDatabase(redis.Redis(host="127.0.0.1", port=server.port))
        else:
            database = redis_database_from_url(f"redis://127.0.0.1:{server.port}/0")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            session = hypofuzz_nb.fuzz(["tests"], workers=1, max_time=600, database=database)
            try:
                deadline = time.monotonic() + 120
                while session.status().inputs < 200 and time.monotonic() < deadline:
                    time.sleep(0.05)
                counts = [session.status().inputs]
                time.sleep(window)
                counts.append(session.status().inputs)
                server.kill()
                time.sleep(window)
                counts.append(session.status().inputs)
                server.start()
                time.sleep(window)
                counts.append(session.status().inputs)
            finally:
                session.stop(timeout=10)
                session.wait(timeout=60)
        random_warnings = [
            str(w.message)
            for w in caught
            if issubclass(w.category, HypothesisDeprecationWarning) and "random" in str(w.message)
        ]
        return {
            "up": (counts[1] - counts[0]) / window,
            "down": (counts[2] - counts[1]) / window,
            "back": (counts[3] - counts[2]) / window,
            "random_warnings": len(random_warnings),
            "error": session.status().error,
        }
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="runs (default 5, quick 3)")
    parser.add_argument("--window", type=float, default=None, help="seconds per window")
    parser.add_argument("--quick", action="store_true", help="3 runs of 3 s windows")
    parser.add_argument(
        "--client",
        choices=("default", "url"),
        default="default",
        help="default: Redis(host=...) with redis-py's retries; url: redis_database_from_url",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    window = args.window or (3.0 if args.quick else 5.0)
    if args.child:
        print(json.dumps(_child(args.client, window)))
        return 0
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    runs = args.runs or (3 if args.quick else 5)
    print_header("Redis outage", runs=runs, window=f"{window:g} s", client=args.client)
    results = []
    for run in range(runs):
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--client", args.client, "--window", f"{window}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if child.returncode:
            print(child.stdout + child.stderr, file=sys.stderr)
            return 1
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"   run {run + 1}: up {result['up']:.0f}/s, down {result['down']:.0f}/s, "
            f"back {result['back']:.0f}/s, random warnings {result['random_warnings']}",
            flush=True,
        )
        results.append(result)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"inputs/s, server up:        {summarize([r['up'] for r in results], fmt='.0f')}")
    print(f"inputs/s, server down:      {summarize([r['down'] for r in results], fmt='.0f')}")
    print(f"inputs/s, server back:      {summarize([r['back'] for r in results], fmt='.0f')}")
    ratios = [r["down"] / r["up"] if r["up"] else float("nan") for r in results]
    print(f"down / up (same run):       {summarize(ratios, fmt='.2f', unit='x')}")
    print(
        f"random-module warnings:     {sum(r['random_warnings'] for r in results)} in {runs} runs"
    )
    print(f"load average at the end:    {load:.2f} on {os.cpu_count()} cores")
    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
