"""The planted deep bug: plain Hypothesis does not find it, the fuzzer does."""

from hypothesis import given
from hypothesis import strategies as st
from packets import decode


@given(st.lists(st.integers(0, 255), max_size=12))
def test_decode_never_crashes(frame):
    try:
        payload = decode(frame)
    except ValueError:
        return  # a malformed frame is rejected: that is fine
    assert len(payload) <= len(frame)
