"""The dashboard's test-page chooser: the tests table as widgets, each test's name a
button that opens the test's page, and the one page it shows under the dashboard.

The table is a ``GridBox``: per test, a ``Button`` with its node id and an ``HTML``
widget with its numbers (escaped, from :mod:`hypofuzz_nb.tests_table`), so a click
reaches the kernel in any widget frontend (JupyterLab, Notebook 7, VS Code). Without a
frontend, the dashboard's static HTML table stands in for it.

Guarantees: at most one page is open (opening another closes the first; clicking the
open test's name closes it); a refresh creates widgets only for tests new on screen and
otherwise updates values in place (a value that did not change sends nothing to the
frontend), so refreshing while fuzzing stays cheap; a refresh never raises into the
dashboard's refresher (an error is returned for the dashboard to show).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from hypofuzz_nb.single_test_page import TestPage
from hypofuzz_nb.tests_table import TABLE_NOTE, grid_header_html, grid_row_html, table_rows

__all__ = ["PagePicker"]

#: Marks a test of the plot's selection, as in the static table.
SELECTED_MARKER = "\u25b8 "
_OPEN_TOOLTIP = "open this test's page under the dashboard"
_CLOSE_TOOLTIP = "close this test's page"
_EMPTY = "<p><i>No tests in this database yet.</i></p>"
#: A button cuts its label to one line with an ellipsis, which hides what tells node
#: ids of one file apart: the names wrap instead (scoped to the table's name buttons).
_NAME_STYLE = (
    "<style>.hypofuzz-nb-tests .hypofuzz-nb-test-name{white-space:normal!important;"
    "height:auto!important;min-height:var(--jp-widgets-inline-height);text-align:left;"
    "overflow-wrap:anywhere;line-height:1.3;padding-top:2px;padding-bottom:2px}</style>"
)


class _Row:
    """One test's row: its name button and its numbers."""

    def __init__(self, nodeid: str, on_click: Callable[[str], Any]) -> None:
        self.button = widgets.Button(
            description=nodeid,
            tooltip=_OPEN_TOOLTIP,
            # As wide as the name, at most the column: a long node id wraps (_NAME_STYLE).
            layout=widgets.Layout(width="auto", max_width="100%"),
        )
        self.button.style.font_family = "monospace"
        self.button.add_class("hypofuzz-nb-test-name")
        self.button.on_click(lambda _button: on_click(nodeid))
        self.cells = widgets.HTML()

    def close(self) -> None:
        self.button.close()
        self.cells.close()


class PagePicker:
    """The tests table (``table``) whose names open a test's page, and the box the page
    is shown in (``box``). ``build(nodeid)`` makes the page of a test; it may raise for
    a test that is not there. ``lock`` is held while a click opens or closes a page."""

    def __init__(
        self, build: Callable[[str], TestPage | None], *, lock: threading.RLock | None = None
    ) -> None:
        self._build = build
        self._lock = lock or threading.RLock()
        self.page: TestPage | None = None
        self.rows: dict[str, _Row] = {}
        #: The node ids in the order they are shown.
        self.order: list[str] = []
        self._header = [widgets.HTML(_NAME_STYLE + "<b>test</b>"), widgets.HTML(grid_header_html())]
        self._empty = widgets.HTML(_EMPTY, layout=widgets.Layout(grid_column="1 / -1"))
        self.grid = widgets.GridBox(
            [self._empty],
            layout=widgets.Layout(
                grid_template_columns="minmax(12em, 1fr) max-content",
                grid_gap="0 0.5em",
                align_items="center",
                justify_items="flex-start",  # a name button as wide as the name, at the left
                # width 0 with min-width 100%: the grid takes the width of the cell
                # without widening it, and scrolls if it needs more (as the HTML table).
                width="0",
                min_width="100%",
                overflow="auto",
            ),
        )
        self.grid.add_class("hypofuzz-nb-tests")
        note = widgets.HTML(
            f'<div style="font-size:85%;color:#666">{html.escape(TABLE_NOTE)}</div>'
        )
        self.table = widgets.VBox([self.grid, note])
        self.box = widgets.VBox()

    def open(self, nodeid: str) -> TestPage | None:
        """Show the page of ``nodeid`` (``""``: close the open one); returns it."""
        with self._lock:
            if self.page is not None:
                self.page.close()
                self._mark_open(self.page.nodeid, False)
                self.page = None
            self.box.children = ()
            if nodeid:
                self.page = self._build(nodeid)
                if self.page is not None:
                    self.box.children = (self.page.widget(),)
                    self._mark_open(nodeid, True)
            return self.page

    def show(self, tests: pd.DataFrame, *, selected: frozenset[str] = frozenset()) -> str | None:
        """Show ``tests`` (``load()``'s tests frame), ``selected`` marked; an open page
        stays open. Returns what went wrong, if anything, instead of raising."""
        try:
            self._show(tests, selected)
        except Exception as exc:
            return f"tests table: {type(exc).__name__}: {exc}"
        return None

    def _show(self, tests: pd.DataFrame, selected: frozenset[str]) -> None:
        rows = table_rows(tests)
        shown = {nodeid for nodeid, _ in rows}
        for nodeid in [n for n in self.rows if n not in shown]:
            self.rows.pop(nodeid).close()
        open_nodeid = self.page.nodeid if self.page is not None else None
        for nodeid, cells in rows:
            row = self.rows.get(nodeid)
            if row is None:
                row = self.rows[nodeid] = _Row(nodeid, self._on_click)
                if nodeid == open_nodeid:
                    self._mark_open(nodeid, True)
            is_selected = nodeid in selected
            # Traitlets send a value only when it changed: most cells stay silent.
            row.button.description = (SELECTED_MARKER if is_selected else "") + nodeid
            row.cells.value = grid_row_html(cells, selected=is_selected)
        order = [nodeid for nodeid, _ in rows]
        if order != self.order or not self.grid.children:
            self.order = order
            children: list[widgets.Widget] = [*self._header] if order else [self._empty]
            for nodeid in order:
                children.extend((self.rows[nodeid].button, self.rows[nodeid].cells))
            self.grid.children = children

    def _on_click(self, nodeid: str) -> None:
        with self._lock:
            open_now = self.page is not None and self.page.nodeid == nodeid
            self.open("" if open_now else nodeid)

    def _mark_open(self, nodeid: str, is_open: bool) -> None:
        row = self.rows.get(nodeid)
        if row is not None:
            row.button.button_style = "info" if is_open else ""
            row.button.tooltip = _CLOSE_TOOLTIP if is_open else _OPEN_TOOLTIP

    def close(self) -> None:
        """Close the open page and every widget of the table."""
        self.open("")
        for row in self.rows.values():
            row.close()
        self.rows.clear()
        for widget in (*self._header, self._empty, self.grid, *self.table.children, self.table):
            widget.close()
        self.box.close()
