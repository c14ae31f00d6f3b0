"""Observations of inputs: which inputs get one, and the Observation records themselves.

Observability costs 2.4-8x per input, so a fuzzer observes a sample only: at most
one input every :data:`OBSERVATION_INTERVAL` seconds (:class:`ObservationSampler`),
plus the inputs that matter (corpus entries, failures, hangs), which the engine
observes on purpose. :func:`make_observation` builds the record, in Hypothesis'
observability vocabulary (``status`` "passed", "failed" or "gave_up").

Guarantees: a record made here survives ``json.dumps`` (values that would not are
replaced by their repr) and never exceeds :data:`MAX_STATUS_REASON` characters of
status reason.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from hypofuzz_nb import _compat
from hypofuzz_nb.records import Observation
from hypofuzz_nb.userframes import user_traceback

__all__ = ["OBSERVATION_INTERVAL", "ObservationSampler", "make_observation"]

EngineStatus = _compat.EngineStatus

#: Seconds between two sampled observations of one fuzzer.
OBSERVATION_INTERVAL = 5.0
#: Longest ``status_reason`` kept (an exception's message can be huge).
MAX_STATUS_REASON = 1000

#: An outcome in Hypothesis' observability vocabulary; a hang is a failure.
OBSERVATION_STATUS = {
    EngineStatus.HANG: "failed",
    EngineStatus.OVERRUN: "gave_up",
    EngineStatus.INVALID: "gave_up",
    EngineStatus.VALID: "passed",
    EngineStatus.INTERESTING: "failed",
}

_IMPORTED_AT = time.time()


class ObservationSampler:
    """Decides which inputs of one fuzzer are observed: one per interval at most."""

    def __init__(self) -> None:
        self._last = -math.inf

    def due(self, now: float) -> bool:
        """Whether the input about to run at ``now`` (``time.monotonic()``) is observed."""
        return now - self._last >= OBSERVATION_INTERVAL

    def observed(self, now: float) -> None:
        """Note that the input started at ``now`` was observed."""
        self._last = now


def make_observation(
    nodeid: str,
    status: EngineStatus,
    exception: BaseException | None,
    choices: tuple,
    *,
    events: Mapping[str, Any],
    targets: Mapping[str, float],
    arguments: Mapping[str, Any],
    representation: str,
    start: float,
    duration: float,
    how: str,
    timeout: float,
) -> Observation:
    """The observation of one input of test ``nodeid`` that ended with ``status``.

    ``timeout`` is the per-input timeout (named in a hang's traceback); ``start`` is
    ``time.time()`` when the input started and ``duration`` its run time in seconds.
    """
    features: dict[str, Any] = {f"target:{k}".strip(":"): v for k, v in targets.items()}
    for k, v in events.items():
        features[k] = v if isinstance(v, (str, int, float)) else str(v)
    traceback = None
    reproduction = None
    status_reason = ""
    if status == EngineStatus.INTERESTING and exception is not None:
        traceback = user_traceback(exception)
        reproduction = _compat.engine_reproduction_decorator(choices)
    elif status == EngineStatus.HANG:
        traceback = f"InputTimeout: the input ran longer than {timeout} s"
        status_reason = "timeout"
    if exception is not None:
        status_reason = f"{type(exception).__name__}: {exception}"[:MAX_STATUS_REASON]
    jsonable_arguments = {k: _compat.engine_to_jsonable(v) for k, v in arguments.items()}
    return Observation(
        status=OBSERVATION_STATUS[status],
        status_reason=status_reason,
        representation=representation,
        arguments=_jsonable_dict(jsonable_arguments),
        how_generated=how,
        features=_jsonable_dict(features),
        timing={"execute:test": duration},
        metadata={
            "traceback": traceback,
            "reproduction_decorator": reproduction,
            "predicates": {},
            "backend": {},
            "sys_argv": list(sys.argv),
            "os_getpid": os.getpid(),
            "imported_at": _IMPORTED_AT,
            # Hypothesis' own status field has no hang: one shows as an overrun there
            "data_status": max(int(status), int(EngineStatus.OVERRUN)),
        },
        property=nodeid,
        run_start=start,
    )


def _jsonable_dict(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Make sure ``obj`` survives json.dumps (reprs for anything that would not)."""
    out = {}
    for k, v in obj.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            v = repr(v)
        out[str(k)] = v
    return out
