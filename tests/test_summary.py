"""The one-line summaries shared by the command, the magic and the dashboard."""

from __future__ import annotations

import time

import pandas as pd

from hypofuzz_nb.status import SessionStatus, TestStatus
from hypofuzz_nb.summary import activity_line, database_line, database_note, plural, session_line


def _status(**changes) -> SessionStatus:
    test = TestStatus(
        nodeid="t.py::test_a",
        database_key=b"k",
        phase="generate",
        inputs=1234,
        behaviors=5,
        fingerprints=3,
        since_new_behavior=10,
        elapsed_s=2.0,
        inputs_per_s=617.0,
        n_failures=2,
        finished=False,
    )
    return SessionStatus(tests=(test,), running=True, elapsed_s=2.0, workers=1, **changes)


def test_plural():
    assert (plural(1, "test"), plural(0, "test"), plural(1234, "test")) == (
        "1 test",
        "0 tests",
        "1,234 tests",
    )


def test_session_line_counts_failing_tests_and_the_wall_time_rate():
    assert session_line(_status()) == "1 test, 1,234 inputs in 2.0 s (617/s), 1 failing"


def test_database_note():
    assert database_note(_status()) == ""
    assert database_note(_status(pending_writes=3)) == "3 writes buffered"
    since = time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))
    assert (
        database_note(_status(pending_writes=1234, unreachable_since=since))
        == "database unreachable since 03:04:05, 1,234 writes buffered"
    )


def test_tests_line_and_activity_line():
    tests = pd.DataFrame(
        {
            "inputs": [10, None],
            "n_failures": [1, 0],
            "status": ["failed", "idle"],
            "last_update": pd.to_datetime(["2026-01-02 03:04:05", None], utc=True),
        }
    )
    assert database_line(tests) == "2 tests, 1 failing, 10 inputs"
    assert database_line(tests.iloc[:0]) == "0 tests, 0 failing, 0 inputs"
    assert activity_line(tests) == (
        "No worker is fuzzing these tests now (latest report 2026-01-02 03:04:05 UTC)."
    )
    assert (
        activity_line(tests.assign(last_update=pd.NaT)) == "No worker is fuzzing these tests now."
    )
    assert activity_line(tests.assign(status="running")) == "2 tests being fuzzed now."
