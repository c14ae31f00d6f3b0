"""Running fuzzers in the background: a thread in this process, or supervised processes.

:func:`fuzz` is the one entry point. It collects the tests (in the caller, so that a
user mistake raises at once), then returns a :class:`FuzzSession` that fuzzes them:

* ``workers=1``: one daemon thread in this process. This is the only mode that can fuzz
  tests defined in a notebook (pass them as ``targets=``).
* ``workers=N>1``: ``N`` worker processes, started with the *spawn* method (forking a
  Jupyter kernel is never safe). Each re-collects the same paths and takes a share of the
  tests. A supervisor thread restarts a process that dies and saves the input that was
  running when it died as a failure of that test.

Guarantees:

* The worker never prints and never touches widgets: progress goes to the database (by
  the engine) and to :meth:`FuzzSession.status` snapshots.
* :meth:`FuzzSession.stop` returns within about one second and loses no failure: a
  failure is written to the database when it is found, not when the session stops.
* Errors are never swallowed: one that ends the session early is in
  :attr:`FuzzSession.error`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import marshal
import math
import multiprocessing
import os
import platform
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid as uuid_module
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, Any

from hypofuzz_nb import _compat, records
from hypofuzz_nb.errors import HypofuzzNbError, WorkerError
from hypofuzz_nb.status import SessionStatus, TestStatus, merge_statuses

if TYPE_CHECKING:
    pass

__all__ = [
    "BATCH_SIZE",
    "FuzzSession",
    "Scheduler",
    "fuzz",
    "worker_identity",
]

#: Inputs per batch: the engine's fixed cost per batch is amortised at ~100 inputs,
#: and a batch is the unit of scheduling and of stop latency.
BATCH_SIZE = 100

#: While fuzzing in this process, the GIL is handed over every millisecond (Python's
#: default is 5 ms) so that a Jupyter kernel sharing the process stays responsive.
SWITCH_INTERVAL_S = 0.001


# Worker identity ----------------------------------------------------------------------

_GIT_HASH: dict[str, str | None] = {}


def _git_hash(directory: str) -> str | None:
    """The commit checked out in ``directory``, or ``None`` (no git, not a repo, slow)."""
    if directory not in _GIT_HASH:
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            text = out.stdout.strip()
            _GIT_HASH[directory] = text if out.returncode == 0 and text else None
        except (OSError, subprocess.SubprocessError):
            _GIT_HASH[directory] = None
    return _GIT_HASH[directory]


def worker_identity(worker_uuid: str) -> records.WorkerIdentity:
    """Where this worker runs, including the Kubernetes downward-API variables if set."""
    import hypothesis

    from hypofuzz_nb import __version__

    env = os.environ.get
    return records.WorkerIdentity(
        uuid=worker_uuid,
        operating_system=platform.platform(),
        python_version=platform.python_version(),
        hypothesis_version=hypothesis.__version__,
        hypofuzz_version=f"hypofuzz_nb-{__version__}",
        pid=os.getpid(),
        hostname=socket.gethostname(),
        pod_name=env("POD_NAME"),
        pod_namespace=env("POD_NAMESPACE"),
        node_name=env("NODE_NAME"),
        pod_ip=env("POD_IP"),
        container_id=env("CONTAINER_ID"),
        git_hash=_git_hash(os.getcwd()),
    )


# Scheduling ---------------------------------------------------------------------------


class Scheduler:
    """Chooses which test runs the next batch.

    Most picks are greedy: the test expected to find a new behaviour soonest runs
    next. That expectation is ``1 / (seconds of its own fuzzing since its last new
    behaviour + 1)``: a test still climbing a chain of comparisons finds its next
    step after seconds and keeps the time, while tests that have found nothing for
    long share what is left (the one idle the shortest first, which evens out their
    time). Seconds, not inputs: per input, a slow test (a state machine, a big
    strategy) looks as promising as a fast one while costing ten times as much.

    A ``1 / fair_every`` share of the *time* (not of the picks: a batch may last
    0.05 s or 2 s) goes to the test that has had the least time so far, so that no
    test starves while another keeps finding things. A test that has never run
    runs before any other runs again.
    """

    def __init__(self, n: int, *, fair_every: int = 3) -> None:
        self._ran = [False] * n
        self._since_new = [0.0] * n
        self._last_pick = [-1] * n
        self._total_cost = [0.0] * n
        self._fair_cost = 0.0
        self._all_cost = 0.0
        self._picks = 0
        self._fair_every = fair_every
        self._fair_pick = -1

    def rate(self, index: int) -> float:
        """Expected new behaviours per second of ``index`` (inf before its first batch)."""
        if not self._ran[index]:
            return math.inf
        return 1.0 / (self._since_new[index] + 1.0)

    def pick(self, candidates: Sequence[int]) -> int:
        if not candidates:
            raise ValueError("nothing to schedule")
        self._picks += 1
        if self._fair_cost * self._fair_every < self._all_cost:
            chosen = min(candidates, key=lambda i: (self._total_cost[i], self._last_pick[i]))
            self._fair_pick = self._picks
        else:
            chosen = max(candidates, key=lambda i: (self.rate(i), -self._last_pick[i]))
        self._last_pick[chosen] = self._picks
        return chosen

    def record(
        self, index: int, inputs: int, new_behaviors: float, seconds: float | None = None
    ) -> None:
        """The batch just picked for ``index`` ran ``inputs`` inputs in ``seconds`` and
        found ``new_behaviors``. Without ``seconds`` the batch costs its number of inputs."""
        cost = max(inputs, 0) if seconds is None else max(seconds, 0.0)
        self._ran[index] = True
        self._since_new[index] = 0.0 if new_behaviors > 0 else self._since_new[index] + cost
        self._total_cost[index] += cost
        self._all_cost += cost
        if self._fair_pick == self._picks:
            self._fair_cost += cost


# The fuzz loop (shared by the thread and the worker processes) ------------------------


def _resilient(database: Any) -> Any:
    """``database`` wrapped so that an outage never stops fuzzing (see ResilientDatabase).

    A database that is a ``ResilientDatabase`` already is the caller's, with the
    caller's options, and is used as it is.
    """
    from hypofuzz_nb.resilient import ResilientDatabase

    if isinstance(database, ResilientDatabase):
        return database
    return ResilientDatabase(database, on_read_error="memory")


def _database_state(database: Any) -> tuple[int, float | None]:
    """``(pending_writes, unreachable_since)`` of a ResilientDatabase; (0, None) otherwise."""
    try:
        return int(database.pending_writes), database.unreachable_since
    except Exception:  # a status display must never fail because of the database
        return 0, None


def _mark_stopped(database: Any, worker_uuid: str) -> None:
    """Say in the database that this worker stopped, so readers stop showing its
    tests as running (before its final writes are flushed, so it goes with them)."""
    from hypofuzz_nb.store import Store

    with contextlib.suppress(Exception):  # stopping must never fail because of this
        Store(database).mark_worker_stopped(worker_uuid)


#: Seconds a stopping worker waits for the database to take its buffered writes.
EXIT_FLUSH_TIMEOUT_S = 5.0


def _import_engine() -> tuple[Any, Any]:
    from hypofuzz_nb.engine import TestFuzzer
    from hypofuzz_nb.store import Store

    return TestFuzzer, Store


#: Seconds of a test's first batch (the replay of its corpus goes on in later ones).
FIRST_BATCH_SECONDS = 0.05


class _FuzzLoop:
    """Runs batches of a set of targets until they finish, the budget ends or a stop.

    Owned by one thread: only :meth:`request_stop` and :meth:`snapshot` may be
    called from other threads.
    """

    def __init__(
        self,
        targets: Sequence[Any],
        database: Any,
        *,
        max_time: float | None,
        max_examples: int | None,
        timeout: float,
        exclude: Iterable[str] = (),
        on_input: Any = None,
        on_exit: Any = None,
        seed: int | None = None,
    ) -> None:
        excluded = set(exclude)
        self.seed = seed
        self.on_exit = on_exit
        self.targets = [t for t in targets if t.nodeid not in excluded]
        # Workers keep fuzzing through a database outage: writes are buffered and
        # retried, reads fall back to what this worker has in memory.
        self.database = _resilient(database)
        self._owns_database = self.database is not database
        self.max_time = max_time
        self.max_examples = max_examples
        self.timeout = timeout
        self.on_input = on_input
        self.worker_uuid = uuid_module.uuid4().hex
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._statuses: dict[int, TestStatus] = {}
        self._current: Any = None
        self.current_index = -1
        self.started_at = time.monotonic()
        self._running = True

    def request_stop(self) -> None:
        """Stop after the current input. Thread-safe; returns at once."""
        if self._stop.is_set():
            return
        self._stop.set()

        # A batch starting right now clears the fuzzer's own stop flag, so repeat
        # the request for a moment until the loop has seen it.
        def repeat() -> None:
            deadline = time.monotonic() + 2.0
            while self._running and time.monotonic() < deadline:
                current = self._current
                if current is not None:
                    with contextlib.suppress(Exception):
                        current.request_stop()
                time.sleep(0.02)

        threading.Thread(target=repeat, name="hypofuzz_nb-stop", daemon=True).start()

    def snapshot(self) -> tuple[TestStatus, ...]:
        with self._lock:
            return tuple(self._statuses[i] for i in sorted(self._statuses))

    def database_state(self) -> tuple[int, float | None]:
        """``(pending_writes, unreachable_since)`` of the database this loop writes to."""
        return _database_state(self.database)

    def _publish(self, index: int, fuzzer: Any) -> TestStatus:
        status = fuzzer.status
        with self._lock:
            self._statuses[index] = status
        return status

    def _out_of_time(self) -> bool:
        return self.max_time is not None and time.monotonic() - self.started_at >= self.max_time

    def run(self) -> None:
        try:
            self._run()
        finally:
            self._running = False
            _mark_stopped(self.database, self.worker_uuid)
            self._flush_database()
            if self.on_exit is not None:
                # Session-scoped fixture teardowns of the collection run here.
                self.on_exit()

    def _flush_database(self) -> None:
        """Give the database a bounded chance to take what is buffered.

        A wrapper made here is closed (its retry thread stops); one the caller
        passed in is only flushed, so the caller can go on using it.
        """
        try:
            if self._owns_database:
                self.database.close(timeout=EXIT_FLUSH_TIMEOUT_S)
            else:
                self.database.flush(timeout=EXIT_FLUSH_TIMEOUT_S)
        except Exception:  # stopping must never fail because of the database
            pass

    def _run(self) -> None:
        test_fuzzer_cls, store_cls = _import_engine()
        store = store_cls(self.database)
        store.register_worker(worker_identity(self.worker_uuid))
        fuzzers: list[Any] = []
        for index, target in enumerate(self.targets):
            if self.on_input is not None:
                _watch_inputs(target, index, self.on_input)
            fuzzer = test_fuzzer_cls(
                target,
                store,
                worker_uuid=self.worker_uuid,
                timeout=self.timeout,
                # per test, so that its inputs do not depend on which worker runs it
                random=None if self.seed is None else Random(f"{self.seed}:{target.nodeid}"),
            )
            fuzzers.append(fuzzer)
            waiting = fuzzer.status
            with self._lock:
                self._statuses[index] = dataclasses.replace(waiting, phase="waiting")
        scheduler = Scheduler(len(fuzzers))
        done = [False] * len(fuzzers)
        started = [False] * len(fuzzers)
        try:
            while not self._stop.is_set() and not self._out_of_time():
                candidates = [i for i in range(len(fuzzers)) if not done[i]]
                if not candidates:
                    break
                index = scheduler.pick(candidates)
                fuzzer = fuzzers[index]
                self.current_index = index
                self._current = fuzzer
                if self._stop.is_set():
                    break
                batch_started = time.monotonic()
                first = not started[index]
                if first:
                    fuzzer.start()
                    started[index] = True
                before = self._publish(index, fuzzer)
                n = BATCH_SIZE
                if self.max_examples is not None:
                    n = max(1, min(n, self.max_examples - before.inputs))
                # A short first batch: every test of a large suite gets its first
                # inputs within a minute, before any gets a second batch.
                fuzzer.run(n, max_seconds=FIRST_BATCH_SECONDS if first else None)
                after = self._publish(index, fuzzer)
                scheduler.record(
                    index,
                    after.inputs - before.inputs,
                    # New branches are what lead deeper. New combinations of known
                    # ones (fingerprints) come cheaply to any test with a rich input
                    # space and would draw all the time there: they do not count.
                    after.behaviors - before.behaviors,
                    seconds=time.monotonic() - batch_started,
                )
                if (
                    after.finished
                    or after.fatal
                    or getattr(fuzzer, "finished", False)
                    or (self.max_examples is not None and after.inputs >= self.max_examples)
                ):
                    done[index] = True
        finally:
            self._current = None
            self.current_index = -1
            self._running = False
            # Final reports of every started fuzzer (failures are saved already).
            for index, fuzzer in enumerate(fuzzers):
                if started[index]:
                    try:
                        fuzzer.stop()
                    finally:
                        self._publish(index, fuzzer)


class _InputWatcher:
    """Stands in for a test's ``inner_test``: reports the input, then runs the test.

    ``callback(index, choices)`` is called before the test body runs an input and
    ``callback(-1, None)`` after it, however it ended.

    Every attribute is delegated to the wrapped function (including ``__wrapped__``
    lookups that Hypothesis' key computation makes), so the test's database key and
    signature are unchanged.
    """

    __slots__ = ("_hfnb_callback", "_hfnb_index", "_hfnb_inner")

    def __init__(self, inner: Any, index: int, callback: Any) -> None:
        object.__setattr__(self, "_hfnb_inner", inner)
        object.__setattr__(self, "_hfnb_index", index)
        object.__setattr__(self, "_hfnb_callback", callback)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # No import statement here: a `from package import module` runs importlib's
        # Python code on every input, which sys.settrace coverage (3.11) pays for.
        choices = _compat.worker_current_choices()
        if choices is None:
            return self._hfnb_inner(*args, **kwargs)
        self._hfnb_callback(self._hfnb_index, choices)
        try:
            return self._hfnb_inner(*args, **kwargs)
        finally:
            # Out of the test body (returned, raised or interrupted): whatever
            # happens next is not this input's doing.
            self._hfnb_callback(-1, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hfnb_inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._hfnb_inner, name, value)

    @property
    def __wrapped__(self) -> Any:
        return self._hfnb_inner

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(self._hfnb_inner)


def _watch_inputs(target: Any, index: int, callback: Any) -> None:
    """Make ``target``'s test report each input to ``callback`` before running it."""
    handle = getattr(target.test, "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if inner is None or isinstance(inner, _InputWatcher):
        return
    handle.inner_test = _InputWatcher(inner, index, callback)


# The session --------------------------------------------------------------------------


class FuzzSession:
    """A running (or finished) fuzzing session. Create one with :func:`fuzz`.

    All methods are safe to call from any thread. :attr:`database` is the database
    the session writes to; :attr:`collection_errors` are the files that could not be
    imported (their tests are not fuzzed, the others are); :attr:`not_fuzzable` are
    the Hypothesis tests left out, each with its reason; :attr:`collection_notes` say
    what collection changed in the project's pytest configuration for fuzzing.
    """

    database: Any = None
    collection_errors: Sequence[Any] = ()
    not_fuzzable: Sequence[Any] = ()
    collection_notes: Sequence[str] = ()

    def __init__(self, *, workers: int, max_time: float | None) -> None:
        self.workers = workers
        self.max_time = max_time
        self._started_at = time.monotonic()
        self._ended_at: float | None = None
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._error_text: str | None = None

    # Filled in by the two implementations.
    def _snapshot(self) -> tuple[TestStatus, ...]:
        raise NotImplementedError

    def _restarts(self) -> int:
        return 0

    def _database_state(self) -> tuple[int, float | None]:
        return 0, None

    def _request_stop(self) -> None:
        raise NotImplementedError

    def _finish(self, error: BaseException | None = None, text: str | None = None) -> None:
        if error is not None and self._error is None:
            self._error = error
            self._error_text = text or f"{type(error).__name__}: {error}"
        self._ended_at = time.monotonic()
        self._done.set()

    @property
    def running(self) -> bool:
        """True until every worker has stopped."""
        return not self._done.is_set()

    @property
    def error(self) -> BaseException | None:
        """The error that ended the session early, or ``None``."""
        return self._error

    @property
    def failures(self) -> int:
        """Number of tests that failed in this session (fatal failures included)."""
        return self.status().failures

    def status(self) -> SessionStatus:
        """A snapshot of every test's progress."""
        end = self._ended_at if self._ended_at is not None else time.monotonic()
        pending, unreachable_since = self._database_state()
        return SessionStatus(
            tests=merge_statuses(self._snapshot()),
            running=self.running,
            elapsed_s=end - self._started_at,
            workers=self.workers,
            restarts=self._restarts(),
            error=self._error_text,
            pending_writes=pending,
            unreachable_since=unreachable_since,
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session ends (or ``timeout`` seconds pass); True if it ended."""
        return self._done.wait(timeout)

    def stop(self, timeout: float = 1.0) -> None:
        """Ask every worker to stop, and wait at most ``timeout`` seconds for it.

        Failures are already in the database when found, so nothing is lost if a
        worker is still finishing its batch when this returns.
        """
        self._request_stop()
        self._done.wait(timeout)

    def __enter__(self) -> FuzzSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.wait(10)

    def __repr__(self) -> str:
        s = self.status()
        state = "running" if s.running else "stopped"
        return (
            f"<FuzzSession {state}: {len(s.tests)} tests, {s.inputs} inputs, "
            f"{s.failures} failing, {self.workers} worker(s)>"
        )


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextlib.contextmanager
def _responsive_switch_interval() -> Any:
    """Lower the GIL switch interval while any in-process session runs."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL_S))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class _ThreadSession(FuzzSession):
    """``workers=1``: one daemon thread in this process."""

    def __init__(self, loop: _FuzzLoop, *, max_time: float | None) -> None:
        super().__init__(workers=1, max_time=max_time)
        self._loop = loop
        self._thread = threading.Thread(target=self._main, name="hypofuzz_nb-worker", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        error: BaseException | None = None
        text = None
        try:
            with _responsive_switch_interval():
                self._loop.run()
        except BaseException as e:
            error = e
            text = (
                str(e)
                if isinstance(e, HypofuzzNbError)
                else "hypofuzz_nb worker crashed (a bug in hypofuzz_nb, please report it):\n"
                + "".join(traceback.format_exception(e))
            )
        self._finish(error, text)

    def _snapshot(self) -> tuple[TestStatus, ...]:
        return self._loop.snapshot()

    def _database_state(self) -> tuple[int, float | None]:
        return self._loop.database_state()

    def _request_stop(self) -> None:
        self._loop.request_stop()


# Worker processes ---------------------------------------------------------------------

#: Bytes of the shared "current input" slot of each worker process.
SLOT_SIZE = 1 << 16
# started_at (monotonic seconds), sequence number, target index (-1: none), payload length
_SLOT_HEADER = struct.Struct("<dIiI")


@dataclass(frozen=True)
class _ChildConfig:
    paths: tuple[str, ...]
    pytest_args: tuple[str, ...]
    database: Any
    use_collected_database: bool
    max_time: float | None
    max_examples: int | None
    timeout: float
    index: int
    n_workers: int
    exclude: tuple[str, ...]
    cwd: str
    seed: int | None = None


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_script_hidden() -> Any:
    """Keep spawned workers from re-running the parent's main script.

    A spawned child normally imports the parent's ``__main__`` file again, which
    re-runs a script without an ``if __name__ == "__main__":`` guard (and its call to
    ``fuzz``). Workers need nothing from it: everything comes from collection.
    """
    main = sys.modules.get("__main__")
    with _MAIN_LOCK:
        if (
            main is None
            or getattr(getattr(main, "__spec__", None), "name", None)
            or not hasattr(main, "__file__")
        ):
            yield
            return
        path = main.__file__
        del main.__file__
        try:
            yield
        finally:
            main.__file__ = path


def _share(targets: Sequence[Any], index: int, n_workers: int) -> list[Any]:
    """Worker ``index``'s share: round-robin by nodeid, or one shared test each."""
    ordered = sorted(targets, key=lambda t: t.nodeid)
    if not ordered:
        return []
    if len(ordered) >= n_workers:
        return ordered[index::n_workers]
    return [ordered[index % len(ordered)]]


def _slot_payload(choices: tuple[Any, ...]) -> bytes:
    """The choices as the slot keeps them: cheap to write, turned into Hypothesis'
    own format (``choices_to_bytes``) only when a process has died.

    ``marshal`` serialises the tuple of ints, floats (bit-exact), bools, strings and
    bytes in one C call, so the per-input cost stays a couple of Python calls even
    under ``sys.settrace`` coverage (3.11), which pays for every Python call;
    ``choices_to_bytes`` runs Python code for every choice. Anything marshal cannot
    write falls back to ``choices_to_bytes``. Only our own worker process writes the
    slot, and marshal never runs code when reading.
    """
    try:
        return b"M" + marshal.dumps(choices)
    except ValueError:
        return b"C" + records.encode_choices(choices)


def _slot_choices_bytes(payload: bytes) -> bytes | None:
    """The ``choices_to_bytes`` form of a slot payload, or None if it is unreadable."""
    try:
        if payload[:1] == b"M":
            return records.encode_choices(marshal.loads(payload[1:]))
        if payload[:1] == b"C":
            return payload[1:]
    except Exception:  # a torn or foreign payload: the crash is still reported
        return None
    return None


class _SlotWriter:
    """Writes the input about to run into a worker process's shared slot.

    Called as ``writer(target_index, choices)`` before each input and
    ``writer(-1, None)`` after it. The supervisor reads the slot when the process
    dies, to save the input that killed it.
    """

    def __init__(self, slot: Any) -> None:
        self._view = memoryview(slot).cast("B")
        self._sequence = 0

    def __call__(self, target_index: int, choices: tuple[Any, ...] | None) -> None:
        self._sequence += 1
        view = self._view
        if choices is None:
            _SLOT_HEADER.pack_into(view, 0, time.monotonic(), self._sequence, -1, 0)
            return
        payload = _slot_payload(choices)
        if len(payload) > SLOT_SIZE - _SLOT_HEADER.size:
            payload = b""  # too long to keep: the supervisor still learns the test
        # Length 0 first, so a half-written payload is never read as complete.
        _SLOT_HEADER.pack_into(view, 0, time.monotonic(), self._sequence, target_index, 0)
        view[_SLOT_HEADER.size : _SLOT_HEADER.size + len(payload)] = payload
        _SLOT_HEADER.pack_into(
            view, 0, time.monotonic(), self._sequence, target_index, len(payload)
        )

    def clear(self) -> None:
        self._sequence += 1
        _SLOT_HEADER.pack_into(self._view, 0, time.monotonic(), self._sequence, -1, 0)


def _child_main(config: _ChildConfig, status_queue: Any, stop_event: Any, slot: Any) -> None:
    """Entry point of a worker process (spawned: must stay importable at top level)."""
    # Ctrl-C in a terminal reaches the whole process group; the supervisor decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.chdir(config.cwd)
    try:
        from hypofuzz_nb.collect import collect_tests

        collection = collect_tests(config.paths, config.pytest_args)
        database = collection.database if config.use_collected_database else config.database
        targets = _share(collection.targets, config.index, config.n_workers)
    except BaseException as e:
        status_queue.put(("error", config.index, _describe_error(e)))
        return
    status_queue.put(("targets", config.index, [(t.nodeid, t.database_key) for t in targets]))
    on_input = _SlotWriter(slot)

    loop = _FuzzLoop(
        targets,
        database,
        max_time=config.max_time,
        max_examples=config.max_examples,
        timeout=config.timeout,
        exclude=config.exclude,
        on_input=on_input,
        on_exit=collection.close,
        seed=config.seed,
    )
    finished = threading.Event()

    def report() -> None:
        while not finished.wait(0.25):
            if stop_event.is_set():
                loop.request_stop()
            status_queue.put(("status", config.index, loop.snapshot()))
            status_queue.put(("database", config.index, loop.database_state()))

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        loop.run()
    except BaseException as e:
        status_queue.put(("error", config.index, _describe_error(e)))
        return
    finally:
        finished.set()
        reporter.join(1)
        # Nothing is running any more: clear the slot so that exiting is not a crash.
        on_input.clear()
        status_queue.put(("status", config.index, loop.snapshot()))
        status_queue.put(("database", config.index, loop.database_state()))
    status_queue.put(("done", config.index, None))


def _describe_error(e: BaseException) -> str:
    if isinstance(e, HypofuzzNbError):
        return str(e)
    return (
        "hypofuzz_nb worker process crashed (a bug in hypofuzz_nb, please report it):\n"
        + "".join(traceback.format_exception(e))
    )


@dataclass
class _Child:
    index: int
    process: Any
    slot: Any
    targets: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)
    done: bool = False
    statuses: tuple[TestStatus, ...] = ()
    previous_statuses: list[TestStatus] = dataclasses.field(default_factory=list)
    # (pending_writes, unreachable_since) of the process's database, as last reported.
    database_state: tuple[int, float | None] = (0, None)


class _ProcessSession(FuzzSession):
    """``workers=N``: N supervised worker processes (spawn)."""

    #: A worker that dies more often than this is not restarted again.
    MAX_RESTARTS_PER_WORKER = 20
    #: A test whose inputs hung a worker this often is not fuzzed again this session.
    MAX_HANGS_PER_TEST = 3

    def __init__(
        self,
        *,
        paths: tuple[str, ...],
        pytest_args: tuple[str, ...],
        database: Any,
        use_collected_database: bool,
        workers: int,
        max_time: float | None,
        max_examples: int | None,
        timeout: float,
        seed: int | None = None,
    ) -> None:
        super().__init__(workers=workers, max_time=max_time)
        self._ctx = multiprocessing.get_context("spawn")
        self._queue = self._ctx.Queue()
        self._stop_event = self._ctx.Event()
        self._database = database
        # Inputs that killed a worker are saved from here: buffered if the database is down.
        self._crash_database = _resilient(database)
        self._config = dict(
            paths=paths,
            pytest_args=pytest_args,
            database=None if use_collected_database else database,
            use_collected_database=use_collected_database,
            max_examples=max_examples,
            timeout=timeout,
            n_workers=workers,
            cwd=os.getcwd(),
            seed=seed,
        )
        self._timeout = timeout
        self._deadline = None if max_time is None else time.monotonic() + max_time
        self._lock = threading.Lock()
        self._crashed: set[str] = set()
        self._hangs: dict[str, int] = {}
        self._restart_count = 0
        self._children = [self._spawn(i) for i in range(workers)]
        self._supervisor = threading.Thread(
            target=self._supervise, name="hypofuzz_nb-supervisor", daemon=True
        )
        self._supervisor.start()

    def _spawn(self, index: int, slot: Any = None) -> _Child:
        if slot is None:
            slot = self._ctx.Array("B", SLOT_SIZE, lock=False)
        _SLOT_HEADER.pack_into(memoryview(slot).cast("B"), 0, 0.0, 0, -1, 0)
        remaining = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        config = _ChildConfig(
            **self._config, index=index, max_time=remaining, exclude=tuple(sorted(self._crashed))
        )
        process = self._ctx.Process(
            target=_child_main,
            args=(config, self._queue, self._stop_event, slot),
            name=f"hypofuzz_nb-worker-{index}",
            daemon=True,
        )
        with _main_script_hidden():
            process.start()
        return _Child(index=index, process=process, slot=slot)

    def _snapshot(self) -> tuple[TestStatus, ...]:
        with self._lock:
            out: list[TestStatus] = []
            for child in self._children:
                out.extend(child.previous_statuses)
                out.extend(child.statuses)
            return tuple(out)

    def _restarts(self) -> int:
        return self._restart_count

    def _database_state(self) -> tuple[int, float | None]:
        with self._lock:
            states = [c.database_state for c in self._children]
        states.append(_database_state(self._crash_database))
        pending = sum(n for n, _ in states)
        since = [t for _, t in states if t is not None]
        return pending, min(since) if since else None

    def _request_stop(self) -> None:
        self._stop_event.set()

    def _drain(self) -> None:
        while True:
            try:
                kind, index, payload = self._queue.get_nowait()
            except queue.Empty:
                return
            except (EOFError, OSError):
                return
            child = self._children[index]
            with self._lock:
                if kind == "status":
                    child.statuses = payload
                elif kind == "targets":
                    child.targets = list(payload)
                elif kind == "database":
                    child.database_state = payload
                elif kind == "done":
                    child.done = True
                elif kind == "error":
                    child.done = True
                    if self._error is None:
                        self._error = WorkerError(payload)
                        self._error_text = payload
                    self._stop_event.set()

    def _read_slot(self, child: _Child) -> tuple[int, bytes | None, float]:
        view = memoryview(child.slot).cast("B")
        started, _seq, target_index, length = _SLOT_HEADER.unpack_from(view, 0)
        payload = bytes(view[_SLOT_HEADER.size : _SLOT_HEADER.size + length]) if length else None
        return target_index, None if payload is None else _slot_choices_bytes(payload), started

    def _handle_death(self, child: _Child, how: str, *, hung: bool = False) -> None:
        """Save the input that was running (if any) and restart the worker.

        An input that killed the process is a failure of its test (saved under ``K``,
        the test is not fuzzed again this session). An input that hung so hard that
        the process was killed is a timeout, saved where the engine saves timeouts
        (never under ``K``: plain pytest would hang on it), and fuzzing of the test
        goes on, up to :attr:`MAX_HANGS_PER_TEST` such kills.
        """
        target_index, payload, _started = self._read_slot(child)
        if hung and 0 <= target_index < len(child.targets):
            nodeid, key = child.targets[target_index]
            self._hangs[nodeid] = self._hangs.get(nodeid, 0) + 1
            if self._hangs[nodeid] >= self.MAX_HANGS_PER_TEST:
                self._crashed.add(nodeid)
            if payload is not None:
                _save_hang(self._crash_database, nodeid, key, payload, how)
            with self._lock:
                child.previous_statuses.extend(
                    dataclasses.replace(s, n_timeouts=s.n_timeouts + (s.nodeid == nodeid))
                    for s in child.statuses
                )
        elif 0 <= target_index < len(child.targets):
            nodeid, key = child.targets[target_index]
            self._crashed.add(nodeid)
            if payload is not None:
                _save_crash(self._crash_database, nodeid, key, payload, how)
            with self._lock:
                # Keep what it did so far, marked failed.
                child.previous_statuses.extend(
                    dataclasses.replace(
                        s,
                        n_failures=max(1, s.n_failures) if s.nodeid == nodeid else s.n_failures,
                        phase="failed" if s.nodeid == nodeid else s.phase,
                        finished=s.finished or s.nodeid == nodeid,
                        fatal=s.fatal,
                    )
                    for s in child.statuses
                )
                if not any(s.nodeid == nodeid for s in child.statuses):
                    child.previous_statuses.append(
                        TestStatus(
                            nodeid=nodeid,
                            database_key=records.key_to_base64(key),
                            phase="failed",
                            inputs=0,
                            behaviors=0,
                            fingerprints=0,
                            since_new_behavior=None,
                            elapsed_s=0.0,
                            inputs_per_s=0.0,
                            n_failures=1,
                            finished=True,
                        )
                    )
        else:
            with self._lock:
                child.previous_statuses.extend(child.statuses)
        with self._lock:
            child.statuses = ()
        if self._stop_event.is_set() or (
            self._deadline is not None and time.monotonic() >= self._deadline
        ):
            child.done = True
            return
        if self._restart_count >= self.MAX_RESTARTS_PER_WORKER * self.workers:
            child.done = True
            if self._error is None:
                self._error_text = (
                    f"worker processes died {self._restart_count} times; not restarting them again"
                )
                self._error = WorkerError(self._error_text)
            return
        self._restart_count += 1
        replacement = self._spawn(child.index, child.slot)
        with self._lock:
            replacement.previous_statuses = child.previous_statuses
            self._children[child.index] = replacement

    def _supervise(self) -> None:
        # The engine interrupts a slow input after `timeout`; this is for inputs it
        # cannot interrupt (stuck in C code, signals blocked).
        hang_limit = self._timeout * 2 + 5
        try:
            while True:
                self._drain()
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    self._stop_event.set()
                for child in list(self._children):
                    if child.done and not child.process.is_alive():
                        continue
                    if not child.process.is_alive():
                        self._drain()
                        if child.done:
                            continue
                        code = child.process.exitcode
                        how = (
                            f"killed by signal {signal.Signals(-code).name}"
                            if code is not None and code < 0
                            else f"exited with code {code}"
                        )
                        self._handle_death(child, f"the worker process {how}")
                        continue
                    target_index, _payload, started = self._read_slot(child)
                    if target_index >= 0 and started and time.monotonic() - started > hang_limit:
                        child.process.kill()
                        child.process.join(5)
                        self._handle_death(
                            child,
                            f"the worker process stopped responding for over {hang_limit:.0f} s "
                            "and was killed",
                            hung=True,
                        )
                if all(c.done and not c.process.is_alive() for c in self._children):
                    break
                time.sleep(0.05)
        except BaseException as e:
            self._flush_crash_database()
            self._finish(e, _describe_error(e))
            return
        self._drain()
        self._flush_crash_database()
        self._finish()

    def _flush_crash_database(self) -> None:
        with contextlib.suppress(Exception):
            if self._crash_database is not self._database:
                self._crash_database.close(timeout=EXIT_FLUSH_TIMEOUT_S)
            else:
                self._crash_database.flush(timeout=EXIT_FLUSH_TIMEOUT_S)


def _save_crash(database: Any, nodeid: str, key: bytes, choices_bytes: bytes, how: str) -> None:
    """Save an input that killed its worker process as a failure of its test.

    It goes under the test's own key (as if shrunk: it cannot be shrunk without
    killing more processes), so a plain ``pytest`` run replays it first.
    """
    observation = records.Observation(
        status="failed",
        status_reason=f"{how} while running this input",
        representation="",
        property=nodeid,
        run_start=time.time(),
        metadata={
            "traceback": f"WorkerProcessDied: {how} while running this input.\n",
            "reproduction_decorator": None,
            "data_status": 3,
        },
        how_generated="fuzzer",
    )
    from hypofuzz_nb.store import Store

    # The supervisor must go on supervising even if the database is unreachable now;
    # the crash is still visible in the session status.
    with contextlib.suppress(Exception):
        Store(database).save_failure(key, "shrunk", choices_bytes, observation)


def _save_hang(database: Any, nodeid: str, key: bytes, choices_bytes: bytes, how: str) -> None:
    """Save an input that hung its worker process where the engine keeps timeouts."""
    observation = records.Observation(
        status="failed",
        status_reason=f"timeout: {how} while running this input",
        representation="",
        property=nodeid,
        run_start=time.time(),
        metadata={"traceback": None, "reproduction_decorator": None, "data_status": 3},
        how_generated="fuzz:timeout",
    )
    from hypofuzz_nb.store import Store

    with contextlib.suppress(Exception):
        Store(database).save_timeout(key, choices_bytes, observation)


# The entry point ----------------------------------------------------------------------


def fuzz(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
    *,
    pytest_args: Iterable[str] = (),
    workers: int = 1,
    max_time: float | None = None,
    max_examples: int | None = None,
    database: Any = None,
    timeout: float = 10.0,
    targets: Any = None,
    seed: int | None = None,
    exitfirst: bool = False,
) -> FuzzSession:
    """Start fuzzing Hypothesis tests in the background and return the session.

    ``paths`` and ``pytest_args`` are what you would pass to ``pytest``. Alternatively
    pass ``targets=``: a ``Collection`` (e.g. of the tests defined in a notebook) or a
    list of its targets; only ``workers=1`` can run those.

    ``max_time`` bounds the whole session in seconds; ``max_examples`` bounds the inputs
    of each test; without either, the session runs until :meth:`FuzzSession.stop`
    (or until every test has failed). ``database=None`` uses the database of the
    settings profile in effect after collection; a given database is used for all
    tests. ``timeout`` is the per-input time limit in seconds. ``seed`` (an integer)
    makes each test's choice of inputs repeatable (timing still decides how many run).
    ``exitfirst=True`` stops the session once the first failure is saved (like
    pytest's ``-x``): the quickest way to a bug when that is all you are after.

    Raises :class:`~hypofuzz_nb.errors.HypofuzzNbError` subclasses for anything the
    user must fix before fuzzing can start (bad path, import error, no tests ...).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise WorkerError(f"workers must be a positive integer, not {workers!r}")
    if max_time is not None and not (isinstance(max_time, (int, float)) and max_time > 0):
        raise WorkerError(
            f"max_time must be a positive number of seconds or None, not {max_time!r}"
        )
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise WorkerError(f"max_examples must be a positive integer or None, not {max_examples!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise WorkerError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise WorkerError(f"seed must be an integer or None, not {seed!r}")
    if not isinstance(exitfirst, bool):
        raise WorkerError(f"exitfirst must be True or False, not {exitfirst!r}")
    if isinstance(paths, (str, os.PathLike)):
        paths = (paths,)
    path_list = tuple(os.fspath(p) for p in paths)
    args = (pytest_args,) if isinstance(pytest_args, str) else tuple(pytest_args)

    if targets is not None:
        if workers != 1:
            raise WorkerError(
                "targets= can only be fuzzed with workers=1 (in this process); "
                "pass paths instead to use several worker processes"
            )
        target_list = list(getattr(targets, "targets", targets))
        collected_db = getattr(targets, "database", None)
        collection_errors = list(getattr(targets, "errors", ()) or ())
        not_fuzzable = list(getattr(targets, "not_fuzzable", ()) or ())
        notes = list(getattr(targets, "notes", ()) or ())
        close = None  # the caller owns the collection
    else:
        from hypofuzz_nb.collect import collect_tests

        # Raises for what must be fixed first (bad path, nothing fuzzable, ...).
        collection = collect_tests(path_list, args)
        # Worker processes collect again; these arguments spare them a first try
        # whose ini -m/-k would be dropped.
        args = tuple(collection.pytest_args)
        target_list = list(collection.targets)
        collected_db = collection.database
        collection_errors = list(collection.errors)
        not_fuzzable = list(collection.not_fuzzable)
        notes = list(collection.notes)
        close = collection.close
    if not target_list:
        if close is not None:
            close()
        raise WorkerError(_nothing_to_fuzz_message(targets, path_list))
    effective_db = database if database is not None else collected_db
    if effective_db is None:
        if close is not None:
            close()
        raise WorkerError(
            "the settings profile in effect has database=None, so the fuzzer would "
            "have nowhere to save what it finds: load a profile with a database, or "
            "pass database=..." + ci_profile_hint()
        )
    if workers == 1:
        loop = _FuzzLoop(
            target_list,
            effective_db,
            max_time=max_time,
            max_examples=max_examples,
            timeout=float(timeout),
            on_exit=close,
            seed=seed,
        )
        session: FuzzSession = _ThreadSession(loop, max_time=max_time)
        session.database = effective_db
        session.collection_errors = collection_errors
        session.not_fuzzable = not_fuzzable
        session.collection_notes = notes
        if exitfirst:
            _stop_on_first_failure(session)
        return session
    # The worker processes collect for themselves; this collection only checked
    # that there is something to fuzz and found the database.
    if close is not None:
        close()
    from hypothesis.database import InMemoryExampleDatabase

    if isinstance(effective_db, InMemoryExampleDatabase):
        raise WorkerError(
            f"workers={workers} needs a database that worker processes share, and an "
            "InMemoryExampleDatabase lives in one process only: use a directory "
            "database (the default) or Redis, or workers=1"
        )
    if database is not None:
        import pickle

        try:
            pickle.dumps(database)
        except Exception as e:
            raise WorkerError(
                f"workers={workers} needs a database that can be sent to worker "
                f"processes, and {database!r} cannot be pickled ({e}); load it in a "
                "settings profile in conftest.py instead of passing database="
            ) from None
    session = _ProcessSession(
        paths=path_list,
        pytest_args=args,
        database=effective_db,
        use_collected_database=database is None,
        workers=workers,
        max_time=max_time,
        max_examples=max_examples,
        timeout=float(timeout),
        seed=seed,
    )
    session.database = effective_db
    session.collection_errors = collection_errors
    session.not_fuzzable = not_fuzzable
    session.collection_notes = notes
    if exitfirst:
        _stop_on_first_failure(session)
    return session


def _stop_on_first_failure(session: FuzzSession, poll: float = 0.2) -> None:
    """Stop ``session`` from a daemon thread once it reports a failure.

    A test counts a failure only after saving it (shrunk, under its key), so stopping
    then loses nothing; the session's own stop() does the rest, as for any stop.
    """

    def watch() -> None:
        while not session.wait(timeout=poll):
            if session.failures:
                session.stop()
                return

    threading.Thread(target=watch, name="hypofuzz_nb-exitfirst", daemon=True).start()


def ci_profile_hint() -> str:
    """Why the database may be None: Hypothesis' own "ci" profile, loaded when it sees
    a CI variable such as CI=true, has database=None and derandomize=True."""
    from hypothesis import settings

    if settings.get_current_profile_name() != "ci":
        return ""
    return (
        ". Hypothesis loaded its 'ci' profile (database=None, derandomize=True) because "
        "a CI environment variable such as CI=true is set: unset it, or load a profile "
        "with a database in conftest.py"
    )


def _nothing_to_fuzz_message(targets: Any, paths: tuple[str, ...]) -> str:
    if targets is not None:
        return "targets= holds no fuzzable tests"
    where = " ".join(paths) or os.getcwd()
    return f"no Hypothesis tests to fuzz in {where}"
