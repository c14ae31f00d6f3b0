"""The observing probe of a replay: one Hypothesis observation per replayed input.

Used by :mod:`hypofuzz_nb.replay` in its subprocess for ``distributions(sample=N)``:
each input runs under Hypothesis' observability and :class:`ObservingProbe` turns
what it did (status, events, ``target()`` values, arguments, representation, run
time, number of choices) into an :class:`~hypofuzz_nb.records.Observation`, as the
fuzzer does for the inputs it samples. ``how_generated`` is ``"fuzz:replay"`` for
stored inputs and ``"fuzz:mutate"`` for mutations (the request's ``mutated_from``
index onwards). The number of choices is kept in ``metadata["choices_size"]``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hypofuzz_nb import _compat
from hypofuzz_nb.observations import make_observation
from hypofuzz_nb.records import Observation

__all__ = ["CHOICES_SIZE", "ObservingProbe"]

#: The metadata field of a sampled observation that holds its number of choices.
CHOICES_SIZE = "choices_size"


class ObservingProbe:
    """A replay probe (see :mod:`hypofuzz_nb.replay`) that observes every input.

    ``nodeids[test index]`` names each test; ``mutated_from[test index]`` is the
    index of its first mutated input (those before it are stored inputs); ``timeout``
    is the replay's per-input timeout, named in the observation of a hang."""

    def __init__(self, nodeids: Sequence[str], mutated_from: Sequence[int], timeout: float) -> None:
        self.nodeids = list(nodeids)
        self.mutated_from = list(mutated_from)
        self.timeout = timeout
        self.observations: list[list[Observation]] = [[] for _ in self.nodeids]
        self._start = 0.0
        self._t0 = 0.0
        self._duration = 0.0

    def start(self) -> None:
        pass

    @contextmanager
    def input(self, test_index: int, input_index: int) -> Iterator[None]:
        self._start = time.time()
        self._t0 = time.perf_counter()
        try:
            yield
        finally:
            self._duration = time.perf_counter() - self._t0

    @contextmanager
    def paused(self) -> Iterator[None]:
        yield

    def ran(
        self,
        test_index: int,
        input_index: int,
        data: Any,
        status: Any,
        exception: BaseException | None,
        representation: str,
    ) -> None:
        events, targets = _compat.engine_features(data)
        choices = _compat.engine_choices(data)
        mutated = input_index >= self.mutated_from[test_index]
        observation = make_observation(
            self.nodeids[test_index],
            status,
            exception,
            choices,
            events=events,
            targets=targets,
            arguments=_compat.engine_observed_arguments(data),
            representation=representation,
            start=self._start,
            duration=self._duration,
            how="fuzz:mutate" if mutated else "fuzz:replay",
            timeout=self.timeout,
        )
        observation.metadata[CHOICES_SIZE] = len(choices)
        self.observations[test_index].append(observation)

    def result(self, tests: Sequence[Any]) -> list[list[Observation]]:
        return self.observations
