"""Redis end to end: workers on several "hosts", a live dashboard reader, replay elsewhere.

Each host is a separate copy of a small project, with its own working directory,
HOME and pod name, whose conftest.py is the recipe of deploy/README.md verbatim. All
of them use one real redis-server that requires a password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from deploy_recipe import ENV_VAR, conftest_recipe

from hypofuzz_nb.frames import load
from hypofuzz_nb.records import TEST_KEYS_KEY
from hypofuzz_nb.redis_url import redis_database_from_url
from hypofuzz_nb.watch import DatabaseWatcher

pytestmark = pytest.mark.redis

PASSWORD = "e2e-Pw-41c9-secret"
FUZZ_SECONDS = 8

TEST_FILE = textwrap.dedent(
    """
    from hypothesis import given, strategies as st


    @given(st.integers())
    def test_bug(x):
        assert x < 1000


    @given(st.lists(st.integers()))
    def test_ok(xs):
        assert sorted(sorted(xs)) == sorted(xs)
    """
)

REPLAY_PROFILE = textwrap.dedent(
    """
    # Replay only: no generation, so a failure here comes from the shared database.
    from hypothesis import Phase

    settings.register_profile(
        "replay", parent=settings.get_profile("team"), phases=[Phase.explicit, Phase.reuse]
    )
    settings.load_profile("replay")
    """
)


def make_host(root: Path, name: str, extra_conftest: str = "") -> Path:
    host = root / name
    (host / "tests").mkdir(parents=True)
    (host / "home").mkdir()
    (host / "conftest.py").write_text(conftest_recipe() + extra_conftest)
    (host / "tests" / "test_team.py").write_text(TEST_FILE)
    return host


def host_env(host: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOFUZZ", "PYTEST"))}
    env.update(
        {
            ENV_VAR: url,
            "HOME": str(host / "home"),
            "POD_NAME": f"pod-{host.name}",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def cli() -> list[str]:
    """The installed ``hypofuzz-nb`` console script (what the deploy recipes run)."""
    script = Path(sys.executable).with_name("hypofuzz-nb")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hypofuzz_nb"]


def all_redis_bytes(server) -> bytes:
    client = server.client()
    chunks = []
    for key in client.scan_iter(count=1000):
        chunks.append(key)
        chunks.extend(client.smembers(key) if client.type(key) == b"set" else [])
    return b"\n".join(chunks)


def test_workers_on_two_hosts_dashboard_and_replay(make_redis_server, tmp_path):
    server = make_redis_server(password=PASSWORD)
    url = server.url
    hosts = [make_host(tmp_path, "host-a"), make_host(tmp_path, "host-b")]

    dashboard_db = redis_database_from_url(url)
    heard: list[set[bytes] | None] = []
    with DatabaseWatcher(dashboard_db, heard.append) as watcher:
        assert watcher.mode == "redis"
        workers = [
            subprocess.Popen(
                [
                    *cli(),
                    "fuzz",
                    "tests",
                    "--no-dashboard",
                    "-n",
                    "1",
                    "--max-time",
                    str(FUZZ_SECONDS),
                ],
                cwd=host,
                env=host_env(host, url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for host in hosts
        ]
        outputs = [w.communicate(timeout=FUZZ_SECONDS + 120) for w in workers]
        # The watcher heard the workers live (through pub/sub), before any reload.
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.unreachable_since is None
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 1, (out, err)  # 1: a failure was found
        assert "test_bug" in out
        assert PASSWORD not in out + err
    assert any(keys and TEST_KEYS_KEY in keys for keys in heard if keys), heard

    data = load(dashboard_db)
    tests = data.tests.set_index("nodeid")
    assert set(tests.index) == {"tests/test_team.py::test_bug", "tests/test_team.py::test_ok"}
    assert tests.loc["tests/test_team.py::test_bug", "status"] == "failed"
    assert tests.loc["tests/test_team.py::test_ok", "n_workers"] == 2
    assert set(data.workers["pod_name"]) == {"pod-host-a", "pod-host-b"}
    shrunk = data.failures[data.failures["state"] == "shrunk"]
    # Two workers found the bug; a value under K that Hypothesis' shrinker saved may have
    # no observation of ours (its representation is then missing), but one of them does.
    assert "x=1000" in " ".join(shrunk["representation"].dropna().astype(str))

    # The password is nowhere: not in Redis, not in any file the hosts wrote.
    assert PASSWORD.encode() not in all_redis_bytes(server)
    for host in hosts:
        for path in host.rglob("*"):
            if path.is_file() and path.name != "conftest.py":
                assert PASSWORD.encode() not in path.read_bytes(), path

    # Plain pytest on a third host, generation off: it fails on the shared failure at once.
    replayer = make_host(tmp_path, "host-c", REPLAY_PROFILE)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "-q"],
        cwd=replayer,
        env=host_env(replayer, url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    # test_ok has nothing stored to replay and generation is off: Hypothesis skips it.
    assert "1 failed, 1 skipped" in result.stdout
    assert "FAILED tests/test_team.py::test_bug - assert 1000 < 1000" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr

    # The dashboard on a laptop, from the command line: it reads, and writes nothing.
    laptop = make_host(tmp_path, "laptop")
    before = all_redis_bytes(server)
    result = subprocess.run(
        [*cli(), "fuzz", "tests", "--dashboard-only"],
        cwd=laptop,
        env=host_env(laptop, url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # the database holds a failure
    assert "tests/test_team.py::test_bug" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert all_redis_bytes(server) == before
