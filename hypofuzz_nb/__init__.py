"""hypofuzz_nb: a Jupyter-integrated, coverage-guided fuzzer for Hypothesis tests.

The public API is re-exported here; see the README for runnable examples.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
