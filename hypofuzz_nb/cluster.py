"""Fuzzing on a Dask cluster, driven from the notebook: ``fuzz(..., cluster=...)``.

:class:`DaskSupervisor` plays the part that :class:`~hypofuzz_nb.processes.ProcessSupervisor`
plays for local worker processes. It connects to the cluster (an address, a
``distributed.Client``, or ``"local"`` for a ``LocalCluster`` of worker processes),
sends the project's files to every worker (a worker plugin; ``"local"`` workers share
the notebook's directory instead), checks every worker (:func:`~hypofuzz_nb.cluster_lane.check_worker`)
and starts ``workers`` long-lived lane tasks (:func:`~hypofuzz_nb.cluster_lane.run_lane`).
A coordinator thread then assigns the tests to the lanes that report, and gathers
their progress.

Guarantees:

* Nothing starts unless every worker collects the notebook's tests with the same
  keys, has the same Hypothesis, and reads back a value the notebook has just
  written to the database (a directory database the workers do not share fails this
  probe); otherwise :class:`~hypofuzz_nb.errors.ClusterError` names each worker's
  address and what differs.
* No two lanes fuzz the same test unless there are more lanes than tests. A lane
  that stops reporting for :data:`LIVE_S` seconds (its Dask worker died) loses its
  share to the others; a lane that starts (a worker joined) gets one.
* The input that killed or hung a fuzzing process (read on its host by its lane) is
  saved from here, as local worker processes' are (see :mod:`hypofuzz_nb.crashes`).
* The shared state is renewed every round: lanes whose notebook has gone end after
  ``lease_s`` seconds. :meth:`DaskSupervisor.request_stop` ends every lane within
  :data:`~hypofuzz_nb.cluster_lane.STOP_GRACE_S` plus a round or two.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import pickle
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

from hypofuzz_nb import records
from hypofuzz_nb.crashes import save_crash, save_hang
from hypofuzz_nb.errors import ClusterError
from hypofuzz_nb.outage import outage_proof, release
from hypofuzz_nb.status import TestStatus, merge_statuses
from hypofuzz_nb.store import Store

__all__ = ["LOCAL", "DaskSupervisor", "assign_shares", "project_archive"]

#: ``cluster="local"``: a ``LocalCluster`` with one single-threaded worker process per lane.
LOCAL = "local"
#: Seconds to reach the scheduler, and to wait for its first worker.
CONNECT_TIMEOUT_S = 10
#: Seconds between two rounds of the coordinator.
ROUND_S = 0.25
#: A lane that has not reported for this many seconds has lost its share.
LIVE_S = 3.0
#: Seconds lanes keep fuzzing without hearing from the notebook.
LEASE_S = 30.0
#: Seconds after stop before lanes that have not ended are cancelled.
STOP_WAIT_S = 5.0
#: Seconds the whole check of the workers may take.
CHECK_WAIT_S = 180
#: A lane task lost this many times (its workers died) is not started again.
MAX_LANE_RESTARTS = 20
#: The project's files sent to the workers, at most (bytes of the zip).
MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
#: Directories never sent to the workers.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".hypothesis",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".ipynb_checkpoints",
        "dask-worker-space",
    }
)


def project_archive(root: str) -> tuple[bytes, str]:
    """The project under ``root`` as a zip (caches and VCS left out), and its digest."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for directory, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = os.path.join(directory, name)
                # Fixed timestamps: the same files give the same digest.
                info = zipfile.ZipInfo(os.path.relpath(path, root), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (os.stat(path).st_mode & 0o777) << 16
                with open(path, "rb") as f:
                    archive.writestr(info, f.read(), zipfile.ZIP_DEFLATED)
                if buffer.tell() > MAX_ARCHIVE_BYTES:
                    raise ClusterError(
                        f"the project under {root} is over {MAX_ARCHIVE_BYTES >> 20} MB: "
                        "run fuzz() from the project's root, or use a directory that "
                        "the workers share"
                    )
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()[:16]


def _connect(cluster: Any, workers: int) -> tuple[Any, list[Any]]:
    """``(client, what to close at the end)``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError(
            "cluster= needs Dask's distributed: pip install 'hypofuzz_nb[dask]'"
        ) from None
    if isinstance(cluster, Client):
        return cluster, []
    if cluster == LOCAL:
        local = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(local)
        return client, [client, local]
    if not isinstance(cluster, str):
        raise ClusterError(
            f"cluster must be a scheduler address, a distributed.Client or {LOCAL!r}, "
            f"not {cluster!r}"
        )
    try:
        client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as e:
        raise ClusterError(
            f"could not reach the Dask scheduler at {cluster} within {CONNECT_TIMEOUT_S} s "
            f"({type(e).__name__}: {e}): check the address (tcp://HOST:8786) and that the "
            "scheduler runs"
        ) from None
    return client, [client]


def _relative_paths(paths: tuple[str, ...], root: str) -> list[str]:
    out = []
    for path in paths:
        full = os.path.abspath(path)
        if os.path.commonpath([full, root]) != root:
            raise ClusterError(
                f"{path!r} is outside {root}, the directory sent to the Dask workers: "
                "run fuzz() from the project's root"
            )
        out.append(os.path.relpath(full, root))
    return out


def assign_shares(
    previous: dict[int, list[str]], lanes: list[int], tests: list[str], finished: set[str]
) -> dict[int, list[str]]:
    """Each live lane's share of ``tests``, changing ``previous`` as little as possible.

    The unfinished tests are spread evenly (no test in two lanes unless there are
    more lanes than unfinished tests, then one test each); a lane keeps the tests it
    had, finished ones included, so that a test finishing or a lane joining restarts
    only the lanes whose share must change.
    """
    if not lanes:
        return {}
    open_tests = [t for t in tests if t not in finished]
    shares = {lane: [t for t in previous.get(lane, ()) if t in finished] for lane in lanes}
    if not open_tests:
        return {lane: sorted(share) for lane, share in shares.items()}
    if len(open_tests) < len(lanes):
        counts = dict.fromkeys(open_tests, 0)
        kept = {}
        for lane in lanes:
            mine = [t for t in previous.get(lane, ()) if t in counts]
            if mine and counts[mine[0]] == 0:
                kept[lane] = mine[0]
                counts[mine[0]] += 1
        for lane in lanes:
            if lane not in kept:
                kept[lane] = min(open_tests, key=lambda t: (counts[t], t))
                counts[kept[lane]] += 1
            shares[lane].append(kept[lane])
        return {lane: sorted(share) for lane, share in shares.items()}
    most = -(-len(open_tests) // len(lanes))
    placed: set[str] = set()
    for lane in lanes:
        mine = [t for t in previous.get(lane, ()) if t in open_tests and t not in placed]
        shares[lane].extend(mine[:most])
        placed.update(mine[:most])
    for test in open_tests:
        if test not in placed:
            lane = min(lanes, key=lambda x: (sum(t not in finished for t in shares[x]), x))
            shares[lane].append(test)
    return {lane: sorted(share) for lane, share in shares.items()}


class DaskSupervisor:
    """``workers`` lanes on a Dask cluster, and the thread that coordinates them.

    ``on_error(error, text)`` is called for each error that ends the session early;
    ``on_end(error, text)`` once, when every lane has ended.
    """

    def __init__(
        self,
        *,
        cluster: Any,
        paths: tuple[str, ...],
        pytest_args: tuple[str, ...],
        expect_keys: dict[str, bytes],
        database: Any,
        explicit_database: Any,
        workers: int,
        max_time: float | None,
        max_examples: int | None,
        timeout: float,
        seed: int | None = None,
        solver: bool = False,
        lease_s: float | None = None,
        on_error: Callable[[BaseException, str], None],
        on_end: Callable[[BaseException | None, str | None], None],
    ) -> None:
        import hypothesis

        self.workers = workers
        self._on_error = on_error
        self._on_end = on_end
        self._database = database
        self._tests = sorted(expect_keys)
        self._session_id = uuid.uuid4().hex[:12]
        self._probe = (records.shared_probe_key(self._session_id), os.urandom(16))
        self._client, self._owned = _connect(cluster, workers)
        # Imports distributed: only once _connect has said how to install it.
        from hypofuzz_nb import cluster_lane

        self._lanes = cluster_lane
        try:
            root = os.getcwd()
            digest = None
            if cluster != LOCAL:
                archive, digest = project_archive(root)
                self._client.register_plugin(cluster_lane.ProjectFiles(archive, digest))
            try:
                pickled = None if explicit_database is None else pickle.dumps(explicit_database)
            except Exception as e:
                raise ClusterError(
                    f"database={explicit_database!r} cannot be sent to Dask workers ({e}): "
                    "load it in a settings profile in conftest.py instead"
                ) from None
            self._spec = {
                "session_id": self._session_id,
                "digest": digest,
                "cwd": root,
                "lease_s": LEASE_S if lease_s is None else lease_s,
                "deadline": None if max_time is None else time.time() + max_time,
                "child": {
                    "paths": _relative_paths(paths, root),
                    "pytest_args": list(pytest_args),
                    "database": None if pickled is None else base64.b64encode(pickled).decode(),
                    "hypothesis_version": hypothesis.__version__,
                    "expect_keys": {n: k.hex() for n, k in expect_keys.items()},
                    "probe_key": self._probe[0].hex(),
                    "probe_value": self._probe[1].hex(),
                    "timeout": timeout,
                    "max_examples": max_examples,
                    "seed": seed,
                    "solver": solver,
                    "exclude": [],
                },
            }
            self._write_probe()
            self._check_workers()
        except BaseException:
            self._close()
            raise
        self._deadline = None if max_time is None else time.monotonic() + max_time
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._restart_count = 0
        # Inputs that killed a fuzzing process are saved from here: buffered if the
        # database is down.
        self._crash_database = outage_proof(database)
        self._saved_crashes: set[tuple[Any, ...]] = set()
        from distributed import Queue, Variable

        self._state = Variable(cluster_lane.state_name(self._session_id), client=self._client)
        self._queue = Queue(cluster_lane.queue_name(self._session_id), client=self._client)
        self._generation = 0
        self._assigned: dict[int, list[str]] = {}
        self._publish({}, stop=False, crashed=set())
        self._futures = [self._submit(lane) for lane in range(workers)]
        self._thread = threading.Thread(
            target=self._coordinate, name="hypofuzz_nb-dask", daemon=True
        )
        self._thread.start()

    # -- setting up --------------------------------------------------------------------

    def _write_probe(self) -> None:
        try:
            Store(self._database).save_shared_probe(*self._probe)
        except Exception as e:
            raise ClusterError(f"cannot write to the database {self._database!r}: {e}") from None

    def _check_workers(self) -> None:
        from distributed import wait

        try:
            self._client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            raise ClusterError(
                f"the Dask cluster has no worker (waited {CONNECT_TIMEOUT_S} s)"
            ) from None
        addresses = sorted(self._client.scheduler_info()["workers"])
        futures = {
            address: self._client.submit(
                self._lanes.check_worker,
                self._spec,
                workers=[address],
                allow_other_workers=False,
                pure=False,
                key=f"hypofuzz-nb-check-{self._session_id}-{address}",
            )
            for address in addresses
        }
        wait(list(futures.values()), timeout=CHECK_WAIT_S)
        problems = []
        for address, future in futures.items():
            if future.status == "finished":
                _, problem = future.result()
            elif future.status == "error":
                error = future.exception()
                problem = f"{type(error).__name__}: {error}"
            else:
                problem = f"no answer within {CHECK_WAIT_S} s"
            future.release()
            if problem:
                problems.append(f"  {address}: {problem}")
        if problems:
            raise ClusterError(
                "these Dask workers cannot fuzz the tests the notebook collected "
                "(nothing was fuzzed):\n" + "\n".join(problems)
            )

    def _submit(self, lane: int) -> Any:
        addresses = sorted(self._client.scheduler_info()["workers"])
        hint = [addresses[lane % len(addresses)]] if addresses else None
        return self._client.submit(
            self._lanes.run_lane,
            self._spec,
            lane,
            pure=False,
            workers=hint,
            allow_other_workers=True,
            key=f"hypofuzz-nb-lane-{self._session_id}-{lane}-{self._restart_count}",
        )

    # -- what the session reads ----------------------------------------------------------

    def snapshot(self) -> tuple[TestStatus, ...]:
        """What every lane did so far, including lanes whose worker died."""
        with self._lock:
            return tuple(s for run in self._runs.values() for s in run["statuses"])

    def restarts(self) -> int:
        """How many lane tasks were started again after their worker died."""
        return self._restart_count

    def hosts(self) -> tuple[str, ...]:
        """The addresses of the Dask workers whose lanes reported in the last seconds."""
        with self._lock:
            return tuple(sorted({r["address"] for r in self._live_runs().values()}))

    def database_state(self) -> tuple[int, float | None]:
        """``(pending_writes, unreachable_since)`` over the live lanes."""
        with self._lock:
            states = [r["database_state"] for r in self._live_runs().values()]
        since = [t for _, t in states if t is not None]
        return sum(n for n, _ in states), min(since) if since else None

    def request_stop(self) -> None:
        """Ask every lane to stop. Returns at once."""
        self._stop.set()

    # -- the coordinator -------------------------------------------------------------------

    def _live_runs(self) -> dict[int, dict[str, Any]]:
        """Lane -> its latest run that reported within LIVE_S (call with the lock held)."""
        now = time.monotonic()
        live: dict[int, tuple[float, dict[str, Any]]] = {}
        for run_id, run in self._runs.items():
            seen = self._seen[run_id]
            if run["ended"] or now - seen > LIVE_S:
                continue
            if run["lane"] not in live or live[run["lane"]][0] < seen:
                live[run["lane"]] = (seen, run)
        return {lane: run for lane, (_, run) in live.items()}

    def _publish(self, shares: dict[str, list[str]], *, stop: bool, crashed: set[str]) -> None:
        self._generation += 1
        self._state.set(
            {
                "generation": self._generation,
                "stop": stop,
                "shares": shares,
                "exclude": sorted(crashed),
            }
        )

    def _drain(self) -> set[str]:
        reports = self._queue.get(batch=True)
        now = time.monotonic()
        crashed: set[str] = set()
        with self._lock:
            for report in reports:
                self._runs[report["run_id"]] = report
                self._seen[report["run_id"]] = now
                if report["problem"]:
                    text = f"the Dask worker {report['address']}: {report['problem']}"
                    self._on_error(ClusterError(text), text)
                    self._stop.set()
            for run in self._runs.values():
                crashed.update(run["crashed"])
            new = {
                tuple(c)
                for r in reports
                for c in r["crashes"]
                if tuple(c) not in self._saved_crashes
            }
            self._saved_crashes |= new
        for nodeid, key_hex, choices_hex, how, hung in sorted(new):
            save = save_hang if hung else save_crash
            save(
                self._crash_database,
                nodeid,
                bytes.fromhex(key_hex),
                bytes.fromhex(choices_hex),
                how,
            )
        return crashed

    def _shares(self, crashed: set[str]) -> dict[str, list[str]]:
        finished = {s.nodeid for s in merge_statuses(self.snapshot()) if s.finished} | crashed
        with self._lock:
            lanes = sorted(self._live_runs())
        self._assigned = assign_shares(self._assigned, lanes, self._tests, finished)
        return {str(lane): share for lane, share in self._assigned.items()}

    def _all_finished(self, crashed: set[str]) -> bool:
        finished = {s.nodeid for s in merge_statuses(self.snapshot()) if s.finished}
        return all(t in finished or t in crashed for t in self._tests)

    def _coordinate(self) -> None:
        error: BaseException | None = None
        stopped_at: float | None = None
        try:
            while True:
                crashed = self._drain()
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    self._stop.set()
                if self._all_finished(crashed):
                    self._stop.set()
                if self._stop.is_set():
                    stopped_at = stopped_at or time.monotonic()
                    self._publish({}, stop=True, crashed=crashed)
                    if all(f.done() for f in self._futures):
                        break
                    if time.monotonic() - stopped_at > STOP_WAIT_S:
                        break
                else:
                    self._publish(self._shares(crashed), stop=False, crashed=crashed)
                    self._restart_lost_lanes()
                    if all(f.done() for f in self._futures):
                        break
                time.sleep(ROUND_S)
            self._drain()
        except BaseException as e:
            error = e
        self._close(owned=False)
        release(self._crash_database, owned=self._crash_database is not self._database)
        self._on_end(error, None if error is None else f"{type(error).__name__}: {error}")
        # Every lane has ended: the session is over before a LocalCluster takes its
        # second or two to close.
        self._close(owned=True)

    def _restart_lost_lanes(self) -> None:
        """A lane task lost with its workers (Dask gave up on it) is started again."""
        for lane, future in enumerate(self._futures):
            if future.status != "error":
                continue
            if self._restart_count >= MAX_LANE_RESTARTS:
                text = (
                    f"fuzzing tasks were lost {self._restart_count} times; not starting them again"
                )
                self._on_error(ClusterError(text), text)
                self._stop.set()
                return
            self._restart_count += 1
            self._futures[lane] = self._submit(lane)

    def _close(self, *, owned: bool = True) -> None:
        """Take the probe, the lanes and the shared state away; with ``owned``, close
        the client and cluster made here too."""
        with contextlib.suppress(Exception):
            Store(self._database).delete_shared_probe(*self._probe)
        for future in getattr(self, "_futures", ()):
            with contextlib.suppress(Exception):
                future.cancel()
        for name in ("_state", "_queue"):
            with contextlib.suppress(Exception):
                getattr(self, name).delete()
        if not owned:
            return
        for owned_object in self._owned:
            with contextlib.suppress(Exception):
                owned_object.close()
