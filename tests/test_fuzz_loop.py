"""hypofuzz_nb.fuzz_loop: the loop over a worker's tests and the input watcher."""

from __future__ import annotations

import threading

from fuzz_projects import (
    make_project,
    restore_hypothesis_profile,  # noqa: F401 (an autouse fixture)
    wait_until,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from hypofuzz_nb import _compat
from hypofuzz_nb.fuzz_loop import FuzzLoop, InputWatcher


def test_input_watcher_keeps_the_database_key_and_reports_each_input():
    @settings(max_examples=10, database=None)
    @given(st.integers(0, 3))
    def check(x):
        assert 0 <= x <= 3

    inner = check.hypothesis.inner_test
    key_before = _compat.collection_function_digest(inner)
    seen = []
    check.hypothesis.inner_test = InputWatcher(inner, 7, lambda i, c: seen.append((i, c)))
    assert _compat.collection_function_digest(check.hypothesis.inner_test) == key_before
    # What the pytest plugin sets on parametrized tests lands on the real function.
    unset = _compat.collection_get_add_digest(inner)
    _compat.collection_set_add_digest(check.hypothesis.inner_test, b"node[1]")
    assert _compat.collection_get_add_digest(inner) == b"node[1]"
    _compat.collection_set_add_digest(inner, unset)
    check()
    # Before each input its choices, after it "idle".
    assert seen and len(seen) % 2 == 0
    for (i, choices), (after, nothing) in zip(seen[::2], seen[1::2], strict=True):
        assert i == 7 and len(choices) == 1 and 0 <= choices[0] <= 3
        assert (after, nothing) == (-1, None)


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

    slow = {3, 17, 29, 41, 48}
    project = make_project(tmp_path, {"test_many.py": _many_tests(50, slow)}, tag="many")
    with collect_tests([str(project)], rootdir=project) as collection:
        assert len(collection.targets) == 50
        inputs: list[int] = []  # the target index of every input, in order

        def on_input(index: int, choices: object) -> None:
            if index >= 0:  # -1: the input ended
                inputs.append(index)

        loop = FuzzLoop(
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
