"""The ``hypofuzz-nb`` command, run as a real subprocess on projects in tmp_path."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hypofuzz_nb.cli import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_USER_ERROR,
    _Progress,
    _summary,
    main,
)
from hypofuzz_nb.status import SessionStatus, TestStatus

CONFTEST = """
from pathlib import Path
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile(
    "cli",
    database=DirectoryBasedExampleDatabase(Path(__file__).resolve().parent / ".hypothesis" / "examples"),
    deadline=None,
)
settings.load_profile("cli")
"""

PASSING = """
from hypothesis import given, strategies as st

@given(st.lists(st.integers()))
def test_sorting_twice(xs):
    assert sorted(sorted(xs)) == sorted(xs)
"""

MORE = """
from hypothesis import given, strategies as st

@given(st.text())
def test_text_round_trip(s):
    assert s.encode("utf-8").decode("utf-8") == s

@given(st.integers())
def test_abs(x):
    assert abs(x) >= 0
"""

FAILING = """
from hypothesis import given, strategies as st

@given(st.integers())
def test_small(x):
    assert x < 1000
"""


def make_project(tmp_path: Path, files: dict[str, str]) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "conftest.py").write_text(CONFTEST)
    for name, text in files.items():
        (project / name).write_text(textwrap.dedent(text))
    return project


def hypofuzz_nb(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hypofuzz_nb.cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """The real command line in this process (for what never reaches collection)."""
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_fuzz_command(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == EXIT_OK
    assert "fuzz" in out
    code, out, _ = run_main(["fuzz", "--help"], capsys)
    assert code == EXIT_OK
    for option in ("--max-time", "--no-dashboard", "--dashboard-only", "-n N", "-- PYTEST_ARGS"):
        assert option in out, option
    assert "exit codes" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["fuzz", "--max-time", "-3"], "must be a finite number of seconds, more than 0"),
        (["fuzz", "--max-time", "inf"], "must be a finite number of seconds, more than 0"),
        (["fuzz", "--timeout", "nan"], "must be a finite number of seconds, more than 0"),
        (["fuzz", "--max-time", "soon"], "expected a number of seconds"),
        (["fuzz", "-n", "0"], "must be at least 1"),
        (["fuzz", "--max-examples", "many"], "expected a whole number"),
        (["fuzz", "--no-dashboard", "--dashboard-only"], "not allowed with"),
        (["fuzz", "no_such_dir_hfnb"], "path 'no_such_dir_hfnb' does not exist"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2_with_one_message(capsys, args, message):
    code, _, err = run_main(args, capsys)
    assert code == EXIT_USAGE
    assert message in err
    assert "Traceback" not in err


def test_a_found_failure_exits_1_with_a_summary_and_the_replay_hint(tmp_path):
    project = make_project(tmp_path, {"test_fail.py": FAILING, "test_pass.py": PASSING})
    result = hypofuzz_nb(
        project, "fuzz", "--max-time", "60", "--max-examples", "300", "--no-dashboard"
    )
    assert result.returncode == EXIT_FAILURES, result.stdout + result.stderr
    assert "FAILED test_fail.py::test_small" in result.stdout
    assert "x=1000" in result.stdout  # the shrunk example, read back from the database
    assert "run `pytest` to replay" in result.stdout
    assert "test_pass" not in result.stdout.split("== hypofuzz-nb")[-1]

    report = hypofuzz_nb(project, "fuzz", "--dashboard-only")
    assert report.returncode == EXIT_FAILURES, report.stdout + report.stderr
    assert "test_fail.py::test_small" in report.stdout
    assert "test_pass.py::test_sorting_twice" in report.stdout


def test_no_failure_exits_0(tmp_path):
    project = make_project(tmp_path, {"test_pass.py": PASSING})
    result = hypofuzz_nb(project, "fuzz", "--max-examples", "200", "--", "-k", "sorting")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert "No failures found." in result.stdout


def test_dashboard_only_on_an_empty_database_says_so(tmp_path):
    project = make_project(tmp_path, {"test_pass.py": PASSING})
    result = hypofuzz_nb(project, "fuzz", "--dashboard-only")
    assert result.returncode == EXIT_OK, result.stderr
    assert "holds no fuzzing results yet" in result.stdout


def test_an_import_error_shows_the_users_traceback_and_exits_3(tmp_path):
    project = make_project(
        tmp_path, {"test_broken.py": "import json\nraise RuntimeError('config missing: API_KEY')\n"}
    )
    result = hypofuzz_nb(project, "fuzz", "--max-time", "5")
    assert result.returncode == EXIT_USER_ERROR
    assert result.stderr.startswith("hypofuzz-nb: error:")
    assert "config missing: API_KEY" in result.stderr
    assert "hypofuzz_nb/session.py" not in result.stderr  # no traceback from our internals


def test_a_broken_file_beside_good_ones_is_reported_and_the_rest_fuzzed(tmp_path):
    project = make_project(
        tmp_path,
        {
            "test_pass.py": PASSING,
            "test_broken.py": "raise RuntimeError('config missing: DB_URL')\n",
        },
    )
    result = hypofuzz_nb(project, "fuzz", "--max-examples", "100")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert "hypofuzz-nb: warning: not fuzzing a file that failed to import" in result.stderr
    assert "config missing: DB_URL" in result.stderr
    assert "1 test," in result.stdout


def test_no_tests_collected_says_what_the_filters_removed(tmp_path):
    project = make_project(tmp_path, {"test_pass.py": PASSING})
    result = hypofuzz_nb(project, "fuzz", "--max-time", "5", "--", "-k", "nothing_matches")
    assert result.returncode == EXIT_USER_ERROR
    assert result.stderr.startswith("hypofuzz-nb: error:")
    assert "-k" in result.stderr or "deselected" in result.stderr


def test_ctrl_c_stops_cleanly_with_a_summary(tmp_path):
    project = make_project(tmp_path, {"test_pass.py": PASSING})
    process = subprocess.Popen(
        [sys.executable, "-m", "hypofuzz_nb.cli", "fuzz", "--no-dashboard"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The first progress line is printed once fuzzing has started.
        first = process.stdout.readline()
        assert first.startswith("["), first + process.stderr.read()
        db = project / ".hypothesis" / "examples"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(db.glob("*")):
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_OK, out + err
    assert "hypofuzz-nb interrupted:" in out
    assert "No failures found." in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert_nothing_listed_as_running(project)


def test_sigterm_stops_worker_processes_cleanly_like_ctrl_c(tmp_path):
    # Kubernetes and systemd stop a container or unit with SIGTERM to the main process only.
    project = make_project(tmp_path, {"test_pass.py": PASSING})
    process = subprocess.Popen(
        [sys.executable, "-m", "hypofuzz_nb.cli", "fuzz", "-n", "2", "--no-dashboard"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        db = project / ".hypothesis" / "examples"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(db.glob("*")):
            time.sleep(0.1)
        assert any(db.glob("*")), "the workers never wrote to the database"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_OK, out + err
    assert "hypofuzz-nb interrupted:" in out
    assert "No failures found." in out
    assert "Traceback" not in err, err
    assert_nothing_listed_as_running(project)


def test_worker_processes_from_the_command_line(tmp_path):
    project = make_project(tmp_path, {"test_fail.py": FAILING, "test_pass.py": PASSING})
    result = hypofuzz_nb(
        project, "fuzz", "-n", "2", "--max-time", "60", "--max-examples", "300", timeout=150
    )
    assert result.returncode == EXIT_FAILURES, result.stdout + result.stderr
    assert "FAILED test_fail.py::test_small" in result.stdout
    rows = assert_nothing_listed_as_running(project)
    assert rows == {
        "test_fail.py::test_small": "failed",
        "test_pass.py::test_sorting_twice": "idle",
    }


def assert_nothing_listed_as_running(project: Path) -> dict[str, str]:
    """``--dashboard-only`` right after a run: every test it lists, and its status."""
    report = hypofuzz_nb(project, "fuzz", "--dashboard-only")
    assert report.returncode in (EXIT_OK, EXIT_FAILURES), report.stdout + report.stderr
    lines = report.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["status"])
    rows = {}
    for line in lines[header + 1 :]:
        if not line.startswith("  "):
            break
        status, *_, nodeid = line.split()
        rows[nodeid] = status
    assert rows, report.stdout
    assert "running" not in rows.values(), report.stdout
    assert "No worker is fuzzing these tests now" in report.stdout
    return rows


def test_dashboard_only_after_a_finished_run_lists_no_test_as_running(tmp_path):
    project = make_project(tmp_path, {"test_pass.py": PASSING, "test_more.py": MORE})
    result = hypofuzz_nb(project, "fuzz", "--max-time", "4")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    rows = assert_nothing_listed_as_running(project)
    assert set(rows) == {
        "test_pass.py::test_sorting_twice",
        "test_more.py::test_text_round_trip",
        "test_more.py::test_abs",
    }
    # A test the scheduler had not reached yet within the time is "waiting".
    assert "idle" in rows.values() and set(rows.values()) <= {"idle", "waiting"}


def _progress_numbers(line: str) -> tuple[float, int, int]:
    """(elapsed seconds, inputs, inputs/s) of a progress line or the summary line."""
    import re

    elapsed = re.search(r"\[\s*([\d.]+)s\]| in ([\d.]+) s", line)
    inputs = re.search(r"([\d,]+) inputs", line)
    rate = re.search(r"([\d,]+) inputs/s overall| s \(([\d,]+)/s\)", line)
    assert elapsed and inputs and rate, line
    return (
        float(next(g for g in elapsed.groups() if g)),
        int(inputs.group(1).replace(",", "")),
        int(next(g for g in rate.groups() if g).replace(",", "")),
    )


def test_the_printed_rate_is_all_inputs_over_the_sessions_wall_time(tmp_path):
    # Three tests take turns on one worker: the sum of their own rates would be
    # about three times what the session runs.
    project = make_project(tmp_path, {"test_pass.py": PASSING, "test_more.py": MORE})
    result = hypofuzz_nb(project, "fuzz", "--max-time", "6")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    lines = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("[") or line.startswith("== hypofuzz-nb")
    ]
    assert len(lines) >= 2, result.stdout
    inputs_seen = 0
    for line in lines:
        elapsed, inputs, rate = _progress_numbers(line)
        inputs_seen = max(inputs_seen, inputs)
        if elapsed < 0.5:
            continue
        # Elapsed is printed to 0.1 s and the rate to a whole number.
        assert inputs / (elapsed + 0.05) - 1 <= rate <= inputs / (elapsed - 0.05) + 1, line
    assert inputs_seen > 0


def test_the_session_rate_is_inputs_over_wall_time_not_a_sum_of_test_rates(tmp_path):
    from hypofuzz_nb.session import fuzz

    project = make_project(tmp_path, {"test_pass.py": PASSING, "test_more.py": MORE})
    session = fuzz([str(project)], max_time=4)
    assert session.wait(60)
    status = session.status()
    assert len(status.tests) == 3 and status.inputs > 0, status
    assert status.inputs_per_s == pytest.approx(status.inputs / status.elapsed_s)
    # Each test's own rate is over its own fuzzing time, a share of the wall time:
    # the session's rate can be no more than all inputs over all the tests' time.
    own_time = sum(t.elapsed_s for t in status.tests)
    assert 0 < own_time <= status.elapsed_s
    assert status.inputs_per_s <= status.inputs / own_time * (1 + 1e-9)
    assert status.inputs_per_s < sum(t.inputs_per_s for t in status.tests)


def test_version_prints_the_package_version(capsys):
    from importlib.metadata import version

    from hypofuzz_nb import __version__

    code, out, _ = run_main(["--version"], capsys)
    assert code == EXIT_OK
    assert out.startswith(f"hypofuzz-nb {__version__} ")
    assert f"Hypothesis {version('hypothesis')}" in out
    script = Path(sys.executable).parent / "hypofuzz-nb"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == out.strip()
    assert version("hypofuzz_nb") == __version__  # what pip installed is what it says


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _status(n_failures: int) -> SessionStatus:
    test = TestStatus(
        nodeid="t.py::test_a",
        database_key="AA==",
        phase="generate",
        inputs=1234,
        behaviors=5,
        fingerprints=3,
        since_new_behavior=10,
        elapsed_s=2.0,
        inputs_per_s=617.0,
        n_failures=n_failures,
        finished=bool(n_failures),
    )
    return SessionStatus(tests=(test,), running=True, elapsed_s=2.0, workers=1)


def test_progress_redraws_in_place_on_a_terminal():
    out = _Terminal()
    progress = _Progress(out)
    progress.update(_status(0))
    progress.update(_status(1))
    text = out.getvalue()
    # Moved back up over the three lines drawn first (headline, rate note, one test).
    assert "\x1b[3F" in text
    assert "FAILED" in text.split("\x1b[3F")[-1]
    assert "own time" in text
    assert "1,234 inputs" in text


def test_progress_prints_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    progress = _Progress(out)
    progress.update(_status(0))
    progress.update(_status(0))  # within LINE_EVERY_S: not repeated
    progress.update(_status(1), final=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\x1b" not in out.getvalue()
    assert "1 failing" in lines[-1]


def test_progress_and_summary_say_since_when_the_database_is_unreachable():
    status = dataclasses.replace(
        _status(0),
        pending_writes=1234,
        unreachable_since=time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1)),
    )
    out = io.StringIO()
    _Progress(out).update(status, final=True)
    assert "database unreachable since 03:04:05, 1,234 writes buffered" in out.getvalue()
    summary = io.StringIO()
    _summary(None, status, False, summary)
    assert "database unreachable since 03:04:05, 1,234 writes buffered" in summary.getvalue()
    reachable = io.StringIO()
    _Progress(reachable).update(_status(0), final=True)
    assert "unreachable" not in reachable.getvalue() and "buffered" not in reachable.getvalue()


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "hypofuzz-nb"
    assert script.exists()
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert result.returncode == 0 and "hypofuzz-nb" in result.stdout


def test_under_hypothesis_ci_profile_the_error_says_why(tmp_path):
    # With CI=true and no profile of the project's own, Hypothesis loads its "ci"
    # profile: derandomize=True and database=None, so nothing can be fuzzed.
    project = tmp_path / "ci_project"
    project.mkdir()
    (project / "test_plain.py").write_text(PASSING)
    result = subprocess.run(
        [sys.executable, "-m", "hypofuzz_nb", "fuzz", ".", "--max-time", "5", "--no-dashboard"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true"},
    )
    assert result.returncode == EXIT_USER_ERROR, result.stderr
    assert "Hypothesis loaded its 'ci' profile" in result.stderr
    assert "CI=true" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_session_status_reads_as_a_table_and_escapes_node_ids_in_html():
    def test(nodeid: str, **changes) -> TestStatus:
        return dataclasses.replace(_status(0).tests[0], nodeid=nodeid, **changes)

    tests = (
        test("t.py::test_busy"),
        test("t.py::test_<script>alert(1)</script>", n_failures=1, finished=True),
        test("t.py::test_late", phase="waiting", inputs=0, inputs_per_s=0.0),
    )
    running = SessionStatus(tests=tests, running=True, elapsed_s=4.0, workers=1)
    stopped = dataclasses.replace(running, running=False)
    rows = {line.split()[-1]: line for line in str(stopped).splitlines()[2:-1]}
    assert set(rows) == {
        "t.py::test_<script>alert(1)</script>",
        "t.py::test_busy",
        "t.py::test_late",
    }
    assert rows["t.py::test_<script>alert(1)</script>"].startswith("failed ")
    assert rows["t.py::test_busy"].startswith("idle ")
    assert rows["t.py::test_late"].startswith("waiting ")
    # Failing tests first, and every column lined up under its header.
    lines = str(stopped).splitlines()
    assert lines[2].startswith("failed ")
    assert len({line.index("t.py::") for line in lines[1:-1] if "t.py::" in line}) == 1
    assert str(running).splitlines()[0].startswith("hypofuzz_nb fuzzing for 4.0 s, 3 tests")
    assert "2,468 inputs (617/s over the session)" in str(running)
    html = running._repr_html_()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<tr>") == 4
    assert repr(running) == str(running)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_exitfirst_stops_the_session_once_a_failure_is_saved(tmp_path, workers):
    # Without -x this session would never end: the passing test has no limit.
    project = make_project(tmp_path, {"test_fail.py": FAILING, "test_pass.py": PASSING})
    result = hypofuzz_nb(project, "fuzz", "-x", "-n", workers, "--no-dashboard", timeout=240)
    assert result.returncode == EXIT_FAILURES, result.stdout + result.stderr
    assert "FAILED test_fail.py::test_small" in result.stdout
    assert "x=1000" in result.stdout
    replay = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "test_fail.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 1, replay.stdout
    assert "x=1000" in replay.stdout


def test_exitfirst_must_be_a_bool(tmp_path):
    from hypofuzz_nb.errors import HypofuzzNbError
    from hypofuzz_nb.session import fuzz

    project = make_project(tmp_path, {"test_pass.py": PASSING})
    with pytest.raises(HypofuzzNbError, match="exitfirst must be True or False, not 'yes'"):
        fuzz([str(project)], exitfirst="yes")
