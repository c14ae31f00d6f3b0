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


def _observation(nodeid: str, reason: str, traceback: str | None, how: str) -> records.Observation:
    """What is known of an input that ended its process: no representation (the
    process is gone), only how it ended."""
    return records.Observation(
        status="failed",
        status_reason=reason,
        representation="",
        property=nodeid,
        run_start=time.time(),
        metadata={
            "traceback": traceback,
            "reproduction_decorator": None,
            "data_status": DATA_STATUS_INTERESTING,
        },
        how_generated=how,
    )


def save_crash(database: Any, nodeid: str, key: bytes, choices_bytes: bytes, how: str) -> None:
    """Save an input that killed its worker process as a failure of its test.

    It goes under the test's own key (as if shrunk: it cannot be shrunk without
    killing more processes), so a plain ``pytest`` run replays it first.
    """
    from hypofuzz_nb.store import Store

    observation = _observation(
        nodeid,
        f"{how} while running this input",
        f"WorkerProcessDied: {how} while running this input.\n",
        "fuzzer",
    )
    with contextlib.suppress(Exception):
        Store(database).save_failure(key, "shrunk", choices_bytes, observation)


def save_hang(database: Any, nodeid: str, key: bytes, choices_bytes: bytes, how: str) -> None:
    """Save an input that hung its worker process where the engine keeps timeouts."""
    from hypofuzz_nb.store import Store

    observation = _observation(
        nodeid, f"timeout: {how} while running this input", None, "fuzz:timeout"
    )
    with contextlib.suppress(Exception):
        Store(database).save_timeout(key, choices_bytes, observation)
