"""hypofuzz_nb.distributions, plateaus and stuck: observations saved through Store,
real projects fuzzed for a short run, corpora replayed in a real subprocess."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

import hypofuzz_nb
from hypofuzz_nb.errors import BadSampleSize, BadTimeout, UnknownTest
from hypofuzz_nb.input_distributions import DISTRIBUTION_SCHEMAS, Distributions
from hypofuzz_nb.plateau_signal import PLATEAU_SCHEMA
from hypofuzz_nb.records import Observation, Report, key_to_base64
from hypofuzz_nb.store import Store
from hypofuzz_nb.stuck_branches import STUCK_SCHEMA
from tests.test_corpus_coverage import line_of, make_project, save_corpus

EVIL = "<script>alert(1)</script>"

FEATURES_TESTS = """\
from hypothesis import assume, event, given, target, strategies as st


@given(st.integers(0, 255))
def test_features(x):
    assume(x != 7)
    event("parity", "even" if x % 2 == 0 else "odd")
    target(float(x), label="x")
"""

TYCHE_FIELDS = {
    "type",
    "status",
    "status_reason",
    "representation",
    "arguments",
    "how_generated",
    "features",
    "coverage",
    "timing",
    "metadata",
    "property",
    "run_start",
}


def assert_schemas(data: Distributions) -> None:
    for name, schema in DISTRIBUTION_SCHEMAS.items():
        frame = getattr(data, name)
        assert list(frame.columns) == list(schema), name
        assert dict(frame.dtypes) == schema, name


def observation(nodeid: str, status: str, representation: str, **fields) -> Observation:
    fields.setdefault("run_start", 1_700_000_000.0)
    return Observation(status=status, representation=representation, property=nodeid, **fields)


def test_counts_features_and_examples_from_stored_observations(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "db")
    store = Store(db)
    key = b"k" * 48  # the length of a Hypothesis database key
    nodeid = "test_x.py::test_x"
    store.register_test(key)
    stored = [
        observation(
            nodeid,
            "passed",
            "test_x(x=1)",
            features={"parity": "odd", "target:x": 1.0},
            timing={"execute:test": 0.001},
            run_start=1_700_000_001.0,
        ),
        observation(
            nodeid,
            "passed",
            "test_x(x=1)",
            features={"parity": "odd", "target:x": 1.0},
            timing={"execute:test": 0.003},
            run_start=1_700_000_002.0,
        ),
        observation(
            nodeid,
            "failed",
            f"test_x(x={EVIL!r})",
            features={"parity": EVIL},
            timing={"execute:test": 0.002},
            run_start=1_700_000_003.0,
        ),
        observation(
            nodeid,
            "gave_up",
            "test_x(x=7)",
            features={"gave up because": "failed to satisfy assume()"},
            metadata={"data_status": 1},
            run_start=1_700_000_004.0,
        ),
        observation(nodeid, "gave_up", "", metadata={"data_status": 0}, run_start=1_700_000_005.0),
    ]
    for o in stored:
        store.save_observation(key, o)
    # a given database needs no collection: its tests are the ones it holds
    data = hypofuzz_nb.distributions(str(tmp_path / "db"))
    assert_schemas(data)
    (row,) = data.counts.itertuples()
    assert (row.nodeid, row.source, row.inputs) == (nodeid, "stored", 5)
    assert (row.passed, row.failed, row.invalid, row.overrun, row.duplicate) == (2, 1, 1, 1, 1)
    assert list(data.inputs.status) == ["passed", "passed", "failed", "invalid", "overrun"]
    assert list(data.inputs.duplicate) == [False, True, False, False, False]
    assert data.inputs.run_time_s.iloc[:3].tolist() == [0.001, 0.003, 0.002]
    assert data.inputs["size"].iloc[0] == len("test_x(x=1)")
    assert data.inputs.choices.isna().all()  # stored observations do not record it
    assert data.inputs.run_start.iloc[0] == pd.Timestamp(1_700_000_001, unit="s", tz="UTC")
    targets = data.features[data.features.kind == "target"]
    assert targets.name.tolist() == ["x", "x"]
    assert targets.number.tolist() == [1.0, 1.0]
    events = data.features[data.features.kind == "event"]
    assert events.groupby("name").size().to_dict() == {"gave up because": 1, "parity": 3}
    assert events[events.name == "parity"].number.isna().all()
    examples = data.examples
    assert examples.representation.tolist()[0] == ""  # smallest first
    assert examples.set_index("representation").loc["test_x(x=1)", "count"] == 2
    # the view: a counts table, inline SVG charts, every generated text escaped
    view = hypofuzz_nb.distributions_view(str(tmp_path / "db"))
    page = view._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert page.count("<svg") >= 4  # size, run time, parity, target x
    assert "<th>duplicate</th>" in page
    assert "passed 2, failed 1, invalid 1, overrun 1, duplicate 1" in repr(view)


def test_empty_frames_keep_their_schema(tmp_path, monkeypatch):
    data = Distributions.from_observations([])
    assert_schemas(data)
    assert data.counts.empty
    project, _db = make_project(tmp_path)
    monkeypatch.chdir(project)
    data = hypofuzz_nb.distributions()
    assert_schemas(data)
    assert "No observations" in hypofuzz_nb.distributions_view()._repr_html_()
    frame = hypofuzz_nb.plateaus(hypofuzz_nb.load().reports)
    assert frame.empty
    assert dict(frame.dtypes) == PLATEAU_SCHEMA


def test_bad_input_raises_clear_errors(tmp_path, monkeypatch):
    project, _db = make_project(tmp_path)
    monkeypatch.chdir(project)
    with pytest.raises(UnknownTest, match=re.escape("test_branchy.py::test_classify")):
        hypofuzz_nb.distributions(nodeid="test_branchy.py::nope")
    for bad in (-1, 0, 1.5, True, "10"):
        with pytest.raises(BadSampleSize, match="positive whole number"):
            hypofuzz_nb.distributions(sample=bad)
    with pytest.raises(UnknownTest):
        hypofuzz_nb.stuck(nodeid="test_branchy.py::nope")
    with pytest.raises(BadTimeout, match="timeout must be"):
        hypofuzz_nb.distributions(sample=5, timeout=0)
    with pytest.raises(BadTimeout, match="input_timeout"):
        hypofuzz_nb.stuck(input_timeout=-1)


def test_a_real_fuzzing_run_sampled_and_exported_for_tyche(tmp_path, monkeypatch):
    project, _db = make_project(tmp_path, FEATURES_TESTS)
    monkeypatch.chdir(project)
    nodeid = "test_branchy.py::test_features"
    session = hypofuzz_nb.fuzz(["test_branchy.py"], max_examples=500, max_time=60, seed=0)
    assert session.wait(120)
    stored = hypofuzz_nb.distributions(nodeid=nodeid)
    assert_schemas(stored)
    assert stored.counts.inputs.sum() >= 1  # the fuzzer observes its first input
    assert set(stored.inputs.source) == {"stored"}
    corpus = hypofuzz_nb.load().corpus
    n_corpus = int((corpus.nodeid == nodeid).sum())
    assert n_corpus >= 1
    data = hypofuzz_nb.distributions(nodeid=nodeid, sample=200)
    assert_schemas(data)
    sampled = data.inputs[data.inputs.source == "sampled"]
    assert len(sampled) == 200
    counts = data.counts.set_index("source").loc["sampled"]
    assert counts.inputs == 200
    assert counts.passed + counts.failed + counts.invalid + counts.overrun == 200
    assert counts.duplicate >= 1  # 200 draws from 255 integers repeat some
    assert (sampled.how_generated == "fuzz:replay").sum() == n_corpus
    assert (sampled.how_generated == "fuzz:mutate").sum() == 200 - n_corpus
    assert sampled.choices.notna().all() and (sampled.choices >= 1).all()
    assert (sampled.run_time_s > 0).all()
    features = data.features[data.features.source == "sampled"]
    parity = features[(features.kind == "event") & (features.name == "parity")]
    assert set(parity.value) <= {"even", "odd"}
    assert len(parity) == counts.passed  # every input that got past assume()
    x = features[(features.kind == "target") & (features.name == "x")]
    assert np.isfinite(x.number).all() and (x.number <= 255).all()
    assert "x=" in data.examples.representation.iloc[0]
    # Tyche reads one JSON object per line in Hypothesis' observability format
    path = tmp_path / ".hypothesis" / "observed" / "testcases.jsonl"
    assert data.write_jsonl(path) == len(data.inputs)
    lines = path.read_text().splitlines()
    assert len(lines) == len(data.inputs)
    for line in lines:
        record = json.loads(line)
        assert set(record) == TYCHE_FIELDS
        assert record["type"] == "test_case"
        assert record["property"] == nodeid
        assert record["status"] in ("passed", "failed", "gave_up")
        assert "sys.argv" in record["metadata"]
        assert "os.getpid()" in record["metadata"]
    assert any(json.loads(line)["features"].get("target:x") is not None for line in lines)


def test_plateau_signal():
    def series(nodeid, points):
        return pd.DataFrame(
            {
                "nodeid": pd.Series([nodeid] * len(points), dtype="string"),
                "elapsed_s": [p[0] for p in points],
                "inputs": [p[1] for p in points],
                "behaviors": [p[2] for p in points],
            }
        )

    reports = pd.concat(
        [
            series("flat", [(1, 100, 3), (10, 1_000, 8), (60, 20_000, 8)]),
            series("growing", [(1, 100, 3), (59, 20_000, 8), (60, 20_100, 9)]),
            series("slow", [(1, 10, 3), (100, 200, 3)]),  # long, but few inputs
        ]
    )
    frame = hypofuzz_nb.plateaus(reports).set_index("nodeid")
    assert frame.loc["flat"].plateau
    assert frame.loc["flat"].since_s == 50 and frame.loc["flat"].since_inputs == 19_000
    assert frame.loc["flat"].behaviors == 8
    assert not frame.loc["growing"].plateau
    assert not frame.loc["slow"].plateau
    assert hypofuzz_nb.plateaus(reports, inputs=100).set_index("nodeid").loc["slow"].plateau


def save_reports(db_dir: Path, key: bytes, nodeid: str, points: list[tuple]) -> None:
    store = Store(DirectoryBasedExampleDatabase(db_dir))
    store.register_test(key)
    worker = str(uuid.uuid4())
    for elapsed, inputs, behaviors in points:
        store.save_report(
            key,
            Report(
                database_key=key_to_base64(key),
                nodeid=nodeid,
                elapsed_time=float(elapsed),
                timestamp=1_700_000_000.0 + elapsed,
                worker_uuid=worker,
                status_counts={"passed": inputs},
                behaviors=behaviors,
                fingerprints=behaviors,
                since_new_behavior=0,
                phase="generate",
            ),
        )


def test_stuck_branches_with_their_condition_line_and_closest_input(tmp_path, monkeypatch):
    project, db_dir = make_project(tmp_path)
    monkeypatch.chdir(project)
    nodeid = "test_branchy.py::test_classify"
    save_corpus(project, db_dir, {nodeid: [(150,), (3,), (50,)]})
    key = base64.b64decode(
        hypofuzz_nb.load(paths=[str(project)]).tests.set_index("nodeid").database_key[nodeid]
    )
    save_reports(db_dir, key, nodeid, [(1, 50, 4), (5, 900, 6), (90, 40_000, 6)])
    # a second test, still growing and without a corpus
    save_corpus(project, db_dir, {"test_branchy.py::test_text": [(0,)]})
    frame = hypofuzz_nb.stuck(omit=["*/test_*.py"])
    assert list(frame.columns) == list(STUCK_SCHEMA)
    assert dict(frame.dtypes) == STUCK_SCHEMA
    branchy = project / "branchy.py"
    check = line_of(branchy, "x == 200")
    magic = line_of(branchy, '"magic"')
    rows = frame[frame.nodeid == nodeid]
    (row,) = rows[rows.line == check].itertuples()
    assert row.branch_to == magic
    assert row.condition == "if x == 200:"
    assert row.line_hits == 1  # only 150 gets that far
    assert "x=150" in row.closest_input
    assert row.plateau
    # the taken branches and the unreached lines are not stuck
    assert set(rows.line) == {check}
    view = hypofuzz_nb.stuck_view(omit=["*/test_*.py"])
    page = view._repr_html_()
    assert "on a plateau" in page and "40,000" not in page  # since the plateau began
    assert "none new for 85 s and 39,100 inputs" in page
    assert "<code>if x == 200:</code>" in page
    assert page.count("<polyline") == 1 and 'stroke="#c00"' in page  # the plateau, in red
    assert "return &quot;magic&quot;" in page
    assert f"branchy.py:{check} if x == 200:" in repr(view)


def test_stuck_view_escapes_conditions(tmp_path, monkeypatch):
    project, db_dir = make_project(tmp_path)
    monkeypatch.chdir(project)
    save_corpus(project, db_dir, {"test_branchy.py::test_text": [(0,)]})
    view = hypofuzz_nb.stuck_view()
    page = view._repr_html_()
    (row,) = view.frame.itertuples()
    assert row.condition == 'if "<" in s:'
    assert "&quot;&lt;&quot; in s" in page
    assert '"<"' not in page
    assert not row.plateau
    # a stored observation whose representation is script is escaped in every view
    key = base64.b64decode(
        hypofuzz_nb.load().tests.set_index("nodeid").database_key["test_branchy.py::test_text"]
    )
    Store(DirectoryBasedExampleDatabase(db_dir)).save_observation(
        key, observation("test_branchy.py::test_text", "passed", f"test_text(s={EVIL!r})")
    )
    page = hypofuzz_nb.distributions_view(sample=5)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
