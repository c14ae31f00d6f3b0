"""When a fuzzer writes its progress reports, and how their number stays bounded.

A :class:`ReportSchedule` writes a report on every phase change (the fuzzer calls
:meth:`~ReportSchedule.write`), on discoveries (coalesced to at most one per
:data:`DISCOVERY_REPORT_INTERVAL` seconds, and at the end of every batch), and
timed: :data:`FIRST_TIMED_INTERVAL` seconds at first, backing off by
:data:`TIMED_BACKOFF` up to :data:`MAX_TIMED_INTERVAL`. Of its purely timed reports
it keeps at most :data:`MAX_TIMED_REPORTS`, dropping every other old one, so that
a long run's reports stay bounded while the whole run stays visible.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from hypofuzz_nb.records import Report

__all__ = ["ReportSchedule"]

DISCOVERY_REPORT_INTERVAL = 1.0
FIRST_TIMED_INTERVAL = 2.0
TIMED_BACKOFF = 1.5
MAX_TIMED_INTERVAL = 60.0
MAX_TIMED_REPORTS = 100


class ReportSchedule:
    """Writes the reports of one test's fuzzer to ``store`` under ``key``.

    ``snapshot`` makes the report to write (a consistent copy of the fuzzer's
    counters). Called from the fuzzing thread only.
    """

    def __init__(self, store: Any, key: bytes, snapshot: Callable[[], Report]) -> None:
        self.store = store
        self.key = key
        self.snapshot = snapshot
        self._interval = FIRST_TIMED_INTERVAL
        self._next_timed = 0.0
        self._last_write = 0.0
        self._discovery_pending = False
        self._timed: list[Report] = []

    def discovered(self) -> None:
        """Note a discovery: it is reported soon (see :meth:`maybe_write`)."""
        self._discovery_pending = True

    def maybe_write(self, *, end_of_batch: bool = False) -> None:
        """Write a report if one is due: for a pending discovery (at once at the end
        of a batch), else a timed one."""
        now = time.monotonic()
        if self._discovery_pending and (
            end_of_batch or now - self._last_write >= DISCOVERY_REPORT_INTERVAL
        ):
            self.write()
        elif now >= self._next_timed:
            self._timed.append(self.write())
            self._interval = min(self._interval * TIMED_BACKOFF, MAX_TIMED_INTERVAL)
            self._thin_timed()

    def write(self) -> Report:
        """Write a report now."""
        report = self.snapshot()
        self.store.save_report(self.key, report)
        now = time.monotonic()
        self._last_write = now
        self._next_timed = now + self._interval
        self._discovery_pending = False
        return report

    def _thin_timed(self) -> None:
        if len(self._timed) <= MAX_TIMED_REPORTS:
            return
        half = MAX_TIMED_REPORTS // 2
        old, recent = self._timed[:half], self._timed[half:]
        for report in old[1::2]:
            with contextlib.suppress(Exception):
                self.store.delete_report(self.key, report)
        self._timed = old[0::2] + recent
