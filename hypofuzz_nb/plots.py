"""Progress plots as plain functions returning matplotlib figures.

Every figure here is a :class:`matplotlib.figure.Figure` attached to its own Agg
canvas, never created through ``pyplot``: pyplot keeps global state (the current
figure, the figure manager registry) that is not safe to touch from the
dashboard's refresher thread while the user plots in the kernel. A figure built
here can be created, drawn and rendered from any thread.

This module never imports IPython or ipywidgets.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

__all__ = ["X_CHOICES", "Y_CHOICES", "figure_to_png", "plot_progress"]

#: What ``plot_progress`` can put on each axis, and the column and label for it.
Y_CHOICES: dict[str, tuple[str, str]] = {
    "behaviors": ("behaviors", "behaviors"),
    "fingerprints": ("fingerprints", "fingerprints"),
}
X_CHOICES: dict[str, tuple[str, str]] = {
    "time": ("elapsed_s", "fuzzing time (s)"),
    "inputs": ("inputs", "inputs"),
}

#: Above this many tests a legend hides the plot, so it is left out.
LEGEND_LIMIT = 12

# Legend geometry, in points, for the "small" legend font (0.833 x 10 pt): a row's
# height, a character's mean width (DejaVu Sans), and the line sample and gaps of a
# column. Estimates, so that placing the legend costs no extra drawing pass.
_LEGEND_ROW_PT = 13.0
_LEGEND_CHAR_PT = 5.0
_LEGEND_COLUMN_EXTRA_PT = 36.0
_LEGEND_PAD_PT = 10.0
# Fixed margins of the axes (fractions of the figure at its requested size).
_LEFT, _RIGHT, _BOTTOM, _TOP = 0.09, 0.98, 0.13, 0.92

_REPORT_COLUMNS = ("nodeid", "elapsed_s", "inputs", "behaviors", "fingerprints")


def _reports_frame(data: Any) -> pd.DataFrame:
    """The reports DataFrame in ``data``: a FuzzData (``.reports``) or the frame itself."""
    reports = data if isinstance(data, pd.DataFrame) else getattr(data, "reports", None)
    if not isinstance(reports, pd.DataFrame):
        raise TypeError(
            "plot_progress needs the result of hypofuzz_nb.load() or its `reports` "
            f"DataFrame, not {type(data).__name__}"
        )
    missing = [name for name in _REPORT_COLUMNS if name not in reports.columns]
    if missing:
        raise ValueError(
            f"the reports DataFrame lacks the column(s) {missing}; pass "
            "hypofuzz_nb.load().reports (or the FuzzData itself)"
        )
    return reports


def _test_codes(nodeids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(integer code per row, node id per code), codes numbered in node id order.

    load() returns each test's reports as one block, so the fast path finds the
    blocks with one pass of comparisons; only interleaved input pays for a full
    factorize of the strings.
    """
    starts = np.flatnonzero(np.r_[True, nodeids[1:] != nodeids[:-1]])
    block_names = nodeids[starts]
    if len(set(block_names)) == len(block_names):
        rank = np.empty(len(starts), dtype=np.int64)
        by_name = np.argsort(block_names.astype(str), kind="stable")
        rank[by_name] = np.arange(len(starts))
        block_of_row = np.cumsum(np.r_[True, nodeids[1:] != nodeids[:-1]]) - 1
        return rank[block_of_row], block_names[by_name]
    codes, names = pd.factorize(nodeids, sort=True)
    return codes, np.asarray(names, dtype=object)


class ProgressFigure(Figure):
    """A matplotlib ``Figure`` that shows itself as a PNG in Jupyter.

    Figures built without pyplot get no display hook from the inline backend, so a
    notebook cell ending in ``plot_progress(...)`` would show only ``<Figure ...>``.
    """

    def _repr_png_(self) -> bytes:
        return figure_to_png(self, dpi=self.dpi)


def _new_figure(figsize: tuple[float, float]) -> Figure:
    # Fixed margins rather than a layout engine: constrained layout measured every
    # tick label on each draw and doubled the dashboard's rendering time.
    figure = ProgressFigure(figsize=figsize)
    figure.subplots_adjust(left=_LEFT, right=_RIGHT, bottom=_BOTTOM, top=_TOP)
    FigureCanvasAgg(figure)
    return figure


def _legend_below(figure: Figure, axes: Any, labels: list[str]) -> None:
    """A legend under the axes, never on the curves: the figure grows by its height.

    The axes keep the size they had; labels go in as many columns as fit the
    width, and a label too long for one column keeps its end (the test's name).
    """
    width_in, height_in = figure.get_size_inches()
    avail_pt = (_RIGHT - 0.01) * width_in * 72
    max_chars = max(10, int((avail_pt - _LEGEND_COLUMN_EXTRA_PT) / _LEGEND_CHAR_PT))
    shown = [
        label if len(label) <= max_chars else "…" + label[-(max_chars - 1) :] for label in labels
    ]
    column_pt = max(len(label) for label in shown) * _LEGEND_CHAR_PT + _LEGEND_COLUMN_EXTRA_PT
    ncol = max(1, min(len(shown), int(avail_pt // column_pt)))
    rows = -(-len(shown) // ncol)
    extra_in = (rows * _LEGEND_ROW_PT + 2 * _LEGEND_PAD_PT) / 72
    new_height = height_in + extra_in
    figure.set_size_inches(width_in, new_height)
    figure.subplots_adjust(
        bottom=(_BOTTOM * height_in + extra_in) / new_height,
        top=1 - (1 - _TOP) * height_in / new_height,
    )
    handles = axes.get_lines()
    figure.legend(
        handles,
        shown,
        loc="lower left",
        bbox_to_anchor=(0.01, _LEGEND_PAD_PT / 72 / new_height),
        ncol=ncol,
        fontsize="small",
        frameon=False,
        borderaxespad=0.0,
        borderpad=0.0,
    )


def plot_progress(
    data: Any,
    *,
    y: str = "behaviors",
    x: str = "time",
    log: bool = True,
    tests: Iterable[str] | None = None,
    figsize: tuple[float, float] = (8.0, 4.0),
) -> Figure:
    """One line per test: ``y`` (behaviors or fingerprints) against ``x`` (time or inputs).

    ``data`` is what :func:`hypofuzz_nb.load` returns, or its ``reports`` DataFrame.
    ``x="time"`` is the test's cumulative fuzzing time over all workers. ``log`` puts
    ``x`` on a symmetric-log scale (zero stays plottable). ``tests`` limits the plot
    to those node ids. With nothing to plot the figure says so instead of being blank.

    The figure is built without pyplot, so this is safe to call from any thread;
    render it with :func:`figure_to_png` or display it directly in a notebook.
    """
    if y not in Y_CHOICES:
        raise ValueError(f"y must be one of {sorted(Y_CHOICES)}, not {y!r}")
    if x not in X_CHOICES:
        raise ValueError(f"x must be one of {sorted(X_CHOICES)}, not {x!r}")
    if isinstance(tests, str):
        # A single node id is a common slip for a list of them; a str would
        # otherwise be iterated character by character.
        tests = [tests]
    reports = _reports_frame(data)
    x_column, x_label = X_CHOICES[x]
    y_column, y_label = Y_CHOICES[y]

    if tests is not None:
        wanted = set(tests)
        reports = reports[reports["nodeid"].isin(wanted)]

    figure = _new_figure(figsize)
    axes = figure.add_subplot()
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, alpha=0.3)

    reports = reports.dropna(subset=[x_column, y_column])
    if reports.empty:
        message = (
            "No progress reports yet for the selected tests"
            if tests is not None
            else "No progress reports yet: start fuzzing, or load a database that has some"
        )
        axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, wrap=True)
        axes.set_xticks([])
        axes.set_yticks([])
        return figure

    # Order by test, then x: each test becomes one contiguous, monotonic slice
    # ready to draw as a step line. Sorting integer codes with numpy is several
    # times faster than DataFrame.sort_values on the string column.
    codes, names = _test_codes(reports["nodeid"].to_numpy(dtype=object))
    xs = reports[x_column].to_numpy(dtype=float)
    ys = reports[y_column].to_numpy(dtype=float)
    order = np.lexsort((xs, codes))
    codes, xs, ys = codes[order], xs[order], ys[order]
    new_test = np.r_[True, codes[1:] != codes[:-1]]
    # A step line only needs the points where it steps, plus each test's last
    # point: dropping the others is lossless and keeps big databases fast to draw
    # (behaviors change in a few percent of reports).
    last_of_test = np.r_[new_test[1:], True]
    keep = new_test | last_of_test | np.r_[True, ys[1:] != ys[:-1]]
    codes, xs, ys = codes[keep], xs[keep], ys[keep]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    bounds = np.r_[starts, len(codes)]
    n_lines = len(starts)
    if n_lines <= LEGEND_LIMIT:
        for i in range(n_lines):
            lo, hi = bounds[i], bounds[i + 1]
            axes.plot(
                xs[lo:hi],
                ys[lo:hi],
                drawstyle="steps-post",
                label=str(names[codes[lo]]),
                linewidth=1.2,
            )
        _legend_below(figure, axes, [str(names[codes[lo]]) for lo in bounds[:-1]])
    else:
        # Many tests: one LineCollection draws far faster than one Line2D per test,
        # and a legend of that many entries would hide the plot anyway.
        colors = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
        segments = []
        for i in range(n_lines):
            lo, hi = bounds[i], bounds[i + 1]
            step_x = np.repeat(xs[lo:hi], 2)[1:]
            step_y = np.repeat(ys[lo:hi], 2)[:-1]
            segments.append(np.column_stack([step_x, step_y]))
        collection = LineCollection(
            segments, colors=[colors[i % len(colors)] for i in range(n_lines)], linewidths=0.8
        )
        axes.add_collection(collection)
        axes.autoscale_view()
    if log:
        axes.set_xscale("symlog", linthresh=1.0)
        # Plain "10", "1k" labels: the default 10^n labels go through mathtext,
        # whose parsing was a third of the dashboard's drawing time.
        axes.xaxis.set_major_formatter(FuncFormatter(_compact_number))
        # Minor ticks (2..9 per decade) cost more to lay out than the data to draw.
        axes.xaxis.set_minor_locator(NullLocator())
    # Time and inputs are never negative; symlog's autoscale margin would show
    # an empty negative decade.
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts, not fractions
    axes.set_title(f"{y_label} of {n_lines} test{'s' if n_lines != 1 else ''}", fontsize="medium")
    return figure


def _compact_number(value: float, _position: object = None) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def figure_to_png(figure: Figure, *, dpi: float = 80) -> bytes:
    """The PNG bytes of ``figure``, drawn on its own Agg canvas (thread-safe per figure)."""
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    buffer = io.BytesIO()
    canvas.print_png(buffer)  # one draw, at the figure's own dpi
    return buffer.getvalue()
