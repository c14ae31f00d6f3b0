"""hypofuzz_nb.processes: worker processes, their shares, crashes, hangs and stop.

Projects are real test files written into tmp_path, collected by real pytest; the
replay checks run plain pytest in a subprocess.
"""

from __future__ import annotations

import pytest
from fuzz_projects import (
    REDIS_CONFTEST,
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

from hypofuzz_nb import records
from hypofuzz_nb.processes import worker_share
from hypofuzz_nb.session import fuzz


def test_share_partitions_round_robin_and_shares_when_workers_outnumber_tests():
    class T:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    targets = [T(n) for n in "edcba"]
    shares = [[t.nodeid for t in worker_share(targets, i, 2)] for i in range(2)]
    assert shares == [["a", "c", "e"], ["b", "d"]]
    assert [[t.nodeid for t in worker_share(targets[:2], i, 4)] for i in range(4)] == [
        ["d"],
        ["e"],
        ["d"],
        ["e"],
    ]


KILLER = """
import os, signal
from hypothesis import given, strategies as st

@given(st.integers(0, 20))
def test_killer(x):
    if x == 13:
        os.kill(os.getpid(), signal.SIGKILL)

@given(st.lists(st.integers()))
def test_fine(xs):
    assert len(xs) >= 0
"""


def test_worker_processes_survive_a_killed_worker_and_save_its_input(tmp_path):
    project = make_project(tmp_path, {"test_killer_w5.py": KILLER}, "w5")
    session = fuzz([project / "test_killer_w5.py"], workers=2, max_time=90, max_examples=3000)
    assert session.wait(150)
    status = session.status()
    assert status.error is None, status.error
    assert status.restarts >= 1
    tests = by_nodeid(status)
    assert tests["test_killer"].n_failures == 1 and tests["test_killer"].finished
    assert tests["test_fine"].n_failures == 0 and tests["test_fine"].inputs >= 1000

    # The input that killed the worker is under the test's own key: plain pytest
    # replays it first, and dies the same way.
    replay = run_pytest(project, "test_killer_w5.py", "-k", "killer")
    assert replay.returncode == -9, replay.stdout + replay.stderr


HANGER = """
import time
from hypothesis import given, strategies as st

@given(st.integers(0, 20))
def test_hanger(x):
    if x == 7:
        time.sleep(3600)  # in C: the engine's in-process timeout cannot interrupt it
"""


def test_a_hung_worker_process_is_killed_restarted_and_the_input_kept(tmp_path):
    from hypofuzz_nb.records import timeouts_key

    project = make_project(tmp_path, {"test_hanger_w7.py": HANGER}, "w7")
    session = fuzz([project / "test_hanger_w7.py"], workers=2, timeout=1, max_time=60)
    try:
        assert wait_until(lambda: session.status().restarts >= 1, seconds=90)
    finally:
        session.stop()
    assert session.wait(30)
    status = session.status()
    assert status.error is None, status.error
    hanger = status.tests[0]
    assert hanger.n_timeouts >= 1 and hanger.n_failures == 0
    key = records.key_from_base64(hanger.database_key)
    saved = [records.decode_choices(v) for v in project_database(project).fetch(timeouts_key(key))]
    assert (7,) in saved
    assert not list(project_database(project).fetch(key))  # never where plain pytest replays


def test_stop_ends_worker_processes(tmp_path):
    project = make_project(tmp_path, {"test_shallow_w6.py": SHALLOW}, "w6")
    session = fuzz([project / "test_shallow_w6.py"], workers=2, pytest_args=["-k", "sorting"])
    try:
        assert wait_until(lambda: session.status().inputs > 0, seconds=60)
    finally:
        session.stop()
    assert session.wait(30)
    assert session.error is None
    assert session.status().n_failing_tests == 0


@pytest.mark.redis
def test_worker_processes_fuzz_through_a_redis_outage_and_report_the_buffer(
    make_redis_server, tmp_path, monkeypatch
):
    from hypofuzz_nb.redis_url import redis_database_from_url

    server = make_redis_server()
    monkeypatch.setenv("HFNB_TEST_REDIS_URL", server.url)
    project = make_project(tmp_path, {"test_rich_w9.py": RICH}, "w9")
    (project / "conftest.py").write_text(REDIS_CONFTEST.format(tag="w9"))
    session = fuzz([project / "test_rich_w9.py"], workers=2, max_time=240)
    try:
        outage(session, server, redis_database_from_url(server.url))
    finally:
        session.stop()
    assert session.wait(30)
    assert session.error is None, session.status().error
    assert session.status().restarts == 0
