"""Behaviors: branch recording on the worker thread only, the code-under-test
filter, and Hypothesis event/target features."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
import threading
from pathlib import Path

import hypothesis
import pytest

from hypofuzz_nb import behaviors
from hypofuzz_nb.behaviors import BranchRecorder, features_behaviors
from hypofuzz_nb.userframes import is_code_under_test

MODULE = """
def classify(n):
    if n > 10:
        return "big"
    elif n < 0:
        return "negative"
    return "small"
"""


@pytest.fixture
def user_module(tmp_path: Path):
    path = tmp_path / "user_code_for_behaviors.py"
    path.write_text(textwrap.dedent(MODULE))
    spec = importlib.util.spec_from_file_location("user_code_for_behaviors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(recorder: BranchRecorder, fn, *args) -> frozenset:
    recorder.reset()
    fn(*args)
    return recorder.take()


def test_code_under_test_filter() -> None:
    assert not is_code_under_test(json.__file__)
    assert not is_code_under_test(os.__file__)
    assert not is_code_under_test(hypothesis.__file__)
    assert not is_code_under_test(pytest.__file__)
    assert not is_code_under_test(behaviors.__file__)
    assert not is_code_under_test("<string>")
    assert is_code_under_test("/home/user/project/tests/test_x.py")
    assert is_code_under_test("<ipython-input-3-abc>")
    # other installed libraries are code under test: users fuzz them
    import pandas

    assert is_code_under_test(pandas.__file__)
    # but not the notebook machinery the fuzzer runs in (it would pay for every cell)
    import ipykernel.kernelbase
    import tornado.ioloop
    import zmq

    for module in (ipykernel.kernelbase, tornado.ioloop, zmq):
        assert not is_code_under_test(module.__file__)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
def test_a_loop_holds_the_monitoring_tool_across_its_batches(user_module) -> None:
    # Released between batches, the tool would forget the locations it disabled
    # (code not under test, the kernel's included) and call back on them again.
    monitor = behaviors._monitor()
    with behaviors.monitoring_held():
        tool = monitor.tool_id
        assert tool is not None and sys.monitoring.get_tool(tool) == "hypofuzz_nb"
        for _ in range(2):
            with BranchRecorder() as recorder:
                assert record(recorder, user_module.classify, 50)
            assert monitor.tool_id == tool  # still held after the batch's recorder closed
    assert monitor.tool_id is None


def test_different_branches_give_different_behaviors(user_module) -> None:
    with BranchRecorder() as recorder:
        big = record(recorder, user_module.classify, 50)
        small = record(recorder, user_module.classify, 5)
        neg = record(recorder, user_module.classify, -5)
        big_again = record(recorder, user_module.classify, 99)
    assert big and small and neg
    assert len({big, small, neg}) == 3
    assert big == big_again
    # nothing outside the code under test is recorded
    assert all(b[0][0].endswith("user_code_for_behaviors.py") for b in big | small | neg)


def test_other_threads_do_not_count_and_are_not_disabled(user_module) -> None:
    with BranchRecorder() as recorder:
        recorder.reset()
        user_module.classify(5)
        # another thread takes the "big" branch while we record
        other = threading.Thread(target=user_module.classify, args=(50,))
        other.start()
        other.join()
        mine = recorder.take()
        only_small = record(recorder, user_module.classify, 5)
        big = record(recorder, user_module.classify, 50)
    assert mine == only_small
    # the branch seen first in another thread still counts when we take it
    assert big != only_small and big - only_small


def test_coverage_hook_is_released_after_use(user_module) -> None:
    # Each Python has one coverage path, and each path has its own check.
    if sys.version_info >= (3, 12):
        _check_monitoring_tool_id_is_released()
    else:
        _check_settrace_is_restored_and_only_on_during_an_input(user_module)


def _check_monitoring_tool_id_is_released() -> None:
    before = [sys.monitoring.get_tool(i) for i in range(6)]
    with BranchRecorder() as recorder:
        assert recorder.available
        during = [sys.monitoring.get_tool(i) for i in range(6)]
        assert "hypofuzz_nb" in during
        # a second recorder shares the one tool
        with BranchRecorder():
            assert [sys.monitoring.get_tool(i) for i in range(6)].count("hypofuzz_nb") == 1
        assert "hypofuzz_nb" in [sys.monitoring.get_tool(i) for i in range(6)]
    assert [sys.monitoring.get_tool(i) for i in range(6)] == before


def _check_settrace_is_restored_and_only_on_during_an_input(user_module) -> None:
    def previous(*args):
        return None

    sys.settrace(previous)
    try:
        with BranchRecorder() as recorder:
            recorder.reset()
            user_module.classify(1)
            assert recorder.take()
            assert sys.gettrace() is previous
        assert sys.gettrace() is previous
    finally:
        sys.settrace(None)


def test_events_and_targets_become_behaviors() -> None:
    got = features_behaviors(
        {"kind": "a", "gave up because": "x"}, {"": 3.0, "score": 1000.0, "neg": -5.0}
    )
    assert ("event", "kind", "a") in got
    assert not any(b[1] == "gave up because" for b in got)
    labels = {b[1] for b in got if b[0] == "target"}
    assert labels == {"", "score", "neg"}
    # targets are bucketed: nearby values share a behavior, far ones do not
    near = features_behaviors({}, {"score": 1001.0})
    far = features_behaviors({}, {"score": 10_000.0})
    assert near <= got
    assert not far <= got
    assert features_behaviors({}, {"x": float("inf")})
