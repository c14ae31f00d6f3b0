"""hypofuzz_nb.session: fuzz(), its argument checks and FuzzSession in this process.

Projects are real test files written into tmp_path, collected by real pytest; the
replay checks run plain pytest in a subprocess.
"""

from __future__ import annotations

import os
import textwrap
import time

import pytest
from fuzz_projects import (
    RICH,
    SHALLOW,
    by_nodeid,
    make_project,
    outage,
    project_database,
    restore_hypothesis_profile,  # noqa: F401 (an autouse fixture)
    run_pytest,
    wait_until,
)
from hypothesis.database import InMemoryExampleDatabase

from hypofuzz_nb import records
from hypofuzz_nb.errors import HypofuzzNbError, WorkerError
from hypofuzz_nb.fuzz_loop import BATCH_SIZE
from hypofuzz_nb.session import FuzzSession, fuzz


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"workers": 0}, "workers must be at least 1"),
        ({"workers": True}, "workers must be a whole number"),
        ({"max_time": -1}, "max_time must be a finite number of seconds, more than 0"),
        ({"max_time": float("inf")}, "max_time must be a finite number of seconds"),
        ({"max_examples": 0}, "max_examples must be at least 1"),
        ({"timeout": 0}, "timeout must be a finite number of seconds, more than 0"),
        ({"timeout": "5"}, "timeout must be a number of seconds"),
        ({"seed": "1"}, "seed must be an integer or None"),
        ({"seed": 1.5}, "seed must be an integer or None"),
        ({"targets": [], "workers": 2}, "targets= can only be fuzzed with workers=1"),
        ({"targets": []}, "targets= holds no fuzzable tests"),
    ],
)
def test_bad_arguments_get_one_clear_message(kwargs, message):
    with pytest.raises(WorkerError, match=message):
        fuzz(**kwargs)


def test_fuzz_finds_a_failure_that_plain_pytest_then_replays(tmp_path):
    project = make_project(tmp_path, {"test_shallow_w1.py": SHALLOW}, "w1")
    session = fuzz([project / "test_shallow_w1.py"], max_time=120, max_examples=1000)
    assert isinstance(session, FuzzSession)
    assert session.wait(150), "the session should end by itself"
    assert session.error is None, session.status().error
    tests = by_nodeid(session.status())
    assert tests["test_small"].n_failures >= 1 and tests["test_small"].finished
    assert tests["test_sorting_twice"].n_failures == 0
    assert tests["test_sorting_twice"].inputs >= 1000  # the per-test budget was used up
    assert session.n_failing_tests == 1 and not session.running

    db = project_database(project)
    uuids = [v.decode() for v in db.fetch(records.WORKER_UUIDS_KEY)]
    assert len(uuids) == 1
    identity = records.WorkerIdentity.from_bytes(
        next(iter(db.fetch(records.worker_identity_key(uuids[0]))))
    )
    assert identity is not None and identity.pid == os.getpid()

    replay = run_pytest(project, "test_shallow_w1.py")
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "1 failed, 1 passed" in replay.stdout
    assert "x=1000" in replay.stdout  # the shrunk example, replayed first


def test_stop_ends_a_session_without_a_time_limit(tmp_path):
    project = make_project(tmp_path, {"test_shallow_w2.py": SHALLOW}, "w2")
    session = fuzz(
        [project / "test_shallow_w2.py"],
        pytest_args=["-k", "sorting"],
        database=InMemoryExampleDatabase(),
    )
    assert wait_until(lambda: session.status().inputs >= BATCH_SIZE)
    assert session.running
    session.stop()
    assert session.wait(5)
    before = session.status()
    assert not before.running and before.n_failing_tests == 0
    assert [t.nodeid.split("::")[-1] for t in before.tests] == ["test_sorting_twice"]
    time.sleep(0.3)  # nothing runs any more: the snapshot does not change
    assert session.status().inputs == before.inputs


def test_a_given_database_overrides_the_profile_for_every_test(tmp_path):
    project = make_project(tmp_path, {"test_shallow_w3.py": SHALLOW}, "w3")
    db = InMemoryExampleDatabase()
    session = fuzz([project / "test_shallow_w3.py"], database=db, max_examples=200)
    assert session.wait(120)
    assert session.database is db
    assert len(list(db.fetch(records.TEST_KEYS_KEY))) == 2
    assert not (project / ".hypothesis").exists()


def test_targets_keyword_fuzzes_tests_defined_in_a_namespace():
    from hypofuzz_nb.notebook_tests import collect_namespace

    namespace: dict = {"__name__": "__main__"}
    exec(
        textwrap.dedent(
            """
            from hypothesis import given, strategies as st

            @given(st.text())
            def test_upper_lower(s):
                assert s.upper().lower() == s.lower().upper().lower() or True

            @given(st.integers(0, 100))
            def test_bounded(x):
                assert x != 77
            """
        ),
        namespace,
    )
    collection = collect_namespace(namespace, notebook_name="nb")
    assert len(collection.targets) == 2
    db = InMemoryExampleDatabase()
    session = fuzz(targets=collection, database=db, max_examples=2000, max_time=120)
    assert session.wait(150)
    tests = by_nodeid(session.status())
    assert tests["test_bounded"].n_failures >= 1
    assert tests["test_upper_lower"].n_failures == 0
    bounded = next(t for t in collection.targets if t.nodeid.endswith("test_bounded"))
    assert list(db.fetch(bounded.database_key))  # the failure is saved under K


def test_worker_processes_refuse_a_database_they_cannot_share(tmp_path):
    project = make_project(tmp_path, {"test_shallow_w8.py": SHALLOW}, "w8")
    with pytest.raises(WorkerError, match="InMemoryExampleDatabase lives in one process"):
        fuzz([project / "test_shallow_w8.py"], workers=2, database=InMemoryExampleDatabase())


def test_a_collection_error_is_raised_with_the_users_message(tmp_path):
    project = make_project(tmp_path, {"test_broken_w4.py": "import no_such_module_hfnb_w4\n"}, "w4")
    with pytest.raises(HypofuzzNbError, match="no_such_module_hfnb_w4"):
        fuzz([project / "test_broken_w4.py"], max_time=5)


@pytest.mark.redis
def test_a_worker_thread_fuzzes_through_a_redis_outage_and_writes_it_all_after(
    make_redis_server, tmp_path
):
    from hypofuzz_nb.redis_url import redis_database_from_url

    server = make_redis_server()
    project = make_project(tmp_path, {"test_rich_w8.py": RICH}, "w8")
    database = redis_database_from_url(server.url)
    session = fuzz([project / "test_rich_w8.py"], database=database, max_time=240)
    try:
        outage(session, server, database)
    finally:
        session.stop()
    assert session.wait(30)
    assert session.error is None, session.status().error


SEEDED = """
from hypothesis import given, strategies as st

@given(st.lists(st.integers(0, 50)), st.text(max_size=4))
def test_seeded(xs, s):
    if len(xs) > 3 and xs[0] == 7:
        if s:
            pass
"""


def test_the_same_seed_fuzzes_the_same_inputs(tmp_path):
    from hypofuzz_nb.store import Store

    project = make_project(tmp_path, {"test_seeded.py": SEEDED}, tag="seeded")

    def corpus(seed: int) -> list[bytes]:
        database = InMemoryExampleDatabase()
        session = fuzz([str(project)], max_examples=300, database=database, seed=seed)
        assert session.wait(300)
        assert session.error is None
        (test,) = session.status().tests
        return sorted(
            v for v, _ in Store(database).corpus(records.key_from_base64(test.database_key))
        )

    first = corpus(7)
    assert first and corpus(7) == first
    assert corpus(8) != first
