"""hypofuzz_nb.store over every kind of ExampleDatabase, with garbage and failures."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from hypothesis.database import (
    BackgroundWriteDatabase,
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    InMemoryExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from hypofuzz_nb.databases import leaf_databases, open_database, walk_databases
from hypofuzz_nb.errors import (
    DatabasePathError,
    DatabasePathIsFile,
    DatabaseUnreachable,
    HypofuzzNbError,
    ReadOnlyStoreError,
)
from hypofuzz_nb.records import (
    OBSERVATIONS_LIMIT,
    TEST_KEYS_KEY,
    WORKER_UUIDS_KEY,
    FatalFailure,
    Observation,
    Report,
    WorkerIdentity,
    corpus_key,
    corpus_observation_key,
    encode_choices,
    failure_observation_key,
    fatal_failure_key,
    fixed_key,
    key_to_base64,
    observations_key,
    reports_key,
    secondary_key,
    worker_identity_key,
)
from hypofuzz_nb.store import Store

KEY = bytes(range(48))
OTHER_KEY = bytes(range(1, 49))


def stored_reports(store: Store, key: bytes) -> list[Report]:
    """The test's valid reports, read through Store's own reader of report values."""
    columns = store.report_columns(store.fetch(reports_key(key)))
    return [
        Report(**{name: columns[name][i] for name in Report.FIELDS})
        for i in range(len(columns["nodeid"]))
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def store_redis_port() -> Iterator[int]:
    """A real redis-server on a free loopback port, stopped after the module."""
    redis = pytest.importorskip("redis")
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class MinimalDatabase(ExampleDatabase):
    """A user's own database implementing only what ExampleDatabase requires."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[bytes, set[bytes]] = {}

    def fetch(self, key):
        yield from list(self.values.get(key, ()))

    def save(self, key, value):
        self.values.setdefault(key, set()).add(value)

    def delete(self, key, value):
        self.values.get(key, set()).discard(value)


DATABASE_KINDS = ["directory", "memory", "redis", "multiplexed", "background", "minimal"]


@pytest.fixture(params=DATABASE_KINDS)
def database(request, tmp_path) -> ExampleDatabase:
    kind = request.param
    if kind == "directory":
        return DirectoryBasedExampleDatabase(tmp_path / "db")
    if kind == "memory":
        return InMemoryExampleDatabase()
    if kind == "redis":
        redis = pytest.importorskip("redis")
        from hypothesis.extra.redis import RedisExampleDatabase

        port = request.getfixturevalue("store_redis_port")
        client = redis.Redis(host="127.0.0.1", port=port)
        prefix = f"test-{request.node.name}-{time.monotonic_ns()}:".encode()
        return RedisExampleDatabase(client, key_prefix=prefix)
    if kind == "multiplexed":
        return MultiplexedDatabase(
            DirectoryBasedExampleDatabase(tmp_path / "db"), InMemoryExampleDatabase()
        )
    if kind == "background":
        return BackgroundWriteDatabase(InMemoryExampleDatabase())
    return MinimalDatabase()


def report(
    worker: str = "a" * 32,
    *,
    key: bytes = KEY,
    inputs: int = 10,
    ts: float = 1_790_000_000.0,
    behaviors: int = 1,
) -> Report:
    return Report(
        database_key=key_to_base64(key),
        nodeid="tests/test_a.py::test_a",
        elapsed_time=inputs / 100,
        timestamp=ts,
        worker_uuid=worker,
        status_counts={"0": 0, "1": 0, "2": inputs, "3": 0},
        behaviors=behaviors,
        fingerprints=1,
        since_new_behavior=3,
        phase="generate",
    )


def observation(
    representation: str = "test_a(x=1)",
    *,
    status: str = "failed",
    run_start: float = 1_790_000_000.0,
) -> Observation:
    return Observation(
        status=status,
        representation=representation,
        property="tests/test_a.py::test_a",
        run_start=run_start,
        status_reason="AssertionError at tests/test_a.py:3" if status == "failed" else "",
        metadata={"traceback": "E   AssertionError: boom\n", "reproduction_decorator": None},
    )


def identity(uuid: str = "a" * 32, pid: int = 1) -> WorkerIdentity:
    return WorkerIdentity(
        uuid=uuid,
        operating_system="Linux",
        python_version="3.11.7",
        hypothesis_version="6.170.17",
        hypofuzz_version="hypofuzz_nb-0.1.0",
        pid=pid,
        hostname="host",
    )


def test_writes_round_trip_through_reads(database):
    store = Store(database)
    store.register_test(KEY)
    store.register_worker(identity(pid=1))
    store.register_worker(identity(pid=2))  # replaces the first identity
    store.save_report(KEY, report(inputs=10))
    store.save_report(KEY, report(inputs=20, ts=1_790_000_001.0))
    shrunk, unshrunk = encode_choices((1, True)), encode_choices((500, True, 7))
    store.save_failure(KEY, "shrunk", shrunk, observation("test_a(x=1)"))
    store.save_failure(KEY, "unshrunk", unshrunk, observation("test_a(x=500)"))
    corpus_value = encode_choices((3,))
    store.save_corpus_entry(KEY, corpus_value, observation("test_a(x=3)", status="passed"))
    store.save_observation(KEY, observation("test_a(x=9)", status="passed"))
    store.save_fatal_failure(OTHER_KEY, FatalFailure("tests/test_b.py::test_b", "Traceback: no"))

    assert store.test_keys() == [KEY]
    assert [i.pid for i in store.worker_identities()] == [2]
    assert sorted(r.inputs for r in stored_reports(store, KEY)) == [10, 20]
    failures = store.failures(KEY)
    assert [(f.state, f.choices, f.observation.representation) for f in failures] == [
        ("shrunk", (1, True), "test_a(x=1)"),
        ("unshrunk", (500, True, 7), "test_a(x=500)"),
    ]
    assert store.corpus(KEY) == [(corpus_value, (3,))]
    assert store.corpus_observation(KEY, corpus_value).representation == "test_a(x=3)"
    assert [o.representation for o in store.observations(KEY)] == ["test_a(x=9)"]
    assert store.fatal_failure(OTHER_KEY).nodeid == "tests/test_b.py::test_b"
    assert store.fatal_failure(KEY) is None
    assert not store.skipped

    # where Hypothesis itself looks: K for shrunk, K.secondary for unshrunk
    assert list(database.fetch(KEY)) == [shrunk]
    assert list(database.fetch(secondary_key(KEY))) == [unshrunk]

    store.delete_corpus_entry(KEY, corpus_value)
    assert store.corpus(KEY) == []
    assert store.corpus_observation(KEY, corpus_value) is None


def test_read_only_store_refuses_writes_and_reads(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    Store(db).save_report(KEY, report())
    store = Store(db, read_only=True)
    assert isinstance(store.database, ReadOnlyDatabase)
    assert len(stored_reports(store, KEY)) == 1
    for write in (
        lambda: store.register_test(KEY),
        lambda: store.save_report(KEY, report()),
        lambda: store.save_observation(KEY, observation()),
        lambda: store.save_failure(KEY, "shrunk", b"\x00", None),
        lambda: store.register_worker(identity()),
    ):
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            write()
    assert len(list(db.fetch(reports_key(KEY)))) == 1


def test_store_reads_through_a_read_only_database(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    Store(db).save_report(KEY, report())
    assert len(stored_reports(Store(ReadOnlyDatabase(db)), KEY)) == 1


def test_observation_buffer_is_bounded_and_keeps_foreign_values():
    db = InMemoryExampleDatabase()
    foreign = [observation(f"other(x={i})", status="passed").to_bytes() for i in range(10)]
    for value in foreign:
        db.save(observations_key(KEY), value)
    store = Store(db)
    for i in range(OBSERVATIONS_LIMIT + 40):
        store.save_observation(
            KEY, observation(f"mine(x={i})", status="passed", run_start=float(i))
        )
    stored = set(db.fetch(observations_key(KEY)))
    assert len(stored) <= OBSERVATIONS_LIMIT
    assert set(foreign) <= stored  # another worker's values are never deleted
    mine = [o for o in store.observations(KEY) if o.representation.startswith("mine")]
    # the newest of ours survive, the oldest went
    assert mine[-1].representation == f"mine(x={OBSERVATIONS_LIMIT + 39})"
    assert all(o.run_start >= 50 for o in mine)


def test_fatal_failure_and_identity_keep_one_value():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.save_fatal_failure(KEY, FatalFailure("n", "first"))
    store.save_fatal_failure(KEY, FatalFailure("n", "second"))
    assert len(list(db.fetch(fatal_failure_key(KEY)))) == 1
    assert store.fatal_failure(KEY).traceback == "second"
    store.register_worker(identity(pid=1))
    store.register_worker(identity(pid=3))
    assert len(list(db.fetch(worker_identity_key("a" * 32)))) == 1


GARBAGE = [b"", b"\x80\xff", b"{", b"null", b'{"nodeid": 1}', b"[" * 50_000]


# Nearly any bytes are *some* choice sequence (b"" is the empty one); these are not.
CHOICE_GARBAGE = [b"\x80\xff", b"\xff"]


def fill_with_garbage(db: ExampleDatabase) -> int:
    """Put garbage values in every key the store reads; return keys touched."""
    for key in (KEY, secondary_key(KEY), fixed_key(KEY), corpus_key(KEY)):
        for value in CHOICE_GARBAGE:
            db.save(key, value)
    keys = [
        TEST_KEYS_KEY,
        WORKER_UUIDS_KEY,
        worker_identity_key("a" * 32),
        reports_key(KEY),
        observations_key(KEY),
        fatal_failure_key(KEY),
        failure_observation_key(KEY, "shrunk", encode_choices((1,))),
        corpus_observation_key(KEY, encode_choices((2,))),
    ]
    for key in keys:
        for value in GARBAGE:
            db.save(key, value)
    return len(keys)


def test_garbage_in_every_key_is_skipped_and_counted(database):
    store = Store(database)
    store.register_test(KEY)
    store.register_worker(identity())
    store.save_report(KEY, report())
    store.save_failure(KEY, "shrunk", encode_choices((1,)), observation())
    store.save_corpus_entry(KEY, encode_choices((2,)), observation("c", status="passed"))
    store.save_observation(KEY, observation("o", status="passed"))
    fill_with_garbage(database)

    assert store.test_keys() == [KEY]
    assert [i.uuid for i in store.worker_identities()] == ["a" * 32]
    assert len(stored_reports(store, KEY)) == 1
    assert store.fatal_failure(KEY) is None
    assert [o.representation for o in store.observations(KEY)] == ["o"]
    assert [c for _, c in store.corpus(KEY)] == [(2,)]
    assert store.corpus_observation(KEY, encode_choices((2,))).representation == "c"
    failures = store.failures(KEY)
    assert [(f.state, f.choices) for f in failures] == [("shrunk", (1,))]
    assert failures[0].observation is not None
    assert store.skipped["report"] == len(GARBAGE)
    assert store.skipped["test_key"] == len(GARBAGE)
    assert store.skipped["worker_identity"] == len(GARBAGE)
    assert store.skipped["fatal_failure"] == len(GARBAGE)
    assert store.skipped["choices"] == 4 * len(CHOICE_GARBAGE)
    assert store.skipped["observation"] > 0
    # garbage is never deleted: it belongs to someone
    assert set(GARBAGE) <= set(database.fetch(reports_key(KEY)))


def test_report_with_extra_field_is_skipped():
    db = InMemoryExampleDatabase()
    good = report().to_bytes()
    db.save(reports_key(KEY), good)
    db.save(reports_key(KEY), good[:-1] + b', "extra": 1}')
    db.save(
        reports_key(KEY),
        good.replace(b'"phase": "generate", ', b"").replace(b', "phase": "generate"', b""),
    )
    store = Store(db)
    assert len(stored_reports(store, KEY)) == 1
    assert store.skipped["report"] == 2


def test_old_since_new_branch_reports_are_read():
    db = InMemoryExampleDatabase()
    db.save(
        reports_key(KEY), report().to_bytes().replace(b"since_new_behavior", b"since_new_branch")
    )
    store = Store(db)
    assert [r.since_new_behavior for r in stored_reports(store, KEY)] == [3]
    assert store.report_columns(list(db.fetch(reports_key(KEY))))["since_new_behavior"] == [3]


def test_failure_is_fixed_when_hypothesis_deleted_it_from_the_key(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    store = Store(db)
    value = encode_choices((1, True))
    store.save_failure(KEY, "shrunk", value, observation("test_a(x=1)"))
    # what plain Hypothesis does when the saved example no longer fails
    db.delete(KEY, value)
    failures = Store(db).failures(KEY)
    assert [(f.state, f.choices_bytes, f.observation.representation) for f in failures] == [
        ("fixed", None, "test_a(x=1)")
    ]


def test_failure_moved_to_fixed_key_keeps_its_observation(tmp_path):
    db = InMemoryExampleDatabase()
    store = Store(db)
    value = encode_choices((4,))
    store.save_failure(KEY, "shrunk", value, observation("test_a(x=4)"))
    db.move(KEY, fixed_key(KEY), value)  # HypoFuzz moves without renaming the observation
    failures = store.failures(KEY)
    assert [(f.state, f.choices, f.observation.representation) for f in failures] == [
        ("fixed", (4,), "test_a(x=4)")
    ]


class Unreachable(ExampleDatabase):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    def fetch(self, key):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("connection refused")
        return iter([b"x" * 48])

    def save(self, key, value):
        raise ConnectionError("connection refused")

    def delete(self, key, value):
        raise ConnectionError("connection refused")


def test_transient_errors_are_retried():
    db = Unreachable(failures=2)
    assert Store(db).test_keys() == [b"x" * 48]
    assert db.calls == 3


def test_persistent_errors_raise_database_unreachable():
    store = Store(Unreachable(failures=100))
    with pytest.raises(DatabaseUnreachable, match="Could not read from") as info:
        store.test_keys()
    assert isinstance(info.value, HypofuzzNbError)
    with pytest.raises(DatabaseUnreachable, match="Could not write to"):
        store.register_test(KEY)


def test_unreachable_redis_raises_database_unreachable():
    redis = pytest.importorskip("redis")
    from hypothesis.extra.redis import RedisExampleDatabase
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    store = Store(RedisExampleDatabase(client))
    with pytest.raises(DatabaseUnreachable, match="Redis server running"):
        stored_reports(store, KEY)


def test_directory_database_path_that_is_a_file(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("hello")
    with pytest.raises(DatabasePathError, match="is a file, not a directory") as info:
        Store(DirectoryBasedExampleDatabase(path))
    assert isinstance(info.value, DatabasePathIsFile)  # the type collection raises too
    with pytest.raises(DatabasePathError, match="is a file"):
        Store(MultiplexedDatabase(InMemoryExampleDatabase(), DirectoryBasedExampleDatabase(path)))
    assert path.read_text() == "hello"


def test_not_a_database_is_a_clear_error():
    with pytest.raises(HypofuzzNbError, match="not an example database"):
        Store("/tmp/some/path")  # type: ignore[arg-type]


def test_fetch_many_reads_ahead_the_same_values(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    keys = [bytes([i]) * 48 for i in range(30)]
    for i, key in enumerate(keys[:-3]):  # the last three keys hold nothing
        for j in range(i):
            db.save(key, bytes([j]) * (j * 100))
    db.save(keys[0], b"")  # an empty value survives the framing
    store = Store(db)
    many = [sorted(values) for values in store.fetch_many(keys)]
    assert many == [sorted(db.fetch(key)) for key in keys]


def test_fetch_many_falls_back_when_the_helper_cannot_start(tmp_path, monkeypatch):
    import sys

    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    keys = [bytes([i]) * 48 for i in range(25)]
    for key in keys:
        db.save(key, key[:3])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    assert list(Store(db).fetch_many(keys)) == [[key[:3]] for key in keys]


@pytest.mark.parametrize(
    "bad",
    [
        {"behaviors": True},
        {"behaviors": "3"},
        {"timestamp": None},
        {"elapsed_time": [1]},
        {"nodeid": 5},
        {"worker_uuid": None},
        {"phase": "nap"},
        {"phase": ["generate"]},
        {"status_counts": {"2": "9"}},
        {"status_counts": [1, 2]},
        {"since_new_behavior": 2.5},
        {"database_key": 7},
    ],
)
def test_report_columns_skip_a_bad_report_among_good_ones(bad):
    import json

    good = [report(inputs=i, ts=1_790_000_000.0 + i).to_bytes() for i in range(5)]
    broken = json.dumps({**report().to_json(), **bad}).encode()
    renamed = good[0].replace(b'"phase"', b'"phasex"')  # same number of fields, one wrong
    store = Store(InMemoryExampleDatabase())
    columns = store.report_columns([*good, broken, renamed])
    assert columns["inputs"] == [0, 1, 2, 3, 4]
    assert store.skipped["report"] == 2


# Wrappers and Redis pipelines --------------------------------------------------------------


def test_list_keys_and_path_checks_look_inside_a_resilient_database(tmp_path):
    from hypofuzz_nb.resilient import ResilientDatabase

    memory = InMemoryExampleDatabase()
    memory.save(b"k1", b"v")
    store = Store(ReadOnlyDatabase(ResilientDatabase(memory)))
    assert store.list_keys() == {b"k1"}

    a_file = tmp_path / "not-a-directory"
    a_file.write_text("")
    with pytest.raises(DatabasePathIsFile, match="is a file, not a directory"):
        Store(ResilientDatabase(DirectoryBasedExampleDatabase(a_file)))


def _reads_processed(client) -> int:
    """How many times redis-server read from a client socket: about one per round trip."""
    return int(client.info("stats")["total_reads_processed"])


@pytest.mark.redis
def test_fetch_many_over_redis_is_one_round_trip_per_pipeline(redis_database, redis_server):
    from hypofuzz_nb import store as store_module
    from hypofuzz_nb.resilient import ResilientDatabase

    keys = [f"key-{i}".encode() for i in range(3 * store_module._PIPELINE_KEYS)]
    for i, key in enumerate(keys):
        for j in range(i % 4):
            redis_database.save(key, f"value-{j}".encode())
    store = Store(ResilientDatabase(redis_database), read_only=True)
    expected = [sorted(store.fetch(key)) for key in keys]
    observer = redis_server.client()
    baseline = _reads_processed(observer)
    baseline = _reads_processed(observer) - baseline  # INFO's own read
    before = _reads_processed(observer)
    fetched = [sorted(values) for values in store.fetch_many(keys)]
    round_trips = _reads_processed(observer) - before - baseline
    assert fetched == expected
    assert round_trips <= 3 + 1, round_trips  # one per pipeline, not one per key (30)


@pytest.mark.redis
def test_fetch_many_over_a_dead_redis_says_what_to_fix(make_redis_server):
    from hypofuzz_nb.redis_url import redis_database_from_url

    server = make_redis_server()
    store = Store(redis_database_from_url(server.url), read_only=True)
    server.kill()
    with pytest.raises(HypofuzzNbError, match="Check that the database is reachable"):
        list(store.fetch_many([b"a", b"b", b"c"]))


# The stop mark (hypofuzz_nb.stopped_workers) ------------------------------------------


def test_a_stop_mark_is_ours_and_leaves_hypofuzz_records_as_they_are(database):
    import json

    from hypofuzz_nb.records import STOPPED_WORKERS_KEY

    store = Store(database)
    store.register_worker(identity())
    store.save_report(KEY, report())
    before = {k: set(database.fetch(k)) for k in (reports_key(KEY), worker_identity_key("a" * 32))}
    store.mark_worker_stopped("a" * 32, now=1_790_000_100.0)

    assert store.stopped_workers() == {"a" * 32: 1_790_000_100.0}
    assert STOPPED_WORKERS_KEY.startswith(b"hypofuzz_nb.")
    [value] = database.fetch(STOPPED_WORKERS_KEY)
    assert json.loads(value) == {"worker_uuid": "a" * 32, "stopped_at": 1_790_000_100.0}
    # HypoFuzz rebuilds its records with Cls(**json): they must not change at all.
    after = {k: set(database.fetch(k)) for k in before}
    assert after == before
    assert stored_reports(store, KEY) == [report()]


def test_old_stop_marks_are_pruned_and_garbage_under_the_key_is_skipped_not_deleted():
    from hypofuzz_nb.records import STOPPED_WORKERS_KEY
    from hypofuzz_nb.store import STOPPED_MARK_KEEP_S

    database = InMemoryExampleDatabase()
    store = Store(database)
    now = 1_790_000_000.0
    store.mark_worker_stopped("old", now=now - STOPPED_MARK_KEEP_S - 1)
    store.mark_worker_stopped("recent", now=now - 60)
    for value in GARBAGE:
        database.save(STOPPED_WORKERS_KEY, value)
    odd = [
        b'{"worker_uuid": "x", "stopped_at": NaN}',
        b'{"worker_uuid": "", "stopped_at": 1}',
        b'{"worker_uuid": "x", "stopped_at": 1, "extra": 1}',
        b'{"worker_uuid": 7, "stopped_at": 1}',
    ]
    for value in odd:
        database.save(STOPPED_WORKERS_KEY, value)

    store.mark_worker_stopped("new", now=now)

    assert store.stopped_workers() == {"recent": now - 60, "new": now}
    assert store.skipped["stopped_worker"] == len(set(GARBAGE)) + len(odd)
    left = set(database.fetch(STOPPED_WORKERS_KEY))
    assert set(GARBAGE) | set(odd) <= left  # someone else's values: never deleted


def test_a_read_only_store_cannot_mark_a_worker_stopped(tmp_path):
    store = Store(DirectoryBasedExampleDatabase(tmp_path / "db"), read_only=True)
    with pytest.raises(ReadOnlyStoreError):
        store.mark_worker_stopped("a" * 32)


def test_recent_reports_of_a_stopped_worker_read_as_idle_and_a_new_worker_as_running():
    from hypofuzz_nb.frames import load

    database = InMemoryExampleDatabase()
    store = Store(database)
    store.register_test(KEY)
    store.register_test(OTHER_KEY)
    now = time.time()
    store.save_report(KEY, report("a" * 32, ts=now - 5))
    store.save_report(OTHER_KEY, report("b" * 32, key=OTHER_KEY, ts=now - 5))
    # Two workers shared OTHER_KEY; only one of them stopped.
    store.save_report(OTHER_KEY, report("c" * 32, key=OTHER_KEY, ts=now - 10))
    store.mark_worker_stopped("a" * 32)
    store.mark_worker_stopped("b" * 32)

    tests = load(database).tests
    statuses = dict(zip(tests["database_key"], tests["status"], strict=True))
    assert statuses == {key_to_base64(KEY): "idle", key_to_base64(OTHER_KEY): "running"}

    # A later session starts: its worker has a uuid of its own, so nothing is cleared.
    store.save_report(KEY, report("d" * 32, ts=time.time()))
    tests = load(database).tests
    assert tests.loc[tests["database_key"] == key_to_base64(KEY), "status"].tolist() == ["running"]


def test_clear_fatal_failure_deletes_the_record():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.save_fatal_failure(KEY, FatalFailure("n", "Traceback"))
    store.save_fatal_failure(OTHER_KEY, FatalFailure("m", "Traceback"))
    db.save(fatal_failure_key(KEY), b"garbage too")
    store.clear_fatal_failure(KEY)
    assert store.fatal_failure(KEY) is None
    assert list(db.fetch(fatal_failure_key(KEY))) == []
    assert store.fatal_failure(OTHER_KEY).nodeid == "m"
    store.clear_fatal_failure(KEY)  # nothing left to delete: a no-op


def test_one_walk_looks_through_every_kind_of_wrapper(tmp_path):
    from hypothesis.database import BackgroundWriteDatabase

    from hypofuzz_nb.resilient import ResilientDatabase

    a = DirectoryBasedExampleDatabase(tmp_path / "a")
    b = DirectoryBasedExampleDatabase(tmp_path / "b")
    memory = InMemoryExampleDatabase()
    top = MultiplexedDatabase(ReadOnlyDatabase(a), ResilientDatabase(memory))
    walked = [db for db, _inner in walk_databases(top)]
    assert walked[0] is top and walked[-1] is memory
    assert leaf_databases(top) == [a, memory]
    assert leaf_databases(BackgroundWriteDatabase(b)) == [b]
    assert leaf_databases(memory) == [memory]


def test_a_wrapper_that_wraps_itself_does_not_loop():
    class Loop(InMemoryExampleDatabase):
        pass

    loop = Loop()
    loop.inner = ReadOnlyDatabase(loop)
    assert len(list(walk_databases(loop))) == 2
    assert leaf_databases(loop) == []


def test_fingerprint_changes_with_the_values_and_probe_reads_nothing(tmp_path):
    for db in (InMemoryExampleDatabase(), DirectoryBasedExampleDatabase(tmp_path / "db")):
        store = Store(db, read_only=True)
        empty = store.fingerprint(KEY)
        db.save(KEY, b"v")
        assert store.fingerprint(KEY) != empty
        db.delete(KEY, b"v")
        assert store.fingerprint(KEY) == empty
        store.probe()


def test_open_database_refuses_a_file_and_a_missing_path(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(DatabasePathIsFile, match="is a file, not a directory"):
        open_database(a_file)
    with pytest.raises(DatabasePathError, match="does not exist"):
        open_database(tmp_path / "missing")
    assert open_database(tmp_path).path == tmp_path


def test_reports_are_read_back_with_garbage_skipped_and_counted():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.save_report(KEY, report(inputs=10))
    store.save_report(KEY, report(inputs=20, ts=1_790_000_001.0))
    db.save(reports_key(KEY), b"{not json")
    read = Store(db, read_only=True)
    assert sorted(r.status_counts["2"] for r in read.reports(KEY)) == [10, 20]
    assert read.skipped["report"] == 1
    assert read.reports(OTHER_KEY) == []


def test_the_shared_probe_is_found_only_where_it_was_written():
    from hypofuzz_nb.records import shared_probe_key

    here, elsewhere = InMemoryExampleDatabase(), InMemoryExampleDatabase()
    key = shared_probe_key("session-1")
    Store(here).save_shared_probe(key, b"secret")
    assert Store(here, read_only=True).shares_probe(key, b"secret")
    assert not Store(here, read_only=True).shares_probe(key, b"other")
    assert not Store(elsewhere, read_only=True).shares_probe(key, b"secret")
    Store(here).delete_shared_probe(key, b"secret")
    assert not Store(here, read_only=True).shares_probe(key, b"secret")
