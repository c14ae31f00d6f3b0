"""Source coverage of the stored corpus: :func:`coverage`, one row per line or branch.

Each test's covering inputs (``K.hypofuzz.corpus``) and shrunk failures (``K``) are
read from the database (the *stored inputs*) and replayed in a subprocess under coverage.py (:mod:`hypofuzz_nb.replay` with
:class:`~hypofuzz_nb.coverage_probe.CoverageProbe`), so this works on a database
filled by other machines or while fuzzing, and never traces the caller's process.
Which database and which tests follow :func:`hypofuzz_nb.load`: the tests are the
ones collected in ``paths`` (default: the current directory), the database is the
settings profile's there unless given. Tests in the database that are not collected
cannot be replayed (their code is needed) and are left out, as are tests defined in a
notebook (the subprocess cannot import them).

Time is bounded (see :mod:`hypofuzz_nb.replay`): ``timeout=`` seconds in all (default
600; past it :class:`~hypofuzz_nb.errors.ReplayTimeout`, no partial result), and
``input_timeout=`` seconds per input (default 10, as when fuzzing): a slower input is
stopped, counts with the lines it reached until then, and is named in an
:class:`~hypofuzz_nb.errors.InputsTimedOutWarning`.

Columns of the frame (:data:`COVERAGE_SCHEMA`, also when empty), sorted by
``nodeid, file, line, branch_to`` (line rows before their branches):

``nodeid``, ``file`` (absolute path), ``line``
    a statement of code under test in a file the test's inputs reach.
``branch_to``
    ``<NA>`` for the line's own row; otherwise the row is the branch from ``line``
    to ``branch_to`` (negative: leaving the function that starts on line
    ``-branch_to``, as in coverage.py).
``hits``
    how many stored inputs reach the line or take the branch (0: unreached).
``smallest_input``
    the representation of the smallest input reaching it, in Hypothesis' order of
    choices (fewer choices, then simpler ones); ``<NA>`` when ``hits == 0``.
``in_setup``
    whether it also ran outside every input: importing or setting up the tests
    (module-level statements, ``def`` lines). ``coverage html`` counts those as run.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hypofuzz_nb._compat import EngineStatus
from hypofuzz_nb.coverage_probe import CoverageMeasurement, FileAnalysis
from hypofuzz_nb.errors import InputsTimedOutWarning, NoTestsCollected, UnknownTest
from hypofuzz_nb.options import DEFAULT_TIMEOUT_S
from hypofuzz_nb.replay import (
    DEFAULT_REPLAY_TIMEOUT_S,
    ReplayedInput,
    ReplayLimits,
    ReplayRequest,
    replay,
)

__all__ = ["COVERAGE_SCHEMA", "CorpusCoverage", "FileCoverage", "coverage", "measure"]

#: Column name -> dtype of the frame :func:`coverage` returns, in column order.
COVERAGE_SCHEMA: dict[str, Any] = {
    "nodeid": pd.StringDtype(),
    "file": pd.StringDtype(),
    "line": np.dtype("int64"),
    "branch_to": pd.Int64Dtype(),
    "hits": np.dtype("int64"),
    "smallest_input": pd.StringDtype(),
    "in_setup": np.dtype("bool"),
}

_PROBE = "hypofuzz_nb.coverage_probe:CoverageProbe"


@dataclass
class FileCoverage:
    """One test's coverage of one file. ``inputs`` are the test's inputs in
    Hypothesis' order (smallest first); ``*_first`` hold indexes into it."""

    nodeid: str
    file: str
    analysis: FileAnalysis
    inputs: list[ReplayedInput]
    input_lines: list[frozenset[int]]
    line_hits: Counter[int]
    line_first: dict[int, int]
    branch_hits: Counter[tuple[int, int]]
    branch_first: dict[tuple[int, int], int]
    setup_lines: frozenset[int]
    setup_arcs: frozenset[tuple[int, int]]

    def line_reached(self, line: int) -> bool:
        return self.line_hits[line] > 0 or line in self.setup_lines

    def branch_reached(self, arc: tuple[int, int]) -> bool:
        return self.branch_hits[arc] > 0 or arc in self.setup_arcs


@dataclass
class CorpusCoverage:
    """Every replayed test's :class:`FileCoverage`, in node id then file order."""

    files: list[FileCoverage]

    def frame(self) -> pd.DataFrame:
        columns: dict[str, list[Any]] = {name: [] for name in COVERAGE_SCHEMA}

        def row(
            fc: FileCoverage, line: int, to: Any, hits: int, first: int | None, setup: bool
        ) -> None:
            columns["nodeid"].append(fc.nodeid)
            columns["file"].append(fc.file)
            columns["line"].append(line)
            columns["branch_to"].append(to)
            columns["hits"].append(hits)
            columns["smallest_input"].append(
                None if first is None else fc.inputs[first].representation
            )
            columns["in_setup"].append(setup)

        for fc in self.files:
            by_line: dict[int, list[tuple[int, int]]] = {}
            for arc in fc.analysis.branches:
                by_line.setdefault(arc[0], []).append(arc)
            for line in sorted(fc.analysis.statements):
                row(
                    fc,
                    line,
                    None,
                    fc.line_hits[line],
                    fc.line_first.get(line),
                    line in fc.setup_lines,
                )
                for arc in sorted(by_line.get(line, ())):
                    row(
                        fc,
                        line,
                        arc[1],
                        fc.branch_hits[arc],
                        fc.branch_first.get(arc),
                        arc in fc.setup_arcs,
                    )
        return pd.DataFrame(
            {
                name: pd.Series(columns[name], dtype=dtype)
                for name, dtype in COVERAGE_SCHEMA.items()
            },
            columns=list(COVERAGE_SCHEMA),
        )


def coverage(
    database: Any = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    nodeid: str | None = None,
    include: Sequence[str] | None = None,
    omit: Sequence[str] | None = None,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> pd.DataFrame:
    """The lines and branches of code under test that each test's stored corpus
    and shrunk failures reach, and those they do not (see the module docstring for the columns).

    ``database`` is an ``ExampleDatabase``, the path of a directory database, or
    ``None`` for the settings profile's database after collecting ``paths``
    (default: the current directory). ``nodeid`` selects one collected test.
    ``include`` and ``omit`` are coverage.py file patterns (``"*/src/*"``) that
    narrow the code under test. ``timeout`` bounds the whole call and
    ``input_timeout`` each input, in seconds (see the module docstring).

    Raises :class:`~hypofuzz_nb.errors.UnknownTest` for a ``nodeid`` not collected,
    :class:`~hypofuzz_nb.errors.NoTestsCollected` when ``paths`` hold no tests to
    fuzz, the collection errors of :func:`hypofuzz_nb.load`,
    :class:`~hypofuzz_nb.errors.BadTimeout` unless both timeouts are positive numbers,
    :class:`~hypofuzz_nb.errors.ReplayTimeout` when the time is up, and
    :class:`~hypofuzz_nb.errors.ReplayError` if the replaying subprocess fails.
    """
    return measure(
        database,
        paths=paths,
        nodeid=nodeid,
        include=include,
        omit=omit,
        timeout=timeout,
        input_timeout=input_timeout,
    ).frame()


def measure(
    database: Any = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    nodeid: str | None = None,
    include: Sequence[str] | None = None,
    omit: Sequence[str] | None = None,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> CorpusCoverage:
    """Replay the corpora as :func:`coverage` does; the per-file results."""
    limits = ReplayLimits.check(timeout, input_timeout)
    from hypofuzz_nb.collect import list_tests
    from hypofuzz_nb.databases import open_database
    from hypofuzz_nb.resilient import private_database
    from hypofuzz_nb.store import Store

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    where = [os.fspath(p) for p in paths] if paths else ["."]
    listing = list_tests(where)
    keys = {t.nodeid: t.database_key for t in listing.targets}
    if not keys:
        if listing.errors:
            raise listing.errors[0]
        raise NoTestsCollected(", ".join(where), listing.counts)
    if nodeid is not None:
        if nodeid not in keys:
            raise UnknownTest(nodeid, sorted(keys))
        keys = {nodeid: keys[nodeid]}
    if database is None:
        database = listing.database
    elif isinstance(database, (str, os.PathLike)):
        database = open_database(database)
    if database is None:  # the profile has database=None: nothing was ever stored
        return CorpusCoverage([])
    store = Store(private_database(database), read_only=True)
    corpora: dict[str, list[tuple]] = {}
    representations: dict[str, list[str | None]] = {}
    for name, key in sorted(keys.items()):
        for choices, representation in _stored_inputs(store, key):
            corpora.setdefault(name, []).append(choices)
            representations.setdefault(name, []).append(representation)
    if not corpora:
        return CorpusCoverage([])
    request = ReplayRequest(
        paths=where,
        rootdir=os.getcwd(),
        tests=corpora,
        probe=_PROBE,
        probe_options={"include": list(include or ()), "omit": list(omit or ())},
        representations=representations,
        input_timeout=limits.input_timeout,
    )
    tests, measurement = replay(request, limits)
    files = []
    for index, test in enumerate(tests):
        if test.error is not None:
            warnings.warn(
                f"the corpus of {test.nodeid} could not be replayed:\n{test.error}",
                stacklevel=3,
            )
            continue
        hangs = [i for i in test.inputs if i.status == EngineStatus.HANG]
        if hangs:
            warnings.warn(
                InputsTimedOutWarning(test.nodeid, hangs, limits.input_timeout), stacklevel=3
            )
        files.extend(_file_coverages(test.nodeid, test.inputs, measurement, index))
    return CorpusCoverage(files)


def _stored_inputs(store: Any, key: bytes) -> list[tuple[tuple, str | None]]:
    """The corpus and the shrunk failures of the test under ``key``, each with the
    representation the fuzzer stored with it (``None`` if none: rebuilt by replay).
    A failure counts: it is where the fuzzer got past the corpus."""
    out: dict[bytes, tuple[tuple, str | None]] = {}
    for value, choices in store.corpus(key):
        observation = store.corpus_observation(key, value)
        out[value] = (choices, observation.representation if observation else None)
    # all_keys=set(): no listing of the whole database for orphaned observations
    for failure in store.failures(key, all_keys=set()):
        if failure.state == "shrunk" and failure.choices_bytes not in out:
            observation = failure.observation
            out[failure.choices_bytes] = (
                failure.choices,
                observation.representation if observation else None,
            )
    return list(out.values())


def _file_coverages(
    nodeid: str, inputs: list[ReplayedInput], measurement: CoverageMeasurement, index: int
) -> list[FileCoverage]:
    order = sorted(range(len(inputs)), key=lambda i: inputs[i].sort_key)
    ranked = [inputs[i] for i in order]
    arcs_by_input = [measurement.inputs[index][i] for i in order]
    names = sorted({f for arcs in arcs_by_input for f in arcs} & set(measurement.files))
    out = []
    for file in names:
        analysis = measurement.files[file]
        fc = FileCoverage(
            nodeid=nodeid,
            file=file,
            analysis=analysis,
            inputs=ranked,
            input_lines=[],
            line_hits=Counter(),
            line_first={},
            branch_hits=Counter(),
            branch_first={},
            setup_arcs=measurement.setup.get(file, frozenset()),
            setup_lines=_lines(measurement.setup.get(file, frozenset())) & analysis.statements,
        )
        for rank, arcs_by_file in enumerate(arcs_by_input):
            arcs = arcs_by_file.get(file, frozenset())
            lines = _lines(arcs) & analysis.statements
            fc.input_lines.append(lines)
            fc.line_hits.update(lines)
            for line in lines:
                fc.line_first.setdefault(line, rank)
            branches = arcs & analysis.branches
            fc.branch_hits.update(branches)
            for arc in branches:
                fc.branch_first.setdefault(arc, rank)
        out.append(fc)
    return out


def _lines(arcs: frozenset[tuple[int, int]]) -> frozenset[int]:
    return frozenset(n for arc in arcs for n in arc if n > 0)
