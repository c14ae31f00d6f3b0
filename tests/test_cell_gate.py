"""The in-kernel fuzzer gives way to the user's cells (``hypofuzz_nb.cell_gate``), in a
real IPython shell fuzzing a real pytest collection in its own thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell

import hypofuzz_nb
from hypofuzz_nb import cell_gate

#: Where the fuzzed test records the start of each of its inputs (time.monotonic()).
CALLS = "hfnb_cell_gate_calls"

PROJECT_TEST = f"""
import sys
import time

from hypothesis import given, strategies as st

CALLS = sys.__dict__.setdefault({CALLS!r}, [])


@given(st.integers())
def test_records_each_input(n):
    CALLS.append(time.monotonic())
"""


@pytest.fixture
def shell_fuzzing(tmp_path, monkeypatch):
    """A real IPython shell whose fuzzer (a thread) runs one recording test."""
    (tmp_path / "tests").mkdir()
    # A module name no test of ours has: pytest refuses two test modules of one name.
    (tmp_path / "tests" / "test_cell_gate_project.py").write_text(PROJECT_TEST)
    monkeypatch.chdir(tmp_path)
    calls = sys.__dict__.setdefault(CALLS, [])
    calls.clear()
    shell = InteractiveShell.instance()
    session = hypofuzz_nb.fuzz(["tests"], max_time=120)
    try:
        deadline = time.monotonic() + 60
        while len(calls) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for the fuzzer to run, not an assertion
        assert len(calls) >= 50, "the fuzzer did not start"
        yield shell, calls
    finally:
        session.stop()
        session.wait(10)
        sys.__dict__.pop(CALLS, None)


def test_outside_ipython_there_is_no_gate_and_ipython_is_not_imported():
    code = (
        "import sys; from hypofuzz_nb import cell_gate; "
        "print(cell_gate.gate(), 'IPython' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["None", "False"]


def test_one_gate_per_shell_with_its_hooks_registered_once():
    shell = InteractiveShell.instance()
    first, second = cell_gate.gate(), cell_gate.gate()
    assert first is not None and first is second
    for event in ("pre_run_cell", "post_run_cell"):
        hooks = [h for h in shell.events.callbacks[event] if getattr(h, "__self__", None) is first]
        assert len(hooks) == 1


def test_the_fuzzer_stops_after_its_current_input_while_a_short_cell_runs(shell_fuzzing):
    shell, calls = shell_fuzzing
    # A cell that computes for a while, holding the GIL between its bytecodes.
    result = shell.run_cell(
        textwrap.dedent(
            """
            import time
            _t0 = time.monotonic()
            while time.monotonic() - _t0 < 0.4:
                sum(range(1000))
            _t1 = time.monotonic()
            """
        )
    )
    result.raise_error()
    t0, t1 = shell.user_ns["_t0"], shell.user_ns["_t1"]
    assert t1 - t0 < cell_gate.GRACE_S  # the cell stayed within its grace
    # The input in flight when the cell started may still reach the test's body,
    # and be run once more to confirm it if it was new; nothing after that.
    assert len([c for c in calls if t0 < c < t1]) <= 2
    # ... and the fuzzer is back once the cell is done.
    n = len(calls)
    deadline = time.monotonic() + 30
    while len(calls) == n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) > n


def test_a_cell_that_outlasts_its_grace_has_the_fuzzer_running_beside_it(shell_fuzzing):
    shell, calls = shell_fuzzing
    # Like ``session.wait()``: a cell that waits, for longer than its grace.
    result = shell.run_cell(
        textwrap.dedent(
            f"""
            import threading, time
            _t0 = time.monotonic()
            threading.Event().wait({cell_gate.GRACE_S} + 1.0)
            _t1 = time.monotonic()
            """
        )
    )
    result.raise_error()
    t0, t1 = shell.user_ns["_t0"], shell.user_ns["_t1"]
    within_grace = [c for c in calls if t0 < c < t0 + cell_gate.GRACE_S * 0.9]
    after_grace = [c for c in calls if t0 + cell_gate.GRACE_S < c < t1]
    assert len(within_grace) <= 2  # as above: the input in flight and its confirmation
    assert after_grace  # not stopped for the whole cell


def test_give_way_waits_for_the_cell_on_a_background_thread_only():
    shell = InteractiveShell.instance()
    import threading

    assert cell_gate.gate() is not None  # installed before the cell, as by a session
    waited: dict[str, float] = {}

    def background() -> None:
        waited["background"] = cell_gate.give_way()

    # The cell starts a background step and then takes its own give_way(): the
    # background one waits until the cell ends, the cell's own returns at once.
    sys.__dict__["hfnb_give_way"] = (background, waited, threading)
    try:
        result = shell.run_cell(
            textwrap.dedent(
                """
                import sys, time
                _background, _waited, _threading = sys.__dict__["hfnb_give_way"]
                _thread = _threading.Thread(target=_background)
                _thread.start()
                _waited["main"] = __import__("hypofuzz_nb").cell_gate.give_way()
                time.sleep(0.3)
                """
            )
        )
        result.raise_error()
        deadline = time.monotonic() + 10
        while "background" not in waited and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sys.__dict__.pop("hfnb_give_way", None)
    assert waited["main"] == 0.0
    assert waited["background"] >= 0.3 - 0.05  # the cell's remaining sleep, at least


def _run_cell_with(shell: InteractiveShell, name: str, value: object, code: str) -> dict:
    """Run ``code`` as a cell with ``value`` reachable as ``sys.__dict__[name]``; return
    the shell's namespace."""
    sys.__dict__[name] = value
    try:
        shell.run_cell(textwrap.dedent(code)).raise_error()
    finally:
        sys.__dict__.pop(name, None)
    return shell.user_ns


def _database_of_two_tests(tmp_path):
    from hypothesis.database import DirectoryBasedExampleDatabase

    from hypofuzz_nb.store import Store

    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    for key in (b"a" * 48, b"b" * 48):
        Store(db).register_test(key)
    return db


def test_load_on_a_background_thread_waits_for_the_running_cell(tmp_path):
    # A dashboard's reload steps aside between tests while a cell runs: the reload
    # started in the cell finishes only after the cell, although it needs milliseconds.
    shell = InteractiveShell.instance()
    assert cell_gate.gate() is not None
    db = _database_of_two_tests(tmp_path)
    # Imported and run once before the cell: a first import of pandas can outlast the
    # cell's grace, after which background work runs beside the cell by design.
    assert len(hypofuzz_nb.load(db).tests) == 2
    ns = _run_cell_with(
        shell,
        "hfnb_load_db",
        db,
        """
        import sys, threading, time
        from hypofuzz_nb import load
        _done = {}
        def _reload():
            _done["tests"] = len(load(sys.__dict__["hfnb_load_db"]).tests)
            _done["at"] = time.monotonic()
        _thread = threading.Thread(target=_reload)
        _thread.start()
        _main_tests = len(load(sys.__dict__["hfnb_load_db"]).tests)  # the cell's own: at once
        time.sleep(0.3)
        _cell_end = time.monotonic()
        """,
    )
    ns["_thread"].join(10)
    assert ns["_main_tests"] == 2 and ns["_done"]["tests"] == 2
    assert ns["_done"]["at"] >= ns["_cell_end"]


def test_the_change_watcher_polls_after_the_running_cell(tmp_path):
    from hypofuzz_nb.watch import DatabaseWatcher

    shell = InteractiveShell.instance()
    assert cell_gate.gate() is not None
    db = _database_of_two_tests(tmp_path)
    seen: list[float] = []
    watcher = DatabaseWatcher(db, lambda _keys: seen.append(time.monotonic()), poll_interval=0.05)
    assert watcher.mode == "poll"
    with watcher:
        ns = _run_cell_with(
            shell,
            "hfnb_watch_db",
            db,
            """
            import sys, time
            from hypofuzz_nb.store import Store
            Store(sys.__dict__["hfnb_watch_db"]).register_test(b"c" * 48)
            time.sleep(0.5)  # ten poll intervals
            _cell_end = time.monotonic()
            """,
        )
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the watcher, not an assertion
    assert seen, "the change was never reported"
    assert seen[0] >= ns["_cell_end"]
