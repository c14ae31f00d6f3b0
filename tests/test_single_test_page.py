"""The per-test page: hypofuzz_nb.test_page, TestPage, the dashboard's Test page picker,
and failures grouped by the bug they show. Real fuzzing of a project in tmp_path, real
ipywidgets objects, a real coverage replay in a subprocess."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
import pytest
from dashboard_data import EVIL, failure_row, make_data

import hypofuzz_nb
from hypofuzz_nb import single_test_page
from hypofuzz_nb.errors import HypofuzzNbError, TestNotInData, UnknownTest
from hypofuzz_nb.failure_groups import failure_location, group_failures
from hypofuzz_nb.reproduce import Failure
from hypofuzz_nb.single_test_page import TestPage
from hypofuzz_nb.widgets import Dashboard

NODEID = "tests/test_mod.py::test_0"
#: How the hostile string looks once escaped for HTML.
EVIL_ESCAPED = "&lt;script&gt;alert("

PROJECT_CODE = """\
def parse(text, n):
    if text.startswith("<"):
        if n > 200:
            raise ValueError("<script>alert('bug')</script> at " + str(n))
        return "tag"
    return "plain"
"""

PROJECT_TESTS = """\
from hypothesis import given, strategies as st
from parser_mod import parse


@given(st.sampled_from(["<script>alert(1)</script>", "plain"]), st.integers(0, 255))
def test_parse(text, n):
    parse(text, n)
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    db_dir = tmp_path / "db"
    (project / "conftest.py").write_text(
        "from hypothesis import settings\n"
        "from hypothesis.database import DirectoryBasedExampleDatabase\n"
        f"settings.register_profile('p', database=DirectoryBasedExampleDatabase({str(db_dir)!r}),"
        " deadline=None)\n"
        "settings.load_profile('p')\n"
    )
    (project / "parser_mod.py").write_text(PROJECT_CODE)
    (project / "test_parser.py").write_text(PROJECT_TESTS)
    return project


def _wait_until(condition, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _script_free(text: str) -> bool:
    """No generated markup survived unescaped (the page's own markup has no script)."""
    return "<script" not in text and "<img src=x" not in text


def test_page_of_a_real_fuzzing_run(tmp_path, monkeypatch):
    project = _project(tmp_path)
    monkeypatch.chdir(project)
    nodeid = "test_parser.py::test_parse"
    session = hypofuzz_nb.fuzz(["test_parser.py"], max_time=60, seed=0, exitfirst=True)
    assert session.wait(120)
    data = hypofuzz_nb.load()
    page = hypofuzz_nb.test_page(nodeid, data=data)
    html = page._repr_html_()
    # Curves, corpus (its inputs' reprs contain the hostile string, escaped), failures.
    assert 'src="data:image/png;base64,' in html
    assert not page.corpus.empty
    assert page.corpus["representation"].is_unique
    assert EVIL_ESCAPED in html
    assert _script_free(html)
    (group,) = page.failure_groups
    assert group.head.state == "shrunk"
    assert group.exception == "ValueError"
    assert group.location.endswith("parser_mod.py:4")
    assert "@example(" in html  # the patch that pins the failure
    # Coverage is not computed until asked for ...
    assert page.coverage is None
    assert "Not computed" in html
    # ... and the widget's button replays on a thread of its own.
    box = page.widget()
    assert isinstance(box, widgets.VBox)
    (button,) = [w for w in box.children if isinstance(w, widgets.Button)]
    area = box.children[box.children.index(button) + 1]
    started = time.monotonic()
    button.click()
    assert time.monotonic() - started < 1.0, "the button must not block the kernel"
    assert _wait_until(lambda: "hfnb-cov" in area.value, timeout=120), area.value
    assert page.coverage is not None and page.coverage_error is None
    frame = page.coverage.frame
    check = frame[frame.file.str.endswith("parser_mod.py") & frame.branch_to.isna()]
    assert (check.set_index("line").loc[3].hits) >= 1  # `if n > 200` was reached
    assert _script_free(area.value)
    assert not button.disabled
    text = repr(page)
    assert nodeid in text and "failures: 1 distinct" in text and "coverage:" in text
    bundle = page._repr_mimebundle_()
    assert {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"} <= set(bundle)
    page.close()


def test_page_built_from_load_with_coverage_now(tmp_path, monkeypatch):
    project = _project(tmp_path)
    monkeypatch.chdir(project)
    session = hypofuzz_nb.fuzz(["test_parser.py"], max_examples=200, max_time=60, seed=1)
    assert session.wait(120)
    page = hypofuzz_nb.test_page("test_parser.py::test_parse", coverage=True)
    assert page.coverage is not None
    assert "hypofuzz-nb-test-coverage" in page._repr_html_()
    assert "hfnb-cov" in page._repr_html_()


def test_unknown_nodeid_is_a_clear_error():
    data = make_data(2, 5)
    with pytest.raises(TestNotInData, match=r"tests/test_mod\.py::test_1") as raised:
        hypofuzz_nb.test_page("tests/test_mod.py::nope", data=data)
    assert isinstance(raised.value, UnknownTest) and isinstance(raised.value, HypofuzzNbError)
    assert "'tests/test_mod.py::nope'" in str(raised.value)
    with pytest.raises(TestNotInData, match="holds no tests yet"):
        hypofuzz_nb.test_page("x", data=make_data(0, 0))


def _failure(state: str, choices: tuple, **row) -> Failure:
    return Failure.from_row(failure_row(state=state, choices=choices, **row))


def test_unshrunk_failures_are_folded_under_their_shrunk_one():
    same_bug = [_failure("unshrunk", (EVIL, "x" * n)) for n in range(8)]
    shrunk = _failure("shrunk", (EVIL,))
    other_place = _failure(
        "shrunk",
        (1,),
        traceback='Traceback (most recent call last):\n  File "tests/test_mod.py", line 9, '
        "in test_0\n    raise ValueError\nValueError: elsewhere\n",
    )
    other_type = _failure("unshrunk", (2,), exception="KeyError")
    groups = group_failures([*same_bug, other_type, shrunk, other_place])
    assert [(g.exception, g.location, len(g.failures)) for g in groups] == [
        ("ValueError", "tests/test_mod.py:7", 9),
        ("ValueError", "tests/test_mod.py:9", 1),
        ("KeyError", "tests/test_mod.py:7", 1),
    ]
    first = groups[0]
    assert first.head is shrunk
    assert [f.state for f in first.folded] == ["unshrunk"] * 8
    html = first._repr_html_()
    assert "8 more input(s) failing the same way" in html and "<details>" in html
    assert html.index("[shrunk]") < html.index("[unshrunk]")
    assert _script_free(html)
    assert failure_location("no frames here") == ""


def test_page_from_loaded_frames_with_hostile_text():
    data = make_data(
        2,
        10,
        failures=[failure_row(), failure_row(state="unshrunk", choices=(EVIL, 1))],
    )
    data.corpus = pd.DataFrame(
        {
            "nodeid": [NODEID] * 4,
            "size": [3, 1, 1, 2],
            "representation": [f"test_0(x={EVIL!r})", "test_0(x='a')", "test_0(x='a')", None],
        }
    )
    assert "solver" not in TestPage(data, NODEID)._repr_html_()  # it never ran
    solver = ["solver_calls", "solver_seconds", "solver_inputs", "solver_found", "solver_errors"]
    data.tests.loc[0, [*solver, "solver_error"]] = [3, 4.5, 25, 2, 1, f"error: {EVIL}"]
    page = TestPage(data, NODEID)
    assert list(page.corpus["copies"]) == [2, 1, 1]
    assert page.corpus["representation"].iloc[0] == "test_0(x='a')"
    html = page._repr_html_()
    assert _script_free(html) and EVIL_ESCAPED in html
    assert "solver: 3 calls, 4.5 s, 2 found of 25 inputs; 1 error, the last: error: " in html
    assert "solver: 3 calls" in repr(page)
    assert "Failures (1 distinct)" in html
    assert "1 more input(s) failing the same way" in html
    assert "(no representation stored)" in html


def test_clicking_a_test_in_the_dashboard_table_opens_its_page():
    data = make_data(3, 10, failures=[failure_row()])
    dashboard = Dashboard(data, live=False)
    try:
        rows = dashboard.page_picker.rows
        assert sorted(rows) == sorted(data.tests.nodeid)
        rows[NODEID].button.click()  # what a click on its name in the table does
        assert dashboard.page is not None and dashboard.page.nodeid == NODEID
        assert rows[NODEID].button.button_style == "info"  # the open test is marked
        (box,) = dashboard.page_box.children
        assert "hypofuzz-nb-test-page" in box._dom_classes
        assert any("hypofuzz-nb-failure" in w._dom_classes for w in _walk(box))
        assert NODEID in dashboard.summary_html()
        # Another test's name: its page replaces the first.
        rows["tests/test_mod.py::test_1"].button.click()
        page = dashboard.page
        assert page is not None and page.nodeid == "tests/test_mod.py::test_1"
        assert page.failure_groups == []
        assert rows[NODEID].button.button_style == ""
        rows["tests/test_mod.py::test_1"].button.click()  # the open test's name closes it
        assert dashboard.page is None and dashboard.page_box.children == ()
        assert dashboard.open_page(NODEID) is dashboard.page
        dashboard.open_page("")
        assert dashboard.page is None and dashboard.page_box.children == ()
        with pytest.raises(TestNotInData):
            dashboard.open_page("tests/test_mod.py::gone")
    finally:
        dashboard.close()


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


class _FakeView:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def _repr_html_(self) -> str:
        return f"<p class='fake-insight'>{self.nodeid} {EVIL_ESCAPED}</p>"


def test_insight_sections_show_when_their_module_imports(tmp_path, monkeypatch):
    module = types.ModuleType("hypofuzz_nb_fake_insight")
    module.view = lambda database, *, paths, nodeid: _FakeView(nodeid)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(
        single_test_page,
        "INSIGHT_SECTIONS",
        (("What it generates", f"{module.__name__}:view"), ("Absent", "no_such_module:view")),
    )
    single_test_page._insight_functions.cache_clear()
    monkeypatch.chdir(tmp_path)  # nothing to collect: the coverage fails, and says so
    try:
        page = TestPage(make_data(1, 5), NODEID)
        assert "What it generates" in page._repr_html_()
        assert "Absent" not in page._repr_html_()
        page.compute_replay_views()
        html = page._repr_html_()
        assert "fake-insight" in html and NODEID in html
        assert page.coverage is None and "NoTestsCollected" in page.coverage_error
        assert "NoTestsCollected" in html
    finally:
        single_test_page._insight_functions.cache_clear()
