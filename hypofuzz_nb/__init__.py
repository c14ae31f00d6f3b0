"""hypofuzz_nb: a Jupyter-integrated, coverage-guided fuzzer for Hypothesis tests.

The public API is re-exported here; see the README for runnable examples.
"""

from __future__ import annotations

__version__ = "0.1.0"

from hypofuzz_nb.failures import Failure, failures
from hypofuzz_nb.frames import FuzzData, load
from hypofuzz_nb.plots import plot_progress
from hypofuzz_nb.worker import FuzzSession, fuzz

__all__ = [
    "Dashboard",
    "Failure",
    "FuzzData",
    "FuzzSession",
    "__version__",
    "failures",
    "fuzz",
    "load",
    "load_ipython_extension",
    "plot_progress",
    "show_dashboard",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> object:
    # The widgets import ipywidgets and IPython: only when asked for, so that
    # workers and the command line never import them.
    if name in ("Dashboard", "show_dashboard"):
        from hypofuzz_nb import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'hypofuzz_nb' has no attribute {name!r}")


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext hypofuzz_nb``: register ``%hypofuzz`` and ``%%hypofuzz``."""
    # Imported here so that plain Python processes never import IPython.
    from hypofuzz_nb.magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext hypofuzz_nb``: stop the workers and dashboards the magics started."""
    from hypofuzz_nb.magic import unload_ipython_extension as unload

    unload(ipython)
