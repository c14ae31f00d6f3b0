"""Breaking plateaus with a solver: when a test runs through CrossHair, and for how long.

Mutation climbs a branch whose condition can be guessed a step at a time; it cannot
climb one whose condition relates inputs (``a * 7919 + 104729 == b * 3 + 12345``).
CrossHair can: it runs the test on symbolic values and asks z3 for inputs that take
the other side of each branch. :class:`Solver` decides, per test, when a call is due
and runs it; the test's :class:`~hypofuzz_nb.engine.TestFuzzer` replays what the call
produced through its own engine (so a solved input joins the corpus, is shrunk and
saved like any other, and plain pytest replays it without CrossHair).

When: only on a *plateau*, the one threshold of :mod:`hypofuzz_nb.status` (no new
behavior for :data:`~hypofuzz_nb.status.PLATEAU_SECONDS` of the test's own fuzzing
time and :data:`~hypofuzz_nb.status.PLATEAU_INPUTS` inputs), and only while the
solver's time stays within :data:`SHARE` of the test's time. A call that finds
nothing halves that share and doubles the next call's budget (at most
:data:`MAX_BACKOFF` times), so a test CrossHair cannot help costs less and less; a
call that finds something resets both. The check is made once per batch, from the
fuzzer's own counters: nothing per input.

How: a forked child process (:mod:`hypofuzz_nb.solver_child`), also when the fuzzer
is a thread in a notebook kernel, because z3 cannot be interrupted from Python. The
call's wall time is its budget; the child is killed when it is spent (that is how a
call normally ends: it is never a hang of the test), and its memory is limited. A
crash, an unsupported construct or a z3 error is counted and kept as
``last_error``, and the test goes back to mutation. The work is recorded per test
and worker as a :class:`~hypofuzz_nb.records.SolverWork` through the Store.

Needs ``fork`` (Linux, macOS) and the ``solver`` extra (hypothesis-crosshair); see
:func:`solver_available`.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import os
import select
import signal
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from hypofuzz_nb import solver_child
from hypofuzz_nb.records import SOLVER_ERROR_LIMIT, ChoicesT, SolverWork, decode_choices
from hypofuzz_nb.status import PLATEAU_INPUTS, PLATEAU_SECONDS

__all__ = [
    "INSTALL_HINT",
    "SHARE",
    "SolveResult",
    "Solver",
    "solver_available",
    "solver_note",
]

#: The largest share of a test's time its solver calls may take.
SHARE = 0.2
#: Seconds of a test's first solver call (CrossHair's import takes about one of them).
FIRST_CALL_SECONDS = 5.0
#: Seconds a call needs at least to be worth its fork (CrossHair's import included).
MIN_CALL_SECONDS = 1.0
#: Seconds no call exceeds, however long the backoff.
MAX_CALL_SECONDS = 60.0
#: Fruitless calls after which the share and budget stop changing.
MAX_BACKOFF = 5
#: Address space a solver child may add to what it inherited, in bytes.
MEMORY_BYTES = 2 * 1024**3
#: Inputs one call hands back at most (CrossHair runs many cheap paths).
MAX_INPUTS_PER_CALL = 2_000
#: Seconds between two looks at the pipe and at a stop request during a call.
POLL_SECONDS = 0.05
#: Bytes read from the pipe at a time.
READ_SIZE = 1 << 16
#: The modules the solver needs: the extra's provider, CrossHair and z3.
REQUIRED_MODULES = ("hypothesis_crosshair_provider", "crosshair", "z3")
#: How to turn the solver on, in every message that says it is off.
INSTALL_HINT = "pip install 'hypofuzz_nb[solver]' (hypothesis-crosshair)"


def solver_available() -> bool:
    """Whether this process can run solver calls: the extra is importable and the
    platform can fork. Imports nothing (``sys.modules[name] = None`` blocks a module)."""
    if not hasattr(os, "fork"):
        return False
    for name in REQUIRED_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def solver_note(requested: bool | None, available: bool) -> str | None:
    """The note a session shows about its solver, or ``None`` when it is on."""
    if requested is True:
        return None
    if requested is False:
        return "solver off (--no-solver): plateaus are left to mutation"
    if not available:
        return (
            "solver off: to break plateaus with CrossHair, install the solver extra "
            f"({INSTALL_HINT}) and pass --solver (fuzz(solver=True))"
        )
    return "solver off: pass --solver (fuzz(solver=True)) to break plateaus with CrossHair"


@dataclass
class SolveResult:
    """What one call handed back: the choice sequences, and why it ended."""

    inputs: list[ChoicesT] = field(default_factory=list)
    ended: str = ""
    error: str = ""  # "" unless the call crashed, gave up or could not run at all


class Solver:
    """One test's solver calls in one worker: when they are due, running them, and
    their record. Used from the fuzzer's thread only."""

    def __init__(self, store: Any, key: bytes, worker_uuid: str) -> None:
        self.store = store
        self.key = key
        self.work = SolverWork(worker_uuid, 0, 0.0, 0, 0, 0, "")
        self.fruitless = 0
        # No more calls: the extra or fork is missing where this worker runs, or
        # CrossHair explored every path of the test already (a call would repeat it).
        self.disabled = not hasattr(os, "fork")

    def budget(self) -> float:
        return min(FIRST_CALL_SECONDS * 2**self.fruitless, MAX_CALL_SECONDS)

    def share(self) -> float:
        return SHARE / 2**self.fruitless

    def due(
        self,
        elapsed: float,
        since_inputs: int,
        since_seconds: float,
        *,
        until: float | None = None,
    ) -> bool:
        """Whether the test should run a call now: on a plateau (``since_inputs``
        inputs and ``since_seconds`` of its time without a new behavior), with room
        for a whole call within the share of its ``elapsed`` time, and at least
        :data:`MIN_CALL_SECONDS` before ``until`` (``time.monotonic()``)."""
        if self.disabled or since_inputs < PLATEAU_INPUTS or since_seconds < PLATEAU_SECONDS:
            return False
        if until is not None and until - time.monotonic() < MIN_CALL_SECONDS:
            return False
        budget = self.budget()
        return self.work.seconds + budget <= self.share() * (elapsed + budget)

    def call(
        self, test: Any, kwargs: dict[str, Any], stop_event: Any, *, until: float | None = None
    ) -> SolveResult:
        """Run ``test`` (the ``@given`` wrapper; ``kwargs`` its fixture arguments)
        through CrossHair in a child for at most :meth:`budget` seconds, and not past
        ``until`` (``time.monotonic()``: the session's end). Returns early on a stop
        request. Never raises for the child's sake."""
        started = time.monotonic()
        seconds = self.budget() if until is None else min(self.budget(), until - started)
        try:
            result = _run_child(test, kwargs, self.key, max(seconds, 0.0), stop_event)
        except OSError as e:  # no fork, no pipe: the call could not start
            result = SolveResult(ended=f"error: {e}", error=f"could not start: {e}")
        if result.ended.startswith((solver_child.UNAVAILABLE, solver_child.EXPLORED)):
            self.disabled = True  # missing here, or CrossHair has nothing more to find
        w = self.work
        self.work = SolverWork(
            w.worker_uuid,
            w.calls + 1,
            w.seconds + (time.monotonic() - started),
            w.inputs + len(result.inputs),
            w.found,
            w.errors + bool(result.error),
            result.error[:SOLVER_ERROR_LIMIT] if result.error else w.last_error,
        )
        return result

    def credit(self, found: int) -> None:
        """The last call's inputs gave ``found`` new behaviors or failures: back off
        if none, else start over; then record the work."""
        self.fruitless = 0 if found else min(self.fruitless + 1, MAX_BACKOFF)
        w = self.work
        self.work = SolverWork(
            w.worker_uuid, w.calls, w.seconds, w.inputs, w.found + found, w.errors, w.last_error
        )
        with contextlib.suppress(Exception):  # a database outage never stops fuzzing
            self.store.save_solver_work(self.key, self.work)


def _fork() -> int:
    # Python 3.12+ warns about forking a process with threads (a kernel has many):
    # the child only runs the test and z3, and ends with os._exit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _run_child(
    test: Any, kwargs: dict[str, Any], key: bytes, seconds: float, stop_event: Any
) -> SolveResult:
    read_fd, write_fd = os.pipe()
    pid = _fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_fd)
            solver_child.run_in_child(
                test, kwargs, key, write_fd, seconds=seconds, memory=MEMORY_BYTES
            )
        finally:
            os._exit(1)
    os.close(write_fd)
    result = SolveResult()
    deadline = time.monotonic() + seconds
    buffer = b""
    eof = False
    try:
        while not eof and len(result.inputs) < MAX_INPUTS_PER_CALL:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop_event.is_set():
                break
            ready, _, _ = select.select([read_fd], [], [], min(POLL_SECONDS, remaining))
            if not ready:
                continue
            chunk = os.read(read_fd, READ_SIZE)
            eof = not chunk
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                _take_line(line, result)
    finally:
        os.close(read_fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if eof and not result.ended:
        result.ended = result.error = _death(status)
    elif not result.ended:
        result.ended = "budget spent"
    return result


def _take_line(line: bytes, result: SolveResult) -> None:
    kind, _, rest = line.partition(b" ")
    if kind == b"C":
        try:
            choices = decode_choices(base64.b64decode(rest, validate=True))
        except ValueError:
            choices = None
        if choices is not None and choices not in result.inputs[-1:]:
            result.inputs.append(choices)
    elif kind == b"E":
        text = rest.decode("ascii", "replace")
        result.ended = text
        if text.startswith(("error", "unsupported", "unavailable")):
            result.error = text


def _death(status: int) -> str:
    """Why a child that wrote no reason ended."""
    if os.WIFSIGNALED(status):
        return f"error: the solver process died of signal {os.WTERMSIG(status)}"
    return f"error: the solver process exited with code {os.waitstatus_to_exitcode(status)}"
