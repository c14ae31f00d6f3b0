"""The database's values: choice sequences, and the JSON records (reports, observations,
worker identities, fatal failures, stop marks), each with its one validator.

Every decoder is *total*: given arbitrary bytes it returns a record or ``None``, and
never raises, never unpickles and never evaluates. HypoFuzz rebuilds Report,
WorkerIdentity and FatalFailure as ``Cls(**json)``, so the encoders here write
exactly the documented fields and nothing else.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis.database import choices_from_bytes, choices_to_bytes

from hypofuzz_nb.records.keys import PHASES, decode_worker_uuid

ChoicesT = tuple[Any, ...]


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
        if type(obj) is dict and "since_new_branch" in obj:
            obj = dict(obj)  # _valid_report renames in place: not the caller's dict
        return cls(**obj) if _valid_report(obj) else None

    @classmethod
    def from_bytes(cls, value: bytes) -> Report | None:
        return cls.from_json(_from_json_bytes(value))


_REPORT_FIELDS = frozenset(Report.FIELDS)
_PHASES = frozenset(PHASES)
_FIELD_GETTERS = [(name, operator.itemgetter(name)) for name in Report.FIELDS]
_NUMBER_TYPES = frozenset({int, float})
#: The columns of :func:`report_columns`.
REPORT_COLUMNS = (*Report.FIELDS, "inputs")


def _valid_report(obj: Any) -> bool:
    """Whether ``obj`` (decoded JSON) is a report HypoFuzz itself would accept.

    The one validator of reports (:func:`_columns_if_all_valid` does the same checks
    a column at a time). Exact type checks, since JSON makes no subclasses and bool
    must not pass as int. Renames ``since_new_branch`` in place, as the old name of
    ``since_new_behavior``.
    """
    if type(obj) is not dict:
        return False
    if obj.keys() != _REPORT_FIELDS:
        if "since_new_branch" in obj and "since_new_behavior" not in obj:
            obj["since_new_behavior"] = obj.pop("since_new_branch")
            if obj.keys() != _REPORT_FIELDS:
                return False
        else:
            return False
    elapsed = type(obj["elapsed_time"])
    timestamp = type(obj["timestamp"])
    counts = obj["status_counts"]
    since = obj["since_new_behavior"]
    return (
        type(obj["database_key"]) is str
        and type(obj["nodeid"]) is str
        and (elapsed is float or elapsed is int)
        and (timestamp is float or timestamp is int)
        and type(obj["worker_uuid"]) is str
        and type(counts) is dict
        and all(type(v) is int for v in counts.values())
        and type(obj["behaviors"]) is int
        and type(obj["fingerprints"]) is int
        and (since is None or type(since) is int)
        and type(obj["phase"]) is str
        and obj["phase"] in _PHASES
    )


def _columns_if_all_valid(parsed: list[Any]) -> dict[str, list[Any]] | None:
    """Columns of ``parsed`` if every item is a valid report, else ``None``.

    The checks of :func:`_valid_report` (except the old field name, which sends a
    batch to the per-report path), done per column with C-level iteration (``map``,
    ``set``) so that validating is cheap next to parsing.
    """
    if not parsed:
        return {name: [] for name in REPORT_COLUMNS}
    # Exactly the report fields: as many keys as fields, and every field present.
    if set(map(type, parsed)) != {dict} or set(map(len, parsed)) != {len(_REPORT_FIELDS)}:
        return None
    try:
        columns = {name: list(map(getter, parsed)) for name, getter in _FIELD_GETTERS}
    except KeyError:
        return None
    counts = columns["status_counts"]
    since = set(map(type, columns["since_new_behavior"]))
    if not (
        set(map(type, columns["database_key"])) == {str}
        and set(map(type, columns["nodeid"])) == {str}
        and set(map(type, columns["worker_uuid"])) == {str}
        and set(map(type, columns["elapsed_time"])) <= _NUMBER_TYPES
        and set(map(type, columns["timestamp"])) <= _NUMBER_TYPES
        and set(map(type, columns["behaviors"])) == {int}
        and set(map(type, columns["fingerprints"])) == {int}
        and since <= {int, type(None)}
        and set(map(type, columns["phase"])) == {str}
        and set(columns["phase"]) <= _PHASES
        and set(map(type, counts)) == {dict}
        and set(map(type, itertools.chain.from_iterable(map(dict.values, counts)))) <= {int}
    ):
        return None
    columns["inputs"] = list(map(sum, map(dict.values, counts)))
    return columns


def report_columns(values: list[bytes]) -> tuple[dict[str, list[Any]], int]:
    """The valid reports among ``values`` as columns, and how many values were not one.

    Columns are :data:`REPORT_COLUMNS`: ``Report.FIELDS`` plus ``inputs`` (the sum of
    ``status_counts``). All values are parsed with one ``json.loads`` and validated a
    column at a time when every one is well formed; otherwise each is checked alone.
    """
    if not values:
        return {name: [] for name in REPORT_COLUMNS}, 0
    try:
        parsed = json.loads(b"[" + b",".join(values) + b"]")
        if len(parsed) != len(values):  # a value held "1, 2": not one report each
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):
        parsed = [_from_json_bytes(v) for v in values]
    columns = _columns_if_all_valid(parsed)
    if columns is not None:
        return columns, 0
    good = [obj for obj in parsed if _valid_report(obj)]
    columns = _columns_if_all_valid(good)
    assert columns is not None  # every row passed _valid_report
    return columns, len(parsed) - len(good)


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
        for name in _NONFINITE_FIELDS:
            obj[name] = _encode_nonfinite(obj[name])
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
            for name in _NONFINITE_FIELDS:
                obj[name] = _decode_nonfinite(obj[name])
        except RecursionError:  # nesting json.loads accepts but we cannot walk
            return None
        return cls(**obj)

    @classmethod
    def from_bytes(cls, value: bytes) -> Observation | None:
        return cls.from_json(_from_json_bytes(value))


_OBSERVATION_FIELDS = frozenset(OBSERVATION_FIELDS)
#: The fields that may hold non-finite floats, which JSON cannot: written as markers.
_NONFINITE_FIELDS = ("arguments", "features", "timing", "metadata")


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
        if not (
            all(type(obj[name]) is str for name in _WORKER_REQUIRED_TEXT)
            and _is_int(obj["pid"])
            and all(obj[name] is None or type(obj[name]) is str for name in _WORKER_OPTIONAL)
        ):
            return None
        return cls(**obj)

    @classmethod
    def from_bytes(cls, value: bytes) -> WorkerIdentity | None:
        return cls.from_json(_from_json_bytes(value))


_WORKER_FIELDS = frozenset(f.name for f in dataclasses.fields(WorkerIdentity))
_WORKER_OPTIONAL = tuple(f.name for f in dataclasses.fields(WorkerIdentity) if f.default is None)
_WORKER_REQUIRED_TEXT = tuple(_WORKER_FIELDS - {"pid", *_WORKER_OPTIONAL})


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


#: Valid ``stopped_at`` times lie within this many seconds of the epoch.
_MAX_ABS_TIME = 1e12


@dataclass(frozen=True, slots=True)
class StopMark:
    """A worker stopped cleanly at ``stopped_at`` (``time.time()``): its reports are its
    last. Ours alone, under :data:`STOPPED_WORKERS_KEY`."""

    worker_uuid: str
    stopped_at: float

    def to_bytes(self) -> bytes:
        return _to_json_bytes({"worker_uuid": self.worker_uuid, "stopped_at": self.stopped_at})

    @classmethod
    def from_json(cls, obj: Any) -> StopMark | None:
        if type(obj) is not dict or obj.keys() != {"worker_uuid", "stopped_at"}:
            return None
        uuid, when = decode_worker_uuid(obj["worker_uuid"]), obj["stopped_at"]
        if (
            uuid is None
            or type(when) not in (int, float)
            or not -_MAX_ABS_TIME < when < _MAX_ABS_TIME
        ):
            return None
        return cls(uuid, float(when))

    @classmethod
    def from_bytes(cls, value: bytes) -> StopMark | None:
        return cls.from_json(_from_json_bytes(value))


#: Longest solver error text a record keeps (the first line of a traceback's end).
SOLVER_ERROR_LIMIT = 500


@dataclass(frozen=True, slots=True)
class SolverWork:
    """What the solver did for one test in one worker, cumulative: ``calls`` of the
    CrossHair child, ``seconds`` spent in them, ``inputs`` it produced, ``found`` of
    those that reached a new behavior or failed, ``errors`` (crashes, overruns,
    unsupported constructs) and the ``last_error`` seen ("" if none). Ours alone,
    under :func:`~hypofuzz_nb.records.keys.solver_key`."""

    worker_uuid: str
    calls: int
    seconds: float
    inputs: int
    found: int
    errors: int
    last_error: str

    def to_bytes(self) -> bytes:
        return _to_json_bytes(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, obj: Any) -> SolverWork | None:
        if type(obj) is not dict or obj.keys() != {f.name for f in dataclasses.fields(cls)}:
            return None
        uuid = decode_worker_uuid(obj["worker_uuid"])
        counts = [obj[name] for name in ("calls", "inputs", "found", "errors")]
        seconds, error = obj["seconds"], obj["last_error"]
        if (
            uuid is None
            or not all(type(c) is int and c >= 0 for c in counts)
            or type(seconds) not in (int, float)
            or not 0 <= seconds < _MAX_ABS_TIME
            or type(error) is not str
            or len(error) > SOLVER_ERROR_LIMIT
        ):
            return None
        calls, inputs, found, errors = counts
        return cls(uuid, calls, float(seconds), inputs, found, errors, error)

    @classmethod
    def from_bytes(cls, value: bytes) -> SolverWork | None:
        return cls.from_json(_from_json_bytes(value))
