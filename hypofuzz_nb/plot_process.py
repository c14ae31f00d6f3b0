"""Draws progress plots as PNG in a helper process, so the kernel keeps its GIL.

Drawing a figure with matplotlib holds the GIL for tens of milliseconds at a time (text
layout and rasterising are C++ that does not release it), and beside a fuzzing thread in
the same kernel one drawing takes over a second of wall time: every cell the user runs
meanwhile waits behind it. A :class:`PlotProcess` sends the reports to a helper process
that draws them with :func:`hypofuzz_nb.plots.plot_progress`; this process only waits on
a pipe, which releases the GIL.

Guarantees: :meth:`PlotProcess.png` returns the same PNG that drawing in this process
would, or raises what drawing raised; a helper that died or hung is replaced on the next
call (one retry), and a helper that cannot be started at all raises
:class:`PlotProcessUnavailable`, so that callers can draw in-process instead.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import signal
import threading
import weakref
from typing import Any

from hypofuzz_nb.errors import HypofuzzNbError

#: Seconds one drawing may take in the helper before it counts as hung.
DRAW_TIMEOUT_S = 60.0

_live: weakref.WeakSet[PlotProcess] = weakref.WeakSet()


class PlotProcessUnavailable(HypofuzzNbError):
    """The helper process could not be started or did not answer: draw in-process."""


class PlotProcess:
    """One helper process that draws progress plots; thread-safe, started lazily."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Any = None
        #: How many drawings the helper returned.
        self.drawings = 0
        _live.add(self)

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs (for tests and diagnostics)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def start(self) -> None:
        """Start the helper now (it takes a second or two to import matplotlib)."""
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()

    def png(self, reports: Any, *, dpi: float, **options: Any) -> bytes:
        """The PNG of ``plot_progress(reports, **options)`` drawn at ``dpi``."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._process is None or not self._process.is_alive():
                        self._start()
                    self._conn.send((reports, options, dpi))
                    if not self._conn.poll(DRAW_TIMEOUT_S):
                        raise TimeoutError(f"no drawing within {DRAW_TIMEOUT_S:.0f} s")
                    ok, value = self._conn.recv()
                except (OSError, EOFError, TimeoutError) as error:
                    self._stop()
                    if attempt == 2:
                        raise PlotProcessUnavailable(
                            f"the plot helper process failed twice ({error!r}); "
                            "drawing in this process instead"
                        ) from error
                    continue
                if ok:
                    self.drawings += 1
                    return value
                raise value
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the helper. Safe to call more than once; a later png() starts another."""
        with self._lock:
            self._stop()

    def _start(self) -> None:
        from hypofuzz_nb.processes import main_script_hidden

        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child,), name="hypofuzz_nb-plot", daemon=True
        )
        try:
            with main_script_hidden():
                process.start()
        except Exception as error:
            parent.close()
            raise PlotProcessUnavailable(f"cannot start the plot helper: {error!r}") from error
        finally:
            child.close()
        self._process, self._conn = process, parent

    def _stop(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError, EOFError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)


def _serve(conn: Any) -> None:
    """The helper's loop: draw each request until told to stop or the pipe closes."""
    # Interrupting the kernel (Jupyter's stop button) signals its whole process group;
    # the helper is the kernel's to stop, not the user's, and must not print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from hypofuzz_nb.plots import figure_to_png, plot_progress

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        reports, options, dpi = request
        try:
            result = (True, figure_to_png(plot_progress(reports, **options), dpi=dpi))
        except Exception as error:  # sent back and raised there, as if drawn there
            result = (False, error)
        conn.send(result)


@atexit.register
def _close_all() -> None:
    for plotter in list(_live):
        plotter.close()
