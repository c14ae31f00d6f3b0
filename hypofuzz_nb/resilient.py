"""A database wrapper for workers that survives the database going away.

:class:`ResilientDatabase` wraps the example database a worker writes to. Its
contract:

- ``save`` and ``delete`` never raise because the database is unreachable (Redis
  down, disk full, read-only disk). A write that fails is kept in memory and
  retried from one background thread with exponential backoff, in order for each
  ``(key, value)`` pair, until it succeeds; everything is written once the database
  is back. While writes are pending, later writes queue behind them.
- The buffer is bounded by ``max_pending`` but never drops a failure: when it is
  full, the oldest rolling observations are dropped first, then the oldest
  reports (the time series thins out, it does not stop), and every other write
  (failures, corpus, test keys, worker identities) is always kept.
  :attr:`dropped_writes` counts what was dropped.
- ``fetch`` reads the inner database. If that raises, then with
  ``on_read_error="raise"`` (the default) :class:`~hypofuzz_nb.errors.DatabaseReadError` (a
  :class:`~hypofuzz_nb.errors.DatabaseUnreachable`) says which database and why; with
  ``on_read_error="memory"`` (for workers, which must keep fuzzing through an
  outage) it returns the values this process has buffered for the key, and warns
  once per outage (:class:`~hypofuzz_nb.errors.DatabaseUnreachableWarning`). Writes still pending are
  not visible to a ``fetch`` that succeeds.
- :attr:`unreachable_since` (``time.time()`` of the first failure of the current
  outage, or ``None``), :attr:`pending_writes` and :attr:`last_error` describe the
  state for status displays.

Database trouble stays off the caller's thread (a worker's fuzzing thread):

- a circuit breaker: once a read fails (or, for a database that is not a
  directory, any write), the database counts as down until the background thread
  reaches it again. Meanwhile writes are buffered at once and ``on_read_error="memory"``
  reads return what is buffered without touching the database, so an outage costs
  the caller about one failed call (:attr:`failed_direct_calls` counts them), not
  one per read or write.
- a ``RedisExampleDatabase`` is used through a client and connection pool of our own
  (same server, credentials, keys; see :func:`private_database`): socket timeouts
  of at most :data:`REDIS_SOCKET_TIMEOUT_S` and :data:`REDIS_CONNECT_TIMEOUT_S`, one
  retry without jitter. A client made with ``Redis(host=...)`` would otherwise retry
  each command ten times for seconds, drawing its jitter from the global ``random``
  module, whose state Hypothesis checks around every draw of a test's arguments:
  a thread of ours touching it makes Hypothesis warn about a test's strategy.
  Our own backoff jitter uses a ``random.Random`` of its own.

Directory databases get two more guarantees, because Hypothesis'
``DirectoryBasedExampleDatabase`` swallows every ``OSError`` in ``save`` and can
lose a save when another process deletes the last value of the same key at the
same moment (``delete`` removes the then-empty key directory, and the concurrent
save's rename into it fails silently):

- every save is verified after writing (the value's file and the key's entry in the
  database's key list exist) and repeated a few times if it did not stick; a save
  that still does not stick is treated as failed (buffered and retried), and its
  error names the OS error (read-only file system, no space left, ...).
- our deletes remove only the value's file, never a key directory, so our deletes
  can never make another writer's save fail.

A ``BackgroundWriteDatabase`` given as ``inner`` is unwrapped: its thread dies on
the first exception of its inner database, after which every ``fetch`` waits
forever for writes that will never happen. This class already writes in the
background when the database fails, so nothing is lost by unwrapping.
"""

from __future__ import annotations

import atexit
import random
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

from hypothesis.database import (
    BackgroundWriteDatabase,
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
)

from hypofuzz_nb import _compat, records
from hypofuzz_nb.errors import DatabaseReadError, DatabaseUnreachableWarning, DatabaseWriteError
from hypofuzz_nb.store import Store

__all__ = [
    "REDIS_CONNECT_TIMEOUT_S",
    "REDIS_SOCKET_TIMEOUT_S",
    "ResilientDatabase",
    "describe_database",
    "private_database",
]

#: Upper bounds (seconds) on the socket timeouts of the Redis connections we make: a
#: server that stopped answering holds a worker's thread no longer than this per try.
REDIS_SOCKET_TIMEOUT_S = 2.0
REDIS_CONNECT_TIMEOUT_S = 1.0

OpT = Literal["save", "delete"]

# Buffer classes, in the order they are dropped when the buffer is full. Anything
# in _KEEP is never dropped.
_OBSERVATIONS, _REPORTS, _KEEP = 0, 1, 2


def _buffer_class(key: bytes) -> int:
    if records.is_observations_key(key):
        return _OBSERVATIONS
    if records.is_reports_key(key):
        return _REPORTS
    return _KEEP


# id(database) -> (a weak reference to it, its copy). Databases define __eq__ without
# __hash__, so a WeakKeyDictionary cannot hold them.
_private_copies: dict[int, tuple[weakref.ref[ExampleDatabase], ExampleDatabase]] = {}
_private_copies_lock = threading.Lock()


def private_database(database: ExampleDatabase) -> ExampleDatabase:
    """``database``, or for a ``RedisExampleDatabase`` the same database through a
    client of our own (see the module docstring); ``database`` itself when its client
    cannot be copied (a Sentinel or cluster pool, say).

    Calls with the same database object share one copy (and its connection pool), so
    a reader may call this on every read without opening a connection each time.
    """
    with _private_copies_lock:
        cached = _private_copies.get(id(database))
        if cached is not None and cached[0]() is database:
            return cached[1]
    copy = _compat.resilient_redis_private_copy(
        database, socket_timeout=REDIS_SOCKET_TIMEOUT_S, connect_timeout=REDIS_CONNECT_TIMEOUT_S
    )
    if copy is None:
        return database
    key = id(database)
    try:
        ref = weakref.ref(database, lambda _ref: _private_copies.pop(key, None))
    except TypeError:  # not weakly referenceable: a copy per call, as asked
        return copy  # type: ignore[return-value]
    with _private_copies_lock:
        _private_copies[key] = (ref, copy)  # type: ignore[assignment]
    return copy  # type: ignore[return-value]


def describe_database(database: object) -> str:
    """A short, password-free description of ``database`` for messages.

    Redis databases are described by host, port and database number only (their
    repr is long, and a client built without redis-py's redaction could show a
    password); directory databases by path; anything else by ``repr``.
    """
    if isinstance(database, ResilientDatabase):
        return describe_database(database.inner)
    if isinstance(database, DirectoryBasedExampleDatabase):
        return f"the directory database at {str(database.path)!r}"
    client = getattr(database, "redis", None)
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if isinstance(kwargs, dict):
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"the Redis database at {where}/{kwargs.get('db', 0)}"
    return repr(database)


class ResilientDatabase(ExampleDatabase):
    """Buffer and retry writes the inner database refuses; never lose a failure.

    See the module docstring for the full contract. ``max_pending`` bounds the
    buffer (except for failures, which are always kept); ``max_backoff`` bounds the
    wait between retries (seconds), so the buffer drains within about that long
    after the database is back.
    """

    def __init__(
        self,
        inner: ExampleDatabase,
        *,
        max_pending: int = 100_000,
        initial_backoff: float = 0.05,
        max_backoff: float = 5.0,
        verify_attempts: int = 10,
        on_read_error: Literal["raise", "memory"] = "raise",
    ) -> None:
        super().__init__()
        if on_read_error not in ("raise", "memory"):
            raise ValueError(f"on_read_error must be 'raise' or 'memory', not {on_read_error!r}")
        self.on_read_error = on_read_error
        self._warned_this_outage = False
        if isinstance(inner, ResilientDatabase):
            inner = inner.inner
        if isinstance(inner, BackgroundWriteDatabase):
            inner = _compat.resilient_background_write_inner(inner)
        self.inner: ExampleDatabase = inner
        # Every read and write goes through _io; listeners stay on inner.
        self._io: ExampleDatabase = private_database(inner)
        # A directory can refuse writes and still be read; a server that refuses one
        # refuses both.
        self._writes_fail_with_reads = not isinstance(inner, DirectoryBasedExampleDatabase)
        self.max_pending = max_pending
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.verify_attempts = max(1, verify_attempts)
        #: time.time() of the first failed write or read of the current outage, or None.
        self.unreachable_since: float | None = None
        #: The last error, as text (never a password: redis-py redacts it in reprs).
        self.last_error: str | None = None
        #: Writes dropped from a full buffer (observations and reports only).
        self.dropped_writes = 0
        #: Writes that succeeded after having failed at least once.
        self.recovered_writes = 0
        #: Reads and writes that failed on the caller's thread (the background thread's
        #: retries not counted): about one per outage, thanks to the circuit breaker.
        self.failed_direct_calls = 0
        #: Retries (and probes of a database known down) by the background thread that failed.
        self.failed_retries = 0
        # The circuit breaker: the database is known down, callers do not touch it.
        self._down = False
        # Jitter for our backoff, never the global random module's.
        self._random = random.Random()
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closed = False
        self._atexit_registered = False
        #: Seconds a process exiting with buffered writes waits for the database.
        self.exit_flush_timeout = 5.0
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._in_flight: tuple[bytes, bytes] | None = None
        self._pending: tuple[OrderedDict[tuple[bytes, bytes], tuple[OpT, int]], ...] = (
            OrderedDict(),
            OrderedDict(),
            OrderedDict(),
        )

    def __repr__(self) -> str:
        return f"ResilientDatabase({self.inner!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResilientDatabase) and self.inner == other.inner

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        # Worker processes get a fresh wrapper (empty buffer, no thread) around a copy
        # of the inner database; pickling fails only if the inner database cannot.
        return (
            _rebuild,
            (
                self.inner,
                {
                    "max_pending": self.max_pending,
                    "initial_backoff": self.initial_backoff,
                    "max_backoff": self.max_backoff,
                    "verify_attempts": self.verify_attempts,
                    "on_read_error": self.on_read_error,
                },
            ),
        )

    # Status -------------------------------------------------------------------------

    @property
    def pending_writes(self) -> int:
        """Writes waiting to be retried."""
        with self._lock:
            return sum(len(p) for p in self._pending)

    # ExampleDatabase ----------------------------------------------------------------

    def fetch(self, key: bytes) -> Iterable[bytes]:
        if self._down and self.on_read_error == "memory":
            # Known down: the background thread finds out when it is back.
            self._warn_memory_reads(self.last_error or "unreachable")
            return self.buffered_saves(key)
        try:
            values = list(self._io.fetch(key))
        except Exception as err:
            with self._lock:
                self.failed_direct_calls += 1
                self._note_failure(err)
                self._down = True
            self._ensure_thread()  # it probes until the database answers again
            error = f"{type(err).__name__}: {err}"
            if self.on_read_error == "raise":
                raise DatabaseReadError(self._read_error_message(error)) from err
            self._warn_memory_reads(error)
            return self.buffered_saves(key)
        with self._lock:
            self._down = False
            if self.unreachable_since is not None and not any(self._pending):
                self.unreachable_since = None
                self._warned_this_outage = False
        return values

    def _read_error_message(self, error: str) -> str:
        return (
            f"Could not read from {describe_database(self.inner)}: {error.rstrip('.')}. "
            "Check that it is reachable (the Redis server running and accepting "
            f"connections, the directory readable). {self.pending_writes} writes are kept "
            "in memory and will be written once it is."
        )

    def _warn_memory_reads(self, error: str) -> None:
        if self._warned_this_outage:
            return
        self._warned_this_outage = True
        warnings.warn(
            self._read_error_message(error)
            + " Meanwhile this worker goes on with what it has in memory.",
            DatabaseUnreachableWarning,
            stacklevel=3,
        )

    def buffered_saves(self, key: bytes) -> list[bytes]:
        """The values saved under ``key`` that are waiting in the buffer to be written."""
        with self._lock:
            pending = self._pending[_buffer_class(key)]
            return [v for (k, v), (op, _) in pending.items() if k == key and op == "save"]

    def save(self, key: bytes, value: bytes) -> None:
        self._write("save", key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        self._write("delete", key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        if src == dest:
            self.save(dest, value)
            return
        self.delete(src, value)
        self.save(dest, value)

    def _start_listening(self) -> None:
        self.inner.add_listener(self._broadcast_change)

    def _stop_listening(self) -> None:
        self.inner.remove_listener(self._broadcast_change)

    # Flushing -------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every buffered write is written; ``False`` if ``timeout`` ran out first."""
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._drained:
            while any(self._pending) or self._in_flight is not None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._drained.wait(0.1 if remaining is None else min(remaining, 0.1))
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Try to write everything for up to ``timeout`` seconds, then stop the retry thread.

        Returns ``True`` if nothing is left unwritten. Writes after ``close`` are
        still attempted directly, and buffered (without a retry thread) if they fail.
        """
        flushed = self.flush(timeout)
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, self.max_backoff))
        return flushed

    # Internals ------------------------------------------------------------------------

    def _write(self, op: OpT, key: bytes, value: bytes) -> None:
        with self._lock:
            direct = not any(self._pending) and self._in_flight is None and not self._down
            if direct:
                self._in_flight = (key, value)
        if direct:
            try:
                self._apply(op, key, value)
            except Exception as err:
                with self._lock:
                    self.failed_direct_calls += 1
                    self._note_failure(err)
                    if self._writes_fail_with_reads:
                        self._down = True
                    self._in_flight = None
                    self._enqueue(op, key, value)
                self._ensure_thread()
            else:
                with self._lock:
                    self._in_flight = None
                    if not any(self._pending) and not self._down:
                        self.unreachable_since = None
                    self._drained.notify_all()
            return
        with self._lock:
            self._enqueue(op, key, value)
        self._ensure_thread()

    def _enqueue(self, op: OpT, key: bytes, value: bytes) -> None:
        """Buffer one write (caller holds the lock); the latest op on a pair wins."""
        pending = self._pending[_buffer_class(key)]
        self._seq += 1
        pending[(key, value)] = (op, self._seq)
        pending.move_to_end((key, value))
        total = sum(len(p) for p in self._pending)
        for droppable in (self._pending[_OBSERVATIONS], self._pending[_REPORTS]):
            while total > self.max_pending and droppable:
                droppable.popitem(last=False)
                self.dropped_writes += 1
                total -= 1

    def _apply(self, op: OpT, key: bytes, value: bytes) -> None:
        db = self._io
        if isinstance(db, DirectoryBasedExampleDatabase):
            if op == "save":
                self._save_directory(db, key, value)
            else:
                _compat.resilient_directory_delete_value(db, key, value)
            return
        if op == "save":
            db.save(key, value)
        else:
            db.delete(key, value)

    def _save_directory(self, db: DirectoryBasedExampleDatabase, key: bytes, value: bytes) -> None:
        for attempt in range(self.verify_attempts):
            db.save(key, value)
            if _compat.resilient_directory_has_value(db, key, value):
                return
            if attempt:
                # Let a concurrent delete finish removing what it is removing.
                time.sleep(min(0.001 * 2**attempt, 0.05))
        problem = _compat.resilient_directory_probe_write(db, key)
        raise DatabaseWriteError(
            f"Could not write to the directory database at {str(db.path)!r}: "
            + (f"{problem}." if problem else "the value did not stick after repeated attempts.")
            + " Make the directory writable (or free some disk space); the write is kept in "
            "memory and retried."
        )

    def _note_failure(self, err: BaseException) -> None:
        self.last_error = f"{type(err).__name__}: {err}"
        if self.unreachable_since is None:
            self.unreachable_since = time.time()

    def _ensure_thread(self) -> None:
        # Deliberately does not wake a sleeping retry thread: during an outage every
        # new write would otherwise cut the backoff short.
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._retry_loop, name="hypofuzz_nb-resilient-writer", daemon=True
            )
            self._thread.start()
            if not self._atexit_registered:
                # A process that exits with writes still buffered gives the database
                # a last, bounded chance to take them.
                self._atexit_registered = True
                atexit.register(_flush_at_exit, weakref.ref(self))

    def _next(self) -> tuple[OpT, bytes, bytes, int] | None:
        """The oldest pending write, most precious class first (caller holds the lock)."""
        for pending in reversed(self._pending):
            if pending:
                (key, value), (op, seq) = next(iter(pending.items()))
                return op, key, value, seq
        return None

    def _retry_loop(self) -> None:
        backoff = self.initial_backoff
        while True:
            with self._lock:
                item = self._next()
                probe = item is None and self._down and not self._closed
                if item is None and not probe:
                    self._in_flight = None
                    self._drained.notify_all()
                    if self.unreachable_since is not None:
                        self.unreachable_since = None
                        self._warned_this_outage = False
                    # Nothing to do: exit; the next failure starts a new thread.
                    self._thread = None
                    return
                if item is not None:
                    op, key, value, seq = item
                    self._in_flight = (key, value)
            try:
                if probe:
                    # Learns that the database is back when there is no write to retry.
                    Store(self._io, read_only=True).probe()
                else:
                    self._apply(op, key, value)
            except Exception as err:
                with self._lock:
                    self.failed_retries += 1
                    self._note_failure(err)
                    self._in_flight = None
                if self._closed:
                    with self._lock:
                        self._thread = None
                    return
                self._wake.clear()
                # Jittered so that many workers do not all retry at the same moment.
                self._wake.wait(backoff * self._random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.initial_backoff
            with self._lock:
                self._down = False
                if probe:
                    continue
                self._in_flight = None
                pending = self._pending[_buffer_class(key)]
                current = pending.get((key, value))
                if current is not None and current[1] == seq:
                    del pending[(key, value)]
                    self.recovered_writes += 1
                self._drained.notify_all()

    def __del__(self) -> None:
        # No contextlib here: at interpreter exit module globals may already be None.
        try:
            self._closed = True
            self._wake.set()
        except Exception:
            pass


def _flush_at_exit(ref: weakref.ref[ResilientDatabase]) -> None:
    database = ref()
    if database is not None and database.pending_writes:
        database.flush(database.exit_flush_timeout)


def _rebuild(inner: ExampleDatabase, options: dict[str, object]) -> ResilientDatabase:
    return ResilientDatabase(inner, **options)  # type: ignore[arg-type]
