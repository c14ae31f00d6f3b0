"""Remembering what a collection listed, while the files it read stay unchanged.

The notebook's views (``load(paths=...)``, a test's page, its coverage, the
distributions) each need the listing of the tests (node ids, database keys, the
profile's database), and each listing is a pytest collection in the kernel: every
test module imported again, then pytest's clean-up (measured: about 0.5 s of the
interpreter per listing of the example project, a garbage collection among it). A
kernel that fuzzes and shows a test's page every few seconds paid that again and
again, and the user's cells waited behind it.

Guarantees:

* A listing is reused only for the same arguments, working directory, rootdir,
  ``PYTEST_ADDOPTS`` and Hypothesis settings profile, and only while every ``.py``
  file under the listed paths, every ``conftest.py`` and ini file from the rootdir
  up to the file system's root, keeps its size and modification time (a file added
  or removed there counts as a change).
* A listing with collection errors is never reused: the fix may be in a file outside
  the paths (the code under test).
* Nor one made while a file it read was less than :data:`RACY_S` old: a file system
  keeps modification times only to a few milliseconds, so an edit right after the
  listing could leave the same size and time behind (git's "racily clean" entries).
* At most :data:`MAX_ENTRIES` listings are kept, the least recently used dropped.
* Thread-safe.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MAX_ENTRIES", "RACY_S", "cached_listing", "clear"]

#: Listings kept (one per combination of paths and arguments a notebook uses).
MAX_ENTRIES = 8

#: Seconds within which a file's modification time cannot tell two versions apart.
RACY_S = 2.0

#: The files pytest reads for its configuration, in any directory up to the root.
_CONFIG_NAMES = (
    "conftest.py",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
)

#: Directories pytest does not recurse into by default (``norecursedirs``), plus
#: caches that change on every run without changing what is collected.
_SKIPPED_DIRS = frozenset(
    {"__pycache__", "node_modules", "venv", "build", "dist", "CVS", "_darcs", "{arch}"}
)

_lock = threading.Lock()
_entries: OrderedDict[tuple, tuple[tuple, Any]] = OrderedDict()


def cached_listing(
    paths: Sequence[str],
    pytest_args: Sequence[str],
    rootdir: str | os.PathLike[str] | None,
    make: Callable[[], Any],
) -> Any:
    """The listing of ``paths``: the remembered one while nothing it read changed,
    else ``make()`` (remembered unless it lists collection errors)."""
    from hypothesis import settings

    start = Path(rootdir if rootdir is not None else os.getcwd()).resolve()
    key = (
        str(start),
        tuple(paths),
        tuple(pytest_args),
        os.environ.get("PYTEST_ADDOPTS", ""),
        settings.get_current_profile_name(),
    )
    files = _signature(start, paths)
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry[0] == files:
            _entries.move_to_end(key)
            return entry[1]
    listing = make()
    newest = max((mtime for _path, _size, mtime in files), default=0)
    racy = time.time_ns() - newest < RACY_S * 1e9
    if not listing.errors and not racy:
        with _lock:
            _entries[key] = (files, listing)
            _entries.move_to_end(key)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return listing


def clear() -> None:
    """Forget every listing."""
    with _lock:
        _entries.clear()


def _signature(start: Path, paths: Sequence[str]) -> tuple:
    """``(path, size, mtime)`` of every file a listing of ``paths`` depends on."""
    found: list[tuple[str, int, int]] = []
    roots = [start / p.split("::", 1)[0] for p in paths] or [start]
    for root in roots:
        if root.is_dir():
            _walk(root, found)
        else:
            _stat(root, found)
    for directory in (start, *start.parents):
        for name in _CONFIG_NAMES:
            _stat(directory / name, found)
    return tuple(sorted(found))


def _walk(directory: Path, found: list[tuple[str, int, int]]) -> None:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if not entry.name.startswith(".") and entry.name not in _SKIPPED_DIRS:
                _walk(Path(entry.path), found)
        elif entry.name.endswith(".py"):
            _stat(Path(entry.path), found)


def _stat(path: Path, found: list[tuple[str, int, int]]) -> None:
    try:
        st = path.stat()
    except OSError:
        return  # absent: its absence is part of the signature (a later one differs)
    found.append((str(path), st.st_size, st.st_mtime_ns))
