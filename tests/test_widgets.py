"""The dashboard: widgets from real databases, live refresh, fallbacks without a frontend."""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import sys
import threading
import time
import warnings

import ipywidgets
import pytest
from dashboard_data import EVIL, failure_row, make_data, write_failure, write_reports
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    InMemoryExampleDatabase,
)

import hypofuzz_nb
from hypofuzz_nb import records
from hypofuzz_nb.widgets import MIN_REFRESH_INTERVAL, Dashboard, show_dashboard

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _key(name: str) -> bytes:
    return hashlib.sha384(name.encode()).digest()


def _shown(dashboard: Dashboard) -> str:
    """What the dashboard's tests table shows: its HTML cells and its name buttons' text."""
    parts = []
    for widget in (*dashboard.page_picker.grid.children, *dashboard.table.children[1:]):
        parts.append(widget.description if isinstance(widget, ipywidgets.Button) else widget.value)
    return "\n".join(parts)


def _html_only(dashboard: Dashboard) -> str:
    """The tests table's HTML widgets (a button's description is drawn as text)."""
    return "\n".join(
        w.value for w in dashboard.page_picker.grid.children if isinstance(w, ipywidgets.HTML)
    )


def _wait_until(condition, *, timeout: float = 10.0) -> bool:
    """Poll ``condition`` until true; bounded by count and time."""
    deadline = time.monotonic() + timeout
    for _ in range(1000):
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return condition()


class FetchSaveDeleteDatabase(ExampleDatabase):
    """The minimal custom database of the seed: only fetch, save, delete."""

    def __init__(self):
        super().__init__()
        self.data: dict[bytes, set[bytes]] = {}

    def fetch(self, key):
        yield from list(self.data.get(key, ()))

    def save(self, key, value):
        self.data.setdefault(key, set()).add(value)

    def delete(self, key, value):
        self.data.get(key, set()).discard(value)


@pytest.fixture
def dashboards():
    made: list[Dashboard] = []
    yield made
    for dashboard in made:
        dashboard.close()


def test_exported_lazily_from_package():
    assert hypofuzz_nb.Dashboard is Dashboard
    assert hypofuzz_nb.show_dashboard is show_dashboard


def test_static_dashboard_shows_table_plot_and_failures(dashboards):
    data = make_data(3, 10, failures=[failure_row()])
    dashboard = Dashboard(data)
    dashboards.append(dashboard)
    assert not dashboard.running  # static data: nothing to refresh
    for nodeid in data.tests["nodeid"]:
        assert nodeid in _shown(dashboard)
    for title in ("behaviors", "fingerprints", "inputs/s", "since new", "failures"):
        assert f">{title}</b>" in _shown(dashboard)
    # Short headers say what they mean: in a tooltip, and in a note for the two that need it.
    assert 'title="inputs since the last new behavior"' in _shown(dashboard)
    assert "per second of the test&#x27;s own fuzzing time" in _shown(dashboard)
    assert bytes(dashboard.image.value).startswith(PNG_MAGIC)
    assert len(dashboard.failure_box.children) == 1
    assert "Failures (1)" in dashboard.failures_header.value
    # failing tests are listed first
    assert _shown(dashboard).index("test_0") < _shown(dashboard).index("test_1")


def test_generated_markup_never_reaches_html_unescaped(dashboards):
    nodeid = f"tests/test_mod.py::test_0[{EVIL}]"
    data = make_data(1, 3, failures=[failure_row(nodeid)])
    data.tests.loc[0, "nodeid"] = nodeid
    data.tests.loc[0, "status"] = EVIL
    dashboard = Dashboard(data)
    dashboards.append(dashboard)
    (failure_widget,) = dashboard.failure_box.children
    failure_html = failure_widget.children[0].value
    for text in (_html_only(dashboard), failure_html, dashboard.summary_html()):
        assert "<script" not in text
        assert "<img src=x" not in text
    assert "&lt;script&gt;" in _html_only(dashboard)  # the status cell
    # The node id is a button's description, which every widget frontend draws as text.
    assert dashboard.page_picker.rows[nodeid].button.description == nodeid


def test_mimebundle_has_widget_and_static_fallbacks(dashboards):
    dashboard = Dashboard(make_data(2, 5, failures=[failure_row()]))
    dashboards.append(dashboard)
    bundle = dashboard._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == dashboard.widget.model_id
    assert "tests/test_mod.py::test_1" in bundle["text/html"]
    assert 'src="data:image/png;base64,' in bundle["text/html"]
    assert "ValueError" in bundle["text/html"]
    assert "2 tests, 1 failing" in bundle["text/plain"]
    assert "tests/test_mod.py::test_0 [shrunk]: ValueError" in bundle["text/plain"]


def test_empty_database_is_never_blank(dashboards):
    dashboard = Dashboard(InMemoryExampleDatabase(), live=False)
    dashboards.append(dashboard)
    assert "No tests in this database yet" in _shown(dashboard)
    assert bytes(dashboard.image.value).startswith(PNG_MAGIC)
    assert "None found" in dashboard.failures_header.value
    assert "0 tests" in dashboard._repr_mimebundle_()["text/plain"]


def test_plot_toggles_and_selection_redraw(dashboards):
    dashboard = Dashboard(make_data(3, 10))
    dashboards.append(dashboard)
    images = {bytes(dashboard.image.value)}
    dashboard.y_toggle.value = "fingerprints"
    images.add(bytes(dashboard.image.value))
    dashboard.x_toggle.value = "inputs"
    images.add(bytes(dashboard.image.value))
    dashboard.log_toggle.value = False
    images.add(bytes(dashboard.image.value))
    assert len(images) == 4
    dashboard.selection.value = ("tests/test_mod.py::test_2",)
    assert "\u25b8 tests/test_mod.py::test_2" in _shown(dashboard)
    before = bytes(dashboard.image.value)
    dashboard.scope_toggle.value = "selected"
    assert bytes(dashboard.image.value) != before


def test_live_dashboard_follows_database_change_events(dashboards):
    db = InMemoryExampleDatabase()
    key = _key("a")
    write_reports(db, key, "tests/test_a.py::test_a", 3)
    dashboard = Dashboard(db, poll_interval=600)  # only change events can refresh it
    dashboards.append(dashboard)
    assert dashboard.listening
    assert dashboard.running
    assert "live (change events)" in dashboard.header.value
    assert "tests/test_a.py::test_a" in _shown(dashboard)
    assert not dashboard.failure_box.children

    write_reports(db, _key("b"), "tests/test_b.py::test_b", 2)
    write_failure(db, key, "tests/test_a.py::test_a", (3,))
    assert _wait_until(lambda: "tests/test_b.py::test_b" in _shown(dashboard))
    assert _wait_until(lambda: len(dashboard.failure_box.children) == 1)

    dashboard.close()
    assert not dashboard.running
    assert not db._listeners  # the listener was removed: no more work for the database


def test_a_refresh_updates_the_table_in_place(dashboards):
    db = InMemoryExampleDatabase()
    write_reports(db, _key("a"), "tests/test_a.py::test_a", 3)
    dashboard = Dashboard(db, live=False)
    dashboards.append(dashboard)
    row_a = dashboard.page_picker.rows["tests/test_a.py::test_a"]
    before = row_a.cells.value
    write_reports(db, _key("a"), "tests/test_a.py::test_a", 6)
    write_reports(db, _key("b"), "tests/test_b.py::test_b", 2)
    assert dashboard.refresh()
    # The known test's widgets are the same ones, their values changed in place; only
    # the new test got widgets.
    assert dashboard.page_picker.rows["tests/test_a.py::test_a"] is row_a
    assert row_a.cells.value != before
    assert row_a.button in dashboard.page_picker.grid.children
    assert dashboard.page_picker.order == ["tests/test_a.py::test_a", "tests/test_b.py::test_b"]
    # An open page stays open (and marked) across refreshes.
    dashboard.page_picker.rows["tests/test_b.py::test_b"].button.click()
    write_reports(db, _key("b"), "tests/test_b.py::test_b", 4)
    assert dashboard.refresh()
    assert dashboard.page is not None and dashboard.page.nodeid == "tests/test_b.py::test_b"
    assert dashboard.page_picker.rows["tests/test_b.py::test_b"].button.button_style == "info"


def test_refreshes_at_most_twice_a_second(dashboards):
    db = InMemoryExampleDatabase()
    calls = []

    def loader():
        calls.append(time.monotonic())
        return hypofuzz_nb.load(db)

    dashboard = Dashboard(loader, database=db, poll_interval=600)
    dashboards.append(dashboard)
    start = time.monotonic()
    for i in range(60):  # a burst of reports, many change events
        write_reports(db, _key(f"t{i % 3}"), f"tests/test_t.py::test_{i % 3}", 1, start=i)
        time.sleep(0.02)
    assert _wait_until(lambda: len(calls) >= 2)
    elapsed = time.monotonic() - start
    dashboard.close()
    refresher_loads = len(calls) - 1  # the first load is the constructor's
    assert refresher_loads <= elapsed / MIN_REFRESH_INTERVAL + 1
    gaps = [b - a for a, b in itertools.pairwise(calls[1:])]
    assert all(gap >= MIN_REFRESH_INTERVAL * 0.9 for gap in gaps)


def test_polls_a_database_without_change_events(dashboards):
    db = FetchSaveDeleteDatabase()
    write_reports(db, _key("a"), "tests/test_a.py::test_a", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning leaks from listener probing
        dashboard = Dashboard(db, poll_interval=0.5)
    dashboards.append(dashboard)
    assert not dashboard.listening
    assert "polling every" in dashboard.header.value
    write_reports(db, _key("b"), "tests/test_b.py::test_b", 2)
    assert _wait_until(lambda: "tests/test_b.py::test_b" in _shown(dashboard))


def test_directory_database_written_by_another_process_is_followed(tmp_path, dashboards):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    write_reports(db, _key("a"), "tests/test_a.py::test_a", 2)
    dashboard = Dashboard(db, poll_interval=0.5)
    dashboards.append(dashboard)
    other_writer = DirectoryBasedExampleDatabase(tmp_path / "db")
    write_failure(other_writer, _key("a"), "tests/test_a.py::test_a", (1,))
    assert _wait_until(lambda: len(dashboard.failures) == 1)


def test_unreachable_database_keeps_data_and_recovers(dashboards):
    data = make_data(2, 4)
    broken = threading.Event()

    def loader():
        if broken.is_set():
            raise ConnectionError("redis at 127.0.0.1:1 refused the connection")
        return data

    dashboard = Dashboard(loader, poll_interval=0.5)
    dashboards.append(dashboard)
    broken.set()
    assert _wait_until(lambda: "database unreachable since" in dashboard.header.value)
    assert "refused the connection" in dashboard.header.value
    assert "tests/test_mod.py::test_1" in _shown(dashboard)  # last data still shown
    broken.clear()
    assert _wait_until(lambda: "unreachable" not in dashboard.header.value)


def test_bad_source_says_what_to_pass():
    with pytest.raises(
        TypeError, match=r"ExampleDatabase, a database directory, the result of hypofuzz_nb\.load"
    ):
        Dashboard(42)
    with pytest.raises(ValueError, match="poll_interval must be a positive number"):
        Dashboard(make_data(1, 1), poll_interval=0)


def test_garbage_in_the_database_is_counted_not_raised(dashboards):
    db = InMemoryExampleDatabase()
    key = _key("a")
    write_reports(db, key, "tests/test_a.py::test_a", 3)
    db.save(records.reports_key(key), b"{not json <script>")
    db.save(records.reports_key(key), b'{"nodeid": "extra fields only"}')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load() warns once; the header keeps the count
        dashboard = Dashboard(db, live=False)
    dashboards.append(dashboard)
    assert "tests/test_a.py::test_a" in _shown(dashboard)
    assert "2 undecodable database values skipped" in dashboard.header.value
    assert "<script" not in dashboard.header.value


def test_bad_database_path_names_it(tmp_path):
    from hypofuzz_nb.errors import HypofuzzNbError

    with pytest.raises(HypofuzzNbError, match="does not exist"):
        Dashboard(str(tmp_path / "no-such-db"))
    (tmp_path / "a-file").write_text("")
    with pytest.raises(HypofuzzNbError, match="is a file, not a directory"):
        Dashboard(tmp_path / "a-file")


def test_reproduce_button_stores_exception_for_debug(monkeypatch, dashboards):
    class PlantedBug(Exception):
        pass

    @given(st.integers(0, 10))
    def test_nb(n):
        if n == 7:
            raise PlantedBug("seven")

    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "test_nb", test_nb, raising=False)
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        monkeypatch.delattr(sys, name, raising=False)
    data = make_data(1, 2, failures=[failure_row("<notebook>::test_nb", choices=(7,))])
    dashboard = Dashboard(data)
    dashboards.append(dashboard)
    (failure_widget,) = dashboard.failure_box.children
    reproduce_button = failure_widget.children[1].children[0]
    assert reproduce_button.description == "Reproduce"
    reproduce_button.click()
    assert isinstance(sys.last_value, PlantedBug)
    assert sys.last_traceback is not None


def test_session_state_in_header(dashboards):
    class Session:
        running = True

    dashboard = Dashboard(make_data(1, 1), session=Session())
    dashboards.append(dashboard)
    assert "workers running" in dashboard.header.value


def test_display_in_a_real_ipython_shell(dashboards):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    dashboard = Dashboard(make_data(2, 3))
    dashboards.append(dashboard)
    formatted, _ = shell.display_formatter.format(dashboard)
    assert WIDGET_VIEW in formatted
    assert "tests/test_mod.py::test_1" in formatted["text/html"]
    assert formatted["text/plain"].startswith("hypofuzz_nb dashboard: 2 tests")


def test_executed_notebook_keeps_a_static_summary(tmp_path):
    """nbconvert, GitHub and nbviewer show the text/html fallback: it must hold the data."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    db_path = tmp_path / "db"
    db = DirectoryBasedExampleDatabase(db_path)
    write_reports(db, _key("a"), "tests/test_a.py::test_a", 5)
    write_failure(db, _key("a"), "tests/test_a.py::test_a", (EVIL,), representation="test_a()")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from hypofuzz_nb import Dashboard\n"
            f"dashboard = Dashboard({str(db_path)!r}, live=False)\n"
            "dashboard"
        )
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3").execute(cwd=str(tmp_path))
    (output,) = [o for o in notebook.cells[0].outputs if o.output_type == "execute_result"]
    assert WIDGET_VIEW in output.data
    assert "tests/test_a.py::test_a" in output.data["text/html"]
    assert "data:image/png;base64," in output.data["text/html"]
    assert "<script" not in output.data["text/html"]
    assert "1 failing" in output.data["text/plain"]

    # nbconvert's HTML prefers the widget view and renders it from the widget state
    # that nbclient saved into the notebook: that state must carry the data too.
    state = json.dumps(notebook.metadata["widgets"])
    assert "tests/test_a.py::test_a" in state
    if importlib.util.find_spec("nbconvert") is None:
        return  # the check above is what nbconvert would embed
    import nbconvert

    body, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    assert "application/vnd.jupyter.widget-state+json" in body
    assert "tests/test_a.py::test_a" in body.replace("\\/", "/")


def test_dashboard_follows_a_real_fuzzing_session(tmp_path, monkeypatch, dashboards):
    worker = pytest.importorskip("hypofuzz_nb.session")
    (tmp_path / "test_planted.py").write_text(
        "from hypothesis import given, strategies as st\n\n"
        "@given(st.integers(0, 20))\n"
        "def test_planted(n):\n"
        "    assert n != 13, 'planted'\n\n"
        "@given(st.text())\n"
        "def test_fine(s):\n"
        "    assert isinstance(s, str)\n"
    )
    monkeypatch.chdir(tmp_path)
    db = InMemoryExampleDatabase()
    session = worker.fuzz([str(tmp_path / "test_planted.py")], database=db, max_time=20)
    try:
        dashboard = Dashboard(session.database, session=session, poll_interval=0.5)
        dashboards.append(dashboard)
        assert _wait_until(lambda: len(dashboard.failures) >= 1, timeout=30)
        assert _wait_until(lambda: "test_fine" in _shown(dashboard), timeout=30)
        (failure,) = [f for f in dashboard.failures if f.state == "shrunk"]
        assert failure.nodeid.endswith("test_planted.py::test_planted")
        # The failure the worker saved replays in this process as the real exception.
        with pytest.raises(AssertionError, match="planted"):
            failure.reproduce()
    finally:
        session.stop()


@pytest.mark.redis
def test_redis_database_changes_arrive_through_pub_sub(redis_database, redis_server, dashboards):
    from hypothesis.extra.redis import RedisExampleDatabase

    write_reports(redis_database, _key("a"), "tests/test_a.py::test_a", 2)
    # Never polls within this test: only a pub/sub message can trigger the refresh.
    dashboard = Dashboard(redis_database, poll_interval=600)
    dashboards.append(dashboard)
    assert dashboard.listening and "live (change events)" in dashboard.header.value
    loads = dashboard.load_count
    other_connection = RedisExampleDatabase(redis_server.client())
    write_reports(other_connection, _key("b"), "tests/test_b.py::test_b", 2)
    assert _wait_until(lambda: "tests/test_b.py::test_b" in _shown(dashboard))
    assert dashboard.load_count > loads


@pytest.mark.redis
def test_redis_killed_shows_unreachable_then_recovers_by_itself(make_redis_server, dashboards):
    from hypofuzz_nb.redis_url import redis_database_from_url

    server = make_redis_server()
    database = redis_database_from_url(server.url)
    write_reports(database, _key("a"), "tests/test_a.py::test_a", 2)
    dashboard = Dashboard(database, poll_interval=600)
    dashboards.append(dashboard)
    assert "unreachable" not in dashboard.header.value
    server.kill()
    assert _wait_until(lambda: "database unreachable since" in dashboard.header.value, timeout=30)
    assert "tests/test_a.py::test_a" in _shown(dashboard)  # the last data stays
    server.start()  # comes back empty (no persistence)
    assert _wait_until(lambda: "unreachable" not in dashboard.header.value, timeout=30)
    write_reports(redis_database_from_url(server.url), _key("c"), "tests/test_c.py::test_c", 2)
    assert _wait_until(lambda: "tests/test_c.py::test_c" in _shown(dashboard), timeout=30)


def test_the_refresher_draws_in_a_helper_process_and_the_first_drawing_here(dashboards):
    db = InMemoryExampleDatabase()
    key = _key("helper")
    write_reports(db, key, "tests/test_h.py::test_h", 3)
    dashboard = Dashboard(db, poll_interval=600)
    dashboards.append(dashboard)
    first = bytes(dashboard.image.value)
    assert first.startswith(b"\x89PNG") and dashboard.plot_count == 1
    write_reports(db, key, "tests/test_h.py::test_h", 5, start=1.7e9 + 100)
    plotter = dashboard._plotter
    assert plotter is not None
    # The refresher's drawing comes from the helper (which first imports matplotlib).
    assert _wait_until(lambda: plotter.drawings >= 1, timeout=60)
    assert dashboard.plot_count >= 2
    assert plotter.pid not in (None, os.getpid())
    assert bytes(dashboard.image.value).startswith(b"\x89PNG")
    dashboard.close()
    assert plotter.pid is None  # closing the dashboard ends its helper


def test_under_a_stream_of_changes_the_refresher_keeps_to_its_share_of_the_time(dashboards):
    from hypofuzz_nb.widgets import PLOT_MIN_INTERVAL, REFRESH_BURST_S, REFRESH_DUTY

    db = InMemoryExampleDatabase()
    key = _key("stream")
    write_reports(db, key, "tests/test_s.py::test_s", 3)
    started = time.monotonic()
    dashboard = Dashboard(db, poll_interval=600)  # only change events refresh it
    dashboards.append(dashboard)
    assert dashboard.plot_count == 1  # the constructor draws at once
    # A worker's stream of reports: a change every 20 ms for a while (not an assertion).
    for i in range(150):
        write_reports(db, key, "tests/test_s.py::test_s", 1, start=1.7e9 + i)
        time.sleep(0.02)
    assert _wait_until(lambda: dashboard.refresh_count >= 2, timeout=30)
    elapsed = time.monotonic() - started
    # Its work is bounded by the budget: the burst, the share of the time since it
    # started, and at most one piece of work begun just before the budget ran out.
    assert dashboard.work_seconds <= (
        REFRESH_BURST_S + REFRESH_DUTY * elapsed + dashboard.max_work_seconds + 1e-6
    )
    # The plot, the dearest part, is drawn at most once per PLOT_MIN_INTERVAL.
    assert dashboard.plot_count <= 2 + elapsed / PLOT_MIN_INTERVAL
    # Once the stream stops, what is on screen catches up with the database: the
    # table at the next refresh, the plot when its interval is up.
    final = list(db.fetch(records.reports_key(key)))
    assert _wait_until(
        lambda: (
            len(dashboard.data.reports) == len(final)
            and dashboard._plotted_signature == dashboard._signature
        ),
        timeout=PLOT_MIN_INTERVAL + 30,
    )


def test_the_work_budget_fills_at_its_share_and_holds_back_work_in_debt():
    from hypofuzz_nb.refresh_pacing import WorkBudget

    before = time.monotonic()
    budget = WorkBudget(0.05, 0.5)
    assert budget.wait_time() == 0.0  # starts full: a lone change shows at once
    budget.spend(0.4)
    assert budget.wait_time() == 0.0
    budget.spend(0.3)  # 0.2 s in debt: 4 s at 5 %
    wait = budget.wait_time()
    assert 0 < wait <= 0.2 / 0.05
    assert wait >= (0.2 - (time.monotonic() - before) * 0.05) / 0.05 - 1e-9


def test_the_data_signature_is_stable_for_equal_data_and_moves_with_any_cell():
    import dataclasses

    import pandas as pd

    from hypofuzz_nb import load
    from hypofuzz_nb.refresh_pacing import data_signature

    empty = load(InMemoryExampleDatabase())

    def data(inputs: int) -> object:
        tests = pd.DataFrame(
            {
                "nodeid": pd.array(["t::a", "t::b"], dtype="string"),
                "inputs": [inputs, 2],
                "inputs_per_s": [float("nan"), 1.5],  # NaN hashes by identity
                "since_new_behavior": pd.array([pd.NA, 3], dtype="Int64"),
                "choices": [(1, 2), {"k": b"v"}],  # unhashable cells
            }
        )
        return dataclasses.replace(empty, tests=tests)

    assert data_signature(data(1)) == data_signature(data(1))
    assert data_signature(data(1)) != data_signature(data(2))


def test_the_header_shows_this_sessions_rate_over_its_wall_time(tmp_path, dashboards):
    import re

    worker = pytest.importorskip("hypofuzz_nb.session")
    (tmp_path / "test_rate.py").write_text(
        "from hypothesis import given, strategies as st\n\n"
        "@given(st.integers())\n"
        "def test_a(n):\n    pass\n\n"
        "@given(st.text())\n"
        "def test_b(s):\n    pass\n"
    )
    session = worker.fuzz(
        [str(tmp_path / "test_rate.py")], database=InMemoryExampleDatabase(), max_time=3
    )
    assert session.wait(60)
    dashboard = Dashboard(session.database, session=session, live=False)
    dashboards.append(dashboard)
    status = session.status()
    match = re.search(
        r"this session: ([\d,]+) inputs in ([\d,.]+) s \(([\d,]+)/s\)", dashboard.header.value
    )
    assert match, dashboard.header.value
    inputs, seconds, rate = (float(g.replace(",", "")) for g in match.groups())
    assert inputs == status.inputs > 0
    assert rate == round(status.inputs / status.elapsed_s)
    assert abs(seconds - status.elapsed_s) <= 0.5
    # Not the sum of the two tests' own rates, each over its own share of the time.
    assert rate < sum(t.inputs_per_s for t in status.tests)


def test_interactive_dashboard_draws_on_an_ipympl_canvas_and_keeps_a_zoom():
    from ipympl.backend_nbagg import Canvas

    sources = iter([make_data(n_tests=2, n_reports=10), make_data(n_tests=3, n_reports=20)])
    dashboard = Dashboard(lambda: next(sources), interactive=True, live=False)
    try:
        first = dashboard.canvas
        assert isinstance(first, Canvas)
        assert dashboard.plot_area.children == (first,)
        assert len(first.figure.axes[0].get_lines()) + len(first.figure.axes[0].collections) > 0
        # The user zooms in; new data arrives; the view stays where the user put it.
        first.figure.axes[0].set_xlim(1.0, 2.0)
        first.figure.axes[0].set_ylim(3.0, 4.0)
        dashboard.refresh()
        second = dashboard.canvas
        assert second is not first
        assert tuple(second.figure.axes[0].get_xlim()) == (1.0, 2.0)
        assert tuple(second.figure.axes[0].get_ylim()) == (3.0, 4.0)
        # The static PNG fallback is kept up to date too.
        assert bytes(dashboard.image.value).startswith(b"\x89PNG")
    finally:
        dashboard.close()


def test_interactive_without_ipympl_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipympl", None)
    monkeypatch.setitem(sys.modules, "ipympl.backend_nbagg", None)
    with pytest.raises(ImportError, match=r"hypofuzz_nb\[interactive\]"):
        Dashboard(make_data(), interactive=True, live=False)
