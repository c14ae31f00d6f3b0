"""Shared fixtures: real redis-server processes on loopback.

``redis_server``       session-scoped server shared by every test; each user of it should call
                       ``redis_server.flush()`` first or use the ``redis_database`` fixture.
``redis_database``     a fresh ``RedisExampleDatabase`` on the shared server (flushed first).
``make_redis_server``  factory for servers of a test's own (optionally with a password), which
                       the test may ``kill()`` (SIGKILL) and ``start()`` again on the same port;
                       stopped at teardown. Use it for fault tests, never kill the shared one.

Every fixture fails (with the reason) when ``redis-server`` is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis loads its "ci" profile (derandomize=True, database=None) when it sees a
# CI variable, and CI runs this suite with CI=true. The tests exercise what a user's
# machine does, so they run on the default profile, here and in every subprocess they
# start. (What the fuzzer says under the "ci" profile has tests of its own.)
_CI_VARIABLES = (
    "CI",
    "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI",
    "TF_BUILD",
    "bamboo.buildKey",
    "BUILDKITE",
    "CIRCLECI",
    "CIRRUS_CI",
    "CODEBUILD_BUILD_ID",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "HEROKU_TEST_RUN_ID",
    "TEAMCITY_VERSION",
)
for _variable in _CI_VARIABLES:
    os.environ.pop(_variable, None)
if settings.get_current_profile_name() == "ci":
    settings.load_profile("default")

# A shell starts a background job (`make test &`, nohup, some CI runners) with SIGINT
# ignored, and a child process inherits that disposition: the CLI subprocesses that the
# tests stop with Ctrl-C would then never see it. Python installs its own Ctrl-C
# handler only where SIGINT is not ignored, so put the default back for this process
# (a Python-level handler is reset to the default across exec, for the children).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REDIS_SERVER = shutil.which("redis-server")
START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    """One real redis-server on 127.0.0.1, without persistence, that can be killed and restarted."""

    port: int
    workdir: Path
    password: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server on ``self.port`` and wait until it answers PING."""
        assert REDIS_SERVER is not None
        if self.process is not None and self.process.poll() is None:
            return
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.password:
            args += ["--requirepass", self.password]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}: "
                    + (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                )
            try:
                if self.client().ping():
                    return
            except Exception:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"redis-server on port {self.port} did not answer within {START_TIMEOUT}s"
        )

    def kill(self) -> None:
        """SIGKILL the server (nothing is flushed to disk: it comes back empty)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=5,
            socket_connect_timeout=2,
            # redis-py's default retries draw jitter from the global random module; a
            # test that restarts the server while fuzzing in-process must not touch it.
            retry=Retry(NoBackoff(), 0),
        )

    def flush(self) -> None:
        self.client().flushall()


def _require_redis() -> None:
    # A missing server fails the test: a skipped Redis test would pass for nothing.
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")


@pytest.fixture(scope="session")
def make_redis_server_session(tmp_path_factory) -> Iterator[Callable[..., RedisServer]]:
    servers: list[RedisServer] = []

    def make(password: str | None = None) -> RedisServer:
        _require_redis()
        last_error: Exception | None = None
        for _ in range(5):  # a free port can be taken between probing and binding it
            server = RedisServer(
                port=_free_port(), workdir=tmp_path_factory.mktemp("redis"), password=password
            )
            try:
                server.start()
            except RuntimeError as err:
                last_error = err
                continue
            servers.append(server)
            return server
        raise RuntimeError(f"could not start redis-server: {last_error}")

    yield make
    for server in servers:
        server.kill()


@pytest.fixture(scope="session")
def redis_server(make_redis_server_session) -> RedisServer:
    """The shared server. Do not kill it: use ``make_redis_server`` for that."""
    return make_redis_server_session()


@pytest.fixture
def redis_database(redis_server):
    """A ``RedisExampleDatabase`` on the shared server, emptied first."""
    from hypothesis.extra.redis import RedisExampleDatabase

    redis_server.flush()
    client = redis_server.client()
    yield RedisExampleDatabase(client)
    with contextlib.suppress(Exception):
        client.close()


@pytest.fixture
def make_redis_server(make_redis_server_session) -> Iterator[Callable[..., RedisServer]]:
    """Factory of servers owned by one test (killable, restartable); stopped at teardown."""
    made: list[RedisServer] = []

    def make(password: str | None = None) -> RedisServer:
        server = make_redis_server_session(password)
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill()
