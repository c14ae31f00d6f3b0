"""The per-input timeout: a watchdog that interrupts an input running too long.

:data:`WATCHDOG` is one daemon thread per process. A fuzzing thread arms it before
an input and disarms it after; an input still running ``seconds`` after arming is
asked to stop at its next traced line if the caller gave a soft interrupt (3.11,
where an asynchronous exception inside a trace function can wedge the
interpreter), then interrupted with :class:`InputTimeout` raised asynchronously.

Guarantees: the fuzzing thread's side takes no lock (an exception delivered
between a lock's acquire and its ``with`` block would leave the lock held forever;
dict and set operations are atomic under the GIL instead), and an interrupt that
fired after its input ended is either cleared by :meth:`Watchdog.disarm` or
surfaces there as :class:`InputTimeout`.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable

__all__ = ["WATCHDOG", "InputTimeout", "Watchdog"]

#: How often the watchdog thread looks at the deadlines, in seconds.
POLL_INTERVAL = 0.1
#: After a soft interrupt, the input gets at least this long (or its own timeout,
#: if longer) to stop before the asynchronous interrupt.
MIN_SOFT_GRACE = 1.0
#: Tokens of fired interrupts remembered before the set is cleared.
MAX_FIRED_TOKENS = 1000


class InputTimeout(BaseException):
    """Raised asynchronously in the fuzzing thread when one input runs too long.

    A BaseException so that a test's ``except Exception`` does not swallow it.
    """


class Watchdog:
    """Interrupts inputs running past a deadline, one deadline per thread.

    The interrupt is ``PyThreadState_SetAsyncExc``: it lands at the next bytecode,
    so it cannot break out of a single long call into C (a ``time.sleep(60)`` is
    interrupted when it returns).
    """

    def __init__(self) -> None:
        # thread id -> (deadline, token of this arming, soft interrupt or None, seconds)
        self._deadlines: dict[int, tuple[float, object, Callable[[], None] | None, float]] = {}
        self._fired: set[object] = set()
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="hypofuzz_nb-watchdog", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(POLL_INTERVAL)
            now = time.monotonic()
            for tid, entry in list(self._deadlines.items()):
                deadline, token, soft, seconds = entry
                if now <= deadline or token in self._fired:
                    continue
                if soft is not None:
                    soft()
                    grace = max(seconds, MIN_SOFT_GRACE)
                    self._deadlines[tid] = (now + grace, token, None, seconds)
                    continue
                self._fired.add(token)
                if self._deadlines.get(tid) is entry:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(tid), ctypes.py_object(InputTimeout)
                    )
            if len(self._fired) > MAX_FIRED_TOKENS:
                self._fired.clear()

    def arm(self, seconds: float, soft: Callable[[], None] | None = None) -> None:
        """Watch this thread: after ``seconds``, call ``soft()`` if given (a request
        to stop at a safe point), then interrupt asynchronously if still running."""
        self._ensure_thread()
        self._deadlines[threading.get_ident()] = (
            time.monotonic() + seconds,
            object(),
            soft,
            seconds,
        )

    def disarm(self) -> None:
        """Stop watching this thread; clear an interrupt that fired but was not
        delivered yet (one delivered meanwhile surfaces here as InputTimeout)."""
        tid = threading.get_ident()
        entry = self._deadlines.pop(tid, None)
        if entry is not None and entry[1] in self._fired:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)


#: The process's one watchdog.
WATCHDOG = Watchdog()
