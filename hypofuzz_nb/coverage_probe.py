"""The coverage.py probe of a replay: which lines and branches each input reaches.

Used by :mod:`hypofuzz_nb.replay` in its subprocess (never in the fuzzing or kernel
process). Branch coverage is measured through coverage.py's public API: one
dynamic context per input (``"<test index>:<input index>"``), queried back with
``CoverageData.set_query_context``; what ran while importing and setting up the
tests is kept apart as the *setup* arcs. Each measured file's statements, excluded
lines and possible branches come from coverage.py's JSON report.

Only code under test is measured (``userframes.is_code_under_test``): coverage.py
skips the standard library and installed packages, hypofuzz_nb is omitted, and
``include``/``omit`` (coverage.py's file patterns) narrow it further. With
``include``, coverage.py measures every matching file, installed packages too.
"""

from __future__ import annotations

import json
import os
import tempfile
import tokenize
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["CoverageMeasurement", "CoverageProbe", "FileAnalysis"]

#: The dynamic context of fixture set-up (imports run in coverage.py's default, "").
_SETUP_CONTEXTS = ("", "setup")

ArcT = tuple[int, int]


@dataclass
class FileAnalysis:
    """One measured file: its source, statements, excluded lines and every branch
    (``(from line, to line)``; a negative ``to`` leaves the code object that starts
    on line ``-to``, as in coverage.py)."""

    source: str
    statements: frozenset[int]
    excluded: frozenset[int]
    branches: frozenset[ArcT]


@dataclass
class CoverageMeasurement:
    """What the probe returns: ``inputs[test index][input index]`` maps each file the
    input reached to its arcs; ``setup`` maps files to the arcs run outside inputs."""

    files: dict[str, FileAnalysis] = field(default_factory=dict)
    inputs: list[list[dict[str, frozenset[ArcT]]]] = field(default_factory=list)
    setup: dict[str, frozenset[ArcT]] = field(default_factory=dict)


_pending: CoverageProbe | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    """pytest hook: start the probe waiting to measure (see :meth:`CoverageProbe.start`),
    before any conftest.py is imported."""
    if _pending is not None:
        _pending._ensure_started()


def input_context(test_index: int, input_index: int) -> str:
    return f"{test_index}:{input_index}"


class CoverageProbe:
    """A replay probe (see :mod:`hypofuzz_nb.replay`) measuring branch coverage."""

    def __init__(
        self, include: Sequence[str] | None = None, omit: Sequence[str] | None = None
    ) -> None:
        import coverage

        import hypofuzz_nb

        ours = [os.path.join(os.path.realpath(d), "*") for d in hypofuzz_nb.__path__]
        self.cov = coverage.Coverage(
            branch=True,
            data_file=None,
            config_file=False,
            include=list(include) if include else None,
            omit=[*ours, *(omit or ())],
        )

    #: Registered with pytest (``-p``) by the replay, for the hook below.
    pytest_plugin = __name__

    def start(self) -> None:
        # Tracing starts once pytest has loaded its plugins (on Python 3.11 any trace
        # function slows every frame, and loading them is most of collection's time),
        # just before the project's conftest.py files and test modules are imported.
        global _pending
        _pending = self

    def _ensure_started(self) -> None:
        global _pending
        if _pending is self:
            _pending = None
            self.cov.start()

    @contextmanager
    def input(self, test_index: int, input_index: int) -> Iterator[None]:
        self._ensure_started()
        self.cov.switch_context(input_context(test_index, input_index))
        try:
            yield
        finally:
            self.cov.switch_context(_SETUP_CONTEXTS[1])

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.cov.stop()
        try:
            yield
        finally:
            self.cov.start()

    def result(self, tests: Sequence[Any]) -> CoverageMeasurement:
        from hypofuzz_nb.userframes import is_code_under_test

        self._ensure_started()
        self.cov.stop()
        data = self.cov.get_data()
        files = sorted(
            f for f in data.measured_files() if is_code_under_test(f) and os.path.isfile(f)
        )
        # One query per file finds the contexts that touched it, so that each input's
        # arcs are read only from the few files it reached.
        touched: dict[str, list[str]] = {}
        for file in files:
            for context in set().union(*data.contexts_by_lineno(file).values()):
                touched.setdefault(context, []).append(file)
        out = CoverageMeasurement()
        for t, test in enumerate(tests):
            out.inputs.append(
                [_arcs_by_file(data, input_context(t, i), touched) for i in range(len(test.inputs))]
            )
        for context in _SETUP_CONTEXTS:
            for file, arcs in _arcs_by_file(data, context, touched).items():
                out.setup[file] = out.setup.get(file, frozenset()) | arcs
        data.set_query_contexts(None)
        reached = {f for per_input in out.inputs for arcs in per_input for f in arcs}
        out.files = self._analyse(sorted(reached))
        return out

    def _analyse(self, files: list[str]) -> dict[str, FileAnalysis]:
        if not files:
            return {}
        with tempfile.TemporaryDirectory(prefix="hypofuzz-nb-coverage-") as tmp:
            path = os.path.join(tmp, "coverage.json")
            self.cov.json_report(morfs=files, outfile=path, ignore_errors=True)
            with open(path, encoding="utf-8") as f:
                report = json.load(f)["files"]
        by_path = {os.path.realpath(name): entry for name, entry in report.items()}
        out = {}
        for file in files:
            entry = by_path.get(os.path.realpath(file))
            if entry is None:
                continue
            with tokenize.open(file) as f:
                source = f.read()
            out[file] = FileAnalysis(
                source=source,
                statements=frozenset(entry["executed_lines"]) | frozenset(entry["missing_lines"]),
                excluded=frozenset(entry["excluded_lines"]),
                branches=frozenset(
                    tuple(arc) for arc in entry["executed_branches"] + entry["missing_branches"]
                ),
            )
        return out


def _arcs_by_file(
    data: Any, context: str, touched: dict[str, list[str]]
) -> dict[str, frozenset[ArcT]]:
    files = touched.get(context)
    if not files:
        return {}
    data.set_query_context(context)
    out = {}
    for file in files:
        arcs = data.arcs(file)
        if arcs:
            out[file] = frozenset(arcs)
    return out
