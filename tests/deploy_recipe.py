"""The conftest.py recipe of deploy/README.md, read verbatim, for tests that run it."""

from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ENV_VAR = "HYPOFUZZ_NB_REDIS_URL"


def conftest_recipe() -> str:
    """The Python block between ``<!-- recipe: conftest.py -->`` and ``<!-- end recipe -->``."""
    text = (DEPLOY / "README.md").read_text()
    match = re.search(
        r"<!-- recipe: conftest.py -->\s*```python\n(.*?)```\s*<!-- end recipe -->", text, re.S
    )
    assert match, "deploy/README.md lost its conftest.py recipe markers"
    return match.group(1)
