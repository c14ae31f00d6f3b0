"""``%hypofuzz`` and ``%%hypofuzz`` in a real IPython shell."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from hypofuzz_nb import magic


@pytest.fixture
def shell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "hypofuzz_nb")
    yield ip
    ip.run_line_magic("unload_ext", "hypofuzz_nb")
    # `%unload_ext` must have stopped whatever the test started.
    assert magic._state.session is None or not magic._state.session.running


@pytest.mark.parametrize(
    "line, complaint",
    [
        ("-n zero", "expected a whole number"),
        ("-n 0", "must be at least 1"),
        ("--max-time soon", "expected a number of seconds"),
        ("--max-time -3", "must be a finite number of seconds, more than 0"),
        ("--max-time inf", "must be a finite number of seconds, more than 0"),
        ("--timeout nan", "must be a finite number of seconds, more than 0"),
        ("--max-examples 0", "must be at least 1"),
        ("--dashboard-only --no-dashboard", "not allowed with argument"),
        ("--frobnicate", "unrecognized arguments: --frobnicate"),
        ('"unclosed', "cannot parse the arguments"),
    ],
)
def test_wrong_arguments_give_a_usage_error_with_the_usage_text(shell, line, complaint):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("hypofuzz", line)
    message = str(info.value)
    assert complaint in message
    assert "%hypofuzz [PATHS ...]" in message


def test_question_mark_shows_the_usage(shell):
    magic_function = shell.find_line_magic("hypofuzz")
    assert magic_function.__doc__ == magic.USAGE
    assert "--dashboard-only" in magic_function.__doc__


def test_help_flag_prints_the_usage(shell, capsys):
    shell.run_line_magic("hypofuzz", "--help")
    assert "%hypofuzz status | stop | wait | failures" in capsys.readouterr().out


def test_status_and_stop_before_starting_say_so(shell, capsys):
    magic._state.session = None
    shell.run_line_magic("hypofuzz", "status")
    shell.run_line_magic("hypofuzz", "stop")
    out = capsys.readouterr().out
    assert "not running" in out


def test_pytest_arguments_after_double_dash_are_kept_apart():
    args, pytest_args = magic.parse_line('tests/ -n 2 --max-time 5 -- -k "sort and not slow" -x')
    assert args.paths == ["tests/"]
    assert args.workers == 2
    assert args.max_time == 5.0
    assert pytest_args == ["-k", "sort and not slow", "-x"]


def test_a_path_that_does_not_exist_is_one_clear_error(shell, tmp_path):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("hypofuzz", "no/such/tests --no-dashboard --max-time 1")
    assert "no/such/tests" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_cell_without_given_tests_is_a_usage_error(shell):
    with pytest.raises(UsageError, match="no @given tests"):
        shell.run_cell_magic("hypofuzz", "--max-time 1", "x = 1\n")
    # The cell itself still ran: nothing the user wrote is lost.
    assert shell.user_ns["x"] == 1


CONFTEST = """
from pathlib import Path
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile(
    "project", database=DirectoryBasedExampleDatabase(Path(__file__).parent.parent / ".db")
)
settings.load_profile("project")
"""


def _write_project(root: Path) -> None:
    tests = root / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(CONFTEST)
    (tests / "test_found.py").write_text(
        textwrap.dedent(
            """
            from hypothesis import given, strategies as st

            @given(st.integers())
            def test_small(n):
                assert n < 1000
            """
        )
    )


def _write_buggy_project(root: Path) -> None:
    tests = root / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(CONFTEST)
    (tests / "test_buggy.py").write_text(
        textwrap.dedent(
            """
            from hypothesis import given, strategies as st

            @given(st.integers(0, 1000))
            def test_below_ten(n):
                assert n < 10
            """
        )
    )


def test_line_magic_fuzzes_in_the_background_and_lists_the_failure(shell, tmp_path, capsys):
    _write_buggy_project(tmp_path)
    shell.run_line_magic("hypofuzz", "tests --no-dashboard --max-time 60")
    session = magic._state.session
    assert session is not None
    # The magic returned while the worker fuzzes in the background; the only
    # test fails quickly, and a session whose tests all failed ends by itself.
    assert session.wait(timeout=60)
    status = shell.run_line_magic("hypofuzz", "status")
    assert [test.nodeid for test in status.tests] == ["tests/test_buggy.py::test_below_ten"]
    assert status.tests[0].n_failures == 1
    found = shell.run_line_magic("hypofuzz", "failures")
    shrunk = [failure for failure in found if failure.state == "shrunk"]
    assert len(shrunk) == 1
    assert "n=10" in shrunk[0].representation
    with pytest.raises(AssertionError):
        shrunk[0].reproduce()


def test_status_shows_a_table_as_html_in_notebooks_and_text_in_terminals(shell, tmp_path, capsys):
    _write_buggy_project(tmp_path)
    shell.run_line_magic("hypofuzz", "tests --no-dashboard --max-time 60")
    assert magic._state.session.wait(timeout=60)
    capsys.readouterr()
    # What a cell holding only `%hypofuzz status` shows: its result, through the display hook.
    shell.run_cell("%hypofuzz status", store_history=True)
    shown = capsys.readouterr().out
    assert "SessionStatus(" not in shown and "TestStatus(" not in shown
    lines = shown.splitlines()
    header = next(i for i, line in enumerate(lines) if "inputs/s" in line)
    assert lines[header].split()[:3] == ["status", "inputs", "behaviors"]
    row = lines[header + 1].split()
    assert row[0] == "failed" and row[-1] == "tests/test_buggy.py::test_below_ten"
    assert "stopped for" in shown  # the session ended: it says so

    status = shell.run_line_magic("hypofuzz", "status")
    bundle, _ = shell.display_formatter.format(status)
    html = bundle["text/html"]
    assert html.count("<tr>") == 2  # the header and the one test
    assert "tests/test_buggy.py::test_below_ten" in html
    assert "<th" in html and "since new" in html and "inputs/s" in html
    assert "SessionStatus(" not in bundle["text/plain"]
    assert bundle["text/plain"] == str(status)
    assert f"{status.inputs:,} inputs" in bundle["text/plain"]


def test_exitfirst_ends_the_session_at_the_first_failure_and_wait_returns(shell, tmp_path, capsys):
    _write_buggy_project(tmp_path)
    (tmp_path / "tests" / "test_passing.py").write_text(
        "from hypothesis import given, strategies as st\n\n"
        "@given(st.lists(st.integers()))\n"
        "def test_sorted_twice(xs):\n"
        "    assert sorted(sorted(xs)) == sorted(xs)\n"
    )
    # No --max-time: without -x the passing test would keep the session running.
    shell.run_line_magic("hypofuzz", "tests -x --no-dashboard")
    session = magic._state.session
    shell.run_line_magic("hypofuzz", "wait")
    assert not session.running
    assert session.status().n_failing_tests == 1
    found = shell.run_line_magic("hypofuzz", "failures")
    assert any("n=10" in f.representation for f in found if f.state == "shrunk")
    assert "done:" in capsys.readouterr().out


def test_stop_returns_promptly_and_the_session_ends(shell, tmp_path, capsys):
    _write_project(tmp_path)
    shell.run_line_magic("hypofuzz", "tests --no-dashboard")
    session = magic._state.session
    assert session.running
    shell.run_line_magic("hypofuzz", "stop")
    assert not session.running
    assert "stopped:" in capsys.readouterr().out


def test_starting_twice_is_refused_with_a_clear_message(shell, tmp_path):
    _write_project(tmp_path)
    shell.run_line_magic("hypofuzz", "tests --no-dashboard")
    with pytest.raises(UsageError, match="already running"):
        shell.run_line_magic("hypofuzz", "tests --no-dashboard")
    shell.run_line_magic("hypofuzz", "stop")


def test_unload_ext_stops_the_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_project(tmp_path)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "hypofuzz_nb")
    ip.run_line_magic("hypofuzz", "tests --no-dashboard")
    session = magic._state.session
    assert session.running
    ip.run_line_magic("unload_ext", "hypofuzz_nb")
    assert not session.running


def test_dashboard_only_shows_the_database_without_workers(shell, tmp_path, capsys):
    _write_project(tmp_path)
    magic._state.session = None
    shell.run_line_magic("hypofuzz", "tests --dashboard-only")
    assert magic._state.session is None
    assert len(magic._state.dashboards) == 1
    dashboard = magic._state.dashboards[0]
    # The database of the profile that the project's conftest.py loads: still empty.
    assert Path(dashboard.database.path) == tmp_path / ".db"
    assert "0 tests" in dashboard.summary_text()


def test_cell_magic_runs_the_cell_then_fuzzes_its_tests(shell, tmp_path):
    shell.run_cell(
        "from hypothesis import settings\n"
        "from hypothesis.database import DirectoryBasedExampleDatabase\n"
        f"settings.register_profile('cell', database=DirectoryBasedExampleDatabase({str(tmp_path / 'db')!r}))\n"
        "settings.load_profile('cell')\n"
    )
    cell = textwrap.dedent(
        """
        from hypothesis import given, strategies as st

        @given(st.integers(0, 10_000))
        def test_cell_defined(n):
            assert n < 5000
        """
    )
    try:
        shell.run_cell_magic("hypofuzz", "--max-time 30", cell)
    finally:
        shell.run_cell("settings.load_profile('default')")
    session = magic._state.session
    assert not session.running  # the cell magic blocks until its budget ends
    status = session.status()
    assert [test.nodeid for test in status.tests] == ["notebook::test_cell_defined"]
    assert status.tests[0].inputs > 0
    assert status.tests[0].n_failures == 1
    # Saved under Hypothesis' own key: calling the test in the kernel replays it.
    with pytest.raises(AssertionError, match="5000"):
        shell.user_ns["test_cell_defined"]()


def test_cell_magic_with_a_test_on_another_database_says_why_it_cannot_fuzz(shell):
    cell = textwrap.dedent(
        """
        from hypothesis import given, settings, strategies as st
        from hypothesis.database import InMemoryExampleDatabase

        @settings(database=InMemoryExampleDatabase())
        @given(st.integers())
        def test_elsewhere(n):
            pass
        """
    )
    with pytest.raises(UsageError, match="database differs from the profile's: 1"):
        shell.run_cell_magic("hypofuzz", "--max-time 1", cell)
    assert "test_elsewhere" in shell.user_ns


def test_dashboard_only_interactive_draws_on_an_ipympl_canvas(shell, tmp_path):
    from ipympl.backend_nbagg import Canvas

    _write_project(tmp_path)
    magic._state.dashboards.clear()
    shell.run_line_magic("hypofuzz", "tests --dashboard-only --interactive")
    [dashboard] = magic._state.dashboards
    assert dashboard.interactive
    assert isinstance(dashboard.canvas, Canvas)


@pytest.mark.parametrize("line", ["--max-time inf", "--max-time 0", "--timeout -1"])
def test_cell_magic_numbers_are_checked_as_the_line_magic_checks_them(shell, line):
    with pytest.raises(UsageError, match="must be a finite number of seconds, more than 0"):
        shell.run_cell_magic("hypofuzz", line, "x = 1\n")
