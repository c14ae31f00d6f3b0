"""Faults survived: Redis killed and restarted, workers SIGKILLed, unwritable disks,
and a count that nothing written is lost with several writers and a reader."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from deploy_recipe import ENV_VAR, conftest_recipe
from hypothesis.database import DirectoryBasedExampleDatabase

import hypofuzz_nb
from hypofuzz_nb.records import Report, reports_key
from hypofuzz_nb.resilient import ResilientDatabase
from hypofuzz_nb.store import Store
from hypofuzz_nb.watch import DatabaseWatcher, redis_database_from_url

BENCH = Path(__file__).resolve().parent.parent / "bench"
PASSWORD = "faults-pw-90d1"

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


def _nothing_lost():
    spec = importlib.util.spec_from_file_location("nothing_lost", BENCH / "nothing_lost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _all_reports(db) -> dict[bytes, set[bytes]]:
    store = Store(db, read_only=True)
    return {key: set(store.fetch(reports_key(key))) for key in store.test_keys()}


def _project(root: Path, conftest: str = "") -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "conftest.py").write_text(conftest)
    (root / "tests" / "test_quiet.py").write_text(TEST_FILE)
    return root


# Nothing lost ---------------------------------------------------------------------------


def test_nothing_lost_directory_database(tmp_path):
    result = _nothing_lost().run(
        f"dir:{tmp_path / 'db'}", writers=3, seconds=4, workdir=tmp_path, max_writes=20_000
    )
    assert result["reports"] > 100
    assert result["failures"] > 10
    assert result["reader_passes"] > 0
    assert result["unflushed_writers"] == 0
    assert result["missing_reports"] == 0, result
    assert result["missing_failures"] == 0, result
    assert result["missing_test_keys"] == 0, result


@pytest.mark.redis
def test_nothing_lost_redis_database(redis_server, tmp_path):
    redis_server.flush()
    result = _nothing_lost().run(
        redis_server.url, writers=3, seconds=4, workdir=tmp_path, max_writes=20_000
    )
    assert result["reports"] > 100
    assert result["failures"] > 10
    assert result["missing_reports"] == 0, result
    assert result["missing_failures"] == 0, result
    assert result["missing_test_keys"] == 0, result


# Redis killed mid-run -------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_killed_mid_run_workers_buffer_and_dashboard_recovers(make_redis_server, tmp_path):
    server = make_redis_server(password=PASSWORD)
    host = _project(tmp_path / "host", conftest_recipe())
    env = dict(os.environ, **{ENV_VAR: server.url, "PYTHONDONTWRITEBYTECODE": "1"})
    dashboard_db = redis_database_from_url(server.url)
    changes: list[object] = []
    with DatabaseWatcher(dashboard_db, changes.append) as watcher:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hypofuzz_nb.cli", "fuzz", "tests", "--no-dashboard"],
            cwd=host,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_until(lambda: any(_all_reports(dashboard_db).values()), "the first reports")
            server.client().save()  # a snapshot the restarted server loads
            killed_at = time.time()
            server.kill()
            _wait_until(lambda: watcher.unreachable_since is not None, "the dashboard to notice")
            assert watcher.unreachable_since >= killed_at - 1
            time.sleep(6)  # the outage: the worker goes on fuzzing and buffering
            assert worker.poll() is None, worker.communicate()
            restarted_at = time.time()
            server.start()
            _wait_until(lambda: watcher.unreachable_since is None, "the dashboard to recover")

            def reports_from_the_outage() -> list[Report]:
                found = []
                for values in _all_reports(dashboard_db).values():
                    for value in values:
                        report = Report.from_bytes(value)
                        if report and killed_at < report.timestamp < restarted_at:
                            found.append(report)
                return found

            # Written while Redis was down, in memory until it came back.
            _wait_until(lambda: reports_from_the_outage(), "the buffered reports")
        finally:
            worker.send_signal(signal.SIGINT)
            out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, out + err
    assert PASSWORD not in out + err
    outage_reports = reports_from_the_outage()
    assert max(r.inputs for r in outage_reports) > 0


# Worker processes killed ---------------------------------------------------------------------


def _child_worker_pids() -> list[int]:
    """Worker processes (multiprocessing spawn children) of this process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


def test_sigkilled_worker_is_restarted_and_nothing_it_wrote_is_lost(tmp_path, monkeypatch):
    project = _project(tmp_path / "project")
    monkeypatch.chdir(project)
    db = DirectoryBasedExampleDatabase(project / ".hypothesis" / "examples")
    session = hypofuzz_nb.fuzz(["tests"], workers=2, max_time=60, database=db)
    try:
        _wait_until(lambda: len(_child_worker_pids()) == 2, "two worker processes")
        _wait_until(lambda: sum(map(len, _all_reports(db).values())) >= 2, "reports")
        victim = _child_worker_pids()[0]
        before = _all_reports(db)
        os.kill(victim, signal.SIGKILL)
        _wait_until(lambda: session.status().restarts >= 1, "the supervisor to restart it")
        _wait_until(
            lambda: len(_child_worker_pids()) == 2 and victim not in _child_worker_pids(),
            "the replacement process",
        )
        assert session.running
    finally:
        session.stop(timeout=10)
        session.wait(timeout=30)
    after = _all_reports(db)
    for key, values in before.items():
        assert values <= after[key]


# Unwritable directory ----------------------------------------------------------------------


def test_unwritable_directory_keeps_fuzzing_in_memory_with_a_clear_error(tmp_path, monkeypatch):
    project = _project(tmp_path / "project")
    monkeypatch.chdir(project)
    blocker = tmp_path / "disk"
    blocker.write_text("a file where the database directory should be")
    db = ResilientDatabase(DirectoryBasedExampleDatabase(blocker / "examples"), max_backoff=0.2)
    session = hypofuzz_nb.fuzz(["tests"], workers=1, max_time=3, database=db)
    assert session.wait(timeout=60)
    status = session.status()
    assert status.error is None, status.error
    assert status.inputs > 100  # fuzzing went on
    assert db.pending_writes > 0  # everything it would have written is kept in memory
    assert "Not a directory" in db.last_error
    assert str(blocker) in db.last_error
    assert db.unreachable_since is not None
    blocker.unlink()
    assert db.flush(timeout=60)
    assert sum(map(len, _all_reports(db.inner).values())) > 0
