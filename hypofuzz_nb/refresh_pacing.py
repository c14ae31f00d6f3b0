"""How often the dashboard's refresher redraws: a signature of the data, so that it
redraws only what changed, and a budget of seconds of work, so that it takes only a
small share of the kernel's time (it shares the GIL with the user's code).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd

__all__ = ["WorkBudget", "data_signature"]


def _hashable(value: Any) -> Any:
    # Cells may hold tuples (choices) or dicts: repr them. A NaN hashes by identity
    # and pd.NA cannot be compared: both become None, so equal frames hash equal.
    if isinstance(value, (list, tuple, dict, bytes, set)):
        return repr(value)
    if value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value


def _frame_hash(frame: pd.DataFrame) -> int:
    # Row by row in Python: five times faster than pandas' hashing on frames of this
    # size (one row per test or failure), and the refresher runs it on every reload.
    return hash(
        tuple(tuple(_hashable(v) for v in row) for row in frame.itertuples(index=False, name=None))
    )


def data_signature(data: Any) -> tuple:
    """A cheap fingerprint of the data: equal signatures mean nothing to redraw.

    The tests and failures frames are small (one row per test or failure) and
    hashed whole; the reports frame can hold hundreds of thousands of rows, and
    any new report also changes its length or its test's row in ``tests``.
    """
    reports = data.reports
    last = reports["timestamp"].max() if len(reports) and "timestamp" in reports else None
    return (
        _frame_hash(data.tests) if len(data.tests) else 0,
        _frame_hash(data.failures) if len(data.failures) else 0,
        len(reports),
        str(last),
    )


class WorkBudget:
    """A token bucket of seconds of work: it fills at ``share`` seconds per second up
    to ``burst``; work spends it, and more work waits while it is below zero."""

    def __init__(self, share: float, burst: float) -> None:
        self.share = share
        self.burst = burst
        self.level = burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _fill(self) -> None:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self._at) * self.share)
        self._at = now

    def wait_time(self) -> float:
        """Seconds until work may start (0 if it may start now)."""
        with self._lock:
            self._fill()
            return 0.0 if self.level >= 0 else -self.level / self.share

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._fill()
            self.level -= max(seconds, 0.0)
