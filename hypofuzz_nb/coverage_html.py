"""The source view of corpus coverage: :func:`coverage_view` and :class:`CoverageView`.

The view is static HTML (no widget frontend or script needed): per test and file,
the source coloured as ``coverage html`` colours it (run, missed, partial
branches, excluded), each reached line with its hits and the smallest input that
reaches it, each branch line with where its branches go, how often and from which
smallest input. Picking an input in the list beside the source (plain radio
buttons and CSS) marks the lines that input reaches. All generated text (source,
node ids, input representations) is HTML-escaped. ``repr()`` of the view is a
text summary, for consoles.
"""

from __future__ import annotations

import html
import itertools
import os
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from hypofuzz_nb.corpus_coverage import CorpusCoverage, FileCoverage, measure
from hypofuzz_nb.options import DEFAULT_TIMEOUT_S
from hypofuzz_nb.replay import DEFAULT_REPLAY_TIMEOUT_S

__all__ = ["CoverageView", "coverage_view"]

#: Characters of an input's representation shown beside a line (all in its tooltip).
SHORT_REPR_CHARS = 60

_ids = itertools.count()

_CSS = """
.hfnb-cov {font-family: sans-serif; font-size: 13px}
.hfnb-cov h4 {margin: 12px 0 4px}
.hfnb-cov .pick {display: none}
.hfnb-cov .picker {max-height: 8em; overflow-y: auto; border: 1px solid #ccc;
  padding: 2px 4px; margin-bottom: 4px; font-family: monospace; font-size: 12px}
.hfnb-cov .picker label {display: block; cursor: pointer; white-space: nowrap}
.hfnb-cov table {border-collapse: collapse; font-family: monospace; font-size: 12px}
.hfnb-cov td {padding: 0 6px; vertical-align: top; white-space: pre}
.hfnb-cov td.n, .hfnb-cov td.h {text-align: right; color: #888}
.hfnb-cov td.s {color: #555; white-space: normal}
.hfnb-cov tr.run td.t {background: #dfd}
.hfnb-cov tr.mis td.t {background: #fdd}
.hfnb-cov tr.par td.t {background: #ffa}
.hfnb-cov tr.exc td.t {color: #999}
.hfnb-cov .miss {color: #c00}
"""


class CoverageView:
    """Corpus coverage as HTML (``_repr_html_``) and text; ``frame`` holds the rows
    of :func:`hypofuzz_nb.coverage` for the same replay."""

    def __init__(self, result: CorpusCoverage) -> None:
        self.result = result
        self.frame: pd.DataFrame = result.frame()

    def __repr__(self) -> str:
        if not self.result.files:
            return "CoverageView(no corpus to replay)"
        return "\n".join(_summary(fc) for fc in self.result.files)

    def _repr_html_(self) -> str:
        if not self.result.files:
            return "<p>No stored corpus to replay: fuzz the tests first.</p>"
        uid = f"hfnb-cov-{os.getpid()}-{next(_ids)}"
        css = _CSS.replace(".hfnb-cov", f"#{uid}")
        sections = [_section(fc, f"{uid}-{n}") for n, fc in enumerate(self.result.files)]
        return f'<div class="hfnb-cov" id="{uid}"><style>{css}</style>{"".join(sections)}</div>'


def coverage_view(
    database: Any = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    nodeid: str | None = None,
    include: Sequence[str] | None = None,
    omit: Sequence[str] | None = None,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> CoverageView:
    """The source view of :func:`hypofuzz_nb.coverage` (same arguments, same errors)."""
    return CoverageView(
        measure(
            database,
            paths=paths,
            nodeid=nodeid,
            include=include,
            omit=omit,
            timeout=timeout,
            input_timeout=input_timeout,
        )
    )


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _short(fc: FileCoverage, representation: str) -> str:
    """``representation`` on one line, without the ``test_name(...)`` around it."""
    text = re.sub(r"\s+", " ", representation).strip()
    name = re.sub(r"\[.*\]$", "", fc.nodeid.rsplit("::", 1)[-1])
    if text.startswith(name + "(") and text.endswith(")"):
        text = text[len(name) + 1 : -1].strip().rstrip(",")
    if len(text) > SHORT_REPR_CHARS:
        text = text[: SHORT_REPR_CHARS - 1] + "…"
    return text


def _input_html(fc: FileCoverage, rank: int) -> str:
    full = fc.inputs[rank].representation
    return f'<span title="{_esc(full)}">{_esc(_short(fc, full))}</span>'


def _branch_target(to: int) -> str:
    return f"line {to}" if to > 0 else "exit"


def _counts(fc: FileCoverage) -> tuple[int, int, int, int]:
    statements = fc.analysis.statements - fc.analysis.excluded
    lines = sum(fc.line_reached(line) for line in statements)
    branches = sum(fc.branch_reached(arc) for arc in fc.analysis.branches)
    return lines, len(statements), branches, len(fc.analysis.branches)


def _summary(fc: FileCoverage) -> str:
    lines, n_lines, branches, n_branches = _counts(fc)
    missed_lines = sorted(
        line for line in fc.analysis.statements - fc.analysis.excluded if not fc.line_reached(line)
    )
    missed = sorted(arc for arc in fc.analysis.branches if not fc.branch_reached(arc))
    text = (
        f"{fc.nodeid} in {fc.file}: {lines}/{n_lines} lines, {branches}/{n_branches} branches "
        f"reached by {len(fc.inputs)} stored input(s)"
    )
    if missed_lines:
        text += "\n  missed lines: " + ", ".join(map(str, missed_lines))
    if missed:
        text += "\n  missed branches: " + ", ".join(f"{a}->{_branch_target(b)}" for a, b in missed)
    return text


def _line_class(fc: FileCoverage, line: int, branches: list[tuple[int, int]]) -> str:
    if line in fc.analysis.excluded:
        return "exc"
    if line not in fc.analysis.statements:
        return ""
    if not fc.line_reached(line):
        return "mis"
    if any(not fc.branch_reached(arc) for arc in branches):
        return "par"
    return "run"


def _side(fc: FileCoverage, line: int, branches: list[tuple[int, int]]) -> str:
    parts = []
    first = fc.line_first.get(line)
    if first is not None and not branches:
        parts.append(_input_html(fc, first))
    for arc in branches:
        target = _esc(_branch_target(arc[1]))
        rank = fc.branch_first.get(arc)
        if rank is not None:
            parts.append(f"→ {target} &times;{fc.branch_hits[arc]}: {_input_html(fc, rank)}")
        elif arc in fc.setup_arcs:
            parts.append(f"→ {target}: on import")
        elif fc.line_reached(line):
            parts.append(f'<span class="miss">→ {target}: never taken</span>')
    return "<br>".join(parts)


def _section(fc: FileCoverage, sid: str) -> str:
    lines, n_lines, branches, n_branches = _counts(fc)
    by_line: dict[int, list[tuple[int, int]]] = {}
    for arc in sorted(fc.analysis.branches):
        by_line.setdefault(arc[0], []).append(arc)
    inputs_by_line: dict[int, list[int]] = {}
    for rank, reached in enumerate(fc.input_lines):
        for line in reached:
            inputs_by_line.setdefault(line, []).append(rank)
    # One hidden radio per input, siblings of the table so CSS can mark its lines.
    radios = [f'<input type="radio" class="pick" name="{sid}" id="{sid}-all" checked>']
    labels = [f'<label for="{sid}-all"><b>all inputs</b></label>']
    rules = []
    for rank in range(len(fc.inputs)):
        rid = f"{sid}-i{rank}"
        radios.append(f'<input type="radio" class="pick" name="{sid}" id="{rid}">')
        labels.append(f'<label for="{rid}">{_input_html(fc, rank)}</label>')
        rules.append(
            f"#{rid}:checked ~ table tr:not(.i{rank}) td {{opacity: .35}}"
            f"#{rid}:checked ~ table tr.i{rank} td.n {{background: #36c; color: #fff}}"
            f'#{rid}:checked ~ .picker label[for="{rid}"] {{background: #def}}'
        )
    rows = []
    source_lines = fc.analysis.source.splitlines()
    for number, text in enumerate(source_lines, start=1):
        branches_here = by_line.get(number, [])
        classes = [_line_class(fc, number, branches_here)]
        classes += [f"i{rank}" for rank in inputs_by_line.get(number, ())]
        hits = fc.line_hits[number] if number in fc.analysis.statements else ""
        rows.append(
            f'<tr class="{" ".join(c for c in classes if c)}"><td class="n">{number}</td>'
            f'<td class="h">{hits or ""}</td><td class="t">{_esc(text) or " "}</td>'
            f'<td class="s">{_side(fc, number, branches_here)}</td></tr>'
        )
    shown = os.path.relpath(fc.file) if fc.file.startswith(os.getcwd() + os.sep) else fc.file
    title = (
        f"{_esc(fc.nodeid)} — {_esc(shown)}: {lines}/{n_lines} lines, "
        f"{branches}/{n_branches} branches, {len(fc.inputs)} stored input(s)"
    )
    return (
        f"<h4>{title}</h4><style>{''.join(rules)}</style>"
        f"<div>{''.join(radios)}<div class='picker'>{''.join(labels)}</div>"
        f"<table>{''.join(rows)}</table></div>"
    )
