"""Arithmetic gates for the solver benchmark (bench/bench_solver.py).

Each gate's condition is an arithmetic relation between inputs: no single input value
opens it, so neither a literal of the code nor a branch a step at a time leads there
(mutation and plain Hypothesis do not find them in a minute); a solver does. Kinds:
linear (the issue's gate), modular, nested (three relations in a row), over a list,
and over dataclasses built by ``st.builds``. The control, where mutation already wins,
is the example project's byte chain (``examples/tests/packets.py``).
"""

# One relation per `if`: each is a branch of its own.
# ruff: noqa: SIM102

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "tests"))
from packets import decode

U32 = st.integers(0, 2**32 - 1)


@given(U32, U32)
def test_linear(a, b):
    if a * 7919 + 104729 == b * 3 + 12345:
        if a % 1009 == 17:
            raise AssertionError("planted: linear")


@given(U32, U32)
def test_modular(a, b):
    if (a * 48271 + b) % 65537 == 12345:
        if a > 10**6 and b % 251 == 7:
            raise AssertionError("planted: modular")


@given(U32, U32, U32)
def test_nested(a, b, c):
    if a + b == 1_000_001:
        if 3 * a - b == 55_555:
            if c == a % 1000 + 424_242:
                raise AssertionError("planted: nested")


@given(st.lists(U32, min_size=1, max_size=8))
def test_list(xs):
    if len(xs) == 3:
        if xs[0] * 3 + xs[1] * 5 == xs[2] + 7919:
            if xs[2] > 10**6:
                raise AssertionError("planted: list")


@dataclass
class Order:
    price: int
    quantity: int


@dataclass
class Invoice:
    order: Order
    total: int


@given(st.builds(Invoice, order=st.builds(Order, price=U32, quantity=U32), total=U32))
def test_dataclasses(invoice):
    order = invoice.order
    if order.price * 12 + order.quantity * 7 == invoice.total:
        if order.quantity > 1000 and invoice.total > 10**7:
            raise AssertionError("planted: dataclasses")


@given(st.lists(st.integers(0, 255), max_size=12))
def test_byte_chain_control(frame):
    try:
        payload = decode(frame)
    except ValueError:
        return
    assert len(payload) <= len(frame)
