"""Saving the input that was running when a worker process died or hung.

Guarantees:

* An input that killed its process is saved as a failure of its test, under the
  test's own key, so that a plain ``pytest`` run replays it first.
* An input that hung its process is saved where the engine keeps timeouts, never
  under the test's key: plain ``pytest`` would hang on it.
* Saving never raises: the supervisor must go on supervising even if the database
  is unreachable now (the crash is still visible in the session status).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from hypofuzz_nb import records

__all__ = ["save_crash", "save_hang"]

#: ``data_status`` of Hypothesis' observations for an input that failed the test.
DATA_STATUS_INTERESTING = 3


def save_crash(database: Any, nodeid: str, key: bytes, choices_bytes: bytes, how: str) -> None:
    """Save an input that killed its worker process as a failure of its test.

    It goes under the test's own key (as if shrunk: it cannot be shrunk without
    killing more processes), so a plain ``pytest`` run replays it first.
    """
    observation = records.Observation(
        status="failed",
        status_reason=f"{how} while running this input",
        representation="",
        property=nodeid,
        run_start=time.time(),
        metadata={
            "traceback": f"WorkerProcessDied: {how} while running this input.\n",
            "reproduction_decorator": None,
            "data_status": DATA_STATUS_INTERESTING,
        },
        how_generated="fuzzer",
    )
    from hypofuzz_nb.store import Store

    # The supervisor must go on supervising even if the database is unreachable now;
    # the crash is still visible in the session status.
    with contextlib.suppress(Exception):
        Store(database).save_failure(key, "shrunk", choices_bytes, observation)


def save_hang(database: Any, nodeid: str, key: bytes, choices_bytes: bytes, how: str) -> None:
    """Save an input that hung its worker process where the engine keeps timeouts."""
    observation = records.Observation(
        status="failed",
        status_reason=f"timeout: {how} while running this input",
        representation="",
        property=nodeid,
        run_start=time.time(),
        metadata={
            "traceback": None,
            "reproduction_decorator": None,
            "data_status": DATA_STATUS_INTERESTING,
        },
        how_generated="fuzz:timeout",
    )
    from hypofuzz_nb.store import Store

    with contextlib.suppress(Exception):
        Store(database).save_timeout(key, choices_bytes, observation)
