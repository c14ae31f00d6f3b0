"""A fuzzing session: :func:`fuzz` starts one, :class:`FuzzSession` follows and stops it.

:func:`fuzz` is the one entry point. It checks its arguments and collects the tests
(in the caller, so that a user mistake raises at once), then returns a
:class:`FuzzSession` that fuzzes them in the background:

* ``workers=1``: one daemon thread in this process. This is the only mode that can
  fuzz tests defined in a notebook (pass them as ``targets=``).
* ``workers=N>1``: ``N`` supervised worker processes (see :mod:`hypofuzz_nb.processes`).
* ``cluster=...``: ``N`` fuzzing processes on the workers of a Dask cluster (see
  :mod:`hypofuzz_nb.cluster`).

Guarantees:

* The session never prints and never touches widgets: progress goes to the database
  (by the engine) and to :meth:`FuzzSession.status` snapshots.
* :meth:`FuzzSession.stop` returns within about one second and loses no failure: a
  failure is written to the database when it is found, not when the session stops.
* Errors are never swallowed: one that ends the session early is in
  :attr:`FuzzSession.error`.
* While an in-process session runs, the GIL is handed over every
  :data:`SWITCH_INTERVAL_S`, so that a Jupyter kernel sharing the process stays
  responsive.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from hypofuzz_nb import cell_gate
from hypofuzz_nb.errors import HypofuzzNbError, WorkerError
from hypofuzz_nb.fuzz_loop import FuzzLoop
from hypofuzz_nb.options import positive_integer, positive_number
from hypofuzz_nb.processes import ProcessSupervisor
from hypofuzz_nb.solver import INSTALL_HINT, solver_available, solver_note
from hypofuzz_nb.status import SessionStatus, TestStatus, merge_statuses

__all__ = ["FuzzSession", "ci_profile_hint", "fuzz"]

#: While fuzzing in this process, the GIL is handed over every millisecond (Python's
#: default is 5 ms) so that a Jupyter kernel sharing the process stays responsive.
SWITCH_INTERVAL_S = 0.001

#: Seconds between two looks of ``exitfirst=True`` at the session's failures.
EXITFIRST_POLL_S = 0.2

#: Seconds leaving a ``with fuzz(...)`` block waits for the workers to finish.
EXIT_WAIT_S = 10


class FuzzSession:
    """A running (or finished) fuzzing session. Create one with :func:`fuzz`.

    All methods are safe to call from any thread. :attr:`database` is the database
    the session writes to; :attr:`collection_errors` are the files that could not be
    imported (their tests are not fuzzed, the others are); :attr:`not_fuzzable` are
    the Hypothesis tests left out, each with its reason; :attr:`collection_notes` say
    what collection changed in the project's pytest configuration for fuzzing, and
    whether the solver is off and how to turn it on; :attr:`solver` says whether the
    workers run CrossHair on plateaus.
    """

    database: Any = None
    solver: bool = False
    collection_errors: Sequence[Any] = ()
    not_fuzzable: Sequence[Any] = ()
    collection_notes: Sequence[str] = ()

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self._started_at = time.monotonic()
        self._ended_at: float | None = None
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._error_text: str | None = None

    # Filled in by the two implementations.
    def _snapshot(self) -> tuple[TestStatus, ...]:
        raise NotImplementedError

    def _restarts(self) -> int:
        return 0

    def _database_state(self) -> tuple[int, float | None]:
        return 0, None

    def _request_stop(self) -> None:
        raise NotImplementedError

    def _hosts(self) -> tuple[str, ...]:
        return ()

    def _report_error(self, error: BaseException, text: str) -> None:
        """Keep ``error`` as the one that ended the session, unless one came first."""
        if self._error is None:
            self._error = error
            self._error_text = text

    def _finish(self, error: BaseException | None = None, text: str | None = None) -> None:
        if error is not None:
            self._report_error(error, text or f"{type(error).__name__}: {error}")
        self._ended_at = time.monotonic()
        self._done.set()

    @property
    def running(self) -> bool:
        """True until every worker has stopped."""
        return not self._done.is_set()

    @property
    def error(self) -> BaseException | None:
        """The error that ended the session early, or ``None``."""
        return self._error

    @property
    def n_failing_tests(self) -> int:
        """Number of tests that failed in this session (fatal failures included)."""
        return self.status().n_failing_tests

    def status(self) -> SessionStatus:
        """A snapshot of every test's progress."""
        end = self._ended_at if self._ended_at is not None else time.monotonic()
        pending, unreachable_since = self._database_state()
        return SessionStatus(
            tests=merge_statuses(self._snapshot()),
            running=self.running,
            elapsed_s=end - self._started_at,
            workers=self.workers,
            restarts=self._restarts(),
            error=self._error_text,
            pending_writes=pending,
            unreachable_since=unreachable_since,
            hosts=self._hosts(),
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session ends (or ``timeout`` seconds pass); True if it ended."""
        return self._done.wait(timeout)

    def stop(self, timeout: float = 1.0) -> None:
        """Ask every worker to stop, and wait at most ``timeout`` seconds for it.

        Failures are already in the database when found, so nothing is lost if a
        worker is still finishing its batch when this returns.
        """
        self._request_stop()
        self._done.wait(timeout)

    def __enter__(self) -> FuzzSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.wait(EXIT_WAIT_S)

    def __repr__(self) -> str:
        s = self.status()
        state = "running" if s.running else "stopped"
        return (
            f"<FuzzSession {state}: {len(s.tests)} tests, {s.inputs} inputs, "
            f"{s.n_failing_tests} failing, {self.workers} worker(s)>"
        )


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = sys.getswitchinterval()


@contextlib.contextmanager
def _responsive_switch_interval() -> Any:
    """Lower the GIL switch interval while any in-process session runs."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL_S))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class _ThreadSession(FuzzSession):
    """``workers=1``: one daemon thread in this process."""

    def __init__(self, loop: FuzzLoop) -> None:
        super().__init__(workers=1)
        self._loop = loop
        self._thread = threading.Thread(target=self._main, name="hypofuzz_nb-worker", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        error: BaseException | None = None
        text = None
        try:
            with _responsive_switch_interval():
                self._loop.run()
        except BaseException as e:
            error = e
            text = (
                str(e)
                if isinstance(e, HypofuzzNbError)
                else "hypofuzz_nb worker crashed (a bug in hypofuzz_nb, please report it):\n"
                + "".join(traceback.format_exception(e))
            )
        self._finish(error, text)

    def _snapshot(self) -> tuple[TestStatus, ...]:
        return self._loop.snapshot()

    def _database_state(self) -> tuple[int, float | None]:
        return self._loop.database_state()

    def _request_stop(self) -> None:
        self._loop.request_stop()


class _SupervisedSession(FuzzSession):
    """Workers run by a supervisor of their own: ``ProcessSupervisor`` (``workers=N``
    processes here) or ``cluster.DaskSupervisor`` (lanes on a Dask cluster). The
    supervisor reports through callbacks, so neither imports this module."""

    def __init__(self, supervisor_class: Any, *, workers: int, **supervisor_args: Any) -> None:
        super().__init__(workers=workers)
        self._supervisor = supervisor_class(
            workers=workers,
            on_error=self._report_error,
            on_end=self._finish,
            **supervisor_args,
        )

    def _snapshot(self) -> tuple[TestStatus, ...]:
        return self._supervisor.snapshot()

    def _restarts(self) -> int:
        return self._supervisor.restarts()

    def _database_state(self) -> tuple[int, float | None]:
        return self._supervisor.database_state()

    def _request_stop(self) -> None:
        self._supervisor.request_stop()

    def _hosts(self) -> tuple[str, ...]:
        hosts = getattr(self._supervisor, "hosts", None)  # only a cluster has hosts
        return hosts() if hosts is not None else ()


def fuzz(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
    *,
    pytest_args: Iterable[str] = (),
    workers: int = 1,
    max_time: float | None = None,
    max_examples: int | None = None,
    database: Any = None,
    timeout: float = 10.0,
    targets: Any = None,
    seed: int | None = None,
    exitfirst: bool = False,
    cluster: Any = None,
    solver: bool | None = None,
) -> FuzzSession:
    """Start fuzzing Hypothesis tests in the background and return the session.

    ``paths`` and ``pytest_args`` are what you would pass to ``pytest``. Alternatively
    pass ``targets=``: a ``Collection`` (e.g. of the tests defined in a notebook) or a
    list of its targets; only ``workers=1`` can run those.

    ``max_time`` bounds the whole session in seconds; ``max_examples`` bounds the inputs
    of each test; without either, the session runs until :meth:`FuzzSession.stop`
    (or until every test has failed). ``database=None`` uses the database of the
    settings profile in effect after collection; a given database is used for all
    tests. ``timeout`` is the per-input time limit in seconds. ``seed`` (an integer)
    makes each test's choice of inputs repeatable (timing still decides how many run).
    ``exitfirst=True`` stops the session once the first failure is saved (like
    pytest's ``-x``): the quickest way to a bug when that is all you are after.

    ``solver`` (the ``solver`` extra, hypothesis-crosshair): when a test's behaviors
    stop growing, spend at most a fifth of its time running it through CrossHair,
    whose inputs are replayed and kept as the fuzzer's own. It is off unless asked for
    (``True``, which requires the extra): each call forks the fuzzing process, which a
    kernel with threads of its own does not always survive. ``None`` (the default)
    and ``False`` leave it off; the session's notes say how to turn it on.

    ``cluster`` (the ``dask`` extra) runs the ``workers`` fuzzing processes on a Dask
    cluster instead: a scheduler address (``"tcp://host:8786"``), a
    ``distributed.Client``, or ``"local"`` for a ``LocalCluster`` on this machine. The
    database must be one that every worker shares (e.g. Redis): it is checked first.

    Raises :class:`~hypofuzz_nb.errors.HypofuzzNbError` subclasses for anything the
    user must fix before fuzzing can start (bad path, import error, no tests ...).
    """
    _check_arguments(
        workers=workers,
        max_time=max_time,
        max_examples=max_examples,
        timeout=timeout,
        seed=seed,
        exitfirst=exitfirst,
        targets=targets,
        cluster=cluster,
        solver=solver,
    )
    available = solver_available()
    if solver is True and not available:
        raise WorkerError(f"solver=True needs the solver extra: {INSTALL_HINT}")
    use_solver = solver is True
    # What every kind of session passes on to whatever runs its workers.
    limits = dict(
        max_time=max_time,
        max_examples=max_examples,
        timeout=float(timeout),
        seed=seed,
        solver=use_solver,
    )
    if isinstance(paths, (str, os.PathLike)):
        paths = (paths,)
    path_list = tuple(os.fspath(p) for p in paths)
    args = (pytest_args,) if isinstance(pytest_args, str) else tuple(pytest_args)

    if targets is not None:
        target_list = list(getattr(targets, "targets", targets))
        collected_db = getattr(targets, "database", None)
        collection_errors = list(getattr(targets, "errors", ()) or ())
        not_fuzzable = list(getattr(targets, "not_fuzzable", ()) or ())
        notes = list(getattr(targets, "notes", ()) or ())
        close = None  # the caller owns the collection
    else:
        from hypofuzz_nb.collect import collect_tests

        # Raises for what must be fixed first (bad path, nothing fuzzable, ...).
        collection = collect_tests(path_list, args)
        # Worker processes collect again; these arguments spare them a first try
        # whose ini -m/-k would be dropped.
        args = tuple(collection.pytest_args)
        target_list = list(collection.targets)
        collected_db = collection.database
        collection_errors = list(collection.errors)
        not_fuzzable = list(collection.not_fuzzable)
        notes = list(collection.notes)
        close = collection.close
    note = solver_note(solver, available)
    if note is not None:
        notes.append(note)
    if not target_list:
        if close is not None:
            close()
        raise WorkerError(_nothing_to_fuzz_message(targets, path_list))
    effective_db = database if database is not None else collected_db
    if effective_db is None:
        if close is not None:
            close()
        raise WorkerError(
            "the settings profile in effect has database=None, so the fuzzer would "
            "have nowhere to save what it finds: load a profile with a database, or "
            "pass database=..." + ci_profile_hint()
        )
    if cluster is not None:
        keys = {t.nodeid: t.database_key for t in target_list}
        if close is not None:
            close()
        from hypofuzz_nb.cluster import DaskSupervisor

        session = _SupervisedSession(
            DaskSupervisor,
            cluster=cluster,
            paths=path_list,
            pytest_args=args,
            expect_keys=keys,
            database=effective_db,
            explicit_database=database,
            workers=workers,
            **limits,
        )
        return _started(
            session, effective_db, collection_errors, not_fuzzable, notes, exitfirst, use_solver
        )
    if workers == 1:
        loop = FuzzLoop(
            target_list,
            effective_db,
            on_exit=close,
            gate=cell_gate.gate(),
            **limits,
        )
        session: FuzzSession = _ThreadSession(loop)
        return _started(
            session, effective_db, collection_errors, not_fuzzable, notes, exitfirst, use_solver
        )
    # The worker processes collect for themselves; this collection only checked
    # that there is something to fuzz and found the database.
    if close is not None:
        close()
    from hypothesis.database import InMemoryExampleDatabase

    if isinstance(effective_db, InMemoryExampleDatabase):
        raise WorkerError(
            f"workers={workers} needs a database that worker processes share, and an "
            "InMemoryExampleDatabase lives in one process only: use a directory "
            "database (the default) or Redis, or workers=1"
        )
    if database is not None:
        import pickle

        try:
            pickle.dumps(database)
        except Exception as e:
            raise WorkerError(
                f"workers={workers} needs a database that can be sent to worker "
                f"processes, and {database!r} cannot be pickled ({e}); load it in a "
                "settings profile in conftest.py instead of passing database="
            ) from None
    session = _SupervisedSession(
        ProcessSupervisor,
        paths=path_list,
        pytest_args=args,
        database=effective_db,
        use_collected_database=database is None,
        workers=workers,
        **limits,
    )
    return _started(
        session, effective_db, collection_errors, not_fuzzable, notes, exitfirst, use_solver
    )


def _started(
    session: FuzzSession,
    database: Any,
    collection_errors: Any,
    not_fuzzable: Any,
    notes: Any,
    exitfirst: bool,
    solver: bool,
) -> FuzzSession:
    """``session``, told what collection found; with ``exitfirst`` it stops itself at
    the first failure."""
    session.database = database
    session.collection_errors = collection_errors
    session.not_fuzzable = not_fuzzable
    session.collection_notes = notes
    session.solver = solver
    if exitfirst:
        _stop_on_first_failure(session)
    return session


def _check_arguments(
    *,
    workers: Any,
    max_time: Any,
    max_examples: Any,
    timeout: Any,
    seed: Any,
    exitfirst: Any,
    targets: Any,
    cluster: Any = None,
    solver: Any = None,
) -> None:
    """Raise :class:`WorkerError` with one clear message for the first bad argument."""
    positive_integer("workers", workers, error=WorkerError)
    if max_time is not None:
        positive_number("max_time", max_time, error=WorkerError)
    if max_examples is not None:
        positive_integer("max_examples", max_examples, error=WorkerError)
    positive_number("timeout", timeout, error=WorkerError)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise WorkerError(f"seed must be an integer or None, not {seed!r}")
    if not isinstance(exitfirst, bool):
        raise WorkerError(f"exitfirst must be True or False, not {exitfirst!r}")
    if solver not in (None, True, False):
        raise WorkerError(f"solver must be True, False or None, not {solver!r}")
    if targets is not None and workers != 1:
        raise WorkerError(
            "targets= can only be fuzzed with workers=1 (in this process); "
            "pass paths instead to use several worker processes"
        )
    if targets is not None and cluster is not None:
        raise WorkerError(
            "targets= (tests defined in this notebook) cannot be fuzzed on a cluster: "
            "put them in a test file and pass its path"
        )


def _stop_on_first_failure(session: FuzzSession, poll: float = EXITFIRST_POLL_S) -> None:
    """Stop ``session`` from a daemon thread once it reports a failure.

    A test counts a failure only after saving it (shrunk, under its key), so stopping
    then loses nothing; the session's own stop() does the rest, as for any stop.
    """

    def watch() -> None:
        while not session.wait(timeout=poll):
            if session.n_failing_tests:
                session.stop()
                return

    threading.Thread(target=watch, name="hypofuzz_nb-exitfirst", daemon=True).start()


def ci_profile_hint() -> str:
    """Why the database may be None: Hypothesis' own "ci" profile, loaded when it sees
    a CI variable such as CI=true, has database=None and derandomize=True."""
    from hypothesis import settings

    if settings.get_current_profile_name() != "ci":
        return ""
    return (
        ". Hypothesis loaded its 'ci' profile (database=None, derandomize=True) because "
        "a CI environment variable such as CI=true is set: unset it, or load a profile "
        "with a database in conftest.py"
    )


def _nothing_to_fuzz_message(targets: Any, paths: tuple[str, ...]) -> str:
    if targets is not None:
        return "targets= holds no fuzzable tests"
    where = " ".join(paths) or os.getcwd()
    return f"no Hypothesis tests to fuzz in {where}"
