"""The view of stuck branches: :func:`stuck_view` and :class:`StuckView`.

Static HTML, per test: whether it is on a plateau (and for how long: fuzzing time
and inputs since its last new behavior, drawn as its behaviors against inputs with
the plateau in red), then each condition line its corpus
reaches with a branch never taken: the condition's source, where the untaken
branch would go (with that line's source), how many stored inputs reach the
condition, and the smallest of them (the input that came closest). All generated
text is HTML-escaped. ``repr()`` is the same as text, for consoles.
"""

from __future__ import annotations

import html
import linecache
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from hypofuzz_nb.options import DEFAULT_TIMEOUT_S
from hypofuzz_nb.plateau_signal import plateaus
from hypofuzz_nb.replay import DEFAULT_REPLAY_TIMEOUT_S
from hypofuzz_nb.stuck_branches import measure_stuck, stuck_branches

__all__ = ["StuckView", "stuck_view"]

#: Size of the behaviors-against-inputs curve beside each test's name.
_CURVE_WIDTH, _CURVE_HEIGHT = 160, 28

_CSS = """
.hfnb-stuck {font-family: sans-serif; font-size: 13px}
.hfnb-stuck h4 {margin: 12px 0 4px}
.hfnb-stuck .plateau {color: #a00; font-weight: bold}
.hfnb-stuck .growing {color: #070}
.hfnb-stuck .unknown {color: #777}
.hfnb-stuck svg {vertical-align: middle; margin-left: 8px}
.hfnb-stuck table {border-collapse: collapse; font-size: 12px}
.hfnb-stuck td, .hfnb-stuck th {padding: 2px 8px; vertical-align: top; text-align: left;
  border-bottom: 1px solid #eee}
.hfnb-stuck code {white-space: pre; background: #ffa}
.hfnb-stuck code.to {background: #fdd}
.hfnb-stuck td.i {font-family: monospace; white-space: pre-wrap}
"""


class StuckView:
    """Stuck branches as HTML (``_repr_html_``) and text; ``frame`` is
    :func:`hypofuzz_nb.stuck`'s frame, ``plateaus`` the :func:`hypofuzz_nb.plateaus`
    one; ``reports`` (``load().reports``, optional) draws each test's curve."""

    def __init__(
        self, frame: pd.DataFrame, plateaus: pd.DataFrame, reports: pd.DataFrame | None = None
    ) -> None:
        self.frame = frame
        self.plateaus = plateaus
        self.reports = reports

    def _tests(self) -> list[str]:
        return sorted(set(self.frame.nodeid) | set(self.plateaus.nodeid))

    def _progress(self, nodeid: str) -> tuple[str, str]:
        """``(CSS class, words)`` of the test's plateau state."""
        rows = self.plateaus[self.plateaus.nodeid == nodeid]
        if rows.empty:
            return "unknown", "no progress reports"
        row = rows.iloc[0]
        words = (
            f"{row.behaviors} behaviors, none new for {row.since_s:.0f} s "
            f"and {row.since_inputs:,} inputs"
        )
        if row.plateau:
            return "plateau", "on a plateau: " + words
        return "growing", "still growing: " + words

    def __repr__(self) -> str:
        if not self._tests():
            return "StuckView(no stored corpus or reports)"
        out = []
        for nodeid in self._tests():
            out.append(f"{nodeid}: {self._progress(nodeid)[1]}")
            for row in self.frame[self.frame.nodeid == nodeid].itertuples():
                out.append(
                    f"  {os.path.basename(row.file)}:{row.line} {row.condition}  "
                    f"never -> {_target(row.branch_to)} ({row.line_hits} inputs reach it; "
                    f"closest: {' '.join(str(row.closest_input).split())})"
                )
        return "\n".join(out)

    def _repr_html_(self) -> str:
        if not self._tests():
            return "<p>No stored corpus or progress reports: fuzz the tests first.</p>"
        sections = []
        for nodeid in self._tests():
            css, words = self._progress(nodeid)
            rows = self.frame[self.frame.nodeid == nodeid]
            body = (
                "".join(_row(r) for r in rows.itertuples())
                if not rows.empty
                else "<tr><td colspan=4>Every branch next to reached code is taken.</td></tr>"
            )
            curve = "" if self.reports is None else _curve(self.reports, nodeid, self.plateaus)
            sections.append(
                f'<h4>{_esc(nodeid)} <span class="{css}">{_esc(words)}</span>{curve}</h4>'
                "<table><tr><th>condition</th><th>never taken</th>"
                "<th>inputs reaching it</th><th>closest input</th></tr>"
                f"{body}</table>"
            )
        return f'<div class="hfnb-stuck"><style>{_CSS}</style>{"".join(sections)}</div>'


def stuck_view(
    database: Any = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    nodeid: str | None = None,
    include: Sequence[str] | None = None,
    omit: Sequence[str] | None = None,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> StuckView:
    """The view of :func:`hypofuzz_nb.stuck` (same arguments, same errors)."""
    coverage, reports = measure_stuck(
        database, paths, nodeid, include, omit, timeout=timeout, input_timeout=input_timeout
    )
    signal = plateaus(reports)
    return StuckView(stuck_branches(coverage, signal), signal, reports)


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _target(to: int) -> str:
    return f"line {to}" if to > 0 else "exit"


def _row(row: Any) -> str:
    shown = os.path.relpath(row.file) if row.file.startswith(os.getcwd() + os.sep) else row.file
    target = _esc(_target(row.branch_to))
    if row.branch_to > 0:
        source = linecache.getline(row.file, row.branch_to).strip()
        target += f' <code class="to">{_esc(source)}</code>'
    return (
        f"<tr><td>{_esc(shown)}:{row.line} <code>{_esc(row.condition)}</code></td>"
        f"<td>→ {target}</td><td>{row.line_hits}</td>"
        f'<td class="i">{_esc(row.closest_input)}</td></tr>'
    )


def _curve(reports: pd.DataFrame, nodeid: str, signal: pd.DataFrame) -> str:
    """An inline SVG of the test's behaviors against its inputs; the stretch since its
    last new behavior is red when it makes a plateau."""
    series = reports[reports.nodeid == nodeid].sort_values("inputs", kind="stable")
    if len(series) < 2:
        return ""
    x = series.inputs.to_numpy(dtype="float64")
    y = series.behaviors.to_numpy(dtype="float64")
    span_x = max(x[-1] - x[0], 1.0)
    span_y = max(y.max() - y.min(), 1.0)
    px = (x - x[0]) / span_x * _CURVE_WIDTH
    py = _CURVE_HEIGHT - 2 - (y - y.min()) / span_y * (_CURVE_HEIGHT - 4)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    flat = ""
    row = signal[signal.nodeid == nodeid]
    if not row.empty and bool(row.plateau.iloc[0]):
        start = px[-1] - row.since_inputs.iloc[0] / span_x * _CURVE_WIDTH
        flat = (
            f'<line x1="{start:.1f}" y1="{py[-1]:.1f}" x2="{px[-1]:.1f}" y2="{py[-1]:.1f}" '
            'stroke="#c00" stroke-width="3"/>'
        )
    return (
        f'<svg width="{_CURVE_WIDTH}" height="{_CURVE_HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>behaviors against inputs</title>'
        f'<polyline points="{points}" fill="none" stroke="#36c"/>{flat}</svg>'
    )
