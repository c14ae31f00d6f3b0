"""Nothing lost: N writer processes, a churning "plain pytest", one reader, then a count.

Each writer writes reports and failures for a handful of shared test keys through
``Store(ResilientDatabase(db))``, thins some of its own old reports as workers do,
and records in a manifest exactly what it left in the database. A churn process
saves and deletes values of its own under the same test keys, as plain pytest does
with failures that no longer fail (this is what makes Hypothesis' directory database
lose concurrent saves). The reader reads throughout, then the final count compares
every manifest with what a read-only Store sees.

Used by tests/test_faults.py (a few seconds) and by
``bench/bench_scaling.py --nothing-lost SECONDS``. Run alone:

    python bench/nothing_lost.py run --db dir:/tmp/db --writers 4 --seconds 300
    python bench/nothing_lost.py run --db redis://127.0.0.1:6379/0 --writers 4 --seconds 300
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

N_TEST_KEYS = 5
TEST_KEYS = [bytes([i]) * 48 for i in range(1, N_TEST_KEYS + 1)]


def open_database(spec: str) -> Any:
    """``dir:PATH`` or a redis:// URL."""
    if spec.startswith("dir:"):
        from hypothesis.database import DirectoryBasedExampleDatabase

        return DirectoryBasedExampleDatabase(spec[4:])
    from hypofuzz_nb.redis_url import redis_database_from_url

    return redis_database_from_url(spec)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def writer(spec: str, seconds: float, max_writes: int, manifest: Path) -> None:
    from hypofuzz_nb.records import Observation, Report, encode_choices, key_to_base64
    from hypofuzz_nb.resilient import ResilientDatabase
    from hypofuzz_nb.store import Store

    database = ResilientDatabase(open_database(spec))
    store = Store(database)
    worker = uuid.uuid4().hex
    rng = random.Random(worker)
    kept_reports: dict[bytes, list[Report]] = {k: [] for k in TEST_KEYS}
    failures: list[tuple[bytes, bytes]] = []
    for key in TEST_KEYS:
        store.register_test(key)
    deadline = time.monotonic() + seconds
    writes = deleted = 0
    while time.monotonic() < deadline and writes < max_writes:
        key = rng.choice(TEST_KEYS)
        if rng.random() < 0.1:
            choices = encode_choices((writes, worker))
            observation = Observation(
                status="failed", representation=f"f({writes})", property="p", run_start=time.time()
            )
            store.save_failure(key, "shrunk", choices, observation)
            failures.append((key, choices))
        else:
            report = Report(
                database_key=key_to_base64(key),
                nodeid=f"tests/test_lost.py::test_{key[0]}",
                elapsed_time=float(writes),
                timestamp=time.time(),
                worker_uuid=worker,
                status_counts={"2": writes},
                behaviors=writes,
                fingerprints=writes,
                since_new_behavior=0,
                phase="generate",
            )
            store.save_report(key, report)
            kept_reports[key].append(report)
            # Thin our own old reports, as workers do; never anyone else's.
            if len(kept_reports[key]) > 20 and rng.random() < 0.5:
                old = kept_reports[key].pop(rng.randrange(len(kept_reports[key]) - 5))
                store.delete_report(key, old)
                deleted += 1
        writes += 1
    flushed = database.close(timeout=60)
    manifest.write_text(
        json.dumps(
            {
                "worker": worker,
                "writes": writes,
                "deleted": deleted,
                "flushed": flushed,
                "reports": [
                    [_b64(k), _b64(r.to_bytes())] for k, rs in kept_reports.items() for r in rs
                ],
                "failures": [[_b64(k), _b64(c)] for k, c in failures],
            }
        )
    )


def churn(spec: str, seconds: float) -> None:
    """Plain pytest deleting failures that no longer fail, under the same keys."""
    db = open_database(spec)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        key = TEST_KEYS[i % N_TEST_KEYS]
        value = b"churn-%d" % (i % 7)
        db.save(key, value)
        db.delete(key, value)
        i += 1


def count(spec: str, manifests: list[Path]) -> dict[str, int]:
    """Compare every manifest against what a read-only Store reads now."""
    from hypofuzz_nb.records import reports_key
    from hypofuzz_nb.store import Store

    store = Store(open_database(spec), read_only=True)
    present: dict[bytes, set[bytes]] = {}

    def values(key: bytes) -> set[bytes]:
        if key not in present:
            present[key] = set(store.fetch(key))
        return present[key]

    result = {"reports": 0, "failures": 0, "missing_reports": 0, "missing_failures": 0}
    result["unflushed_writers"] = 0
    for path in manifests:
        manifest = json.loads(path.read_text())
        result["unflushed_writers"] += not manifest["flushed"]
        for key, value in manifest["reports"]:
            result["reports"] += 1
            if base64.b64decode(value) not in values(reports_key(base64.b64decode(key))):
                result["missing_reports"] += 1
        for key, value in manifest["failures"]:
            result["failures"] += 1
            if base64.b64decode(value) not in values(base64.b64decode(key)):
                result["missing_failures"] += 1
    listed = set(store.test_keys())
    result["missing_test_keys"] = len(set(TEST_KEYS) - listed)
    return result


def run(
    spec: str, writers: int, seconds: float, workdir: Path, *, max_writes: int = 10**9
) -> dict[str, Any]:
    """Start writers, a churner and a concurrent reader; return the final count."""
    from hypofuzz_nb.records import reports_key
    from hypofuzz_nb.store import Store

    workdir.mkdir(parents=True, exist_ok=True)
    me = [sys.executable, os.path.abspath(__file__)]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    manifests = [workdir / f"writer-{i}.json" for i in range(writers)]
    limits = ["--seconds", str(seconds), "--max-writes", str(max_writes)]
    procs = [
        subprocess.Popen([*me, "writer", "--db", spec, *limits, "--manifest", str(m)], env=env)
        for m in manifests
    ]
    churner = subprocess.Popen([*me, "churn", "--db", spec, "--seconds", str(seconds)], env=env)
    reader = Store(open_database(spec), read_only=True)
    reads = 0
    read_deadline = time.monotonic() + seconds + 120
    while any(p.poll() is None for p in procs) and time.monotonic() < read_deadline:
        for key in TEST_KEYS:
            reader.report_columns(reader.fetch(reports_key(key)))
            reader.fetch(key)
            reads += 1
        if reads > 10**7:
            break
        time.sleep(0.05)
    for p in procs:
        p.wait(timeout=180)
    churner.wait(timeout=60)
    codes = [p.returncode for p in procs]
    assert all(c == 0 for c in codes), f"writer exit codes {codes}"
    result: dict[str, Any] = count(spec, manifests)
    result["reader_passes"] = reads
    result["writes"] = sum(json.loads(m.read_text())["writes"] for m in manifests)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("writer")
    w.add_argument("--db", required=True)
    w.add_argument("--seconds", type=float, required=True)
    w.add_argument("--max-writes", type=int, default=10**9)
    w.add_argument("--manifest", type=Path, required=True)
    c = sub.add_parser("churn")
    c.add_argument("--db", required=True)
    c.add_argument("--seconds", type=float, required=True)
    r = sub.add_parser("run")
    r.add_argument("--db", required=True)
    r.add_argument("--writers", type=int, default=4)
    r.add_argument("--seconds", type=float, default=300)
    r.add_argument("--workdir", type=Path, default=Path("/tmp/hypofuzz_nb-nothing-lost"))
    args = parser.parse_args(argv)
    if args.command == "writer":
        writer(args.db, args.seconds, args.max_writes, args.manifest)
    elif args.command == "churn":
        churn(args.db, args.seconds)
    else:
        result = run(args.db, args.writers, args.seconds, args.workdir)
        print(json.dumps(result, indent=2))
        lost = result["missing_reports"] + result["missing_failures"] + result["missing_test_keys"]
        return 1 if lost else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
