"""A tiny framed-message decoder with a planted deep bug.

A frame is a list of byte values: a five-byte header in which every byte is a checksum
of the one before it, then a payload. The bug hides behind the whole header: random
inputs get past the first check once in 256 tries and past all four once in about
four billion, but each check is its own branch, so a coverage-guided fuzzer climbs
the chain one byte at a time.
"""

from __future__ import annotations


def _next(byte: int) -> int:
    return (byte * 31 + 7) % 251


def decode(frame: list[int]) -> list[int]:
    """The payload of ``frame``; raises ValueError for a malformed frame."""
    if len(frame) < 5:
        raise ValueError("frame too short")
    if frame[1] != _next(frame[0]):
        raise ValueError("bad header byte 1")
    if frame[2] != _next(frame[1]):
        raise ValueError("bad header byte 2")
    if frame[3] != _next(frame[2]):
        raise ValueError("bad header byte 3")
    if frame[4] != _next(frame[3]):
        raise ValueError("bad header byte 4")
    # The planted bug: a valid header with an empty payload reads past the end.
    payload = frame[5:]
    length = payload[0] if len(payload) < 2 else len(payload)
    return payload[:length]
