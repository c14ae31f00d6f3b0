"""hypofuzz_nb.status: per-test status records, their merge and the session's snapshot."""

from __future__ import annotations

from hypofuzz_nb.status import SessionStatus, TestStatus, merge_statuses


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
    assert status.n_failing_tests == 2
    assert status.inputs == 30
    frame = status.as_frame()
    assert list(frame["nodeid"]) == ["a", "b", "c"]
    assert list(frame.columns)[:4] == ["nodeid", "database_key", "phase", "inputs"]


def test_a_test_that_killed_its_process_reads_failed_and_finished():
    status = TestStatus.killed_its_process("t.py::test_x", "AAAA")
    assert (status.phase, status.finished, status.n_failures) == ("failed", True, 1)
    assert status.inputs == 0 and status.fatal is None
