"""hypofuzz_nb.load: schemas, the HypoFuzz 25.11 fixture, merging, statuses, garbage."""

from __future__ import annotations

import shutil
import tarfile
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase

import hypofuzz_nb
from hypofuzz_nb.collect import collect_tests
from hypofuzz_nb.errors import DatabasePathError, SkippedValuesWarning
from hypofuzz_nb.frames import SCHEMAS, FuzzData, load
from hypofuzz_nb.records import (
    TEST_KEYS_KEY,
    FatalFailure,
    Observation,
    Report,
    SolverWork,
    WorkerIdentity,
    encode_choices,
    key_to_base64,
    reports_key,
    solver_key,
)
from hypofuzz_nb.store import Store

KEY_A = b"A" * 48
KEY_B = b"B" * 48


# Written by HypoFuzz itself; tests/fixtures/README.md says how.
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "hypofuzz-25.11-db.tar.gz"
FIXTURE_PROJECTS = Path(__file__).resolve().parent / "fixture_projects"


def assert_schemas(data: FuzzData) -> None:
    for name, schema in SCHEMAS.items():
        frame = getattr(data, name)
        assert list(frame.columns) == list(schema), name
        assert {col: frame[col].dtype for col in frame.columns} == schema, name


def report(
    key: bytes,
    worker: str,
    *,
    inputs: int,
    ts: float,
    behaviors: int = 0,
    fingerprints: int = 0,
    elapsed: float | None = None,
    nodeid: str = "t.py::test_a",
    phase: str = "generate",
) -> Report:
    return Report(
        database_key=key_to_base64(key),
        nodeid=nodeid,
        elapsed_time=inputs / 10 if elapsed is None else elapsed,
        timestamp=ts,
        worker_uuid=worker,
        status_counts={"0": 0, "1": 0, "2": inputs, "3": 0},
        behaviors=behaviors,
        fingerprints=fingerprints,
        since_new_behavior=None,
        phase=phase,
    )


def failing_observation(nodeid: str, representation: str) -> Observation:
    return Observation(
        status="failed",
        representation=representation,
        property=nodeid,
        run_start=1_790_000_000.0,
        status_reason="ValueError at t.py:3",
        metadata={
            "traceback": "Traceback (most recent call last):\n  ...\nValueError: bad <script>\n",
            "reproduction_decorator": "@reproduce_failure('6.170.17', b'AAE=')",
        },
    )


@pytest.fixture
def fixture_db(tmp_path) -> DirectoryBasedExampleDatabase:
    if not FIXTURE.exists():
        pytest.fail(f"missing {FIXTURE}: it is part of the repository, restore it with git")
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path / "db", filter="data")
    return DirectoryBasedExampleDatabase(tmp_path / "db")


def test_load_is_exported():
    assert hypofuzz_nb.load is load
    assert hypofuzz_nb.FuzzData is FuzzData


def test_hypofuzz_25_11_fixture_counts(fixture_db):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean database gives no warning
        data = load(fixture_db)
    assert_schemas(data)
    assert not data.skipped
    expected = {
        "tests/test_props.py::test_sort_idempotent": (39, 1),
        "tests/test_props.py::test_shallow_sum": (5, 0),
        "tests/test_props.py::test_json_roundtrip": (33, 1),
        "tests/test_deep.py::test_deep_ints": (26, 1),
        "tests/test_stateful.py::TestSetMachine::runTest": (23, 3),
        "tests/test_deep.py::test_deep_bytes": (44, 2),
    }
    assert sorted(data.tests.nodeid) == sorted(expected)
    assert len(data.reports) == 170
    assert data.reports.groupby("nodeid").size().to_dict() == {k: v[0] for k, v in expected.items()}
    corpus_counts = data.corpus.groupby("nodeid").size().to_dict()
    assert {k: corpus_counts.get(k, 0) for k in expected} == {k: v[1] for k, v in expected.items()}
    assert list(data.workers.uuid) == ["ce3b93a6cffc438b9e16e6f4c39b0e2a"]
    assert set(data.reports.worker) == {"ce3b93a6cffc438b9e16e6f4c39b0e2a"}
    assert (data.tests.n_workers == 1).all()

    failures = data.failures.set_index("state")
    assert sorted(data.failures.state) == ["shrunk", "unshrunk"]
    assert set(data.failures.nodeid) == {"tests/test_props.py::test_shallow_sum"}
    assert "xs=[1, 500, 500]" in failures.loc["shrunk", "representation"]
    assert "xs=[290, 148, 467, 499]" in failures.loc["unshrunk", "representation"]
    assert failures.loc["shrunk", "exception"] == "AssertionError"
    assert failures.loc["shrunk", "message"] == "sum too large: 1001"
    assert failures.loc["shrunk", "reproduction_decorator"].startswith("@reproduce_failure(")
    assert failures.loc["shrunk", "choices"] == (True, 1, True, 500, True, 500, False)

    status = dict(zip(data.tests.nodeid, data.tests.status, strict=True))
    assert status.pop("tests/test_props.py::test_shallow_sum") == "failed"
    assert set(status.values()) == {"idle"}  # written long ago, nothing recent
    # merged series are monotonic, and the last row is the tests table's row
    for nodeid, series in data.reports.groupby("nodeid"):
        assert series.timestamp.is_monotonic_increasing
        assert series.inputs.is_monotonic_increasing
        assert series.behaviors.is_monotonic_increasing
        row = data.tests.set_index("nodeid").loc[nodeid]
        assert row.inputs == series.inputs.iloc[-1]
        assert row.last_update == series.timestamp.iloc[-1]


def test_empty_database_keeps_schemas():
    data = load(InMemoryExampleDatabase())
    assert_schemas(data)
    assert all(len(getattr(data, name)) == 0 for name in SCHEMAS)


def test_solver_work_is_summed_over_workers_and_zero_where_the_solver_never_ran(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    one, other = Store(db), Store(db)
    for key in (KEY_A, KEY_B):
        one.register_test(key)
        one.save_report(key, report(key, "w" * 32, inputs=5, ts=1_790_000_000.0))
    one.save_solver_work(KEY_A, SolverWork("1" * 32, 3, 4.5, 20, 2, 1, "error: z3 gave up"))
    other.save_solver_work(KEY_A, SolverWork("2" * 32, 1, 1.0, 5, 1, 0, ""))
    # a worker saves its new record before deleting the old one: a reader sees both
    db.save(solver_key(KEY_A), SolverWork("2" * 32, 0, 0.0, 0, 0, 0, "").to_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load(db)
    assert_schemas(data)
    tests = data.tests.set_index("database_key")
    solved, untouched = tests.loc[key_to_base64(KEY_A)], tests.loc[key_to_base64(KEY_B)]
    columns = [
        "solver_calls",
        "solver_seconds",
        "solver_inputs",
        "solver_found",
        "solver_errors",
        "solver_error",
    ]
    assert list(solved[columns]) == [4, 5.5, 25, 3, 1, "error: z3 gave up"]
    assert list(untouched[columns]) == [0, 0.0, 0, 0, 0, ""]


def test_corrupt_solver_work_is_skipped_counted_and_warned():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.register_test(KEY_A)
    store.save_solver_work(KEY_A, SolverWork("1" * 32, 2, 1.0, 3, 1, 0, ""))
    good = SolverWork("2" * 32, 1, 1.0, 1, 0, 0, "").to_bytes()
    too_big = good.replace(b'"calls": 1', b'"calls": %d' % 2**63)
    for garbage in (b"{", b"[]", good.replace(b'"calls": 1', b'"calls": -1'), too_big):
        db.save(solver_key(KEY_A), garbage)
    with pytest.warns(SkippedValuesWarning, match="4 value"):
        data = load(db)
    assert data.skipped["solver_work"] == 4
    row = data.tests.iloc[0]
    assert (row.solver_calls, row.solver_inputs, row.solver_found) == (2, 3, 1)
    assert_schemas(data)


def test_known_test_without_reports_is_waiting():
    db = InMemoryExampleDatabase()
    Store(db).register_test(KEY_A)
    data = load(db)
    assert_schemas(data)
    row = data.tests.iloc[0]
    assert row.status == "waiting" and row.inputs == 0 and pd.isna(row.last_update)
    assert row.database_key == key_to_base64(KEY_A)


def test_multi_worker_out_of_order_reports_merge_into_one_monotonic_series():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.register_test(KEY_A)
    t = 1_790_000_000.0
    w1, w2 = "1" * 32, "2" * 32
    # w1 reports 10, 30, 60 inputs; w2 reports 5, 50. Saved in a scrambled order,
    # plus a late report of w1 with a timestamp after a larger one (clock skew).
    reports = [
        report(KEY_A, w1, inputs=30, ts=t + 3, behaviors=4, fingerprints=2),
        report(KEY_A, w2, inputs=50, ts=t + 4, behaviors=3, fingerprints=5),
        report(KEY_A, w1, inputs=10, ts=t + 1, behaviors=2, fingerprints=1),
        report(KEY_A, w2, inputs=5, ts=t + 2, behaviors=1, fingerprints=1),
        report(KEY_A, w1, inputs=60, ts=t + 5, behaviors=6, fingerprints=3),
        report(KEY_A, w1, inputs=40, ts=t + 6, behaviors=5, fingerprints=2),
    ]
    for r in reports:
        store.save_report(KEY_A, r)
    data = load(db)
    series = data.reports
    assert list(series.worker) == [w1, w2, w1, w2, w1, w1]
    assert list(series.inputs) == [10, 15, 35, 80, 110, 110]
    assert list(series.behaviors) == [2, 2, 4, 4, 6, 6]
    assert list(series.fingerprints) == [1, 1, 2, 5, 5, 5]
    assert series.elapsed_s.is_monotonic_increasing
    assert series.elapsed_s.iloc[-1] == pytest.approx(6.0 + 5.0)
    row = data.tests.iloc[0]
    assert (row.inputs, row.behaviors, row.fingerprints, row.n_workers) == (110, 6, 5, 2)
    assert row.inputs_per_s == pytest.approx(110 / 11.0)


def test_statuses(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    store = Store(db)
    now = time.time()
    keys = {
        name: bytes([i]) * 48
        for i, name in enumerate(
            ["running", "idle", "waiting", "failed", "fixed", "fatal"], start=1
        )
    }
    for name, key in keys.items():
        store.register_test(key)
        nodeid = f"t.py::test_{name}"
        if name != "waiting":
            ts = now - 1 if name == "running" else now - 3600
            store.save_report(key, report(key, "w" * 32, inputs=5, ts=ts, nodeid=nodeid))
    failed = encode_choices((1,))
    store.save_failure(
        keys["failed"], "shrunk", failed, failing_observation("t.py::test_failed", "f(x=1)")
    )
    fixed = encode_choices((2,))
    store.save_failure(
        keys["fixed"], "shrunk", fixed, failing_observation("t.py::test_fixed", "f(x=2)")
    )
    db.delete(keys["fixed"], fixed)  # plain Hypothesis: the example passes now
    store.save_fatal_failure(keys["fatal"], FatalFailure("t.py::test_fatal", "ImportError: no"))

    data = load(db)
    assert_schemas(data)
    by_key = dict(zip(data.tests.database_key, data.tests.status, strict=True))
    assert {name: by_key[key_to_base64(key)] for name, key in keys.items()} == {
        name: name for name in keys
    }
    failures = data.failures.set_index("nodeid")
    assert failures.loc["t.py::test_failed", "state"] == "shrunk"
    assert failures.loc["t.py::test_failed", "exception"] == "ValueError"
    assert failures.loc["t.py::test_failed", "message"] == "bad <script>"
    assert failures.loc["t.py::test_fixed", "state"] == "fixed"
    assert failures.loc["t.py::test_fixed", "representation"] == "f(x=2)"
    n_failures = dict(zip(data.tests.status, data.tests.n_failures, strict=True))
    assert n_failures["failed"] == 1 and n_failures["fixed"] == 0


def test_garbage_everywhere_is_skipped_counted_and_warned_once():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.register_test(KEY_A)
    store.register_worker(
        WorkerIdentity("w" * 32, "Linux", "3.11", "6.170", "hypofuzz_nb-0.1", 1, "h")
    )
    for i in range(3):
        store.save_report(KEY_A, report(KEY_A, "w" * 32, inputs=i, ts=1_790_000_000.0 + i))
    garbage = [b"\x80", b"{", b"[]", b'{"database_key": 1}', b"[" * 100_000]
    for key in (
        TEST_KEYS_KEY,
        b"hypofuzz.worker_uuids",
        b"hypofuzz.worker_identity." + b"w" * 32,
        reports_key(KEY_A),
        KEY_A + b".hypofuzz.fatal_failure",
        KEY_A + b".hypofuzz.corpus",
    ):
        for value in garbage:
            db.save(key, value)
    db.save(KEY_A, b"\xff")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(db)
    ours = [w for w in caught if issubclass(w.category, SkippedValuesWarning)]
    assert len(ours) == 1
    total = sum(data.skipped.values())
    assert f"skipped {total} value(s)" in str(ours[0].message)
    assert data.skipped["report"] == len(garbage)
    assert data.skipped["test_key"] == len(garbage)
    assert data.skipped["choices"] >= 1
    assert len(data.reports) == 3 and list(data.tests.inputs) == [2]
    assert len(data.workers) == 1
    assert_schemas(data)


def test_report_filed_under_another_key_is_not_mixed_in():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.register_test(KEY_A)
    store.save_report(KEY_A, report(KEY_A, "w" * 32, inputs=1, ts=1_790_000_000.0))
    store.save_report(KEY_A, report(KEY_B, "w" * 32, inputs=9, ts=1_790_000_001.0))
    with pytest.warns(SkippedValuesWarning):
        data = load(db)
    assert list(data.reports.inputs) == [1]


def test_database_path_that_is_a_file_is_a_clear_error(tmp_path):
    path = tmp_path / "examples"
    path.write_bytes(b"not a database")
    with pytest.raises(DatabasePathError, match="is a file, not a directory"):
        load(path)
    with pytest.raises(DatabasePathError, match="is a file"):
        load(DirectoryBasedExampleDatabase(path))
    with pytest.raises(DatabasePathError, match="does not exist"):
        load(tmp_path / "missing")
    assert path.read_bytes() == b"not a database"


def test_load_accepts_a_directory_path(fixture_db):
    assert len(load(str(fixture_db.path)).reports) == 170


def test_load_without_database_uses_the_profile_database(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    db_dir = tmp_path / "profile-db"
    (project / "conftest.py").write_text(
        "from hypothesis import settings\n"
        "from hypothesis.database import DirectoryBasedExampleDatabase\n"
        f"settings.register_profile('team', database=DirectoryBasedExampleDatabase({str(db_dir)!r}))\n"
        "settings.load_profile('team')\n"
    )
    (project / "test_x.py").write_text(
        "from hypothesis import given, strategies as st\n"
        "@given(st.integers())\ndef test_x(x):\n    pass\n"
    )
    with collect_tests(rootdir=project) as collection:
        (key,) = [t.database_key for t in collection.targets]
    store = Store(DirectoryBasedExampleDatabase(db_dir))
    store.register_test(key)
    store.save_report(
        key, report(key, "w" * 32, inputs=7, ts=1_790_000_000.0, nodeid="test_x.py::test_x")
    )
    monkeypatch.chdir(project)
    data = load(paths=[str(project)])
    assert list(data.tests.nodeid) == ["test_x.py::test_x"]
    assert list(data.tests.inputs) == [7]


def test_load_with_paths_lists_every_collected_test_started_or_not(tmp_path, monkeypatch):
    # A project whose ini addopts deselect its property tests: load() lists what the
    # fuzzer would fuzz there, the never-started ones as "waiting", under their keys.
    project = tmp_path / "not_property"
    shutil.copytree(FIXTURE_PROJECTS / "not_property", project)
    with collect_tests(rootdir=project) as collection:
        keys = {t.nodeid: t.database_key for t in collection.targets}
    assert set(keys) == {
        "tests/test_sorting.py::test_sorted_is_ordered",
        "tests/test_sorting.py::test_sorted_keeps_length",
    }
    started = "tests/test_sorting.py::test_sorted_is_ordered"
    store = Store(DirectoryBasedExampleDatabase(project / ".hypothesis-db"))
    store.register_test(keys[started])
    store.save_report(
        keys[started],
        report(keys[started], "w" * 32, inputs=40, behaviors=3, ts=time.time(), nodeid=started),
    )
    # Something fuzzed before under a key no collected test has any more: still listed.
    store.register_test(KEY_B)
    store.save_report(KEY_B, report(KEY_B, "w" * 32, inputs=5, ts=1_790_000_000.0))
    monkeypatch.chdir(project)
    data = load(paths=["tests"])
    assert_schemas(data)
    tests = data.tests.set_index("nodeid")
    assert set(tests.index) == {*keys, "t.py::test_a"}
    never = "tests/test_sorting.py::test_sorted_keeps_length"
    waiting = tests.loc[never]
    assert waiting.status == "waiting"
    assert waiting.database_key == key_to_base64(keys[never])
    assert [waiting.inputs, waiting.behaviors, waiting.n_workers, waiting.n_failures] == [0] * 4
    assert pd.isna(waiting.last_update)
    running = tests.loc[started]
    assert running.status == "running"
    assert (running.inputs, running.behaviors) == (40, 3)
    assert running.database_key == key_to_base64(keys[started])
    # With a database given, tests come from the database only, as before.
    assert set(load(project / ".hypothesis-db").tests.nodeid) == {started, "t.py::test_a"}


def test_many_tests_with_garbage_load_the_same_as_few(tmp_path):
    # 30 tests: enough for load() to read ahead in a helper process
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    store = Store(db)
    keys = [bytes([i]) * 48 for i in range(1, 31)]
    for n, key in enumerate(keys):
        store.register_test(key)
        for i in range(n % 4):
            store.save_report(
                key, report(key, "w" * 32, inputs=i + 1, ts=1_790_000_000.0 + i, nodeid=f"t::{n}")
            )
    db.save(reports_key(keys[5]), b"{garbage")
    # solver work on two tests, read in the same read-ahead as the reports
    store.save_solver_work(keys[3], SolverWork("w" * 32, 2, 1.0, 4, 1, 0, ""))
    store.save_solver_work(keys[29], SolverWork("w" * 32, 5, 2.0, 9, 0, 0, ""))
    with pytest.warns(SkippedValuesWarning):
        data = load(db)
    assert data.skipped["report"] == 1
    assert len(data.tests) == 30
    assert len(data.reports) == sum(n % 4 for n in range(30))
    tests = data.tests.set_index("nodeid")
    assert list(tests.loc[["t::3", "t::7"], "inputs"]) == [3, 3]
    assert list(tests.loc[["t::3", "t::7", "t::29"], "solver_calls"]) == [2, 0, 5]


def test_numbers_too_big_for_the_columns_are_skipped():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.register_test(KEY_A)
    store.save_report(KEY_A, report(KEY_A, "w" * 32, inputs=3, ts=1_790_000_000.0))
    store.save_report(
        KEY_A, report(KEY_A, "w" * 32, inputs=4, ts=1_790_000_001.0, behaviors=10**30)
    )
    huge_time = report(KEY_A, "w" * 32, inputs=5, ts=1_790_000_002.0).to_bytes()
    db.save(reports_key(KEY_A), huge_time.replace(b"1790000002.0", b"1" + b"0" * 400))
    with pytest.warns(SkippedValuesWarning):
        data = load(db)
    assert list(data.reports.inputs) == [3]
    assert data.skipped["report"] == 2


def test_huge_since_new_behavior_is_shown_as_unknown():
    db = InMemoryExampleDatabase()
    Store(db).register_test(KEY_A)
    raw = report(KEY_A, "w" * 32, inputs=3, ts=1_790_000_000.0).to_bytes()
    db.save(
        reports_key(KEY_A),
        raw.replace(b'"since_new_behavior": null', b'"since_new_behavior": ' + b"9" * 30),
    )
    data = load(db)
    assert pd.isna(data.tests.since_new_behavior.iloc[0]) and data.tests.inputs.iloc[0] == 3


def test_out_of_range_times_and_pids_do_not_break_load():
    db = InMemoryExampleDatabase()
    store = Store(db)
    store.register_test(KEY_A)
    for ts in (1e300, 1_790_000_000.0):
        store.save_report(KEY_A, report(KEY_A, "w" * 32, inputs=int(ts % 7), ts=ts))
    raw = report(KEY_A, "v" * 32, inputs=1, ts=1.0).to_bytes()
    db.save(reports_key(KEY_A), raw.replace(b'"timestamp": 1.0', b'"timestamp": NaN'))
    obs = Observation(status="failed", representation="r", property="t.py::test_a", run_start=1e300)
    store.save_failure(KEY_A, "shrunk", encode_choices((1,)), obs)
    identity = WorkerIdentity("w" * 32, "Linux", "3.11", "6.170", "hypofuzz_nb-0.1", 10**30, "h")
    store.register_worker(identity)
    with pytest.warns(SkippedValuesWarning):
        data = load(db)
    assert_schemas(data)
    assert len(data.reports) == 3
    assert data.reports.timestamp.isna().sum() == 2
    assert data.failures.first_seen.isna().all()
    assert len(data.workers) == 0 and data.skipped["worker_identity"] == 1


def test_loading_a_directory_database_does_not_import_redis(tmp_path):
    # Importing redis costs a first load() ~0.15 s; nothing but a Redis database needs it.
    import subprocess
    import sys

    code = (
        "import sys; import hypofuzz_nb.frames as frames; "
        f"frames.load({str(tmp_path / 'db')!r}); print('redis' in sys.modules)"
    )
    (tmp_path / "db").mkdir()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
