"""The errors hypofuzz_nb raises for things the user can fix.

Every user mistake surfaces as one subclass of :class:`HypofuzzNbError`, whose
message names the thing to fix. Anything else escaping hypofuzz_nb is a bug in
hypofuzz_nb.
"""

from __future__ import annotations


class HypofuzzNbError(Exception):
    """Base class of every error that tells the user what to fix."""
