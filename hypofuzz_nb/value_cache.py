"""Reading a directory database's values again without reading their files again.

Hypothesis' directory database keeps each value in a file named by the hash of its
contents and replaces files only by renaming new ones into place. So a file that is
still listed under the same name and inode still holds what was read from it, and a
reader that loads the same database again and again (a live dashboard, every second
or two) need only read the files that are new since its last look: one directory
listing per key instead of one ``open`` and ``read`` per value. Each read released
the GIL, and with a fuzzing thread in the same kernel each took it back only after
that thread's switch interval, so a reload took ten times its own CPU time.

Guarantees: :func:`read_values` returns what reading every file of the directory
would return now (files that vanish between listing and reading are skipped, as
Hypothesis does; a missing directory holds nothing); the values kept stay under
:data:`MAX_BYTES` in all, the directories read longest ago dropped first; it is
thread-safe. It only reads.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

__all__ = ["MAX_BYTES", "ValueCache", "read_values"]

#: Bytes of values kept in all, at most (a live dashboard's database of 200,000
#: reports holds about 60 MB of them; past this the oldest directories are read again).
MAX_BYTES = 32 * 1024 * 1024


class ValueCache:
    """Values of directories, by file name and inode; see the module docstring."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._dirs: OrderedDict[str, dict[str, tuple[int, bytes]]] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self.total = 0
        #: Files read from disk, and values served without reading (for tests and benchmarks).
        self.files_read = 0
        self.files_reused = 0

    def read_values(self, directory: str) -> list[bytes]:
        """Every value in ``directory`` (one file each), reading only new files."""
        try:
            entries = [(e.name, e.inode()) for e in os.scandir(directory)]
        except OSError:  # no such key (or deleted meanwhile): Hypothesis yields nothing
            with self._lock:
                self._forget(directory)
            return []
        with self._lock:
            known = self._dirs.get(directory, {})
        fresh: dict[str, tuple[int, bytes]] = {}
        read = 0
        join = os.path.join
        for name, inode in entries:
            found = known.get(name)
            if found is not None and found[0] == inode:
                fresh[name] = found
                continue
            try:
                with open(join(directory, name), "rb", buffering=0) as f:
                    fresh[name] = (inode, f.read())
                read += 1
            except OSError:  # deleted between listing and opening, as Hypothesis tolerates
                pass
        size = sum(len(value) for _, value in fresh.values())
        with self._lock:
            self.files_read += read
            self.files_reused += len(fresh) - read
            self._forget(directory)
            if size <= self.max_bytes:
                self._dirs[directory] = fresh
                self._sizes[directory] = size
                self.total += size
                while self.total > self.max_bytes:
                    self._forget(next(iter(self._dirs)))
        return [value for _, value in fresh.values()]

    def _forget(self, directory: str) -> None:
        if self._dirs.pop(directory, None) is not None:
            self.total -= self._sizes.pop(directory)

    def clear(self) -> None:
        with self._lock:
            self._dirs.clear()
            self._sizes.clear()
            self.total = 0


#: The process's cache, shared by every reader.
CACHE = ValueCache()


def read_values(directory: str) -> list[bytes]:
    """:meth:`ValueCache.read_values` of the process's cache."""
    return CACHE.read_values(directory)
