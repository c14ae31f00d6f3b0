"""hypofuzz_nb: a Jupyter-integrated, coverage-guided fuzzer for Hypothesis tests.

The public API is re-exported here; see the README for runnable examples.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "Dashboard",
    "Failure",
    "FuzzData",
    "FuzzSession",
    "__version__",
    "compare_runs",
    "coverage",
    "coverage_view",
    "distributions",
    "distributions_view",
    "failures",
    "fuzz",
    "load",
    "load_ipython_extension",
    "plateaus",
    "plot_progress",
    "show_dashboard",
    "stuck",
    "stuck_view",
    "test_page",
    "unload_ipython_extension",
]

# Each public name, and the module that defines it. They are imported on first
# use: a worker process must not import pandas, matplotlib or ipywidgets (with
# numpy loaded, Hypothesis saves and restores numpy's random state around every
# input, which costs a third of the fuzzer's throughput), and the command line
# starts faster without them.
_LAZY = {
    "coverage": "corpus_coverage",
    "coverage_view": "coverage_html",
    "distributions": "input_distributions",
    "distributions_view": "distributions_html",
    "plateaus": "plateau_signal",
    "stuck": "stuck_branches",
    "stuck_view": "stuck_html",
    "compare_runs": "run_comparison",
    "test_page": "single_test_page",
    "Dashboard": "widgets",
    "show_dashboard": "widgets",
    "Failure": "reproduce",
    "failures": "reproduce",
    "FuzzData": "frames",
    "load": "frames",
    "plot_progress": "plots",
    "FuzzSession": "session",
    "fuzz": "session",
}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hypofuzz_nb' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"hypofuzz_nb.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext hypofuzz_nb``: register ``%hypofuzz`` and ``%%hypofuzz``."""
    # Imported here so that plain Python processes never import IPython.
    from hypofuzz_nb.magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext hypofuzz_nb``: stop the workers and dashboards the magics started."""
    from hypofuzz_nb.magic import unload_ipython_extension as unload

    unload(ipython)
