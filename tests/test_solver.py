"""The solver (hypofuzz_nb.solver, solver_child): CrossHair breaks an arithmetic gate
that mutation cannot, what it finds is replayed by plain pytest without CrossHair, and
neither a missing extra nor a crashing or overrunning solver child stops fuzzing.

Real parts: projects in tmp_path collected by real pytest, fuzzed by ``fuzz()``, and a
fresh ``pytest`` subprocess in which ``import crosshair`` fails. The plateau thresholds
and the share are lowered (monkeypatched) so that a call comes within seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from fuzz_projects import (
    make_project,
    project_database,
    restore_hypothesis_profile,  # noqa: F401 (an autouse fixture)
    wait_until,
)

from hypofuzz_nb import records, solver, solver_child
from hypofuzz_nb.errors import WorkerError
from hypofuzz_nb.frames import load
from hypofuzz_nb.session import fuzz
from hypofuzz_nb.store import Store

pytestmark = pytest.mark.skipif(
    not solver.solver_available(), reason="needs the solver extra (hypothesis-crosshair)"
)

GATE = """
from hypothesis import given, strategies as st

def gate(a, b):
    if a * 7919 + 104729 == b * 3 + 12345:
        if a % 1009 == 17:
            return True
    return False

@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_gate(a, b):
    assert not gate(a, b)
"""

PLAIN = """
from hypothesis import given, strategies as st

@given(st.integers(0, 1000))
def test_plain(x):
    assert x >= 0
"""

#: A sitecustomize that makes CrossHair (and z3) impossible to import.
NO_CROSSHAIR = "import sys\nsys.modules['crosshair'] = None\nsys.modules['z3'] = None\n"


@pytest.fixture
def quick_plateaus(monkeypatch):
    """A plateau after 1 s and 200 inputs, half the time for the solver."""
    monkeypatch.setattr(solver, "PLATEAU_SECONDS", 1.0)
    monkeypatch.setattr(solver, "PLATEAU_INPUTS", 200)
    monkeypatch.setattr(solver, "SHARE", 0.5)


def _solver_work(database) -> list[records.SolverWork]:
    store = Store(database, read_only=True)
    return [w for key in store.test_keys() for w in store.solver_work(key)]


def test_solver_finds_the_gate_and_plain_pytest_replays_it_without_crosshair(
    tmp_path, monkeypatch, quick_plateaus
):
    project = make_project(tmp_path, {"test_gate.py": GATE, "test_plain.py": PLAIN}, "solver-gate")
    # only the gate is fuzzed; load() lists the plain test too, as collected
    session = fuzz([str(project / "test_gate.py")], solver=True, max_time=120, exitfirst=True)
    try:
        assert session.solver
        assert session.wait(timeout=150)
    finally:
        session.stop()
    status = session.status()
    assert status.n_failing_tests == 1, status
    database = project_database(project)
    store = Store(database, read_only=True)
    (key,) = store.test_keys()
    shrunk = [f for f in store.failures(key) if f.state == "shrunk"]
    assert shrunk and shrunk[0].choices is not None
    a, b = shrunk[0].choices
    assert a * 7919 + 104729 == b * 3 + 12345 and a % 1009 == 17
    (work,) = store.solver_work(key)
    assert work.calls >= 1 and work.found >= 1 and work.inputs >= 1 and work.seconds > 0
    monkeypatch.chdir(project)
    tests = load(paths=[str(project)]).tests.set_index("nodeid")
    gate, plain = tests.loc["test_gate.py::test_gate"], tests.loc["test_plain.py::test_plain"]
    assert (gate.solver_calls, gate.solver_found) == (work.calls, work.found)
    assert gate.solver_inputs == work.inputs and gate.solver_seconds == work.seconds
    assert (plain.solver_calls, plain.solver_seconds, plain.solver_found) == (0, 0.0, 0)

    blocker = tmp_path / "no_crosshair"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(NO_CROSSHAIR)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]),
    }
    check = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert check.returncode == 1, check.stdout + check.stderr
    assert "test_gate" in check.stdout and "AssertionError" in check.stdout


def test_without_the_extra_fuzzing_goes_on_and_says_the_solver_is_off(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "crosshair", None)
    assert not solver.solver_available()
    project = make_project(tmp_path, {"test_plain.py": PLAIN}, "solver-off")
    with pytest.raises(WorkerError, match="solver extra"):
        fuzz([str(project)], solver=True, max_time=1)
    session = fuzz([str(project)], max_time=2)
    assert session.wait(timeout=60)
    assert not session.solver
    (note,) = [n for n in session.collection_notes if "solver" in n]
    assert "solver off" in note and solver.INSTALL_HINT in note
    assert session.status().inputs > 0 and session.error is None


def test_with_the_extra_the_solver_is_off_unless_asked_for(tmp_path):
    project = make_project(tmp_path, {"test_plain.py": PLAIN}, "solver-default")
    session = fuzz([str(project)], max_time=1)
    assert session.wait(timeout=60)
    assert not session.solver
    (note,) = [n for n in session.collection_notes if "solver" in n]
    assert "pass --solver" in note


def _crash(*args, **kwargs):
    os._exit(7)


def _overrun(*args, **kwargs):
    time.sleep(600)


@pytest.mark.parametrize(
    ("child", "error"),
    [(_crash, "exited with code 7"), (_overrun, None)],
    ids=["crash", "overrun"],
)
def test_a_crashing_or_overrunning_solver_child_does_not_stop_fuzzing(
    tmp_path, monkeypatch, quick_plateaus, child, error
):
    monkeypatch.setattr(solver_child, "run_in_child", child)
    monkeypatch.setattr(solver, "FIRST_CALL_SECONDS", 0.5)
    project = make_project(tmp_path, {"test_plain.py": PLAIN}, f"solver-{child.__name__}")
    database = project_database(project)
    session = fuzz([str(project)], solver=True, max_time=30)
    try:
        assert wait_until(lambda: _solver_work(database), seconds=25)
        inputs = session.status().inputs
        assert wait_until(lambda: session.status().inputs > inputs + 500, seconds=10)
        assert session.running and session.error is None
    finally:
        session.stop()
        session.wait(timeout=30)
    (work,) = _solver_work(database)
    assert work.calls >= 1 and work.found == 0
    if error is None:  # killed at the end of its budget: normal, never a hang
        assert work.errors == 0
    else:
        assert work.errors >= 1 and error in work.last_error
    (test,) = session.status().tests
    assert test.n_timeouts == 0 and test.n_failures == 0 and test.fatal is None


def test_due_only_on_a_plateau_and_within_the_share_backing_off_when_fruitless():
    s = solver.Solver(store=None, key=b"k" * 48, worker_uuid="w")
    assert not s.due(1000.0, solver.PLATEAU_INPUTS - 1, 1000.0)
    assert not s.due(1000.0, 10**6, solver.PLATEAU_SECONDS - 1)
    assert s.due(1000.0, 10**6, 1000.0)
    # within the share: the whole call must fit in SHARE of the test's time
    budget = solver.FIRST_CALL_SECONDS
    assert not s.due(budget * (1 / solver.SHARE - 1) - 1, 10**6, 1000.0)

    class Store:
        saved: list = []

        def save_solver_work(self, key, work):
            self.saved.append(work)

    s.store = Store()
    s.credit(0)
    assert s.fruitless == 1 and s.budget() == 2 * budget and s.share() == solver.SHARE / 2
    s.credit(3)
    assert s.fruitless == 0 and Store.saved[-1].found == 3


def test_solver_work_record_round_trips_and_rejects_garbage():
    work = records.SolverWork("w-1", 2, 3.5, 10, 1, 1, "error: boom")
    assert records.SolverWork.from_bytes(work.to_bytes()) == work
    for bad in (b"", b"[]", b"{}", work.to_bytes().replace(b'"calls": 2', b'"calls": -1')):
        assert records.SolverWork.from_bytes(bad) is None
    assert records.solver_key(b"K" * 48) == b"K" * 48 + b".hypofuzz_nb.solver"


def test_store_keeps_one_solver_work_record_per_worker():
    from hypothesis.database import InMemoryExampleDatabase

    db = InMemoryExampleDatabase()
    key = b"K" * 48
    one, other = Store(db), Store(db)
    one.save_solver_work(key, records.SolverWork("w-1", 1, 1.0, 1, 0, 0, ""))
    one.save_solver_work(key, records.SolverWork("w-1", 2, 2.0, 1, 0, 0, ""))
    other.save_solver_work(key, records.SolverWork("w-2", 1, 1.0, 1, 1, 0, ""))
    assert [(w.worker_uuid, w.calls) for w in Store(db).solver_work(key)] == [
        ("w-1", 2),
        ("w-2", 1),
    ]


def test_solver_option_parses_on_off_and_default_off_both_surfaces():
    import argparse

    from hypofuzz_nb.options import COMMAND, MAGIC, add_options, usage

    for surface in (COMMAND, MAGIC):
        parser = add_options(argparse.ArgumentParser(), surface)
        assert parser.parse_args([]).solver is None
        assert parser.parse_args(["--solver"]).solver is True
        assert parser.parse_args(["--no-solver"]).solver is False
        assert "[--[no-]solver]" in usage("prog", surface)


def test_solver_note_sums_the_tests_and_says_nothing_before_a_call():
    import dataclasses

    from hypofuzz_nb.status import SessionStatus, TestStatus
    from hypofuzz_nb.summary import solver_note

    test = TestStatus("t::a", "", "generate", 10, 1, 1, 0, 1.0, 10.0, 0, False)
    status = SessionStatus(tests=(test,), running=True, elapsed_s=1.0, workers=1)
    assert solver_note(status) == "" and "solver" not in status.headline()
    solved = dataclasses.replace(test, solver_calls=2, solver_s=1.5, solver_found=1)
    status = SessionStatus(tests=(solved, solved), running=True, elapsed_s=1.0, workers=1)
    assert solver_note(status) == "solver: 4 calls, 3.0 s, 2 found"
    assert solver_note(status) in status.headline()
