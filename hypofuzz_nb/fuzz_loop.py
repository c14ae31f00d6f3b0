"""The fuzz loop: runs batches of a worker's tests, one at a time, until they are done.

:class:`FuzzLoop` is shared by the in-process thread and the worker processes;
:class:`InputWatcher` lets a worker process name each input before it runs (see
:mod:`hypofuzz_nb.slot`).

Guarantees:

* The loop never prints and never touches widgets: progress goes to the database
  (by the engine) and to :meth:`FuzzLoop.snapshot`.
* A stop request is seen within one input: the loop checks it between batches and
  passes it on to the running fuzzer, which checks it between inputs.
* A failure is in the database when it is found, not when the loop stops.
* The loop keeps fuzzing through a database outage (see :mod:`hypofuzz_nb.outage`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import uuid as uuid_module
from collections.abc import Iterable, Sequence
from random import Random
from typing import Any

from hypofuzz_nb import _compat
from hypofuzz_nb.identity import worker_identity
from hypofuzz_nb.outage import buffer_state, outage_proof, release
from hypofuzz_nb.scheduler import Scheduler
from hypofuzz_nb.status import TestStatus

__all__ = ["BATCH_SIZE", "FuzzLoop", "InputWatcher"]

#: Inputs per batch: the engine's fixed cost per batch is amortized at ~100 inputs,
#: and a batch is the unit of scheduling and of stop latency.
BATCH_SIZE = 100

#: Seconds of a test's first batch (the replay of its corpus goes on in later ones).
FIRST_BATCH_SECONDS = 0.05

#: Seconds a stop request is repeated to the running fuzzer, and how often.
STOP_REPEAT_S = 2.0
STOP_REPEAT_EVERY_S = 0.02


def _mark_stopped(database: Any, worker_uuid: str) -> None:
    """Say in the database that this worker stopped, so readers stop showing its
    tests as running (before its final writes are flushed, so it goes with them)."""
    from hypofuzz_nb.store import Store

    with contextlib.suppress(Exception):  # stopping must never fail because of this
        Store(database).mark_worker_stopped(worker_uuid)


class FuzzLoop:
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
        solver: bool = False,
        gate: Any = None,
    ) -> None:
        excluded = set(exclude)
        #: A :class:`hypofuzz_nb.cell_gate.CellGate` when fuzzing in a kernel's thread:
        #: the loop gives way to the user's cells.
        self.gate = gate
        self.seed = seed
        self.solver = solver  # TestFuzzer(solver=...): CrossHair on plateaus
        self.on_exit = on_exit
        self.targets = [t for t in targets if t.nodeid not in excluded]
        # Workers keep fuzzing through a database outage: writes are buffered and
        # retried, reads fall back to what this worker has in memory.
        self.database = outage_proof(database)
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
            deadline = time.monotonic() + STOP_REPEAT_S
            while self._running and time.monotonic() < deadline:
                current = self._current
                if current is not None:
                    with contextlib.suppress(Exception):
                        current.request_stop()
                time.sleep(STOP_REPEAT_EVERY_S)

        threading.Thread(target=repeat, name="hypofuzz_nb-stop", daemon=True).start()

    def _cut_batch(self) -> None:
        """End the running batch after its current input (a cell started)."""
        current = self._current
        if current is not None:
            current.request_stop()

    def snapshot(self) -> tuple[TestStatus, ...]:
        with self._lock:
            return tuple(self._statuses[i] for i in sorted(self._statuses))

    def database_state(self) -> tuple[int, float | None]:
        """``(pending_writes, unreachable_since)`` of the database this loop writes to."""
        return buffer_state(self.database)

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
            release(self.database, owned=self._owns_database)
            if self.on_exit is not None:
                # Session-scoped fixture teardowns of the collection run here.
                self.on_exit()

    def _run(self) -> None:
        from hypofuzz_nb import behaviors
        from hypofuzz_nb.engine import TestFuzzer
        from hypofuzz_nb.store import Store

        store = Store(self.database)
        store.register_worker(worker_identity(self.worker_uuid))
        fuzzers: list[Any] = []
        for index, target in enumerate(self.targets):
            if self.on_input is not None:
                _watch_inputs(target, index, self.on_input)
            fuzzer = TestFuzzer(
                target,
                store,
                worker_uuid=self.worker_uuid,
                timeout=self.timeout,
                # per test, so that its inputs do not depend on which worker runs it
                random=None if self.seed is None else Random(f"{self.seed}:{target.nodeid}"),
                solver=self.solver,
            )
            fuzzers.append(fuzzer)
            waiting = fuzzer.status
            with self._lock:
                self._statuses[index] = dataclasses.replace(waiting, phase="waiting")
        scheduler = Scheduler(len(fuzzers))
        done = [False] * len(fuzzers)
        started = [False] * len(fuzzers)
        stop_listening = None if self.gate is None else self.gate.on_cell_start(self._cut_batch)
        held = contextlib.ExitStack()
        held.enter_context(behaviors.monitoring_held())
        try:
            while not self._stop.is_set() and not self._out_of_time():
                if self.gate is not None:
                    self.gate.wait()  # between batches, so no test's time includes it
                candidates = [i for i in range(len(fuzzers)) if not done[i]]
                if not candidates:
                    break
                index = scheduler.pick(candidates)
                fuzzer = fuzzers[index]
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
                fuzzer.run(
                    n,
                    max_seconds=FIRST_BATCH_SECONDS if first else None,
                    # a solver call that starts the batch ends with the session
                    until=None if self.max_time is None else self.started_at + self.max_time,
                )
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
            held.close()
            if stop_listening is not None:
                stop_listening()
            self._current = None
            self._running = False
            # Final reports of every started fuzzer (failures are saved already).
            for index, fuzzer in enumerate(fuzzers):
                if started[index]:
                    try:
                        fuzzer.stop()
                    finally:
                        self._publish(index, fuzzer)


class InputWatcher:
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
    if inner is None or isinstance(inner, InputWatcher):
        return
    handle.inner_test = InputWatcher(inner, index, callback)
