"""Reading and writing hypofuzz_nb records through any Hypothesis ``ExampleDatabase``.

:class:`Store` is the one place that touches the database. It relies only on the
three methods every ``ExampleDatabase`` guarantees (``fetch``, ``save`` and
``delete``), so it works the same over the directory, in-memory, Redis,
multiplexed, read-only and background-write databases, and over a user's own
minimal class.

Guarantees:

- Reads are total. A value that does not decode is skipped and counted in
  :attr:`Store.skipped` (a ``Counter`` by kind of value); it is never raised,
  never unpickled, never evaluated, and never deleted.
- A database that raises on ``fetch``, ``save`` or ``delete`` is retried a few
  times with backoff; if it keeps failing, :class:`DatabaseUnreachable` says
  which database and why.
- A read-only store refuses every write with :class:`ReadOnlyStoreError`, and
  wraps the database in Hypothesis' own ``ReadOnlyDatabase`` as a second guard.
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import struct
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    ReadOnlyDatabase,
)

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import DatabasePathIsFile, HypofuzzNbError
from hypofuzz_nb.records import (
    FAILURE_STATES,
    OBSERVATIONS_LIMIT,
    PHASES,
    TEST_KEYS_KEY,
    WORKER_UUIDS_KEY,
    ChoicesT,
    FailureStateT,
    FatalFailure,
    Observation,
    Report,
    WorkerIdentity,
    corpus_key,
    corpus_observation_key,
    decode_choices,
    failure_observation_key,
    fatal_failure_key,
    fixed_key,
    observations_key,
    reports_key,
    secondary_key,
    timeout_observation_key,
    timeouts_key,
    value_digest,
    worker_identity_key,
)

__all__ = [
    "STOPPED_WORKERS_KEY",
    "DatabasePathError",
    "DatabasePathIsAFile",
    "DatabaseUnreachable",
    "NotADatabase",
    "ReadOnlyStoreError",
    "Store",
    "StoredFailure",
    "open_database",
]

T = TypeVar("T")

#: Length of a test key: Hypothesis' ``function_digest`` is a sha384 digest.
TEST_KEY_LENGTH = 48

#: Our own global key: one value per worker that stopped cleanly, JSON
#: ``{"worker_uuid": str, "stopped_at": float}``. A reader shows a test whose recent
#: reports all come from stopped workers as idle rather than running. Not a field of
#: HypoFuzz's records: HypoFuzz rebuilds those with ``Cls(**json)`` and drops any
#: with a field it does not know.
STOPPED_WORKERS_KEY = b"hypofuzz_nb.stopped_workers"
#: A stop mark older than this is deleted when another worker stops: by then its
#: worker's reports are long past the time within which a test counts as running.
STOPPED_MARK_KEEP_S = 24 * 3600.0

# Retries for transient database errors (a Redis failover, a busy network disk):
# three attempts, sleeping 0.05 s then 0.2 s, bounded well under a second.
_RETRY_DELAYS = (0.05, 0.2)


class DatabaseUnreachable(HypofuzzNbError):
    """The database raised on every attempt to read or write it."""


class NotADatabase(HypofuzzNbError, TypeError):
    """Something that is not an example database was given where one is needed."""


class ReadOnlyStoreError(HypofuzzNbError):
    """A write was attempted through a read-only (dashboard-only) store."""


class DatabasePathError(HypofuzzNbError):
    """A database path that does not name a usable directory."""


class DatabasePathIsAFile(DatabasePathError, DatabasePathIsFile):
    """A directory database whose path is a regular file (also a ``DatabasePathIsFile``,
    the error collection raises for the same mistake)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        Exception.__init__(self, message)


@dataclass(frozen=True, slots=True)
class StoredFailure:
    """One failing input of a test, as stored.

    ``state`` is ``"shrunk"`` (under the test's key ``K``, replayed first by plain
    pytest), ``"unshrunk"`` (under ``K.secondary``) or ``"fixed"`` (under
    ``K.fixed``, or an orphaned failure observation whose value Hypothesis
    deleted from ``K`` because it no longer fails). For an orphaned observation
    ``choices_bytes`` and ``choices`` are ``None``: only the observation remains.
    """

    state: FailureStateT
    choices_bytes: bytes | None
    choices: ChoicesT | None
    observation: Observation | None


def open_database(path: str | os.PathLike[str]) -> DirectoryBasedExampleDatabase:
    """A directory database at ``path``, for reading; raises a clear error if unusable.

    A path that is a file or does not exist raises :class:`DatabasePathError`
    instead of silently reading nothing (Hypothesis' directory database treats
    both as empty).
    """
    p = Path(path)
    if p.is_file():
        raise DatabasePathIsAFile(
            str(p),
            f"The database path {str(p)!r} is a file, not a directory. Pass the "
            "directory of a Hypothesis example database (by default `.hypothesis/examples`).",
        )
    if not p.exists():
        raise DatabasePathError(
            f"The database path {str(p)!r} does not exist. Pass the directory of a "
            "Hypothesis example database (by default `.hypothesis/examples`)."
        )
    if not p.is_dir():
        raise DatabasePathError(f"The database path {str(p)!r} is not a directory.")
    return DirectoryBasedExampleDatabase(p)


def _wrapped_databases(database: object) -> list[object]:
    """The databases ``database`` wraps: Hypothesis' wrappers, and any wrapper that keeps
    its database in ``inner`` (``hypofuzz_nb.resilient.ResilientDatabase`` and the like)."""
    inner = _compat.store_inner_databases(database)
    if inner:
        return inner
    wrapped = getattr(database, "inner", None)
    if (
        wrapped is not None
        and wrapped is not database
        and callable(getattr(wrapped, "fetch", None))
    ):
        return [wrapped]
    return []


def _pipelined_redis(database: object, seen: int = 0) -> object | None:
    """The Redis database under wrappers that read it unchanged (read-only, ``inner``).

    ``None`` if there is none, or if a wrapper changes what ``fetch`` returns
    (multiplexed: a union of several; background writes: pending writes first).
    """
    if seen > 20:
        return None
    if _compat.store_redis_fetch_many(database, []) is not None:
        return database
    if isinstance(database, ReadOnlyDatabase) or (
        not _compat.store_inner_databases(database) and _wrapped_databases(database)
    ):
        inner = _wrapped_databases(database)
        return _pipelined_redis(inner[0], seen + 1) if len(inner) == 1 else None
    return None


def _check_directory_databases(database: object, seen: int = 0) -> None:
    """Raise DatabasePathError for a directory database whose path is a file."""
    if seen > 20:  # wrappers nested this deep are a cycle, not a real setup
        return
    if isinstance(database, DirectoryBasedExampleDatabase) and database.path.is_file():
        raise DatabasePathIsAFile(
            str(database.path),
            f"The database path {str(database.path)!r} of {database!r} is a file, not a "
            "directory: Hypothesis can neither read nor save examples there. Point the "
            "settings profile's database at a directory (or remove the file).",
        )
    for inner in _wrapped_databases(database):
        _check_directory_databases(inner, seen + 1)


def _list_keys(database: object, seen: int = 0) -> set[bytes] | None:
    """Every key held by ``database`` and the databases it wraps; None if unknowable."""
    keys = _compat.store_list_keys(database)
    if keys is not None:
        return set(keys)
    inner = _wrapped_databases(database)
    if not inner or seen > 20:
        return None
    result: set[bytes] = set()
    for db in inner:
        sub = _list_keys(db, seen + 1)
        if sub is None:
            return None
        result |= sub
    return result


class Store:
    """Typed, total reads and retried writes of records in one ``ExampleDatabase``.

    ``database`` may be any object with ``fetch``, ``save`` and ``delete``.
    With ``read_only=True`` every write method raises :class:`ReadOnlyStoreError`
    and the database is additionally wrapped in ``ReadOnlyDatabase``.

    :attr:`skipped` counts the values every read skipped, by kind (``"report"``,
    ``"observation"``, ``"choices"``, ``"test_key"``, ...). It only grows.
    """

    def __init__(self, database: ExampleDatabase, *, read_only: bool = False) -> None:
        missing = [
            m for m in ("fetch", "save", "delete") if not callable(getattr(database, m, None))
        ]
        if missing:
            raise NotADatabase(
                f"{database!r} is not an example database: it has no {', '.join(missing)} "
                "method. Pass a hypothesis.database.ExampleDatabase (for example "
                "DirectoryBasedExampleDatabase('.hypothesis/examples'))."
            )
        _check_directory_databases(database)
        self.read_only = read_only
        self.raw_database = database
        if read_only and isinstance(database, ExampleDatabase):
            database = ReadOnlyDatabase(database)
        self.database = database
        self.skipped: Counter[str] = Counter()
        # Rolling observation buffers: per key, the values this store wrote, oldest
        # first, and how many values of other writers were there when last counted.
        self._own_observations: dict[bytes, deque[bytes]] = {}
        self._foreign_observations: dict[bytes, int] = {}
        self._saves_since_count: dict[bytes, int] = {}

    def __repr__(self) -> str:
        flag = ", read_only=True" if self.read_only else ""
        return f"Store({self.raw_database!r}{flag})"

    # Raw access, with retries ---------------------------------------------------

    def _retry(self, what: str, op: Callable[[], T]) -> T:
        for delay in (*_RETRY_DELAYS, None):
            try:
                return op()
            except HypofuzzNbError:
                raise
            except Exception as err:
                if delay is None:
                    raise DatabaseUnreachable(
                        f"Could not {what} the example database {self.raw_database!r}: "
                        f"{type(err).__name__}: {err}. Check that the database is "
                        "reachable (a Redis server running and accepting connections, a "
                        "directory that exists and is writable), then try again."
                    ) from err
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def fetch(self, key: bytes) -> list[bytes]:
        """Every value under ``key`` as bytes (non-bytes values are skipped)."""
        return self._only_bytes(self._retry("read from", lambda: self._fetch_list(key)))

    def _only_bytes(self, values: list[Any]) -> list[bytes]:
        if all(type(v) is bytes for v in values):
            return values
        good = [v for v in values if isinstance(v, bytes)]
        self.skipped["non_bytes"] += len(values) - len(good)
        return [bytes(v) for v in good]

    def fetch_many(self, keys: Sequence[bytes]) -> Iterator[list[bytes]]:
        """``self.fetch(key)`` for each of ``keys``, in order, read ahead where possible.

        For a plain directory database with many keys, a helper process reads the
        files while this process works on what was already read (file reading
        costs about as much as parsing, and the two then overlap on two cores).
        If the helper cannot start or fails, the rest is read here, one key at a time.
        For a Redis database (also under a read-only or resilient wrapper), keys are
        fetched ``_PIPELINE_KEYS`` at a time in one round trip each; if that fails, the
        rest is read one key at a time (with this store's retries and messages).
        """
        redis = _pipelined_redis(self.raw_database) if len(keys) > 1 else None
        if redis is not None:
            done = 0
            try:
                for start in range(0, len(keys), _PIPELINE_KEYS):
                    chunk = list(keys[start : start + _PIPELINE_KEYS])
                    batch = _compat.store_redis_fetch_many(redis, chunk)
                    if batch is None:  # pragma: no cover - checked by _pipelined_redis
                        break
                    for values in batch:
                        yield self._only_bytes(values)
                        done += 1
            except Exception:  # the per-key path below retries, and says what failed
                pass
            for key in keys[done:]:
                yield self.fetch(key)
            return
        directories = [_compat.store_directory_key_dir(self.raw_database, k) for k in keys]
        done = 0
        if len(keys) >= _READ_AHEAD_MIN_KEYS and all(d is not None for d in directories):
            try:
                for values in _read_directories(directories):  # type: ignore[arg-type]
                    yield values
                    done += 1
            except _ReadAheadFailed:
                pass
        for key in keys[done:]:
            yield self.fetch(key)

    def _fetch_list(self, key: bytes) -> list[bytes]:
        fast = _compat.store_directory_fetch(self.raw_database, key)
        return list(self.database.fetch(key)) if fast is None else fast

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(
                f"This store over {self.raw_database!r} is read-only (dashboard only), so it "
                "cannot write. Open it with read_only=False to run workers."
            )

    def _save(self, key: bytes, value: bytes) -> None:
        self._check_writable()
        self._retry("write to", lambda: self.database.save(key, value))

    def _delete(self, key: bytes, value: bytes) -> None:
        self._check_writable()
        self._retry("delete from", lambda: self.database.delete(key, value))

    # Writes --------------------------------------------------------------------------

    def register_test(self, key: bytes) -> None:
        """List ``key`` under ``hypofuzz.test_keys`` so readers discover the test."""
        self._save(TEST_KEYS_KEY, key)

    def register_worker(self, identity: WorkerIdentity) -> None:
        """Record a worker's uuid and its identity (replacing any older identity)."""
        self._save(WORKER_UUIDS_KEY, identity.uuid.encode("ascii"))
        key = worker_identity_key(identity.uuid)
        new = identity.to_bytes()
        for old in self.fetch(key):
            if old != new:
                self._delete(key, old)
        self._save(key, new)

    def mark_worker_stopped(self, worker_uuid: str, *, now: float | None = None) -> None:
        """Record that ``worker_uuid`` has stopped fuzzing: its reports are its last.

        Nothing has to clear the mark when fuzzing starts again, since every worker
        has a uuid of its own: a later session's reports come from new uuids and make
        the tests running again. Marks older than ``STOPPED_MARK_KEEP_S`` are
        deleted here, so the key stays small; values we cannot read are left alone.
        """
        now = time.time() if now is None else now
        self._save(
            STOPPED_WORKERS_KEY,
            json.dumps({"worker_uuid": worker_uuid, "stopped_at": now}).encode("ascii"),
        )
        for value in self.fetch(STOPPED_WORKERS_KEY):
            mark = _stop_mark(value)
            if mark is not None and mark[1] < now - STOPPED_MARK_KEEP_S:
                self._delete(STOPPED_WORKERS_KEY, value)

    def save_report(self, key: bytes, report: Report) -> None:
        self._save(reports_key(key), report.to_bytes())

    def delete_report(self, key: bytes, report: Report) -> None:
        """Delete one report (for thinning this worker's own old reports)."""
        self._delete(reports_key(key), report.to_bytes())

    def save_corpus_entry(
        self, key: bytes, choices_bytes: bytes, observation: Observation | None
    ) -> None:
        """Add a covering input and (optionally) its observation, replacing an older one."""
        self._save(corpus_key(key), choices_bytes)
        if observation is not None:
            self._replace_single(corpus_observation_key(key, choices_bytes), observation.to_bytes())

    def delete_corpus_entry(self, key: bytes, choices_bytes: bytes) -> None:
        """Remove a covering input and its observation."""
        self._delete(corpus_key(key), choices_bytes)
        obs_key = corpus_observation_key(key, choices_bytes)
        for old in self.fetch(obs_key):
            self._delete(obs_key, old)

    def save_failure(
        self,
        key: bytes,
        state: FailureStateT,
        choices_bytes: bytes,
        observation: Observation | None,
    ) -> None:
        """Save a failing input where Hypothesis looks for it, with its observation.

        ``"shrunk"`` goes under ``K`` (plain pytest replays it first),
        ``"unshrunk"`` under ``K.secondary`` and ``"fixed"`` under ``K.fixed``.
        """
        if state not in FAILURE_STATES:
            raise ValueError(f"failure state must be one of {FAILURE_STATES}, not {state!r}")
        target = {"shrunk": key, "unshrunk": secondary_key(key), "fixed": fixed_key(key)}[state]
        self._save(target, choices_bytes)
        if observation is not None:
            self._replace_single(
                failure_observation_key(key, state, choices_bytes), observation.to_bytes()
            )

    def save_timeout(self, key: bytes, choices_bytes: bytes, observation: Observation) -> None:
        """Keep an input that ran too long, under our own key that plain pytest never replays."""
        self._save(timeouts_key(key), choices_bytes)
        self._replace_single(timeout_observation_key(key, choices_bytes), observation.to_bytes())

    def save_fatal_failure(self, key: bytes, fatal: FatalFailure) -> None:
        """Record that the test could not run at all (replacing an older record)."""
        self._replace_single(fatal_failure_key(key), fatal.to_bytes())

    def clear_fatal_failure(self, key: bytes) -> None:
        ff_key = fatal_failure_key(key)
        for old in self.fetch(ff_key):
            self._delete(ff_key, old)

    def save_observation(self, key: bytes, observation: Observation) -> None:
        """Add to the test's rolling observation buffer, deleting only our own oldest.

        This store keeps at most ``OBSERVATIONS_LIMIT`` values under the key counting
        other writers' values (recounted every 50 saves), but always keeps room for
        at least a tenth of the limit of its own, so a buffer full of stale values
        from earlier runs still shows new observations.
        """
        self._check_writable()
        obs_key = observations_key(key)
        own = self._own_observations.setdefault(obs_key, deque())
        saves = self._saves_since_count.get(obs_key, 50)
        if saves >= 50:
            present = self.fetch(obs_key)
            mine = set(own)
            self._foreign_observations[obs_key] = sum(v not in mine for v in present)
            saves = 0
        self._saves_since_count[obs_key] = saves + 1
        value = observation.to_bytes()
        if value in own:
            return
        self._save(obs_key, value)
        own.append(value)
        room = max(
            OBSERVATIONS_LIMIT - self._foreign_observations[obs_key], OBSERVATIONS_LIMIT // 10
        )
        while len(own) > room:
            self._delete(obs_key, own.popleft())

    def _replace_single(self, key: bytes, value: bytes) -> None:
        """Make ``value`` the one value under ``key``: delete others first, then save."""
        for old in self.fetch(key):
            if old != value:
                self._delete(key, old)
        self._save(key, value)

    # Reads ------------------------------------------------------------------------------

    def test_keys(self) -> list[bytes]:
        """The keys of every test ever fuzzed (from ``hypofuzz.test_keys``), sorted."""
        keys = []
        for value in self.fetch(TEST_KEYS_KEY):
            if len(value) == TEST_KEY_LENGTH:
                keys.append(value)
            else:
                self.skipped["test_key"] += 1
        return sorted(keys)

    def worker_uuids(self) -> list[str]:
        uuids = []
        for value in self.fetch(WORKER_UUIDS_KEY):
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                text = ""
            if text and text.isprintable() and len(text) <= 200:
                uuids.append(text)
            else:
                self.skipped["worker_uuid"] += 1
        return sorted(uuids)

    def stopped_workers(self) -> dict[str, float]:
        """Workers that stopped cleanly: uuid -> when (``time.time()``) it stopped."""
        stopped: dict[str, float] = {}
        for value in self.fetch(STOPPED_WORKERS_KEY):
            mark = _stop_mark(value)
            if mark is None:
                self.skipped["stopped_worker"] += 1
            else:
                stopped[mark[0]] = max(mark[1], stopped.get(mark[0], mark[1]))
        return stopped

    def worker_identities(self) -> list[WorkerIdentity]:
        """The identity of every listed worker that has a readable one."""
        identities = []
        for uuid in self.worker_uuids():
            for value in self.fetch(worker_identity_key(uuid)):
                identity = WorkerIdentity.from_bytes(value)
                if identity is None:
                    self.skipped["worker_identity"] += 1
                else:
                    identities.append(identity)
        return identities

    def report_dicts(self, key: bytes) -> list[dict[str, Any]]:
        """The test's valid reports as plain dicts with exactly ``Report.FIELDS``.

        This is the fast path for bulk loading: the values are parsed with one
        ``json.loads`` and validated without building Report objects.
        """
        return self.parse_reports(self.fetch(reports_key(key)))

    def parse_reports(self, values: list[bytes]) -> list[dict[str, Any]]:
        """Valid report dicts among ``values``; invalid ones are counted in ``skipped``."""
        if not values:
            return []
        try:
            parsed = json.loads(b"[" + b",".join(values) + b"]")
            if len(parsed) != len(values):  # a value held "1, 2": not one report each
                raise ValueError
        except (ValueError, UnicodeDecodeError, RecursionError):
            parsed = [_loads_or_none(v) for v in values]
        good = [obj for obj in parsed if _valid_report(obj)]
        if len(good) != len(parsed):
            self.skipped["report"] += len(parsed) - len(good)
        return good

    def report_columns(self, values: list[bytes]) -> dict[str, list[Any]]:
        """The valid reports among ``values`` as columns, one list per field.

        Columns are ``Report.FIELDS`` plus ``inputs`` (the sum of ``status_counts``).
        Validation is done a column at a time when every value is well formed, and
        falls back to checking each report (skipping and counting bad ones) when not.
        """
        if not values:
            return {name: [] for name in (*Report.FIELDS, "inputs")}
        try:
            parsed = json.loads(b"[" + b",".join(values) + b"]")
            if len(parsed) != len(values):  # a value held "1, 2": not one report each
                raise ValueError
        except (ValueError, UnicodeDecodeError, RecursionError):
            parsed = [_loads_or_none(v) for v in values]
        columns = _columns_if_all_valid(parsed)
        if columns is None:
            good = [obj for obj in parsed if _valid_report(obj)]
            self.skipped["report"] += len(parsed) - len(good)
            columns = _columns_if_all_valid(good)
            assert columns is not None  # every row passed _valid_report
        return columns

    def reports(self, key: bytes) -> list[Report]:
        """The test's reports from every worker, in no particular order."""
        return [Report(**obj) for obj in self.report_dicts(key)]

    def observations(self, key: bytes) -> list[Observation]:
        """The test's rolling observations, oldest ``run_start`` first."""
        result = self._observations_under(observations_key(key))
        return sorted(result, key=lambda o: o.run_start)

    def _observations_under(self, key: bytes) -> list[Observation]:
        result = []
        for value in self.fetch(key):
            obs = Observation.from_bytes(value)
            if obs is None:
                self.skipped["observation"] += 1
            else:
                result.append(obs)
        return result

    def _single_observation(self, key: bytes) -> Observation | None:
        found = self._observations_under(key)
        # one value is the layout; if a race left two, the latest run wins
        return max(found, key=lambda o: o.run_start) if found else None

    def _choices(self, key: bytes) -> list[tuple[bytes, ChoicesT]]:
        entries = []
        for value in self.fetch(key):
            choices = decode_choices(value)
            if choices is None:
                self.skipped["choices"] += 1
            else:
                entries.append((value, choices))
        return sorted(entries, key=lambda e: (len(e[0]), e[0]))

    def corpus(self, key: bytes) -> list[tuple[bytes, ChoicesT]]:
        """The covering corpus: (stored bytes, decoded choices), shortest first."""
        return self._choices(corpus_key(key))

    def corpus_observation(self, key: bytes, value: bytes) -> Observation | None:
        return self._single_observation(corpus_observation_key(key, value))

    def pareto(self, key: bytes) -> list[tuple[bytes, ChoicesT]]:
        """Hypothesis' ``target()`` front for the test, to use as seeds."""
        return self._choices(key + b".pareto")

    def failures(self, key: bytes, *, all_keys: set[bytes] | None = None) -> list[StoredFailure]:
        """Every failure of the test: shrunk, unshrunk, fixed, in that order.

        Fixed failures are those under ``K.fixed`` plus orphaned failure
        observations: an observation under ``K.hypofuzz.failures.<state>.<sha1>``
        whose value is no longer under ``K`` or ``K.secondary``, because plain
        Hypothesis deleted an input that stopped failing. Orphans can only be
        found in databases that can list their keys (directory, in-memory, Redis
        and wrappers of these); pass ``all_keys`` to reuse one listing for many tests.
        """
        result: list[StoredFailure] = []
        current: set[bytes] = set()
        for state, where in (("shrunk", key), ("unshrunk", secondary_key(key))):
            for value, choices in self._choices(where):
                current.add(value_digest(value))
                obs = self._single_observation(failure_observation_key(key, state, value))
                result.append(StoredFailure(state, value, choices, obs))
        for value, choices in self._choices(fixed_key(key)):
            current.add(value_digest(value))
            obs = None
            # HypoFuzz may have moved the failure without renaming its observation
            for state in ("fixed", "shrunk", "unshrunk"):
                obs = self._single_observation(failure_observation_key(key, state, value))
                if obs is not None:
                    break
            result.append(StoredFailure("fixed", value, choices, obs))
        if all_keys is None:
            all_keys = self.list_keys()
        prefix = key + b".hypofuzz.failures."
        orphans = []
        for candidate in all_keys or ():
            if not candidate.startswith(prefix) or not candidate.endswith(b".observation"):
                continue
            rest = candidate[len(prefix) : -len(b".observation")]
            state_name, _, digest = rest.partition(b".")
            if state_name.decode("ascii", "replace") not in FAILURE_STATES or len(digest) != 20:
                continue
            if digest in current:
                continue
            obs = self._single_observation(candidate)
            if obs is not None:
                orphans.append(StoredFailure("fixed", None, None, obs))
        orphans.sort(key=lambda f: f.observation.run_start if f.observation else 0.0)
        return result + orphans

    def fatal_failure(self, key: bytes) -> FatalFailure | None:
        found = []
        for value in self.fetch(fatal_failure_key(key)):
            ff = FatalFailure.from_bytes(value)
            if ff is None:
                self.skipped["fatal_failure"] += 1
            else:
                found.append(ff)
        return min(found, key=lambda f: (f.nodeid, f.traceback)) if found else None

    def list_keys(self) -> set[bytes] | None:
        """Every key in the database, or ``None`` if this kind of database cannot list keys."""
        return self._retry("list the keys of", lambda: _list_keys(self.raw_database))


# Keys per Redis pipeline in fetch_many: one round trip each, while the values of
# one pipeline (reports of 2,000 runs are ~1 MB per key) stay a small part of memory.
_PIPELINE_KEYS = 10

# Read ahead in a helper process only when there is enough to amortise its start.
_READ_AHEAD_MIN_KEYS = 20

# The helper: standard library only, started with -S so that it starts in ~20 ms.
# stdin: one hex-encoded directory per line. stdout, per directory: the number of
# values n (u32), n value lengths (u32 each), then the values concatenated.
_READER_SOURCE = """
import os, struct, sys
try:
    import fcntl
    fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ: let us run up to 1 MiB ahead
except Exception:
    pass
out = sys.stdout.buffer
for line in sys.stdin.buffer.read().split():
    directory = os.fsdecode(bytes.fromhex(line.decode()))
    values = []
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    for name in names:
        try:
            with open(os.path.join(directory, name), "rb", buffering=0) as f:
                values.append(f.read())
        except OSError:
            pass
    out.write(struct.pack("<%dI" % (len(values) + 1), len(values), *map(len, values)))
    out.write(b"".join(values))
out.flush()
"""


class _ReadAheadFailed(Exception):
    pass


def _read_directories(directories: list[str]) -> Iterator[list[bytes]]:
    """The values in each directory, read by a helper process (see _READER_SOURCE)."""
    try:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _READER_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as err:
        raise _ReadAheadFailed from err
    try:
        assert proc.stdin is not None and proc.stdout is not None
        request = b"\n".join(os.fsencode(d).hex().encode("ascii") for d in directories)
        # The helper reads all of stdin before writing, so this cannot deadlock.
        proc.stdin.write(request + b"\n")
        proc.stdin.close()
        read = proc.stdout.read
        for _ in directories:
            header = read(4)
            if len(header) != 4:
                raise _ReadAheadFailed
            (count,) = struct.unpack("<I", header)
            lengths_raw = read(4 * count)
            if len(lengths_raw) != 4 * count:
                raise _ReadAheadFailed
            lengths = struct.unpack(f"<{count}I", lengths_raw)
            total = sum(lengths)
            blob = read(total)
            if len(blob) != total:
                raise _ReadAheadFailed
            values = []
            offset = 0
            for length in lengths:
                values.append(blob[offset : offset + length])
                offset += length
            yield values
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _stop_mark(value: bytes) -> tuple[str, float] | None:
    """``(worker_uuid, stopped_at)`` of a value under STOPPED_WORKERS_KEY, or None."""
    obj = _loads_or_none(value)
    if type(obj) is not dict or obj.keys() != {"worker_uuid", "stopped_at"}:
        return None
    uuid, when = obj["worker_uuid"], obj["stopped_at"]
    if type(uuid) is not str or not uuid or len(uuid) > 200 or not uuid.isprintable():
        return None
    if type(when) not in (int, float) or not -1e12 < when < 1e12:
        return None
    return uuid, float(when)


def _loads_or_none(value: bytes) -> Any:
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


_REPORT_FIELDS = frozenset(Report.FIELDS)
_PHASES = frozenset(PHASES)
_FIELD_GETTERS = [(name, operator.itemgetter(name)) for name in Report.FIELDS]
_NUMBER_TYPES = frozenset({int, float})


def _columns_if_all_valid(parsed: list[Any]) -> dict[str, list[Any]] | None:
    """Columns of ``parsed`` if every item is a valid report, else ``None``.

    The checks are those of :func:`_valid_report`, done per column with C-level
    iteration (``map``, ``set``) so that validating is cheap next to parsing.
    """
    if not parsed:
        return {name: [] for name in (*Report.FIELDS, "inputs")}
    # Exactly the report fields: as many keys as fields, and every field present.
    if set(map(type, parsed)) != {dict} or set(map(len, parsed)) != {len(_REPORT_FIELDS)}:
        return None
    try:
        columns = {name: list(map(getter, parsed)) for name, getter in _FIELD_GETTERS}
    except KeyError:
        return None
    counts = columns["status_counts"]
    since = set(map(type, columns["since_new_behavior"]))
    if not (
        set(map(type, columns["database_key"])) == {str}
        and set(map(type, columns["nodeid"])) == {str}
        and set(map(type, columns["worker_uuid"])) == {str}
        and set(map(type, columns["elapsed_time"])) <= _NUMBER_TYPES
        and set(map(type, columns["timestamp"])) <= _NUMBER_TYPES
        and set(map(type, columns["behaviors"])) == {int}
        and set(map(type, columns["fingerprints"])) == {int}
        and since <= {int, type(None)}
        and set(map(type, columns["phase"])) == {str}
        and set(columns["phase"]) <= _PHASES
        and set(map(type, counts)) == {dict}
        and set(map(type, itertools.chain.from_iterable(map(dict.values, counts)))) <= {int}
    ):
        return None
    columns["inputs"] = list(map(sum, map(dict.values, counts)))
    return columns


def _valid_report(obj: Any) -> bool:
    """Whether ``obj`` (decoded JSON) is a report HypoFuzz itself would accept.

    Mirrors ``Report.from_json`` (which stays the reference) but is written for
    speed: exact type checks instead of isinstance where bool must be excluded.
    Renames ``since_new_branch`` in place, as the old name of ``since_new_behavior``.
    """
    if type(obj) is not dict:
        return False
    if obj.keys() != _REPORT_FIELDS:
        if "since_new_branch" in obj and "since_new_behavior" not in obj:
            obj["since_new_behavior"] = obj.pop("since_new_branch")
            if obj.keys() != _REPORT_FIELDS:
                return False
        else:
            return False
    elapsed = type(obj["elapsed_time"])
    timestamp = type(obj["timestamp"])
    counts = obj["status_counts"]
    since = obj["since_new_behavior"]
    return (
        type(obj["database_key"]) is str
        and type(obj["nodeid"]) is str
        and (elapsed is float or elapsed is int)
        and (timestamp is float or timestamp is int)
        and type(obj["worker_uuid"]) is str
        and type(counts) is dict
        and all(type(v) is int for v in counts.values())
        and type(obj["behaviors"]) is int
        and type(obj["fingerprints"]) is int
        and (since is None or type(since) is int)
        and type(obj["phase"]) is str
        and obj["phase"] in _PHASES
    )
