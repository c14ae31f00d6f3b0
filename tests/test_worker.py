"""hypofuzz_nb.worker: fuzz(), FuzzSession, the scheduler, worker processes.

Projects are real test files written into tmp_path, collected by real pytest; the
replay checks run plain pytest in a subprocess.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase

from hypofuzz_nb import _compat, records
from hypofuzz_nb.errors import HypofuzzNbError, WorkerError
from hypofuzz_nb.status import SessionStatus, TestStatus, merge_statuses
from hypofuzz_nb.worker import (
    BATCH_SIZE,
    FuzzSession,
    Scheduler,
    _InputWatcher,
    _share,
    fuzz,
    worker_identity,
)

CONFTEST = """
from pathlib import Path
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile(
    "project-{tag}",
    database=DirectoryBasedExampleDatabase(Path(__file__).resolve().parent / ".hypothesis" / "examples"),
    deadline=None,
)
settings.load_profile("project-{tag}")
"""


@pytest.fixture(autouse=True)
def _restore_hypothesis_profile():
    """Collecting a project loads its profile in this process: put ours back after."""
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


def make_project(tmp_path: Path, files: dict[str, str], tag: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "conftest.py").write_text(CONFTEST.format(tag=tag))
    for name, text in files.items():
        (project / name).write_text(textwrap.dedent(text))
    return project


def project_database(project: Path) -> DirectoryBasedExampleDatabase:
    return DirectoryBasedExampleDatabase(project / ".hypothesis" / "examples")


def run_pytest(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(predicate, *, seconds: float = 60.0) -> bool:
    """Poll ``predicate`` until it holds or ``seconds`` pass (bounded by time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def by_nodeid(status: SessionStatus) -> dict[str, TestStatus]:
    return {t.nodeid.split("::")[-1]: t for t in status.tests}


# Pure parts -------------------------------------------------------------------------


def test_scheduler_prefers_the_test_that_finds_behaviours_but_starves_none():
    scheduler = Scheduler(3, fair_every=3)
    picks = []
    for _ in range(300):
        chosen = scheduler.pick([0, 1, 2])
        picks.append(chosen)
        scheduler.record(chosen, 100, 10 if chosen == 0 else 0)
    assert picks[:3] and set(picks[:3]) == {0, 1, 2}  # every test runs once first
    assert picks.count(0) > picks.count(1) + picks.count(2)
    # never starved: each test runs at least once in every window of 2 * 3 picks
    for start in range(3, len(picks) - 6):
        assert {1, 2} <= set(picks[start : start + 6]), start


def test_scheduler_refuses_an_empty_choice():
    with pytest.raises(ValueError, match="nothing to schedule"):
        Scheduler(1).pick([])


def _shares(scheduler: Scheduler, n: int, picks: int, batch) -> list[float]:
    """Run ``picks`` simulated batches; ``batch(index, own_batches) -> (seconds, new)``."""
    seconds = [0.0] * n
    own = [0] * n
    for _ in range(picks):
        chosen = scheduler.pick(list(range(n)))
        own[chosen] += 1
        cost, new = batch(chosen, own[chosen])
        scheduler.record(chosen, 100, new, seconds=cost)
        seconds[chosen] += cost
    return [s / sum(seconds) for s in seconds]


def test_scheduler_keeps_time_on_a_test_still_climbing_a_chain():
    # Test 0 finds its next step every 40 of its batches (4 s of its own time); the
    # other four found everything at once. Counted over a window of recent batches,
    # test 0 looks like the others between its finds and gets a fifth of the time.
    shares = _shares(
        Scheduler(5, fair_every=3),
        5,
        2000,
        lambda i, k: (0.1, 1 if (i == 0 and k % 40 == 0) or k == 1 else 0),
    )
    assert shares[0] > 0.5
    assert min(shares[1:]) > 0.05  # the fair share of time still reaches every test


def test_scheduler_fair_share_is_a_share_of_the_time_not_of_the_picks():
    # Test 0 finds something in every 0.05 s batch; test 1 finds nothing in 2 s
    # batches. A third of the picks would give test 1 nearly all the time.
    shares = _shares(
        Scheduler(2, fair_every=3), 2, 300, lambda i, k: (0.05, 1) if i == 0 else (2.0, 0)
    )
    assert shares[0] > 0.6
    assert shares[1] > 0.25


def _status(nodeid: str, **kw) -> TestStatus:
    fields = dict(
        nodeid=nodeid,
        database_key="AA==",
        phase="generate",
        inputs=10,
        behaviors=3,
        fingerprints=2,
        since_new_behavior=5,
        elapsed_s=1.0,
        inputs_per_s=10.0,
        n_failures=0,
        finished=False,
    )
    fields.update(kw)
    return TestStatus(**fields)


def test_merge_statuses_sums_inputs_of_workers_sharing_a_test():
    merged = merge_statuses(
        [
            _status("b"),
            _status("a", inputs=5, behaviors=7, since_new_behavior=None),
            _status("a", inputs=6, behaviors=4, n_failures=1, phase="failed", finished=True),
        ]
    )
    assert [t.nodeid for t in merged] == ["a", "b"]
    a = merged[0]
    assert (a.inputs, a.behaviors, a.n_failures, a.phase) == (11, 7, 1, "failed")
    assert a.since_new_behavior == 5
    assert a.finished is False  # one of the two workers is still on it


def test_session_status_counts_and_frame():
    status = SessionStatus(
        tests=(_status("a", n_failures=2), _status("b", fatal="boom"), _status("c")),
        running=False,
        elapsed_s=3.0,
        workers=1,
    )
    assert status.failures == 2
    assert status.inputs == 30
    frame = status.as_frame()
    assert list(frame["nodeid"]) == ["a", "b", "c"]
    assert list(frame.columns)[:4] == ["nodeid", "database_key", "phase", "inputs"]


def test_worker_identity_round_trips_and_names_our_version(monkeypatch):
    monkeypatch.setenv("POD_NAME", "fuzzer-0")
    monkeypatch.delenv("POD_IP", raising=False)
    identity = worker_identity("abc123")
    assert identity.hypofuzz_version.startswith("hypofuzz_nb-")
    assert identity.pid == os.getpid()
    assert identity.pod_name == "fuzzer-0" and identity.pod_ip is None
    assert records.WorkerIdentity.from_bytes(identity.to_bytes()) == identity


def test_share_partitions_round_robin_and_shares_when_workers_outnumber_tests():
    class T:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    targets = [T(n) for n in "edcba"]
    shares = [[t.nodeid for t in _share(targets, i, 2)] for i in range(2)]
    assert shares == [["a", "c", "e"], ["b", "d"]]
    assert [[t.nodeid for t in _share(targets[:2], i, 4)] for i in range(4)] == [
        ["d"],
        ["e"],
        ["d"],
        ["e"],
    ]


def test_input_watcher_keeps_the_database_key_and_reports_each_input():
    @settings(max_examples=10, database=None)
    @given(st.integers(0, 3))
    def check(x):
        assert 0 <= x <= 3

    inner = check.hypothesis.inner_test
    key_before = _compat.collection_function_digest(inner)
    seen = []
    check.hypothesis.inner_test = _InputWatcher(inner, 7, lambda i, c: seen.append((i, c)))
    assert _compat.collection_function_digest(check.hypothesis.inner_test) == key_before
    # What the pytest plugin sets on parametrized tests lands on the real function.
    check.hypothesis.inner_test._hypothesis_internal_add_digest = b"node[1]"
    assert inner._hypothesis_internal_add_digest == b"node[1]"
    del inner._hypothesis_internal_add_digest
    check()
    # Before each input its choices, after it "idle".
    assert seen and len(seen) % 2 == 0
    for (i, choices), (after, nothing) in zip(seen[::2], seen[1::2], strict=True):
        assert i == 7 and len(choices) == 1 and 0 <= choices[0] <= 3
        assert (after, nothing) == (-1, None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"workers": 0}, "workers must be a positive integer"),
        ({"max_time": -1}, "max_time must be a positive number"),
        ({"max_examples": 0}, "max_examples must be a positive integer"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"seed": "1"}, "seed must be an integer or None"),
        ({"seed": 1.5}, "seed must be an integer or None"),
        ({"targets": [], "workers": 2}, "targets= can only be fuzzed with workers=1"),
        ({"targets": []}, "targets= holds no fuzzable tests"),
    ],
)
def test_bad_arguments_get_one_clear_message(kwargs, message):
    with pytest.raises(WorkerError, match=message):
        fuzz(**kwargs)


# In this process ---------------------------------------------------------------------

SHALLOW = """
from hypothesis import given, strategies as st

@given(st.integers())
def test_small(x):
    assert x < 1000

@given(st.lists(st.integers()))
def test_sorting_twice(xs):
    assert sorted(sorted(xs)) == sorted(xs)
"""


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
    assert session.failures == 1 and not session.running

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
    assert not before.running and before.failures == 0
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
    from hypofuzz_nb.collect import collect_namespace

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


# Worker processes -----------------------------------------------------------------------

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
    assert session.status().failures == 0


# Database outages -------------------------------------------------------------------------

RICH = """
from hypothesis import given, strategies as st

@given(st.text())
def test_text_round_trip(s):
    assert s.encode("utf-8").decode("utf-8") == s

@given(st.lists(st.integers()))
def test_sorting_twice(xs):
    assert sorted(sorted(xs)) == sorted(xs)
"""

REDIS_CONFTEST = """
import math
import os
import struct
from hypothesis import settings
from hypofuzz_nb.redis_url import redis_database_from_url

settings.register_profile(
    "outage-{tag}", database=redis_database_from_url(os.environ["HFNB_TEST_REDIS_URL"]), deadline=None
)
settings.load_profile("outage-{tag}")
"""


def _reports_between(database, start: float, end: float) -> list[records.Report]:
    from hypofuzz_nb.store import Store

    store = Store(database, read_only=True)
    found = []
    for key in store.test_keys():
        stored = map(records.Report.from_bytes, store.fetch(records.reports_key(key)))
        found.extend(r for r in stored if r is not None and start < r.timestamp < end)
    return found


OUTAGE_S = 8.0


def _outage(session, server, database) -> None:
    """Kill Redis under a running session, check it fuzzes on, restart, check it all lands."""
    assert wait_until(lambda: _reports_between(database, 0, math.inf), seconds=90)
    # A snapshot for the restarted server to load: the test keys registered so far
    # (the restarted server would otherwise not know the tests the buffered reports are of).
    server.client().save()
    killed_at = time.time()
    server.kill()
    assert wait_until(
        lambda: (
            session.status().unreachable_since is not None and session.status().pending_writes > 0
        ),
        seconds=90,
    ), session.status()
    during = session.status()
    assert during.unreachable_since >= killed_at - 1
    # Long enough for timed reports (every 2 s at first, then backing off) to fall due.
    assert wait_until(
        lambda: (
            session.status().inputs > during.inputs + 2 * BATCH_SIZE
            and time.time() - killed_at >= OUTAGE_S
        ),
        seconds=60,
    )
    assert session.running and session.error is None, session.status().error
    restarted_at = time.time()
    server.start()  # with the snapshot only: nothing written during the outage
    assert wait_until(
        lambda: session.status().pending_writes == 0 and session.status().unreachable_since is None,
        seconds=60,
    ), session.status()
    # What was written while Redis was down is there now.
    assert _reports_between(database, killed_at, restarted_at)


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
        _outage(session, server, database)
    finally:
        session.stop()
    assert session.wait(30)
    assert session.error is None, session.status().error


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
        _outage(session, server, redis_database_from_url(server.url))
    finally:
        session.stop()
    assert session.wait(30)
    assert session.error is None, session.status().error
    assert session.status().restarts == 0


def test_the_crash_slot_keeps_choices_bit_exact_in_hypothesis_format():
    from hypofuzz_nb.worker import _slot_choices_bytes, _slot_payload

    nan_with_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_1234))[0]
    choices = (
        True,
        False,
        0,
        -(2**200),
        2**70,
        -0.0,
        math.inf,
        nan_with_payload,
        "a\udcff€",
        b"\x00\xff",
    )
    restored = _slot_choices_bytes(_slot_payload(choices))
    assert restored == records.encode_choices(choices)
    decoded = records.decode_choices(restored)
    assert [struct.pack("<d", c) if type(c) is float else c for c in decoded] == [
        struct.pack("<d", c) if type(c) is float else c for c in choices
    ]
    assert _slot_choices_bytes(b"garbage") is None
    assert _slot_choices_bytes(b"M\x00") is None  # torn: never raises


def test_scheduler_gives_a_fast_test_more_time_than_a_slow_one_finding_as_little():
    # Test 0 runs 100 inputs in 0.05 s, test 1 runs 20 inputs in 2 s; neither finds
    # anything new. Per input test 1 looked as promising; per second it is not.
    scheduler = Scheduler(2, fair_every=3)
    seconds = {0: 0.0, 1: 0.0}
    for _ in range(300):
        chosen = scheduler.pick([0, 1])
        cost = 0.05 if chosen == 0 else 2.0
        seconds[chosen] += cost
        scheduler.record(chosen, 100 if chosen == 0 else 20, 0, seconds=cost)
    picks_0 = seconds[0] / 0.05
    picks_1 = seconds[1] / 2.0
    assert picks_0 > 1.5 * picks_1
    # Fairness counts seconds: the slow test's long batches do not crowd out the fast
    # one, and the slow one still gets a fair share of the time.
    total = seconds[0] + seconds[1]
    assert 0.15 * total <= seconds[1] <= 0.85 * total


def _many_tests(n: int, slow: set[int]) -> str:
    lines = ["import time", "from hypothesis import given, strategies as st", ""]
    for i in range(n):
        lines += [
            "@given(st.integers(0, 1000))",
            f"def test_{i:02d}(x):",
            "    time.sleep(0.3)" if i in slow else "    pass",
            f"    assert x != {i} or True",
            "",
        ]
    return "\n".join(lines)


def test_every_test_of_a_large_suite_runs_before_any_runs_a_second_batch(tmp_path):
    from hypofuzz_nb.collect import collect_tests
    from hypofuzz_nb.worker import _FuzzLoop

    slow = {3, 17, 29, 41, 48}
    project = make_project(tmp_path, {"test_many.py": _many_tests(50, slow)}, tag="many")
    with collect_tests([str(project)], rootdir=project) as collection:
        assert len(collection.targets) == 50
        inputs: list[int] = []  # the target index of every input, in order

        def on_input(index: int, choices: object) -> None:
            if index >= 0:  # -1: the input ended
                inputs.append(index)

        loop = _FuzzLoop(
            collection.targets,
            collection.database,
            max_time=None,
            max_examples=None,
            timeout=10.0,
            on_input=on_input,
        )

        def batches() -> list[tuple[int, int]]:
            runs: list[tuple[int, int]] = []
            for index in list(inputs):
                if runs and runs[-1][0] == index:
                    runs[-1] = (index, runs[-1][1] + 1)
                else:
                    runs.append((index, 1))
            return runs

        thread = threading.Thread(target=loop.run)
        thread.start()
        try:
            assert wait_until(lambda: len(batches()) > 60, seconds=300)
        finally:
            loop.request_stop()
            thread.join(60)
        assert not thread.is_alive()
    runs = batches()
    first = [index for index, _ in runs[:50]]
    assert sorted(first) == list(range(50)), "a test ran twice before every test had run"
    # A slow test's first batch is short: one input (and its confirmation), not the
    # 2 s of a normal batch.
    by_name = {i: t.nodeid.rsplit("test_", 1)[-1] for i, t in enumerate(loop.targets)}
    for index, n in runs[:50]:
        if int(by_name[index]) in slow:
            assert n <= 2, (by_name[index], n)


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
