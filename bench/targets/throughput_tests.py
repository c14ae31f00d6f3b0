"""A small suite for the throughput benchmark. ``CALLS`` counts executions."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

CALLS = {"n": 0}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


@given(st.lists(st.integers()))
def test_sort(xs):
    CALLS["n"] += 1
    ys = sorted(xs)
    assert all(a <= b for a, b in itertools.pairwise(ys))


@given(JSON)
def test_json_roundtrip(value):
    CALLS["n"] += 1
    assert json.loads(json.dumps(value)) == value


@given(st.lists(st.lists(st.integers(0, 100), max_size=5), max_size=5))
def test_nested_lists(xss):
    CALLS["n"] += 1
    flat = [x for xs in xss for x in xs]
    assert len(flat) == sum(map(len, xss))


class Stack(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        CALLS["n"] += 1
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


TestStack = Stack.TestCase
