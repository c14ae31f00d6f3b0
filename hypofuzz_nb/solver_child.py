"""The solver's child process: one test run through Hypothesis' CrossHair backend.

:func:`run_in_child` runs in a process forked by :mod:`hypofuzz_nb.solver` and never
returns to the fuzzer's code. It runs the test (the ``@given`` wrapper, with the
fixture arguments of the batch it was forked from) under a subclass of
hypothesis-crosshair's provider, registered as backend :data:`BACKEND`, with only
the generate phase and no database: nothing it does is saved. Each test case that
CrossHair ran is written to the pipe as its *realized* choice sequence, forced
choices included, so that the fuzzer replays it exactly with its own engine.

The protocol, one line each (ASCII):

* ``C <base64 of records.encode_choices(choices)>``: one test case's choices;
* ``E <text>``: why the child ended (CrossHair explored every path it could, gave up
  on an unsupported construct, the budget was spent, or an error), at most once.

Guarantees: the child writes nothing else, to the pipe or anywhere (its stdout and
stderr go to /dev/null), never touches the database, and ends itself at its own
deadline (the parent kills it anyway when the budget is over); a memory limit is set
when the platform has one. CrossHair (and z3) are imported in the child only, by
:func:`run_in_child`: importing this module imports neither.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import settings as Settings
from hypothesis.errors import BackendCannotProceed, HypothesisException

from hypofuzz_nb import _compat
from hypofuzz_nb.records import encode_choices

__all__ = ["BACKEND", "EXPLORED", "UNAVAILABLE", "run_in_child"]

#: The backend name our recording provider is registered under (in the child only).
BACKEND = "hypofuzz_nb_crosshair"
#: Discarded test cases after which CrossHair counts as unable to run the test...
DISCARDS_BEFORE_GIVING_UP = 10
#: ...when they are also more than this share of its test cases (Hypothesis' own rule
#: for switching away from a backend, which would go on with random inputs).
DISCARD_SHARE = 0.2
#: How an ``E`` line starts when CrossHair explored every path of the test...
EXPLORED = "CrossHair explored every path"
#: ...and when the child cannot import CrossHair.
UNAVAILABLE = "unavailable"
#: Longest ``E`` line, in characters.
MAX_END_TEXT = 400
#: Examples Hypothesis may run: the budget, not this number, ends the child.
MAX_EXAMPLES = 10**9

_pipe: int | None = None
_deadline = 0.0


def _write(line: str) -> None:
    data = line.encode("ascii", "replace") + b"\n"
    while _pipe is not None and data:  # a signal may cut a write short
        data = data[os.write(_pipe, data) :]


def _end(reason: str) -> None:
    """Say why the child ends, and end it (no cleanup: nothing of it is kept)."""
    _write("E " + " ".join(reason.split())[:MAX_END_TEXT])
    os._exit(0)


def _provider_class() -> type:
    from hypothesis_crosshair_provider.crosshair_provider import CrossHairPrimitiveProvider

    class RecordingProvider(CrossHairPrimitiveProvider):
        """CrossHair's provider that writes each test case's realized choices."""

        add_observability_callback = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._cases = 0
            self._discards = 0

        @contextlib.contextmanager
        def per_test_case_context_manager(self) -> Iterator[None]:
            if time.monotonic() > _deadline:
                _end("budget spent")
            self._cases += 1
            try:
                with super().per_test_case_context_manager():
                    yield
            except BackendCannotProceed as e:
                if e.scope in ("verified", "exhausted"):
                    _end(f"{EXPLORED} it could ({e.scope})")
                self._discards += 1
                if (
                    self._discards > DISCARDS_BEFORE_GIVING_UP
                    and self._discards > DISCARD_SHARE * self._cases
                ):
                    _end(
                        f"unsupported: CrossHair could not run {self._discards} of "
                        f"{self._cases} test cases"
                    )
                raise

        def on_observation(self, observation: Any) -> None:
            values = _compat.solver_observation_values(observation)
            if not values:
                return
            failed = getattr(observation, "status", None) == "failed"
            try:
                choices = tuple(self.realize(v, for_failure=failed) for v in values)
                encoded = encode_choices(choices)
            except Exception:
                return  # a case CrossHair cannot realize is one it did not produce
            _write("C " + base64.b64encode(encoded).decode("ascii"))

    return RecordingProvider


def _unwatched(test: Any) -> None:
    """Run the test itself, not a worker process's InputWatcher around it
    (hypofuzz_nb.fuzz_loop): that would write CrossHair's symbolic choices into the
    worker's shared slot, which names the input that killed the worker."""
    handle = getattr(test, "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    original = getattr(inner, "_hfnb_inner", None)  # the watcher's wrapped test
    if original is not None:
        handle.inner_test = original


def _quiet() -> None:
    """Send the child's output to /dev/null: it must not write into the notebook."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the child)
    os.environ["DEBUG_CROSSHAIR"] = "0"  # CrossHair logs to stderr when "-vv" is in argv


def _limit_memory(extra_bytes: int) -> None:
    """At most ``extra_bytes`` more address space than the fork already has."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = current + extra_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        return  # no such limit on this platform: the time budget still bounds the child


def run_in_child(
    test: Any, kwargs: dict[str, Any], key: bytes, pipe: int, *, seconds: float, memory: int
) -> None:
    """Run ``test`` through CrossHair for at most ``seconds``, writing to ``pipe``.

    Called in the forked child only; ends the process (``os._exit``) in every case.
    """
    global _pipe, _deadline
    _pipe = pipe
    _deadline = time.monotonic() + seconds
    try:
        _quiet()
        _limit_memory(memory)
        try:
            provider = _provider_class()
        except ImportError as e:
            _end(f"{UNAVAILABLE}: {e}")
        globals()["RecordingProvider"] = provider  # Hypothesis imports it by name
        _compat.solver_register_backend(BACKEND, f"{__name__}.RecordingProvider")
        _compat.solver_record_choices()
        _unwatched(test)
        settings = Settings(
            parent=_compat.engine_given_settings(test),
            backend=BACKEND,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            max_examples=MAX_EXAMPLES,
            verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        with _compat.engine_overridden_given(test, settings, key):
            test(**kwargs)
        _end("Hypothesis stopped generating")
    except BaseException as e:
        text = traceback.format_exception_only(e)[-1].strip()
        if isinstance(e, (MemoryError, HypothesisException)):
            _end(f"error: {text}")
        # A failure of the test ends the run: its choices are written already.
        _end(f"failed: {text}")
    finally:
        os._exit(0)
