"""Replaying stored inputs of collected tests in a subprocess, under a probe.

:func:`replay` runs a fresh Python process that collects the tests in ``paths``
(as ``hypofuzz-nb fuzz`` would), runs each requested test on exact choice
sequences the way the engine replays its corpus (one fixtures block per test, an
exact prefix, the test's settings without deadline or database), and returns what
the probe measured. The process is separate so that a probe's tracer (coverage.py)
never meets the fuzzer's, and the caller's process (a kernel that may be fuzzing)
only waits on a pipe.

A *probe* is a class named as ``"module:Class"`` (imported in the subprocess). It
is constructed with the request's ``probe_options`` before the tests are imported,
and is called as:

* ``probe.start()``: before collection (imports and fixture setup run outside any
  input); a probe with a ``pytest_plugin`` attribute (a module name) has that
  module registered with pytest (``-p``) for the collection, for its hooks;
* ``with probe.input(test_index, input_index):`` around each input's run;
* ``with probe.paused():`` around the second pass that only builds each input's
  representation (so that user ``__repr__`` code is not measured);
* ``probe.result(tests)``: once, after every test ran; ``tests`` are the
  :class:`ReplayedTest` results; returns anything picklable.

A probe with a ``ran`` method observes each input instead: the first pass runs under
Hypothesis' observability (representation and arguments are built, so the second
pass is skipped) and ``probe.ran(test_index, input_index, data, status, exception,
representation)`` is called after each input, with the frozen ConjectureData.

The first pass gives each input its status and Hypothesis sort key; the second its
representation (only for inputs whose representation the request does not give). A test whose fixtures fail to set up gets ``error`` (the user's
traceback) and no inputs. This module imports no pandas: the subprocess stays light.

Time is bounded twice. Each input gets the request's ``input_timeout`` (by default
the engine's, ``options.DEFAULT_TIMEOUT_S``): one still running then is interrupted (by
SIGALRM, or the engine's watchdog where there is none) and counts as a hang
(``EngineStatus.HANG``), with what it covered so far. The whole subprocess gets :func:`replay`'s ``timeout``: past it, the subprocess
(and its process group) is killed and :class:`~hypofuzz_nb.errors.ReplayTimeout` names
the test it was replaying. The result is written only at the end, so a timed-out replay
gives no partial result.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from random import Random
from typing import Any

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import BadTimeout, ReplayError, ReplayTimeout
from hypofuzz_nb.options import DEFAULT_TIMEOUT_S, positive_number
from hypofuzz_nb.watchdog import WATCHDOG, InputTimeout

__all__ = [
    "DEFAULT_REPLAY_TIMEOUT_S",
    "ReplayLimits",
    "ReplayRequest",
    "ReplayedInput",
    "ReplayedTest",
    "replay",
]

#: How much of the subprocess' own output an error message quotes.
_OUTPUT_TAIL_CHARS = 4000
#: Seconds a whole replay may take unless told otherwise (``timeout=``).
DEFAULT_REPLAY_TIMEOUT_S = 600.0
#: Seconds to wait for a killed subprocess' last output.
_KILL_GRACE_S = 5.0
#: The line the subprocess prints before replaying each test (then its node id), so
#: that a timeout can say which test it was replaying.
_PROGRESS_MARK = "hypofuzz-nb-replay: replaying "


@dataclass(frozen=True)
class ReplayLimits:
    """The time a replay may take: ``timeout`` seconds in all from ``started``
    (``time.monotonic()``), ``input_timeout`` per input."""

    timeout: float
    input_timeout: float
    started: float

    @classmethod
    def check(
        cls, timeout: Any = DEFAULT_REPLAY_TIMEOUT_S, input_timeout: Any = DEFAULT_TIMEOUT_S
    ) -> ReplayLimits:
        """Limits from the user's ``timeout=`` and ``input_timeout=``, starting now;
        raises :class:`~hypofuzz_nb.errors.BadTimeout` for anything but positive numbers."""
        return cls(
            positive_number("timeout", timeout, error=BadTimeout),
            positive_number("input_timeout", input_timeout, error=BadTimeout),
            time.monotonic(),
        )

    def remaining(self) -> float:
        return self.timeout - (time.monotonic() - self.started)


@dataclass
class ReplayRequest:
    """What to replay: ``tests`` maps node ids to their choice sequences;
    ``representations`` to those already known (``None`` where not): the inputs
    with one are not run a second time."""

    paths: list[str]
    rootdir: str
    tests: dict[str, list[tuple]]
    probe: str
    probe_options: dict[str, Any] = field(default_factory=dict)
    pytest_args: list[str] = field(default_factory=list)
    representations: dict[str, list[str | None]] = field(default_factory=dict)
    #: ``None``: each input replays exactly its choices. A number: the choices are a
    #: prefix (a mutation), draws past it come fresh from a Random seeded with the
    #: input's index, up to this many choices in all.
    max_choices: int | None = None
    #: Seconds each input may run before it is interrupted as a hang.
    input_timeout: float = DEFAULT_TIMEOUT_S


@dataclass
class ReplayedInput:
    """One input as replayed: ``status`` is an ``_compat.EngineStatus`` value."""

    choices: tuple
    status: int
    sort_key: tuple
    representation: str


@dataclass
class ReplayedTest:
    nodeid: str
    inputs: list[ReplayedInput]
    error: str | None = None


def replay(
    request: ReplayRequest, limits: ReplayLimits | None = None
) -> tuple[list[ReplayedTest], Any]:
    """Run ``request`` in a subprocess; ``(tests in request order, probe result)``.

    The subprocess gets what is left of ``limits.timeout`` (default: a fresh
    ``DEFAULT_REPLAY_TIMEOUT_S``). Raises :class:`~hypofuzz_nb.errors.ReplayError` (with
    the tail of the subprocess' output) if the subprocess fails, and
    :class:`~hypofuzz_nb.errors.ReplayTimeout` (a ``ReplayError``) once it was killed
    for running out of time.
    """
    import hypofuzz_nb

    limits = limits or ReplayLimits.check()

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(hypofuzz_nb.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="hypofuzz-nb-replay-") as tmp:
        request_path = os.path.join(tmp, "request.pickle")
        result_path = os.path.join(tmp, "result.pickle")
        with open(request_path, "wb") as f:
            pickle.dump(request, f)
        returncode, output = _run(
            [sys.executable, "-m", "hypofuzz_nb.replay", request_path, result_path],
            cwd=request.rootdir,
            env=env,
            limits=limits,
        )
        if returncode != 0 or not os.path.exists(result_path):
            raise ReplayError(returncode, _tail(output))
        with open(result_path, "rb") as f:
            tests, probe_result = pickle.load(f)
    return tests, probe_result


def _run(
    command: list[str], *, cwd: str, env: dict[str, str], limits: ReplayLimits
) -> tuple[int, str]:
    """``(exit status, output)`` of ``command``, killed (with its process group) once
    ``limits`` run out, or when the caller is interrupted (Ctrl-C)."""
    remaining = limits.remaining()
    if remaining <= 0:
        raise ReplayTimeout(limits.timeout, None, "")
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Its own process group: a test's own child processes are killed with it.
        start_new_session=hasattr(os, "killpg"),
    )
    try:
        stdout, _ = proc.communicate(timeout=remaining)
    except subprocess.TimeoutExpired:
        output = _kill(proc)
        raise ReplayTimeout(limits.timeout, _replaying(output), _tail(output)) from None
    except BaseException:
        _kill(proc)
        raise
    return proc.returncode, stdout.decode("utf-8", "replace")


def _kill(proc: subprocess.Popen) -> str:
    """Kill ``proc`` and its process group; whatever it wrote."""
    if hasattr(os, "killpg"):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
    try:
        stdout, _ = proc.communicate(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:  # a grandchild in a group of its own holds the pipe
        proc.wait()
        return ""
    return (stdout or b"").decode("utf-8", "replace")


def _replaying(output: str) -> str | None:
    """The node id the subprocess last said it was replaying."""
    lines = [line for line in output.splitlines() if line.startswith(_PROGRESS_MARK)]
    return lines[-1][len(_PROGRESS_MARK) :] if lines else None


def _tail(output: str) -> str:
    """The end of the subprocess' output, without its progress lines."""
    kept = [line for line in output.splitlines() if not line.startswith(_PROGRESS_MARK)]
    return "\n".join(kept)[-_OUTPUT_TAIL_CHARS:]


def _load_probe(name: str, options: dict[str, Any]) -> Any:
    import importlib

    module_name, _, class_name = name.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(**options)


def _run_test(
    target: Any,
    index: int,
    inputs: Sequence[tuple],
    known: Sequence[str | None],
    probe: Any,
    max_choices: int | None,
    input_timeout: float,
) -> ReplayedTest:
    from hypothesis import Verbosity
    from hypothesis import settings as Settings

    settings = Settings(
        parent=target.settings, deadline=None, database=None, verbosity=Verbosity.quiet
    )
    provider = _compat.engine_provider_base()
    replayed: list[ReplayedInput] = []
    try:
        with target.fixtures() as kwargs:
            state = _compat.engine_make_state(target.test, kwargs, settings)
            ran = getattr(probe, "ran", None)
            for i, choices in enumerate(inputs):
                limit = len(choices) if max_choices is None else max_choices
                data = _compat.engine_new_data(choices, Random(i), provider, limit)
                observing = _compat.engine_observing(state) if ran else nullcontext({})
                with probe.input(index, i), observing as observed:
                    status, exception = _execute(state, data, input_timeout)
                representation = observed.get("representation", "")
                if ran is not None:
                    ran(index, i, data, status, exception, representation)
                ran_choices = (
                    tuple(choices) if max_choices is None else _compat.engine_choices(data)
                )
                replayed.append(
                    ReplayedInput(
                        ran_choices, status, _compat.replay_sort_key(data), representation
                    )
                )
            for entry, representation in zip(replayed, known, strict=False):
                entry.representation = representation or entry.representation
            with probe.paused():
                for entry in replayed:
                    if entry.status == _compat.EngineStatus.HANG and not entry.representation:
                        # Running it again would hang again: it is named by its choices.
                        entry.representation = f"(stopped at input_timeout) {entry.choices!r}"
                    if entry.representation:
                        continue
                    data = _compat.engine_new_data(
                        entry.choices, Random(0), provider, len(entry.choices)
                    )
                    with _compat.engine_observing(state) as observed:
                        _execute(state, data, input_timeout)
                    entry.representation = observed.get("representation", "")
    except Exception as err:  # a fixture or the test's set-up: the user's to fix
        from hypofuzz_nb.userframes import user_traceback

        text = getattr(err, "traceback", None)
        return ReplayedTest(
            target.nodeid, [], text if isinstance(text, str) else user_traceback(err)
        )
    return ReplayedTest(target.nodeid, replayed)


def _execute(state: Any, data: Any, input_timeout: float) -> tuple[Any, BaseException | None]:
    """Run one input; one still running after ``input_timeout`` is interrupted and
    reported as ``EngineStatus.HANG``, as the engine's runner does."""
    try:
        with _input_deadline(input_timeout):
            return _compat.engine_execute(state, data, (InputTimeout,))
    except InputTimeout:
        return _compat.EngineStatus.HANG, None


_deadline_armed = False


def _on_alarm(_signum: int, _frame: Any) -> None:
    if _deadline_armed:  # an alarm handled after its input ended is ignored
        raise InputTimeout


@contextmanager
def _input_deadline(seconds: float) -> Iterator[None]:
    """Raise InputTimeout in this (the main) thread after ``seconds``.

    SIGALRM where there is one: the inputs run under coverage.py's tracer, and on 3.11
    the watchdog's asynchronous interrupt inside a traced frame wedges the interpreter,
    while a signal handler's exception does not (and it also ends a blocking call
    such as ``time.sleep``). Elsewhere (Windows), the engine's watchdog.
    """
    global _deadline_armed
    if not hasattr(signal, "SIGALRM"):
        WATCHDOG.arm(seconds)
        try:
            yield
        finally:
            WATCHDOG.disarm()
        return
    signal.signal(signal.SIGALRM, _on_alarm)
    _deadline_armed = True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        _deadline_armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)


def _main(request_path: str, result_path: str) -> None:
    with open(request_path, "rb") as f:
        request: ReplayRequest = pickle.load(f)
    probe = _load_probe(request.probe, request.probe_options)
    probe.start()
    from hypofuzz_nb.collect import collect_tests

    results: dict[str, ReplayedTest] = {}
    pytest_args = list(request.pytest_args)
    plugin = getattr(probe, "pytest_plugin", None)
    if plugin:
        pytest_args += ["-p", plugin]
    with collect_tests(request.paths, pytest_args, rootdir=request.rootdir) as collection:
        targets = {t.nodeid: t for t in collection.targets}
        for index, (nodeid, inputs) in enumerate(request.tests.items()):
            target = targets.get(nodeid)
            if target is None:
                results[nodeid] = ReplayedTest(nodeid, [], "the test was not collected again")
            else:
                print(f"{_PROGRESS_MARK}{nodeid}", flush=True)
                known = request.representations.get(nodeid, [])
                results[nodeid] = _run_test(
                    target, index, inputs, known, probe, request.max_choices, request.input_timeout
                )
    tests = [results[nodeid] for nodeid in request.tests]
    probe_result = probe.result(tests)
    with open(result_path, "wb") as f:
        pickle.dump((tests, probe_result), f)


if __name__ == "__main__":
    # Through the package's module, so that the results pickle as
    # hypofuzz_nb.replay classes rather than __main__ ones.
    from hypofuzz_nb.replay import _main as main

    main(sys.argv[1], sys.argv[2])
