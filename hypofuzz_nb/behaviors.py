"""Behaviors: what one input did in the code under test.

A *behavior* is a hashable token: a branch taken in the code under test, or a
Hypothesis ``event()`` / ``target()`` feature. A *fingerprint* is the frozenset of
behaviors of one input.

Branch coverage comes from ``sys.monitoring`` BRANCH events on Python 3.12+
(BRANCH_LEFT/BRANCH_RIGHT on 3.14) and from ``sys.settrace`` line arcs on 3.11.
Only the thread that called :meth:`BranchRecorder.start` counts: events from other
threads are ignored (never disabled), and locations outside the code under test are
disabled for good, which is what makes coverage nearly free on 3.12+.

"Code under test" is decided by :func:`hypofuzz_nb.userframes.is_code_under_test`.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections.abc import Hashable, Iterator, Mapping
from types import CodeType
from typing import Any

from hypofuzz_nb import _compat
from hypofuzz_nb.userframes import is_code_under_test

__all__ = ["BranchRecorder", "features_behaviors", "monitoring_held"]

_get_ident = threading.get_ident


#: stable location id -> a code object with that id (to mine constants from)
CODE_BY_LOCATION: dict[tuple, CodeType] = {}
#: Locations kept in CODE_BY_LOCATION, at most (it lives as long as the process).
MAX_CODE_LOCATIONS = 100_000


class _CodeFilter(dict):
    """code object -> its stable location ``(filename, qualname, first line)`` if it
    is code under test, else None; computed once per code object.

    Behaviors name code by location, not by object, because the same code gets
    new code objects (Hypothesis re-creates its signature-preserving wrappers, a
    notebook cell is re-run), and a behavior must mean the same across batches."""

    def __missing__(self, code: CodeType) -> tuple | None:
        result = None
        if is_code_under_test(code.co_filename):
            result = (code.co_filename, code.co_qualname, code.co_firstlineno)
            if len(CODE_BY_LOCATION) < MAX_CODE_LOCATIONS:
                CODE_BY_LOCATION.setdefault(result, code)
        self[code] = result
        return result


# --- sys.monitoring (3.12+) -------------------------------------------------------


class _Monitor:
    """One process-wide sys.monitoring tool shared by every recorder.

    Holding the tool is reference counted: the tool id is taken by the first
    recorder and released (events cleared, callbacks unregistered) by the last.
    Events are dispatched to the recorder of the current thread, if any.
    """

    # Python reserves 0-2 and 5 for debuggers, coverage, profilers and optimizers,
    # and Hypothesis' observability takes 3: 4 first, 3 last.
    _TOOL_PREFERENCE = (4, 5, 2, 1, 0, 3)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.refcount = 0
        self.tool_id: int | None = None
        self.recording: dict[int, set] = {}
        self.under_test = _CodeFilter()
        mon = sys.monitoring
        events = mon.events
        self.branch_events = [
            getattr(events, name)
            for name in ("BRANCH_LEFT", "BRANCH_RIGHT")
            if hasattr(events, name)
        ] or [events.BRANCH]

    def _on_branch(self, code: CodeType, offset: int, dest: int) -> Any:
        location = self.under_test[code]
        if location is None:
            return sys.monitoring.DISABLE
        behaviors = self.recording.get(_get_ident())
        if behaviors is not None:
            behaviors.add((location, offset, dest))
        return None

    def _on_start(self, code: CodeType, offset: int) -> Any:
        location = self.under_test[code]
        if location is None:
            return sys.monitoring.DISABLE
        behaviors = self.recording.get(_get_ident())
        if behaviors is not None:
            behaviors.add((location, -1, -1))
        return None

    def acquire(self) -> bool:
        """Take a reference; False if no sys.monitoring tool id is free."""
        with self.lock:
            if self.refcount == 0:
                mon = sys.monitoring
                for tool_id in self._TOOL_PREFERENCE:
                    if mon.get_tool(tool_id) is None:
                        mon.use_tool_id(tool_id, "hypofuzz_nb")
                        self.tool_id = tool_id
                        break
                else:
                    return False
                mask = 0
                for event in self.branch_events:
                    mon.register_callback(tool_id, event, self._on_branch)
                    mask |= event
                mon.register_callback(tool_id, mon.events.PY_START, self._on_start)
                mask |= mon.events.PY_START
                mon.set_events(tool_id, mask)
            self.refcount += 1
            return True

    def release(self) -> None:
        with self.lock:
            if self.refcount == 0:
                return
            self.refcount -= 1
            if self.refcount == 0 and self.tool_id is not None:
                mon = sys.monitoring
                mon.set_events(self.tool_id, 0)
                for event in [*self.branch_events, mon.events.PY_START]:
                    mon.register_callback(self.tool_id, event, None)
                mon.free_tool_id(self.tool_id)
                self.tool_id = None


_MONITOR: _Monitor | None = None


def _monitor() -> _Monitor:
    global _MONITOR
    if _MONITOR is None:
        _MONITOR = _Monitor()
    return _MONITOR


@contextlib.contextmanager
def monitoring_held() -> Iterator[None]:
    """Hold the process's sys.monitoring tool (3.12+) for the whole block, across the
    recorders started and closed in it; nothing on 3.11.

    The tool's callbacks disable themselves on every location that is not code under
    test, in every thread, but releasing the tool (the last recorder closing, at each
    batch's end) clears that: with a batch per cell, the kernel's own code paid one
    callback per location it ran, for every cell, while fuzzing. A loop of batches
    holds the tool instead, so each location pays once.
    """
    if sys.version_info < (3, 12):
        yield
        return
    monitor = _monitor()
    held = monitor.acquire()
    try:
        yield
    finally:
        if held:
            monitor.release()


# --- sys.settrace (3.11) -----------------------------------------------------------


class _Tracer:
    """Line arcs ``(location, previous line, line)`` of the code under test, one thread."""

    def __init__(self, behaviors: set, interrupt: type[BaseException]) -> None:
        self.behaviors = behaviors
        self.under_test = _CodeFilter()
        self.interrupt = interrupt
        # Set from another thread to stop the traced thread at its next traced line.
        # On 3.11 an asynchronous exception landing inside a trace function can wedge
        # the interpreter, so timeouts are raised from here instead.
        self.expired = False

    def global_trace(self, frame: Any, event: str, arg: Any) -> Any:
        location = self.under_test[frame.f_code]
        if location is None:
            return None
        behaviors = self.behaviors
        behaviors.add((location, -1, -1))
        last = frame.f_lineno

        tracer = self

        def local_trace(frame: Any, event: str, arg: Any) -> Any:
            nonlocal last
            if tracer.expired:
                tracer.expired = False
                raise tracer.interrupt
            if event == "line":
                line = frame.f_lineno
                behaviors.add((location, last, line))
                last = line
            return local_trace

        return local_trace


class BranchRecorder:
    """Records the branches that the calling thread takes in the code under test.

    Usage: ``start()`` once in the worker thread, then for each input ``reset()``,
    run it, ``take()`` the set of branches; ``close()`` at the end (idempotent,
    releases the sys.monitoring tool id or restores the previous trace function).
    On 3.12+ without a free tool id, records nothing (``available`` is False).
    """

    def __init__(self, interrupt: type[BaseException] = KeyboardInterrupt) -> None:
        self._behaviors: set = set()
        self._thread: int | None = None
        self._old_trace: Any = None
        self._interrupt = interrupt
        self._tracer: _Tracer | None = None
        self._use_monitoring = sys.version_info >= (3, 12)
        self.available = True

    def start(self) -> None:
        """Start recording on the calling thread (once; again only after close)."""
        if self._thread is not None:
            return
        self._thread = _get_ident()
        if self._use_monitoring:
            monitor = _monitor()
            self.available = monitor.acquire()
            if self.available:
                monitor.recording[self._thread] = self._behaviors
        else:
            # traced only between reset() and take(): one input at a time, so that
            # the engine's own code between inputs runs untraced
            self._old_trace = sys.gettrace()
            self._tracer = _Tracer(self._behaviors, self._interrupt)

    @property
    def soft_interrupt(self) -> Any:
        """A callable that makes the recording thread raise ``interrupt`` at its next
        traced line (3.11), or None where asynchronous interrupts are safe (3.12+)."""
        if self._tracer is None:
            return None
        tracer = self._tracer

        def interrupt() -> None:
            tracer.expired = True

        return interrupt

    @property
    def expensive(self) -> bool:
        """True where recording slows every input down (sys.settrace, 3.11)."""
        return not self._use_monitoring

    def reset(self, enabled: bool = True) -> None:
        """Forget what was recorded and start recording the next input (with
        ``enabled=False`` on 3.11: run the next input untraced)."""
        self._behaviors.clear()
        if self._tracer is not None and enabled:
            self._tracer.expired = False
            sys.settrace(self._tracer.global_trace)

    def take(self) -> frozenset:
        """Stop recording this input and return its branches."""
        if self._tracer is not None and sys.gettrace() is not self._old_trace:
            sys.settrace(self._old_trace)
        result = frozenset(self._behaviors)
        self._behaviors.clear()
        return result

    def close(self) -> None:
        """Stop recording and release what start took. Idempotent."""
        if self._thread is None:
            return
        if self._use_monitoring:
            if self.available:
                monitor = _monitor()
                monitor.recording.pop(self._thread, None)
                monitor.release()
        elif _get_ident() == self._thread:
            sys.settrace(self._old_trace)
        self._tracer = None
        self._thread = None

    def __enter__(self) -> BranchRecorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Hypothesis features --------------------------------------------------------------


def _bucket(value: float) -> Hashable:
    """Targets are bucketed by sign and power of two, so that improving a target
    by a factor counts as new behavior, without every value being new."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    sign = -1 if value < 0 else 1
    return sign * int(math.log2(abs(value) + 1))


def features_behaviors(events: Mapping[str, Any], targets: Mapping[str, float]) -> frozenset:
    """Behaviors from Hypothesis ``event()`` calls and ``target()`` observations."""
    out = set()
    for name, value in events.items():
        if name == _compat.ENGINE_GAVE_UP_EVENT:
            continue
        out.add(("event", name, value if isinstance(value, (str, int, float)) else str(value)))
    for label, value in targets.items():
        out.add(("target", label, _bucket(value)))
    return frozenset(out)
