"""The tests table of the dashboard, as escaped HTML and as fixed-width text.

One row per test of :func:`hypofuzz_nb.load`'s tests frame, failing tests first;
short headers whose meaning is in tooltips and a note, so that the table fits a
notebook cell.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

__all__ = ["TABLE_COLUMNS", "TABLE_NOTE", "tests_table_html", "tests_table_text"]

#: Columns of the tests table: (frame column, header, what it means). Headers are
#: short so that the table fits a notebook cell at 1280 px; the meaning is the
#: header's tooltip and, for the two that need it, the note under the table.
TABLE_COLUMNS = (
    ("status", "status", "running, idle, waiting, failed, fixed or fatal"),
    ("inputs", "inputs", "inputs run, over every worker and session"),
    ("behaviors", "behaviors", "distinct behaviors (branches, events, targets) seen"),
    ("fingerprints", "fingerprints", "distinct combinations of behaviors seen"),
    ("inputs_per_s", "inputs/s", "per second of the test's own fuzzing time"),
    ("since_new_behavior", "since new", "inputs since the last new behavior"),
    ("n_failures", "failures", "shrunk failures, replayed first by plain pytest"),
)

#: Under the table: what the two columns whose short headers need it mean.
TABLE_NOTE = (
    "inputs/s: per second of the test's own fuzzing time (tests take turns on a worker). "
    "since new: inputs since the test's last new behavior."
)

_STATUS_COLORS = {
    "failed": "#c62828",
    "fatal": "#6a1b9a",
    "running": "#2e7d32",
    "fixed": "#1565c0",
}


def _number(value: Any, *, decimals: int = 0) -> str:
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if math.isnan(number):
        return ""
    return f"{number:,.{decimals}f}"


def _cell(column: str, value: Any) -> str:
    if column == "status":
        return (
            "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
        )
    return _number(value, decimals=1 if column == "inputs_per_s" else 0)


def _sorted_tests(tests: pd.DataFrame) -> pd.DataFrame:
    if tests.empty or "nodeid" not in tests.columns:
        return tests
    failing = tests["n_failures"].fillna(0) if "n_failures" in tests.columns else 0
    return tests.assign(_failing=failing > 0).sort_values(
        ["_failing", "nodeid"], ascending=[False, True], kind="stable"
    )


_NUMBER_CELL = "text-align:right;padding:0 .5em;white-space:nowrap"
# A long node id wraps inside its column rather than pushing the numbers out of the cell.
_NAME_CELL = "text-align:left;font-family:monospace;overflow-wrap:anywhere;word-break:break-all"


def tests_table_html(tests: pd.DataFrame, *, selected: frozenset[str] = frozenset()) -> str:
    """The tests frame as an escaped HTML table; failing tests first, selected rows marked.

    It fits the width it is given: short headers (explained in tooltips and a note),
    node ids that wrap, and a horizontal scroll bar rather than cut-off columns if
    the cell is narrower still.
    """
    if tests.empty:
        return "<p><i>No tests in this database yet.</i></p>"
    header = "".join(
        f'<th style="{_NUMBER_CELL}" title="{html.escape(meaning)}">{html.escape(title)}</th>'
        for _, title, meaning in TABLE_COLUMNS
    )
    rows = []
    for row in _sorted_tests(tests).to_dict("records"):
        nodeid = str(row.get("nodeid", ""))
        cells = []
        for column, _, _ in TABLE_COLUMNS:
            text = html.escape(_cell(column, row.get(column)))
            if column == "status":
                color = _STATUS_COLORS.get(text, "inherit")
                text = f'<span style="color:{color};font-weight:bold">{text}</span>'
            cells.append(f'<td style="{_NUMBER_CELL}">{text}</td>')
        marker = "&#9656; " if nodeid in selected else ""
        style = ' style="background:#fff8e1"' if nodeid in selected else ""
        rows.append(
            f'<tr{style}><td style="{_NAME_CELL}">{marker}'
            f"{html.escape(nodeid)}</td>{''.join(cells)}</tr>"
        )
    return (
        # width:0 with min-width:100%: the box takes the width of the cell without
        # widening it (ipywidgets' flex boxes grow to their content's minimum width),
        # and scrolls if the table needs more.
        '<div class="hypofuzz-nb-table" style="width:0;min-width:100%;overflow-x:auto">'
        '<table class="hypofuzz-nb-tests" style="border-collapse:collapse;width:100%">'
        f'<thead><tr><th style="text-align:left;min-width:12em">test</th>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<div style="font-size:85%;color:#666">{html.escape(TABLE_NOTE)}</div></div>'
    )


def tests_table_text(tests: pd.DataFrame) -> str:
    """The tests frame as fixed-width text for terminals."""
    if tests.empty:
        return "No tests in this database yet."
    lines = []
    for row in _sorted_tests(tests).to_dict("records"):
        values = "  ".join(
            f"{title}={_cell(column, row.get(column))}" for column, title, _ in TABLE_COLUMNS
        )
        lines.append(f"  {row.get('nodeid', '')}: {values}")
    lines.append(f"  ({TABLE_NOTE})")
    return "\n".join(lines)
