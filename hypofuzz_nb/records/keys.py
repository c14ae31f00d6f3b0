"""The database's keys: every key hypofuzz_nb reads or writes, spelled here and only here.

Global keys are constants; a test's keys are functions of its key ``K`` (Hypothesis'
own 48-byte key for the test), as docs/DATABASE.md lists them. Pure functions of bytes:
no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Literal

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


def solver_key(key: bytes) -> bytes:
    """Where each worker keeps its one SolverWork record of the test: our own key, never
    a field of HypoFuzz's records."""
    return key + b".hypofuzz_nb.solver"


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
