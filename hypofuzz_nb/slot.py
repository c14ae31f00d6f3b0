"""The shared-memory slot in which a worker process names the input it is running.

Each worker process owns one slot of :data:`SLOT_SIZE` bytes, shared with its
supervisor. Before each input the process writes the test's index and the input's
choices; after it, "none". When the process dies or hangs, the supervisor reads
the slot to learn which input did it.

Guarantees:

* A half-written payload is never read as complete: its length is written last.
* Writing costs a couple of C calls per input (no Python code per choice), because
  it runs on every input, under ``sys.settrace`` coverage on Python 3.11.
* Reading never raises and never runs code from the slot (``marshal``).
"""

from __future__ import annotations

import marshal
import struct
import time
from typing import Any

from hypofuzz_nb import records

__all__ = ["SLOT_SIZE", "SlotWriter", "new_slot", "read_slot", "slot_choices_bytes", "slot_payload"]

#: Bytes of the shared "current input" slot of each worker process.
SLOT_SIZE = 1 << 16
# started_at (monotonic seconds), sequence number, target index (-1: none), payload length
_SLOT_HEADER = struct.Struct("<dIiI")


def new_slot(context: Any, slot: Any = None) -> Any:
    """An empty slot, in shared memory of the multiprocessing ``context``.

    A given ``slot`` (of a process that died) is emptied and used again.
    """
    if slot is None:
        slot = context.Array("B", SLOT_SIZE, lock=False)
    _SLOT_HEADER.pack_into(memoryview(slot).cast("B"), 0, 0.0, 0, -1, 0)
    return slot


def slot_payload(choices: tuple[Any, ...]) -> bytes:
    """The choices as the slot keeps them: cheap to write, turned into Hypothesis'
    own format (``choices_to_bytes``) only when a process has died.

    ``marshal`` serializes the tuple of ints, floats (bit-exact), bools, strings and
    bytes in one C call, so the per-input cost stays a couple of Python calls even
    under ``sys.settrace`` coverage (3.11), which pays for every Python call;
    ``choices_to_bytes`` runs Python code for every choice. Anything marshal cannot
    write falls back to ``choices_to_bytes``. Only our own worker process writes the
    slot, and marshal never runs code when reading.
    """
    try:
        return b"M" + marshal.dumps(choices)
    except ValueError:
        return b"C" + records.encode_choices(choices)


def slot_choices_bytes(payload: bytes) -> bytes | None:
    """The ``choices_to_bytes`` form of a slot payload, or None if it is unreadable."""
    try:
        if payload[:1] == b"M":
            return records.encode_choices(marshal.loads(payload[1:]))
        if payload[:1] == b"C":
            return payload[1:]
    except Exception:  # a torn or foreign payload: the crash is still reported
        return None
    return None


class SlotWriter:
    """Writes the input about to run into a worker process's shared slot.

    Called as ``writer(target_index, choices)`` before each input and
    ``writer(-1, None)`` after it. The supervisor reads the slot when the process
    dies, to save the input that killed it.
    """

    def __init__(self, slot: Any) -> None:
        self._view = memoryview(slot).cast("B")
        self._sequence = 0

    def __call__(self, target_index: int, choices: tuple[Any, ...] | None) -> None:
        self._sequence += 1
        view = self._view
        if choices is None:
            _SLOT_HEADER.pack_into(view, 0, time.monotonic(), self._sequence, -1, 0)
            return
        payload = slot_payload(choices)
        if len(payload) > SLOT_SIZE - _SLOT_HEADER.size:
            payload = b""  # too long to keep: the supervisor still learns the test
        # Length 0 first, so a half-written payload is never read as complete.
        _SLOT_HEADER.pack_into(view, 0, time.monotonic(), self._sequence, target_index, 0)
        view[_SLOT_HEADER.size : _SLOT_HEADER.size + len(payload)] = payload
        _SLOT_HEADER.pack_into(
            view, 0, time.monotonic(), self._sequence, target_index, len(payload)
        )

    def clear(self) -> None:
        self._sequence += 1
        _SLOT_HEADER.pack_into(self._view, 0, time.monotonic(), self._sequence, -1, 0)


def read_slot(slot: Any) -> tuple[int, bytes | None, float]:
    """``(target_index, choices_bytes, started_at)`` of the input in ``slot``.

    ``target_index`` is -1 when no input runs; ``choices_bytes`` (Hypothesis'
    ``choices_to_bytes`` form) is None when the payload is empty or unreadable.
    """
    view = memoryview(slot).cast("B")
    started, _seq, target_index, length = _SLOT_HEADER.unpack_from(view, 0)
    payload = bytes(view[_SLOT_HEADER.size : _SLOT_HEADER.size + length]) if length else None
    return target_index, None if payload is None else slot_choices_bytes(payload), started
