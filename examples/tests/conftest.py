"""Loads the settings profile of the example project.

The fuzzer uses the database of the profile in effect after collection, and plain
pytest replays from that same database: that is how a failure the fuzzer found makes
the next `pytest` run fail at once.
"""

from pathlib import Path

from hypothesis import Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

EXAMPLES = Path(__file__).resolve().parent.parent

settings.register_profile(
    "examples",
    database=DirectoryBasedExampleDatabase(EXAMPLES / ".hypothesis" / "examples"),
    # A loaded machine missing a deadline is not a bug in the code under test.
    deadline=None,
)
settings.load_profile("examples")

# `pytest --hypothesis-profile=examples-replay` only replays what the database holds,
# generating nothing: it shows that a failure comes from the fuzzer's saved example.
settings.register_profile(
    "examples-replay",
    parent=settings.get_profile("examples"),
    phases=[Phase.explicit, Phase.reuse],
)
