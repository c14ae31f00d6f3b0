"""The helper process that draws the live dashboard's plots, run for real."""

from __future__ import annotations

import os
import signal

import pytest
from dashboard_data import make_data

from hypofuzz_nb.plot_process import PlotProcess
from hypofuzz_nb.plots import figure_to_png, plot_progress


@pytest.fixture
def plotter():
    process = PlotProcess()
    yield process
    process.close()
    assert process.pid is None


def test_draws_the_same_png_as_this_process_in_another_process(plotter):
    data = make_data(3, 20)
    options = {"y": "behaviors", "x": "inputs", "log": False, "tests": None}
    png = plotter.png(data.reports, dpi=72, **options)
    assert png.startswith(b"\x89PNG")
    assert png == figure_to_png(plot_progress(data.reports, **options), dpi=72)
    assert plotter.pid is not None and plotter.pid != os.getpid()
    assert plotter.drawings == 1


def test_an_error_while_drawing_is_raised_here_with_its_message(plotter):
    data = make_data(1, 5)
    with pytest.raises(ValueError, match="y must be one of"):
        plotter.png(data.reports, dpi=72, y="nonsense")
    # The helper survives a bad request.
    pid = plotter.pid
    assert plotter.png(data.reports, dpi=72).startswith(b"\x89PNG")
    assert plotter.pid == pid


def test_a_helper_that_died_is_replaced_on_the_next_drawing(plotter):
    data = make_data(2, 5)
    plotter.png(data.reports, dpi=72)
    first = plotter.pid
    os.kill(first, signal.SIGKILL)
    assert plotter.png(data.reports, dpi=72).startswith(b"\x89PNG")
    assert plotter.pid not in (None, first)


def test_interrupting_the_kernel_leaves_the_helper_drawing(plotter):
    # Jupyter's interrupt signals the kernel's process group, the helper included.
    data = make_data(2, 5)
    plotter.png(data.reports, dpi=72)
    pid = plotter.pid
    os.kill(pid, signal.SIGINT)
    assert plotter.png(data.reports, dpi=72).startswith(b"\x89PNG")
    assert plotter.pid == pid
