"""Reading and writing hypofuzz_nb records through any Hypothesis ``ExampleDatabase``.

:class:`Store` is the one place of ours that reads or writes a database (Hypothesis'
own shrinker and change listeners aside; wrapper databases such as
:class:`~hypofuzz_nb.resilient.ResilientDatabase` read and write what they wrap). Keys
and encodings come from :mod:`hypofuzz_nb.records`; looking inside wrappers from
:mod:`hypofuzz_nb.databases`. It relies only on the
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

import hashlib
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, ReadOnlyDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.databases import check_directory_databases, list_keys, pipelined_redis
from hypofuzz_nb.errors import (
    DatabaseUnreachable,
    HypofuzzNbError,
    NotADatabase,
    ReadOnlyStoreError,
)
from hypofuzz_nb.readahead import READ_AHEAD_MIN_KEYS, ReadAheadFailed, read_directories
from hypofuzz_nb.records import (
    FAILURE_STATES,
    OBSERVATIONS_LIMIT,
    PROBE_KEY,
    STOPPED_WORKERS_KEY,
    TEST_KEYS_KEY,
    WORKER_UUIDS_KEY,
    ChoicesT,
    FailureStateT,
    FatalFailure,
    Observation,
    Report,
    SolverWork,
    StopMark,
    WorkerIdentity,
    corpus_key,
    corpus_observation_key,
    decode_choices,
    decode_test_key,
    decode_worker_uuid,
    failure_observation_key,
    fatal_failure_key,
    fixed_key,
    observations_key,
    parse_failure_observation_key,
    report_columns,
    reports_key,
    secondary_key,
    solver_key,
    timeout_observation_key,
    timeouts_key,
    value_digest,
    worker_identity_key,
)
from hypofuzz_nb.value_cache import read_values

__all__ = ["STOPPED_MARK_KEEP_S", "Store", "StoredFailure"]

T = TypeVar("T")

#: A stop mark older than this is deleted when another worker stops: by then its
#: worker's reports are long past the time within which a test counts as running.
STOPPED_MARK_KEEP_S = 24 * 3600.0

# Retries for transient database errors (a Redis failover, a busy network disk):
# three attempts, sleeping 0.05 s then 0.2 s, bounded well under a second.
_RETRY_DELAYS = (0.05, 0.2)


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
        check_directory_databases(database)
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
        # The SolverWork value this store last wrote per test key, deleted when replaced.
        self._own_solver_work: dict[bytes, bytes] = {}

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
        redis = pipelined_redis(self.raw_database) if len(keys) > 1 else None
        if redis is not None:
            done = 0
            try:
                for start in range(0, len(keys), _PIPELINE_KEYS):
                    chunk = list(keys[start : start + _PIPELINE_KEYS])
                    batch = _compat.store_redis_fetch_many(redis, chunk)
                    if batch is None:  # pragma: no cover - checked by pipelined_redis
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
        if len(keys) >= READ_AHEAD_MIN_KEYS and all(d is not None for d in directories):
            try:
                for values in read_directories(directories):  # type: ignore[arg-type]
                    yield values
                    done += 1
            except ReadAheadFailed:
                pass
        for key in keys[done:]:
            yield self.fetch(key)

    def _fetch_list(self, key: bytes) -> list[bytes]:
        if self.read_only:
            # Readers load the same database again and again (a live dashboard):
            # they read only the files that are new since their last look.
            directory = _compat.store_directory_key_dir(self.raw_database, key)
            if directory is not None:
                return read_values(directory)
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
        self._save(STOPPED_WORKERS_KEY, StopMark(worker_uuid, now).to_bytes())
        for value in self.fetch(STOPPED_WORKERS_KEY):
            mark = StopMark.from_bytes(value)
            if mark is not None and mark.stopped_at < now - STOPPED_MARK_KEEP_S:
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

    def save_solver_work(self, key: bytes, work: SolverWork) -> None:
        """Make ``work`` this worker's one SolverWork record of the test ``key``
        (its previous one is deleted; other workers' records are left alone)."""
        value = work.to_bytes()
        previous = self._own_solver_work.get(key)
        if previous == value:
            return
        self._save(solver_key(key), value)
        if previous is not None:
            self._delete(solver_key(key), previous)
        self._own_solver_work[key] = value

    def save_shared_probe(self, key: bytes, value: bytes) -> None:
        """Write the value that cluster workers read back to prove they share this database."""
        self._save(key, value)

    def delete_shared_probe(self, key: bytes, value: bytes) -> None:
        self._delete(key, value)

    def shares_probe(self, key: bytes, value: bytes) -> bool:
        """Whether this database holds the notebook's probe value (it is shared)."""
        return value in self.fetch(key)

    def save_fatal_failure(self, key: bytes, fatal: FatalFailure) -> None:
        """Record that the test could not run at all (replacing an older record)."""
        self._replace_single(fatal_failure_key(key), fatal.to_bytes())

    def clear_fatal_failure(self, key: bytes) -> None:
        """Delete the test's fatal failure record (it ran an input after all)."""
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
            key = decode_test_key(value)
            if key is None:
                self.skipped["test_key"] += 1
            else:
                keys.append(key)
        return sorted(keys)

    def worker_uuids(self) -> list[str]:
        uuids = []
        for value in self.fetch(WORKER_UUIDS_KEY):
            uuid = decode_worker_uuid(value)
            if uuid is None:
                self.skipped["worker_uuid"] += 1
            else:
                uuids.append(uuid)
        return sorted(uuids)

    def stopped_workers(self) -> dict[str, float]:
        """Workers that stopped cleanly: uuid -> when (``time.time()``) it stopped."""
        stopped: dict[str, float] = {}
        for value in self.fetch(STOPPED_WORKERS_KEY):
            mark = StopMark.from_bytes(value)
            if mark is None:
                self.skipped["stopped_worker"] += 1
            else:
                uuid, when = mark.worker_uuid, mark.stopped_at
                stopped[uuid] = max(when, stopped.get(uuid, when))
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

    def report_columns(self, values: list[bytes]) -> dict[str, list[Any]]:
        """The valid reports among ``values`` (read from a reports key) as columns, one
        list per field of ``records.REPORT_COLUMNS``; invalid values are counted in
        :attr:`skipped`."""
        columns, invalid = report_columns(values)
        if invalid:
            self.skipped["report"] += invalid
        return columns

    def reports(self, key: bytes) -> list[Report]:
        """The test's progress reports that decode, in no particular order (the others
        are counted in :attr:`skipped`)."""
        result = []
        for value in self.fetch(reports_key(key)):
            report = Report.from_bytes(value)
            if report is None:
                self.skipped["report"] += 1
            else:
                result.append(report)
        return result

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
        orphans = []
        for candidate in all_keys or ():
            parsed = parse_failure_observation_key(key, candidate)
            if parsed is None or parsed[1] in current:
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

    def solver_work(self, key: bytes) -> list[SolverWork]:
        """Every worker's SolverWork record of the test ``key``, by worker uuid."""
        return self.solver_work_of(self.fetch(solver_key(key)))

    def solver_work_of(self, values: list[bytes]) -> list[SolverWork]:
        """The valid SolverWork records among ``values`` (read from a solver key), by
        worker uuid; invalid values are counted in :attr:`skipped`."""
        found = []
        for value in values:
            work = SolverWork.from_bytes(value)
            if work is None:
                self.skipped["solver_work"] += 1
            else:
                found.append(work)
        return sorted(found, key=lambda w: w.worker_uuid)

    def list_keys(self) -> set[bytes] | None:
        """Every key in the database, or ``None`` if this kind of database cannot list keys."""
        reader = read_values if self.read_only else None
        return self._retry("list the keys of", lambda: list_keys(self.raw_database, reader))

    def fingerprint(self, key: bytes) -> bytes:
        """A digest of the values under ``key`` that changes when they change.

        For a directory database only the file names (the values' hashes) are listed:
        no file is read. Raises whatever the database raises, without retries (a
        watcher polls again anyway).
        """
        if isinstance(self.raw_database, DirectoryBasedExampleDatabase):
            names = _compat.store_directory_value_names(self.raw_database, key)
            return hashlib.blake2b("\0".join(names).encode(), digest_size=_DIGEST_SIZE).digest()
        digest = hashlib.blake2b(digest_size=_DIGEST_SIZE)
        for value in sorted(self._only_bytes(list(self.database.fetch(key)))):
            digest.update(hashlib.blake2b(value, digest_size=_DIGEST_SIZE).digest())
        return digest.digest()

    def probe(self) -> None:
        """Read once, without retries, a key that holds nothing: raises what the database
        raises if it cannot be read right now."""
        list(self.database.fetch(PROBE_KEY))


#: Bytes of a :meth:`Store.fingerprint` (and of each value's digest inside it).
_DIGEST_SIZE = 16


# Keys per Redis pipeline in fetch_many: one round trip each, while the values of
# one pipeline (reports of 2,000 runs are ~1 MB per key) stay a small part of memory.
_PIPELINE_KEYS = 10
