"""Which test of a worker runs the next batch: :class:`Scheduler`.

The scheduler is pure bookkeeping (no clock, no threads, no I/O): the fuzz loop
tells it what each batch cost and found, and asks it for the next test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["Scheduler"]


class Scheduler:
    """Chooses which test runs the next batch.

    Most picks are greedy: the test expected to find a new behavior soonest runs
    next. That expectation is ``1 / (seconds of its own fuzzing since its last new
    behavior + 1)``: a test still climbing a chain of comparisons finds its next
    step after seconds and keeps the time, while tests that have found nothing for
    long share what is left (the one idle the shortest first, which evens out their
    time). Seconds, not inputs: per input, a slow test (a state machine, a big
    strategy) looks as promising as a fast one while costing ten times as much.

    A ``1 / fair_every`` share of the *time* (not of the picks: a batch may last
    0.05 s or 2 s) goes to the test that has had the least time so far, so that no
    test starves while another keeps finding things. A test that has never run
    runs before any other runs again.
    """

    def __init__(self, n: int, *, fair_every: int = 3) -> None:
        self._ran = [False] * n
        self._since_new = [0.0] * n
        self._last_pick = [-1] * n
        self._total_cost = [0.0] * n
        self._fair_cost = 0.0
        self._all_cost = 0.0
        self._picks = 0
        self._fair_every = fair_every
        self._fair_pick = -1

    def rate(self, index: int) -> float:
        """Expected new behaviors per second of ``index`` (inf before its first batch)."""
        if not self._ran[index]:
            return math.inf
        return 1.0 / (self._since_new[index] + 1.0)

    def pick(self, candidates: Sequence[int]) -> int:
        if not candidates:
            raise ValueError("nothing to schedule")
        self._picks += 1
        if self._fair_cost * self._fair_every < self._all_cost:
            chosen = min(candidates, key=lambda i: (self._total_cost[i], self._last_pick[i]))
            self._fair_pick = self._picks
        else:
            chosen = max(candidates, key=lambda i: (self.rate(i), -self._last_pick[i]))
        self._last_pick[chosen] = self._picks
        return chosen

    def record(
        self, index: int, inputs: int, new_behaviors: float, seconds: float | None = None
    ) -> None:
        """The batch just picked for ``index`` ran ``inputs`` inputs in ``seconds`` and
        found ``new_behaviors``. Without ``seconds`` the batch costs its number of inputs."""
        cost = max(inputs, 0) if seconds is None else max(seconds, 0.0)
        self._ran[index] = True
        self._since_new[index] = 0.0 if new_behaviors > 0 else self._since_new[index] + cost
        self._total_cost[index] += cost
        self._all_cost += cost
        if self._fair_pick == self._picks:
            self._fair_cost += cost
