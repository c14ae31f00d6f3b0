"""The worker's section of hypofuzz_nb._compat, against the installed Hypothesis."""

from hypothesis import given, settings
from hypothesis import strategies as st

from hypofuzz_nb import _compat


def test_worker_current_choices_are_the_choices_drawn_for_the_running_input():
    seen = []

    @settings(max_examples=20, database=None)
    @given(st.integers(0, 10), st.booleans())
    def check(x, flag):
        seen.append(((x, flag), _compat.worker_current_choices()))

    check()
    assert seen
    for drawn, choices in seen:
        assert choices == drawn


def test_worker_current_choices_is_none_outside_a_test_case():
    assert _compat.worker_current_choices() is None
