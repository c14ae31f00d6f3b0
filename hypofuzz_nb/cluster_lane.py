"""What runs on the Dask workers: the project's files, the check, the fuzzing lanes.

* :class:`ProjectFiles` is a worker plugin carrying a zip of the project: every worker,
  including one that joins later, unpacks it into its own local directory.
* :func:`check_worker` (one task pinned to each worker) runs a fuzzing child in
  check-only mode: it collects the project there and compares it with the notebook's.
* :func:`run_lane` is one long-lived task per fuzzing process (``-n``). It starts a
  fuzzing child (:mod:`hypofuzz_nb.cluster_child`) on the share of the tests the
  notebook assigns to the lane, restarts it when the share changes, and reports its
  progress to the notebook on a Dask ``Queue``.

Guarantees:

* The child is a plain subprocess, so it can be killed whatever the Dask worker's
  configuration; it is killed when it hangs, and stopped (then killed after
  :data:`STOP_GRACE_S`) when the notebook asks or when the lease lapses: a lane whose
  notebook has not renewed the shared state for ``lease_s`` seconds ends.
* The input that killed or hung a child is read from the memory-mapped slot on this
  host (the only place it can be read) and sent to the notebook in every report
  until the lane ends; the notebook saves it, in the database it has just checked
  that every worker shares. A test that killed a child is reported as ``crashed``,
  and the notebook takes it out of every share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import mmap
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from multiprocessing.connection import Connection
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from hypofuzz_nb import records
from hypofuzz_nb.slot import SLOT_SIZE, new_slot, read_slot
from hypofuzz_nb.status import TestStatus

__all__ = [
    "ProjectFiles",
    "check_worker",
    "queue_name",
    "run_lane",
    "state_name",
]

#: Seconds between two rounds of a lane.
ROUND_S = 0.2
#: Seconds a stopping child gets before it is killed.
STOP_GRACE_S = 2.0
#: Seconds the check of one worker may take (collection included).
CHECK_TIMEOUT_S = 120
#: A child whose input has run longer than this many per-input timeouts plus
#: ``HANG_GRACE_S`` is killed as hung (as local worker processes are).
HANG_TIMEOUTS = 2
HANG_GRACE_S = 5
#: A test whose inputs hung a child this often is not fuzzed again by this lane.
MAX_HANGS_PER_TEST = 3
#: Seconds to wait for the notebook's shared state before counting a missed round.
STATE_GET_TIMEOUT_S = 2


def state_name(session_id: str) -> str:
    """The Dask ``Variable`` the notebook publishes shares, stop and lease in."""
    return f"hypofuzz-nb-{session_id}-state"


def queue_name(session_id: str) -> str:
    """The Dask ``Queue`` the lanes report on."""
    return f"hypofuzz-nb-{session_id}-reports"


class ProjectFiles(WorkerPlugin):
    """A worker plugin (``Client.register_plugin``) that unpacks the project's files."""

    def __init__(self, archive: bytes, digest: str) -> None:
        self.archive = archive
        self.digest = digest
        self.name = f"hypofuzz-nb-project-{digest}"

    def setup(self, worker: Any) -> None:
        target = project_dir(worker.local_directory, self.digest)
        if os.path.isdir(target):
            return
        partial = f"{target}.{uuid.uuid4().hex}"
        with zipfile.ZipFile(io.BytesIO(self.archive)) as archive:
            archive.extractall(partial)
        os.replace(partial, target)


def project_dir(local_directory: str, digest: str) -> str:
    """Where :class:`ProjectFiles` unpacks the project on a worker."""
    return os.path.join(local_directory, f"hypofuzz-nb-project-{digest}")


def _worker() -> Any:
    from distributed import get_worker

    return get_worker()


def _cwd(spec: dict[str, Any]) -> str:
    if spec["digest"] is None:
        return spec["cwd"]
    return project_dir(_worker().local_directory, spec["digest"])


class _Child:
    """One fuzzing child of a lane and what it has said."""

    def __init__(self, spec: dict[str, Any], cwd: str, **config: Any) -> None:
        # Closed by close(): the slot lives as long as the child.
        self.slot_file = tempfile.NamedTemporaryFile(prefix="hypofuzz-nb-slot-")  # noqa: SIM115
        self.slot_file.truncate(SLOT_SIZE)
        self.slot = mmap.mmap(self.slot_file.fileno(), SLOT_SIZE)
        new_slot(None, self.slot)
        read_fd, write_fd = os.pipe()
        self.conn = Connection(read_fd, writable=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hypofuzz_nb.cluster_child"],
            stdin=subprocess.PIPE,
            cwd=cwd,
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        full = dict(spec["child"], slot_path=self.slot_file.name, report_fd=write_fd, **config)
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(full) + "\n")
        self.process.stdin.flush()
        self.targets: list[tuple[str, str]] = []
        self.statuses: tuple[TestStatus, ...] = ()
        self.database_state: tuple[int, float | None] = (0, None)
        self.done = False
        self.problem: str | None = None

    def drain(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            while self.conn.poll():
                kind, payload = self.conn.recv()
                if kind == "status":
                    self.statuses, self.database_state = payload
                elif kind == "targets":
                    self.targets = payload
                elif kind in ("done", "checked"):
                    self.done = True
                elif kind == "mismatch":
                    self.problem = "; ".join(payload)
                elif kind == "error":
                    self.problem = payload

    def stop(self) -> None:
        """End of file on stdin asks the child to stop; kill it if it does not."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.drain()
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        self.slot_file.close()


def check_worker(spec: dict[str, Any]) -> tuple[str, str | None]:
    """``(worker address, problem or None)``: does this worker fuzz what the notebook collected?"""
    address = _worker().address
    try:
        child = _Child(spec, _cwd(spec), probe_only=True, nodeids=[])
    except OSError as e:
        return address, f"cannot start a fuzzing process: {e}"
    try:
        child.process.wait(CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.process.kill()
        child.process.wait()
        return address, f"collecting the tests took over {CHECK_TIMEOUT_S} s"
    child.drain()
    child.close()
    if child.problem:
        return address, child.problem
    if not child.done:
        return address, f"the fuzzing process exited with code {child.process.returncode}"
    return address, None


@dataclasses.dataclass
class _LaneState:
    share: tuple[str, ...] | None = None
    history: list[TestStatus] = dataclasses.field(default_factory=list)
    crashes: list[tuple[str, str, str, str, bool]] = dataclasses.field(default_factory=list)
    crashed: list[str] = dataclasses.field(default_factory=list)
    hangs: dict[str, int] = dataclasses.field(default_factory=dict)


def run_lane(spec: dict[str, Any], lane: int) -> str:
    """One fuzzing lane: runs until the notebook says stop or the lease lapses."""
    from distributed import Queue, Variable, get_client

    client = get_client()
    state_var = Variable(state_name(spec["session_id"]), client=client)
    reports = Queue(queue_name(spec["session_id"]), client=client)
    run_id = uuid.uuid4().hex
    address = _worker().address
    cwd = _cwd(spec)
    hang_limit = HANG_TIMEOUTS * spec["child"]["timeout"] + HANG_GRACE_S
    lane_state = _LaneState()
    child: _Child | None = None
    generation, renewed = -1, time.monotonic()
    problem: str | None = None
    try:
        while True:
            try:
                state = state_var.get(timeout=STATE_GET_TIMEOUT_S)
            except Exception:
                state = None
            now = time.monotonic()
            if state is not None and state["generation"] != generation:
                generation, renewed = state["generation"], now
            if now - renewed > spec["lease_s"] or (state is not None and state["stop"]):
                break
            share = None if state is None else state["shares"].get(str(lane))
            if share is not None:
                share = tuple(share)
            if child is not None:
                child = _tend(child, lane_state, share, hang_limit)
            if child is not None and child.problem:
                problem = child.problem
                break
            if child is None and share is not None and share != lane_state.share:
                lane_state.share = share
                child = _start(spec, cwd, share, state["exclude"], lane_state)
            _report(reports, run_id, lane, address, child, lane_state, None)
            time.sleep(ROUND_S)
    finally:
        if child is not None:
            child.stop()
            lane_state.history.extend(child.statuses)
        with contextlib.suppress(Exception):
            _report(reports, run_id, lane, address, None, lane_state, problem, ended=True)
    return run_id


def _start(
    spec: dict[str, Any], cwd: str, share: tuple[str, ...], exclude: list[str], ls: _LaneState
) -> _Child:
    remaining = None if spec["deadline"] is None else max(0.1, spec["deadline"] - time.time())
    child = _Child(
        spec,
        cwd,
        probe_only=False,
        nodeids=list(share),
        exclude=sorted(set(exclude) | set(ls.crashed)),
        max_time=remaining,
    )
    return child


def _tend(
    child: _Child, ls: _LaneState, share: tuple[str, ...] | None, hang_limit: float
) -> _Child | None:
    """The lane's child after one round: None once it has ended (or was replaced)."""
    child.drain()
    if child.problem:
        return child
    if share is not None and share != ls.share:
        child.stop()
        ls.history.extend(child.statuses)
        return None
    code = child.process.poll()
    if code is None:
        target_index, _, started = read_slot(child.slot)
        if target_index >= 0 and started and time.monotonic() - started > hang_limit:
            child.process.kill()
            child.process.wait()
            _record_death(
                child,
                ls,
                f"the fuzzing process stopped responding for over {hang_limit:.0f} s and was killed",
                hung=True,
            )
            return None
        return child
    child.drain()
    if not child.done:
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        _record_death(child, ls, f"the fuzzing process {how}", hung=False)
        return None
    ls.history.extend(child.statuses)
    child.close()
    return None


def _record_death(child: _Child, ls: _LaneState, how: str, *, hung: bool) -> None:
    target_index, payload, _ = read_slot(child.slot)
    statuses = list(child.statuses)
    if 0 <= target_index < len(child.targets):
        nodeid, key_hex = child.targets[target_index]
        if payload is not None:
            ls.crashes.append((nodeid, key_hex, payload.hex(), how, hung))
        if hung:
            ls.hangs[nodeid] = ls.hangs.get(nodeid, 0) + 1
            if ls.hangs[nodeid] >= MAX_HANGS_PER_TEST:
                ls.crashed.append(nodeid)
            statuses = [
                dataclasses.replace(s, n_timeouts=s.n_timeouts + 1) if s.nodeid == nodeid else s
                for s in statuses
            ]
        else:
            ls.crashed.append(nodeid)
            statuses = [
                dataclasses.replace(
                    s, phase="failed", n_failures=max(1, s.n_failures), finished=True
                )
                if s.nodeid == nodeid
                else s
                for s in statuses
            ]
            if not any(s.nodeid == nodeid for s in statuses):
                statuses.append(
                    TestStatus.killed_its_process(
                        nodeid, records.key_to_base64(bytes.fromhex(key_hex))
                    )
                )
    ls.history.extend(statuses)
    # The share is fuzzed again by the next child (the crashed test excluded).
    ls.share = None
    child.close()


def _report(
    reports: Any,
    run_id: str,
    lane: int,
    address: str,
    child: _Child | None,
    ls: _LaneState,
    problem: str | None,
    *,
    ended: bool = False,
) -> None:
    current = () if child is None else child.statuses
    database_state = (0, None) if child is None else child.database_state
    reports.put(
        {
            "run_id": run_id,
            "lane": lane,
            "address": address,
            "statuses": (*ls.history, *current),
            "database_state": database_state,
            "crashed": list(ls.crashed),
            "crashes": list(ls.crashes),
            "problem": problem,
            "ended": ended,
            "fuzzing": child is not None,
        }
    )
