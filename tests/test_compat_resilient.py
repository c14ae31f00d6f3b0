"""The resilient section of _compat against the installed Hypothesis."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import redis
from hypothesis.database import (
    BackgroundWriteDatabase,
    DirectoryBasedExampleDatabase,
    InMemoryExampleDatabase,
)
from hypothesis.extra.redis import RedisExampleDatabase

from hypofuzz_nb import _compat

KEY = b"k" * 48


def test_background_write_inner():
    inner = InMemoryExampleDatabase()
    assert _compat.resilient_background_write_inner(BackgroundWriteDatabase(inner)) is inner


def test_directory_has_value_sees_value_file_and_key_list(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path)
    assert not _compat.resilient_directory_has_value(db, KEY, b"v")
    db.save(KEY, b"v")
    assert _compat.resilient_directory_has_value(db, KEY, b"v")
    assert not _compat.resilient_directory_has_value(db, KEY, b"other")
    # The key missing from the key list (as after a concurrent delete) counts as not written.
    db.delete(DirectoryBasedExampleDatabase._metakeys_name, KEY)
    assert not _compat.resilient_directory_has_value(db, KEY, b"v")
    meta = DirectoryBasedExampleDatabase._metakeys_name
    assert _compat.resilient_directory_has_value(db, meta, KEY) is False
    db.save(meta, KEY)
    assert _compat.resilient_directory_has_value(db, meta, KEY)


def test_directory_delete_value_keeps_the_key_directory(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path)
    db.save(KEY, b"v")
    _compat.resilient_directory_delete_value(db, KEY, b"v")
    _compat.resilient_directory_delete_value(db, KEY, b"never saved")  # no error
    assert list(db.fetch(KEY)) == []
    assert KEY in set(db.fetch(DirectoryBasedExampleDatabase._metakeys_name))
    assert sum(1 for p in tmp_path.iterdir() if p.is_dir()) == 2  # the key and the key list


def test_directory_probe_write_names_the_os_error(tmp_path):
    assert (
        _compat.resilient_directory_probe_write(DirectoryBasedExampleDatabase(tmp_path), KEY)
        is None
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = _compat.resilient_directory_probe_write(
        DirectoryBasedExampleDatabase(blocker / "db"), KEY
    )
    assert "Not a directory" in problem
    assert str(blocker) in problem


# A private copy of a Redis database ------------------------------------------------------


@pytest.mark.redis
def test_redis_private_copy_is_the_same_database_through_a_client_of_ours(make_redis_server):
    server = make_redis_server(password="compat-Pw-7e1")
    # redis-py's defaults for Redis(host=...): ten retries with jitter, 5 s socket timeouts.
    user_client = redis.Redis(host="127.0.0.1", port=server.port, password="compat-Pw-7e1")
    user_kwargs = dict(user_client.connection_pool.connection_kwargs)
    db = RedisExampleDatabase(
        user_client, expire_after=timedelta(days=2), key_prefix=b"pfx:", listener_channel="chan"
    )
    copy = _compat.resilient_redis_private_copy(db, socket_timeout=2.0, connect_timeout=1.0)
    assert type(copy) is RedisExampleDatabase
    assert copy.redis.connection_pool is not user_client.connection_pool
    assert copy.listener_channel == "chan"
    kwargs = copy.redis.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (2.0, 1.0)
    assert kwargs["retry"].get_retries() == 1
    assert user_client.connection_pool.connection_kwargs == user_kwargs  # theirs is unchanged

    copy.save(KEY, b"v")  # same server, password, prefix and expiry as the user's
    assert set(db.fetch(KEY)) == {b"v"}
    assert 86_400 < user_client.ttl(b"pfx:" + KEY) <= 2 * 86_400

    server.kill()
    state = random.getstate()
    with pytest.raises(redis.ConnectionError):
        copy.redis.ping()
    assert random.getstate() == state
    # Why the copy exists: the user's client draws its retry jitter from `random`.
    with pytest.raises(redis.ConnectionError):
        user_client.ping()
    assert random.getstate() != state


def test_redis_private_copy_keeps_shorter_timeouts_of_the_user():
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.5)
    copy = _compat.resilient_redis_private_copy(
        RedisExampleDatabase(client), socket_timeout=2.0, connect_timeout=1.0
    )
    kwargs = copy.redis.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.5)


def test_redis_private_copy_is_none_for_what_it_cannot_copy():
    from redis.sentinel import Sentinel

    assert (
        _compat.resilient_redis_private_copy(
            InMemoryExampleDatabase(), socket_timeout=2.0, connect_timeout=1.0
        )
        is None
    )
    # A Sentinel pool finds its server through the sentinels: not ours to rebuild.
    master = Sentinel([("127.0.0.1", 1)]).master_for("mymaster")
    assert (
        _compat.resilient_redis_private_copy(
            RedisExampleDatabase(master), socket_timeout=2.0, connect_timeout=1.0
        )
        is None
    )
