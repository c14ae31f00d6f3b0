"""The reproduce section of hypofuzz_nb._compat against the installed Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from hypofuzz_nb import _compat


def test_call_with_settings_uses_them_for_one_call_only():
    seen = []

    @settings(max_examples=7, database=None)
    @given(n=st.integers())
    def test_f(extra, n):
        seen.append((n, extra))

    _compat.reproduce_call_with_settings(
        test_f, settings(max_examples=1, database=None, phases=[Phase.generate]), {"extra": 1}
    )
    assert len(seen) == 1
    assert seen[0][1] == 1

    seen.clear()
    test_f(extra=2)
    assert 1 < len(seen) <= 7


def test_call_with_settings_restores_them_when_the_test_fails():
    @given(st.just(1))
    def test_g(n):
        raise KeyError(n)

    before = test_g._hypothesis_internal_use_settings
    with pytest.raises(KeyError):
        _compat.reproduce_call_with_settings(test_g, settings(database=None), {})
    assert test_g._hypothesis_internal_use_settings is before


def test_test_settings_are_the_given_tests_own():
    @settings(max_examples=3, database=None)
    @given(st.integers())
    def test_f(n):
        pass

    assert _compat.reproduce_test_settings(test_f).max_examples == 3
    assert _compat.reproduce_test_settings(lambda: None) is None
