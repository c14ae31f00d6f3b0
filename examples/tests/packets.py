"""A tiny framed-message decoder with a planted deep bug.

A frame is a list of byte values: the magic bytes ``HYPO``, then a payload. The bug
hides behind the whole header: random inputs get past the first check once in 256
tries and past all four once in about four billion, so plain Hypothesis does not
find it (not in 100,000 examples, measured). Each check is its own branch, though, so a
coverage-guided fuzzer climbs the header one byte at a time.
"""

from __future__ import annotations


def decode(frame: list[int]) -> list[int]:
    """The payload of ``frame``; raises ValueError for a malformed frame."""
    if len(frame) < 4:
        raise ValueError("frame too short")
    if frame[0] != 0x48:  # H
        raise ValueError("bad magic byte 0")
    if frame[1] != 0x59:  # Y
        raise ValueError("bad magic byte 1")
    if frame[2] != 0x50:  # P
        raise ValueError("bad magic byte 2")
    if frame[3] != 0x4F:  # O
        raise ValueError("bad magic byte 3")
    # The planted bug: a valid header with an empty payload reads past the end.
    payload = frame[4:]
    length = payload[0] if len(payload) < 2 else len(payload)
    return payload[:length]
