"""When a test is stuck: :func:`plateaus`, the one definition of a plateau.

A test is on a *plateau* when its behaviors stopped growing: no new behavior in
the last :data:`~hypofuzz_nb.status.PLATEAU_SECONDS` of its own fuzzing time **and** the last
:data:`~hypofuzz_nb.status.PLATEAU_INPUTS` inputs (both, so neither a slow test nor a fast one is called
stuck too early). Measured from the merged progress series of
:func:`hypofuzz_nb.load` (its ``reports`` frame): the time and inputs since the
first report that shows the test's current number of behaviors. Reports are
written every few seconds, so this errs towards "not yet".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hypofuzz_nb.status import PLATEAU_INPUTS, PLATEAU_SECONDS

__all__ = ["PLATEAU_SCHEMA", "plateaus"]

#: Column name -> dtype of the frame :func:`plateaus` returns.
PLATEAU_SCHEMA: dict[str, Any] = {
    "nodeid": pd.StringDtype(),
    "behaviors": np.dtype("int64"),
    "since_s": np.dtype("float64"),
    "since_inputs": np.dtype("int64"),
    "plateau": np.dtype("bool"),
}


def plateaus(
    reports: pd.DataFrame,
    *,
    seconds: float = PLATEAU_SECONDS,
    inputs: int = PLATEAU_INPUTS,
) -> pd.DataFrame:
    """One row per test of ``reports`` (``load().reports``), sorted by node id:
    its ``behaviors``, the fuzzing time ``since_s`` and ``since_inputs`` since it
    last found a new one, and whether that makes a ``plateau`` (both at least
    ``seconds`` and ``inputs``)."""
    columns: dict[str, list[Any]] = {name: [] for name in PLATEAU_SCHEMA}
    if not reports.empty:
        ordered = reports.sort_values(["nodeid", "elapsed_s", "inputs"], kind="stable")
        for nodeid, series in ordered.groupby("nodeid", sort=True, observed=True):
            behaviors = series.behaviors.to_numpy()
            first = int(np.argmax(behaviors == behaviors.max()))
            since_s = float(series.elapsed_s.iloc[-1] - series.elapsed_s.iloc[first])
            since_inputs = int(series.inputs.iloc[-1] - series.inputs.iloc[first])
            columns["nodeid"].append(nodeid)
            columns["behaviors"].append(int(behaviors.max()))
            columns["since_s"].append(since_s)
            columns["since_inputs"].append(since_inputs)
            columns["plateau"].append(since_s >= seconds and since_inputs >= inputs)
    return pd.DataFrame(
        {name: pd.Series(columns[name], dtype=dtype) for name, dtype in PLATEAU_SCHEMA.items()},
        columns=list(PLATEAU_SCHEMA),
    )
