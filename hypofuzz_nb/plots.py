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

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


def _new_figure(figsize: tuple[float, float]) -> Figure:
    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


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

    # Reports come grouped per test but possibly interleaved; sort once, then each
    # group is a monotonic series ready to draw as a step line.
    reports = reports.sort_values(["nodeid", x_column], kind="stable")
    n_lines = 0
    for nodeid, group in reports.groupby("nodeid", sort=True):
        axes.step(
            group[x_column].to_numpy(dtype=float),
            group[y_column].to_numpy(dtype=float),
            where="post",
            label=str(nodeid),
            linewidth=1.2,
        )
        n_lines += 1
    if log:
        axes.set_xscale("symlog", linthresh=1.0)
    axes.set_ylim(bottom=0)
    if n_lines <= LEGEND_LIMIT:
        axes.legend(fontsize="small", loc="upper left", frameon=False)
    axes.set_title(f"{y_label} of {n_lines} test{'s' if n_lines != 1 else ''}", fontsize="medium")
    return figure


def figure_to_png(figure: Figure, *, dpi: float = 80) -> bytes:
    """The PNG bytes of ``figure``, drawn on its own Agg canvas (thread-safe per figure)."""
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
