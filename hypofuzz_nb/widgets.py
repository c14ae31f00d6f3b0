"""The live dashboard: tests table, progress plot and failure explorer, as ipywidgets.

A :class:`Dashboard` shows what one database holds. One refresher thread per
dashboard reloads the data when a :class:`~hypofuzz_nb.watch.DatabaseWatcher`
reports a change (Redis pub/sub, ``add_listener`` where the database delivers
changes, or the watcher's own polling) or when the poll interval passes, never
more often than twice a second nor for more than a small share of the time (it
shares the kernel's GIL), and only redraws what changed. Workers never touch
these widgets: the database is the only channel between them, so a dashboard
works the same for a worker in this kernel and for workers on other machines.

Where no widget frontend runs (nbconvert HTML, GitHub, a terminal) the dashboard's
``text/html`` and ``text/plain`` representations show a static summary instead
of a blank output.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import html
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from hypothesis.database import ExampleDatabase, InMemoryExampleDatabase

from hypofuzz_nb import cell_gate
from hypofuzz_nb.failure_widget import failure_widget
from hypofuzz_nb.page_picker import PagePicker
from hypofuzz_nb.plot_process import PlotProcess, PlotProcessUnavailable
from hypofuzz_nb.plots import figure_to_png, plot_progress
from hypofuzz_nb.refresh_pacing import WorkBudget, data_signature
from hypofuzz_nb.reproduce import Failure, failures
from hypofuzz_nb.single_test_page import TestPage
from hypofuzz_nb.summary import database_line, inputs_rate, solver_note
from hypofuzz_nb.tests_table import tests_table_html, tests_table_text
from hypofuzz_nb.watch import DatabaseWatcher

__all__ = ["Dashboard", "show_dashboard"]

#: The refresher never updates the widgets more often than this (seconds).
MIN_REFRESH_INTERVAL = 0.5
#: Seconds between checks of whether the database became unreachable (or came back),
#: so that the header says so without waiting for the next poll.
UNREACHABLE_CHECK_S = 0.5

#: The refresher spends at most about this share of the wall time reloading and
#: redrawing: it shares the kernel's GIL with the code a user runs (and with a
#: worker fuzzing in the kernel).
REFRESH_DUTY = 0.05
#: The progress plot, the dearest part to draw, is redrawn at most this often (seconds)
#: while the data keeps changing; the table follows every refresh.
PLOT_MIN_INTERVAL = 5.0
#: Seconds of work the refresher may do at once after a quiet spell (then it is held
#: to REFRESH_DUTY), so that a lone change still shows at once.
REFRESH_BURST_S = 0.5


def _resolve_source(
    source: Any, database: ExampleDatabase | None
) -> tuple[Callable[[], Any], ExampleDatabase | None, bool]:
    """(loader, database to listen to, live?) for what the user passed."""
    if isinstance(source, (str, os.PathLike)):
        from hypofuzz_nb.databases import open_database

        # Raises DatabasePathError (naming the path) for a path that is no database.
        source = open_database(source)
    if source is None:
        from hypofuzz_nb.collect import database_in_effect
        from hypofuzz_nb.frames import load

        # The seed rule runs pytest collection: once here, never per refresh.
        source = database_in_effect()
        if source is None:  # the profile in effect has database=None
            empty = load(InMemoryExampleDatabase())
            return (lambda: empty), None, False
    if isinstance(source, ExampleDatabase):
        from hypofuzz_nb.frames import load

        database = source if database is None else database
        return (lambda: load(source)), database, True
    if hasattr(source, "tests") and hasattr(source, "reports") and hasattr(source, "failures"):
        return (lambda: source), database, False
    inner = getattr(source, "database", None)
    if isinstance(inner, ExampleDatabase):  # a FuzzSession, or anything else with a database
        return _resolve_source(inner, database)
    if callable(source):
        return source, database, True
    raise TypeError(
        "Dashboard needs a Hypothesis ExampleDatabase, a database directory, the result of hypofuzz_nb.load(), "
        f"a fuzzing session, or a function returning load()'s result; not {type(source).__name__}"
    )


class Dashboard:
    """A live view of one database: tests table, progress plot and failures. A click on
    a test's name in the table opens its page (:func:`hypofuzz_nb.test_page`) under the
    dashboard; a second click closes it.

    ``source`` is an ``ExampleDatabase`` or the path of a directory database
    (``None``: the database of the settings profile in effect), what :func:`hypofuzz_nb.load` returned (a static view), an
    object with a ``database`` attribute (a fuzzing session), or a function that
    returns ``load()``'s result. ``database`` names the database to listen to for
    changes when ``source`` is such a function. ``session`` is the fuzzing session
    of this kernel, if any: the header then says whether its workers run.
    ``interactive=True`` draws the progress plot on an ipympl canvas (the
    ``interactive`` extra) for zoom and pan; a zoom or pan survives live updates.

    Guarantees: the constructor loads once, so even a static rendering shows data;
    afterwards one daemon thread reloads at most once per ``MIN_REFRESH_INTERVAL``
    (on a change event, or every ``poll_interval`` seconds), so the kernel is never
    blocked by a slow database, and works (reloads and redraws) at most about
    ``REFRESH_DUTY`` of the time once a burst of ``REFRESH_BURST_S`` is spent, so that
    code the user runs meanwhile keeps the kernel's GIL; the plot is redrawn at most
    every ``PLOT_MIN_INTERVAL`` while the data keeps changing; a failing load keeps the last data on screen and
    says since when the database is unreachable; :meth:`close` stops the thread and
    the listener.
    """

    def __init__(
        self,
        source: Any = None,
        *,
        database: ExampleDatabase | None = None,
        poll_interval: float = 2.0,
        live: bool = True,
        plot_dpi: float = 72,
        session: Any = None,
        interactive: bool = False,
    ) -> None:
        self._ipympl = _import_ipympl() if interactive else None
        self.interactive = bool(interactive)
        self.canvas: Any = None  # the ipympl canvas, when interactive
        self._canvas_options: tuple | None = None
        self._load, self.database, can_be_live = _resolve_source(source, database)
        self.session = session
        if not (isinstance(poll_interval, (int, float)) and poll_interval > 0):
            raise ValueError(
                f"poll_interval must be a positive number of seconds, not {poll_interval!r}"
            )
        self.poll_interval = max(float(poll_interval), MIN_REFRESH_INTERVAL)
        self.plot_dpi = plot_dpi
        self._plotter: PlotProcess | None = None
        self._gate: cell_gate.CellGate | None = None
        self.data: Any = None
        self.failures: list[Failure] = []
        self.refresh_count = 0
        self.load_count = 0
        self.unreachable_since: datetime.datetime | None = None
        self.last_error: str | None = None
        self._signature: tuple | None = None
        self._failures_signature: tuple | None = None
        #: How many times the progress plot was drawn.
        self.plot_count = 0
        #: Seconds the refresher thread spent reloading and redrawing, in all and at most
        #: at once: what its share of the kernel's time is checked against.
        self.work_seconds = 0.0
        self.max_work_seconds = 0.0
        self._plotted_signature: tuple | None = None
        self._plot_stale = False
        self._next_plot_at = 0.0
        self._budget = WorkBudget(REFRESH_DUTY, REFRESH_BURST_S)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._watcher: DatabaseWatcher | None = None
        self._thread: threading.Thread | None = None
        self.listening = False
        # The unreachable state the header shows, to redraw it when that changes.
        self._shown_unreachable: tuple[datetime.datetime | None, str | None] = (None, None)

        self._build_widgets()
        self.refresh()
        if live and can_be_live:
            self._start_refresher()

    # -- widgets ---------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.header = widgets.HTML()
        # The tests table: a click on a test's name opens its page under the dashboard
        # (built from the data on screen, on the kernel's thread: it reads and replays
        # nothing).
        self.page_picker = PagePicker(self._build_page, lock=self._lock)
        self.table = self.page_picker.table
        self.page_box = self.page_picker.box
        self.selection = widgets.SelectMultiple(
            options=[], rows=4, description="Plot only:", layout=widgets.Layout(width="95%")
        )
        self.y_toggle = widgets.ToggleButtons(
            options=[("behaviors", "behaviors"), ("fingerprints", "fingerprints")],
            value="behaviors",
        )
        self.x_toggle = widgets.ToggleButtons(
            options=[("time", "time"), ("inputs", "inputs")], value="time"
        )
        self.log_toggle = widgets.ToggleButtons(
            options=[("log", True), ("linear", False)], value=True
        )
        self.scope_toggle = widgets.ToggleButtons(
            options=[("all tests", "all"), ("selected", "selected")], value="all"
        )
        for toggle in (self.y_toggle, self.x_toggle, self.log_toggle, self.scope_toggle):
            toggle.style.button_width = "auto"
            toggle.observe(self._on_plot_option, names="value")
        self.selection.observe(self._on_selection, names="value")
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.plot_area = widgets.Box([self.image])
        self.failure_box = widgets.VBox()
        self.failures_header = widgets.HTML()
        self.failures_section = widgets.VBox([self.failures_header, self.failure_box])
        self.failures_section.add_class("hypofuzz-nb-failures")
        self.widget = widgets.VBox(
            [
                self.header,
                self.table,
                widgets.HBox([self.y_toggle, self.x_toggle, self.log_toggle, self.scope_toggle]),
                self.selection,
                self.plot_area,
                self.failures_section,
                self.page_box,
            ]
        )
        self.widget.add_class("hypofuzz-nb-dashboard")

    @property
    def page(self) -> TestPage | None:
        """The test page open under the dashboard, if any."""
        return self.page_picker.page

    def open_page(self, nodeid: str) -> TestPage | None:
        """Show the page of ``nodeid`` under the dashboard (``""``: close it); returns it.

        Raises :class:`~hypofuzz_nb.errors.TestNotInData` for a test not on screen.
        """
        return self.page_picker.open(nodeid)

    def _build_page(self, nodeid: str) -> TestPage | None:
        with self._lock:
            if self.data is None:
                return None
            return TestPage(
                self.data,
                nodeid,
                database=self.database,
                failures=[f for f in self.failures if f.nodeid == nodeid],
            )

    def _on_plot_option(self, change: Any) -> None:
        self._render_plot()

    def _on_selection(self, change: Any) -> None:
        with self._lock:
            if self.data is not None:
                self.page_picker.show(self.data.tests, selected=frozenset(self.selection.value))
        if self.scope_toggle.value == "selected":
            self._render_plot()

    def _render_plot(self) -> None:
        with self._lock:
            if self.data is None:
                return
            self.plot_count += 1
            self._plot_stale = False
            self._plotted_signature = self._signature
            self._next_plot_at = time.monotonic() + PLOT_MIN_INTERVAL
            tests = None
            if self.scope_toggle.value == "selected":
                tests = list(self.selection.value)
            options = {
                "y": self.y_toggle.value,
                "x": self.x_toggle.value,
                "log": self.log_toggle.value,
                "tests": tests,
            }
            # The refresher draws in the helper process: drawing here would hold the
            # GIL that the kernel's cells need (see plot_process). A drawing the user
            # asked for (first display, a toggle) is drawn here, at once.
            if (
                self._plotter is not None
                and self._ipympl is None
                and threading.current_thread() is self._thread
            ):
                try:
                    self.image.value = self._plotter.png(
                        self.data.reports, dpi=self.plot_dpi, **options
                    )
                    return
                except PlotProcessUnavailable as error:
                    self._plotter = None
                    self.last_error = str(error)
            figure = plot_progress(self.data, **options)
            if self._ipympl is not None:
                self._show_on_canvas(
                    figure,
                    options=(
                        self.y_toggle.value,
                        self.x_toggle.value,
                        self.log_toggle.value,
                        tests,
                    ),
                )
            # The PNG stays up to date as well: it is what static renderings show.
            self.image.value = figure_to_png(figure, dpi=self.plot_dpi)

    def _show_on_canvas(self, figure: Any, *, options: tuple) -> None:
        canvas_cls, manager_cls = self._ipympl
        old = self.canvas
        if old is not None and options == self._canvas_options:
            old_axes = old.figure.axes[:1]
            new_axes = figure.axes[:1]
            if old_axes and new_axes:
                # A zoom or pan turns autoscaling off: keep the user's view.
                if not old_axes[0].get_autoscalex_on():
                    new_axes[0].set_xlim(old_axes[0].get_xlim())
                if not old_axes[0].get_autoscaley_on():
                    new_axes[0].set_ylim(old_axes[0].get_ylim())
        canvas = canvas_cls(figure)
        manager_cls(canvas, 0)  # gives the canvas its zoom/pan toolbar
        canvas.header_visible = False
        self.canvas = canvas
        self._canvas_options = options
        self.plot_area.children = (canvas,)
        if old is not None:
            old.close()

    def _header_html(self) -> str:
        parts = ["<b>hypofuzz_nb</b>"]
        if self.data is not None:
            parts.append(html.escape(database_line(self.data.tests)))
            skipped = sum(dict(getattr(self.data, "skipped", None) or {}).values())
            if skipped:
                parts.append(f"{skipped:,} undecodable database values skipped")
        if self.session is not None:
            running = bool(getattr(self.session, "running", False))
            parts.append("workers running" if running else "workers stopped")
            rate = _session_rate(self.session)
            if rate:
                parts.append(html.escape(rate))
        unreachable_since, error = self._unreachable()
        self._shown_unreachable = (unreachable_since, error)
        if unreachable_since is not None:
            since = unreachable_since.strftime("%H:%M:%S UTC")
            parts.append(
                f'<span style="color:#c62828">database unreachable since {since}: '
                f"{html.escape(error or '')}</span>"
            )
        elif self.listening:
            parts.append("live (change events)")
        elif self._thread is not None:
            parts.append(f"live (polling every {self.poll_interval:g} s)")
        return " &middot; ".join(parts)

    def _render_failures(self) -> None:
        signature = tuple((f.nodeid, f.state, repr(f.choices), f.message) for f in self.failures)
        if signature == self._failures_signature:
            return
        self._failures_signature = signature
        n = len(self.failures)
        self.failures_header.value = (
            f"<h4>Failures ({n})</h4>" if n else "<h4>Failures</h4><p><i>None found.</i></p>"
        )
        self.failure_box.children = [failure_widget(f) for f in self.failures]

    # -- refreshing ------------------------------------------------------------------

    def refresh(self) -> bool:
        """Reload the data now and update what changed; True if anything was redrawn.

        A failing load never raises: it marks the database unreachable and keeps
        the last data on screen.
        """
        return self._refresh(plot_now=True)

    def _refresh(self, *, plot_now: bool) -> bool:
        """:meth:`refresh`; with ``plot_now=False`` (the refresher) a changed plot is
        drawn only if ``PLOT_MIN_INTERVAL`` has passed since the last drawing, and is
        otherwise left for the refresher to draw when it has."""
        try:
            data = self._load()
            self.load_count += 1
        except Exception as exc:
            with self._lock:
                if self.unreachable_since is None:
                    self.unreachable_since = datetime.datetime.now(datetime.UTC)
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.header.value = self._header_html()
            return False
        if not plot_now and self._gate is not None:
            self._gate.wait()  # a cell that started during the reload goes first
        signature = data_signature(data)
        with self._lock:
            recovered = self.unreachable_since is not None
            self.unreachable_since = None
            self.last_error = None
            if signature == self._signature and not recovered:
                return False
            # Only new reports change the plot (its signature part): a new failure does not.
            plot_changed = self._signature is None or signature[2:] != self._signature[2:]
            self._signature = signature
            self.data = data
            self.failures = failures(data, database=self.database)
            nodeids = [str(n) for n in data.tests["nodeid"]] if not data.tests.empty else []
            if list(self.selection.options) != nodeids:
                kept = tuple(n for n in self.selection.value if n in nodeids)
                self.selection.options = nodeids
                self.selection.value = kept
            self.header.value = self._header_html()
            problem = self.page_picker.show(data.tests, selected=frozenset(self.selection.value))
            if problem is not None:
                self.last_error = problem
            if plot_changed or recovered:
                if plot_now or time.monotonic() >= self._next_plot_at:
                    self._render_plot()
                else:
                    self._plot_stale = True
            self._render_failures()
            self.refresh_count += 1
        return True

    def _unreachable(self) -> tuple[datetime.datetime | None, str | None]:
        """Since when the database is unreachable (for loads or for the watcher), and why."""
        watcher = self._watcher
        watched = None if watcher is None else watcher.unreachable_since
        candidates = []
        if self.unreachable_since is not None:
            candidates.append((self.unreachable_since, self.last_error))
        if watched is not None:
            when = datetime.datetime.fromtimestamp(watched, datetime.UTC)
            candidates.append((when, watcher.last_error if watcher else None))
        if not candidates:
            return None, None
        return min(candidates, key=lambda c: c[0])

    def _start_refresher(self) -> None:
        if self.database is not None:
            try:
                # The watcher's callback runs on its own thread: it only flags the
                # change, the refresher does the work.
                self._watcher = DatabaseWatcher(
                    self.database,
                    lambda _keys: self._changed.set(),
                    poll_interval=self.poll_interval,
                    min_interval=MIN_REFRESH_INTERVAL,
                ).start()
                self.listening = self._watcher.mode != "poll"
            except Exception as exc:  # the refresher's own polling still works
                self._watcher = None
                self.listening = False
                self.last_error = f"cannot watch for changes: {type(exc).__name__}: {exc}"
        if self._ipympl is None:
            self._plotter = PlotProcess()
        self._gate = cell_gate.gate()  # the user's cells go first
        self._thread = threading.Thread(
            target=self._refresh_loop, name="hypofuzz-nb-dashboard", daemon=True
        )
        self._thread.start()
        self.header.value = self._header_html()

    def _refresh_loop(self) -> None:
        if self._plotter is not None:
            try:  # its imports overlap the first reloads
                self._plotter.start()
            except PlotProcessUnavailable as error:
                self._plotter = None
                self.last_error = str(error)
        last_load = time.monotonic()
        while not self._stop.is_set():
            # Wake on a change event, when the poll interval is up or a held-back plot
            # is due, and at least every UNREACHABLE_CHECK_S to show the watcher's
            # view of an outage ...
            due = last_load + self.poll_interval
            if self._plot_stale:
                due = min(due, self._next_plot_at)
            changed = self._changed.wait(max(0.0, min(due - time.monotonic(), UNREACHABLE_CHECK_S)))
            now = time.monotonic()
            if not changed and now < last_load + self.poll_interval:
                if self._plot_stale and now >= self._next_plot_at:
                    if not self._pause_for_budget():
                        return
                    try:
                        self._timed(self._render_plot)
                    except Exception as exc:  # as below: live updates must go on
                        self._plot_stale = False
                        self.last_error = f"plot failed: {type(exc).__name__}: {exc}"
                elif self._unreachable() != self._shown_unreachable and not self._stop.is_set():
                    with self._lock:
                        self.header.value = self._header_html()
                continue
            # ... but never refresh more often than MIN_REFRESH_INTERVAL, nor work more
            # than REFRESH_DUTY of the time: every reload and redraw holds the GIL
            # that the kernel's own code needs.
            pause = last_load + MIN_REFRESH_INTERVAL - time.monotonic()
            if self._stop.is_set() or (pause > 0 and self._stop.wait(pause)):
                return
            if not self._pause_for_budget():
                return
            self._changed.clear()
            last_load = time.monotonic()
            try:
                self._timed(lambda: self._refresh(plot_now=False))
            except Exception as exc:  # a bug of ours must not kill live updates silently
                self.last_error = f"refresh failed: {type(exc).__name__}: {exc}"

    def _pause_for_budget(self) -> bool:
        """Wait until no cell runs and the work budget allows more work; False if
        stopped meanwhile."""
        if self._gate is not None:
            self._gate.wait()
        wait = self._budget.wait_time()
        return not (self._stop.is_set() or (wait > 0 and self._stop.wait(wait)))

    def _timed(self, work: Callable[[], Any]) -> None:
        start = time.monotonic()
        try:
            work()
        finally:
            spent = time.monotonic() - start
            self._budget.spend(spent)
            self.work_seconds += spent
            self.max_work_seconds = max(self.max_work_seconds, spent)

    @property
    def running(self) -> bool:
        """Whether the refresher thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, *, timeout: float = 2.0) -> None:
        """Stop live updates and close the widgets. Safe to call more than once."""
        self._stop.set()
        self._changed.set()  # wake the refresher so that it sees the stop at once
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                self._watcher.stop(timeout=timeout)
            self._watcher = None
        self.listening = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._plotter is not None:
            self._plotter.close()
        self.page_picker.close()
        _close_tree(self.widget)

    # -- display ---------------------------------------------------------------------

    def display(self) -> Dashboard:
        """Show the dashboard in the current notebook output; returns ``self``."""
        from IPython.display import display

        display(self)
        return self

    def summary_text(self) -> str:
        """What the dashboard shows, as plain text (terminals, logs)."""
        if self.data is None:
            return "hypofuzz_nb dashboard: no data loaded" + (
                f" (database unreachable: {self.last_error})" if self.last_error else ""
            )
        lines = [f"hypofuzz_nb dashboard: {database_line(self.data.tests)}"]
        lines.append(tests_table_text(self.data.tests))
        if self.failures:
            lines.append(f"Failures ({len(self.failures)}):")
            lines.extend(f"  {f.nodeid} [{f.state}]: {f.summary}" for f in self.failures)
        return "\n".join(lines)

    def summary_html(self) -> str:
        """What the dashboard shows, as static HTML (nbconvert, GitHub): escaped."""
        with self._lock:
            parts = [f"<div class='hypofuzz-nb-summary'><p>{self._header_html()}</p>"]
            if self.data is not None:
                parts.append(tests_table_html(self.data.tests))
                if self.image.value:
                    encoded = base64.b64encode(self.image.value).decode("ascii")
                    parts.append(f'<img alt="progress plot" src="data:image/png;base64,{encoded}">')
                parts.append(f"<h4>Failures ({len(self.failures)})</h4>")
                parts.extend(f._repr_html_() for f in self.failures)
                if self.page is not None:
                    parts.append(self.page._repr_html_())
            parts.append("</div>")
            return "\n".join(parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = self.summary_text()
        bundle["text/html"] = self.summary_html()
        return bundle

    def __repr__(self) -> str:
        state = "live" if self.running else "static"
        return f"<hypofuzz_nb.Dashboard ({state}) {self.summary_text().splitlines()[0]}>"


def _session_rate(session: Any) -> str:
    """This session's inputs and their rate over its wall time, or "" if unknown."""
    try:
        status = session.status()
        hosts = f" on Dask workers {', '.join(status.hosts)}" if status.hosts else ""
        # What the solver contributed, or why it is off and how to turn it on.
        notes = getattr(session, "collection_notes", ())
        solver = solver_note(status) or next((n for n in notes if n.startswith("solver off")), "")
        return f"this session: {inputs_rate(status)}{hosts}" + (f"; {solver}" if solver else "")
    except Exception:  # a header must never fail because of a session object
        return ""


def show_dashboard(source: Any = None, **kwargs: Any) -> Dashboard:
    """Create a :class:`Dashboard` for ``source`` and display it; returns the dashboard."""
    return Dashboard(source, **kwargs).display()


def _import_ipympl() -> tuple[Any, Any]:
    """ipympl's canvas widget and figure manager, or a clear error naming the extra."""
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    except ImportError:
        raise ImportError(
            "Dashboard(interactive=True) draws with ipympl, which is not installed: "
            "pip install 'hypofuzz_nb[interactive]'"
        ) from None
    return Canvas, FigureManager


def _close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
