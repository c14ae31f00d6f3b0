"""Shared helpers of the engine benchmarks: a minimal FuzzTarget for plain @given
functions and state machines, and a fresh in-memory Store."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hypothesis.database import InMemoryExampleDatabase
from hypothesis.stateful import get_state_machine_test

from hypofuzz_nb import _compat
from hypofuzz_nb.store import Store


class BenchTarget:
    """What hypofuzz_nb.collect.FuzzTarget provides, for a @given function."""

    def __init__(self, test: Any, nodeid: str) -> None:
        self.test = test
        self.nodeid = nodeid
        self.item = None
        self.settings = _compat.engine_given_settings(test)
        self.database_key = _compat.collection_function_digest(test.hypothesis.inner_test)

    @contextlib.contextmanager
    def fixtures(self) -> Iterator[dict[str, Any]]:
        yield {}


def machine_target(machine: type, nodeid: str) -> BenchTarget:
    return BenchTarget(get_state_machine_test(machine, settings=machine.TestCase.settings), nodeid)


def fresh_store() -> Store:
    return Store(InMemoryExampleDatabase())


@contextlib.contextmanager
def plain_settings(test: Any, settings: Any) -> Iterator[None]:
    """Run plain Hypothesis on ``test`` with ``settings`` (a @given function, or a
    state machine's ``TestCase().runTest``), although its settings were fixed when
    it was decorated."""
    machine_case = getattr(test, "__self__", None)
    if machine_case is not None and hasattr(type(machine_case), "settings"):
        cls = type(machine_case)
        old = cls.settings
        cls.settings = settings
        try:
            yield
        finally:
            cls.settings = old
        return
    key = _compat.collection_function_digest(test.hypothesis.inner_test)
    with _compat.engine_overridden_given(test, settings, key):
        yield
