"""hypofuzz_nb.slot: the shared-memory slot naming the input a worker process runs."""

from __future__ import annotations

import math
import struct

from hypofuzz_nb import records
from hypofuzz_nb.slot import slot_choices_bytes, slot_payload


def test_the_crash_slot_keeps_choices_bit_exact_in_hypothesis_format():

    nan_with_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_1234))[0]
    choices = (
        True,
        False,
        0,
        -(2**200),
        2**70,
        -0.0,
        math.inf,
        nan_with_payload,
        "a\udcff€",
        b"\x00\xff",
    )
    restored = slot_choices_bytes(slot_payload(choices))
    assert restored == records.encode_choices(choices)
    decoded = records.decode_choices(restored)
    assert [struct.pack("<d", c) if type(c) is float else c for c in decoded] == [
        struct.pack("<d", c) if type(c) is float else c for c in choices
    ]
    assert slot_choices_bytes(b"garbage") is None
    assert slot_choices_bytes(b"M\x00") is None  # torn: never raises
