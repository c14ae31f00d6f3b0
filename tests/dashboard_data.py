"""Test data for the plots, failures and widgets tests.

``make_data`` builds frames with the schema of docs/INTERNALS.md (``frames.load``)
directly; ``write_database`` writes the same kind of content into a real
ExampleDatabase through ``hypofuzz_nb.records``, for tests that load it back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
from hypothesis.database import ExampleDatabase

from hypofuzz_nb import records

#: A generated string as nasty as a fuzzer's: it must never reach HTML unescaped.
EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


@dataclass
class FakeFuzzData:
    """Stands in for frames.FuzzData: the same five frames, built by hand."""

    tests: pd.DataFrame
    reports: pd.DataFrame
    failures: pd.DataFrame
    corpus: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["nodeid", "size", "representation"])
    )
    workers: pd.DataFrame = field(default_factory=pd.DataFrame)


def make_reports(n_tests: int = 3, n_reports: int = 20, *, start: float = 1.7e9) -> pd.DataFrame:
    rows = []
    for t in range(n_tests):
        for r in range(n_reports):
            rows.append(
                {
                    "nodeid": f"tests/test_mod.py::test_{t}",
                    "worker": "w0",
                    "timestamp": pd.Timestamp(start + r, unit="s", tz="UTC"),
                    "elapsed_s": float(r),
                    "inputs": 100 * r,
                    "behaviors": 5 + r + t,
                    "fingerprints": 3 + 2 * r,
                    "phase": "generate",
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "nodeid",
            "worker",
            "timestamp",
            "elapsed_s",
            "inputs",
            "behaviors",
            "fingerprints",
            "phase",
        ],
    )


FAILURE_COLUMNS = [
    "nodeid",
    "state",
    "exception",
    "message",
    "representation",
    "traceback",
    "reproduction_decorator",
    "choices",
    "first_seen",
]


def failure_row(
    nodeid: str = "tests/test_mod.py::test_0",
    *,
    state: str = "shrunk",
    exception: str = "ValueError",
    message: str = EVIL,
    representation: str = f"test_0(\n    x={EVIL!r},\n)",
    traceback: str = (
        "Traceback (most recent call last):\n"
        '  File "tests/test_mod.py", line 7, in test_0\n'
        f"    raise ValueError({EVIL!r})\n"
        f"ValueError: {EVIL}\n"
    ),
    reproduction_decorator: str = "@reproduce_failure('6.170.17', b'AXicY2BgAAAABAAB')",
    choices: tuple = (EVIL,),
) -> dict:
    return {
        "nodeid": nodeid,
        "state": state,
        "exception": exception,
        "message": message,
        "representation": representation,
        "traceback": traceback,
        "reproduction_decorator": reproduction_decorator,
        "choices": choices,
        "first_seen": pd.Timestamp(1.7e9, unit="s", tz="UTC"),
    }


def make_tests(reports: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for nodeid, group in reports.groupby("nodeid", sort=True):
        last = group.iloc[-1]
        n_failures = int((failures["nodeid"] == nodeid).sum()) if len(failures) else 0
        rows.append(
            {
                "nodeid": nodeid,
                "database_key": "",
                "status": "failed" if n_failures else "running",
                "inputs": int(last["inputs"]),
                "behaviors": int(last["behaviors"]),
                "fingerprints": int(last["fingerprints"]),
                "elapsed_s": float(last["elapsed_s"]),
                "inputs_per_s": float(last["inputs"]) / max(float(last["elapsed_s"]), 1e-9),
                "since_new_behavior": 7,
                "last_update": last["timestamp"],
                "n_failures": n_failures,
                "n_workers": 1,
                "solver_calls": 0,
                "solver_seconds": 0.0,
                "solver_inputs": 0,
                "solver_found": 0,
                "solver_errors": 0,
                "solver_error": "",
            }
        )
    return pd.DataFrame(rows)


def make_data(n_tests: int = 3, n_reports: int = 20, failures: list[dict] | None = None):
    reports = make_reports(n_tests, n_reports)
    failures_frame = pd.DataFrame(failures or [], columns=FAILURE_COLUMNS)
    return FakeFuzzData(
        tests=make_tests(reports, failures_frame), reports=reports, failures=failures_frame
    )


def empty_data() -> FakeFuzzData:
    return make_data(0, 0)


def write_reports(
    db: ExampleDatabase,
    key: bytes,
    nodeid: str,
    n_reports: int,
    *,
    worker_uuid: str = "0" * 32,
    start: float | None = None,
) -> None:
    """Write ``n_reports`` Reports for one test, as a worker would, plus its test key."""
    start = time.time() if start is None else start
    db.save(records.TEST_KEYS_KEY, key)
    for r in range(n_reports):
        report = records.Report(
            database_key=records.key_to_base64(key),
            nodeid=nodeid,
            elapsed_time=float(r + 1),
            timestamp=start + r,
            worker_uuid=worker_uuid,
            status_counts={"0": 0, "1": r, "2": 100 * (r + 1), "3": 0},
            behaviors=5 + r,
            fingerprints=3 + 2 * r,
            since_new_behavior=0,
            phase="generate",
        )
        db.save(records.reports_key(key), report.to_bytes())


def write_failure(
    db: ExampleDatabase,
    key: bytes,
    nodeid: str,
    choices: tuple,
    *,
    arguments: dict | None = None,
    representation: str | None = None,
    traceback: str = "Traceback (most recent call last):\nValueError: boom\n",
) -> bytes:
    """Save a shrunk failure under ``key`` exactly as the layout says; return its bytes."""
    value = records.encode_choices(choices)
    db.save(key, value)
    observation = records.Observation(
        status="failed",
        status_reason="ValueError: boom",
        representation=representation or f"{nodeid.rsplit('::', 1)[-1]}()",
        property=nodeid,
        run_start=time.time(),
        arguments=arguments or {},
        metadata={"traceback": traceback, "reproduction_decorator": None},
    )
    db.save(records.failure_observation_key(key, "shrunk", value), observation.to_bytes())
    return value
