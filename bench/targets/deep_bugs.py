"""Deep bugs for the time-to-bug benchmark: each needs several exact choices in a row.

Two kinds, reported apart because they measure different things:

*Computed magic* (``test_hashed_*``): the magic values come from a hash or from
arithmetic run at import, are kept as attributes of an object (never as int or bytes
module globals, which the mutator mines when the code names them, nor as literals in
the source, which Hypothesis mines), and are compared one byte or one field at a time
on separate lines. Nothing but coverage feedback (a new branch for every step passed)
leads to them.

*Literal constants* (``test_byte_chain``, ``test_int_chain*``, ``test_nested_parser``):
the magic values are module globals named by the test (``F``, ``U``, ``Z``) or
literals in its code (``7``, ``3``). Both the mutator's constant dictionary and
Hypothesis' own constant mining see them, so these measure how well the code's own
constants are used, not coverage guidance.

Every test counts its calls in ``CALLS`` so the benchmark can report inputs to the
bug, a figure that does not depend on how busy the machine is.
"""

# One comparison per `if` and per line, on purpose: each step passed is a new branch
# (a new line arc on 3.11), which is what coverage feedback climbs.
# ruff: noqa: SIM102

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

F, U, Z = ord("F"), ord("U"), ord("Z")
CALLS = [0]


def _lcg_bytes(seed: int, n: int) -> tuple[int, ...]:
    out, x = [], seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) % (1 << 31)
        out.append(x >> 23)
    return tuple(out)


class _Computed:
    """Magic values computed at import. They live on an object, not in module globals
    of type int or bytes, so no constant mining sees them. (The values were checked to
    be no boundary value such as 0 or 255: [89, 78, 245, 235] and [22, 93, 20, 43].)"""

    def __init__(self) -> None:
        self.header = hashlib.sha256(b"hypofuzz_nb bench: hashed bytes").digest()[:4]
        self.fields = _lcg_bytes(2026, 4)


COMPUTED = _Computed()


@given(st.binary())
def test_hashed_bytes(b):
    CALLS[0] += 1
    m = COMPUTED.header
    if len(b) >= 4:
        if b[0] == m[0]:
            if b[1] == m[1]:
                if b[2] == m[2]:
                    if b[3] == m[3]:
                        raise AssertionError("planted: hashed bytes")


@given(
    st.tuples(
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        st.booleans(),
        st.integers(0, 255),
    )
)
def test_computed_fields(record):
    CALLS[0] += 1
    kind, version, length, _flag, check = record
    m = COMPUTED.fields
    if kind == m[0]:
        if version == m[1]:
            if length == m[2]:
                if check == m[3]:
                    raise AssertionError("planted: computed fields")


@given(st.binary())
def test_byte_chain(b):
    CALLS[0] += 1
    if len(b) >= 4 and b[0] == F and b[1] == U and b[2] == Z and b[3] == Z:
        raise AssertionError("planted: bytes")


@given(st.lists(st.integers(0, 255), min_size=4))
def test_int_chain_min_size(xs):
    CALLS[0] += 1
    if xs[0] == F and xs[1] == U and xs[2] == Z and xs[3] == Z:
        raise AssertionError("planted: ints, min_size=4")


@given(st.lists(st.integers(0, 255)))
def test_int_chain(xs):
    CALLS[0] += 1
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
        if level == 3 and len(value) >= 2:
            if value[0] == 7:
                if value[1] == 3:
                    raise AssertionError("planted: [7, 3] nested four deep")
        for v in value:
            check(v, level + 1)


@given(st.text(alphabet="[],0123456789", max_size=30))
def test_nested_parser(text):
    CALLS[0] += 1
    try:
        value, _ = parse(text)
    except (ValueError, IndexError):
        return
    if depth(value) >= 1 and depth(value) >= 2 and depth(value) >= 3 and depth(value) >= 4:
        check(value)
