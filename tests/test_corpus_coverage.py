"""hypofuzz_nb.coverage and coverage_view: real projects, corpora saved through Store,
replayed under coverage.py in a real subprocess."""

from __future__ import annotations

import base64
import os
import re
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

import hypofuzz_nb
from hypofuzz_nb.corpus_coverage import COVERAGE_SCHEMA
from hypofuzz_nb.errors import (
    BadTimeout,
    InputsTimedOutWarning,
    NoTestsCollected,
    ReplayError,
    ReplayTimeout,
    UnknownTest,
)
from hypofuzz_nb.records import Observation, encode_choices
from hypofuzz_nb.replay import ReplayRequest, replay
from hypofuzz_nb.store import Store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

BRANCHY = """\
def classify(x):
    if x < 10:
        return "small"
    if x < 100:
        return "medium"
    if x == 200:
        return "magic"
    return "large"
"""

TESTS = """\
from hypothesis import given, strategies as st
from branchy import classify


@given(st.integers(0, 255))
def test_classify(x):
    classify(x)


@given(st.sampled_from(["ok", "<script>alert(1)</script>"]))
def test_text(s):
    if "<" in s:
        return
"""


def make_project(tmp_path: Path, tests: str = TESTS) -> tuple[Path, Path]:
    project = tmp_path / "project"
    project.mkdir()
    db_dir = tmp_path / "db"
    (project / "conftest.py").write_text(
        "from hypothesis import settings\n"
        "from hypothesis.database import DirectoryBasedExampleDatabase\n"
        f"settings.register_profile('p', database=DirectoryBasedExampleDatabase({str(db_dir)!r}))\n"
        "settings.load_profile('p')\n"
    )
    (project / "branchy.py").write_text(BRANCHY)
    (project / "test_branchy.py").write_text(tests)
    return project, db_dir


def save_corpus(
    project: Path,
    db_dir: Path,
    corpora: dict[str, list[tuple]],
    representations: dict[tuple, str] | None = None,
) -> None:
    """Save corpus entries as the fuzzer does, with an observation for those in
    ``representations``."""
    tests = hypofuzz_nb.load(paths=[str(project)]).tests
    keys = {n: base64.b64decode(k) for n, k in zip(tests.nodeid, tests.database_key, strict=True)}
    store = Store(DirectoryBasedExampleDatabase(db_dir))
    for nodeid, inputs in corpora.items():
        for choices in inputs:
            text = (representations or {}).get(choices)
            observation = (
                None
                if text is None
                else Observation(
                    status="passed", representation=text, property=nodeid, run_start=1.0
                )
            )
            store.save_corpus_entry(keys[nodeid], encode_choices(choices), observation)


def as_list(frame: list[int]) -> tuple:
    """The choices of ``frame`` drawn by st.lists: "one more element?" before each
    element, and False to stop."""
    return (*(c for byte in frame for c in (True, byte)), False)


def line_of(path: Path, text: str) -> int:
    (number,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return number


def assert_schema(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(COVERAGE_SCHEMA)
    assert dict(frame.dtypes) == COVERAGE_SCHEMA


def test_reached_and_unreached_lines_and_branches(tmp_path, monkeypatch):
    project, db_dir = make_project(tmp_path)
    # Saved out of Hypothesis' order: the smallest input is found by its sort key.
    # (3,) has the representation the fuzzer stored with it: used as is.
    monkeypatch.chdir(project)
    save_corpus(
        project,
        db_dir,
        {"test_branchy.py::test_classify": [(50,), (7,), (3,), (150,)]},
        {(3,): "stored repr of 3"},
    )
    frame = hypofuzz_nb.coverage()
    assert_schema(frame)
    assert set(frame.nodeid) == {"test_branchy.py::test_classify"}
    branchy = str(project / "branchy.py")
    lines = frame[(frame.file == branchy) & frame.branch_to.isna()].set_index("line")
    small, medium = (
        line_of(project / "branchy.py", '"small"'),
        line_of(project / "branchy.py", '"medium"'),
    )
    magic, large = (
        line_of(project / "branchy.py", '"magic"'),
        line_of(project / "branchy.py", '"large"'),
    )
    assert lines.loc[small].hits == 2
    assert lines.loc[small].smallest_input == "stored repr of 3"
    assert lines.loc[medium].hits == 1
    assert "x=50" in lines.loc[medium].smallest_input
    assert lines.loc[large].hits == 1
    assert lines.loc[magic].hits == 0
    assert pd.isna(lines.loc[magic].smallest_input)
    assert not lines.loc[magic].in_setup
    assert lines.loc[1].in_setup  # the def line ran at import
    branches = frame[(frame.file == branchy) & frame.branch_to.notna()]
    by_arc = {(r.line, r.branch_to): r for r in branches.itertuples()}
    check = line_of(project / "branchy.py", "x == 200")
    assert by_arc[(check, magic)].hits == 0
    assert by_arc[(check, large)].hits == 1
    assert "x=150" in by_arc[(check, large)].smallest_input
    assert by_arc[(small - 1, small)].hits == 2
    # sorted: by file, then line, each line's own row before its branches
    assert list(frame.index) == list(range(len(frame)))
    assert frame[["file", "line"]].equals(frame[["file", "line"]].sort_values(["file", "line"]))
    # the test file is code under test too; omit= and include= narrow that
    assert str(project / "test_branchy.py") in set(frame.file)
    omitted = hypofuzz_nb.coverage(omit=["*/test_*.py"])
    assert set(omitted.file) == {branchy}
    included = hypofuzz_nb.coverage(include=["*/test_branchy.py"])
    assert set(included.file) == {str(project / "test_branchy.py")}


def test_empty_database_gives_an_empty_frame_with_the_schema(tmp_path, monkeypatch):
    project, _db_dir = make_project(tmp_path)
    monkeypatch.chdir(project)
    frame = hypofuzz_nb.coverage()
    assert frame.empty
    assert_schema(frame)
    view = hypofuzz_nb.coverage_view()
    assert "No stored corpus" in view._repr_html_()
    assert_schema(view.frame)


def test_bad_input_raises_clear_errors(tmp_path, monkeypatch):
    project, _db_dir = make_project(tmp_path)
    monkeypatch.chdir(project)
    with pytest.raises(UnknownTest, match=re.escape("test_branchy.py::test_classify")):
        hypofuzz_nb.coverage(nodeid="test_branchy.py::nope")
    with pytest.raises(UnknownTest, match="defined in a notebook cell"):
        hypofuzz_nb.coverage(nodeid="notebook::test_from_a_cell")
    for bad in (0, -1, float("nan"), "10", None):
        with pytest.raises(BadTimeout, match="timeout"):
            hypofuzz_nb.coverage(timeout=bad)
        with pytest.raises(BadTimeout, match="input_timeout"):
            hypofuzz_nb.coverage_view(input_timeout=bad)
    (project / "test_branchy.py").write_text("def test_plain():\n    pass\n")
    with pytest.raises(NoTestsCollected):
        hypofuzz_nb.coverage()


def test_html_view_escapes_generated_text_and_marks_each_inputs_lines(tmp_path, monkeypatch):
    project, db_dir = make_project(tmp_path)
    monkeypatch.chdir(project)
    evil = "<script>alert(1)</script>"
    # sampled_from draws the index of its element
    save_corpus(project, db_dir, {"test_branchy.py::test_text": [(1,), (0,)]})
    view = hypofuzz_nb.coverage_view(nodeid="test_branchy.py::test_text")
    frame = view.frame
    assert_schema(frame)
    assert frame.smallest_input.str.contains(evil, regex=False).any()
    page = view._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&lt;&quot; in s" in page  # the source is escaped too
    # one radio per input; the line only the evil input reaches carries its class
    assert page.count('type="radio"') == 3
    returned = line_of(project / "test_branchy.py", "        return")
    (row,) = [r for r in page.split("<tr ")[1:] if f'<td class="n">{returned}</td>' in r]
    assert "run" in row.split('"')[1]
    ranks = [c for c in row.split('"')[1].split() if c.startswith("i")]
    assert len(ranks) == 1
    assert "test_branchy.py::test_text" in repr(view)


def test_packet_decoder_header_checks_are_reached_one_after_another(tmp_path, monkeypatch):
    project = tmp_path / "examples"
    shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns(".hypothesis"))
    nodeid = "tests/test_packets.py::test_decode_never_crashes"
    headers = [[0, 0, 0, 0], [72, 0, 0, 0], [72, 89, 0, 0], [72, 89, 80, 0]]
    monkeypatch.chdir(project)
    save_corpus(
        project, project / ".hypothesis" / "examples", {nodeid: list(map(as_list, headers))}
    )
    # The input past the last check is the failure the fuzzer found, stored under K.
    tests = hypofuzz_nb.load(paths=["tests"]).tests.set_index("nodeid")
    store = Store(DirectoryBasedExampleDatabase(project / ".hypothesis" / "examples"))
    key = base64.b64decode(tests.database_key[nodeid])
    store.save_failure(key, "shrunk", encode_choices(as_list([72, 89, 80, 79])), None)
    view = hypofuzz_nb.coverage_view(paths="tests", nodeid=nodeid)
    packets = project / "tests" / "packets.py"
    frame = view.frame[view.frame.file == str(packets)]
    branches = frame[frame.branch_to.notna()].set_index(["line", "branch_to"])
    checks = [line_of(packets, f"if frame[{i}] != ") for i in range(4)]
    payload = line_of(packets, "payload = frame[4:]")
    # each check passed (jumped to the next one) first by the next longer header
    for i, check, after, frame_repr in zip(
        range(4),
        checks,
        [*checks[1:], payload],
        ["[72, 0, 0, 0]", "[72, 89, 0, 0]", "[72, 89, 80, 0]", "[72, 89, 80, 79]"],
        strict=True,
    ):
        row = branches.loc[(check, after)]
        assert f"frame={frame_repr}" in row.smallest_input
        assert row.hits == 4 - i  # the headers that pass check i
    page = view._repr_html_()
    for frame_repr in ["[72, 0, 0, 0]", "[72, 89, 80, 79]"]:
        assert f"frame={frame_repr}" in page


HANGING_TESTS = """\
import os
import signal
import time

from hypothesis import given, strategies as st
from branchy import classify


@given(st.integers(0, 255))
def test_spins(x):
    classify(x)
    if x == 7:
        while True:  # a hang the per-input timeout interrupts
            pass


@given(st.integers(0, 255))
def test_sleeps(x):
    if x == 7:
        with open(os.environ["PID_FILE"], "w") as f:
            f.write(str(os.getpid()))
        # A hang the per-input timeout cannot end: only the overall timeout does.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
"""


def test_a_hanging_input_is_stopped_and_counted_with_what_it_reached(tmp_path, monkeypatch):
    project, db_dir = make_project(tmp_path, HANGING_TESTS)
    monkeypatch.chdir(project)
    nodeid = "test_branchy.py::test_spins"
    save_corpus(project, db_dir, {nodeid: [(3,), (7,), (150,)]})
    with pytest.warns(InputsTimedOutWarning, match=re.escape(f"1 stored input(s) of {nodeid}")):
        frame = hypofuzz_nb.coverage(nodeid=nodeid, input_timeout=0.5)
    spins = frame[frame.file == str(project / "test_branchy.py")].set_index("line")
    loop = line_of(project / "test_branchy.py", "while True:")
    assert spins.hits[loop] == 1  # the hanging input reached the loop
    assert "stopped at input_timeout" in spins.smallest_input[loop]
    branchy = frame[(frame.file == str(project / "branchy.py")) & frame.branch_to.isna()]
    assert branchy.set_index("line").hits[2] == 3  # the inputs after it still ran


def test_coverage_gives_up_after_its_timeout_and_kills_the_replay(tmp_path, monkeypatch):
    project, db_dir = make_project(tmp_path, HANGING_TESTS)
    monkeypatch.chdir(project)
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("PID_FILE", str(pid_file))
    nodeid = "test_branchy.py::test_sleeps"
    save_corpus(project, db_dir, {nodeid: [(7,)]})
    with pytest.raises(ReplayTimeout) as raised:
        hypofuzz_nb.coverage(nodeid=nodeid, timeout=6, input_timeout=1)
    message = str(raised.value)
    assert "timeout=6 s" in message and "larger timeout=" in message and "nodeid=" in message
    assert raised.value.nodeid == nodeid  # the test it was replaying
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)


def test_a_failing_replay_subprocess_is_a_clear_error(tmp_path):
    request = ReplayRequest(
        paths=["."], rootdir=str(tmp_path), tests={}, probe="hypofuzz_nb.no_such_module:Probe"
    )
    with pytest.raises(ReplayError, match="no_such_module"):
        replay(request)


def test_the_corpus_of_a_real_fuzzing_run(tmp_path, monkeypatch):
    project, _db_dir = make_project(tmp_path)
    monkeypatch.chdir(project)
    nodeid = "test_branchy.py::test_classify"
    session = hypofuzz_nb.fuzz(["test_branchy.py"], max_examples=300, max_time=120, seed=0)
    assert session.wait(180)
    frame = hypofuzz_nb.coverage(nodeid=nodeid, omit=["*/test_*.py"])
    assert_schema(frame)
    lines = frame[frame.branch_to.isna()].set_index("line")
    small = line_of(project / "branchy.py", '"small"')
    # the fuzzer keeps an input for each branch it reached: "small" is one
    assert lines.loc[small].hits >= 1
    assert "x=" in lines.loc[small].smallest_input
    first_check = line_of(project / "branchy.py", "x < 10:")
    both_ways = frame[(frame.line == first_check) & frame.branch_to.notna()]
    assert len(both_ways) == 2
    assert (both_ways.hits >= 1).all()
    reached = frame[frame.hits > 0]
    assert reached.smallest_input.notna().all()
    assert frame[frame.hits == 0].smallest_input.isna().all()


def test_a_test_whose_fixture_fails_is_left_out_with_a_warning(tmp_path, monkeypatch):
    project, db_dir = make_project(
        tmp_path,
        TESTS
        + textwrap.dedent(
            """
            import pytest

            @pytest.fixture
            def broken():
                raise RuntimeError("no fixture today")

            @given(st.integers())
            def test_needs_fixture(broken, x):
                pass
            """
        ),
    )
    monkeypatch.chdir(project)
    save_corpus(project, db_dir, {"test_branchy.py::test_needs_fixture": [(1,)]})
    with pytest.warns(UserWarning, match="no fixture today"):
        frame = hypofuzz_nb.coverage()
    assert frame.empty
    assert_schema(frame)
