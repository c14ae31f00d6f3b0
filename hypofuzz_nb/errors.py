"""The errors and warnings hypofuzz_nb raises for things the user can fix.

Every user mistake, and every database that cannot be reached, surfaces as one
subclass of :class:`HypofuzzNbError` defined here, whose message names the thing to
fix. Anything else escaping hypofuzz_nb is a bug in hypofuzz_nb. The warnings here
say that hypofuzz_nb went on with less than everything (values skipped, a worker
working from memory).
"""

from __future__ import annotations


def _listing(lines: list[str], limit: int) -> str:
    """``lines`` indented one per line, the first ``limit`` of them, then how many more."""
    shown = "\n".join(f"  {line}" for line in lines[:limit])
    return shown + (f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else "")


class HypofuzzNbError(Exception):
    """Base class of every error that tells the user what to fix."""


class CollectionError(HypofuzzNbError):
    """Collecting tests failed for a reason the user can fix (see the subclasses)."""


class NoSuchPath(CollectionError):
    """A path given to collect from does not exist."""

    def __init__(self, path: str, cwd: str) -> None:
        self.path = path
        super().__init__(
            f"{path!r} does not exist (relative paths are taken from {cwd}): pass an "
            "existing test file or directory, or change to the project's root directory."
        )


class TestImportError(CollectionError):
    """A test file or conftest.py could not be imported; carries the user's traceback."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, path: str, traceback: str, *, others: int = 0) -> None:
        self.path = path
        self.traceback = traceback
        more = f"\n({others} more file(s) failed to import as well.)" if others else ""
        super().__init__(
            f"{path} could not be imported; fix this error in it (or deselect it):\n\n"
            f"{traceback.rstrip()}{more}"
        )


class NoTestsCollected(CollectionError):
    """Nothing fuzzable was collected; says what each filter removed."""

    def __init__(self, where: str, counts: dict[str, int], *, detail: str = "") -> None:
        self.where = where
        self.counts = dict(counts)
        removed = ", ".join(f"{reason}: {n}" for reason, n in counts.items() if n)
        super().__init__(
            f"no Hypothesis tests to fuzz in {where}"
            + (f" (removed: {removed})" if removed else " (pytest collected no tests)")
            + ". Point at files with @given tests, or loosen -k/-m."
            + (f"\n{detail}" if detail else "")
        )


class PytestUsageError(CollectionError):
    """pytest rejected its arguments or stopped before collecting (pytest.exit)."""

    def __init__(self, message: str, output: str = "") -> None:
        self.output = output
        tail = f"\n\npytest said:\n{output.strip()}" if output.strip() else ""
        super().__init__(f"{message.strip()}; fix the pytest arguments or ini options.{tail}")


class DatabasePathError(HypofuzzNbError):
    """A database path that does not name a usable directory."""


class DatabasePathIsFile(DatabasePathError):
    """A directory database whose path is something other than a directory (a file)."""

    def __init__(self, path: str, database: object = None) -> None:
        self.path = path
        of = f" of {database!r}" if database is not None else ""
        super().__init__(
            f"The database path {path!r}{of} is a file, not a directory: Hypothesis can "
            "neither read nor save examples there. Point the settings profile's database "
            "at a directory (by default `.hypothesis/examples`), or move the file away."
        )


class NotADatabase(HypofuzzNbError, TypeError):
    """Something that is not an example database was given where one is needed."""


class DatabaseUnreachable(HypofuzzNbError):
    """The database raised on every attempt to read or write it."""


class DatabaseReadError(DatabaseUnreachable):
    """Reading the database raised; the message names the database and the error."""


class DatabaseWriteError(DatabaseUnreachable):
    """A write did not reach the database. Raised only inside
    :class:`~hypofuzz_nb.resilient.ResilientDatabase` (writes are buffered); kept in its
    ``last_error`` for status displays."""


class ReadOnlyStoreError(HypofuzzNbError):
    """A write was attempted through a read-only (dashboard-only) store."""


class RedisUrlError(HypofuzzNbError):
    """A Redis URL that cannot be used; the message shows it with the password hidden."""


class FailureDidNotReproduce(HypofuzzNbError):
    """The failing example ran and passed: the bug is fixed, or the test is flaky."""


class TestNotFound(HypofuzzNbError):
    """The test a failure belongs to cannot be found to re-run it."""

    __test__ = False  # not a pytest test class, despite the name


class FixtureSetupError(HypofuzzNbError):
    """A pytest fixture of a test failed to set up or tear down; carries the user's
    traceback (the engine records it as the test's fatal failure)."""

    def __init__(self, nodeid: str, traceback: str, *, when: str = "setup") -> None:
        self.nodeid = nodeid
        self.traceback = traceback
        self.when = when
        super().__init__(
            f"a fixture of {nodeid} failed during {when}; fix the fixture:\n\n{traceback.rstrip()}"
        )


class WorkerError(HypofuzzNbError):
    """The fuzzing session could not start, or a worker failed in a way the user can fix."""


class UnknownTest(TestNotFound):
    """A node id that names none of the tests collected (a kind of :class:`TestNotFound`)."""

    def __init__(self, nodeid: str, known: list[str]) -> None:
        self.nodeid = nodeid
        self.known = list(known)
        shown = _listing([str(n) for n in self.known], 20)
        message = (
            f"no collected test has the node id {nodeid!r}; pass one of:\n{shown}"
            if self.known
            else f"no collected test has the node id {nodeid!r} (none were collected)"
        )
        where, _, name = nodeid.partition("::")
        if name and not where.endswith(".py"):
            # "notebook::test_x": a test defined in a cell, fuzzed in the kernel's thread
            message += (
                f"\n{nodeid!r} looks like a test defined in a notebook cell: its inputs are "
                "replayed in a subprocess, which cannot import a notebook's cells. Move the "
                "test into a test file to see its coverage and samples."
            )
        super().__init__(message)


class ReplayError(HypofuzzNbError):
    """The subprocess that replays stored inputs failed; carries the tail of its output."""

    def __init__(self, returncode: int, output: str) -> None:
        self.returncode = returncode
        self.output = output
        super().__init__(
            f"replaying the stored inputs in a subprocess failed (exit status {returncode}); "
            f"its output ends with:\n\n{output.rstrip() or '(no output)'}"
        )


class ReplayTimeout(ReplayError, TimeoutError):
    """Replaying stored inputs (``coverage()``, ``stuck()``, ``distributions(sample=...)``)
    took longer than its ``timeout=``; the replaying subprocess was killed."""

    def __init__(self, timeout: float, nodeid: str | None, output: str) -> None:
        self.timeout = timeout
        self.nodeid = nodeid
        self.returncode = None  # killed: it never exited on its own
        self.output = output
        where = (
            f" while it was replaying {nodeid} (many inputs, or one that input_timeout= "
            "did not stop)"
            if nodeid
            else ""
        )
        HypofuzzNbError.__init__(
            self,
            f"replaying the stored inputs took longer than timeout={timeout:g} s and was "
            f"stopped{where}. Pass a larger timeout= (seconds), or nodeid= to replay one "
            "test's inputs; fewer inputs (a smaller sample=) also take less time. Its output "
            f"ends with:\n\n{output.rstrip() or '(no output)'}",
        )


class BadTimeout(HypofuzzNbError, ValueError):
    """A ``timeout=`` or ``input_timeout=`` that is not a positive number of seconds."""


class InputsTimedOutWarning(UserWarning):
    """Some replayed inputs ran past ``input_timeout=`` and were stopped: their coverage
    goes up to where they stopped."""

    def __init__(self, nodeid: str, inputs: list, input_timeout: float) -> None:
        self.nodeid = nodeid
        self.inputs = list(inputs)
        shown = _listing([i.representation or repr(i.choices) for i in self.inputs], 5)
        super().__init__(
            f"{len(self.inputs)} stored input(s) of {nodeid} ran longer than "
            f"input_timeout={input_timeout:g} s and were stopped (a larger input_timeout= "
            f"lets them finish):\n{shown}"
        )


class DatabaseUnreachableWarning(UserWarning):
    """Reading the database failed and a worker goes on with what it has in memory."""


class SkippedValuesWarning(UserWarning):
    """Some database values could not be decoded and were skipped (left untouched)."""


class BadSampleSize(HypofuzzNbError, ValueError):
    """``sample=`` is not a positive whole number of inputs."""

    def __init__(self, sample: object) -> None:
        self.sample = sample
        super().__init__(
            f"sample must be a positive whole number of inputs to replay per test "
            f"(or None for the stored observations only), not {sample!r}"
        )


class ClusterError(HypofuzzNbError):
    """Fuzzing on a Dask cluster cannot start: the scheduler is unreachable, a worker
    differs from the notebook, or the database is not one that every worker shares."""


class TestNotInData(UnknownTest):
    """A node id that names none of the tests in loaded data (``load()``'s tests frame)."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, nodeid: str, known: list[str]) -> None:
        super().__init__(nodeid, known)
        shown = _listing([str(n) for n in self.known], 20)
        self.args = (
            f"the database has no test with the node id {nodeid!r}; pass one of:\n{shown}"
            if self.known
            else f"the database has no test with the node id {nodeid!r} (it holds no tests yet)",
        )
