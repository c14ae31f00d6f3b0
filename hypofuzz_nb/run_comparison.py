"""Two fuzzing runs on one plot: :func:`compare_runs`.

A run is a database (an ``ExampleDatabase`` or a directory path), what
:func:`hypofuzz_nb.load` returned, or either of those with a time window
``(source, (since, until))``: before and after a strategy change, one machine
against another. Each run's progress is drawn from the start of its window, so
the two curves start together; each test keeps one colour, run ``a`` is drawn
solid and run ``b`` dashed. The figure is a matplotlib ``Figure`` on its own Agg
canvas (no pyplot state) that shows itself as a PNG in Jupyter, as those of
:mod:`hypofuzz_nb.plots`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hypofuzz_nb.plots import LEGEND_LIMIT, X_CHOICES, Y_CHOICES, ProgressFigure

__all__ = ["compare_runs"]

#: Line styles of run a and run b.
RUN_STYLES = ("-", "--")
COMPARE_FIGSIZE = (8.0, 4.5)

Time = pd.Timestamp | str | float | None


def compare_runs(
    a: Any,
    b: Any,
    *,
    labels: Sequence[str] | None = None,
    since: Time = None,
    until: Time = None,
    y: str = "behaviors",
    x: str = "time",
    tests: Sequence[str] | None = None,
    log: bool = False,
) -> Figure:
    """Overlay the progress of runs ``a`` and ``b`` (see the module docstring).

    ``since`` and ``until`` (a ``Timestamp``, an ISO string, or epoch seconds; UTC)
    bound the reports of both runs; a run given as ``(source, (since, until))`` uses
    its own window instead. ``labels`` names the two runs in the legend. ``y`` is
    ``"behaviors"`` or ``"fingerprints"``, ``x`` is ``"time"`` (fuzzing time since the
    window's start) or ``"inputs"`` (since the window's start); ``tests`` keeps only
    those node ids. Raises ``ValueError`` for an unknown ``y``/``x`` or a window that
    ends before it starts, ``TypeError`` for something that is not a run.
    """
    if y not in Y_CHOICES:
        raise ValueError(f"y must be one of {sorted(Y_CHOICES)}, not {y!r}")
    if x not in X_CHOICES:
        raise ValueError(f"x must be one of {sorted(X_CHOICES)}, not {x!r}")
    names = list(labels) if labels is not None else ["a", "b"]
    if len(names) != 2:
        raise ValueError(f"labels must name the two runs, not {labels!r}")
    y_column, y_label = Y_CHOICES[y]
    x_column, x_label = X_CHOICES[x]
    series = [_run_reports(run, since, until, tests) for run in (a, b)]

    figure = ProgressFigure(figsize=COMPARE_FIGSIZE)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    nodeids = sorted(set().union(*(set(s["nodeid"].unique()) for s in series)))
    colours = {n: f"C{i % 10}" for i, n in enumerate(nodeids)}
    for style, reports in zip(RUN_STYLES, series, strict=True):
        for nodeid, rows in reports.groupby("nodeid", sort=True):
            ax.plot(
                rows[x_column] - rows[x_column].iloc[0],
                rows[y_column],
                drawstyle="steps-post",
                linestyle=style,
                color=colours[str(nodeid)],
            )
    ax.set_xlabel(f"{x_label}, from the start of each run's window")
    ax.set_ylabel(y_label)
    if log:
        ax.set_xscale("symlog")
    ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], color="black", linestyle=s, label=n)
        for s, n in zip(RUN_STYLES, names, strict=True)
    ]
    if len(nodeids) <= LEGEND_LIMIT:
        handles += [Line2D([], [], color=colours[n], label=n) for n in nodeids]
    ax.legend(handles=handles, fontsize="small", loc="best")
    if not nodeids:
        ax.text(0.5, 0.5, "no reports in either run", ha="center", transform=ax.transAxes)
    figure.tight_layout()
    return figure


def _run_reports(run: Any, since: Time, until: Time, tests: Sequence[str] | None) -> pd.DataFrame:
    """The reports of one run, within its window and for ``tests``."""
    if isinstance(run, tuple) and len(run) == 2 and isinstance(run[1], tuple):
        run, (since, until) = run
    reports = _reports_of(run)
    start, end = _timestamp(since), _timestamp(until)
    if start is not None and end is not None and end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    keep = pd.Series(True, index=reports.index)
    if start is not None:
        keep &= reports["timestamp"] >= start
    if end is not None:
        keep &= reports["timestamp"] <= end
    if tests is not None:
        keep &= reports["nodeid"].isin(list(tests))
    return reports[keep]


def _reports_of(run: Any) -> pd.DataFrame:
    reports = getattr(run, "reports", None)
    if isinstance(reports, pd.DataFrame):
        return reports
    from hypothesis.database import ExampleDatabase

    if isinstance(run, (ExampleDatabase, str, os.PathLike)):
        from hypofuzz_nb.frames import load

        return load(run).reports
    raise TypeError(
        "compare_runs needs two runs: each an ExampleDatabase, a database directory, the "
        "result of hypofuzz_nb.load(), or (one of those, (since, until)); "
        f"not {type(run).__name__}"
    )


def _timestamp(value: Time) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return pd.Timestamp(value, unit="s", tz="UTC")
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
