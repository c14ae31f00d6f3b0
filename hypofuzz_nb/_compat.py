"""Every private Hypothesis and pytest API that hypofuzz_nb touches, and nothing else.

Hypothesis and pytest change their internals in minor releases. Keeping every such
use in this one module means a new release breaks one small file, and
``tests/test_compat.py`` checks each function here against the installed releases.

Sections are owned by the module that needs them; add to a section with a small
edit rather than rewriting the file.
"""

from __future__ import annotations

# --- collection (used by hypofuzz_nb.collect) ------------------------------------

# --- engine (used by hypofuzz_nb.engine) ------------------------------------------
