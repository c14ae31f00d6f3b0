"""The store section of hypofuzz_nb._compat, against the installed Hypothesis."""

from __future__ import annotations

import os

import pytest
from hypothesis.database import (
    BackgroundWriteDatabase,
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    InMemoryExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from hypofuzz_nb import _compat


def test_store_inner_databases():
    a, b = InMemoryExampleDatabase(), InMemoryExampleDatabase()
    assert _compat.store_inner_databases(MultiplexedDatabase(a, b)) == [a, b]
    assert _compat.store_inner_databases(ReadOnlyDatabase(a)) == [a]
    assert _compat.store_inner_databases(BackgroundWriteDatabase(a)) == [a]
    assert _compat.store_inner_databases(a) == []


def test_store_list_keys_directory(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    db.save(b"k1", b"v")
    db.save(b"k2\x00\xff", b"v")
    assert set(_compat.store_list_keys(db)) >= {b"k1", b"k2\x00\xff"}


def test_store_list_keys_memory():
    db = InMemoryExampleDatabase()
    db.save(b"k1", b"v")
    db.save(b"gone", b"v")
    db.delete(b"gone", b"v")
    assert _compat.store_list_keys(db) == [b"k1"]


def test_store_list_keys_unknown_database():
    class Minimal(ExampleDatabase):
        def fetch(self, key):
            return iter(())

        def save(self, key, value):
            pass

        def delete(self, key, value):
            pass

    assert _compat.store_list_keys(Minimal()) is None


def test_store_list_keys_redis(redis_database):
    redis_database.save(b"k1", b"v")
    redis_database.save(b"k2.hypofuzz.failures", b"v")
    assert set(_compat.store_list_keys(redis_database)) == {b"k1", b"k2.hypofuzz.failures"}


def test_store_directory_fetch_matches_hypothesis_fetch(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    for i in range(20):
        db.save(b"key", bytes([i]) * i)
    assert sorted(_compat.store_directory_fetch(db, b"key")) == sorted(db.fetch(b"key"))
    assert _compat.store_directory_fetch(db, b"missing") == []
    assert _compat.store_directory_fetch(InMemoryExampleDatabase(), b"key") is None

    class Sub(DirectoryBasedExampleDatabase):
        pass

    assert _compat.store_directory_fetch(Sub(tmp_path / "db"), b"key") is None


@pytest.mark.parametrize("n", [0, 1])
def test_store_directory_fetch_on_missing_directory(tmp_path, n):
    db = DirectoryBasedExampleDatabase(tmp_path / "nowhere" / str(n))
    assert _compat.store_directory_fetch(db, b"key") == []


def test_store_redis_fetch_many_matches_hypothesis_fetch_and_resets_expiry(redis_database):
    redis_database.save(b"k1", b"a")
    redis_database.save(b"k1", b"b\x00\xff")
    redis_database.save(b"k2", b"c")
    client = redis_database.redis
    client.persist(redis_database._prefix + b"k1")  # no expiry: fetch must set it again
    keys = [b"k1", b"missing", b"k2"]
    fetched = _compat.store_redis_fetch_many(redis_database, keys)
    assert client.ttl(redis_database._prefix + b"k1") > 0
    assert [sorted(v) for v in fetched] == [sorted(redis_database.fetch(k)) for k in keys]
    assert _compat.store_redis_fetch_many(InMemoryExampleDatabase(), keys) is None
    assert _compat.store_redis_fetch_many(ReadOnlyDatabase(redis_database), keys) is None


def test_store_directory_metakeys_dir_lists_every_key(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    db.save(b"k1", b"v")
    db.save(b"k2\x00\xff", b"w")
    directory = _compat.store_directory_metakeys_dir(db)
    keys = []
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            keys.append(f.read())
    assert set(keys) == set(_compat.store_list_keys(db)) >= {b"k1", b"k2\x00\xff"}
    assert _compat.store_directory_metakeys_dir(InMemoryExampleDatabase()) is None
