"""Reading many keys of a directory database in a helper process, ahead of their use.

Reading a directory database's files costs about as much as parsing them. For many
keys, :func:`read_directories` has a helper process (standard library only, started
with ``-S``) read the files while the caller parses what was already read, so the
two overlap on two cores. It yields each directory's values in the order asked; if
the helper cannot start or stops early it raises :class:`ReadAheadFailed` and the
caller reads the rest itself. It only reads: it never writes or deletes.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterator

__all__ = ["READ_AHEAD_MIN_KEYS", "ReadAheadFailed", "read_directories"]

# Read ahead in a helper process only when there is enough to amortise its start.
READ_AHEAD_MIN_KEYS = 20

# The helper: standard library only, started with -S so that it starts in ~20 ms.
# stdin: one hex-encoded directory per line. stdout, per directory: the number of
# values n (u32), n value lengths (u32 each), then the values concatenated.
_READER_SOURCE = """
import os, struct, sys
try:
    import fcntl
    fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ: let us run up to 1 MiB ahead
except Exception:
    pass
out = sys.stdout.buffer
for line in sys.stdin.buffer.read().split():
    directory = os.fsdecode(bytes.fromhex(line.decode()))
    values = []
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    for name in names:
        try:
            with open(os.path.join(directory, name), "rb", buffering=0) as f:
                values.append(f.read())
        except OSError:
            pass
    out.write(struct.pack("<%dI" % (len(values) + 1), len(values), *map(len, values)))
    out.write(b"".join(values))
out.flush()
"""


class ReadAheadFailed(Exception):
    """The helper could not start or stopped early: read the rest another way."""


def read_directories(directories: list[str]) -> Iterator[list[bytes]]:
    """The values in each directory, read by a helper process (see ``_READER_SOURCE``).

    Raises :class:`ReadAheadFailed` if the helper cannot start or stops early.
    """
    try:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _READER_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as err:
        raise ReadAheadFailed from err
    try:
        assert proc.stdin is not None and proc.stdout is not None
        request = b"\n".join(os.fsencode(d).hex().encode("ascii") for d in directories)
        # The helper reads all of stdin before writing, so this cannot deadlock.
        proc.stdin.write(request + b"\n")
        proc.stdin.close()
        read = proc.stdout.read
        for _ in directories:
            header = read(4)
            if len(header) != 4:
                raise ReadAheadFailed
            (count,) = struct.unpack("<I", header)
            lengths_raw = read(4 * count)
            if len(lengths_raw) != 4 * count:
                raise ReadAheadFailed
            lengths = struct.unpack(f"<{count}I", lengths_raw)
            total = sum(lengths)
            blob = read(total)
            if len(blob) != total:
                raise ReadAheadFailed
            values = []
            offset = 0
            for length in lengths:
                values.append(blob[offset : offset + length])
                offset += length
            yield values
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
