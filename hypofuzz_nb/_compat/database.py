"""Private parts of Hypothesis' example databases and of redis-py: the layout of a
directory database, the Redis database's client, and its change messages."""

from __future__ import annotations

import sys
from typing import Any

# --- store (used by hypofuzz_nb.store and hypofuzz_nb.databases) ---------------------


def _redis_database_class() -> type | None:
    """Hypothesis' ``RedisExampleDatabase`` if anything has imported it, else ``None``:
    no database can be one before that, and importing redis just to find out would
    cost a first ``load()`` of any database about 0.15 s."""
    module = sys.modules.get("hypothesis.extra.redis")
    return None if module is None else module.RedisExampleDatabase


def store_inner_databases(database: object) -> list[object]:
    """The databases a Hypothesis wrapper database delegates to ([] if not a wrapper).

    ReadOnlyDatabase keeps its inner database in ``_wrapped``, MultiplexedDatabase
    a tuple in ``_wrapped``, BackgroundWriteDatabase in ``_db``.
    """
    from hypothesis.database import (
        BackgroundWriteDatabase,
        MultiplexedDatabase,
        ReadOnlyDatabase,
    )

    if isinstance(database, MultiplexedDatabase):
        return list(database._wrapped)
    if isinstance(database, ReadOnlyDatabase):
        return [database._wrapped]
    if isinstance(database, BackgroundWriteDatabase):
        return [database._db]
    return []


def store_list_keys(database: object) -> list[bytes] | None:
    """Every key ``database`` holds values under, or ``None`` if it cannot list keys.

    Directory databases record their keys under the meta key
    ``DirectoryBasedExampleDatabase._metakeys_name``; the in-memory database
    keeps a dict ``data``; Redis keys carry the database's ``_prefix``.
    """
    from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase

    if isinstance(database, DirectoryBasedExampleDatabase):
        return list(database.fetch(DirectoryBasedExampleDatabase._metakeys_name))
    if isinstance(database, InMemoryExampleDatabase):
        return [key for key, values in list(database.data.items()) if values]
    RedisExampleDatabase = _redis_database_class()
    if RedisExampleDatabase is not None and isinstance(database, RedisExampleDatabase):
        prefix: bytes = database._prefix
        pattern = prefix
        for special in (b"\\", b"*", b"?", b"[", b"]"):  # glob-escape the prefix
            pattern = pattern.replace(special, b"\\" + special)
        return [
            key[len(prefix) :]
            for key in database.redis.scan_iter(match=pattern + b"*", count=1000)
            if key.startswith(prefix)
        ]
    return None


def store_directory_key_dir(database: object, key: bytes) -> str | None:
    """The directory holding ``key``'s values in an exact DirectoryBasedExampleDatabase.

    ``None`` for any other database (subclasses may override ``fetch``).
    """
    import os

    from hypothesis.database import DirectoryBasedExampleDatabase

    if type(database) is not DirectoryBasedExampleDatabase:
        return None
    return os.fspath(database._key_path(key))


def store_directory_metakeys_dir(database: object) -> str | None:
    """The directory listing the keys of an exact DirectoryBasedExampleDatabase (one
    file per key, holding the key), or ``None`` for any other database."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    return store_directory_key_dir(database, DirectoryBasedExampleDatabase._metakeys_name)


def store_directory_fetch(database: object, key: bytes) -> list[bytes] | None:
    """``list(database.fetch(key))`` for an exact DirectoryBasedExampleDatabase, faster.

    Same files as Hypothesis' fetch (the key's directory from ``_key_path``), read
    with plain string paths instead of ``pathlib`` objects, which is about twice as
    fast for many small values. ``None`` for any other database (subclasses may
    override ``fetch``), so the caller falls back to the public ``fetch``.
    """
    import os

    from hypothesis.database import DirectoryBasedExampleDatabase

    if type(database) is not DirectoryBasedExampleDatabase:
        return None
    directory = os.fspath(database._key_path(key))
    try:
        names = os.listdir(directory)
    except OSError:  # no such key (or it was deleted meanwhile): Hypothesis yields nothing
        return []
    values = []
    join = os.path.join
    for name in names:
        try:
            with open(join(directory, name), "rb", buffering=0) as f:
                values.append(f.read())
        except OSError:  # deleted between listdir and open, as Hypothesis tolerates
            pass
    return values


def store_redis_fetch_many(database: object, keys: list[bytes]) -> list[list[bytes]] | None:
    """``[list(database.fetch(k)) for k in keys]`` in one round trip, for an exact
    ``RedisExampleDatabase``; ``None`` for any other database.

    Does what Hypothesis' ``fetch`` does for each key (``SMEMBERS`` of ``_prefix + key``
    and a reset of its expiry to ``_expire_after``), but in one non-transactional
    pipeline for all ``keys`` instead of one round trip per key. Errors of the
    connection propagate (the caller falls back to ``fetch``).
    """
    RedisExampleDatabase = _redis_database_class()
    if RedisExampleDatabase is None or type(database) is not RedisExampleDatabase:
        return None
    prefix: bytes = database._prefix
    pipe = database.redis.pipeline(transaction=False)
    for key in keys:
        pipe.smembers(prefix + key)
        pipe.expire(prefix + key, database._expire_after)
    results = pipe.execute()
    return [list(results[2 * i]) for i in range(len(keys))]


def store_directory_value_names(database: object, key: bytes) -> list[str]:
    """The file names (value hashes) under ``key`` of a directory database, sorted:
    a fingerprint of the key's values that needs no file to be read."""
    import os

    db: Any = database
    try:
        return sorted(os.listdir(db._key_path(key)))
    except (FileNotFoundError, NotADirectoryError):
        return []


# --- resilient (used by hypofuzz_nb.resilient) -------------------------------------
# DirectoryBasedExampleDatabase stores value v of key k in the file
# ``path / _hash(k) / _hash(v)`` and lists its keys under ``_metakeys_name``.


def resilient_background_write_inner(database: object) -> object:
    """The database a ``BackgroundWriteDatabase`` writes to (its ``_db``)."""
    return database._db  # type: ignore[attr-defined]


def resilient_directory_has_value(database: object, key: bytes, value: bytes) -> bool:
    """Whether ``value`` is stored under ``key`` and ``key`` is in the database's key list."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    db: Any = database
    if not db._value_path(key, value).is_file():
        return False
    if db._key_path(key).name == DirectoryBasedExampleDatabase._metakeys_hash:
        return True
    return db._value_path(DirectoryBasedExampleDatabase._metakeys_name, key).is_file()


def resilient_directory_delete_value(database: object, key: bytes, value: bytes) -> None:
    """Remove ``value``'s file only, never the key directory (which would race with
    another process saving into it). Raises ``OSError`` except for a missing file."""
    db: Any = database
    db._value_path(key, value).unlink(missing_ok=True)


def resilient_directory_probe_write(database: object, key: bytes) -> str | None:
    """The OS error that writing a file for ``key`` raises, as text, or ``None``."""
    import os
    import tempfile

    db: Any = database
    key_path = db._key_path(key)
    try:
        key_path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=key_path, prefix=".hypofuzz_nb-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        return f"{err.strerror or err} ({err.filename or key_path})"
    return None


# A RedisExampleDatabase keeps its key prefix in ``_prefix`` and its expiry in
# ``_expire_after``. redis-py keeps what a connection is made with in its pool's
# ``connection_class`` and ``connection_kwargs``. Our copy exists because of two
# redis-py defaults: ``Redis(host=...)`` retries a failed connect ten times with
# backoff up to 1 s (seconds per command while a server is down), and its jitter
# draws from the global ``random`` module, which Hypothesis watches while a test
# case draws its arguments (any thread touching it makes Hypothesis warn).

#: Connection settings of a pool that belong to that pool alone (redis-py's handlers
#: of server maintenance notifications point back at the pool that made them).
_REDIS_POOL_OWNED_KWARGS = (
    "maint_notifications_pool_handler",
    "oss_cluster_maint_notifications_handler",
)


def resilient_redis_private_copy(
    database: object, *, socket_timeout: float, connect_timeout: float
) -> object | None:
    """The same Redis database (server, credentials, key prefix, expiry, channel)
    through a client and connection pool of our own, or ``None`` if ``database`` is no
    exact ``RedisExampleDatabase`` or its client's pool cannot be copied (a Sentinel or
    a cluster pool, say).

    The copy retries a failed command once, after a fixed 20 ms (enough for a pooled
    connection that a restarted server dropped), never with jitter, and its socket
    timeouts are at most ``socket_timeout`` / ``connect_timeout`` seconds.
    """
    if _redis_database_class() is None:
        return None
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
        from redis.backoff import ConstantBackoff
        from redis.retry import Retry
    except ImportError:  # the redis extra is optional
        return None
    if type(database) is not RedisExampleDatabase:
        return None
    client: Any = database.redis
    pool = getattr(client, "connection_pool", None)
    if type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        return None

    def bounded(value: object, bound: float) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return min(float(value), bound)
        return bound

    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in _REDIS_POOL_OWNED_KWARGS}
    # Without a connect timeout of its own, redis-py connects with the socket timeout.
    user_connect = kwargs.get("socket_connect_timeout")
    if user_connect is None:
        user_connect = kwargs.get("socket_timeout")
    kwargs["socket_timeout"] = bounded(kwargs.get("socket_timeout"), socket_timeout)
    kwargs["socket_connect_timeout"] = bounded(user_connect, connect_timeout)
    kwargs["retry"] = Retry(ConstantBackoff(0.02), 1)
    try:
        copy_pool = redis.ConnectionPool(
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            **kwargs,
        )
        return RedisExampleDatabase(
            redis.Redis(connection_pool=copy_pool),
            expire_after=database._expire_after,
            key_prefix=database._prefix,
            listener_channel=database.listener_channel,
        )
    except Exception:  # an unusual client: the caller uses the database as it is
        return None


# --- watch (used by hypofuzz_nb.watch) -------------------------------------------------


def watch_supports_listeners(database: object) -> bool:
    """Whether ``database.add_listener`` will deliver changes by itself.

    The base class' ``_start_listening`` only warns. A directory database needs the
    optional watchdog package. A Redis database subscribes but nothing reads its
    pub/sub connection (hypofuzz_nb.watch does that itself), so it is ``False`` here.
    """
    import importlib.util

    from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

    if not isinstance(database, ExampleDatabase):
        return False
    if isinstance(database, DirectoryBasedExampleDatabase):
        return importlib.util.find_spec("watchdog") is not None
    if watch_is_redis_database(database):
        return False
    return type(database)._start_listening is not ExampleDatabase._start_listening


def watch_is_redis_database(database: object) -> bool:
    """Whether ``database`` is a ``RedisExampleDatabase`` (``False`` without the redis extra)."""
    RedisExampleDatabase = _redis_database_class()
    return RedisExampleDatabase is not None and isinstance(database, RedisExampleDatabase)


def watch_decode_redis_message(data: object) -> tuple[str, bytes, bytes | None] | None:
    """``(event, key, value)`` from a RedisExampleDatabase pub/sub payload, or ``None``.

    The payload is ``json.dumps([event, [base64(key), base64(value)]])`` (see its
    ``_publish``); anything else, or garbage, gives ``None``.
    """
    import base64
    import binascii
    import json

    try:
        event, (key, value) = json.loads(data)  # type: ignore[arg-type]
        return (
            str(event),
            base64.b64decode(key, validate=True),
            None if value is None else base64.b64decode(value, validate=True),
        )
    except (ValueError, TypeError, binascii.Error, RecursionError):
        return None
