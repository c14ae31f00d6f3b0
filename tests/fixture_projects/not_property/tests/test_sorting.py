import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st


def test_sorted_example():
    assert sorted([3, 1, 2]) == [1, 2, 3]


@pytest.mark.property
@given(st.lists(st.integers()))
def test_sorted_is_ordered(xs):
    ys = sorted(xs)
    assert all(a <= b for a, b in itertools.pairwise(ys))


@pytest.mark.property
@given(st.lists(st.integers()))
def test_sorted_keeps_length(xs):
    assert len(sorted(xs)) == len(xs)
