"""Running one input of a test: :class:`InputRunner` and the :class:`Outcome` it returns.

An input is a choice-sequence prefix replayed by a ConjectureData and executed by
Hypothesis' own per-test state (as ``fuzz_one_input`` does internally), so an input
costs about what the test itself costs. This is the fuzzer's hot path: nothing here
runs per input that the input does not need.

Guarantees: :meth:`InputRunner.run` returns an Outcome for a passing, failing,
rejected or hanging input; it raises only :class:`~hypofuzz_nb.watchdog.InputTimeout`,
for a stray interrupt delivered after its input ended (the caller skips that input).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from random import Random
from typing import Any

from hypofuzz_nb import _compat, behaviors
from hypofuzz_nb.mutate import FuzzProvider
from hypofuzz_nb.observations import make_observation
from hypofuzz_nb.records import Observation
from hypofuzz_nb.watchdog import WATCHDOG, InputTimeout

__all__ = ["MAX_CHOICES", "InputRunner", "Outcome"]

EngineStatus = _compat.EngineStatus

#: The most choices one input may draw (past it, the input is an overrun).
MAX_CHOICES = 10_000


@dataclass(slots=True)
class Outcome:
    """What one input did: how it ended, its behaviors, and what it drew."""

    status: EngineStatus
    exception: BaseException | None
    fingerprint: frozenset
    choices: tuple
    data: Any  # the frozen ConjectureData (its nodes and spans seed mutations)
    observation: Observation | None = None


class InputRunner:
    """Runs inputs of one test with its coverage recorder and the per-input timeout."""

    def __init__(
        self, nodeid: str, random: Random, recorder: behaviors.BranchRecorder, timeout: float
    ) -> None:
        self.nodeid = nodeid
        self.random = random
        self.recorder = recorder
        self.timeout = timeout

    def run(
        self,
        state: Any,
        prefix: tuple,
        *,
        exact: bool,
        observe: bool = False,
        how: str = "",
        traced: bool = True,
    ) -> Outcome:
        """Run ``prefix`` on ``state`` (exactly, or drawing fresh choices past it).

        With ``observe``, the outcome carries an observation (2.4-8x the cost of the
        input: only for a sample); with ``traced=False``, on 3.11, the input runs
        without recording coverage.
        """
        data = _compat.engine_new_data(
            prefix, self.random, FuzzProvider, len(prefix) if exact else MAX_CHOICES
        )
        recorder = self.recorder
        recorder.reset(enabled=traced)
        start = time.time()
        t0 = time.perf_counter()
        exception: BaseException | None = None
        representation: dict[str, Any] = {}
        observing = (
            _compat.engine_observing(state) if observe else contextlib.nullcontext(representation)
        )
        try:
            WATCHDOG.arm(self.timeout, recorder.soft_interrupt)
            try:
                with observing as representation:
                    status, exception = _compat.engine_execute(state, data, (InputTimeout,))
            finally:
                WATCHDOG.disarm()
        except InputTimeout:
            status = EngineStatus.HANG
        duration = time.perf_counter() - t0
        branches = recorder.take()
        events, targets = _compat.engine_features(data)
        fingerprint = branches | behaviors.features_behaviors(events, targets)
        outcome = Outcome(status, exception, fingerprint, _compat.engine_choices(data), data)
        if observe:
            outcome.observation = make_observation(
                self.nodeid,
                outcome.status,
                outcome.exception,
                outcome.choices,
                events=events,
                targets=targets,
                arguments=_compat.engine_observed_arguments(data),
                representation=representation.get("representation", ""),
                start=start,
                duration=duration,
                how=how,
                timeout=self.timeout,
            )
        return outcome
