"""hypofuzz_nb.value_cache: a reader reads only the files that are new, and still returns
exactly what the database holds now."""

from __future__ import annotations

import os

from hypothesis.database import DirectoryBasedExampleDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.frames import load
from hypofuzz_nb.store import Store
from hypofuzz_nb.value_cache import CACHE, ValueCache


def _directory(tmp_path, values):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    for value in values:
        db.save(b"key", value)
    return db, _compat.store_directory_key_dir(db, b"key")


def test_second_read_reads_only_new_files_and_sees_deletions(tmp_path):
    db, directory = _directory(tmp_path, [b"a", b"b", b"c"])
    cache = ValueCache()
    assert sorted(cache.read_values(directory)) == [b"a", b"b", b"c"]
    assert (cache.files_read, cache.files_reused) == (3, 0)
    db.save(b"key", b"d")
    db.delete(b"key", b"a")
    assert sorted(cache.read_values(directory)) == sorted(db.fetch(b"key")) == [b"b", b"c", b"d"]
    assert (cache.files_read, cache.files_reused) == (4, 2)


def test_a_file_replaced_under_the_same_name_is_read_again(tmp_path):
    # Hypothesis never does this (names are content hashes), but garbage put there by
    # hand must not be served stale: a rename gives the file a new inode.
    _, directory = _directory(tmp_path, [b"a"])
    cache = ValueCache()
    assert cache.read_values(directory) == [b"a"]
    (name,) = os.listdir(directory)
    replacement = os.path.join(directory, "tmp")
    with open(replacement, "wb") as f:
        f.write(b"garbage")
    os.replace(replacement, os.path.join(directory, name))
    assert cache.read_values(directory) == [b"garbage"]


def test_a_missing_directory_holds_nothing_and_is_forgotten(tmp_path):
    db, directory = _directory(tmp_path, [b"a"])
    cache = ValueCache()
    cache.read_values(directory)
    db.delete(b"key", b"a")
    if os.path.isdir(directory):  # Hypothesis may or may not remove the empty directory
        os.rmdir(directory)
    assert cache.read_values(directory) == []
    assert cache.total == 0


def test_kept_bytes_stay_under_the_bound_oldest_directory_first(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    cache = ValueCache(max_bytes=250)
    directories = []
    for key in (b"k1", b"k2", b"k3"):
        db.save(key, key * 50)  # 100 bytes each
        directories.append(_compat.store_directory_key_dir(db, key))
    for directory in directories:
        cache.read_values(directory)
    assert cache.total == 200  # k1 dropped to make room for k3
    cache.read_values(directories[1])
    cache.read_values(directories[0])
    assert cache.files_read == 4 and cache.files_reused == 1  # k2 kept, k1 read again


def test_a_directory_bigger_than_the_bound_is_read_but_not_kept(tmp_path):
    _, directory = _directory(tmp_path, [b"x" * 300])
    cache = ValueCache(max_bytes=250)
    assert cache.read_values(directory) == [b"x" * 300]
    assert cache.total == 0


def test_load_twice_reads_only_what_is_new(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    writer = Store(db)
    writer.register_test(b"a" * 48)
    for i in range(5):
        db.save(b"a" * 48 + b".hypofuzz.corpus", bytes([i]))
    first = load(db)
    CACHE.files_read = CACHE.files_reused = 0
    second = load(db)
    assert CACHE.files_read == 0 and CACHE.files_reused > 0
    assert second.tests.equals(first.tests)
    writer.register_test(b"b" * 48)
    third = load(db)
    assert CACHE.files_read >= 1
    assert set(third.tests["database_key"]) > set(second.tests["database_key"])
