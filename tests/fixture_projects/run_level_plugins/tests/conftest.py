from pathlib import Path

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile(
    "fixture-project",
    database=DirectoryBasedExampleDatabase(str(Path(__file__).parent.parent / ".hypothesis-db")),
    deadline=None,
)
settings.load_profile("fixture-project")
