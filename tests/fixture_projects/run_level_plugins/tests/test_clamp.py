import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pkg import clamp


def _record(line):
    log = os.environ.get("RUN_LEVEL_LOG")
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")


def _coverage_measuring():
    try:
        import coverage
    except ImportError:
        return False
    return coverage.Coverage.current() is not None


@given(st.integers(), st.integers(), st.integers())
def test_clamp_in_range(worker_id, x, lo, hi):
    # worker_id is pytest-xdist's fixture ("master" outside its workers).
    _record(f"coverage={_coverage_measuring()} worker_id={worker_id}")
    if lo <= hi:
        assert lo <= clamp(x, lo, hi) <= hi


@pytest.mark.no_cover
@given(st.integers())
def test_clamp_identity(x):
    assert clamp(x, x, x) == x
