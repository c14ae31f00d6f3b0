"""The fuzzing process that a Dask task starts: ``python -m hypofuzz_nb.cluster_child``.

Dask runs tasks in threads of worker processes that may be daemonic (and so may not
start ``multiprocessing`` children); a plain subprocess can always be started, and
killed on a hang or on stop. The task (:mod:`hypofuzz_nb.cluster_lane`) writes one
JSON line of configuration on the child's stdin and keeps stdin open: end of file
(the task stopped it, or the task's whole Dask worker died) asks the child to stop.

The child collects the project and checks that it is the project the notebook
collected (same Hypothesis version, every test with the same database key, the
notebook's probe value readable from the database, and no test file that fails to
import here: a package the notebook has and this host not is named with the file). Then it stops there
(``probe_only``) or fuzzes its share. It reports over the pipe named by ``report_fd``
(a ``multiprocessing.connection.Connection``), never on stdout, which the user's tests
may print to. Before each input it names the input in the memory-mapped file
``slot_path`` (the slot of :mod:`hypofuzz_nb.slot`), which the task on the same host
reads if the child dies.

Guarantees: a failed check exits before any fuzzing, with a message naming what
differs; messages are ``(kind, payload)`` tuples of plain data and
:class:`~hypofuzz_nb.status.TestStatus` values.
"""

from __future__ import annotations

import base64
import json
import mmap
import pickle
import signal
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["check_project", "import_problem", "main"]

#: Seconds between two progress reports.
REPORT_EVERY_S = 0.25
#: Seconds a stopping child waits for its reporter thread.
REPORTER_JOIN_S = 1


def check_project(config: dict[str, Any], collection: Any, database: Any) -> list[str]:
    """What differs between this process and the notebook: one line per problem."""
    import hypothesis

    problems = []
    if hypothesis.__version__ != config["hypothesis_version"]:
        problems.append(
            f"Hypothesis {hypothesis.__version__} is installed, the notebook has "
            f"{config['hypothesis_version']}: install the same version everywhere"
        )
    here = {t.nodeid: t.database_key.hex() for t in collection.targets}
    expected: dict[str, str] = config["expect_keys"]
    missing = sorted(set(expected) - set(here))
    changed = sorted(n for n in set(expected) & set(here) if expected[n] != here[n])
    for error in collection.errors:
        explained = [n for n in missing if n.startswith(f"{error.path}::")]
        if explained:
            problems.append(import_problem(error))
            missing = [n for n in missing if n not in explained]
    if missing:
        problems.append(f"collects no test {', '.join(missing[:5])} (the notebook does)")
    if changed:
        problems.append(
            f"test {', '.join(changed[:5])} has another database key (different test code)"
        )
    if database is None:
        problems.append("the settings profile in effect has database=None")
    else:
        from hypofuzz_nb.store import Store

        probe = bytes.fromhex(config["probe_key"]), bytes.fromhex(config["probe_value"])
        try:
            shared = Store(database, read_only=True).shares_probe(*probe)
        except Exception as e:
            problems.append(f"cannot read the database {database!r}: {e}")
        else:
            if not shared:
                problems.append(
                    f"does not share the notebook's database: {database!r} here does not "
                    "hold the value the notebook just wrote. Configure a database that "
                    "every worker reaches, e.g. Redis (see deploy/README.md: "
                    "HYPOFUZZ_NB_REDIS_URL and a settings profile in conftest.py)"
                )
    return problems


def import_problem(error: Any) -> str:
    """One line for a :class:`~hypofuzz_nb.errors.TestImportError` on a worker: the
    file and the exception (typically a package the notebook has and the worker not)."""
    lines = [line.strip() for line in error.traceback.splitlines() if line.strip()]
    raised = [line[1:].strip() for line in lines if line.startswith("E ")]
    cause = raised[-1] if raised else (lines[-1] if lines else "no traceback")
    return (
        f"{error.path} could not be imported here ({cause}): install the packages "
        "the notebook's tests import on every worker"
    )


def main() -> int:
    """Run one child: the configuration is the first line of stdin."""
    # Ctrl-C in a terminal reaches the whole process group; the task decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = json.loads(sys.stdin.readline())
    conn = Connection(config["report_fd"], readable=False)
    from hypofuzz_nb.errors import TestImportError

    try:
        from hypofuzz_nb.collect import collect_tests

        collection = collect_tests(config["paths"], config["pytest_args"])
        database = (
            pickle.loads(base64.b64decode(config["database"]))
            if config["database"]
            else collection.database
        )
        problems = check_project(config, collection, database)
    except TestImportError as e:
        # Nothing collected here (a conftest.py, or every test file, fails to import).
        conn.send(("mismatch", [import_problem(e)]))
        return 1
    except BaseException as e:
        conn.send(("error", _describe(e)))
        return 1
    if problems:
        conn.send(("mismatch", problems))
        collection.close()
        return 1
    if config["probe_only"]:
        conn.send(("checked", None))
        collection.close()
        return 0
    return _fuzz(config, collection, database, conn)


def _fuzz(config: dict[str, Any], collection: Any, database: Any, conn: Connection) -> int:
    from hypofuzz_nb.fuzz_loop import FuzzLoop
    from hypofuzz_nb.slot import SlotWriter

    wanted = set(config["nodeids"])
    targets = sorted((t for t in collection.targets if t.nodeid in wanted), key=lambda t: t.nodeid)
    conn.send(("targets", [(t.nodeid, t.database_key.hex()) for t in targets]))
    with open(config["slot_path"], "r+b") as f:
        slot = mmap.mmap(f.fileno(), 0)
    on_input = SlotWriter(slot)
    loop = FuzzLoop(
        targets,
        database,
        max_time=config["max_time"],
        max_examples=config["max_examples"],
        timeout=config["timeout"],
        exclude=config["exclude"],
        on_input=on_input,
        on_exit=collection.close,
        seed=config["seed"],
        # a worker without the solver extra finds out at its first call, and stops calling
        solver=config.get("solver", False),
    )
    finished = threading.Event()

    def stop_at_eof() -> None:
        sys.stdin.read()
        loop.request_stop()

    def report() -> None:
        while not finished.wait(REPORT_EVERY_S):
            conn.send(("status", (loop.snapshot(), loop.database_state())))

    threading.Thread(target=stop_at_eof, daemon=True).start()
    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        loop.run()
    except BaseException as e:
        conn.send(("error", _describe(e)))
        return 1
    finally:
        finished.set()
        reporter.join(REPORTER_JOIN_S)
        # Nothing runs any more: exiting now is not a crash.
        on_input.clear()
        conn.send(("status", (loop.snapshot(), loop.database_state())))
    conn.send(("done", None))
    return 0


def _describe(e: BaseException) -> str:
    from hypofuzz_nb.errors import HypofuzzNbError

    if isinstance(e, HypofuzzNbError):
        return str(e)
    return "hypofuzz_nb fuzzing process crashed:\n" + "".join(traceback.format_exception(e))


if __name__ == "__main__":
    sys.exit(main())
