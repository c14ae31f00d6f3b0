"""ResilientDatabase: writes survive an unreachable database, directory writes are race-safe."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest
from hypothesis.database import (
    BackgroundWriteDatabase,
    DirectoryBasedExampleDatabase,
    InMemoryExampleDatabase,
)

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import (
    DatabaseReadError,
    DatabaseUnreachable,
    DatabaseUnreachableWarning,
    HypofuzzNbError,
)
from hypofuzz_nb.records import observations_key, reports_key, secondary_key
from hypofuzz_nb.redis_url import redis_database_from_url
from hypofuzz_nb.resilient import ResilientDatabase
from hypofuzz_nb.store import Store

KEY = bytes(range(48))


def _broken_directory(tmp_path: Path) -> tuple[DirectoryBasedExampleDatabase, Path]:
    """A directory database that cannot be written even by root: its parent is a file."""
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a regular file where a directory should be")
    return DirectoryBasedExampleDatabase(blocker / "examples"), blocker


def _repair(blocker: Path) -> None:
    blocker.unlink()
    blocker.mkdir(exist_ok=True)  # the retry thread may recreate it first


# Directory databases --------------------------------------------------------------------


def test_directory_write_roundtrip_and_delete_keeps_key_directory(tmp_path):
    inner = DirectoryBasedExampleDatabase(tmp_path / "db")
    db = ResilientDatabase(inner)
    db.save(KEY, b"v1")
    assert set(db.fetch(KEY)) == {b"v1"}
    db.delete(KEY, b"v1")
    assert set(db.fetch(KEY)) == set()
    # Our delete never removes the key directory, so it cannot race a concurrent save.
    assert [p for p in (tmp_path / "db").iterdir() if p.is_dir()]
    assert KEY in set(_compat.store_list_keys(inner) or ())
    assert db.pending_writes == 0
    assert db.unreachable_since is None


def test_unwritable_directory_buffers_with_clear_error_then_writes_all(tmp_path):
    inner, blocker = _broken_directory(tmp_path)
    db = ResilientDatabase(inner, max_backoff=0.2)
    db.save(KEY, b"failure")  # Hypothesis' own save swallows the OSError: we must not
    db.save(reports_key(KEY), b"report")
    assert db.pending_writes == 2
    assert db.unreachable_since is not None
    assert "Not a directory" in db.last_error
    assert str(blocker) in db.last_error
    assert "writable" in db.last_error
    _repair(blocker)
    assert db.flush(timeout=30)
    assert set(inner.fetch(KEY)) == {b"failure"}
    assert set(inner.fetch(reports_key(KEY))) == {b"report"}
    assert db.pending_writes == 0
    assert db.unreachable_since is None
    assert db.recovered_writes == 2
    db.close()


def test_fetch_error_is_a_clear_hypofuzz_error():
    class Unreadable(InMemoryExampleDatabase):
        def fetch(self, key):
            raise PermissionError(13, "Permission denied", "/srv/db")

    with pytest.raises(DatabaseReadError) as info:
        ResilientDatabase(Unreadable()).fetch(KEY)
    assert isinstance(info.value, DatabaseUnreachable)
    assert isinstance(info.value, HypofuzzNbError)
    message = str(info.value)
    assert "Permission denied" in message
    assert "Check that it is reachable" in message


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_immutable_directory_is_reported_and_recovered(tmp_path):
    path = tmp_path / "db"
    path.mkdir()
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not permitted on this file system")
    try:
        inner = DirectoryBasedExampleDatabase(path)
        db = ResilientDatabase(inner, max_backoff=0.2)
        db.save(KEY, b"failure")
        assert db.pending_writes == 1
        assert "Operation not permitted" in db.last_error
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert db.flush(timeout=30)
    assert set(inner.fetch(KEY)) == {b"failure"}


def test_full_buffer_drops_observations_then_reports_never_failures(tmp_path):
    inner, blocker = _broken_directory(tmp_path)
    db = ResilientDatabase(inner, max_pending=30, max_backoff=0.2)
    failures = [b"failure-%d" % i for i in range(10)]
    for value in failures:
        db.save(KEY, value)
    for i in range(20):
        db.save(reports_key(KEY), b"report-%d" % i)
    for i in range(20):
        db.save(observations_key(KEY), b"observation-%d" % i)
    for i in range(5):
        db.save(secondary_key(KEY), b"unshrunk-%d" % i)
    # 55 writes into 30 places: all 15 failures kept, observations gone, the newest reports kept.
    assert db.pending_writes == 30
    assert db.dropped_writes == 25
    _repair(blocker)
    assert db.flush(timeout=30)
    assert set(inner.fetch(KEY)) == set(failures)
    assert len(set(inner.fetch(secondary_key(KEY)))) == 5
    assert set(inner.fetch(reports_key(KEY))) == {b"report-%d" % i for i in range(5, 20)}
    assert set(inner.fetch(observations_key(KEY))) == set()


def test_only_failures_beyond_the_bound_are_still_kept(tmp_path):
    inner, blocker = _broken_directory(tmp_path)
    db = ResilientDatabase(inner, max_pending=5, max_backoff=0.2)
    for i in range(12):
        db.save(KEY, b"failure-%d" % i)
    assert db.pending_writes == 12
    assert db.dropped_writes == 0
    _repair(blocker)
    assert db.flush(timeout=30)
    assert len(set(inner.fetch(KEY))) == 12


def test_latest_write_of_a_pair_wins_after_an_outage(tmp_path):
    inner, blocker = _broken_directory(tmp_path)
    db = ResilientDatabase(inner, max_backoff=0.2)
    db.save(KEY, b"saved-then-deleted")
    db.delete(KEY, b"saved-then-deleted")
    db.delete(KEY, b"deleted-then-saved")
    db.save(KEY, b"deleted-then-saved")
    _repair(blocker)
    assert db.flush(timeout=30)
    assert set(inner.fetch(KEY)) == {b"deleted-then-saved"}


RACE_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypofuzz_nb.resilient import ResilientDatabase

    role, path, limit, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    db = DirectoryBasedExampleDatabase(path)
    key = b"k" * 48
    deadline = time.monotonic() + seconds
    if role == "churn":
        # What plain pytest does to a failure that no longer fails: save, then delete.
        i = 0
        while time.monotonic() < deadline and i < limit:
            value = b"churn-%d" % (i % 3)
            db.save(key, value)
            db.delete(key, value)
            i += 1
        print("churned", i)
    else:
        writer = ResilientDatabase(db) if role == "resilient" else db
        lost = tries = 0
        while time.monotonic() < deadline and tries < limit:
            value = b"mine-%d-%d" % (os.getpid(), tries)
            writer.save(key, value)
            tries += 1
            # Lost: neither in the database nor waiting in our buffer to be written.
            buffered = writer.buffered_saves(key) if role == "resilient" else []
            if value not in set(db.fetch(key)) and value not in buffered:
                lost += 1
                if role == "plain":
                    break  # reproduced
            writer.delete(key, value)
        if role == "resilient":
            assert writer.close(timeout=60), "buffered writes were never written"
        print("lost", lost, "of", tries)
    """
)


def _race(tmp_path: Path, role: str, limit: int, seconds: float) -> tuple[int, int]:
    script = tmp_path / "race.py"
    script.write_text(RACE_SCRIPT)
    path = str(tmp_path / f"db-{role}")
    churners = [
        subprocess.Popen(
            [sys.executable, str(script), "churn", path, "200000", str(seconds)],
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        writer = subprocess.run(
            [sys.executable, str(script), role, path, str(limit), str(seconds)],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        for churner in churners:
            churner.kill()
            churner.wait()
    assert writer.returncode == 0, writer.stderr
    _, lost, _, tries = writer.stdout.split()
    return int(lost), int(tries)


def test_plain_directory_database_loses_saves_under_concurrent_delete(tmp_path):
    """Reproduces Hypothesis' race: delete removes the emptied key directory while another
    process is about to rename its new value into it; the save's OSError is swallowed."""
    lost, tries = _race(tmp_path, "plain", limit=50_000, seconds=15)
    assert lost == 1, f"no save was lost in {tries} tries: has Hypothesis fixed the race?"


def test_resilient_writer_loses_nothing_under_concurrent_delete(tmp_path):
    lost, tries = _race(tmp_path, "resilient", limit=1500, seconds=6)
    assert tries > 100
    assert lost == 0


# Redis and wrappers ------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_killed_writes_are_buffered_and_written_after_restart(make_redis_server):
    server = make_redis_server()
    inner = redis_database_from_url(server.url)
    db = ResilientDatabase(inner, max_backoff=0.3)
    db.save(KEY, b"before")
    server.kill()
    values = [b"during-%d" % i for i in range(50)]
    for value in values:
        db.save(reports_key(KEY), value)  # never raises
    db.save(KEY, b"failure-during-outage")
    assert db.pending_writes == 51
    assert db.unreachable_since is not None
    assert "Connection" in db.last_error
    with pytest.raises(DatabaseReadError, match="Redis server running") as info:
        db.fetch(KEY)
    assert f"the Redis database at 127.0.0.1:{server.port}/0" in str(info.value)
    server.start()  # comes back empty: nothing was persisted
    assert db.flush(timeout=30)
    assert set(inner.fetch(reports_key(KEY))) == set(values)
    assert set(inner.fetch(KEY)) == {b"failure-during-outage"}
    assert db.unreachable_since is None
    db.close()


@pytest.mark.redis
def test_background_write_database_with_failing_inner_does_not_hang(make_redis_server):
    """Hypothesis' BackgroundWriteDatabase thread dies on its inner database's first
    exception and every later fetch waits forever; wrapped by us it is unwrapped."""
    server = make_redis_server()
    inner = redis_database_from_url(server.url)
    db = ResilientDatabase(BackgroundWriteDatabase(inner), max_backoff=0.3)
    assert db.inner is inner
    server.kill()
    outcome: list[object] = []

    def worker_step() -> None:
        store = Store(db)
        store.register_test(KEY)  # buffered, returns at once
        try:
            store.fetch(KEY)
        except HypofuzzNbError as err:
            outcome.append(err)

    thread = threading.Thread(target=worker_step, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the worker hung on a BackgroundWriteDatabase"
    assert isinstance(outcome[0], DatabaseUnreachable)
    server.start()
    assert db.flush(timeout=30)
    assert KEY in set(inner.fetch(b"hypofuzz.test_keys"))


def test_listeners_pass_through_to_the_inner_database():
    inner = InMemoryExampleDatabase()
    db = ResilientDatabase(inner)
    events = []
    db.add_listener(events.append)
    db.save(KEY, b"v")
    db.remove_listener(events.append)
    assert events == [("save", (KEY, b"v"))]


def test_repr_names_the_inner_database(tmp_path):
    inner = DirectoryBasedExampleDatabase(tmp_path)
    assert repr(ResilientDatabase(inner)) == f"ResilientDatabase({inner!r})"
    assert ResilientDatabase(inner) == ResilientDatabase(ResilientDatabase(inner))


def test_close_reports_unwritten_writes(tmp_path):
    inner, _blocker = _broken_directory(tmp_path)
    db = ResilientDatabase(inner, max_backoff=0.1)
    db.save(KEY, b"stuck")
    assert db.close(timeout=0.5) is False
    assert db.pending_writes == 1


@pytest.mark.redis
def test_memory_mode_reads_buffered_writes_during_an_outage_and_warns_once(make_redis_server):

    server = make_redis_server()
    inner = redis_database_from_url(server.url)
    db = ResilientDatabase(inner, max_backoff=0.3, on_read_error="memory")
    db.save(KEY, b"stored")
    server.kill()
    db.save(KEY, b"buffered")
    db.delete(KEY, b"deleted while down")
    with pytest.warns(DatabaseUnreachableWarning, match="goes on with what it has in memory"):
        assert list(db.fetch(KEY)) == [b"buffered"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second read in the same outage does not warn
        assert list(db.fetch(secondary_key(KEY))) == []
    server.start()
    assert db.flush(timeout=30)
    assert set(db.fetch(KEY)) == {b"buffered"}  # the server came back empty


def test_on_read_error_is_checked():
    with pytest.raises(ValueError, match="on_read_error must be"):
        ResilientDatabase(InMemoryExampleDatabase(), on_read_error="ignore")


def test_pickles_as_a_fresh_wrapper_of_the_same_database(tmp_path):
    import pickle

    db = ResilientDatabase(
        DirectoryBasedExampleDatabase(tmp_path), max_pending=7, on_read_error="memory"
    )
    copy = pickle.loads(pickle.dumps(db))
    assert copy == db
    assert (copy.max_pending, copy.on_read_error) == (7, "memory")
    copy.save(KEY, b"from a worker process")
    assert set(db.fetch(KEY)) == {b"from a worker process"}


# Outages stay off the caller's thread -------------------------------------------------------


def _wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _jitter_client(server):
    """A user's client whose retries draw jitter from the global random module
    (as redis-py's default for ``Redis(host=...)`` does, only quicker)."""
    import redis
    from redis.backoff import EqualJitterBackoff
    from redis.retry import Retry

    return redis.Redis(
        host="127.0.0.1", port=server.port, retry=Retry(EqualJitterBackoff(0.02, 0.005), 3)
    )


@pytest.mark.redis
def test_failing_redis_writes_leave_the_global_random_state_alone(make_redis_server):
    import redis
    from hypothesis.extra.redis import RedisExampleDatabase

    server = make_redis_server()
    client = _jitter_client(server)
    db = ResilientDatabase(
        RedisExampleDatabase(client), initial_backoff=0.01, max_backoff=0.05, on_read_error="memory"
    )
    server.kill()
    state = random.getstate()
    db.save(KEY, b"failure")
    with pytest.warns(DatabaseUnreachableWarning):
        assert list(db.fetch(KEY)) == [b"failure"]
    _wait_until(lambda: db.failed_retries >= 3, "the background thread to retry")
    assert random.getstate() == state
    # The same write through the user's client does touch it: why the wrapper has its own.
    with pytest.raises(redis.ConnectionError):
        RedisExampleDatabase(client).save(KEY, b"direct")
    assert random.getstate() != state
    server.start()
    assert db.flush(timeout=30)
    assert set(RedisExampleDatabase(client).fetch(KEY)) == {b"failure"}


@pytest.mark.redis
def test_callers_touch_a_database_known_down_once_per_outage(make_redis_server):
    server = make_redis_server()
    inner = redis_database_from_url(server.url)
    db = ResilientDatabase(inner, initial_backoff=0.01, max_backoff=0.05, on_read_error="memory")
    db.save(KEY, b"before")
    server.kill()
    values = [b"during-%d" % i for i in range(50)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatabaseUnreachableWarning)
        for i, value in enumerate(values):
            db.save(reports_key(KEY), value)
            assert list(db.fetch(reports_key(KEY))) == values[: i + 1]  # from memory
    # The first save found the server down; every later call was kept off it.
    assert db.failed_direct_calls == 1
    _wait_until(lambda: db.failed_retries >= 2, "the background thread to retry")
    assert db.failed_direct_calls == 1
    server.start()  # comes back empty
    assert db.flush(timeout=30)
    assert set(inner.fetch(reports_key(KEY))) == set(values)
    # Closed again: reads go to the server and see what others wrote there.
    inner.save(KEY, b"written elsewhere")
    assert list(db.fetch(KEY)) == [b"written elsewhere"]
    assert db.failed_direct_calls == 1
    db.close()


@pytest.mark.redis
def test_a_failed_read_opens_the_breaker_and_the_background_thread_closes_it(make_redis_server):
    server = make_redis_server()
    inner = redis_database_from_url(server.url)
    db = ResilientDatabase(inner, initial_backoff=0.01, max_backoff=0.05, on_read_error="memory")
    server.kill()
    with pytest.warns(DatabaseUnreachableWarning, match="goes on with what it has in memory"):
        assert list(db.fetch(KEY)) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per outage
        for _ in range(20):
            assert list(db.fetch(KEY)) == []
    assert db.failed_direct_calls == 1
    # Nothing to write, so the background thread probes with reads.
    _wait_until(lambda: db.failed_retries >= 2, "the background thread to probe")
    assert db.unreachable_since is not None
    server.start()
    inner.save(KEY, b"written elsewhere")
    _wait_until(lambda: db.unreachable_since is None, "the probe to find the server back")
    assert list(db.fetch(KEY)) == [b"written elsewhere"]
    assert db.failed_direct_calls == 1


def test_private_database_is_one_copy_per_redis_database_and_the_database_otherwise(tmp_path):
    import redis
    from hypothesis.extra.redis import RedisExampleDatabase

    from hypofuzz_nb.resilient import private_database

    user = RedisExampleDatabase(redis.Redis(host="127.0.0.1", port=1))
    copy = private_database(user)
    assert copy is not user
    assert copy.redis.connection_pool is not user.redis.connection_pool
    assert private_database(user) is copy  # readers may call it per read
    other = RedisExampleDatabase(redis.Redis(host="127.0.0.1", port=1))
    assert private_database(other) is not copy
    directory = DirectoryBasedExampleDatabase(tmp_path)
    assert private_database(directory) is directory
