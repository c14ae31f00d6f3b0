"""The database layout (docs/DATABASE.md): every key, every record, encode and decode.

No other module spells a key or a value's encoding: they call the key functions,
constants and record classes here. This module is pure data: it performs no I/O
and holds no policy about when to read or write. There is one validator per
record (its ``from_json``; reports also have a columnar fast path for many at once,
with the same checks). Every decoder is *total*: given arbitrary bytes it returns a
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
import itertools
import json
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis.database import choices_from_bytes, choices_to_bytes

__all__ = [
    "FAILURE_STATES",
    "OBSERVATIONS_LIMIT",
    "PHASES",
    "PROBE_KEY",
    "REPORT_COLUMNS",
    "STOPPED_WORKERS_KEY",
    "TEST_KEYS_KEY",
    "TEST_KEY_LENGTH",
    "WORKER_UUIDS_KEY",
    "ChoicesT",
    "FatalFailure",
    "Observation",
    "Report",
    "StopMark",
    "WorkerIdentity",
    "corpus_key",
    "corpus_observation_key",
    "decode_choices",
    "decode_test_key",
    "decode_worker_uuid",
    "encode_choices",
    "failure_observation_key",
    "fatal_failure_key",
    "fixed_key",
    "is_observations_key",
    "is_reports_key",
    "key_from_base64",
    "key_to_base64",
    "observations_key",
    "pareto_key",
    "parse_failure_observation_key",
    "report_columns",
    "reports_key",
    "secondary_key",
    "shared_probe_key",
    "test_key_of_reports_key",
    "timeout_observation_key",
    "timeouts_key",
    "value_digest",
    "worker_identity_key",
]

ChoicesT = tuple[Any, ...]

TEST_KEYS_KEY = b"hypofuzz.test_keys"
WORKER_UUIDS_KEY = b"hypofuzz.worker_uuids"

#: Length of a test key: Hypothesis' ``function_digest`` is a sha384 digest.
TEST_KEY_LENGTH = 48

#: Our own global key: one :class:`StopMark` per worker that stopped cleanly. Not a
#: field of HypoFuzz's records: HypoFuzz rebuilds those with ``Cls(**json)`` and drops
#: any with a field it does not know.
STOPPED_WORKERS_KEY = b"hypofuzz_nb.stopped_workers"

#: Read (never written) to learn whether a database answers: a key that holds nothing.
PROBE_KEY = b"hypofuzz_nb.probe"


def shared_probe_key(session_id: str) -> bytes:
    """Where a notebook writes one random value that every cluster worker must read back,
    which proves they all share its database (deleted when the session ends)."""
    return b"hypofuzz_nb.shared_probe." + session_id.encode("utf-8")


#: Longest worker uuid a reader accepts (ours are 36 characters).
_MAX_UUID_LENGTH = 200

_REPORTS_SUFFIX = b".hypofuzz.reports"
_OBSERVATIONS_SUFFIX = b".hypofuzz.observations"
_FAILURES_INFIX = b".hypofuzz.failures."
_OBSERVATION_SUFFIX = b".observation"
_SHA1_SIZE = 20

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
    return corpus_key(key) + b"." + value_digest(choices_bytes) + _OBSERVATION_SUFFIX


def failure_observation_key(key: bytes, state: FailureStateT, choices_bytes: bytes) -> bytes:
    if state not in FAILURE_STATES:
        raise ValueError(f"failure state must be one of {FAILURE_STATES}, not {state!r}")
    return (
        key
        + _FAILURES_INFIX
        + state.encode("ascii")
        + b"."
        + value_digest(choices_bytes)
        + _OBSERVATION_SUFFIX
    )


def parse_failure_observation_key(key: bytes, candidate: bytes) -> tuple[str, bytes] | None:
    """``(state, sha1 digest)`` if ``candidate`` is a failure observation key of the
    test ``key`` (see :func:`failure_observation_key`), else ``None``."""
    prefix = key + _FAILURES_INFIX
    if not candidate.startswith(prefix) or not candidate.endswith(_OBSERVATION_SUFFIX):
        return None
    rest = candidate[len(prefix) : -len(_OBSERVATION_SUFFIX)]
    state, _, digest = rest.partition(b".")
    name = state.decode("ascii", "replace")
    if name not in FAILURE_STATES or len(digest) != _SHA1_SIZE:
        return None
    return name, digest


def reports_key(key: bytes) -> bytes:
    return key + _REPORTS_SUFFIX


def is_reports_key(key: bytes) -> bool:
    return key.endswith(_REPORTS_SUFFIX)


def test_key_of_reports_key(key: bytes) -> bytes | None:
    """The test key whose reports live under ``key``, or ``None`` if it is no reports key."""
    if len(key) != TEST_KEY_LENGTH + len(_REPORTS_SUFFIX) or not is_reports_key(key):
        return None
    return key[:TEST_KEY_LENGTH]


def observations_key(key: bytes) -> bytes:
    return key + _OBSERVATIONS_SUFFIX


def is_observations_key(key: bytes) -> bool:
    """Whether ``key`` holds a test's rolling observations (the first values to drop)."""
    return key.endswith(_OBSERVATIONS_SUFFIX)


def fatal_failure_key(key: bytes) -> bytes:
    return key + b".hypofuzz.fatal_failure"


def timeouts_key(key: bytes) -> bytes:
    """Where hanging inputs are kept: our own key, never replayed by plain pytest."""
    return key + b".hypofuzz_nb.timeouts"


def timeout_observation_key(key: bytes, choices_bytes: bytes) -> bytes:
    return timeouts_key(key) + b"." + value_digest(choices_bytes) + _OBSERVATION_SUFFIX


def decode_test_key(value: bytes) -> bytes | None:
    """A value under ``TEST_KEYS_KEY`` as a test key, or ``None`` if it cannot be one."""
    return value if len(value) == TEST_KEY_LENGTH else None


def decode_worker_uuid(value: bytes | str) -> str | None:
    """A worker uuid (under ``WORKER_UUIDS_KEY``, or a stop mark's), or ``None``."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if type(value) is not str or not value or len(value) > _MAX_UUID_LENGTH:
        return None
    return value if value.isprintable() else None


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
