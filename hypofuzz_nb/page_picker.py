"""The dashboard's "Test page" chooser, and the one test page it shows under the dashboard.

Guarantees: at most one page is open (opening another closes the first); the choices
follow the tests on screen without closing an open page whose test is still there; and
updating the choices never raises into the dashboard's refresher (an error is returned
for the dashboard to show).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from hypofuzz_nb.single_test_page import TestPage

__all__ = ["PagePicker"]

_NONE = ("(choose a test)", "")


class PagePicker:
    """A dropdown of node ids (``dropdown``) and the box the chosen page is shown in
    (``box``). ``build(nodeid)`` makes the page of a chosen test; it is called on the
    thread that changed the choice and may raise for a test that is not there."""

    def __init__(self, build: Callable[[str], TestPage | None]) -> None:
        self._build = build
        self.page: TestPage | None = None
        self.dropdown = widgets.Dropdown(options=[_NONE], value="", description="Test page:")
        self.dropdown.layout.width = "95%"
        self.box = widgets.VBox()
        self._offering = False
        self.dropdown.observe(self._on_pick, names="value")

    def open(self, nodeid: str) -> TestPage | None:
        """Show the page of ``nodeid`` (``""``: close the open one); returns it."""
        if self.dropdown.value != nodeid and nodeid in {v for _, v in self.dropdown.options}:
            self.dropdown.value = nodeid  # its observer opens the page
            return self.page
        if self.page is not None:
            self.page.close()
            self.page = None
        self.box.children = ()
        if nodeid:
            self.page = self._build(nodeid)
            if self.page is not None:
                self.box.children = (self.page.widget(),)
        return self.page

    def offer(self, nodeids: list[str]) -> str | None:
        """Offer ``nodeids``; an open page whose test is among them stays open. Returns
        what went wrong, if anything, instead of raising."""
        options = [_NONE, *((n, n) for n in nodeids)]
        if list(self.dropdown.options) == options:
            return None
        self._offering = True
        try:
            self.dropdown.options = options
            if self.page is not None and self.page.nodeid in nodeids:
                self.dropdown.value = self.page.nodeid
        except Exception as exc:
            return f"test page picker: {type(exc).__name__}: {exc}"
        finally:
            self._offering = False
        return None

    def _on_pick(self, change: Any) -> None:
        if not self._offering:
            self.open(change["new"] or "")
