"""Where the exception of a reproduced failure goes: a post-mortem debugger, and the
slots that ``%debug`` and ``pdb.pm()`` read.

One choice of debugger for every caller (``Failure.debug()``, the dashboard's Debug
button): IPython's inside IPython, else the standard library's ``pdb``. IPython is
imported only when it is already running, so plain Python processes never import it.
"""

from __future__ import annotations

import sys
import traceback as traceback_module
from types import TracebackType
from typing import Any

__all__ = ["post_mortem", "post_mortem_debugger", "remember_last_exception", "show_exception"]


def _running_ipython() -> Any:
    """The running IPython shell, or None (outside IPython, or IPython not installed)."""
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def post_mortem_debugger() -> Any:
    """A fresh debugger: IPython's inside IPython, else ``pdb.Pdb``."""
    if _running_ipython() is not None:
        from IPython.core.debugger import Pdb

        return Pdb()
    import pdb

    return pdb.Pdb()


def post_mortem(traceback: TracebackType | None, debugger: Any = None) -> None:
    """Open ``debugger`` (default: :func:`post_mortem_debugger`) on ``traceback``."""
    if debugger is None:
        debugger = post_mortem_debugger()
    debugger.reset()
    debugger.interaction(None, traceback)


def remember_last_exception(exc: BaseException) -> None:
    """Store ``exc`` where ``%debug`` and ``pdb.pm()`` look for the last exception."""
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = exc


def show_exception(exc: BaseException) -> None:
    """Print ``exc`` with its traceback: IPython's rendering inside IPython."""
    ipython = _running_ipython()
    if ipython is not None:
        ipython.showtraceback((type(exc), exc, exc.__traceback__))
    else:
        traceback_module.print_exception(exc)
