"""How workers keep fuzzing through a database outage, and let go of the database.

Guarantees:

* Every database a worker writes to is wrapped in a
  :class:`~hypofuzz_nb.resilient.ResilientDatabase` (unless it is one already, with
  the caller's options): writes the database refuses are kept in memory and
  retried, reads fall back to what the worker has in memory.
* Stopping never fails and never waits longer than :data:`EXIT_FLUSH_TIMEOUT_S`
  because of the database.
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["EXIT_FLUSH_TIMEOUT_S", "buffer_state", "outage_proof", "release"]

#: Seconds a stopping worker waits for the database to take its buffered writes.
EXIT_FLUSH_TIMEOUT_S = 5.0


def outage_proof(database: Any) -> Any:
    """``database`` wrapped so that an outage never stops fuzzing (see ResilientDatabase).

    A database that is a ``ResilientDatabase`` already is the caller's, with the
    caller's options, and is used as it is.
    """
    from hypofuzz_nb.resilient import ResilientDatabase

    if isinstance(database, ResilientDatabase):
        return database
    return ResilientDatabase(database, on_read_error="memory")


def buffer_state(database: Any) -> tuple[int, float | None]:
    """``(pending_writes, unreachable_since)`` of a ResilientDatabase; (0, None) otherwise."""
    try:
        return int(database.pending_writes), database.unreachable_since
    except Exception:  # a status display must never fail because of the database
        return 0, None


def release(database: Any, *, owned: bool) -> None:
    """Give the database a bounded chance to take what is buffered.

    A wrapper this worker made (``owned``) is closed, so its retry thread stops; one
    the caller passed in is only flushed, so the caller can go on using it.
    """
    with contextlib.suppress(Exception):  # stopping must never fail because of the database
        if owned:
            database.close(timeout=EXIT_FLUSH_TIMEOUT_S)
        else:
            database.flush(timeout=EXIT_FLUSH_TIMEOUT_S)
