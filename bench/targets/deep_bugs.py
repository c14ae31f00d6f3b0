"""Deep bugs for the time-to-bug benchmark: each needs several exact choices in a row,
with a branch at every step (so coverage guidance helps) and no integer literal to
copy (so constant mining alone does not solve them)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

F, U, Z = ord("F"), ord("U"), ord("Z")


@given(st.binary())
def test_byte_chain(b):
    if len(b) >= 4 and b[0] == F and b[1] == U and b[2] == Z and b[3] == Z:
        raise AssertionError("planted: bytes")


@given(st.lists(st.integers(0, 255), min_size=4))
def test_int_chain_min_size(xs):
    if xs[0] == F and xs[1] == U and xs[2] == Z and xs[3] == Z:
        raise AssertionError("planted: ints, min_size=4")


@given(st.lists(st.integers(0, 255)))
def test_int_chain(xs):
    if len(xs) >= 4 and xs[0] == F and xs[1] == U and xs[2] == Z and xs[3] == Z:
        raise AssertionError("planted: ints")


def parse(text):
    """Parse nested lists of digits like ``[1,[2,3]]``; returns (value, rest)."""
    if text.startswith("["):
        items, rest = [], text[1:]
        while rest and not rest.startswith("]"):
            item, rest = parse(rest)
            items.append(item)
            if rest.startswith(","):
                rest = rest[1:]
        return items, rest[1:]
    if text[:1].isdigit():
        return int(text[0]), text[1:]
    raise ValueError(text[:1])


def depth(value):
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def check(value, level=0):
    """The planted structural bug: a list nested four deep that starts with 7, 3."""
    if isinstance(value, list):
        if level == 3 and len(value) >= 2:  # noqa: SIM102 (one branch per step, on purpose)
            if value[0] == 7:  # noqa: SIM102
                if value[1] == 3:
                    raise AssertionError("planted: [7, 3] nested four deep")
        for v in value:
            check(v, level + 1)


@given(st.text(alphabet="[],0123456789", max_size=30))
def test_nested_parser(text):
    try:
        value, _ = parse(text)
    except (ValueError, IndexError):
        return
    if depth(value) >= 1 and depth(value) >= 2 and depth(value) >= 3 and depth(value) >= 4:
        check(value)
