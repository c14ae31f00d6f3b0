"""Worker processes and their supervision: fuzzing with ``workers=N>1``.

:class:`ProcessSupervisor` starts ``N`` worker processes with the *spawn* method
(forking a Jupyter kernel is never safe). Each re-collects the same paths, takes its
share of the tests (:func:`worker_share`) and runs a
:class:`~hypofuzz_nb.fuzz_loop.FuzzLoop`, reporting its progress over a queue. A
supervisor thread restarts a process that dies, and kills and restarts one that
stops responding.

Guarantees:

* The input that was running when a process died is saved as a failure of its test
  (the test is not fuzzed again this session); one that hung a process so hard
  that it was killed is saved as a timeout (see :mod:`hypofuzz_nb.crashes`).
* A process that dies is restarted with the rest of the session's time, at most
  :attr:`ProcessSupervisor.MAX_RESTARTS_PER_WORKER` times per worker.
* What a process did before it died stays in the snapshot.
* Every error that ends the supervision is reported (``on_error``), never swallowed;
  ``on_end`` is called exactly once, when every process has stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypofuzz_nb import records
from hypofuzz_nb.crashes import save_crash, save_hang
from hypofuzz_nb.errors import HypofuzzNbError, WorkerError
from hypofuzz_nb.fuzz_loop import FuzzLoop
from hypofuzz_nb.outage import buffer_state, outage_proof, release
from hypofuzz_nb.slot import SlotWriter, new_slot, read_slot
from hypofuzz_nb.status import TestStatus

__all__ = ["ProcessSupervisor", "main_script_hidden", "worker_share"]

#: Seconds between two progress reports of a worker process.
REPORT_EVERY_S = 0.25
#: Seconds between two rounds of the supervisor.
SUPERVISE_EVERY_S = 0.05
#: Seconds to wait for a killed process to be gone.
KILL_JOIN_S = 5
#: Seconds a stopping worker process waits for its last progress report to be sent.
REPORTER_JOIN_S = 1
#: A process whose input has run longer than ``HANG_TIMEOUTS`` per-input timeouts plus
#: ``HANG_GRACE_S`` seconds is killed as hung.
HANG_TIMEOUTS = 2
HANG_GRACE_S = 5


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
    solver: bool = False


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def main_script_hidden() -> Any:
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


def worker_share(targets: Sequence[Any], index: int, n_workers: int) -> list[Any]:
    """Worker ``index``'s share: round-robin by nodeid, or one shared test each."""
    ordered = sorted(targets, key=lambda t: t.nodeid)
    if not ordered:
        return []
    if len(ordered) >= n_workers:
        return ordered[index::n_workers]
    return [ordered[index % len(ordered)]]


def _child_main(config: _ChildConfig, status_queue: Any, stop_event: Any, slot: Any) -> None:
    """Entry point of a worker process (spawned: must stay importable at top level)."""
    # Ctrl-C in a terminal reaches the whole process group; the supervisor decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.chdir(config.cwd)
    try:
        from hypofuzz_nb.collect import collect_tests

        collection = collect_tests(config.paths, config.pytest_args)
        database = collection.database if config.use_collected_database else config.database
        targets = worker_share(collection.targets, config.index, config.n_workers)
    except BaseException as e:
        status_queue.put(("error", config.index, _describe_error(e)))
        return
    status_queue.put(("targets", config.index, [(t.nodeid, t.database_key) for t in targets]))
    on_input = SlotWriter(slot)

    loop = FuzzLoop(
        targets,
        database,
        max_time=config.max_time,
        max_examples=config.max_examples,
        timeout=config.timeout,
        exclude=config.exclude,
        on_input=on_input,
        on_exit=collection.close,
        seed=config.seed,
        solver=config.solver,
    )
    finished = threading.Event()

    def report() -> None:
        while not finished.wait(REPORT_EVERY_S):
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
        reporter.join(REPORTER_JOIN_S)
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


class ProcessSupervisor:
    """``workers=N``: N worker processes (spawn), and the thread that supervises them.

    ``on_error(error, text)`` is called for each error that ends the session early
    (the first one counts); ``on_end(error, text)`` once, when every process has
    stopped, with the error that stopped the supervisor itself, if any.
    """

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
        solver: bool = False,
        on_error: Callable[[BaseException, str], None],
        on_end: Callable[[BaseException | None, str | None], None],
    ) -> None:
        self.workers = workers
        self._on_error = on_error
        self._on_end = on_end
        self._ctx = multiprocessing.get_context("spawn")
        self._queue = self._ctx.Queue()
        self._stop_event = self._ctx.Event()
        self._database = database
        # Inputs that killed a worker are saved from here: buffered if the database is down.
        self._crash_database = outage_proof(database)
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
            solver=solver,
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
        slot = new_slot(self._ctx, slot)
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
        with main_script_hidden():
            process.start()
        return _Child(index=index, process=process, slot=slot)

    def snapshot(self) -> tuple[TestStatus, ...]:
        """What every process did so far, including the processes that died."""
        with self._lock:
            out: list[TestStatus] = []
            for child in self._children:
                out.extend(child.previous_statuses)
                out.extend(child.statuses)
            return tuple(out)

    def restarts(self) -> int:
        """How many times a process was restarted."""
        return self._restart_count

    def database_state(self) -> tuple[int, float | None]:
        """``(pending_writes, unreachable_since)`` over the processes and the supervisor."""
        with self._lock:
            states = [c.database_state for c in self._children]
        states.append(buffer_state(self._crash_database))
        pending = sum(n for n, _ in states)
        since = [t for _, t in states if t is not None]
        return pending, min(since) if since else None

    def request_stop(self) -> None:
        """Ask every process to stop. Returns at once."""
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
                    self._on_error(WorkerError(payload), payload)
                    self._stop_event.set()

    def _handle_death(self, child: _Child, how: str, *, hung: bool = False) -> None:
        """Save the input that was running (if any) and restart the worker.

        An input that killed the process is a failure of its test (saved under ``K``,
        the test is not fuzzed again this session). An input that hung so hard that
        the process was killed is a timeout, saved where the engine saves timeouts
        (never under ``K``: plain pytest would hang on it), and fuzzing of the test
        goes on, up to :attr:`MAX_HANGS_PER_TEST` such kills.
        """
        target_index, payload, _started = read_slot(child.slot)
        if hung and 0 <= target_index < len(child.targets):
            nodeid, key = child.targets[target_index]
            self._hangs[nodeid] = self._hangs.get(nodeid, 0) + 1
            if self._hangs[nodeid] >= self.MAX_HANGS_PER_TEST:
                self._crashed.add(nodeid)
            if payload is not None:
                save_hang(self._crash_database, nodeid, key, payload, how)
            with self._lock:
                child.previous_statuses.extend(
                    dataclasses.replace(s, n_timeouts=s.n_timeouts + (s.nodeid == nodeid))
                    for s in child.statuses
                )
        elif 0 <= target_index < len(child.targets):
            nodeid, key = child.targets[target_index]
            self._crashed.add(nodeid)
            if payload is not None:
                save_crash(self._crash_database, nodeid, key, payload, how)
            with self._lock:
                # Keep what it did so far, marked failed.
                child.previous_statuses.extend(
                    dataclasses.replace(
                        s,
                        n_failures=max(1, s.n_failures) if s.nodeid == nodeid else s.n_failures,
                        phase="failed" if s.nodeid == nodeid else s.phase,
                        finished=s.finished or s.nodeid == nodeid,
                    )
                    for s in child.statuses
                )
                if not any(s.nodeid == nodeid for s in child.statuses):
                    child.previous_statuses.append(
                        TestStatus.killed_its_process(nodeid, records.key_to_base64(key))
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
            text = f"worker processes died {self._restart_count} times; not restarting them again"
            self._on_error(WorkerError(text), text)
            return
        self._restart_count += 1
        replacement = self._spawn(child.index, child.slot)
        with self._lock:
            replacement.previous_statuses = child.previous_statuses
            self._children[child.index] = replacement

    def _supervise(self) -> None:
        # The engine interrupts a slow input after `timeout`; this is for inputs it
        # cannot interrupt (stuck in C code, signals blocked).
        hang_limit = self._timeout * HANG_TIMEOUTS + HANG_GRACE_S
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
                    target_index, _payload, started = read_slot(child.slot)
                    if target_index >= 0 and started and time.monotonic() - started > hang_limit:
                        child.process.kill()
                        child.process.join(KILL_JOIN_S)
                        self._handle_death(
                            child,
                            f"the worker process stopped responding for over {hang_limit:.0f} s "
                            "and was killed",
                            hung=True,
                        )
                if all(c.done and not c.process.is_alive() for c in self._children):
                    break
                time.sleep(SUPERVISE_EVERY_S)
        except BaseException as e:
            release(self._crash_database, owned=self._crash_database is not self._database)
            self._on_end(e, _describe_error(e))
            return
        self._drain()
        release(self._crash_database, owned=self._crash_database is not self._database)
        self._on_end(None, None)
