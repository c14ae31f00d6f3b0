"""The database layout of docs/DATABASE.md: keys, typed records, encode and decode.

This module is pure data: it performs no I/O and holds no policy about when to
read or write. Every decoder is *total*: given arbitrary bytes it returns a
record or ``None``, and never raises, never unpickles and never evaluates.

The layout is the one HypoFuzz 25.x uses, so databases written by either tool
can be read by the other. HypoFuzz rebuilds Report, WorkerIdentity and
FatalFailure as ``Cls(**json)``, so the encoders here write exactly the
documented fields and nothing else.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis.database import choices_from_bytes, choices_to_bytes

__all__ = [
    "FAILURE_STATES",
    "OBSERVATIONS_LIMIT",
    "PHASES",
    "TEST_KEYS_KEY",
    "WORKER_UUIDS_KEY",
    "ChoicesT",
    "FatalFailure",
    "Observation",
    "Report",
    "WorkerIdentity",
    "corpus_key",
    "corpus_observation_key",
    "decode_choices",
    "encode_choices",
    "failure_observation_key",
    "fatal_failure_key",
    "fixed_key",
    "key_from_base64",
    "key_to_base64",
    "observations_key",
    "pareto_key",
    "reports_key",
    "secondary_key",
    "value_digest",
    "worker_identity_key",
]

ChoicesT = tuple[Any, ...]

TEST_KEYS_KEY = b"hypofuzz.test_keys"
WORKER_UUIDS_KEY = b"hypofuzz.worker_uuids"

#: HypoFuzz keeps at most this many rolling observations per test.
OBSERVATIONS_LIMIT = 300

PHASES = ("generate", "replay", "distill", "shrink", "failed")
PhaseT = Literal["generate", "replay", "distill", "shrink", "failed"]
FAILURE_STATES = ("shrunk", "unshrunk", "fixed")
FailureStateT = Literal["shrunk", "unshrunk", "fixed"]

# Keys ------------------------------------------------------------------------


def worker_identity_key(worker_uuid: str) -> bytes:
    return b"hypofuzz.worker_identity." + worker_uuid.encode("ascii")


def secondary_key(key: bytes) -> bytes:
    """Hypothesis' own key for unshrunk failures of the test."""
    return key + b".secondary"


def pareto_key(key: bytes) -> bytes:
    """Hypothesis' ``target()`` front: read as seeds, never written by us."""
    return key + b".pareto"


def fixed_key(key: bytes) -> bytes:
    return key + b".fixed"


def corpus_key(key: bytes) -> bytes:
    return key + b".hypofuzz.corpus"


def value_digest(value: bytes) -> bytes:
    """The 20 raw sha1 bytes that name a corpus or failure value's observation."""
    return hashlib.sha1(value).digest()


def corpus_observation_key(key: bytes, choices_bytes: bytes) -> bytes:
    return key + b".hypofuzz.corpus." + value_digest(choices_bytes) + b".observation"


def failure_observation_key(key: bytes, state: FailureStateT, choices_bytes: bytes) -> bytes:
    if state not in FAILURE_STATES:
        raise ValueError(f"failure state must be one of {FAILURE_STATES}, not {state!r}")
    return (
        key
        + b".hypofuzz.failures."
        + state.encode("ascii")
        + b"."
        + value_digest(choices_bytes)
        + b".observation"
    )


def reports_key(key: bytes) -> bytes:
    return key + b".hypofuzz.reports"


def observations_key(key: bytes) -> bytes:
    return key + b".hypofuzz.observations"


def fatal_failure_key(key: bytes) -> bytes:
    return key + b".hypofuzz.fatal_failure"


def timeouts_key(key: bytes) -> bytes:
    """Where hanging inputs are kept: our own key, never replayed by plain pytest."""
    return key + b".hypofuzz_nb.timeouts"


def timeout_observation_key(key: bytes, choices_bytes: bytes) -> bytes:
    return timeouts_key(key) + b"." + value_digest(choices_bytes) + b".observation"


def key_to_base64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def key_from_base64(text: str) -> bytes | None:
    """The raw key of a report's ``database_key``, or ``None`` if it is not base64."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError, AttributeError):
        return None


# Choice sequences -------------------------------------------------------------


def encode_choices(choices: Iterable[Any]) -> bytes:
    """Hypothesis' own serialisation of a choice sequence (``choices_to_bytes``)."""
    return choices_to_bytes(tuple(choices))


def decode_choices(value: bytes) -> ChoicesT | None:
    """The choice sequence in ``value``, or ``None`` if it is not one."""
    try:
        return choices_from_bytes(value)
    except Exception:
        # choices_from_bytes promises None for unreadable input; belt and braces,
        # because a reader must never raise on a stranger's value.
        return None


# JSON ---------------------------------------------------------------------------

_NONFINITE = {
    math.inf: "hypofuzz-inf-a928fa52",
    -math.inf: "hypofuzz-ninf-a928fa52",
}
_NAN = "hypofuzz-nan-a928fa52"


def _encode_nonfinite(value: Any) -> Any:
    """Replace non-finite floats with HypoFuzz's marker strings, recursively."""
    if isinstance(value, float):
        if math.isnan(value):
            return _NAN
        return _NONFINITE.get(value, value)
    if isinstance(value, Mapping):
        return {str(k): _encode_nonfinite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_nonfinite(v) for v in value]
    return value


_MARKERS = {marker: value for value, marker in _NONFINITE.items()} | {_NAN: math.nan}


def _decode_nonfinite(value: Any) -> Any:
    """Undo :func:`_encode_nonfinite`: marker strings back to non-finite floats."""
    if isinstance(value, str):
        return _MARKERS.get(value, value)
    if isinstance(value, dict):
        return {k: _decode_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_nonfinite(v) for v in value]
    return value


def _to_json_bytes(obj: Mapping[str, Any]) -> bytes:
    # ensure_ascii (the default) makes the output ASCII, as the layout requires;
    # allow_nan=False catches a non-finite float we failed to encode.
    return json.dumps(obj, allow_nan=False).encode("ascii")


def _from_json_bytes(value: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """One progress point of one test from one worker (cumulative for that worker)."""

    database_key: str
    nodeid: str
    elapsed_time: float
    timestamp: float
    worker_uuid: str
    status_counts: dict[str, int]
    behaviors: int
    fingerprints: int
    since_new_behavior: int | None
    phase: str

    FIELDS = (
        "database_key",
        "nodeid",
        "elapsed_time",
        "timestamp",
        "worker_uuid",
        "status_counts",
        "behaviors",
        "fingerprints",
        "since_new_behavior",
        "phase",
    )

    @property
    def inputs(self) -> int:
        """Inputs this worker has run for the test: the sum of its status counts."""
        return sum(self.status_counts.values())

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def to_bytes(self) -> bytes:
        return _to_json_bytes(self.to_json())

    @classmethod
    def from_json(cls, obj: Any) -> Report | None:
        """A Report from decoded JSON, or ``None`` if any field is missing or wrong.

        ``since_new_branch`` is read as the old name of ``since_new_behavior``.
        """
        if not isinstance(obj, dict):
            return None
        if "since_new_behavior" not in obj and "since_new_branch" in obj:
            obj = dict(obj)
            obj["since_new_behavior"] = obj.pop("since_new_branch")
        if obj.keys() != _REPORT_FIELDS:
            return None
        counts = obj["status_counts"]
        since = obj["since_new_behavior"]
        if not (
            isinstance(obj["database_key"], str)
            and isinstance(obj["nodeid"], str)
            and _is_number(obj["elapsed_time"])
            and _is_number(obj["timestamp"])
            and isinstance(obj["worker_uuid"], str)
            and isinstance(counts, dict)
            and all(isinstance(k, str) and _is_int(v) for k, v in counts.items())
            and _is_int(obj["behaviors"])
            and _is_int(obj["fingerprints"])
            and (since is None or _is_int(since))
            and obj["phase"] in PHASES
        ):
            return None
        return cls(**obj)

    @classmethod
    def from_bytes(cls, value: bytes) -> Report | None:
        return cls.from_json(_from_json_bytes(value))


_REPORT_FIELDS = frozenset(Report.FIELDS)


OBSERVATION_FIELDS = (
    "type",
    "status",
    "status_reason",
    "representation",
    "arguments",
    "how_generated",
    "features",
    "timing",
    "metadata",
    "property",
    "run_start",
    "stability",
)


@dataclass(frozen=True, slots=True)
class Observation:
    """One executed input, in Hypothesis' test-case observation format plus ``stability``.

    ``metadata`` holds ``traceback``, ``reproduction_decorator``, ``predicates``,
    ``backend``, ``sys_argv``, ``os_getpid``, ``imported_at`` and ``data_status``.
    """

    status: str
    representation: str
    property: str
    run_start: float
    status_reason: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    how_generated: str = ""
    features: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    stability: str | None = None
    type: str = "test_case"

    @property
    def traceback(self) -> str | None:
        tb = self.metadata.get("traceback")
        return tb if isinstance(tb, str) else None

    @property
    def reproduction_decorator(self) -> str | None:
        dec = self.metadata.get("reproduction_decorator")
        return dec if isinstance(dec, str) else None

    def to_json(self) -> dict[str, Any]:
        obj = {name: getattr(self, name) for name in OBSERVATION_FIELDS}
        obj["arguments"] = _encode_nonfinite(self.arguments)
        obj["features"] = _encode_nonfinite(self.features)
        obj["timing"] = _encode_nonfinite(self.timing)
        obj["metadata"] = _encode_nonfinite(self.metadata)
        return obj

    def to_bytes(self) -> bytes:
        return _to_json_bytes(self.to_json())

    @classmethod
    def from_json(cls, obj: Any) -> Observation | None:
        if not isinstance(obj, dict) or obj.keys() != _OBSERVATION_FIELDS:
            return None
        if not (
            obj["type"] == "test_case"
            and obj["status"] in ("passed", "failed", "gave_up")
            and isinstance(obj["status_reason"], str)
            and isinstance(obj["representation"], str)
            and isinstance(obj["arguments"], dict)
            and isinstance(obj["how_generated"], str)
            and isinstance(obj["features"], dict)
            and isinstance(obj["timing"], dict)
            and isinstance(obj["metadata"], dict)
            and isinstance(obj["property"], str)
            and _is_number(obj["run_start"])
            and obj["stability"] in ("stable", "unstable", None)
        ):
            return None
        obj = dict(obj)
        try:
            obj["arguments"] = _decode_nonfinite(obj["arguments"])
            obj["features"] = _decode_nonfinite(obj["features"])
            # to_json encodes these two as well (json has no non-finite floats): undo it
            obj["timing"] = _decode_nonfinite(obj["timing"])
            obj["metadata"] = _decode_nonfinite(obj["metadata"])
        except RecursionError:  # nesting json.loads accepts but we cannot walk
            return None
        return cls(**obj)

    @classmethod
    def from_bytes(cls, value: bytes) -> Observation | None:
        return cls.from_json(_from_json_bytes(value))


_OBSERVATION_FIELDS = frozenset(OBSERVATION_FIELDS)


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Where a worker runs. ``hypofuzz_version`` is ours, prefixed ``hypofuzz_nb-``."""

    uuid: str
    operating_system: str
    python_version: str
    hypothesis_version: str
    hypofuzz_version: str
    pid: int
    hostname: str
    pod_name: str | None = None
    pod_namespace: str | None = None
    node_name: str | None = None
    pod_ip: str | None = None
    container_id: str | None = None
    git_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_bytes(self) -> bytes:
        return _to_json_bytes(self.to_json())

    @classmethod
    def from_json(cls, obj: Any) -> WorkerIdentity | None:
        if not isinstance(obj, dict) or obj.keys() != _WORKER_FIELDS:
            return None
        optional = ("pod_name", "pod_namespace", "node_name", "pod_ip", "container_id", "git_hash")
        if not (
            all(
                isinstance(obj[name], str)
                for name in (
                    "uuid",
                    "operating_system",
                    "python_version",
                    "hypothesis_version",
                    "hypofuzz_version",
                    "hostname",
                )
            )
            and _is_int(obj["pid"])
            and all(obj[name] is None or isinstance(obj[name], str) for name in optional)
        ):
            return None
        return cls(**obj)

    @classmethod
    def from_bytes(cls, value: bytes) -> WorkerIdentity | None:
        return cls.from_json(_from_json_bytes(value))


_WORKER_FIELDS = frozenset(f.name for f in dataclasses.fields(WorkerIdentity))


@dataclass(frozen=True, slots=True)
class FatalFailure:
    """The test could not run at all (fixture error, import error, ...)."""

    nodeid: str
    traceback: str

    def to_bytes(self) -> bytes:
        return _to_json_bytes({"nodeid": self.nodeid, "traceback": self.traceback})

    @classmethod
    def from_json(cls, obj: Any) -> FatalFailure | None:
        if (
            not isinstance(obj, dict)
            or obj.keys() != {"nodeid", "traceback"}
            or not isinstance(obj["nodeid"], str)
            or not isinstance(obj["traceback"], str)
        ):
            return None
        return cls(**obj)

    @classmethod
    def from_bytes(cls, value: bytes) -> FatalFailure | None:
        return cls.from_json(_from_json_bytes(value))
