"""One-line summaries of a fuzzing session and of a database, in the same words
wherever they are shown: the ``hypofuzz-nb`` command, the ``%hypofuzz`` magic, the
dashboard's header and a session status.

Pure formatting of what it is given (a :class:`~hypofuzz_nb.status.SessionStatus`,
or the tests frame of :func:`hypofuzz_nb.load`); it imports nothing of the package
nor pandas, so any layer, worker processes included, may use it.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = [
    "activity_line",
    "database_line",
    "database_note",
    "inputs_rate",
    "plural",
    "session_line",
    "solver_counts",
    "solver_note",
]


def plural(n: int, word: str) -> str:
    """``"1 test"``, ``"2 tests"``: ``n`` with thousands separators and ``word``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def session_line(status: Any) -> str:
    """Tests, inputs, time, the rate over wall time and the failing tests of a session."""
    return f"{plural(len(status.tests), 'test')}, {inputs_rate(status)}, {status.n_failing_tests} failing"


def inputs_rate(status: Any) -> str:
    """A session's inputs, its time, and their rate per second of that (wall) time."""
    return f"{status.inputs:,} inputs in {status.elapsed_s:,.1f} s ({status.inputs_per_s:,.0f}/s)"


def database_note(status: Any) -> str:
    """ "database unreachable since HH:MM:SS, N writes buffered", "N writes buffered",
    or "" when every write reached the database."""
    since = getattr(status, "unreachable_since", None)
    pending = int(getattr(status, "pending_writes", 0) or 0)
    if since is not None:
        clock = time.strftime("%H:%M:%S", time.localtime(since))
        return f"database unreachable since {clock}, {pending:,} writes buffered"
    if pending:
        return f"{pending:,} writes buffered"
    return ""


def solver_note(status: Any) -> str:
    """ "solver: N calls, S s, F found" (what CrossHair contributed on plateaus), or ""
    before its first call."""
    tests = getattr(status, "tests", ())
    calls = sum(getattr(t, "solver_calls", 0) for t in tests)
    if not calls:
        return ""
    seconds = sum(t.solver_s for t in tests)
    found = sum(t.solver_found for t in tests)
    return solver_counts(calls, seconds, found)


def solver_counts(calls: int, seconds: float, found: int) -> str:
    """ "solver: N calls, S s, F found": the solver's work, in the same words for a
    session and for one test's stored work."""
    return f"solver: {plural(calls, 'call')}, {seconds:,.1f} s, {found:,} found"


def database_line(tests: Any) -> str:
    """Tests, failing tests and inputs of a database, from its tests frame."""
    n_tests = len(tests)
    inputs = int(tests["inputs"].fillna(0).sum()) if n_tests and "inputs" in tests else 0
    n_failing = (
        int((tests["n_failures"].fillna(0) > 0).sum()) if n_tests and "n_failures" in tests else 0
    )
    return f"{plural(n_tests, 'test')}, {n_failing} failing, {inputs:,} inputs"


def activity_line(tests: Any) -> str:
    """Whether any worker is fuzzing the tests of this frame now, and when the last
    report came."""
    running = int((tests["status"] == "running").sum())
    if running:
        return f"{plural(running, 'test')} being fuzzed now."
    last = tests["last_update"].max()
    # NaT (no report at all) is the one value that differs from itself.
    when = "" if last != last else f" (latest report {last.tz_convert(None):%Y-%m-%d %H:%M:%S} UTC)"
    return f"No worker is fuzzing these tests now{when}."
