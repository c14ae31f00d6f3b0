"""hypofuzz_nb.records: exact HypoFuzz field sets, round trips, and total decoders."""

from __future__ import annotations

import json
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypofuzz_nb import records
from hypofuzz_nb.records import (
    FatalFailure,
    Observation,
    Report,
    WorkerIdentity,
    decode_choices,
    encode_choices,
    failure_observation_key,
    key_from_base64,
    key_to_base64,
)

# The field sets of a real HypoFuzz 25.11 database (tests/fixtures), verbatim.
HYPOFUZZ_REPORT = (
    b'{"database_key": "FZZyGmY9h2rfmhocQH6DzSsM775dExc0oYBeBvJBoaTGMIWwrZkSsaN64ZAJrKbX", '
    b'"nodeid": "tests/test_props.py::test_sort_idempotent", "elapsed_time": 2.147048690999725, '
    b'"timestamp": 1795462692.9332633, "worker_uuid": "ce3b93a6cffc438b9e16e6f4c39b0e2a", '
    b'"status_counts": {"0": 0, "1": 0, "2": 2400, "3": 0}, "behaviors": 7, "fingerprints": 1, '
    b'"since_new_behavior": 2393, "phase": "generate"}'
)
HYPOFUZZ_IDENTITY = (
    b'{"uuid": "ce3b93a6cffc438b9e16e6f4c39b0e2a", "operating_system": "Linux", '
    b'"python_version": "3.11.7", "hypothesis_version": "6.145.1", "hypofuzz_version": '
    b'"25.11.01", "pid": 11333, "hostname": "vm", "pod_name": null, "pod_namespace": null, '
    b'"node_name": null, "pod_ip": null, "container_id": null, "git_hash": null}'
)
HYPOFUZZ_OBSERVATION = (
    b'{"type": "test_case", "status": "passed", "status_reason": "", "representation": '
    b'"test_sort_idempotent(\\n    xs=[1],\\n)", "arguments": {}, "how_generated": '
    b'"during unknown phase", "features": {}, "timing": {"execute:test": 1.3e-05}, '
    b'"metadata": {"traceback": null, "reproduction_decorator": null, "predicates": {}, '
    b'"backend": {}, "sys_argv": ["hypothesis", "fuzz"], "os_getpid": 11333, '
    b'"imported_at": 1795462657.3502884, "data_status": 2}, "property": '
    b'"tests/test_props.py::test_sort_idempotent", "run_start": 345.735014598, '
    b'"stability": "stable"}'
)


def make_report(**changes) -> Report:
    fields = dict(
        database_key=key_to_base64(b"k" * 48),
        nodeid="tests/test_a.py::test_a",
        elapsed_time=1.5,
        timestamp=1_790_000_000.25,
        worker_uuid="a" * 32,
        status_counts={"0": 1, "1": 2, "2": 30, "3": 0},
        behaviors=4,
        fingerprints=2,
        since_new_behavior=7,
        phase="generate",
    )
    fields.update(changes)
    return Report(**fields)


def make_observation(**changes) -> Observation:
    fields = dict(
        status="failed",
        representation="test_a(x=1)",
        property="tests/test_a.py::test_a",
        run_start=1_790_000_000.5,
        status_reason="AssertionError at tests/test_a.py:3",
        arguments={"x": 1},
        metadata={
            "traceback": "Traceback...\nAssertionError: boom",
            "reproduction_decorator": None,
        },
        stability="stable",
    )
    fields.update(changes)
    return Observation(**fields)


def test_hypofuzz_records_decode():
    report = Report.from_bytes(HYPOFUZZ_REPORT)
    assert report is not None and report.inputs == 2400 and report.behaviors == 7
    identity = WorkerIdentity.from_bytes(HYPOFUZZ_IDENTITY)
    assert identity is not None and identity.pid == 11333 and identity.git_hash is None
    obs = Observation.from_bytes(HYPOFUZZ_OBSERVATION)
    assert obs is not None and obs.stability == "stable" and obs.traceback is None


def test_written_records_have_exactly_the_hypofuzz_fields():
    assert json.loads(make_report().to_bytes()).keys() == json.loads(HYPOFUZZ_REPORT).keys()
    identity = WorkerIdentity.from_bytes(HYPOFUZZ_IDENTITY)
    assert json.loads(identity.to_bytes()).keys() == json.loads(HYPOFUZZ_IDENTITY).keys()
    obs = make_observation()
    assert json.loads(obs.to_bytes()).keys() == json.loads(HYPOFUZZ_OBSERVATION).keys()
    assert json.loads(FatalFailure("n", "tb").to_bytes()).keys() == {"nodeid", "traceback"}


def test_records_are_ascii_json():
    obs = make_observation(representation="test_a(s='\u00e9\u2603')")
    obs.to_bytes().decode("ascii")
    assert Observation.from_bytes(obs.to_bytes()) == obs


def test_report_round_trip():
    report = make_report(since_new_behavior=None, phase="shrink")
    assert Report.from_bytes(report.to_bytes()) == report


@pytest.mark.parametrize("field", Report.FIELDS)
def test_report_with_a_missing_field_is_rejected(field):
    obj = json.loads(HYPOFUZZ_REPORT)
    del obj[field]
    assert Report.from_json(obj) is None


def test_report_with_an_extra_field_is_rejected():
    obj = json.loads(HYPOFUZZ_REPORT)
    obj["extra"] = 1
    assert Report.from_json(obj) is None


def test_report_reads_the_old_since_new_branch_name():
    obj = json.loads(HYPOFUZZ_REPORT)
    obj["since_new_branch"] = obj.pop("since_new_behavior")
    report = Report.from_json(obj)
    assert report is not None and report.since_new_behavior == 2393


@pytest.mark.parametrize(
    "field, bad",
    [
        ("behaviors", True),
        ("behaviors", 1.5),
        ("timestamp", "now"),
        ("phase", "dancing"),
        ("status_counts", {"0": "1"}),
        ("since_new_behavior", 1.0),
        ("nodeid", None),
    ],
)
def test_report_with_a_wrong_type_is_rejected(field, bad):
    obj = json.loads(HYPOFUZZ_REPORT)
    obj[field] = bad
    assert Report.from_json(obj) is None


def test_identity_with_extra_or_missing_field_is_rejected():
    obj = json.loads(HYPOFUZZ_IDENTITY)
    assert WorkerIdentity.from_json({**obj, "extra": 1}) is None
    del obj["git_hash"]
    assert WorkerIdentity.from_json(obj) is None


def test_fatal_failure_round_trip_and_rejection():
    ff = FatalFailure("tests/t.py::test_x", "Traceback ...")
    assert FatalFailure.from_bytes(ff.to_bytes()) == ff
    assert FatalFailure.from_bytes(b'{"nodeid": "x", "traceback": "t", "more": 1}') is None
    assert FatalFailure.from_bytes(b'{"nodeid": "x"}') is None


def test_nonfinite_floats_use_hypofuzz_markers_and_round_trip():
    obs = make_observation(
        arguments={"x": math.inf, "y": [-math.inf, 1.0], "z": math.nan},
        features={"target": -math.inf},
        timing={"execute:test": math.inf},
    )
    raw = obs.to_bytes()
    assert b'"hypofuzz-inf-a928fa52"' in raw
    assert b'"hypofuzz-ninf-a928fa52"' in raw
    assert b'"hypofuzz-nan-a928fa52"' in raw
    assert b"Infinity" not in raw and b"NaN" not in raw
    back = Observation.from_bytes(raw)
    assert back is not None
    assert back.arguments["x"] == math.inf
    assert back.arguments["y"] == [-math.inf, 1.0]
    assert math.isnan(back.arguments["z"])
    assert back.features == {"target": -math.inf}
    assert back.timing == {"execute:test": math.inf}


def test_choices_round_trip_through_hypothesis_encoder():
    choices = (True, 1, 500, b"\x00\xff", "snow \u2603", 1.5, -math.inf)
    assert decode_choices(encode_choices(choices)) == choices


def test_failure_observation_key_matches_hypofuzz_layout():
    key = b"K" * 48
    value = b"\x01A\x01"
    import hashlib

    assert failure_observation_key(key, "shrunk", value) == (
        key + b".hypofuzz.failures.shrunk." + hashlib.sha1(value).digest() + b".observation"
    )
    with pytest.raises(ValueError, match="failure state"):
        failure_observation_key(key, "lost", value)  # type: ignore[arg-type]


def test_base64_keys():
    assert key_from_base64(key_to_base64(b"\x00" * 48)) == b"\x00" * 48
    assert key_from_base64("not base64!") is None


class Boom:
    """Unpickling this would create a marker; decoders must never unpickle."""

    def __reduce__(self):
        return (exec, ("import builtins; builtins._hypofuzz_nb_unpickled = True",))


GARBAGE = [
    b"",
    b"\x80\x81",
    b"null",
    b"[]",
    b"1e999",
    b"[" * 100_000,
    b'{"a": ' * 5000,
    pickle.dumps(Boom()),
    b"__import__('os').system('false')",
]


@pytest.mark.parametrize("value", GARBAGE)
@pytest.mark.parametrize(
    "decoder",
    [Report.from_bytes, Observation.from_bytes, WorkerIdentity.from_bytes, FatalFailure.from_bytes],
)
def test_decoders_are_total_on_garbage(decoder, value):
    import builtins

    assert decoder(value) is None
    assert not hasattr(builtins, "_hypofuzz_nb_unpickled")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decoders_never_raise(value):
    for decoder in (
        Report.from_bytes,
        Observation.from_bytes,
        WorkerIdentity.from_bytes,
        FatalFailure.from_bytes,
    ):
        decoder(value)
    decode_choices(value)


@pytest.mark.parametrize("depth", [500, 900, 5000])
def test_deeply_nested_observation_is_rejected_not_raised(depth):
    obj = make_observation().to_json()
    raw = json.dumps(obj).replace(
        '"arguments": {"x": 1}', '"arguments": {"x": ' + "[" * depth + "]" * depth + "}"
    )
    assert raw != json.dumps(obj)
    Observation.from_bytes(raw.encode())  # must not raise, whatever it decides


def test_report_from_json_leaves_the_callers_dict_alone():
    obj = json.loads(HYPOFUZZ_REPORT)
    obj["since_new_branch"] = obj.pop("since_new_behavior")
    before = dict(obj)
    assert Report.from_json(obj) is not None
    assert obj == before


def test_report_columns_match_the_one_validator():
    good = json.loads(HYPOFUZZ_REPORT)
    old = dict(good)
    old["since_new_branch"] = old.pop("since_new_behavior")
    bad = dict(good, behaviors=True)
    values = [json.dumps(o).encode() for o in (good, old, bad)] + [b"not json", b"1, 2"]
    columns, invalid = records.report_columns(values)
    assert invalid == 3
    assert columns["since_new_behavior"] == [2393, 2393]
    assert columns["inputs"] == [sum(good["status_counts"].values())] * 2
    assert set(columns) == set(records.REPORT_COLUMNS)
    assert records.report_columns([]) == ({name: [] for name in records.REPORT_COLUMNS}, 0)


def test_key_helpers_recognise_only_their_own_keys():
    key = bytes(range(48))
    value = encode_choices([1])
    state, digest = records.parse_failure_observation_key(
        key, failure_observation_key(key, "unshrunk", value)
    )
    assert (state, digest) == ("unshrunk", records.value_digest(value))
    for other in (
        records.corpus_observation_key(key, value),
        failure_observation_key(bytes(48), "shrunk", value),
        key + b".hypofuzz.failures.bogus." + bytes(20) + b".observation",
        key + b".hypofuzz.failures.shrunk." + bytes(19) + b".observation",
    ):
        assert records.parse_failure_observation_key(key, other) is None
    assert records.test_key_of_reports_key(records.reports_key(key)) == key
    assert records.test_key_of_reports_key(records.reports_key(key[:47])) is None
    assert records.test_key_of_reports_key(records.observations_key(key)) is None
    assert records.is_reports_key(records.reports_key(key))
    assert records.is_observations_key(records.observations_key(key))
    assert not records.is_observations_key(records.corpus_observation_key(key, value))
    assert records.decode_test_key(key) == key and records.decode_test_key(key[1:]) is None


def test_worker_uuids_and_stop_marks_are_validated():
    assert records.decode_worker_uuid(b"w-1") == "w-1"
    for bad in (b"", b"\xff", b"a\nb", b"x" * 201):
        assert records.decode_worker_uuid(bad) is None
    mark = records.StopMark("w-1", 12.5)
    assert records.StopMark.from_bytes(mark.to_bytes()) == mark
    assert json.loads(mark.to_bytes()) == {"worker_uuid": "w-1", "stopped_at": 12.5}
    for bad in (
        b'{"worker_uuid": "", "stopped_at": 1}',
        b'{"worker_uuid": "w", "stopped_at": true}',
        b'{"worker_uuid": "w", "stopped_at": 1e13}',
        b'{"worker_uuid": "w", "stopped_at": 1, "x": 0}',
        b"[]",
    ):
        assert records.StopMark.from_bytes(bad) is None


def test_no_other_module_spells_a_key():
    from pathlib import Path

    import hypofuzz_nb

    package = Path(hypofuzz_nb.__file__).parent
    spelled = (b'b".hypofuzz', b'b"hypofuzz', b'b".secondary"', b'b".pareto"', b'b".fixed"')
    for path in package.rglob("*.py"):
        if path.relative_to(package).parts[0] == "records":
            continue
        source = path.read_bytes()
        assert not [s for s in spelled if s in source], path
