"""A small suite for the throughput benchmark.

``observe()`` runs at the end of every test case (for the state machine, in its
teardown, after the rules): it counts executions in ``CALLS`` and, when ``STOP_AT``
is set, ends a plain Hypothesis run at that time, at a clean point, by raising
``TimeUp`` (a BaseException, which Hypothesis lets through). ``SIZES`` gets the
number of choices of every ``SIZE_EVERY``-th input, the same on both sides.
"""

from __future__ import annotations

import itertools
import json
import time

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hypofuzz_nb import _compat

CALLS = {"n": 0}
SIZES: list[int] = []
SIZE_EVERY = 8
STOP_AT = {"t": float("inf")}


class TimeUp(BaseException):
    pass


def observe() -> None:
    CALLS["n"] += 1
    if CALLS["n"] % SIZE_EVERY == 0:
        SIZES.append(len(_compat.worker_current_choices() or ()))
        if time.perf_counter() >= STOP_AT["t"]:
            raise TimeUp


def reset(stop_at: float = float("inf")) -> None:
    CALLS["n"] = 0
    SIZES.clear()
    STOP_AT["t"] = stop_at


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


@given(st.lists(st.integers()))
def test_sort(xs):
    ys = sorted(xs)
    assert all(a <= b for a, b in itertools.pairwise(ys))
    observe()


@given(JSON)
def test_json_roundtrip(value):
    assert json.loads(json.dumps(value)) == value
    observe()


@given(st.lists(st.lists(st.integers(0, 100), max_size=5), max_size=5))
def test_nested_lists(xss):
    flat = [x for xs in xss for x in xs]
    assert len(flat) == sum(map(len, xss))
    observe()


class Stack(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.items = []

    @rule(x=st.integers())
    def push(self, x):
        self.items.append(x)

    @rule()
    def pop(self):
        if self.items:
            self.items.pop()

    @invariant()
    def bounded(self):
        assert len(self.items) < 1000

    def teardown(self):
        observe()


TestStack = Stack.TestCase
