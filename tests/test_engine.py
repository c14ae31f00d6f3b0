"""The fuzz engine on real tests: real pytest collection of projects written into
tmp_path, a real directory database, and real ``python -m pytest`` subprocesses to
check that plain pytest replays what the engine found."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from random import Random

import pytest

from hypofuzz_nb import engine, records
from hypofuzz_nb import observations as observations_module
from hypofuzz_nb.collect import collect_tests
from hypofuzz_nb.engine import TestFuzzer
from hypofuzz_nb.records import timeouts_key
from hypofuzz_nb.store import Store

CONFTEST = """
import os
from hypothesis import settings, Phase
from hypothesis.database import DirectoryBasedExampleDatabase

_db = DirectoryBasedExampleDatabase(os.path.join(os.path.dirname(__file__), ".hypothesis-db"))
settings.register_profile("fuzz", database=_db)
settings.register_profile("replay", database=_db, phases=[Phase.explicit, Phase.reuse])
settings.load_profile(os.environ.get("HYPO_PROFILE", "fuzz"))
"""

PLANTED = """
import pytest
from hypothesis import given, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule


@given(st.lists(st.integers(0, 15), min_size=4))
def test_plain(xs):
    # behind the four forced "more elements?" choices of min_size=4
    if xs[0] == 9:
        if xs[3] == 4:
            raise AssertionError("planted: plain")


@pytest.mark.parametrize("k", [3, 5])
@given(x=st.integers(0, 40))
def test_param(k, x):
    if x == k * 7:
        raise AssertionError(f"planted: param {k}")


class TestClass:
    @given(st.integers(0, 30), st.integers(0, 30))
    def test_method(self, a, b):
        if a == 11:
            assert b != 22, "planted: method"


class Machine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.items = []

    @rule(x=st.integers(0, 9))
    def push(self, x):
        self.items.append(x)
        assert self.items[-2:] != [6, 2], "planted: machine"


TestMachine = Machine.TestCase
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    (root / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def fuzz_until_finished(fuzzers: list[TestFuzzer], max_seconds: float) -> None:
    for f in fuzzers:
        f.start()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline and not all(f.finished for f in fuzzers):
        for f in fuzzers:
            if not f.finished:
                f.run(200)
    for f in fuzzers:
        f.stop()


def run_pytest(root: Path, *args: str, profile: str = "replay") -> subprocess.CompletedProcess:
    env = dict(os.environ, HYPO_PROFILE=profile, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"test_planted.py": PLANTED})


def test_finds_shrinks_and_plain_pytest_replays_every_kind(planted: Path) -> None:
    with collect_tests([str(planted)], rootdir=planted) as collection:
        store = Store(collection.database)
        targets = {t.nodeid: t for t in collection.targets}
        assert len(targets) == 5, targets
        fuzzers = [
            TestFuzzer(t, store, worker_uuid="w1", random=Random(i))
            for i, t in enumerate(targets.values())
        ]
        fuzz_until_finished(fuzzers, max_seconds=100)
        for f in fuzzers:
            assert f.finished and f.status.n_failures == 1, f.status
            assert f.status.phase == "failed"
            key = f.key
            shrunk = store.fetch(key)
            assert shrunk, f"nothing saved under K for {f.nodeid}"
            assert store.fetch(records.secondary_key(key))
            # Hypothesis' shrinker may leave more values under K.secondary; the shrunk
            # and the original failure each have their observation
            observed = {x.state: x.observation for x in store.failures(key) if x.observation}
            assert set(observed) == {"shrunk", "unshrunk"}, f.nodeid
            for obs in observed.values():
                assert "planted" in (obs.traceback or "")
                assert obs.reproduction_decorator.startswith("@reproduce_failure(")
        plain = next(f for f in fuzzers if f.nodeid.endswith("test_plain"))
        shrunk_obs = next(x for x in store.failures(plain.key) if x.state == "shrunk").observation
        # Hypothesis' shrinker ran: the minimal list that reaches the bug
        assert "[9, 0, 0, 4]" in shrunk_obs.representation
    # plain pytest with generation off fails on the stored examples, for every kind
    result = run_pytest(planted)
    assert result.returncode == 1, result.stdout + result.stderr
    for name in ("test_plain", "test_param[3]", "test_param[5]", "test_method", "TestMachine"):
        assert f"{name}" in result.stdout, result.stdout
    assert "5 failed" in result.stdout, result.stdout
    assert "[9, 0, 0, 4]" in result.stdout


def test_fixed_bug_shows_as_fixed(tmp_path: Path) -> None:
    buggy = """
    from hypothesis import given, strategies as st

    def check(x):
        return x != 77

    @given(st.integers(0, 100))
    def test_f(x):
        assert check(x)
    """
    root = write_project(tmp_path, {"test_fix.py": buggy})
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        (target,) = collection.targets
        fuzzer = TestFuzzer(target, store, worker_uuid="w1", random=Random(1))
        fuzz_until_finished([fuzzer], max_seconds=60)
        assert fuzzer.finished
        key = target.database_key
    assert store.fetch(key)
    # only the helper changes: the test source, hence its key, stays the same
    (root / "test_fix.py").write_text(textwrap.dedent(buggy.replace("x != 77", "True")))
    result = run_pytest(root)
    assert result.returncode == 0, result.stdout
    # plain Hypothesis deleted the example that no longer fails
    assert store.fetch(key) == []
    assert store.fetch(records.secondary_key(key)) == []
    # the orphaned failure observations stay readable for the dashboard
    store.failures(key)


BRANCHY = """
from hypothesis import given, strategies as st, event, target

@given(st.integers(-1000, 1000), st.text(max_size=8))
def test_branchy(n, s):
    if n > 500:
        event("big")
    elif n < -500:
        event("small")
    if n % 7 == 0:
        pass
    if "a" in s:
        if len(s) > 3:
            pass
    target(abs(n), label="abs")
"""


def test_second_run_starts_where_the_first_stopped(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"test_branchy.py": BRANCHY})
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        (target,) = collection.targets
        first = TestFuzzer(target, store, worker_uuid="w1", random=Random(2))
        first.start()
        for _ in range(10):
            first.run(100)
        first.stop()
        before = first.status
        assert before.behaviors > 5
        corpus = store.corpus(target.database_key)
        assert corpus, "the covering corpus was not stored"
        # every stored entry has its corpus observation
        for value, _ in corpus:
            assert store.corpus_observation(target.database_key, value) is not None

        second = TestFuzzer(target, store, worker_uuid="w2", random=Random(3))
        second.start()
        n_seeds = second.corpus.replays_left
        assert n_seeds >= len(corpus)
        second.run(n_seeds)  # the replay phase only: no new input generated yet
        assert second.status.behaviors >= before.behaviors
        assert second.status.phase == "replay"
        second.run(1)
        assert second.status.phase == "generate"
        second.stop()
        stored = store.fetch(records.reports_key(target.database_key))
        reports = [r for r in map(records.Report.from_bytes, stored) if r is not None]
        phases = {r.phase for r in reports if r.worker_uuid == "w2"}
        assert {"replay", "generate"} <= phases


def test_reports_are_valid_records_with_all_status_counts(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"test_branchy.py": BRANCHY})
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        (target,) = collection.targets
        fuzzer = TestFuzzer(target, store, worker_uuid="w1", random=Random(4))
        fuzzer.start()
        fuzzer.run(300)
        fuzzer.stop()
        fuzzer.stop()  # idempotent
        raw = store.fetch(records.reports_key(target.database_key))
        reports = [records.Report.from_bytes(v) for v in raw]
        assert reports and all(r is not None for r in reports)
        assert all(set(r.status_counts) == {"0", "1", "2", "3"} for r in reports)
        last = max(reports, key=lambda r: r.timestamp)
        assert last.inputs == fuzzer.status.inputs
        assert last.behaviors == fuzzer.status.behaviors
        assert last.nodeid == target.nodeid
        assert records.key_from_base64(last.database_key) == target.database_key
        assert store.test_keys() == [target.database_key]


def test_observations_are_sampled_into_a_bounded_buffer(tmp_path, monkeypatch) -> None:
    root = write_project(tmp_path, {"test_branchy.py": BRANCHY})
    monkeypatch.setattr(observations_module, "OBSERVATION_INTERVAL", 0.0)
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        (target,) = collection.targets
        fuzzer = TestFuzzer(target, store, worker_uuid="w1", random=Random(5))
        fuzzer.start()
        for _ in range(4):
            fuzzer.run(100)
        fuzzer.stop()
        observations = store.observations(target.database_key)
        assert 0 < len(observations) <= records.OBSERVATIONS_LIMIT
        assert all(o.property == target.nodeid for o in observations)
        assert any("test_branchy(" in o.representation for o in observations)


def test_fixture_error_is_a_fatal_failure_with_the_users_traceback(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "test_fixture.py": """
            import pytest
            from hypothesis import given, strategies as st

            @pytest.fixture
            def broken():
                raise RuntimeError("the fixture is broken here")

            @given(st.integers())
            def test_uses_broken(broken, x):
                pass

            @given(st.integers())
            def test_fine(x):
                pass
            """
        },
    )
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        targets = {t.nodeid.split("::")[-1]: t for t in collection.targets}
        broken = TestFuzzer(targets["test_uses_broken"], store, worker_uuid="w1")
        fine = TestFuzzer(targets["test_fine"], store, worker_uuid="w1")
        for f in (broken, fine):
            f.start()
            f.run(50)
            f.stop()
        assert broken.finished and broken.status.fatal is not None
        assert "the fixture is broken here" in broken.status.fatal
        fatal = store.fatal_failure(targets["test_uses_broken"].database_key)
        assert fatal is not None and "the fixture is broken here" in fatal.traceback
        assert not fine.finished and fine.status.inputs >= 50  # confirmations count too


FIXTURE_PROJECT = """
import pytest
from hypothesis import given, strategies as st

@pytest.fixture
def resource():
    raise RuntimeError("the resource is down")

@given(st.integers())
def test_uses_resource(resource, x):
    pass
"""


def test_fixed_fixture_clears_the_fatal_failure(tmp_path: Path) -> None:
    from hypofuzz_nb.frames import load

    def fuzz_once() -> tuple[bytes, TestFuzzer]:
        with collect_tests([str(root)], rootdir=root) as collection:
            (target,) = collection.targets
            fuzzer = TestFuzzer(target, Store(collection.database), worker_uuid="w1")
            fuzzer.start()
            fuzzer.run(20)
            fuzzer.stop()
            return target.database_key, fuzzer

    def load_status() -> str:
        (status,) = load(str(root / ".hypothesis-db")).tests["status"]
        return status

    root = write_project(tmp_path, {"test_resource.py": FIXTURE_PROJECT})
    key, broken = fuzz_once()
    assert broken.status.fatal is not None
    assert load_status() == "fatal"

    fixed = FIXTURE_PROJECT.replace('raise RuntimeError("the resource is down")', "return 1")
    (root / "test_resource.py").write_text(textwrap.dedent(fixed))
    fixed_key, working = fuzz_once()
    assert fixed_key == key  # the test itself did not change, only its fixture
    assert working.status.fatal is None and working.status.inputs > 0
    assert load_status() != "fatal"


def test_invalid_strategy_is_a_fatal_failure(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "test_bad.py": """
            from hypothesis import given, strategies as st

            @given(st.integers(min_value=5, max_value=1))
            def test_bad(x):
                pass
            """
        },
    )
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        (target,) = collection.targets
        fuzzer = TestFuzzer(target, store, worker_uuid="w1")
        fuzzer.start()
        fuzzer.run(10)
        fuzzer.stop()
        assert fuzzer.finished
        assert "max_value" in fuzzer.status.fatal or "min_value" in fuzzer.status.fatal


def test_hanging_input_is_interrupted_recorded_apart_and_fuzzing_goes_on(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        {
            "test_hang.py": """
            from hypothesis import given, strategies as st

            @given(st.integers(0, 3))
            def test_hang(x):
                while x == 3:
                    pass
            """
        },
    )
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        (target,) = collection.targets
        fuzzer = TestFuzzer(target, store, worker_uuid="w1", random=Random(0), timeout=0.3)
        fuzzer.start()
        for _ in range(60):
            fuzzer.run(20)
            status = fuzzer.status
            if status.n_timeouts >= 2 and status.inputs > status.n_timeouts + 40:
                break
        fuzzer.stop()
        status = fuzzer.status
        assert status.n_timeouts >= 2, status
        assert not status.finished  # a hang is reported, and fuzzing goes on
        assert status.inputs > status.n_timeouts + 40, status
        key = target.database_key
        assert store.fetch(key) == []  # never under K: plain pytest would hang
        saved = store.fetch(timeouts_key(key))
        assert saved
        assert records.decode_choices(saved[0]) == (3,)


def test_request_stop_returns_from_a_running_batch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(engine, "MAX_BATCH_SECONDS", 600.0)
    root = write_project(
        tmp_path,
        {
            "test_slow.py": """
            import time
            from hypothesis import given, strategies as st

            @given(st.integers())
            def test_slow(x):
                time.sleep(0.02)
            """
        },
    )
    with collect_tests([str(root)], rootdir=root) as collection:
        store = Store(collection.database)
        (target,) = collection.targets
        fuzzer = TestFuzzer(target, store, worker_uuid="w1")
        fuzzer.start()
        started = threading.Event()

        def work() -> None:
            started.set()
            fuzzer.run(100_000)

        thread = threading.Thread(target=work)
        thread.start()
        started.wait()
        while fuzzer.status.inputs < 3:
            time.sleep(0.01)
        fuzzer.request_stop()
        thread.join(timeout=5)
        assert not thread.is_alive()
        assert fuzzer.status.inputs < 1000
        fuzzer.stop()


CHAIN = """
from hypothesis import given, strategies as st


def parse(frame):
    if len(frame) < 6:
        return None
    if frame[0] != 0x46:
        return None
    if frame[1] != 0x55:
        return None
    if frame[2] != 0x5A:
        return None
    if frame[3] != 0x5A:
        return None
    if frame[4] != 0x45:
        return None
    if frame[5] != 0x44:
        return None
    raise AssertionError("planted: past six magic bytes")


@given(st.lists(st.integers(0, 255), max_size=10))
def test_chain(frame):
    parse(frame)
"""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_chain_of_comparisons_with_literals_is_climbed_in_few_inputs(tmp_path, seed) -> None:
    # Random mutation alone needed 12,577 inputs for one seed and missed in 20,000
    # for three of four; substituting the code's constants takes about a thousand.
    root = write_project(tmp_path, {"test_chain.py": CHAIN})
    with collect_tests([str(root)], rootdir=root) as collection:
        (target,) = collection.targets
        fuzzer = TestFuzzer(
            target, Store(collection.database), worker_uuid="w", random=Random(seed)
        )
        while not fuzzer.finished and fuzzer.inputs < 4000:
            fuzzer.run(200)
        fuzzer.stop()
        assert fuzzer.status.n_failures == 1, fuzzer.status


SLOW = """
import time
from hypothesis import given, strategies as st

@given(st.integers(0, 10))
def test_slow(x):
    time.sleep(0.2)
"""


def test_a_batch_ends_after_max_seconds(tmp_path) -> None:
    root = write_project(tmp_path, {"test_slow.py": SLOW})
    with collect_tests([str(root)], rootdir=root) as collection:
        (target,) = collection.targets
        fuzzer = TestFuzzer(target, Store(collection.database), worker_uuid="w", random=Random(0))
        fuzzer.run(100, max_seconds=0.05)
        # one input, and the run confirming its new behaviors: each takes 0.2 s
        assert 1 <= fuzzer.inputs <= 2
        fuzzer.stop()


def test_timed_reports_stay_bounded_and_discoveries_are_coalesced(monkeypatch) -> None:
    from hypofuzz_nb import reports

    class FakeStore:
        def __init__(self) -> None:
            self.saved: list[int] = []

        def save_report(self, key: bytes, report: int) -> None:
            self.saved.append(report)

        def delete_report(self, key: bytes, report: int) -> None:
            self.saved.remove(report)

    counter = iter(range(10**6))
    store = FakeStore()
    monkeypatch.setattr(reports, "FIRST_TIMED_INTERVAL", 0.0)
    monkeypatch.setattr(reports, "MAX_TIMED_INTERVAL", 0.0)
    schedule = reports.ReportSchedule(store, b"k", lambda: next(counter))
    for _ in range(1000):
        schedule.maybe_write()  # always due: the interval is 0
    assert len(store.saved) <= reports.MAX_TIMED_REPORTS
    assert store.saved[0] == 0 and store.saved[-1] == 999  # the whole run stays visible

    store.saved.clear()
    monkeypatch.setattr(reports, "FIRST_TIMED_INTERVAL", 3600.0)
    schedule = reports.ReportSchedule(store, b"k", lambda: next(counter))
    schedule.write()
    schedule.discovered()
    schedule.maybe_write()  # within DISCOVERY_REPORT_INTERVAL of the last write: waits
    assert len(store.saved) == 1
    schedule.maybe_write(end_of_batch=True)
    assert len(store.saved) == 2
