"""plot_progress: figures without pyplot, one line per test, clear empty state."""

from __future__ import annotations

import sys
import threading

import pytest
from dashboard_data import empty_data, make_data, make_reports
from matplotlib.figure import Figure

import hypofuzz_nb
from hypofuzz_nb.plots import figure_to_png, plot_progress

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _lines(figure: Figure):
    (axes,) = figure.axes
    return axes.get_lines()


def test_exported_from_package():
    assert hypofuzz_nb.plot_progress is plot_progress


def test_one_line_per_test_from_fuzzdata_or_frame():
    data = make_data(n_tests=3, n_reports=10)
    for source in (data, data.reports):
        figure = plot_progress(source)
        assert isinstance(figure, Figure)
        lines = _lines(figure)
        assert sorted(line.get_label() for line in lines) == [
            f"tests/test_mod.py::test_{t}" for t in range(3)
        ]


@pytest.mark.parametrize("y", ["behaviors", "fingerprints"])
@pytest.mark.parametrize("x", ["time", "inputs"])
def test_axes_show_the_chosen_columns(x, y):
    reports = make_reports(n_tests=1, n_reports=5)
    figure = plot_progress(reports, x=x, y=y, log=False)
    (line,) = _lines(figure)
    x_column = {"time": "elapsed_s", "inputs": "inputs"}[x]
    assert list(line.get_xdata()) == list(reports[x_column].astype(float))
    assert list(line.get_ydata()) == list(reports[y].astype(float))
    assert figure.axes[0].get_xscale() == "linear"


def test_log_scale_and_unsorted_reports():
    reports = make_reports(n_tests=2, n_reports=6).sample(frac=1.0, random_state=0)
    figure = plot_progress(reports, log=True)
    assert figure.axes[0].get_xscale() == "symlog"
    for line in _lines(figure):
        xs = list(line.get_xdata())
        assert xs == sorted(xs)


def test_tests_filter_selects_lines():
    data = make_data(n_tests=4, n_reports=5)
    figure = plot_progress(data, tests=["tests/test_mod.py::test_2"])
    assert [line.get_label() for line in _lines(figure)] == ["tests/test_mod.py::test_2"]
    # A single node id is accepted as well as a list of them.
    figure = plot_progress(data, tests="tests/test_mod.py::test_1")
    assert [line.get_label() for line in _lines(figure)] == ["tests/test_mod.py::test_1"]


def _texts(figure: Figure) -> str:
    return " ".join(t.get_text() for t in figure.axes[0].texts)


def test_empty_state_says_so():
    figure = plot_progress(empty_data())
    assert _lines(figure) == []
    assert "No progress reports yet" in _texts(figure)
    assert figure_to_png(figure).startswith(PNG_MAGIC)

    figure = plot_progress(make_data(2, 3), tests=["no::such"])
    assert "selected tests" in _texts(figure)


@pytest.mark.parametrize(
    "kwargs, choices",
    [({"y": "branches"}, "behaviors"), ({"x": "wallclock"}, "inputs")],
)
def test_invalid_axis_names_the_choices(kwargs, choices):
    with pytest.raises(ValueError, match=choices):
        plot_progress(make_data(1, 2), **kwargs)


def test_wrong_data_type_says_what_to_pass():
    with pytest.raises(TypeError, match=r"hypofuzz_nb\.load\(\)"):
        plot_progress([1, 2, 3])
    with pytest.raises(ValueError, match="lacks the column"):
        plot_progress(make_reports(1, 2).drop(columns=["inputs"]))


def test_never_touches_pyplot():
    plot_progress(make_data(2, 3))
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # imported by something else in this process
        assert not pyplot.get_fignums()


def test_render_from_many_threads_at_once():
    data = make_data(n_tests=5, n_reports=50)
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def render(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(3):
                figure = plot_progress(data, y=("behaviors", "fingerprints")[i % 2])
                results[i] = figure_to_png(figure)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=render, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == 4
    assert all(png.startswith(PNG_MAGIC) and len(png) > 1000 for png in results.values())
    # Same inputs, same picture: threads did not draw into each other's figures.
    assert results[0] == results[2]
    assert results[1] == results[3]


def test_steps_without_change_are_dropped_losslessly():
    reports = make_reports(n_tests=2, n_reports=10)
    reports["behaviors"] = [5, 5, 5, 6, 6, 6, 6, 7, 7, 7] * 2
    (first, second) = _lines(plot_progress(reports, log=False))
    for line in (first, second):
        assert list(line.get_xdata()) == [0.0, 3.0, 7.0, 9.0]
        assert list(line.get_ydata()) == [5.0, 6.0, 7.0, 7.0]


def test_a_figure_shows_as_png_in_a_real_ipython_shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    figure = plot_progress(make_data())
    formats, _metadata = shell.display_formatter.format(figure)
    assert formats["image/png"].startswith(b"\x89PNG")


@pytest.mark.parametrize("n_tests", [1, 3, 12])
@pytest.mark.parametrize("prefix", ["tests/test_mod.py", "tests/" + "deeply_nested/" * 12 + "t.py"])
def test_the_legend_sits_below_the_axes_and_inside_the_figure(n_tests, prefix):
    data = make_data(n_tests=n_tests, n_reports=10)
    data.reports["nodeid"] = data.reports["nodeid"].str.replace("tests/test_mod.py", prefix)
    figure = plot_progress(data, figsize=(8.0, 4.0))
    figure_to_png(figure, dpi=72)  # lays everything out
    renderer = figure.canvas.get_renderer()
    (axes,) = figure.axes
    (legend,) = figure.legends
    axes_box = axes.get_tightbbox(renderer)  # the axes with tick labels and axis labels
    legend_box = legend.get_window_extent(renderer)
    figure_box = figure.bbox
    assert legend_box.y1 <= axes_box.y0, "the legend overlaps the axes"
    assert figure_box.x0 <= legend_box.x0 and legend_box.x1 <= figure_box.x1
    assert figure_box.y0 <= legend_box.y0
    # The axes keep the size asked for: the legend adds to the figure's height.
    assert axes.get_window_extent(renderer).height == pytest.approx(
        4.0 * 72 * (0.92 - 0.13), rel=1e-6
    )
    texts = [t.get_text() for t in legend.get_texts()]
    assert len(texts) == n_tests
    for t, text in zip(
        range(n_tests), sorted(texts, key=lambda x: int(x.rsplit("_", 1)[1])), strict=True
    ):
        assert text.endswith(f"::test_{t}")
