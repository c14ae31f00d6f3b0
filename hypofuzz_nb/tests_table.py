"""The tests table of the dashboard, as escaped HTML and as fixed-width text.

One row per test of :func:`hypofuzz_nb.load`'s tests frame, failing tests first;
short headers whose meaning is in tooltips and a note, so that the table fits a
notebook cell. The same cells, escaped, make the rows of the dashboard's widget
table (:mod:`hypofuzz_nb.page_picker`), whose columns have fixed widths so that
rows drawn as separate widgets line up.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

__all__ = [
    "TABLE_COLUMNS",
    "TABLE_NOTE",
    "grid_header_html",
    "grid_row_html",
    "table_rows",
    "tests_table_html",
    "tests_table_text",
]

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

#: Width (em) of each number column in the widget table, wide enough for its header
#: and for eight-digit counts with separators.
GRID_CELL_EM = 6.5
#: The widget table's selected rows (the "Plot only" selection) have this background.
SELECTED_BACKGROUND = "#fff8e1"

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


def table_rows(tests: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(node id, escaped HTML of each of ``TABLE_COLUMNS``' cells) per test, failing
    tests first."""
    if tests.empty:
        return []
    rows = []
    for row in _sorted_tests(tests).to_dict("records"):
        cells = []
        for column, _, _ in TABLE_COLUMNS:
            text = html.escape(_cell(column, row.get(column)))
            if column == "status":
                color = _STATUS_COLORS.get(text, "inherit")
                text = f'<span style="color:{color};font-weight:bold">{text}</span>'
            cells.append(text)
        rows.append((str(row.get("nodeid", "")), cells))
    return rows


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
    for nodeid, cells in table_rows(tests):
        marker = "&#9656; " if nodeid in selected else ""
        style = f' style="background:{SELECTED_BACKGROUND}"' if nodeid in selected else ""
        tds = "".join(f'<td style="{_NUMBER_CELL}">{cell}</td>' for cell in cells)
        rows.append(
            f'<tr{style}><td style="{_NAME_CELL}">{marker}{html.escape(nodeid)}</td>{tds}</tr>'
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


_GRID = (
    f"display:grid;grid-template-columns:repeat({len(TABLE_COLUMNS)},{GRID_CELL_EM}em);"
    "align-items:center;white-space:nowrap"
)


def grid_header_html() -> str:
    """The number columns' headers of the widget table, each with its meaning as tooltip."""
    cells = "".join(
        f'<b style="text-align:right;padding:0 .5em" title="{html.escape(meaning)}">'
        f"{html.escape(title)}</b>"
        for _, title, meaning in TABLE_COLUMNS
    )
    return f'<div style="{_GRID}">{cells}</div>'


def grid_row_html(cells: list[str], *, selected: bool = False) -> str:
    """One row's number cells (from :func:`table_rows`) for the widget table."""
    background = f";background:{SELECTED_BACKGROUND}" if selected else ""
    spans = "".join(f'<span style="text-align:right;padding:0 .5em">{c}</span>' for c in cells)
    return f'<div style="{_GRID}{background}">{spans}</div>'


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
