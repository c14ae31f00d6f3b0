"""Noticing that an example database changed, for dashboards.

:class:`DatabaseWatcher` calls ``callback(changed_keys)`` from its own thread when
the database changes, where ``changed_keys`` is a set of keys or ``None`` for
"anything may have changed" (after an outage, or when the source cannot say).
How it notices depends on the database, looked up through wrappers
(``ReadOnlyDatabase``, ``MultiplexedDatabase``, ``BackgroundWriteDatabase``,
:class:`~hypofuzz_nb.resilient.ResilientDatabase`):

- ``RedisExampleDatabase``: Hypothesis publishes every change on the database's
  pub/sub channel, but runs nothing that reads the subscription. The watcher
  subscribes on a connection of its own and reads it from its own thread, and
  reconnects by itself after an outage. That connection comes from a client of our
  own (:func:`~hypofuzz_nb.resilient.private_database`): redis-py's default client
  retries with jitter drawn from the global ``random`` module, and a watcher in a
  kernel that also fuzzes must leave that alone (Hypothesis checks it around every
  draw of a test's arguments).
- databases whose ``add_listener`` delivers changes by itself (in-memory, directory
  with watchdog installed, custom ones that implement ``_start_listening``):
  through ``add_listener``.
- anything else (a directory without watchdog, ...): polling every
  ``poll_interval`` seconds, comparing a fingerprint of the values under the keys
  dashboards show (test keys, reports, failures, corpus) for each known test. For a
  directory database only file names are listed, no file is read.

Guarantees: bursts are coalesced and the callback is called at most twice a second
(``min_interval``); never from two threads at once; nothing raises out of the
watcher's threads. An unreachable database sets :attr:`unreachable_since`
(``time.time()`` when it was first seen unreachable) and :attr:`last_error`; both
clear by themselves when it is back, and the callback is then called with ``None``.
An exception from the callback is kept in :attr:`callback_error` and the watcher
goes on.

:func:`redis_database_from_url` builds a ``RedisExampleDatabase`` from a URL whose
password never appears in any repr, message or log of ours.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import HypofuzzNbError
from hypofuzz_nb.records import (
    TEST_KEYS_KEY,
    WORKER_UUIDS_KEY,
    corpus_key,
    fatal_failure_key,
    fixed_key,
    reports_key,
    secondary_key,
)
from hypofuzz_nb.resilient import ResilientDatabase, private_database

__all__ = ["DatabaseWatcher", "RedisUrlError", "redact_url", "redis_database_from_url"]

ChangeCallback = Callable[[set[bytes] | None], object]

_REDIS_SCHEMES = ("redis", "rediss", "unix")


class RedisUrlError(HypofuzzNbError):
    """A Redis URL that cannot be used; the message shows it with the password hidden."""


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also ``?password=`` query values)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}{':***' if sep else ''}@{hostport}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(name.lower() == "password" for name, _ in query):
        query = [(n, "***" if n.lower() == "password" else v) for n, v in query]
        new_query = urllib.parse.urlencode(query, safe="*")
    else:
        new_query = parts.query
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, new_query, parts.fragment))


def redis_database_from_url(
    url: str,
    *,
    expire_after: timedelta | None = None,
    key_prefix: bytes | None = None,
    listener_channel: str | None = None,
    socket_timeout: float = 5.0,
    socket_connect_timeout: float = 2.0,
    check: bool = False,
) -> Any:
    """A ``RedisExampleDatabase`` on the server at ``url`` (``redis://[:password@]host:port/db``).

    ``expire_after``, ``key_prefix`` and ``listener_channel`` go to
    ``RedisExampleDatabase`` (its defaults when not given). The password is passed
    to redis-py only; redis-py redacts it in its reprs, and
    every message here shows :func:`redact_url`. Connection timeouts are bounded so
    that a vanished server makes writes fail (and be buffered by
    :class:`~hypofuzz_nb.resilient.ResilientDatabase`) instead of hanging.

    With ``check=True`` the server is pinged once, and an unreachable server or a
    wrong password raises :class:`RedisUrlError`. By default nothing is contacted
    here, so workers can start before the server does.
    """
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in _REDIS_SCHEMES:
        shown = redact_url(url) if isinstance(url, str) else repr(type(url).__name__)
        raise RedisUrlError(
            f"{shown!r} is not a Redis URL. Use redis://[:PASSWORD@]HOST:PORT/DB "
            "(or rediss:// for TLS, unix:///path/to/socket)."
        )
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as err:
        raise RedisUrlError(
            "The redis package is not installed: pip install 'hypofuzz_nb[redis]'"
        ) from err
    try:
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            # redis-py retries for seconds by default; ResilientDatabase and the watcher
            # retry themselves, so fail fast instead of stalling a worker per write.
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        )
    except ValueError:
        # redis-py's messages quote the URL's parts, which may include the password.
        raise RedisUrlError(
            f"Could not use the Redis URL {redact_url(url)!r}: check its form "
            "(redis://[:PASSWORD@]HOST:PORT/DB)."
        ) from None
    kwargs: dict[str, Any] = {}
    if expire_after is not None:
        kwargs["expire_after"] = expire_after
    if key_prefix is not None:
        kwargs["key_prefix"] = key_prefix
    if listener_channel is not None:
        kwargs["listener_channel"] = listener_channel
    database = RedisExampleDatabase(client, **kwargs)
    if check:
        try:
            client.ping()
        except redis.AuthenticationError:
            raise RedisUrlError(
                f"The Redis server at {redact_url(url)!r} refused the password (or user): "
                "check the credentials in the URL."
            ) from None
        except redis.RedisError as err:
            raise RedisUrlError(
                f"Could not reach the Redis server at {redact_url(url)!r}: "
                f"{_scrub(str(err), url)}. Check that it is running and reachable."
            ) from None
    return database


def _password_of(url: str) -> str | None:
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit(url)
        if parts.password:
            return urllib.parse.unquote(parts.password)
        for name, value in urllib.parse.parse_qsl(parts.query):
            if name.lower() == "password" and value:
                return value
    return None


def _scrub(text: str, url: str) -> str:
    password = _password_of(url)
    return text.replace(password, "***") if password else text


# Watching -------------------------------------------------------------------------------


def _leaves(database: object, depth: int = 0) -> list[object]:
    """The databases that actually store data under ``database``'s wrappers."""
    if depth > 20:  # wrappers nested this deep are a cycle, not a real setup
        return []
    if isinstance(database, ResilientDatabase):
        return _leaves(database.inner, depth + 1)
    inner = _compat.store_inner_databases(database)
    if not inner:
        return [database]
    return [leaf for db in inner for leaf in _leaves(db, depth + 1)]


def _fingerprint_values(database: object, key: bytes) -> bytes:
    if isinstance(database, DirectoryBasedExampleDatabase):
        names = _compat.watch_directory_value_names(database, key)
        return hashlib.blake2b("\0".join(names).encode(), digest_size=16).digest()
    digest = hashlib.blake2b(digest_size=16)
    for value in sorted(database.fetch(key)):  # type: ignore[attr-defined]
        digest.update(hashlib.blake2b(value, digest_size=16).digest())
    return digest.digest()


def database_fingerprint(database: object) -> dict[bytes, bytes]:
    """A digest of the values under every key a dashboard shows, per key.

    Raises whatever the database raises when it cannot be read.
    """
    test_keys = sorted(set(database.fetch(TEST_KEYS_KEY)))  # type: ignore[attr-defined]
    keys = [TEST_KEYS_KEY, WORKER_UUIDS_KEY]
    for key in test_keys:
        keys += [
            key,
            secondary_key(key),
            fixed_key(key),
            reports_key(key),
            corpus_key(key),
            fatal_failure_key(key),
        ]
    return {key: _fingerprint_values(database, key) for key in keys}


class DatabaseWatcher:
    """Call ``callback(changed_keys_or_None)`` from a thread of its own when ``database`` changes.

    ``start()`` begins watching and ``stop()`` ends it (waiting at most a couple of
    seconds); it is also a context manager. See the module docstring for how each
    kind of database is watched and for the guarantees.
    """

    def __init__(
        self,
        database: ExampleDatabase,
        callback: ChangeCallback,
        *,
        poll_interval: float = 1.0,
        min_interval: float = 0.5,
    ) -> None:
        self.database = database
        self.callback = callback
        self.poll_interval = poll_interval
        self.min_interval = max(0.5, min_interval)
        #: ``time.time()`` since when the database could not be reached, or ``None``.
        self.unreachable_since: float | None = None
        #: The last error reading the database, as text; ``None`` once it is back.
        self.last_error: str | None = None
        #: The last exception the callback raised (the watcher goes on regardless).
        self.callback_error: BaseException | None = None
        #: How many times the callback was called.
        self.calls = 0
        self._lock = threading.Lock()
        self._changed: set[bytes] | None = set()
        self._dirty = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listening_on: list[Any] = []
        self._outages: dict[int, float] = {}
        self._fingerprints: dict[int, dict[bytes, bytes]] = {}
        leaves = _leaves(database)
        # Sorted by identity, not ==: two equal databases are still two sources.
        self._redis = [leaf for leaf in leaves if _compat.watch_is_redis_database(leaf)]
        rest = [leaf for leaf in leaves if not _compat.watch_is_redis_database(leaf)]
        self._listen = [leaf for leaf in rest if _compat.watch_supports_listeners(leaf)]
        self._poll = [leaf for leaf in rest if not _compat.watch_supports_listeners(leaf)]

    def __repr__(self) -> str:
        return f"DatabaseWatcher({self.database!r}, mode={self.mode!r})"

    @property
    def mode(self) -> str:
        """``"redis"``, ``"listener"``, ``"poll"``, or several joined by ``+``."""
        modes = [
            name
            for name, found in (
                ("redis", self._redis),
                ("listener", self._listen),
                ("poll", self._poll),
            )
            if found
        ]
        return "+".join(modes) or "poll"

    # Lifecycle -------------------------------------------------------------------------

    def start(self) -> DatabaseWatcher:
        if self._threads:
            return self
        self._stopping.clear()
        for leaf in self._listen:
            try:
                leaf.add_listener(self._on_event)  # type: ignore[attr-defined]
                self._listening_on.append(leaf)
            except Exception as err:  # a listener that cannot start: poll instead
                self._set_error(id(leaf), err)
                self._poll.append(leaf)
        # Baselines and subscriptions are in place before start() returns, so every
        # change made after it is reported (bounded wait: a dead server must not block).
        for leaf in self._poll:
            self._poll_once(leaf, self._fingerprints)
        ready = []
        for index, leaf in enumerate(self._redis):
            subscribed = threading.Event()
            ready.append(subscribed)
            self._spawn(self._pump_redis, leaf, subscribed, name=f"hypofuzz_nb-watch-redis-{index}")
        deadline = time.monotonic() + 3.0
        for subscribed in ready:
            subscribed.wait(max(0.0, deadline - time.monotonic()))
        self._spawn(self._dispatch, name="hypofuzz_nb-watch")
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        self._wake.set()
        for leaf in self._listening_on:
            with contextlib.suppress(Exception):
                leaf.remove_listener(self._on_event)
        self._listening_on.clear()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def __enter__(self) -> DatabaseWatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # Change intake (any thread) ----------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        try:
            _kind, (key, _value) = event
        except (TypeError, ValueError):
            self._notify(None)
            return
        self._notify({key} if isinstance(key, bytes) else None)

    def _notify(self, keys: set[bytes] | None) -> None:
        with self._lock:
            if keys is None or self._changed is None:
                self._changed = None
            else:
                self._changed |= keys
            self._dirty = True
        self._wake.set()

    def _set_error(self, source: int, err: BaseException) -> None:
        with self._lock:
            self._outages.setdefault(source, time.time())
            self.unreachable_since = min(self._outages.values())
            self.last_error = f"{type(err).__name__}: {err}"

    def _clear_error(self, source: int) -> None:
        with self._lock:
            if self._outages.pop(source, None) is None:
                return
            if self._outages:
                self.unreachable_since = min(self._outages.values())
            else:
                self.unreachable_since = None
                self.last_error = None
        self._notify(None)

    # Threads ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """The one thread that polls and calls the callback, at most every min_interval."""
        fingerprints = self._fingerprints
        next_poll = time.monotonic() + self.poll_interval
        last_call = -float("inf")
        while not self._stopping.is_set():
            now = time.monotonic()
            if self._poll and now >= next_poll:
                for leaf in list(self._poll):
                    self._poll_once(leaf, fingerprints)
                next_poll = time.monotonic() + self.poll_interval
            with self._lock:
                dirty = self._dirty
            now = time.monotonic()
            if dirty and now - last_call >= self.min_interval:
                with self._lock:
                    changed, self._changed, self._dirty = self._changed, set(), False
                last_call = now
                self._call(changed)
                continue
            waits = [next_poll - now] if self._poll else [1.0]
            if dirty:
                waits.append(last_call + self.min_interval - now)
            self._wake.wait(max(0.01, min(waits)))
            self._wake.clear()

    def _call(self, changed: set[bytes] | None) -> None:
        self.calls += 1
        try:
            self.callback(changed)
        except Exception as err:
            self.callback_error = err

    def _poll_once(self, leaf: object, fingerprints: dict[int, dict[bytes, bytes]]) -> None:
        try:
            current = database_fingerprint(leaf)
        except Exception as err:
            self._set_error(id(leaf), err)
            return
        self._clear_error(id(leaf))
        previous = fingerprints.get(id(leaf))
        fingerprints[id(leaf)] = current
        if previous is None:
            return  # the first look is the baseline, not a change
        changed = {k for k in current.keys() | previous.keys() if current.get(k) != previous.get(k)}
        if changed:
            self._notify(changed)

    def _pump_redis(self, database: Any, subscribed: threading.Event) -> None:
        """Read the pub/sub channel of one RedisExampleDatabase until stopped; reconnect."""
        source = id(database)  # outages are reported per database the user gave
        database = private_database(database)
        backoff = 0.1
        while not self._stopping.is_set():
            pubsub = None
            try:
                pubsub = database.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(database.listener_channel)
                database.redis.ping()
                subscribed.set()
                self._clear_error(source)
                backoff = 0.1
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is None or message.get("type") != "message":
                        continue
                    decoded = _compat.watch_decode_redis_message(message["data"])
                    self._notify(None if decoded is None else {decoded[1]})
            except Exception as err:
                self._set_error(source, err)
                subscribed.set()  # start() need not wait for a server that is down
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
