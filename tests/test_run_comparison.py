"""hypofuzz_nb.compare_runs: two databases, or two windows of one, on one plot."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from dashboard_data import write_reports
from hypothesis.database import DirectoryBasedExampleDatabase
from matplotlib.figure import Figure

import hypofuzz_nb
from hypofuzz_nb.plots import figure_to_png

START = 1.7e9
NODEIDS = ("tests/test_a.py::test_one", "tests/test_a.py::test_two")


def _database(path, n_reports: int, start: float) -> DirectoryBasedExampleDatabase:
    db = DirectoryBasedExampleDatabase(path)
    for nodeid in NODEIDS:
        key = hashlib.sha384(nodeid.encode()).digest()
        write_reports(db, key, nodeid, n_reports, start=start)
    return db


def _lines(figure: Figure) -> list:
    return [line for line in figure.axes[0].get_lines() if len(line.get_xdata())]


def test_two_databases_overlaid_from_their_own_start(tmp_path):
    before = _database(tmp_path / "before", 10, START)
    after = _database(tmp_path / "after", 20, START + 10_000)
    figure = hypofuzz_nb.compare_runs(before, str(tmp_path / "after"), labels=["before", "after"])
    assert isinstance(figure, Figure)
    lines = _lines(figure)
    assert len(lines) == 4  # two tests x two runs
    assert {line.get_linestyle() for line in lines} == {"-", "--"}
    # Both runs start at x=0 although they ran hours apart.
    assert all(line.get_xdata()[0] == 0 for line in lines)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels[:2] == ["before", "after"] and set(NODEIDS) <= set(labels)
    assert figure_to_png(figure).startswith(b"\x89PNG")
    del after


def test_two_windows_of_one_run(tmp_path):
    data = hypofuzz_nb.load(_database(tmp_path / "db", 20, START))
    early = (data, (START, START + 9))
    late = (data, (pd.Timestamp(START + 10, unit="s", tz="UTC"), None))
    figure = hypofuzz_nb.compare_runs(early, late, x="inputs", y="fingerprints", tests=NODEIDS[:1])
    solid, dashed = _lines(figure)
    assert len(solid.get_xdata()) == 10 and len(dashed.get_xdata()) == 10
    assert dashed.get_ydata()[0] > solid.get_ydata()[-1]  # the late window starts higher
    # since/until apply to both runs unless a run has its own window.
    iso = pd.Timestamp(START + 15, unit="s", tz="UTC").isoformat()
    figure = hypofuzz_nb.compare_runs(data, data, since=iso)
    assert all(len(line.get_xdata()) == 5 for line in _lines(figure))


def test_bad_runs_and_windows_say_what_to_pass(tmp_path):
    data = hypofuzz_nb.load(_database(tmp_path / "db", 3, START))
    with pytest.raises(TypeError, match="needs two runs"):
        hypofuzz_nb.compare_runs(data, 42)
    with pytest.raises(ValueError, match="before it starts"):
        hypofuzz_nb.compare_runs(data, data, since=START + 5, until=START)
    with pytest.raises(ValueError, match="y must be one of"):
        hypofuzz_nb.compare_runs(data, data, y="speed")
    with pytest.raises(ValueError, match="labels must name the two runs"):
        hypofuzz_nb.compare_runs(data, data, labels=["only one"])
    empty = hypofuzz_nb.compare_runs(data, data, since=START + 1e6)
    assert "no reports" in empty.axes[0].texts[0].get_text()


def test_a_notebook_cell_ending_in_it_shows_a_png(tmp_path):
    data = hypofuzz_nb.load(_database(tmp_path / "db", 3, START))
    assert hypofuzz_nb.compare_runs(data, data)._repr_png_().startswith(b"\x89PNG")
