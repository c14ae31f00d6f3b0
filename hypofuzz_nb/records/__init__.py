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

Two modules: :mod:`.keys` (every key) and :mod:`.values` (every value's encoding
with its validator); callers use ``records.<name>`` from this package.
"""

from hypofuzz_nb.records.keys import (
    FAILURE_STATES,
    OBSERVATIONS_LIMIT,
    PHASES,
    PROBE_KEY,
    STOPPED_WORKERS_KEY,
    TEST_KEY_LENGTH,
    TEST_KEYS_KEY,
    WORKER_UUIDS_KEY,
    FailureStateT,
    PhaseT,
    corpus_key,
    corpus_observation_key,
    decode_test_key,
    decode_worker_uuid,
    failure_observation_key,
    fatal_failure_key,
    fixed_key,
    is_observations_key,
    is_reports_key,
    key_from_base64,
    key_to_base64,
    observations_key,
    pareto_key,
    parse_failure_observation_key,
    reports_key,
    secondary_key,
    shared_probe_key,
    solver_key,
    test_key_of_reports_key,
    timeout_observation_key,
    timeouts_key,
    value_digest,
    worker_identity_key,
)
from hypofuzz_nb.records.values import (
    OBSERVATION_FIELDS,
    REPORT_COLUMNS,
    SOLVER_ERROR_LIMIT,
    ChoicesT,
    FatalFailure,
    Observation,
    Report,
    SolverWork,
    StopMark,
    WorkerIdentity,
    decode_choices,
    encode_choices,
    report_columns,
)

__all__ = [
    "FAILURE_STATES",
    "OBSERVATIONS_LIMIT",
    "OBSERVATION_FIELDS",
    "PHASES",
    "PROBE_KEY",
    "REPORT_COLUMNS",
    "SOLVER_ERROR_LIMIT",
    "STOPPED_WORKERS_KEY",
    "TEST_KEYS_KEY",
    "TEST_KEY_LENGTH",
    "WORKER_UUIDS_KEY",
    "ChoicesT",
    "FailureStateT",
    "FatalFailure",
    "Observation",
    "PhaseT",
    "Report",
    "SolverWork",
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
    "solver_key",
    "test_key_of_reports_key",
    "timeout_observation_key",
    "timeouts_key",
    "value_digest",
    "worker_identity_key",
]
