"""Opening a directory database by path, and looking inside wrapper databases.

:func:`walk_databases` is the one walk over wrappers (Hypothesis' read-only,
multiplexed and background-write databases, and any wrapper that keeps its database
in ``inner``, such as :class:`~hypofuzz_nb.resilient.ResilientDatabase`); everything
else here, and every other module that needs to look inside wrappers, uses it. The
walk visits each database once, and stops at :data:`MAX_WRAPPER_DEPTH`, so a wrapper
that (wrongly) wraps itself cannot make it loop.

:func:`check_directory_databases` is the one check that a directory database's path
is a directory; it raises :class:`~hypofuzz_nb.errors.DatabasePathIsFile`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import DatabasePathError, DatabasePathIsFile

__all__ = [
    "MAX_WRAPPER_DEPTH",
    "check_directory_databases",
    "leaf_databases",
    "list_keys",
    "open_database",
    "pipelined_redis",
    "walk_databases",
]

#: Wrappers nested deeper than this are a cycle, not a real setup: the walk stops there.
MAX_WRAPPER_DEPTH = 20


def walk_databases(database: object) -> Iterator[tuple[object, list[object]]]:
    """``(db, the databases db wraps)`` for ``database`` and everything under it,
    depth first, a wrapper before what it wraps (so a chain comes out in order)."""
    pending = [(database, 0)]
    seen: set[int] = set()
    while pending:
        db, depth = pending.pop()
        if id(db) in seen:
            continue
        seen.add(id(db))
        inner = _compat.store_inner_databases(db)
        if not inner:
            wrapped = getattr(db, "inner", None)
            if (
                wrapped is not None
                and wrapped is not db
                and callable(getattr(wrapped, "fetch", None))
            ):
                inner = [wrapped]
        if depth >= MAX_WRAPPER_DEPTH:
            inner = []
        yield db, inner
        pending.extend((d, depth + 1) for d in reversed(inner))


def leaf_databases(database: object) -> list[object]:
    """The databases that actually store data under ``database``'s wrappers."""
    return [db for db, inner in walk_databases(database) if not inner]


def check_directory_databases(database: object) -> None:
    """Raise :class:`DatabasePathIsFile` for a directory database under ``database`` whose
    path exists and is not a directory (Hypothesis would silently read nothing there)."""
    for db, _inner in walk_databases(database):
        if isinstance(db, DirectoryBasedExampleDatabase):
            path = Path(db.path)
            if path.exists() and not path.is_dir():
                raise DatabasePathIsFile(str(path), db)


def open_database(path: str | os.PathLike[str]) -> DirectoryBasedExampleDatabase:
    """A directory database at ``path``, for reading; raises a clear error if unusable.

    A path that is a file or does not exist raises :class:`DatabasePathError`
    instead of silently reading nothing (Hypothesis' directory database treats
    both as empty).
    """
    p = Path(path)
    if not p.exists():
        raise DatabasePathError(
            f"The database path {str(p)!r} does not exist. Pass the directory of a "
            "Hypothesis example database (by default `.hypothesis/examples`)."
        )
    database = DirectoryBasedExampleDatabase(p)
    check_directory_databases(database)
    return database


def list_keys(
    database: object, read_directory: Callable[[str], list[bytes]] | None = None
) -> set[bytes] | None:
    """Every key held by ``database`` and the databases it wraps; ``None`` if unknowable
    (some database under it cannot list its keys). ``read_directory`` reads the values
    of one directory of a directory database (default: every file, each time)."""
    result: set[bytes] = set()
    for leaf in leaf_databases(database):
        directory = _compat.store_directory_metakeys_dir(leaf)
        if directory is not None and read_directory is not None:
            result.update(read_directory(directory))
            continue
        keys = _compat.store_list_keys(leaf)
        if keys is None:
            return None
        result.update(keys)
    return result


def pipelined_redis(database: object) -> object | None:
    """The Redis database under wrappers that read it unchanged (read-only, ``inner``).

    ``None`` if there is none, or if a wrapper changes what ``fetch`` returns
    (multiplexed: a union of several; background writes: pending writes first).
    """
    for db, inner in walk_databases(database):
        if _compat.store_redis_fetch_many(db, []) is not None:
            return db
        reads_unchanged = isinstance(db, ReadOnlyDatabase) or not _compat.store_inner_databases(db)
        if len(inner) != 1 or not reads_unchanged:
            return None
    return None
