"""fuzz(cluster=...) on real Dask clusters and a real redis-server.

Two clusters: a ``LocalCluster`` of worker processes, and a ``dask scheduler`` with two
``dask worker`` processes, each in its own working directory (as separate hosts would
be), which receive the project through the worker plugin. A third copy of the project
replays what they found with plain pytest.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fuzz_projects import REDIS_CONFTEST, restore_hypothesis_profile, run_pytest, wait_until
from hypothesis.database import DirectoryBasedExampleDatabase

from hypofuzz_nb import cluster as cluster_module
from hypofuzz_nb.cluster import assign_shares, project_archive
from hypofuzz_nb.errors import ClusterError
from hypofuzz_nb.records import key_from_base64
from hypofuzz_nb.session import fuzz

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.dask]
__all__ = ["restore_hypothesis_profile"]

#: Seconds the lanes may take to stop (the issue's bound).
STOP_BOUND_S = 5
#: Seconds within which a dead worker's tests must be fuzzed elsewhere.
MOVE_BOUND_S = 10
#: The lease of the test whose notebook goes away.
LEASE_S = 3

TESTS = """
from hypothesis import given, strategies as st

@given(st.integers())
def test_bug(x):
    assert x < 1000

@given(st.lists(st.integers()))
def test_sorting_twice(xs):
    assert sorted(sorted(xs)) == sorted(xs)

@given(st.text())
def test_text_round_trip(s):
    assert s.encode("utf-8").decode("utf-8") == s

@given(st.binary())
def test_bytes(b):
    assert bytes(bytearray(b)) == b
"""

DIRECTORY_CONFTEST = """
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

# Relative: each worker's copy of the project has its own.
settings.register_profile("dir-{tag}", database=DirectoryBasedExampleDatabase(".hypothesis/examples"), deadline=None)
settings.load_profile("dir-{tag}")
"""


REPLAY_ONLY = """
# Replay only: no generation, so a failure here comes from the shared database.
from hypothesis import Phase

settings.register_profile("replay", parent=settings.get_profile("outage-c3"), phases=[Phase.explicit, Phase.reuse])
settings.load_profile("replay")
"""


def make_copy(root: Path, name: str, conftest: str) -> Path:
    project = root / name
    project.mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "conftest.py").write_text(conftest)
    (project / "test_team.py").write_text(textwrap.dedent(TESTS))
    return project


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes, each in its own directory."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.workers: list[subprocess.Popen] = []
        self.scheduler = self._start(
            "scheduler",
            [
                "distributed.cli.dask_scheduler",
                *("--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1]),
                "--no-dashboard",
            ],
        )

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None):
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        log = open(home / "log.txt", "ab")  # noqa: SIM115 - owned by the process
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=home,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return process

    def add_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        name = f"worker{len(self.workers)}"
        worker = self._start(
            name,
            [
                "distributed.cli.dask_worker",
                *(self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"),
                *("--local-directory", str(self.root / name / "local")),
            ],
            env,
        )
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, n: int) -> None:
        with distributed.Client(self.address, timeout=30) as client:
            client.wait_for_workers(n, timeout=60)

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def redis_env(make_redis_server, monkeypatch):
    server = make_redis_server()
    monkeypatch.setenv("HFNB_TEST_REDIS_URL", server.url)
    return server


@pytest.fixture
def two_hosts(tmp_path, redis_env):
    cluster = Cluster(tmp_path / "cluster", dict(os.environ))
    try:
        cluster.add_worker()
        cluster.add_worker()
        cluster.wait_for_workers(2)
        yield cluster
    finally:
        cluster.close()


def _all_keys(server) -> list[bytes]:
    return list(server.client().scan_iter())


def _failures_of(session, server, name: str) -> set[bytes]:
    """The inputs saved under the test's own key (where pytest replays from)."""
    (status,) = [t for t in session.status().tests if t.nodeid.endswith(name)]
    key = key_from_base64(status.database_key)
    return set(server.client().smembers(b"hypothesis-example:" + key))


# -- unit: the pure parts ---------------------------------------------------------------


def test_shares_are_disjoint_balanced_and_sticky():
    tests = [f"t{i}" for i in range(5)]
    first = assign_shares({}, [0, 1], tests, set())
    assert sorted(first[0] + first[1]) == tests
    assert abs(len(first[0]) - len(first[1])) <= 1
    # A lane joins: the others keep what they had, up to their new fair share.
    second = assign_shares(first, [0, 1, 2], tests, set())
    assert sorted(t for share in second.values() for t in share) == tests
    assert all(len(s) == 2 or len(s) == 1 for s in second.values())
    assert all(set(second[lane]) <= set(first[lane]) for lane in (0, 1))
    # A lane leaves: its tests go to the others, who keep theirs.
    third = assign_shares(second, [0, 2], tests, set())
    assert sorted(t for share in third.values() for t in share) == tests
    assert set(second[0]) <= set(third[0]) and set(second[2]) <= set(third[2])
    # A finished test stays with its lane (no restart for it) and is not handed out again.
    fourth = assign_shares(third, [0, 2], tests, {third[0][0]})
    assert fourth[0] == third[0]


def test_more_lanes_than_tests_share_one_test_each():
    shares = assign_shares({}, [0, 1, 2], ["a", "b"], set())
    assert sorted(len(s) for s in shares.values()) == [1, 1, 1]
    assert {s[0] for s in shares.values()} == {"a", "b"}


def test_project_archive_leaves_caches_out_and_is_repeatable(tmp_path):
    project = make_copy(tmp_path, "p", "")
    (project / ".hypothesis" / "examples").mkdir(parents=True)
    (project / ".hypothesis" / "examples" / "x").write_text("x")
    (project / "__pycache__").mkdir()
    (project / "__pycache__" / "m.pyc").write_bytes(b"x")
    data, digest = project_archive(str(project))
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == ["conftest.py", "pytest.ini", "test_team.py"]
    assert project_archive(str(project))[1] == digest


# -- bad input: a clear error, nothing lost ------------------------------------------------


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch, redis_env):
    project = make_copy(tmp_path, "nb", REDIS_CONFTEST.format(tag="c1"))
    monkeypatch.chdir(project)
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2)
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterError, match="could not reach the Dask scheduler at " + address):
        fuzz(".", workers=2, cluster=address)
    assert time.monotonic() - started < 30
    assert _all_keys(redis_env) == []


def test_targets_cannot_go_to_a_cluster():
    with pytest.raises(Exception, match="cannot be fuzzed on a cluster"):
        fuzz(targets=[object()], cluster="local")


# -- two hosts: scheduler and workers as separate processes --------------------------------


def test_two_hosts_fuzz_into_redis_survive_a_killed_worker_and_replay(
    tmp_path, monkeypatch, two_hosts, redis_env
):
    notebook = make_copy(tmp_path, "notebook", REDIS_CONFTEST.format(tag="c2"))
    monkeypatch.chdir(notebook)
    session = fuzz(".", workers=2, cluster=two_hosts.address, max_time=120)
    try:
        assert wait_until(lambda: len(session.status().hosts) == 2, seconds=60), session.status()
        assert wait_until(lambda: session.n_failing_tests >= 1, seconds=60), session.status()
        saved = _failures_of(session, redis_env, "test_bug")
        assert saved
        # SIGKILL one Dask worker (and its fuzzing child): the other takes its tests.
        os.killpg(two_hosts.workers[0].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_until(lambda: len(session.status().hosts) == 1, seconds=MOVE_BOUND_S)
        survivor = session._supervisor
        open_tests = {
            t.nodeid for t in session.status().tests if not t.finished and t.n_failures == 0
        }

        def all_on_survivor() -> bool:
            live = survivor._live_runs()
            return len(live) == 1 and open_tests <= set(survivor._assigned[next(iter(live))])

        assert wait_until(all_on_survivor, seconds=MOVE_BOUND_S)
        assert time.monotonic() - killed_at < MOVE_BOUND_S + 1
        before = {t.nodeid: t.inputs for t in session.status().tests}
        assert wait_until(
            lambda: all(
                t.inputs > before[t.nodeid]
                for t in session.status().tests
                if t.nodeid in open_tests
            ),
            seconds=30,
        ), session.status()
        assert saved <= _failures_of(session, redis_env, "test_bug")
        # A worker that joins gets a share again (the lost lane starts there).
        two_hosts.add_worker()
        assert wait_until(lambda: len(session.status().hosts) == 2, seconds=60), session.status()
        assert wait_until(lambda: len([s for s in survivor._assigned.values() if s]) == 2)
    finally:
        asked = time.monotonic()
        session.stop()
        assert session.wait(STOP_BOUND_S + 2)
        took = time.monotonic() - asked
    assert took < STOP_BOUND_S, took
    assert session.error is None, session.status().error
    # Plain pytest on a third copy replays the failure from Redis.
    replay = make_copy(tmp_path, "replay", REDIS_CONFTEST.format(tag="c3") + REPLAY_ONLY)
    result = run_pytest(replay, "test_team.py")
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout, result.stdout
    assert "test_bug" in result.stdout


def test_directory_database_not_shared_is_refused(tmp_path, monkeypatch, two_hosts):
    notebook = make_copy(tmp_path, "notebook", DIRECTORY_CONFTEST.format(tag="c4"))
    monkeypatch.chdir(notebook)
    kept = notebook / ".hypothesis" / "examples" / "kept"
    kept.parent.mkdir(parents=True)
    kept.write_text("saved earlier")
    with pytest.raises(ClusterError) as info:
        fuzz(".", workers=2, cluster=two_hosts.address, max_time=5)
    text = str(info.value)
    assert "does not share the notebook's database" in text and "Redis" in text
    assert text.count("tcp://127.0.0.1:") == 2, text
    assert kept.read_text() == "saved earlier"
    # The probe value is gone again.
    assert sorted(p.name for p in kept.parent.iterdir()) == ["kept"]


def test_a_worker_with_another_hypothesis_is_refused(tmp_path, monkeypatch, redis_env):
    shim = tmp_path / "shim"
    shim.mkdir()
    # Every Python started with this path (the worker, its fuzzing processes) reports
    # another Hypothesis version.
    (shim / "sitecustomize.py").write_text("import hypothesis\nhypothesis.__version__ = '0.0.1'\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), env.get("PYTHONPATH", "")])
    cluster = Cluster(tmp_path / "cluster", env)
    try:
        cluster.add_worker()
        cluster.wait_for_workers(1)
        notebook = make_copy(tmp_path, "notebook", REDIS_CONFTEST.format(tag="c5"))
        monkeypatch.chdir(notebook)
        with pytest.raises(ClusterError, match=r"tcp://127\.0\.0\.1:\d+: Hypothesis 0\.0\.1"):
            fuzz(".", workers=1, cluster=cluster.address, max_time=5)
    finally:
        cluster.close()
    assert _all_keys(redis_env) == []


NOTEBOOK_ONLY = "hfnb_notebook_only_helpers"

USES_HELPER = f"""
from hypothesis import given, strategies as st
from {NOTEBOOK_ONLY} import double

@given(st.integers())
def test_double(x):
    assert double(x) == 2 * x
"""


def test_a_package_missing_on_the_workers_is_named_per_worker(
    tmp_path, monkeypatch, two_hosts, redis_env
):
    import psutil

    # Importable in the notebook (as a package installed only there), not on the workers.
    site = tmp_path / "notebook-site"
    (site / NOTEBOOK_ONLY).mkdir(parents=True)
    (site / NOTEBOOK_ONLY / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(site))
    notebook = make_copy(tmp_path, "notebook", REDIS_CONFTEST.format(tag="c11"))
    (notebook / "test_helper.py").write_text(textwrap.dedent(USES_HELPER))
    monkeypatch.chdir(notebook)
    try:
        # The workers collect the other tests; the file that needs the package fails
        # there. And when it is the only file, the workers collect nothing.
        for paths in ((".",), ("test_helper.py",)):
            with pytest.raises(ClusterError) as info:
                fuzz(*paths, workers=2, cluster=two_hosts.address, max_time=5)
            lines = str(info.value).splitlines()
            per_worker = [line for line in lines if line.strip().startswith("tcp://127.0.0.1:")]
            assert len(per_worker) == 2, str(info.value)
            for line in per_worker:
                assert "test_helper.py" in line, line
                assert f"No module named '{NOTEBOOK_ONLY}'" in line, line
            assert "Traceback" not in str(info.value)
    finally:
        sys.modules.pop(NOTEBOOK_ONLY, None)
    # Nothing was fuzzed and nothing is left running on the workers.
    assert _all_keys(redis_env) == []
    workers = [psutil.Process(w.pid) for w in two_hosts.workers]
    assert wait_until(lambda: not any(w.children() for w in workers), seconds=10)
    with distributed.Client(two_hosts.address, timeout=30) as client:
        assert not any(client.processing().values())


# -- LocalCluster with worker processes ---------------------------------------------------


CRASH = """
import os
from hypothesis import given, strategies as st

@given(st.integers())
def test_crash(x):
    if x > 10_000:
        os._exit(3)  # the whole fuzzing process dies, as a segfault would
"""


def test_local_cluster_finds_saves_and_stops_in_time(tmp_path, monkeypatch, redis_env):
    notebook = make_copy(tmp_path, "notebook", REDIS_CONFTEST.format(tag="c6"))
    (notebook / "test_crash.py").write_text(textwrap.dedent(CRASH))
    monkeypatch.chdir(notebook)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as local,
        distributed.Client(local) as client,
    ):
        session = fuzz(".", workers=2, cluster=client, max_time=120)
        try:
            assert wait_until(lambda: session.n_failing_tests >= 2, seconds=90), session.status()
            (crash,) = [t for t in session.status().tests if t.nodeid.endswith("test_crash")]
            assert crash.n_failures == 1
            assert len(session.status().hosts) == 2
        finally:
            asked = time.monotonic()
            session.stop()
            assert session.wait(STOP_BOUND_S + 2)
        assert time.monotonic() - asked < STOP_BOUND_S
        assert session.error is None, session.status().error
        crash_key = key_from_base64(crash.database_key)
        # Nothing of ours is left running on the workers.
        assert wait_until(lambda: not client.processing() or not any(client.processing().values()))
    # The input that killed a fuzzing process is saved under its test's key.
    # (by a process of its own, which may end a little after the session)
    assert wait_until(
        lambda: redis_env.client().smembers(b"hypothesis-example:" + crash_key), seconds=30
    ), "the input that killed the fuzzing process was not saved"


HANGER = """
import time
from hypothesis import given, strategies as st

@given(st.integers(0, 20))
def test_hanger(x):
    if x == 7:
        time.sleep(3600)  # in C: the engine's in-process timeout cannot interrupt it
"""


def test_a_hung_fuzzing_process_is_killed_and_its_input_kept(tmp_path, monkeypatch):
    from hypofuzz_nb.records import decode_choices, timeouts_key

    project = make_copy(tmp_path, "p", DIRECTORY_CONFTEST.format(tag="c10"))
    (project / "test_team.py").unlink()
    (project / "test_hanger.py").write_text(textwrap.dedent(HANGER))
    monkeypatch.chdir(project)
    session = fuzz(".", workers=1, cluster="local", timeout=1, max_time=90)
    try:
        assert wait_until(lambda: session.status().tests and session.status().tests[0].n_timeouts)
    finally:
        session.stop()
    assert session.wait(STOP_BOUND_S + 2)
    assert session.error is None, session.status().error
    key = key_from_base64(session.status().tests[0].database_key)
    database = DirectoryBasedExampleDatabase(project / ".hypothesis" / "examples")
    # Saved by a child of its own, which may end after the session.
    assert wait_until(
        lambda: (7,) in [decode_choices(v) for v in database.fetch(timeouts_key(key))],
        seconds=30,
    )
    assert not list(database.fetch(key))  # never where plain pytest replays


NOTEBOOK = """
import sys, time
import hypofuzz_nb
from hypofuzz_nb import cluster

cluster.LEASE_S = {lease}
session = hypofuzz_nb.fuzz(".", workers=2, cluster=sys.argv[1])
while not session.status().inputs:
    time.sleep(0.2)
print("fuzzing", flush=True)
time.sleep(600)
"""


def test_lanes_end_when_the_notebook_goes_away(tmp_path, monkeypatch, two_hosts):
    import psutil

    notebook = make_copy(tmp_path, "notebook", REDIS_CONFTEST.format(tag="c7"))
    (notebook / "kernel.py").write_text(NOTEBOOK.format(lease=LEASE_S))
    kernel = subprocess.Popen(
        [sys.executable, "kernel.py", two_hosts.address],
        cwd=notebook,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert kernel.stdout is not None
        assert kernel.stdout.readline().strip() == "fuzzing"
        workers = [psutil.Process(w.pid) for w in two_hosts.workers]
        assert all(w.children() for w in workers)
    finally:
        kernel.kill()  # as a kernel restart does: no stop(), no goodbye
        kernel.wait()
    gone_at = time.monotonic()
    assert wait_until(lambda: not any(w.children() for w in workers), seconds=LEASE_S + 10)
    assert time.monotonic() - gone_at < LEASE_S + STOP_BOUND_S + 1


# -- the command, the magic, the recipes ---------------------------------------------------


def test_command_fuzzes_on_a_local_cluster_with_the_directory_database(tmp_path):
    # `local` workers share this directory, so even a directory database is shared.
    project = make_copy(tmp_path, "p", DIRECTORY_CONFTEST.format(tag="c8"))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "hypofuzz_nb.cli", "fuzz", ".", "-n", "2"),
            *("--cluster", "local", "--max-time", "12", "--no-dashboard"),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert "test_bug" in result.stdout
    assert list((project / ".hypothesis" / "examples").iterdir())


def test_magic_reports_an_unreachable_scheduler_as_a_usage_error(tmp_path, monkeypatch):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    project = make_copy(tmp_path, "p", DIRECTORY_CONFTEST.format(tag="c9"))
    monkeypatch.chdir(project)
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "hypofuzz_nb")
    try:
        address = f"tcp://127.0.0.1:{_free_port()}"
        with pytest.raises(UsageError, match="could not reach the Dask scheduler"):
            shell.run_line_magic("hypofuzz", f". -n 2 --cluster {address}")
    finally:
        shell.run_line_magic("unload_ext", "hypofuzz_nb")


def test_the_dask_recipes_parse_and_use_the_redis_variable():
    import yaml  # a dependency of dask
    from deploy_recipe import DEPLOY, ENV_VAR

    cluster = yaml.safe_load((DEPLOY / "dask-kubernetes.yaml").read_text())
    assert cluster["kind"] == "DaskCluster"
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    (worker,) = cluster["spec"]["worker"]["spec"]["containers"]
    assert worker["args"][worker["args"].index("--nthreads") + 1] == "1"
    assert [e["name"] for e in worker["env"]] == [ENV_VAR]
    secret = next(yaml.safe_load_all((DEPLOY / "k8s-deployment.yaml").read_text()))
    assert worker["env"][0]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    slurm = yaml.safe_load((DEPLOY / "dask-jobqueue.yaml").read_text())["jobqueue"]["slurm"]
    assert slurm["cores"] == slurm["processes"]  # one thread per worker: one lane each
    assert "hypofuzz-nb.env" in " ".join(slurm["job-script-prologue"])


def test_the_magic_on_two_hosts_shows_both_in_the_live_dashboard_and_stop_ends_all(
    tmp_path, monkeypatch, two_hosts, redis_env
):
    from IPython.core.interactiveshell import InteractiveShell

    from hypofuzz_nb import magic

    notebook = make_copy(tmp_path, "nb", REDIS_CONFTEST.format(tag="c10"))
    monkeypatch.chdir(notebook)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "hypofuzz_nb")
    try:
        shell.run_line_magic("hypofuzz", f". -n 4 --cluster {two_hosts.address} --max-time 120")
        session = magic._state.session
        (dashboard,) = magic._state.dashboards
        assert wait_until(lambda: len(session.status().hosts) == 2, seconds=60), session.status()
        header = dashboard._header_html()
        assert all(host in header for host in session.status().hosts), header
        assert session.workers == 4
        shell.run_line_magic("hypofuzz", "stop")
        assert session.wait(STOP_BOUND_S + 2), session.status()
        assert not session._supervisor._live_runs()
    finally:
        shell.run_line_magic("unload_ext", "hypofuzz_nb")
