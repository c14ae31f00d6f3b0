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
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from hypothesis.database import ExampleDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.cell_gate import give_way
from hypofuzz_nb.databases import leaf_databases
from hypofuzz_nb.records import (
    TEST_KEYS_KEY,
    WORKER_UUIDS_KEY,
    corpus_key,
    fatal_failure_key,
    fixed_key,
    reports_key,
    secondary_key,
)
from hypofuzz_nb.resilient import private_database
from hypofuzz_nb.store import Store

__all__ = ["DatabaseWatcher", "database_fingerprint"]

ChangeCallback = Callable[[set[bytes] | None], object]


def database_fingerprint(store: Store) -> dict[bytes, bytes]:
    """A digest of the values under every key a dashboard shows, per key.

    Raises whatever the database raises when it cannot be read.
    """
    test_keys = sorted(set(store.fetch(TEST_KEYS_KEY)))
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
    return {key: store.fingerprint(key) for key in keys}


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
        self._stores: dict[int, Store] = {}
        leaves = leaf_databases(database)
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
                give_way()  # in a kernel, a running cell goes first
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
            store = self._stores.get(id(leaf))
            if store is None:
                store = self._stores[id(leaf)] = Store(leaf, read_only=True)
            current = database_fingerprint(store)
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
