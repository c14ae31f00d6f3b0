"""Which code is the user's: the tools' files, and tracebacks without their frames.

"Code under test" is everything except the standard library, the tools doing the
testing (hypothesis, pytest, pluggy, hypofuzz_nb) and the notebook machinery they run in
(:data:`KERNEL_PACKAGES`: IPython, ipykernel, the Jupyter protocol and its transport).
Installed third-party libraries count otherwise: users fuzz them. A *tool file* is one of the tools' own files (not the
standard library); a user traceback is one with the tools' frames taken out.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sysconfig
import traceback

from hypofuzz_nb import _compat

__all__ = ["KERNEL_PACKAGES", "is_code_under_test", "is_tool_file", "user_traceback"]

#: The packages that run a notebook's kernel. Not code under test: the fuzzer's branch
#: recording (sys.monitoring, process-wide on 3.12+) would otherwise call back on every
#: branch the kernel takes to receive, run and answer each cell, in every thread
#: (counted: about 3,200 callbacks for one small pandas call on the main thread).
KERNEL_PACKAGES = (
    "IPython",
    "ipykernel",
    "jupyter_client",
    "jupyter_core",
    "zmq",
    "tornado",
    "traitlets",
    "comm",
    "ipywidgets",
    "debugpy",
)

_SITE_PACKAGES_MARKERS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)


def _variants(path: str) -> set[str]:
    # Both spellings: a venv's paths may be symlinks that frames report either way.
    return {os.path.realpath(path) + os.sep, os.path.normpath(path) + os.sep}


@functools.cache
def _stdlib_dirs() -> tuple[str, ...]:
    dirs: set[str] = set()
    for name in ("stdlib", "platstdlib"):
        path = sysconfig.get_paths().get(name)
        if path:
            dirs |= _variants(path)
    return tuple(sorted(dirs))


@functools.cache
def _tool_only_dirs() -> tuple[str, ...]:
    import hypothesis
    import pluggy
    import pytest

    import hypofuzz_nb

    dirs: set[str] = set()
    for path in [
        *hypothesis.__path__,
        *_compat.collection_pytest_package_dirs(),
        *pluggy.__path__,
        *hypofuzz_nb.__path__,
    ]:
        dirs |= _variants(path)
    dirs.add(os.path.realpath(pytest.__file__))
    return tuple(sorted(dirs))


@functools.cache
def _kernel_dirs() -> tuple[str, ...]:
    import importlib.util

    dirs: set[str] = set()
    for name in KERNEL_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)  # finds, never imports
        except (ImportError, ValueError):
            continue
        for path in (spec.submodule_search_locations or []) if spec else []:
            dirs |= _variants(path)
    return tuple(sorted(dirs))


def is_code_under_test(filename: str) -> bool:
    """Whether code in ``filename`` is code under test (see the module docstring)."""
    if filename.startswith(("<frozen", "<built-in", "<string>")):
        # <string> is mostly code that tools (Hypothesis' signature-preserving
        # wrappers, dataclasses, namedtuples) compile on the fly
        return False
    if filename.startswith("<"):
        # notebook cells (<ipython-input-...>) and the like: user code
        return True
    if filename.startswith(_tool_only_dirs()) or filename.startswith(_kernel_dirs()):
        return False
    if filename.startswith(_stdlib_dirs()):
        # the stdlib dir contains site-packages: third-party libraries count.
        return any(m in filename for m in _SITE_PACKAGES_MARKERS)
    return True


def is_tool_file(filename: str) -> bool:
    """Whether ``filename`` belongs to hypothesis, pytest, pluggy or hypofuzz_nb."""
    return filename.startswith(_tool_only_dirs())


def user_traceback(exception: BaseException) -> str:
    """``exception`` formatted without the tools' frames (and contextlib's), chained
    exceptions included; if nothing of the user's is left, every frame is kept."""
    te = traceback.TracebackException.from_exception(exception)
    seen = set()
    node: traceback.TracebackException | None = te
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        frames = [
            f
            for f in node.stack
            if not is_tool_file(f.filename) and f.filename != contextlib.__file__
        ]
        node.stack = traceback.StackSummary.from_list(frames or list(node.stack))
        node = node.__cause__ or node.__context__
    return "".join(te.format())
