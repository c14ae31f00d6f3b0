"""How fast ``hypofuzz_nb.load()`` reads a big directory database, against the fastest
plain reader of the same files.

Usage: ``python bench/bench_load.py [--tests 100 --reports 2000] [--rounds 5]``

Builds (once, cached under ``bench/results/``) a directory database of ``tests x
reports`` report values written as HypoFuzz writes them (one value per report),
plus the same number of tests with a tenth of the reports for the scaling check.
Then, each in a fresh child process, alternating round by round, it times:

- the baseline, the fastest single-process reader we could write: ``os.scandir`` of
  the database directory and of every key directory in it, and ``os.open`` +
  ``os.read`` of every file (no parsing at all; it reads every file of the database,
  a few more than ``load()`` needs, such as Hypothesis' key index);
- ``read+parse``: the same reader plus ``json.loads`` of every report, the least any
  reader must do to know what the reports say;
- ``hypofuzz_nb.load(db)``: read, parse, validate, merge and build all frames (it
  reads the files in a helper process while it parses). pandas and our frames module
  are imported before the clock starts, as on the other side.

Peak RSS is the sum over the child's whole process tree (helper processes included),
sampled by this process every 5 ms while the child runs (psutil when installed, else
/proc). Every figure is the median over ``--rounds`` rounds with its min-max; the
ratio load / baseline is paired round by round. Targets: load <= 1.2x the baseline
(first set against Hypothesis' own ``fetch``, a slower baseline than this one), peak
RSS of the process tree <= 300 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from _common import context, interleave, print_header, summarize
from hypothesis.database import DirectoryBasedExampleDatabase

from hypofuzz_nb.records import TEST_KEYS_KEY, Report, key_to_base64, reports_key

RESULTS = Path(__file__).resolve().parent / "results"


def build(path: Path, n_tests: int, n_reports: int) -> None:
    """Write the database at ``path`` (skipped when a complete copy is cached there)."""
    done = path / "COMPLETE"
    if done.exists():
        return
    db = DirectoryBasedExampleDatabase(path / "db")
    rng = random.Random(0)
    workers = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(2)]
    start = time.perf_counter()
    for t in range(n_tests):
        key = rng.randbytes(48)
        db.save(TEST_KEYS_KEY, key)
        b64 = key_to_base64(key)
        nodeid = f"tests/test_bench_{t // 10}.py::test_case_{t}"
        inputs = {w: 0 for w in workers}
        elapsed = {w: 0.0 for w in workers}
        behaviors = 0
        ts = 1_790_000_000.0 + t
        for i in range(n_reports):
            w = workers[i % 2]
            inputs[w] += rng.randrange(50, 500)
            elapsed[w] += rng.random()
            ts += rng.random() * 5
            if rng.random() < 0.05:
                behaviors += 1
            report = Report(
                database_key=b64,
                nodeid=nodeid,
                elapsed_time=elapsed[w],
                timestamp=ts,
                worker_uuid=w,
                status_counts={"0": 0, "1": inputs[w] // 50, "2": inputs[w], "3": 0},
                behaviors=behaviors,
                fingerprints=behaviors // 2,
                since_new_behavior=rng.randrange(0, 10_000),
                phase="generate",
            )
            db.save(reports_key(key), report.to_bytes())
        if t % 10 == 9:
            print(
                f"  built {t + 1}/{n_tests} tests ({time.perf_counter() - start:.0f} s)", flush=True
            )
    done.write_text(json.dumps({"tests": n_tests, "reports": n_reports}))


def _file_paths(root: str) -> list[str]:
    """Every file of the directory database at ``root`` (one folder per key)."""
    with os.scandir(root) as top:
        dirs = [entry.path for entry in top if entry.is_dir(follow_symlinks=False)]
    paths: list[str] = []
    for directory in dirs:
        with os.scandir(directory) as entries:
            paths.extend(entry.path for entry in entries)
    return paths


def _read(path: str, read=os.read, open_=os.open, close=os.close, flags=os.O_RDONLY) -> bytes:
    fd = open_(path, flags)
    try:
        chunks = [read(fd, 65536)]
        while len(chunks[-1]) == 65536:
            chunks.append(read(fd, 65536))
    finally:
        close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_every_file(root: str) -> tuple[int, int]:
    """(files, bytes) of every file in the directory database at ``root``, read as
    fast as plain Python reads small files: no pathlib, no file objects."""
    paths = _file_paths(root)
    return len(paths), sum(len(_read(path)) for path in paths)


def read_and_parse_every_file(root: str) -> int:
    """The plain reader plus ``json.loads`` of every value that is a JSON object (the
    reports): the least any reader must do to know what the reports say."""
    loads = json.loads
    parsed = 0
    for path in _file_paths(root):
        value = _read(path)
        if value[:1] == b"{":
            try:
                loads(value)
            except ValueError:
                continue
            parsed += 1
    return parsed


def child(mode: str, path: str) -> None:
    """Run one measurement in this fresh process and print it as JSON."""
    import hypofuzz_nb  # both sides pay the imports outside the timed part
    import hypofuzz_nb.frames

    start = time.perf_counter()
    if mode == "read":
        files, _ = read_every_file(path)
        count = files
    elif mode == "parse":
        count = read_and_parse_every_file(path)
    else:
        data = hypofuzz_nb.load(DirectoryBasedExampleDatabase(path))
        count = len(data.reports)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "count": count}))


def _tree_rss_bytes(pid: int) -> int:
    """Summed RSS of ``pid`` and all its descendants, now."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        return total
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child_pid, ppid in parents.items():
            if ppid == parent and child_pid not in tree:
                tree.add(child_pid)
                frontier.append(child_pid)
    total = 0
    for member in tree:
        with contextlib.suppress(OSError, ValueError):
            resident = int(Path(f"/proc/{member}/statm").read_text().split()[1])
            total += resident * os.sysconf("SC_PAGE_SIZE")
    return total


def measure(mode: str, path: Path) -> dict:
    """One child run: its JSON result plus the sampled peak RSS of its process tree."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    deadline = time.monotonic() + 600
    while proc.poll() is None:
        peak = max(peak, _tree_rss_bytes(proc.pid))
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{mode} took over 600 s")
        time.sleep(0.005)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{mode} failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["rss_mb"] = peak / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    print_header(
        "load(): hypofuzz_nb.load() against the fastest plain reader of the same files",
        tests=args.tests,
        reports_per_test=args.reports,
        rounds=args.rounds,
    )
    big = RESULTS / f"load-db-{args.tests}x{args.reports}"
    small_reports = max(1, args.reports // 10)
    small = RESULTS / f"load-db-{args.tests}x{small_reports}"
    for path, n in ((small, small_reports), (big, args.reports)):
        print(f"database {path.name}: building if not cached", flush=True)
        build(path, args.tests, n)

    medians = {}
    for name, path in (("small", small), ("big", big)):
        # Warm the page cache once so both sides read from memory, then alternate.
        measure("read", path / "db")
        runs = interleave(
            {
                "read": lambda _i, p=path: measure("read", p / "db"),
                "parse": lambda _i, p=path: measure("parse", p / "db"),
                "load": lambda _i, p=path: measure("load", p / "db"),
            },
            args.rounds,
        )
        reads, parses, loads = runs["read"], runs["parse"], runs["load"]
        reports = loads[0]["count"]
        print(f"\n{name}: {reports:,} reports in {reads[0]['count']:,} files  {context()}")
        for side, label in ((reads, "plain reader"), (parses, "read+parse"), (loads, "load()")):
            seconds = [r["seconds"] for r in side]
            rss = [r["rss_mb"] for r in side]
            print(
                f"   {label:<13} {summarize(seconds, fmt='.2f', unit=' s')}   "
                f"peak RSS (process tree) {summarize(rss, fmt='.0f', unit=' MB')}"
            )
        ratio = [lo["seconds"] / r["seconds"] for lo, r in zip(loads, reads, strict=True)]
        print(f"   load / plain reader {summarize(ratio, fmt='.2f', unit='x')}")
        vs_parse = [lo["seconds"] / p["seconds"] for lo, p in zip(loads, parses, strict=True)]
        print(f"   load / read+parse   {summarize(vs_parse, fmt='.2f', unit='x')}")
        medians[name] = (
            reports,
            statistics.median(r["seconds"] for r in reads),
            statistics.median(r["seconds"] for r in loads),
            statistics.median(r["rss_mb"] for r in loads),
            statistics.median(ratio),
        )
    small_n, read_small, load_small, _, _ = medians["small"]
    big_n, read_big, load_big, rss_big, ratio_big = medians["big"]
    print(
        f"\nscaling {small_n:,} -> {big_n:,} reports (x{big_n / max(1, small_n):.1f}), "
        f"medians: load x{load_big / load_small:.2f}, plain reader x{read_big / read_small:.2f}"
    )
    print(
        f"targets: load / plain reader {ratio_big:.2f}x (<= 1.2x), peak RSS of the process "
        f"tree {rss_big:.0f} MB (<= 300 MB)  {context()}"
    )


if __name__ == "__main__":
    main()
