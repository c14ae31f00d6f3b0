"""The database as pandas DataFrames: :func:`load` and the documented :data:`SCHEMAS`.

Every frame has exactly the columns of :data:`SCHEMAS`, in that order and with
those dtypes, also when it is empty. Loading is total: values that do not decode
are skipped, counted in :attr:`FuzzData.skipped` and reported by one warning;
the database is never written.

Columns:

``tests`` (one row per test)
    ``nodeid``, ``database_key`` (base64 of the key, as in reports), ``status``
    (see :data:`STATUSES`), ``inputs``, ``behaviors``, ``fingerprints``,
    ``elapsed_s`` (summed over workers), ``inputs_per_s`` (``inputs / elapsed_s``,
    NaN before any time was spent), ``since_new_behavior`` (from the latest report,
    nullable), ``last_update`` (time of the latest report, NaT if none),
    ``n_failures`` (shrunk failures under the test's key: what plain pytest replays),
    ``n_workers`` (distinct workers that reported); what the solver did on the
    test's plateaus (its ``SolverWork`` records, summed over workers, zero where it
    never ran): ``solver_calls``, ``solver_seconds``, ``solver_inputs`` (choice
    sequences it handed back), ``solver_found`` (of those, new behaviors or
    failures), ``solver_errors`` (calls that crashed, gave up or could not run) and
    ``solver_error`` (the last error text of the first worker, by uuid, that has
    one; ``""`` if none).
``reports`` (the merged progress series, sorted by test then timestamp)
    ``nodeid``, ``worker`` (uuid of the worker that wrote the report),
    ``timestamp``, ``elapsed_s`` and ``inputs`` (sum over workers of each worker's
    latest cumulative value), ``behaviors`` and ``fingerprints`` (running maxima
    over workers), ``phase``. Each series is monotonic even when reports arrive
    out of order.
``failures``
    ``nodeid``, ``state`` (shrunk, unshrunk, fixed), ``exception``, ``message``,
    ``representation``, ``traceback``, ``reproduction_decorator``, ``choices``
    (the decoded choice tuple, or None for an orphaned fixed failure),
    ``first_seen`` (the observation's ``run_start`` when it is a wall-clock time).
``corpus``
    ``nodeid``, ``size`` (number of choices in the input), ``representation``
    (NA where no observation was stored).
``workers``
    the fields of :class:`~hypofuzz_nb.records.WorkerIdentity`.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from hypothesis.database import ExampleDatabase

from hypofuzz_nb.cell_gate import give_way
from hypofuzz_nb.databases import open_database
from hypofuzz_nb.errors import SkippedValuesWarning
from hypofuzz_nb.records import (
    SolverWork,
    WorkerIdentity,
    key_to_base64,
    reports_key,
    solver_key,
    test_key_of_reports_key,
)
from hypofuzz_nb.resilient import private_database
from hypofuzz_nb.store import Store, StoredFailure

__all__ = ["RUNNING_WITHIN_S", "SCHEMAS", "STATUSES", "FuzzData", "load"]

#: A test with a report newer than this many seconds is "running", unless every worker
#: that wrote such a report has said it stopped (``records.STOPPED_WORKERS_KEY``).
RUNNING_WITHIN_S = 120.0

#: Values of ``tests.status``, in order of precedence (the first that applies wins).
STATUSES = ("fatal", "failed", "fixed", "running", "idle", "waiting")

_STR = pd.StringDtype()
_UTC = pd.DatetimeTZDtype(unit="ns", tz="UTC")
_I64 = np.dtype("int64")
_F64 = np.dtype("float64")
_OBJ = np.dtype("object")

#: Column name -> dtype of every frame, in column order.
SCHEMAS: dict[str, dict[str, Any]] = {
    "tests": {
        "nodeid": _STR,
        "database_key": _STR,
        "status": _STR,
        "inputs": _I64,
        "behaviors": _I64,
        "fingerprints": _I64,
        "elapsed_s": _F64,
        "inputs_per_s": _F64,
        "since_new_behavior": pd.Int64Dtype(),
        "last_update": _UTC,
        "n_failures": _I64,
        "n_workers": _I64,
        "solver_calls": _I64,
        "solver_seconds": _F64,
        "solver_inputs": _I64,
        "solver_found": _I64,
        "solver_errors": _I64,
        "solver_error": _STR,
    },
    "reports": {
        "nodeid": _STR,
        "worker": _STR,
        "timestamp": _UTC,
        "elapsed_s": _F64,
        "inputs": _I64,
        "behaviors": _I64,
        "fingerprints": _I64,
        "phase": _STR,
    },
    "failures": {
        "nodeid": _STR,
        "state": _STR,
        "exception": _STR,
        "message": _STR,
        "representation": _STR,
        "traceback": _STR,
        "reproduction_decorator": _STR,
        "choices": _OBJ,
        "first_seen": _UTC,
    },
    "corpus": {
        "nodeid": _STR,
        "size": _I64,
        "representation": _STR,
    },
    "workers": {
        "uuid": _STR,
        "operating_system": _STR,
        "python_version": _STR,
        "hypothesis_version": _STR,
        "hypofuzz_version": _STR,
        "pid": _I64,
        "hostname": _STR,
        "pod_name": _STR,
        "pod_namespace": _STR,
        "node_name": _STR,
        "pod_ip": _STR,
        "container_id": _STR,
        "git_hash": _STR,
    },
}


@dataclass
class FuzzData:
    """Everything a database holds about fuzzing, as DataFrames (see :data:`SCHEMAS`)."""

    tests: pd.DataFrame
    reports: pd.DataFrame
    failures: pd.DataFrame
    corpus: pd.DataFrame
    workers: pd.DataFrame
    database: Any
    skipped: Counter[str] = field(default_factory=Counter)


def _frame(name: str, columns: dict[str, Any]) -> pd.DataFrame:
    """A frame with exactly the schema ``name``, from column lists or arrays."""
    schema = SCHEMAS[name]
    data = {}
    for col, dtype in schema.items():
        values = columns.get(col, [])
        if dtype is _OBJ:
            arr = np.empty(len(values), dtype=object)
            arr[:] = list(values) if not isinstance(values, np.ndarray) else values
            data[col] = pd.Series(arr, dtype=object)
        else:
            data[col] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data, columns=list(schema))


def _utc_from_seconds(seconds: Any) -> pd.Series:
    """UTC datetimes from epoch seconds; NaT where outside datetime64[ns] (1678-2261)."""
    arr = np.asarray(seconds, dtype="float64")
    with np.errstate(invalid="ignore"):
        arr = np.where(np.abs(arr) < 9.2e9, arr, np.nan)
    return pd.Series(pd.to_datetime(arr, unit="s", utc=True)).astype(_UTC)


def load(
    database: ExampleDatabase | str | os.PathLike[str] | None = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | None = None,
) -> FuzzData:
    """Load everything ``database`` holds about fuzzing into pandas frames.

    ``database`` is an ``ExampleDatabase`` or the path of a directory database.
    With ``None``, the database is the one in effect after pytest collection in
    ``paths`` (default: the current directory), i.e. the loaded settings
    profile's database, and every test the fuzzer would fuzz there is listed,
    with status ``waiting`` and zero counts until it has reports (its key and
    node id come from collection, with the rules of ``hypofuzz-nb fuzz``). Other
    tests are discovered from ``hypofuzz.test_keys`` and the nodeids inside
    reports; no keys are derived.

    Never raises on garbage values (they are skipped, counted in ``skipped`` and
    warned about once, :class:`~hypofuzz_nb.errors.SkippedValuesWarning`); raises
    :class:`~hypofuzz_nb.errors.DatabaseUnreachable` if the database cannot be read and
    :class:`~hypofuzz_nb.errors.DatabasePathError` for a path that is not a
    database directory.

    On a background thread of a notebook kernel (a live dashboard's refresher), it
    steps aside between tests while a cell runs (:func:`hypofuzz_nb.cell_gate.give_way`),
    so the user's cells do not wait for a reload. Loading a directory database again
    reads only its new files (:mod:`hypofuzz_nb.value_cache`, up to 32 MB kept).
    """
    collected: dict[bytes, str] = {}
    if database is None:
        from hypofuzz_nb.collect import list_tests

        listing = list_tests(tuple(paths) if paths else (".",))
        database = listing.database
        if database is None:
            return _empty_data(None)
        collected = {t.database_key: t.nodeid for t in listing.targets}
    elif isinstance(database, (str, os.PathLike)):
        database = open_database(database)
    # Read a Redis database through a client of our own (bounded timeouts, no retry
    # jitter from the global random), so a dashboard in a kernel that also fuzzes never
    # stalls on, or perturbs, the fuzzing thread during an outage.
    store = Store(private_database(database), read_only=True)
    data = _load_from_store(store, collected)
    data.database = database
    if data.skipped:
        total = sum(data.skipped.values())
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(data.skipped.items()))
        warnings.warn(
            f"hypofuzz_nb.load skipped {total} value(s) of {database!r} that could not be "
            f"decoded ({kinds}). They were left in the database untouched; "
            "FuzzData.skipped has the counts.",
            SkippedValuesWarning,
            stacklevel=2,
        )
    return data


def _empty_data(database: Any) -> FuzzData:
    return FuzzData(
        tests=_frame("tests", {}),
        reports=_frame("reports", {}),
        failures=_frame("failures", {}),
        corpus=_frame("corpus", {}),
        workers=_frame("workers", {}),
        database=database,
    )


def _load_from_store(store: Store, collected: dict[bytes, str] | None = None) -> FuzzData:
    """``collected`` maps the keys of collected tests to their node ids: listed even
    when the database knows nothing of them yet (never started: "waiting")."""
    collected = collected or {}
    all_keys = store.list_keys()
    keys = store.test_keys()
    if collected:
        known = set(keys)
        keys = [*keys, *(key for key in collected if key not in known)]
    if all_keys is not None:
        # tests whose key never made it into hypofuzz.test_keys still have reports
        listed = set(keys)
        extra = set(map(test_key_of_reports_key, all_keys)) - {None}
        keys = sorted(listed | extra)  # type: ignore[arg-type]
    # Reports: read ahead (store.fetch_many) while parsing, keeping columns as lists.
    cols: dict[str, list[Any]] = {
        name: []
        for name in (
            "key",
            "nodeid",
            "worker",
            "timestamp",
            "elapsed",
            "inputs",
            "behaviors",
            "fingerprints",
            "phase",
            "since",
        )
    }
    # Solver work is read in the same read-ahead, after the reports, and only where the
    # key listing shows some: a database without solver work costs nothing more.
    solver_keys = keys if all_keys is None else [k for k in keys if solver_key(k) in all_keys]
    fetched = store.fetch_many([*map(reports_key, keys), *map(solver_key, solver_keys)])
    report_values = itertools.islice(fetched, len(keys))
    for index, (key, values) in enumerate(zip(keys, report_values, strict=True)):
        give_way()
        columns = store.report_columns(values)
        del values
        b64 = key_to_base64(key)
        if set(columns["database_key"]) - {b64}:
            # a report filed under another test's key: wrong, but not garbage
            keep = [k == b64 for k in columns["database_key"]]
            store.skipped["report_wrong_key"] += keep.count(False)
            columns = {name: list(itertools.compress(col, keep)) for name, col in columns.items()}
        arrays = _numeric_arrays(columns)
        if arrays is None:
            # a number beyond int64 or float64 (valid JSON, but no counter gets that big)
            keep = list(
                map(
                    _numbers_fit,
                    columns["timestamp"],
                    columns["elapsed_time"],
                    columns["inputs"],
                    columns["behaviors"],
                    columns["fingerprints"],
                )
            )
            store.skipped["report"] += keep.count(False)
            columns = {name: list(itertools.compress(col, keep)) for name, col in columns.items()}
            arrays = _numeric_arrays(columns)
            assert arrays is not None
        cols["key"].append(np.full(len(columns["nodeid"]), index, dtype="int64"))
        for name, array in arrays.items():
            cols[name].append(array)
        # Repeated strings (one nodeid, a few workers and phases per test) share one object.
        cols["nodeid"] += map(sys.intern, columns["nodeid"])
        cols["worker"] += map(sys.intern, columns["worker_uuid"])
        cols["phase"] += map(sys.intern, columns["phase"])
        cols["since"] += columns["since_new_behavior"]
    solver = {
        key: _solver_totals(store, store.solver_work_of(values))
        for key, values in zip(solver_keys, fetched, strict=True)
    }
    give_way()
    reports, per_test = _merge_reports(cols, keys, stopped=frozenset(store.stopped_workers()))

    test_rows: dict[str, list[Any]] = {name: [] for name in SCHEMAS["tests"]}
    fail_rows: dict[str, list[Any]] = {name: [] for name in SCHEMAS["failures"]}
    corpus_rows: dict[str, list[Any]] = {name: [] for name in SCHEMAS["corpus"]}
    now = time.time()
    for key in keys:
        give_way()
        summary = per_test.get(key)
        failures = store.failures(key, all_keys=all_keys)
        fatal = store.fatal_failure(key)
        nodeid = summary["nodeid"] if summary else collected.get(key)
        if nodeid is None:
            nodeid = _nodeid_from_records(store, key, failures, fatal)
        for failure in failures:
            _add_failure_row(fail_rows, nodeid, failure)
        for value, choices in store.corpus(key):
            obs = store.corpus_observation(key, value)
            corpus_rows["nodeid"].append(nodeid)
            corpus_rows["size"].append(len(choices))
            corpus_rows["representation"].append(obs.representation if obs else None)
        n_shrunk = sum(f.state == "shrunk" for f in failures)
        if fatal is not None:
            status = "fatal"
        elif n_shrunk:
            status = "failed"
        elif failures and all(f.state == "fixed" for f in failures):
            status = "fixed"
        elif summary is None:
            status = "waiting"
        elif now - summary["last_live"] <= RUNNING_WITHIN_S:
            # Recent reports of workers that said they stopped do not count.
            status = "running"
        else:
            status = "idle"
        test_rows["nodeid"].append(nodeid)
        test_rows["database_key"].append(key_to_base64(key))
        test_rows["status"].append(status)
        test_rows["n_failures"].append(n_shrunk)
        for column, value in zip(_SOLVER_COLUMNS, solver.get(key, _NO_SOLVER_WORK), strict=True):
            test_rows[column].append(value)
        if summary is None:
            test_rows["inputs"].append(0)
            test_rows["behaviors"].append(0)
            test_rows["fingerprints"].append(0)
            test_rows["elapsed_s"].append(0.0)
            test_rows["inputs_per_s"].append(np.nan)
            test_rows["since_new_behavior"].append(None)
            test_rows["last_update"].append(np.nan)
            test_rows["n_workers"].append(0)
        else:
            elapsed = summary["elapsed"]
            test_rows["inputs"].append(summary["inputs"])
            test_rows["behaviors"].append(summary["behaviors"])
            test_rows["fingerprints"].append(summary["fingerprints"])
            test_rows["elapsed_s"].append(elapsed)
            test_rows["inputs_per_s"].append(summary["inputs"] / elapsed if elapsed > 0 else np.nan)
            test_rows["since_new_behavior"].append(summary["since"])
            test_rows["last_update"].append(summary["last"])
            test_rows["n_workers"].append(summary["n_workers"])
    test_rows["last_update"] = _utc_from_seconds(test_rows["last_update"])  # type: ignore[assignment]
    fail_rows["first_seen"] = _utc_from_seconds(fail_rows["first_seen"])  # type: ignore[assignment]

    give_way()
    workers = _workers_frame(store, store.worker_identities())
    return FuzzData(
        tests=_frame("tests", test_rows),
        reports=reports,
        failures=_frame("failures", fail_rows),
        corpus=_frame("corpus", corpus_rows),
        workers=workers,
        database=store.raw_database,
        skipped=Counter(store.skipped),
    )


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: The tests frame's solver columns, in the order of :func:`_solver_totals`.
_SOLVER_COLUMNS = (
    "solver_calls",
    "solver_seconds",
    "solver_inputs",
    "solver_found",
    "solver_errors",
    "solver_error",
)
_NO_SOLVER_WORK = (0, 0.0, 0, 0, 0, "")


def _solver_totals(store: Store, work: list[SolverWork]) -> tuple[Any, ...]:
    """One test's solver columns from its workers' records (sorted by worker uuid).

    A worker saves its new record before deleting its previous one, so a reader may
    see both: per worker, only the one with the most calls counts. A record whose
    counts would push a total past int64 is skipped (valid JSON, but no counter gets
    that big)."""
    latest: dict[str, SolverWork] = {}
    for w in work:
        if w.worker_uuid not in latest or w.calls > latest[w.worker_uuid].calls:
            latest[w.worker_uuid] = w
    calls = inputs = found = errors = 0
    seconds = 0.0
    error = ""
    for w in latest.values():
        totals = (calls + w.calls, inputs + w.inputs, found + w.found, errors + w.errors)
        if max(totals) > _INT64_MAX:
            store.skipped["solver_work"] += 1
            continue
        calls, inputs, found, errors = totals
        seconds += w.seconds
        error = error or w.last_error
    return calls, seconds, inputs, found, errors, error


def _numbers_fit(timestamp: float, elapsed: float, *counters: int) -> bool:
    """Whether one report's numbers fit float64 and int64 columns."""
    try:
        float(timestamp), float(elapsed)
    except OverflowError:
        return False
    return all(_INT64_MIN <= v <= _INT64_MAX for v in counters)


def _numeric_arrays(columns: dict[str, list[Any]]) -> dict[str, np.ndarray] | None:
    """The numeric report columns as arrays, or ``None`` if an integer overflows int64."""
    try:
        return {
            "timestamp": np.array(columns["timestamp"], dtype="float64"),
            "elapsed": np.array(columns["elapsed_time"], dtype="float64"),
            "inputs": np.array(columns["inputs"], dtype="int64"),
            "behaviors": np.array(columns["behaviors"], dtype="int64"),
            "fingerprints": np.array(columns["fingerprints"], dtype="int64"),
        }
    except OverflowError:
        return None


def _merge_reports(
    cols: dict[str, list[Any]], key_uniques: list[bytes], *, stopped: frozenset[str] = frozenset()
) -> tuple[pd.DataFrame, dict[bytes, dict[str, Any]]]:
    """Merge every worker's cumulative reports into one monotonic series per test.

    Each test's summary also has ``last_live``: the time of its latest report from a
    worker not in ``stopped`` (NaN if there is none).

    Within a test, reports are ordered by timestamp; each worker's counters are
    made monotonic (running max), and the series value is the sum over workers
    of each worker's latest value, so a late-arriving or out-of-order report
    never makes the series go backwards.
    """
    n = len(cols["nodeid"])
    if n == 0:
        return _frame("reports", {}), {}
    # Integer codes for tests and (test, worker) pairs keep the group-bys cheap.
    key_codes = np.concatenate(cols["key"])  # index into key_uniques
    worker_codes, worker_uniques = pd.factorize(pd.Series(cols["worker"], dtype=object), sort=False)
    timestamp = np.concatenate(cols["timestamp"])
    order = np.lexsort((timestamp, key_codes))
    key_codes = key_codes[order]
    worker_codes = worker_codes[order]
    timestamp = timestamp[order]
    elapsed = np.concatenate(cols["elapsed"])[order]
    inputs = np.concatenate(cols["inputs"])[order]
    behaviors = np.concatenate(cols["behaviors"])[order]
    fingerprints = np.concatenate(cols["fingerprints"])[order]

    pair = pd.Series(key_codes.astype("int64") * (len(worker_uniques) + 1) + worker_codes)
    by_pair = pd.DataFrame({"pair": pair, "inputs": inputs, "elapsed": elapsed})
    grouped = by_pair.groupby("pair", sort=False)
    worker_inputs = grouped["inputs"].cummax().to_numpy()
    worker_elapsed = grouped["elapsed"].cummax().to_numpy()
    # each worker's increase since its previous report; summed per test -> merged total
    step_inputs = (
        worker_inputs - pd.Series(worker_inputs).groupby(pair).shift(1, fill_value=0).to_numpy()
    )
    step_elapsed = (
        worker_elapsed - pd.Series(worker_elapsed).groupby(pair).shift(1, fill_value=0.0).to_numpy()
    )
    keys = pd.Series(key_codes)
    total_inputs = pd.Series(step_inputs).groupby(keys).cumsum().to_numpy()
    total_elapsed = pd.Series(step_elapsed).groupby(keys).cumsum().to_numpy()
    max_behaviors = pd.Series(behaviors).groupby(keys).cummax().to_numpy()
    max_fingerprints = pd.Series(fingerprints).groupby(keys).cummax().to_numpy()

    nodeid = np.asarray(cols["nodeid"], dtype=object)[order]
    phase = np.asarray(cols["phase"], dtype=object)[order]
    frame = _frame(
        "reports",
        {
            "nodeid": nodeid,
            "worker": np.asarray(worker_uniques, dtype=object)[worker_codes],
            "timestamp": _utc_from_seconds(timestamp),
            "elapsed_s": total_elapsed,
            "inputs": total_inputs,
            "behaviors": max_behaviors,
            "fingerprints": max_fingerprints,
            "phase": phase,
        },
    )
    # The last row of each test summarises it.
    last = np.flatnonzero(np.r_[key_codes[1:] != key_codes[:-1], True])
    since = np.asarray(cols["since"], dtype=object)[order]
    pairs_per_key = pd.Series(worker_codes).groupby(keys).nunique()
    live = ~np.isin(np.asarray(worker_uniques, dtype=object), list(stopped))[worker_codes]
    last_live = pd.Series(np.where(live, timestamp, np.nan)).groupby(keys).max()
    per_test = {}
    for i in last:
        code = key_codes[i]
        per_test[key_uniques[code]] = {
            "nodeid": nodeid[i],
            "inputs": int(total_inputs[i]),
            "behaviors": int(max_behaviors[i]),
            "fingerprints": int(max_fingerprints[i]),
            "elapsed": float(total_elapsed[i]),
            "since": since[i] if since[i] is None or _INT64_MIN <= since[i] <= _INT64_MAX else None,
            "last": float(timestamp[i]),
            "n_workers": int(pairs_per_key[code]),
            "last_live": float(last_live[code]),
        }
    return frame, per_test


def _nodeid_from_records(
    store: Store, key: bytes, failures: list[StoredFailure], fatal: Any
) -> str | None:
    """A test's nodeid when it has no reports: from its fatal failure or observations."""
    if fatal is not None:
        return fatal.nodeid
    for failure in failures:
        if failure.observation is not None and failure.observation.property:
            return failure.observation.property
    for obs in store.observations(key):
        if obs.property:
            return obs.property
    return None


_EXCEPTION_LINE = re.compile(
    r"^(?:E\s+)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failure|[A-Z]\w*))(?::\s?(.*))?$"
)


def _exception_and_message(
    status_reason: str, traceback: str | None
) -> tuple[str | None, str | None]:
    """The exception type and message of a failure, from Hypothesis' observation."""
    exception = None
    if status_reason:
        exception = status_reason.split(" at ", 1)[0].strip() or None
    message = None
    if traceback:
        lines = [line.rstrip() for line in traceback.splitlines() if line.strip()]
        # pytest-style tracebacks mark the exception lines with "E"; plain ones end with it
        marked = [line for line in lines if line.startswith("E ")]
        candidates = marked or lines[-1:]
        for line in candidates:
            match = _EXCEPTION_LINE.match(line.strip())
            if match and (
                exception is None or match.group(1).split(".")[-1] == exception.split(".")[-1]
            ):
                exception = exception or match.group(1)
                message = match.group(2) or ""
                break
        if message is None and marked:
            message = marked[0][1:].strip()
    return exception, message


def _add_failure_row(
    rows: dict[str, list[Any]], nodeid: str | None, failure: StoredFailure
) -> None:
    obs = failure.observation
    tb = obs.traceback if obs else None
    exception, message = _exception_and_message(obs.status_reason if obs else "", tb)
    rows["nodeid"].append(nodeid if nodeid is not None else (obs.property if obs else None))
    rows["state"].append(failure.state)
    rows["exception"].append(exception)
    rows["message"].append(message)
    rows["representation"].append(obs.representation if obs else None)
    rows["traceback"].append(tb)
    rows["reproduction_decorator"].append(obs.reproduction_decorator if obs else None)
    rows["choices"].append(failure.choices)
    # HypoFuzz writes run_start as a monotonic clock reading for some observations:
    # only a plausible wall-clock time (after 2001) is a first-seen time.
    rows["first_seen"].append(obs.run_start if obs and obs.run_start > 1e9 else np.nan)


def _workers_frame(store: Store, identities: list[WorkerIdentity]) -> pd.DataFrame:
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMAS["workers"]}
    for identity in identities:
        if not _INT64_MIN <= identity.pid <= _INT64_MAX:
            store.skipped["worker_identity"] += 1
            continue
        for name in columns:
            columns[name].append(getattr(identity, name))
    return _frame("workers", columns)
