"""DatabaseWatcher and redis_database_from_url, on real databases and a real redis-server."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    InMemoryExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from hypofuzz_nb.errors import HypofuzzNbError, RedisUrlError
from hypofuzz_nb.records import TEST_KEYS_KEY, reports_key
from hypofuzz_nb.redis_url import redact_url, redis_database_from_url
from hypofuzz_nb.resilient import ResilientDatabase
from hypofuzz_nb.watch import DatabaseWatcher

KEY = bytes(range(48))
PASSWORD = "pw-Zq81-never-shown"
WAIT = 20.0  # upper bound for anything the watcher should notice; never a measurement


class Recorder:
    """Collects the watcher's calls, with when they happened."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, set[bytes] | None]] = []
        self.changed = threading.Condition()

    def __call__(self, keys: set[bytes] | None) -> None:
        with self.changed:
            self.calls.append((time.monotonic(), keys))
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        with self.changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out waiting for {what}; calls: {self.calls}"
                self.changed.wait(min(remaining, 0.1))

    def saw(self, key: bytes) -> bool:
        return any(keys is None or key in keys for _, keys in self.calls)


def _wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_in_memory_database_is_watched_through_listeners():
    db = InMemoryExampleDatabase()
    recorder = Recorder()
    with DatabaseWatcher(db, recorder) as watcher:
        assert watcher.mode == "listener"
        db.save(reports_key(KEY), b"report")
        recorder.wait_for(lambda: recorder.saw(reports_key(KEY)), "the save")
    assert recorder.calls[0][1] == {reports_key(KEY)}
    assert not watcher.running
    assert db._listeners == []  # stop removed our listener


def test_directory_database_without_watchdog_is_polled(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    db.save(TEST_KEYS_KEY, KEY)
    recorder = Recorder()
    watcher = DatabaseWatcher(db, recorder, poll_interval=0.1)
    assert watcher.mode in ("poll", "listener")  # listener only with watchdog installed
    with watcher:
        # Written by another database object, as another process would.
        DirectoryBasedExampleDatabase(tmp_path / "db").save(reports_key(KEY), b"report")
        recorder.wait_for(lambda: recorder.saw(reports_key(KEY)), "the new report")
    assert watcher.unreachable_since is None


def test_bursts_are_coalesced_at_most_twice_a_second():
    db = InMemoryExampleDatabase()
    recorder = Recorder()
    with DatabaseWatcher(db, recorder):
        deadline = time.monotonic() + 1.6
        n = 0
        while time.monotonic() < deadline and n < 200_000:
            db.save(reports_key(KEY), b"report-%d" % n)
            n += 1
            if n % 500 == 0:
                time.sleep(0.001)
        recorder.wait_for(lambda: recorder.saw(reports_key(KEY)), "the burst")
    times = [t for t, _ in recorder.calls]
    assert len(times) < n / 10  # coalesced
    assert all(b - a >= 0.49 for a, b in itertools.pairwise(times)), times


def test_a_raising_callback_does_not_stop_the_watcher():
    db = InMemoryExampleDatabase()
    seen: list[set[bytes] | None] = []

    def callback(keys: set[bytes] | None) -> None:
        seen.append(keys)
        if len(seen) == 1:
            raise RuntimeError("bug in the dashboard")

    with DatabaseWatcher(db, callback) as watcher:
        db.save(b"first", b"v")
        _wait_until(lambda: watcher.callback_error is not None, "the first call")
        db.save(b"second", b"v")
        _wait_until(lambda: len(seen) >= 2, "the second call")
        assert watcher.running
    assert isinstance(watcher.callback_error, RuntimeError)
    assert seen[1] == {b"second"}


def test_wrappers_are_looked_through(tmp_path):
    memory = InMemoryExampleDatabase()
    directory = DirectoryBasedExampleDatabase(tmp_path)
    watcher = DatabaseWatcher(
        ReadOnlyDatabase(MultiplexedDatabase(ResilientDatabase(memory), directory)),
        print,
    )
    assert watcher.mode == "listener+poll"


# Redis ---------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_changes_arrive_through_pubsub_from_another_client(redis_server):
    redis_server.flush()
    reader = redis_database_from_url(redis_server.url)
    writer = redis_database_from_url(redis_server.url)
    recorder = Recorder()
    with DatabaseWatcher(ReadOnlyDatabase(reader), recorder) as watcher:
        assert watcher.mode == "redis"
        # start() returns once subscribed: a change right after it is heard.
        writer.save(reports_key(KEY), b"report")
        recorder.wait_for(lambda: recorder.saw(reports_key(KEY)), "the save")
        assert recorder.saw(reports_key(KEY))
        assert watcher.unreachable_since is None


@pytest.mark.redis
def test_redis_outage_is_reported_and_recovered_by_itself(make_redis_server):
    server = make_redis_server(password=PASSWORD)
    db = redis_database_from_url(server.url)
    recorder = Recorder()
    with DatabaseWatcher(db, recorder) as watcher:
        _wait_until(lambda: watcher.running, "the watcher")
        before = time.time()
        server.kill()
        _wait_until(lambda: watcher.unreachable_since is not None, "the outage")
        assert watcher.unreachable_since >= before - 1
        assert "Connection" in watcher.last_error
        assert PASSWORD not in watcher.last_error
        calls_before = len(recorder.calls)
        server.start()
        _wait_until(lambda: watcher.unreachable_since is None, "the recovery")
        # Changes during the outage were missed: the dashboard is told to reload everything.
        recorder.wait_for(
            lambda: any(keys is None for _, keys in recorder.calls[calls_before:]),
            "a full refresh",
        )
        assert watcher.last_error is None
        redis_database_from_url(server.url).save(reports_key(KEY), b"after")
        recorder.wait_for(lambda: recorder.saw(reports_key(KEY)), "a change after recovery")
    assert PASSWORD not in repr(watcher)


@pytest.mark.redis
def test_password_url_works_and_is_never_shown(make_redis_server):
    server = make_redis_server(password=PASSWORD)
    db = redis_database_from_url(server.url, check=True)
    db.save(KEY, b"v")
    assert set(db.fetch(KEY)) == {b"v"}
    resilient = ResilientDatabase(db)
    for text in (repr(db), repr(resilient), str(db), redact_url(server.url)):
        assert PASSWORD not in text
    assert redact_url(server.url) == f"redis://:***@127.0.0.1:{server.port}/0"

    wrong = server.url.replace(PASSWORD, "wrong-" + PASSWORD[::-1])
    with pytest.raises(RedisUrlError, match="refused the password") as info:
        redis_database_from_url(wrong, check=True)
    assert PASSWORD[::-1] not in str(info.value)
    assert info.value.__cause__ is None  # nothing chained that could quote the URL

    server.kill()
    with pytest.raises(RedisUrlError, match="Could not reach") as info:
        redis_database_from_url(server.url, check=True)
    assert PASSWORD not in str(info.value)
    resilient.save(KEY, b"during outage")
    assert PASSWORD not in (resilient.last_error or "")


@pytest.mark.parametrize(
    "url",
    [
        "http://:secret-pw@host:6379/0",
        "localhost:6379",
        "redis://:secret-pw@host:notaport/0",
    ],
)
def test_bad_redis_urls_get_a_clear_error_without_the_password(url):
    pytest.importorskip("redis")
    with pytest.raises(RedisUrlError) as info:
        redis_database_from_url(url)
    assert isinstance(info.value, HypofuzzNbError)
    assert "secret-pw" not in str(info.value)
    assert "redis://" in str(info.value)


def test_redact_url_forms():
    assert redact_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
    assert "pw" not in redact_url("redis://h:1/0?password=pw&db=2")
    assert redact_url("rediss://:p%40ss@h/0") == "rediss://:***@h/0"


class NetworkDatabase(ExampleDatabase):
    """A user's own database without change listening, whose server can go away."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[bytes, set[bytes]] = {}
        self.down = False

    def fetch(self, key):
        if self.down:
            raise ConnectionError("server at db.internal:9000 is not answering")
        return iter(set(self.data.get(key, ())))

    def save(self, key, value):
        self.data.setdefault(key, set()).add(value)

    def delete(self, key, value):
        self.data.get(key, set()).discard(value)


def test_polled_database_outage_is_reported_and_recovered():
    db = NetworkDatabase()
    db.save(TEST_KEYS_KEY, KEY)
    recorder = Recorder()
    with DatabaseWatcher(db, recorder, poll_interval=0.05) as watcher:
        assert watcher.mode == "poll"
        db.down = True
        _wait_until(lambda: watcher.unreachable_since is not None, "the outage")
        assert "db.internal:9000" in watcher.last_error
        db.save(reports_key(KEY), b"written during the outage")
        db.down = False
        _wait_until(lambda: watcher.unreachable_since is None, "the recovery")
        recorder.wait_for(lambda: any(k is None for _, k in recorder.calls), "a full refresh")
        assert watcher.last_error is None
