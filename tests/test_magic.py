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
        ("--max-time -3", "must be more than 0"),
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


def _write_project(root: Path) -> None:
    tests = root / "tests"
    tests.mkdir()
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
