"""Test projects for the fuzzing tests: real test files in tmp_path, collected by real pytest.

Shared by test_session.py, test_processes.py and test_fuzz_loop.py. A module that collects
projects imports the autouse fixture ``restore_hypothesis_profile``.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from hypofuzz_nb import records
from hypofuzz_nb.fuzz_loop import BATCH_SIZE
from hypofuzz_nb.status import SessionStatus, TestStatus

CONFTEST = """
from pathlib import Path
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile(
    "project-{tag}",
    database=DirectoryBasedExampleDatabase(Path(__file__).resolve().parent / ".hypothesis" / "examples"),
    deadline=None,
)
settings.load_profile("project-{tag}")
"""


@pytest.fixture(autouse=True)
def restore_hypothesis_profile():
    """Collecting a project loads its profile in this process: put ours back after."""
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


def make_project(tmp_path: Path, files: dict[str, str], tag: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "conftest.py").write_text(CONFTEST.format(tag=tag))
    for name, text in files.items():
        (project / name).write_text(textwrap.dedent(text))
    return project


def project_database(project: Path) -> DirectoryBasedExampleDatabase:
    return DirectoryBasedExampleDatabase(project / ".hypothesis" / "examples")


def run_pytest(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(predicate, *, seconds: float = 60.0) -> bool:
    """Poll ``predicate`` until it holds or ``seconds`` pass (bounded by time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def by_nodeid(status: SessionStatus) -> dict[str, TestStatus]:
    return {t.nodeid.split("::")[-1]: t for t in status.tests}


SHALLOW = """
from hypothesis import given, strategies as st

@given(st.integers())
def test_small(x):
    assert x < 1000

@given(st.lists(st.integers()))
def test_sorting_twice(xs):
    assert sorted(sorted(xs)) == sorted(xs)
"""


RICH = """
from hypothesis import given, strategies as st

@given(st.text())
def test_text_round_trip(s):
    assert s.encode("utf-8").decode("utf-8") == s

@given(st.lists(st.integers()))
def test_sorting_twice(xs):
    assert sorted(sorted(xs)) == sorted(xs)
"""


REDIS_CONFTEST = """
import math
import os
import struct
from hypothesis import settings
from hypofuzz_nb.redis_url import redis_database_from_url

settings.register_profile(
    "outage-{tag}", database=redis_database_from_url(os.environ["HFNB_TEST_REDIS_URL"]), deadline=None
)
settings.load_profile("outage-{tag}")
"""


def reports_between(database, start: float, end: float) -> list[records.Report]:
    from hypofuzz_nb.store import Store

    store = Store(database, read_only=True)
    found = []
    for key in store.test_keys():
        stored = map(records.Report.from_bytes, store.fetch(records.reports_key(key)))
        found.extend(r for r in stored if r is not None and start < r.timestamp < end)
    return found


OUTAGE_S = 8.0


def outage(session, server, database) -> None:
    """Kill Redis under a running session, check it fuzzes on, restart, check it all lands."""
    assert wait_until(lambda: reports_between(database, 0, math.inf), seconds=90)
    # A snapshot for the restarted server to load: the test keys registered so far
    # (the restarted server would otherwise not know the tests the buffered reports are of).
    server.client().save()
    killed_at = time.time()
    server.kill()
    assert wait_until(
        lambda: (
            session.status().unreachable_since is not None and session.status().pending_writes > 0
        ),
        seconds=90,
    ), session.status()
    during = session.status()
    assert during.unreachable_since >= killed_at - 1
    # Long enough for timed reports (every 2 s at first, then backing off) to fall due.
    assert wait_until(
        lambda: (
            session.status().inputs > during.inputs + 2 * BATCH_SIZE
            and time.time() - killed_at >= OUTAGE_S
        ),
        seconds=60,
    )
    assert session.running and session.error is None, session.status().error
    restarted_at = time.time()
    server.start()  # with the snapshot only: nothing written during the outage
    assert wait_until(
        lambda: session.status().pending_writes == 0 and session.status().unreachable_since is None,
        seconds=60,
    ), session.status()
    # What was written while Redis was down is there now.
    assert reports_between(database, killed_at, restarted_at)
