"""Faults survived: Redis killed and restarted, workers SIGKILLed, unwritable disks,
and a count that nothing written is lost with several writers and a reader."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest
from deploy_recipe import ENV_VAR, conftest_recipe
from hypothesis.database import DirectoryBasedExampleDatabase

import hypofuzz_nb
from hypofuzz_nb.records import Report, reports_key
from hypofuzz_nb.redis_url import redis_database_from_url
from hypofuzz_nb.resilient import ResilientDatabase
from hypofuzz_nb.store import Store
from hypofuzz_nb.watch import DatabaseWatcher

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


# Redis killed under an in-process worker ------------------------------------------------------

#: Seconds of each window compared: fuzzing before the outage, fuzzing during it.
WINDOW_S = 3.0


class _ConnectCounter:
    """Counts socket connects to one port per thread name, from Python's audit events
    (an audit hook cannot be removed: it counts only while ``port`` is set)."""

    installed: _ConnectCounter | None = None

    def __init__(self) -> None:
        self.port: int | None = None
        self.counts: dict[str, int] = {}

    @classmethod
    def get(cls) -> _ConnectCounter:
        if cls.installed is None:
            cls.installed = cls()
            sys.addaudithook(cls._hook)
        return cls.installed

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        counter = cls.installed
        if event != "socket.connect" or counter is None or counter.port is None:
            return
        address = args[1]
        if isinstance(address, tuple) and len(address) >= 2 and address[1] == counter.port:
            name = threading.current_thread().name
            counter.counts[name] = counter.counts.get(name, 0) + 1


class _RecordingDatabase(ResilientDatabase):
    """The wrapper workers write through, noting every write a worker asks of it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.phase = "before"
        self.log: list[tuple[str, str, bytes, bytes]] = []

    def save(self, key: bytes, value: bytes) -> None:
        self.log.append((self.phase, "save", key, value))
        super().save(key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        self.log.append((self.phase, "delete", key, value))
        super().delete(key, value)


@pytest.mark.redis
def test_redis_killed_under_an_in_process_worker_fuzzing_goes_on(
    make_redis_server, tmp_path, monkeypatch
):
    """The outage of issue 8: fuzzing goes on with the fuzzing thread kept off the dead
    server, Hypothesis never warns about the global random module, and every write
    made meanwhile lands."""
    import redis
    from hypothesis.errors import HypothesisDeprecationWarning
    from hypothesis.extra.redis import RedisExampleDatabase

    server = make_redis_server()
    monkeypatch.chdir(_project(tmp_path / "project"))
    # redis-py's defaults: each command retried ten times, with jitter drawn from `random`.
    user_db = RedisExampleDatabase(redis.Redis(host="127.0.0.1", port=server.port))
    db = _RecordingDatabase(user_db, on_read_error="memory", max_backoff=0.5)
    connects = _ConnectCounter.get()
    connects.counts.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = hypofuzz_nb.fuzz(["tests"], workers=1, max_time=300, database=db)
        try:
            _wait_until(lambda: session.status().inputs >= 200, "fuzzing to get going")
            first = session.status().inputs
            time.sleep(WINDOW_S)  # a window of fuzzing with the server up
            killed = session.status().inputs
            server.kill()
            db.phase = "outage"
            connects.port = server.port
            time.sleep(WINDOW_S)  # an equal window with the server down
            connects.port = None
            restarted = session.status().inputs
            noticed = db.unreachable_since is not None
            server.start()  # empty: everything below came from the worker's buffer
            db.phase = "after"
            assert db.flush(timeout=60)
        finally:
            session.stop(timeout=10)
            session.wait(timeout=60)
    status = session.status()
    assert status.error is None, status.error
    assert status.n_failing_tests == 0  # neither test can fail: a warning raised would be one
    random_warnings = [w for w in caught if issubclass(w.category, HypothesisDeprecationWarning)]
    assert random_warnings == [], [str(w.message) for w in random_warnings]

    # The fuzzing thread met the dead server once (a stale pooled connection, then one
    # retry); the breaker kept it off after that. The retrying is our writer thread's.
    callers = {
        name: n
        for name, n in connects.counts.items()
        if name not in ("hypofuzz_nb-resilient-writer", threading.main_thread().name)
    }
    assert sum(callers.values()) <= 2, connects.counts
    assert connects.counts.get("hypofuzz_nb-resilient-writer", 0) >= 1
    assert db.failed_direct_calls <= 1
    assert noticed

    # Fuzzing went on while the server was down. How fast, against before, is timing:
    # bench/bench_outage.py measures it; the connect count above is why it holds.
    before, during = killed - first, restarted - killed
    assert before > 0
    assert during > 0, (before, during)

    # Nothing written during the outage is lost: the last op on each pair holds.
    last: dict[tuple[bytes, bytes], tuple[str, str]] = {}
    for phase, op, key, value in db.log:
        last[(key, value)] = (phase, op)
    check = {pair: op for pair, (phase, op) in last.items() if phase == "outage"}
    assert any(op == "save" for op in check.values())
    assert any(key.endswith(b".hypofuzz.reports") for key, _ in check)
    assert db.dropped_writes == 0
    client = server.client()
    wrong = [
        (key, value, op)
        for (key, value), op in check.items()
        if client.sismember(b"hypothesis-example:" + key, value) != (op == "save")
    ]
    assert wrong == []


@pytest.mark.redis
def test_watcher_reconnecting_after_an_outage_leaves_the_global_random_state_alone(
    make_redis_server,
):
    import redis
    from hypothesis.extra.redis import RedisExampleDatabase
    from redis.backoff import EqualJitterBackoff
    from redis.retry import Retry

    server = make_redis_server()
    # A user's client whose retries draw jitter from the global random module.
    client = redis.Redis(
        host="127.0.0.1", port=server.port, retry=Retry(EqualJitterBackoff(0.02, 0.005), 3)
    )
    with DatabaseWatcher(RedisExampleDatabase(client), lambda keys: None) as watcher:
        assert watcher.mode == "redis"
        state = random.getstate()
        server.kill()
        _wait_until(lambda: watcher.unreachable_since is not None, "the watcher to notice")
        time.sleep(1.0)  # it reconnects meanwhile (after 0.1, 0.2, 0.4 s)
        server.start()
        _wait_until(lambda: watcher.unreachable_since is None, "the watcher to reconnect")
        assert random.getstate() == state
    with pytest.raises(redis.ConnectionError):  # the premise: this client touches it
        redis.Redis(
            host="127.0.0.1", port=1, retry=Retry(EqualJitterBackoff(0.02, 0.005), 3)
        ).ping()
    assert random.getstate() != state


@pytest.mark.redis
def test_load_during_an_outage_leaves_the_global_random_state_alone(make_redis_server):
    import redis
    from hypothesis.extra.redis import RedisExampleDatabase
    from redis.backoff import EqualJitterBackoff
    from redis.retry import Retry

    import hypofuzz_nb

    server = make_redis_server()
    # A user's client whose retries draw jitter from the global random module.
    client = redis.Redis(
        host="127.0.0.1", port=server.port, retry=Retry(EqualJitterBackoff(0.02, 0.005), 3)
    )
    database = RedisExampleDatabase(client)
    assert hypofuzz_nb.load(database).database is database
    server.kill()
    state = random.getstate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unreachable-database warning, if any
        try:
            hypofuzz_nb.load(database)
        except Exception as e:  # an unreachable database may raise; it must say which
            assert str(server.port) in str(e)
    assert random.getstate() == state
    with pytest.raises(redis.ConnectionError):  # the premise: the user's client touches it
        client.ping()
    assert random.getstate() != state
