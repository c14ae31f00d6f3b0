"""While a notebook cell runs, the kernel's own background work steps aside.

The in-kernel fuzzer (a thread) and the dashboard's refresher share the GIL with the
user's code. Shared evenly, a trivial cell takes three times as long while fuzzing
(measured: 10 ms instead of 3 ms to execute ``x = 1 + 1``, and the kernel's replies
wait behind it too). So the kernel's background threads give way: when IPython starts
running a cell, the fuzzer ends its batch after the current input and waits, and the
refresher holds its next reload, until the cell is done (and :data:`TAIL_S` more, so
that the reply goes out first) or until the cell has run for :data:`GRACE_S`, after
which they run beside it as before. A cell that waits for the fuzzer (``session.wait()``)
therefore costs the fuzzer at most ``GRACE_S`` of its time.

Guarantees:

* Nothing happens outside IPython: without a running shell :func:`gate` returns
  ``None`` and nothing is installed; IPython is never imported from here.
* One gate per shell, whatever the number of sessions and dashboards; its hooks stay
  registered while the shell lives (they cost one attribute write per cell).
* :meth:`CellGate.wait` never waits longer than the cell's remaining grace plus the
  tail, so a hung cell cannot stop the fuzzer for longer than ``GRACE_S``.
* Thread-safe: hooks run on the kernel's main thread, waits on background threads.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["GRACE_S", "TAIL_S", "CellGate", "gate", "give_way"]

#: Seconds a running cell has the interpreter to itself; longer cells share it.
GRACE_S = 1.0

#: Seconds the background work keeps waiting after a cell ends: the kernel's reply
#: and idle status are sent after the cell's last hook.
TAIL_S = 0.03


class CellGate:
    """Knows whether a cell is running, lets background threads wait for it, and
    tells interested parties (:meth:`on_cell_start`) the moment one starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._cell_started = 0.0
        self._cell_ended = 0.0
        self._listeners: list[Callable[[], None]] = []

    # -- IPython's hooks (main thread) ------------------------------------------

    def pre_run_cell(self, *_: Any) -> None:
        self._cell_started = time.monotonic()
        self._idle.clear()
        for listener in list(self._listeners):
            # a listener's fault must never fail the user's cell
            with contextlib.suppress(Exception):
                listener()

    def post_run_cell(self, *_: Any) -> None:
        self._cell_ended = time.monotonic()
        self._idle.set()

    # -- background threads -------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a cell is running and still within its grace."""
        return not self._idle.is_set() and time.monotonic() - self._cell_started < GRACE_S

    def wait(self) -> float:
        """Wait while a cell runs (within its grace) and for the tail after it;
        return the seconds waited (0.0 at once when no cell ran recently)."""
        start = time.monotonic()
        if not self._idle.is_set():
            remaining = GRACE_S - (start - self._cell_started)
            if remaining > 0 and not self._idle.wait(remaining):
                return time.monotonic() - start  # a long cell: share from now on
        tail = self._cell_ended + TAIL_S - time.monotonic()
        if tail > 0:
            time.sleep(tail)
        return time.monotonic() - start

    def on_cell_start(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (on the main thread, quickly) whenever a cell starts;
        returns the function that removes it again."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove


_gates: dict[int, CellGate] = {}
_gates_lock = threading.Lock()


def gate() -> CellGate | None:
    """The gate of the running IPython shell (installed on first use), or None when
    this process runs no IPython shell."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "events"):
        return None
    with _gates_lock:
        found = _gates.get(id(shell))
        if found is None:
            found = _gates[id(shell)] = CellGate()
            shell.events.register("pre_run_cell", found.pre_run_cell)
            shell.events.register("post_run_cell", found.post_run_cell)
        return found


def give_way() -> float:
    """On a background thread of a kernel, wait as :meth:`CellGate.wait` does; at once
    on the main thread (the cell itself must not wait for its own end) and outside
    IPython. Returns the seconds waited. For work in steps, called between them; the
    gate must be installed (:func:`gate`) before the cell starts for it to be seen."""
    if threading.current_thread() is threading.main_thread():
        return 0.0
    found = gate()
    return 0.0 if found is None else found.wait()
