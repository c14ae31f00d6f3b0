"""Why a test is stuck: :func:`stuck`, the branches next to covered code never taken.

A *stuck branch* is a branch of code under test whose condition line the stored
corpus reaches (``hits > 0`` on the line's row of :func:`hypofuzz_nb.coverage`)
but which no stored input takes (``hits == 0`` on the branch's row, and it did
not run while importing the tests either). When a test is on a plateau
(:func:`hypofuzz_nb.plateaus`), these are what the strategy has to reach next.

Columns (:data:`STUCK_SCHEMA`, also when empty), sorted by ``nodeid, file, line,
branch_to``:

``nodeid``, ``file``, ``line``, ``branch_to``
    the branch, as in the coverage frame (``branch_to`` negative: leaving the
    function that starts on line ``-branch_to``).
``condition``
    the source of ``line`` (the condition), stripped.
``line_hits``
    how many stored inputs reach the condition line.
``closest_input``
    the smallest stored input (Hypothesis' order) reaching the condition line.
``plateau``
    whether the test is on a plateau (no reports: ``False``).
"""

from __future__ import annotations

import linecache
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hypofuzz_nb.options import DEFAULT_TIMEOUT_S
from hypofuzz_nb.replay import DEFAULT_REPLAY_TIMEOUT_S

__all__ = ["STUCK_SCHEMA", "stuck", "stuck_branches"]

#: Column name -> dtype of the frame :func:`stuck` returns, in column order.
STUCK_SCHEMA: dict[str, Any] = {
    "nodeid": pd.StringDtype(),
    "file": pd.StringDtype(),
    "line": np.dtype("int64"),
    "branch_to": np.dtype("int64"),
    "condition": pd.StringDtype(),
    "line_hits": np.dtype("int64"),
    "closest_input": pd.StringDtype(),
    "plateau": np.dtype("bool"),
}


def stuck_branches(coverage: pd.DataFrame, plateau: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stuck branches of a :func:`hypofuzz_nb.coverage` frame; ``plateau`` is a
    :func:`hypofuzz_nb.plateaus` frame (``None``: no test is on a plateau)."""
    lines = coverage[coverage.branch_to.isna()]
    reached = lines[lines.hits > 0].set_index(["nodeid", "file", "line"])
    branches = coverage[coverage.branch_to.notna() & (coverage.hits == 0) & ~coverage.in_setup]
    on_plateau = set() if plateau is None else set(plateau.nodeid[plateau.plateau])
    columns: dict[str, list[Any]] = {name: [] for name in STUCK_SCHEMA}
    for row in branches.itertuples(index=False):
        where = (row.nodeid, row.file, row.line)
        if where not in reached.index:
            continue
        line_row = reached.loc[where]
        columns["nodeid"].append(row.nodeid)
        columns["file"].append(row.file)
        columns["line"].append(row.line)
        columns["branch_to"].append(int(row.branch_to))
        columns["condition"].append(linecache.getline(row.file, row.line).strip())
        columns["line_hits"].append(int(line_row.hits))
        columns["closest_input"].append(line_row.smallest_input)
        columns["plateau"].append(row.nodeid in on_plateau)
    frame = pd.DataFrame(
        {name: pd.Series(columns[name], dtype=dtype) for name, dtype in STUCK_SCHEMA.items()},
        columns=list(STUCK_SCHEMA),
    )
    return frame.sort_values(["nodeid", "file", "line", "branch_to"], ignore_index=True)


def stuck(
    database: Any = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    nodeid: str | None = None,
    include: Sequence[str] | None = None,
    omit: Sequence[str] | None = None,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> pd.DataFrame:
    """The stuck branches of each test (see the module docstring), from the coverage of
    its stored corpus (arguments and errors of :func:`hypofuzz_nb.coverage`) and its
    progress reports (:func:`hypofuzz_nb.load`)."""
    from hypofuzz_nb.plateau_signal import plateaus

    coverage, reports = measure_stuck(
        database, paths, nodeid, include, omit, timeout=timeout, input_timeout=input_timeout
    )
    return stuck_branches(coverage, plateaus(reports))


def measure_stuck(
    database: Any,
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None,
    nodeid: str | None,
    include: Sequence[str] | None,
    omit: Sequence[str] | None,
    *,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(coverage frame, load()'s reports frame)`` for :func:`stuck` and its view."""
    from hypofuzz_nb.corpus_coverage import coverage
    from hypofuzz_nb.frames import load

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frame = coverage(
        database,
        paths=paths,
        nodeid=nodeid,
        include=include,
        omit=omit,
        timeout=timeout,
        input_timeout=input_timeout,
    )
    reports = load(database, paths=paths).reports
    if nodeid is not None:
        reports = reports[reports.nodeid == nodeid]
    return frame, reports
