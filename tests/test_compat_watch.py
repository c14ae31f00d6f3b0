"""The watch section of _compat against the installed Hypothesis (and redis extra)."""

from __future__ import annotations

import base64
import importlib.util
import json

import pytest
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    InMemoryExampleDatabase,
    ReadOnlyDatabase,
)

from hypofuzz_nb import _compat

KEY = b"k" * 48


class Minimal(ExampleDatabase):
    def __init__(self):
        super().__init__()

    def fetch(self, key):
        return []

    def save(self, key, value):
        pass

    def delete(self, key, value):
        pass


def test_supports_listeners():
    assert _compat.watch_supports_listeners(InMemoryExampleDatabase())
    assert _compat.watch_supports_listeners(ReadOnlyDatabase(InMemoryExampleDatabase()))
    assert not _compat.watch_supports_listeners(Minimal())
    assert not _compat.watch_supports_listeners(object())


def test_directory_listeners_need_watchdog(tmp_path):
    has_watchdog = importlib.util.find_spec("watchdog") is not None
    assert _compat.watch_supports_listeners(DirectoryBasedExampleDatabase(tmp_path)) is has_watchdog


def test_redis_is_recognised_and_not_a_self_delivering_listener():
    import redis
    from hypothesis.extra.redis import RedisExampleDatabase

    db = RedisExampleDatabase(redis.Redis(port=1))  # never connected
    assert _compat.watch_is_redis_database(db)
    assert not _compat.watch_is_redis_database(InMemoryExampleDatabase())
    assert not _compat.watch_supports_listeners(db)


@pytest.mark.redis
def test_decode_redis_message_reads_what_hypothesis_publishes(redis_database):
    pubsub = redis_database.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(redis_database.listener_channel)
    try:
        redis_database.save(KEY, b"\x00value")
        redis_database.delete(KEY, b"\x00value")
        decoded = []
        for _ in range(100):  # bounded: both messages are already on their way
            message = pubsub.get_message(timeout=0.2)
            if message is not None:
                decoded.append(_compat.watch_decode_redis_message(message["data"]))
            if len(decoded) == 2:
                break
    finally:
        pubsub.close()
    assert decoded == [("save", KEY, b"\x00value"), ("delete", KEY, b"\x00value")]


def test_decode_redis_message_garbage_is_none():
    assert _compat.watch_decode_redis_message(b"not json") is None
    assert _compat.watch_decode_redis_message(b"[1, 2, 3]") is None
    assert _compat.watch_decode_redis_message(json.dumps(["save", ["!!", "x"]])) is None
    ok = json.dumps(["delete", [base64.b64encode(KEY).decode(), None]])
    assert _compat.watch_decode_redis_message(ok) == ("delete", KEY, None)


def test_directory_value_names_change_with_values(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path)
    assert _compat.store_directory_value_names(db, KEY) == []
    db.save(KEY, b"a")
    first = _compat.store_directory_value_names(db, KEY)
    db.save(KEY, b"b")
    second = _compat.store_directory_value_names(db, KEY)
    assert len(first) == 1
    assert len(second) == 2
    assert set(first) < set(second)
