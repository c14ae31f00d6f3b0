"""The view of :func:`hypofuzz_nb.distributions`: :func:`distributions_view`.

Static HTML, per test and source (stored or sampled observations): the counts as
a small table, histograms of input size and run time, a bar chart of each
``event()``'s values and a histogram of each ``target()``'s, all as small inline
SVG (no script, no image files), and the first distinct inputs by representation.
All generated text (node ids, event names and values, representations) is
HTML-escaped. ``repr()`` of the view is a text summary, for consoles.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hypofuzz_nb.input_distributions import INPUT_STATUSES, Distributions, distributions
from hypofuzz_nb.options import DEFAULT_TIMEOUT_S
from hypofuzz_nb.replay import DEFAULT_REPLAY_TIMEOUT_S

__all__ = ["DistributionsView", "distributions_view"]

#: Bins of a histogram; bars of an event's chart (the most frequent values).
HISTOGRAM_BINS = 20
MAX_BARS = 12
#: Distinct inputs listed per test.
MAX_EXAMPLES = 20
#: Characters of an event value or representation shown (all in its tooltip).
SHORT_TEXT_CHARS = 80
_WIDTH, _HEIGHT, _LABEL_WIDTH = 240, 60, 110

_CSS = """
.hfnb-dist {font-family: sans-serif; font-size: 13px}
.hfnb-dist h4 {margin: 12px 0 4px}
.hfnb-dist .charts {display: flex; flex-wrap: wrap; gap: 12px}
.hfnb-dist figure {margin: 0}
.hfnb-dist figcaption {font-size: 11px; color: #555}
.hfnb-dist table {border-collapse: collapse; font-size: 12px}
.hfnb-dist td, .hfnb-dist th {padding: 1px 6px; text-align: right; border-bottom: 1px solid #eee}
.hfnb-dist td.r {text-align: left; font-family: monospace; white-space: pre-wrap}
"""


class DistributionsView:
    """:class:`~hypofuzz_nb.input_distributions.Distributions` as HTML
    (``_repr_html_``) and text; ``data`` holds the frames."""

    def __init__(self, data: Distributions) -> None:
        self.data = data

    def __repr__(self) -> str:
        counts = self.data.counts
        if counts.empty:
            return "DistributionsView(no observations)"
        lines = []
        for row in counts.itertuples():
            parts = ", ".join(f"{s} {getattr(row, s)}" for s in (*INPUT_STATUSES, "duplicate"))
            lines.append(f"{row.nodeid} ({row.source}): {row.inputs} inputs: {parts}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        counts = self.data.counts
        if counts.empty:
            return "<p>No observations stored: fuzz the tests first, or pass sample=.</p>"
        data = self.data
        # grouped once: masking the frames per test is quadratic in the number of tests
        inputs = dict(tuple(data.inputs.groupby(["nodeid", "source"], sort=False, observed=True)))
        features = dict(
            tuple(data.features.groupby(["nodeid", "source"], sort=False, observed=True))
        )
        examples = dict(tuple(data.examples.groupby("nodeid", sort=False, observed=True)))
        last_source = counts.groupby("nodeid", sort=False, observed=True).source.last()
        empty = data.features.iloc[:0]
        sections = [
            _section(
                row,
                inputs[(row.nodeid, row.source)],
                features.get((row.nodeid, row.source), empty),
                examples[row.nodeid] if row.source == last_source[row.nodeid] else None,
            )
            for row in counts.itertuples()
        ]
        return f'<div class="hfnb-dist"><style>{_CSS}</style>{"".join(sections)}</div>'


def distributions_view(
    database: Any = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    nodeid: str | None = None,
    sample: int | None = None,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> DistributionsView:
    """The view of :func:`hypofuzz_nb.distributions` (same arguments, same errors)."""
    return DistributionsView(
        distributions(
            database,
            paths=paths,
            nodeid=nodeid,
            sample=sample,
            timeout=timeout,
            input_timeout=input_timeout,
        )
    )


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHORT_TEXT_CHARS else text[: SHORT_TEXT_CHARS - 1] + "…"


def _figure(caption: str, svg: str) -> str:
    return f"<figure>{svg}<figcaption>{_esc(caption)}</figcaption></figure>"


def svg_histogram(values: Sequence[float] | np.ndarray, unit: str = "") -> str:
    """A small inline SVG histogram of the finite ``values`` (empty string if none)."""
    arr = np.asarray(values, dtype="float64")
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return ""
    low, high = float(arr.min()), float(arr.max())
    if low == high:
        high = low + 1
    counts, edges = np.histogram(arr, bins=HISTOGRAM_BINS, range=(low, high))
    width = _WIDTH / HISTOGRAM_BINS
    top = counts.max()
    bars = []
    for i, n in enumerate(counts):
        h = _HEIGHT * n / top
        tip = _esc(f"{edges[i]:.4g} to {edges[i + 1]:.4g}{unit}: {n}")
        bars.append(
            f'<rect x="{i * width:.1f}" y="{_HEIGHT - h:.1f}" width="{width - 1:.1f}" '
            f'height="{h:.1f}" fill="#4a7ebb"><title>{tip}</title></rect>'
        )
    axis = (
        f'<text x="0" y="{_HEIGHT + 11}" font-size="10">{_esc(f"{low:.3g}{unit}")}</text>'
        f'<text x="{_WIDTH}" y="{_HEIGHT + 11}" font-size="10" text-anchor="end">'
        f"{_esc(f'{float(edges[-1]):.3g}{unit}')}</text>"
    )
    return (
        f'<svg width="{_WIDTH}" height="{_HEIGHT + 14}" xmlns="http://www.w3.org/2000/svg">'
        f"{''.join(bars)}{axis}</svg>"
    )


def svg_bars(counts: pd.Series) -> str:
    """A small inline SVG bar chart of ``counts`` (label -> count), largest first."""
    top = counts.sort_values(ascending=False, kind="stable").head(MAX_BARS)
    if top.empty:
        return ""
    row_height = 14
    most = top.max()
    rows = []
    for i, (label, n) in enumerate(top.items()):
        y = i * row_height
        w = (_WIDTH - _LABEL_WIDTH) * n / most
        text = _short(str(label))
        rows.append(
            f'<text x="{_LABEL_WIDTH - 4}" y="{y + 10}" font-size="10" text-anchor="end">'
            f"{_esc(text[:18])}<title>{_esc(label)}</title></text>"
            f'<rect x="{_LABEL_WIDTH}" y="{y + 1}" width="{w:.1f}" height="{row_height - 3}" '
            f'fill="#6a9f58"><title>{_esc(f"{text}: {n}")}</title></rect>'
            f'<text x="{_LABEL_WIDTH + w + 3:.1f}" y="{y + 10}" font-size="10">{n}</text>'
        )
    return (
        f'<svg width="{_WIDTH + 40}" height="{len(top) * row_height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'
    )


def _section(
    row: Any, inputs: pd.DataFrame, features: pd.DataFrame, examples: pd.DataFrame | None
) -> str:
    """One test and source; ``examples`` only after the test's last source (else None)."""
    names = ["inputs", *INPUT_STATUSES, "duplicate"]
    table = (
        "<table><tr>"
        + "".join(f"<th>{n}</th>" for n in names)
        + "</tr><tr>"
        + "".join(f"<td>{int(getattr(row, n))}</td>" for n in names)
        + "</tr></table>"
    )
    charts = [
        _figure("input size (characters of its representation)", svg_histogram(inputs["size"])),
        _figure("run time", svg_histogram(inputs.run_time_s * 1000, " ms")),
    ]
    for (kind, name), group in features.groupby(["kind", "name"], sort=True, observed=True):
        numbers = group.number.to_numpy()
        if kind == "target" and np.isfinite(numbers).any():
            charts.append(_figure(f"target({name})", svg_histogram(numbers)))
        else:
            charts.append(_figure(f"event {name}", svg_bars(group.value.value_counts())))
    listed = ""
    if examples is not None and len(examples):
        example_rows = "".join(
            f'<tr><td>{e.count}</td><td>{_esc(e.status)}</td><td class="r" '
            f'title="{_esc(e.representation)}">{_esc(_short(e.representation))}</td></tr>'
            for e in examples.head(MAX_EXAMPLES).itertuples()
        )
        listed = (
            f"<details><summary>{len(examples)} distinct inputs (smallest first)</summary>"
            f"<table><tr><th>count</th><th>status</th><th>input</th></tr>{example_rows}</table>"
            "</details>"
        )
    return (
        f"<h4>{_esc(row.nodeid)} — {_esc(row.source)} observations</h4>{table}"
        f'<div class="charts">{"".join(charts)}</div>{listed}'
    )
