"""One test's page: :func:`test_page` and :class:`TestPage`.

A page shows, for one test of :func:`hypofuzz_nb.load`'s data: its behavior and
fingerprint curves against fuzzing time and against inputs, its corpus
deduplicated by representation, its failures grouped by the bug they show
(:mod:`hypofuzz_nb.failure_groups`, with their ``@example`` patches), and the
views that replay its corpus in a subprocess: the source coverage
(:func:`hypofuzz_nb.coverage_view`) and the views of :data:`INSIGHT_SECTIONS`.

Guarantees: building a page from loaded data reads nothing and replays nothing, so
it is quick (the dashboard opens one on the kernel's thread); replaying happens only
on request (``coverage=True``, :meth:`TestPage.compute_replay_views`, or the page
widget's button, which replays on a thread of its own so the kernel and the
dashboard's refresher are never blocked). Every generated text in the HTML is
escaped; ``repr()`` is a text summary for consoles. The widget needs ipywidgets,
nothing else here does.
"""

from __future__ import annotations

import base64
import functools
import html
import importlib
import os
import threading
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hypofuzz_nb.cell_gate import gate, give_way
from hypofuzz_nb.errors import TestNotInData
from hypofuzz_nb.failure_groups import FailureGroup, group_failures
from hypofuzz_nb.plots import figure_to_png
from hypofuzz_nb.reproduce import Failure, failures
from hypofuzz_nb.summary import plural, solver_counts

__all__ = ["INSIGHT_SECTIONS", "TestPage", "progress_curves", "test_page"]

#: Views of other modules shown on the page when their module imports:
#: (title, "module:function"). Each function is called like
#: :func:`hypofuzz_nb.coverage_view`, as ``function(database, paths=..., nodeid=...)``,
#: on request with the coverage view, and returns an object with ``_repr_html_``.
INSIGHT_SECTIONS: tuple[tuple[str, str], ...] = (
    ("What it generates", "hypofuzz_nb.distributions_html:distributions_view"),
    ("Why it is stuck", "hypofuzz_nb.stuck_html:stuck_view"),
)

#: Distinct corpus inputs listed on the page (the smallest first); the rest are counted.
CORPUS_ROWS_SHOWN = 50
#: Size of the curves figure (inches) and its resolution on the page.
CURVES_FIGSIZE = (9.0, 3.0)
CURVES_DPI = 72
#: Fixed margins of the curves figure (fractions of it): tight_layout would draw it
#: once more, which is most of the cost of opening a page.
_CURVES_MARGINS = {"left": 0.07, "right": 0.98, "bottom": 0.17, "top": 0.95, "wspace": 0.2}
#: Ticks per axis: fewer labels to lay out, and enough to read the curves.
_CURVES_TICKS = 5
_NO_REPRESENTATION = "(no representation stored)"
_NUMBER_CELL = "text-align:right;padding:0 .6em;vertical-align:top"


class TestPage:
    """One test's page, from data already loaded (see the module docstring).

    ``data`` is what :func:`hypofuzz_nb.load` returned; ``failures`` the test's
    :class:`~hypofuzz_nb.failures.Failure` objects when the caller has them (the
    dashboard does), else they are built from ``data``; ``database`` and ``paths``
    are where the replaying views read the corpus and collect the test (default:
    ``data.database`` and the current directory).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        data: Any,
        nodeid: str,
        *,
        database: Any = None,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        failures: Sequence[Failure] | None = None,
    ) -> None:
        known = [str(n) for n in data.tests["nodeid"]] if len(data.tests) else []
        if nodeid not in known:
            raise TestNotInData(nodeid, sorted(known))
        self.nodeid = nodeid
        self.data = data
        self.database = database if database is not None else getattr(data, "database", None)
        self.paths = None if paths is None else [os.fspath(p) for p in paths]
        self.test = data.tests[data.tests["nodeid"] == nodeid].iloc[0]
        self.reports: pd.DataFrame = data.reports[data.reports["nodeid"] == nodeid]
        self.corpus: pd.DataFrame = _distinct_corpus(data.corpus, nodeid)
        if failures is None:
            failures = _failures_of(data, nodeid, self.database)
        self.failure_groups: list[FailureGroup] = group_failures(
            f for f in failures if f.nodeid == nodeid
        )
        #: The coverage view once replayed, or the error replaying it raised.
        self.coverage: Any = None
        self.coverage_error: str | None = None
        #: title -> HTML of each INSIGHT_SECTIONS view once computed.
        self.insights: dict[str, str] = {}
        self._curves_png: bytes | None = None
        self._widget: Any = None

    # -- parts -------------------------------------------------------------------------

    def curves_png(self) -> bytes:
        """The curves figure as PNG (drawn once)."""
        if self._curves_png is None:
            self._curves_png = figure_to_png(progress_curves(self.reports), dpi=CURVES_DPI)
        return self._curves_png

    def compute_replay_views(self) -> None:
        """Replay the corpus for the coverage view and each importable insight view
        (in subprocesses; seconds). An error is kept and shown, not raised."""
        from hypofuzz_nb.coverage_html import coverage_view

        kwargs = {"paths": self.paths, "nodeid": self.nodeid}
        # Each view is seconds of waiting on a subprocess between stretches of work in
        # this process: on the page's thread, a cell the user starts goes first.
        give_way()
        try:
            self.coverage = coverage_view(self.database, **kwargs)
            self.coverage_error = None
        except Exception as exc:  # shown on the page: the rest of it stays useful
            self.coverage_error = f"{type(exc).__name__}: {exc}"
        for title, function in _insight_functions():
            give_way()
            try:
                self.insights[title] = function(self.database, **kwargs)._repr_html_()
            except Exception as exc:
                self.insights[title] = _error_html(f"{type(exc).__name__}: {exc}")

    def _header_html(self) -> str:
        t = self.test
        facts = [
            f"status {t['status']}",
            f"{int(t['inputs']):,} inputs",
            f"{int(t['behaviors']):,} behaviors",
            f"{int(t['fingerprints']):,} fingerprints",
            f"{len(self.corpus):,} distinct corpus inputs",
        ]
        solver = self._solver_line()
        return (
            f"<h3 style='margin:4px 0'>{html.escape(self.nodeid)}</h3>"
            f"<div>{html.escape(' · '.join(facts))}</div>"
            + (f"<div class='hypofuzz-nb-solver'>{html.escape(solver)}</div>" if solver else "")
        )

    def _solver_line(self) -> str:
        """What the solver did on this test's plateaus, or "" if it never ran."""
        t = self.test
        if not t["solver_calls"]:
            return ""
        line = solver_counts(
            int(t["solver_calls"]), float(t["solver_seconds"]), int(t["solver_found"])
        )
        line += f" of {int(t['solver_inputs']):,} inputs"
        if t["solver_errors"]:
            line += f"; {plural(int(t['solver_errors']), 'error')}, the last: {t['solver_error']}"
        return line

    def _curves_html(self) -> str:
        if self.reports.empty:
            return "<p><i>No progress reports for this test yet.</i></p>"
        encoded = base64.b64encode(self.curves_png()).decode("ascii")
        return f'<img alt="behaviors and fingerprints" src="data:image/png;base64,{encoded}">'

    def _corpus_html(self) -> str:
        if self.corpus.empty:
            return "<h4>Corpus</h4><p><i>No corpus stored for this test.</i></p>"
        shown = self.corpus.head(CORPUS_ROWS_SHOWN)
        rows = "".join(
            f"<tr><td style='{_NUMBER_CELL}'>{int(r.size)}</td>"
            f"<td style='{_NUMBER_CELL}'>{int(r.copies)}</td>"
            f"<td style='font-family:monospace' title='{html.escape(r.representation)}'>"
            f"{html.escape(_one_line(r.representation))}</td></tr>"
            for r in shown.itertuples()
        )
        more = len(self.corpus) - len(shown)
        note = f"<div><i>... and {more:,} more</i></div>" if more > 0 else ""
        return (
            f"<h4>Corpus ({len(self.corpus):,} distinct inputs, smallest first)</h4>"
            '<div style="max-height:20em;overflow-y:auto">'
            "<table class='hypofuzz-nb-corpus' style='border-collapse:collapse'>"
            f"<thead><tr><th style='{_NUMBER_CELL}' title='choices in the input'>size</th>"
            f"<th style='{_NUMBER_CELL}' title='stored inputs with this representation'>copies</th>"
            "<th style='text-align:left'>input</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>{note}"
        )

    def _replay_html(self) -> str:
        parts = ['<div class="hypofuzz-nb-test-coverage"><h4>Source coverage of the corpus</h4>']
        if self.coverage is not None:
            parts.append(self.coverage._repr_html_())
        elif self.coverage_error is not None:
            parts.append(_error_html(self.coverage_error))
        else:
            parts.append(
                "<p><i>Not computed: it replays the corpus in a subprocess. Use the page's "
                "button, or hypofuzz_nb.test_page(..., coverage=True).</i></p>"
            )
        parts.append("</div>")
        parts.append(self._insights_html())
        return "".join(parts)

    def _insights_html(self) -> str:
        parts = []
        for title, _ in _insight_functions():
            body = self.insights.get(
                title, "<p><i>Not computed (it is computed with the coverage).</i></p>"
            )
            parts.append(
                f'<div class="hypofuzz-nb-test-insight"><h4>{html.escape(title)}</h4>{body}</div>'
            )
        return "".join(parts)

    def _failures_html(self) -> str:
        if not self.failure_groups:
            return "<h4>Failures</h4><p><i>None found.</i></p>"
        return f"<h4>Failures ({len(self.failure_groups)} distinct)</h4>" + "\n".join(
            g._repr_html_() for g in self.failure_groups
        )

    # -- display -----------------------------------------------------------------------

    def _repr_html_(self) -> str:
        return (
            '<div class="hypofuzz-nb-test-page">'
            + self._header_html()
            + self._curves_html()
            + self._corpus_html()
            + self._replay_html()
            + self._failures_html()
            + "</div>"
        )

    def __repr__(self) -> str:
        t = self.test
        lines = [
            f"{self.nodeid}: status {t['status']}, {int(t['inputs']):,} inputs, "
            f"{int(t['behaviors']):,} behaviors, {int(t['fingerprints']):,} fingerprints",
            f"corpus: {len(self.corpus):,} distinct inputs",
        ]
        if solver := self._solver_line():
            lines.append(solver)
        lines.extend(f"  {r}" for r in self.corpus["representation"].head(5))
        if self.coverage is not None:
            lines.append(f"coverage:\n{self.coverage!r}")
        elif self.coverage_error:
            lines.append(f"coverage failed: {self.coverage_error}")
        lines.append(f"failures: {len(self.failure_groups)} distinct")
        lines.extend(f"  {g}" for g in self.failure_groups)
        return "\n".join(lines)

    def widget(self) -> Any:
        """The page as ipywidgets: a button replays the corpus on a thread of its own,
        each failure group's head has Reproduce and Debug buttons."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as widgets

        gate()  # installed now, so the replay thread sees the cells that follow

        from hypofuzz_nb.failure_widget import failure_widget

        replay_area = widgets.HTML(self._replay_html())
        button = widgets.Button(
            description="Compute coverage" if self.coverage is None else "Compute coverage again",
            icon="search",
            tooltip="replays the corpus in a subprocess (seconds)",
            layout=widgets.Layout(width="auto"),
        )
        button.on_click(lambda _b: self._replay_in_background(button, replay_area))
        groups = []
        for group in self.failure_groups:
            parts = [failure_widget(group.head)]
            if group.location or group.folded:
                parts.append(widgets.HTML(group.notes_html()))
            groups.append(widgets.VBox(parts))
        failures_header = widgets.HTML(
            f"<h4>Failures ({len(self.failure_groups)} distinct)</h4>"
            if self.failure_groups
            else "<h4>Failures</h4><p><i>None found.</i></p>"
        )
        curves = (
            widgets.Image(
                value=self.curves_png(), format="png", layout=widgets.Layout(max_width="100%")
            )
            if not self.reports.empty
            else widgets.HTML(self._curves_html())
        )
        box = widgets.VBox(
            [
                widgets.HTML(self._header_html()),
                curves,
                widgets.HTML(self._corpus_html()),
                button,
                replay_area,
                failures_header,
                *groups,
            ]
        )
        box.add_class("hypofuzz-nb-test-page")
        self._widget = box
        return box

    def _replay_in_background(self, button: Any, area: Any) -> None:
        button.disabled = True
        button.description = "Replaying..."
        area.value = "<p><i>Replaying the corpus in a subprocess...</i></p>"

        def work() -> None:
            try:
                self.compute_replay_views()
                area.value = self._replay_html()
            finally:
                button.description = "Compute coverage again"
                button.disabled = False

        threading.Thread(target=work, name="hypofuzz-nb-test-page", daemon=True).start()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        try:
            bundle = dict(self.widget()._repr_mimebundle_(**kwargs) or {})
        except ImportError:  # no ipywidgets: the static page
            bundle = {}
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = self._repr_html_()
        return bundle

    def close(self) -> None:
        """Close the page's widgets, if they were built."""
        if self._widget is not None:
            _close_tree(self._widget)
            self._widget = None


def test_page(
    nodeid: str,
    database: Any = None,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    data: Any = None,
    coverage: bool = False,
) -> TestPage:
    """The page of the test ``nodeid``: curves, corpus, failures, and on request coverage.

    ``database`` and ``paths`` follow :func:`hypofuzz_nb.load`; pass ``data`` (what
    ``load()`` returned) to build the page from it without reading the database.
    ``coverage=True`` replays the corpus now (seconds) instead of on the page's button.
    Raises :class:`~hypofuzz_nb.errors.TestNotInData` (an ``UnknownTest``) for a node id
    the data does not have.
    """
    if data is None:
        from hypofuzz_nb.frames import load

        data = load(database, paths=paths)
    page = TestPage(data, nodeid, database=database, paths=paths)
    if coverage:
        page.compute_replay_views()
    return page


test_page.__test__ = False  # type: ignore[attr-defined]  # pytest must not collect it


def progress_curves(reports: pd.DataFrame) -> Figure:
    """Behaviors and fingerprints of one test's reports, against fuzzing time (left)
    and against inputs (right)."""
    figure = Figure(figsize=CURVES_FIGSIZE)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2, gridspec_kw=_CURVES_MARGINS)
    for ax, (x, label) in zip(
        axes, (("elapsed_s", "fuzzing time (s)"), ("inputs", "inputs")), strict=True
    ):
        ax.plot(reports[x], reports["behaviors"], drawstyle="steps-post", label="behaviors")
        ax.plot(
            reports[x],
            reports["fingerprints"],
            drawstyle="steps-post",
            linestyle="--",
            label="fingerprints",
        )
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(_CURVES_TICKS))
        ax.yaxis.set_major_locator(MaxNLocator(_CURVES_TICKS, integer=True))
    axes[0].legend(loc="lower right", fontsize="small")
    return figure


def _distinct_corpus(corpus: pd.DataFrame, nodeid: str) -> pd.DataFrame:
    """The test's corpus, one row per representation: ``size`` (smallest), ``copies``."""
    rows = corpus[corpus["nodeid"] == nodeid]
    if rows.empty:
        return pd.DataFrame({"representation": [], "size": [], "copies": []})
    representation = rows["representation"].astype(object).where(rows["representation"].notna())
    frame = pd.DataFrame(
        {"representation": representation.fillna(_NO_REPRESENTATION), "size": rows["size"]}
    )
    grouped = frame.groupby("representation", sort=False)["size"].agg(["min", "count"])
    grouped = grouped.rename(columns={"min": "size", "count": "copies"}).reset_index()
    return grouped.sort_values(["size", "representation"], kind="stable").reset_index(drop=True)


def _one_line(representation: str) -> str:
    """A representation on one line (the corpus table's row; the full one is its tooltip)."""
    return " ".join(representation.split()).replace("( ", "(").replace(", )", ")")


def _failures_of(data: Any, nodeid: str, database: Any) -> list[Failure]:
    frame = data.failures
    if frame.empty:
        return []
    own = SimpleNamespace(
        failures=frame[frame["nodeid"] == nodeid], tests=data.tests[data.tests["nodeid"] == nodeid]
    )
    return failures(own, database=database)


@functools.cache
def _insight_functions() -> tuple[tuple[str, Any], ...]:
    """(title, function) of each INSIGHT_SECTIONS view whose module imports (looked up
    once: a page is opened on the kernel's thread)."""
    found = []
    for title, target in INSIGHT_SECTIONS:
        module_name, _, name = target.partition(":")
        try:
            found.append((title, getattr(importlib.import_module(module_name), name)))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _error_html(message: str) -> str:
    return f'<pre style="color:#c62828;white-space:pre-wrap">{html.escape(message)}</pre>'


def _close_tree(widget: Any) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
