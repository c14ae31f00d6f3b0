"""The ``hypofuzz-nb`` command: headless workers and static reports of the database.

``hypofuzz-nb fuzz [PATHS ...] [OPTIONS] [-- PYTEST_ARGS ...]``, with the options that
:mod:`hypofuzz_nb.options` defines for the command and the magic alike.

Exit codes: 0 nothing failed; 1 a failure was found (or, with ``--dashboard-only``, the
database holds one); 2 a usage error (bad option, path that does not exist); 3 something
else the user must fix (import error, no tests, database unreachable), with a message
that names it. Ctrl-C stops cleanly: the summary is printed and the exit code follows
the failures found.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from hypofuzz_nb import options
from hypofuzz_nb.errors import HypofuzzNbError
from hypofuzz_nb.summary import activity_line, database_note, plural, session_line, solver_note

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_USER_ERROR = 3

#: Seconds between progress lines when stdout is not a terminal.
LINE_EVERY_S = 5.0
#: Seconds between redraws on a terminal.
REDRAW_EVERY_S = 0.5
#: At most this many tests are listed in the live display.
MAX_ROWS = 15
#: Under the headline of the live display: what the per-test rates are per.
RATE_NOTE = "  (a test's inputs/s counts only the time it was being fuzzed: tests take turns)"


def _version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from hypofuzz_nb import __version__

    try:
        hypothesis = version("hypothesis")
    except PackageNotFoundError:  # pragma: no cover - a dependency of this package
        hypothesis = "not installed"
    python = ".".join(map(str, sys.version_info[:3]))
    return f"hypofuzz-nb {__version__} (Hypothesis {hypothesis}, Python {python})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hypofuzz-nb",
        description="Coverage-guided fuzzing of Hypothesis tests, with a Jupyter dashboard.",
        epilog="Run `hypofuzz-nb fuzz --help` for the options of the fuzz command.",
    )
    parser.add_argument("--version", action="version", version=_version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    fuzz = sub.add_parser(
        "fuzz",
        help="fuzz the Hypothesis tests pytest collects, or summarize the database",
        usage=options.usage("hypofuzz-nb fuzz", options.COMMAND),
        description=(
            "Fuzz the Hypothesis tests that pytest collects from PATHS (default: the "
            "current directory), saving what is found in the database of the settings "
            "profile in effect, where a plain `pytest` run replays it. Arguments after "
            "`--` go to pytest (e.g. `-- -k sort -m 'not slow'`)."
        ),
        epilog=(
            "exit codes: 0 no failure; 1 a failure was found (or is in the database); "
            "2 usage error; 3 another error to fix (import error, no tests, database "
            "unreachable). Ctrl-C stops cleanly and prints the summary."
        ),
    )
    options.add_options(fuzz, options.COMMAND)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    if argv is None:
        argv = sys.argv[1:]
    ours, pytest_args = options.split_pytest_args(argv)
    parser = build_parser()
    args = parser.parse_args(ours)  # exits with code 2 on a usage error
    for path in args.paths:
        if not os.path.exists(path.split("::", 1)[0]):
            parser.error(f"path {path!r} does not exist (relative to {os.getcwd()})")
    out = sys.stdout
    try:
        if args.dashboard_only:
            return _dashboard_only(args, pytest_args, out)
        return _run_workers(args, pytest_args, out)
    except HypofuzzNbError as e:
        from hypofuzz_nb.session import ci_profile_hint

        hint = ci_profile_hint()
        # The worker's own "nowhere to save" message already carries the hint.
        _error(f"{e}{hint}" if hint and hint not in str(e) else e)
        return EXIT_USER_ERROR


def _error(e: BaseException | str) -> None:
    text = str(e).rstrip() or type(e).__name__
    print(f"hypofuzz-nb: error: {text}", file=sys.stderr)


# --dashboard-only -----------------------------------------------------------------------


def _dashboard_only(args: argparse.Namespace, pytest_args: list[str], out: TextIO) -> int:
    import warnings

    from hypofuzz_nb.frames import load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(None, paths=args.paths or None)
    for w in caught:
        print(f"hypofuzz-nb: warning: {w.message}", file=sys.stderr)
    tests = data.tests
    print(f"Database: {data.database!r}", file=out)
    # load(paths=...) lists collected tests that were never fuzzed as "waiting".
    if tests.empty or (tests["status"] == "waiting").all():
        collected = f" for the {plural(len(tests), 'test')} collected here" if len(tests) else ""
        print(
            f"It holds no fuzzing results yet{collected}: run `hypofuzz-nb fuzz` first.", file=out
        )
        return EXIT_OK
    print(f"{plural(len(tests), 'test')} in the database:", file=out)
    print(
        f"  {'status':<8} {'inputs':>10} {'behaviors':>9} {'failures':>8}  nodeid",
        file=out,
    )
    for row in tests.itertuples(index=False):
        print(
            f"  {row.status!s:<8} {int(row.inputs):>10,} {int(row.behaviors):>9,} "
            f"{int(row.n_failures):>8}  {row.nodeid}",
            file=out,
        )
    print(activity_line(tests), file=out)
    failing = tests[tests["status"].isin(["failed", "fatal"])]
    _print_failures(data.failures, set(failing["nodeid"]), out)
    if len(failing):
        print(
            f"\n{plural(len(failing), 'test')} failing. Run `pytest` to replay the failures.",
            file=out,
        )
        return EXIT_FAILURES
    return EXIT_OK


def _print_failures(failures: Any, nodeids: set[str], out: TextIO) -> None:
    if failures is None or failures.empty or not nodeids:
        return
    shown = failures[failures["nodeid"].isin(nodeids) & (failures["state"] != "fixed")]
    # The shrunk example of each test first: it is what plain pytest replays.
    shown = shown.sort_values("state", key=lambda s: s != "shrunk", kind="stable")
    seen: set[str] = set()
    for row in shown.itertuples(index=False):
        if row.nodeid in seen:
            continue
        seen.add(row.nodeid)
        print(f"\nFAILED {row.nodeid}", file=out)
        exc = "" if _isna(row.exception) else str(row.exception)
        msg = "" if _isna(row.message) else str(row.message)
        if exc or msg:
            print(f"  {exc}{': ' if exc and msg else ''}{msg}"[:500], file=out)
        if not _isna(row.representation) and str(row.representation):
            print("  Falsifying example:", file=out)
            for line in str(row.representation).splitlines()[:20]:
                print(f"    {line}", file=out)


def _isna(value: Any) -> bool:
    try:
        import pandas

        return bool(pandas.isna(value))
    except (TypeError, ValueError):
        return False


# Workers ----------------------------------------------------------------------------------


class _Progress:
    """The live progress display: redrawn in place on a terminal, a line now and then
    otherwise (logs, CI)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self._lines_drawn = 0
        self._last_line = 0.0

    def update(self, status: Any, *, final: bool = False) -> None:
        if self.tty:
            self._redraw(self._table(status))
        elif final or time.monotonic() - self._last_line >= LINE_EVERY_S:
            self._last_line = time.monotonic()
            print(self._headline(status), file=self.out, flush=True)

    @staticmethod
    def _headline(status: Any) -> str:
        n = len(status.tests)
        finished = sum(1 for t in status.tests if t.finished)
        behaviors = sum(t.behaviors for t in status.tests)
        return (
            f"[{status.elapsed_s:6.1f}s] {plural(n, 'test')}, {finished} finished, "
            # Inputs per second of wall time: the sum of the tests' own rates would
            # count every test as if it had the worker to itself.
            f"{status.inputs:,} inputs, {status.inputs_per_s:,.0f} inputs/s overall, "
            f"{behaviors:,} behaviors, {status.n_failing_tests} failing"
            + (f", {status.restarts} worker restart(s)" if status.restarts else "")
            + (f", {note}" if (note := database_note(status)) else "")
            + (f", {solver}" if (solver := solver_note(status)) else "")
        )

    def _table(self, status: Any) -> list[str]:
        lines = [self._headline(status), RATE_NOTE]
        rows = sorted(status.tests, key=lambda t: (not (t.n_failures or t.fatal), t.nodeid))
        for t in rows[:MAX_ROWS]:
            state = (
                "FAILED" if (t.n_failures or t.fatal) else ("finished" if t.finished else t.phase)
            )
            lines.append(
                f"  {state:<8} {t.inputs:>10,} inputs {t.inputs_per_s:>8,.0f}/s own time "
                f"{t.behaviors:>6,} behaviors  {t.nodeid}"
            )
        if len(rows) > MAX_ROWS:
            lines.append(f"  ... and {len(rows) - MAX_ROWS} more")
        return lines

    def _redraw(self, lines: list[str]) -> None:
        width = 200
        with contextlib.suppress(OSError, ValueError, AttributeError):
            width = os.get_terminal_size(self.out.fileno()).columns
        parts = []
        if self._lines_drawn:
            parts.append(f"\x1b[{self._lines_drawn}F")  # to the start of our first line
        for line in lines:
            parts.append("\x1b[2K" + line[: max(width - 1, 20)] + "\n")
        for _ in range(self._lines_drawn - len(lines)):
            parts.append("\x1b[2K\n")
        self.out.write("".join(parts))
        self.out.flush()
        self._lines_drawn = max(len(lines), self._lines_drawn)


class _Terminated(Exception):
    """SIGTERM arrived (``kill``, systemd, Kubernetes): stop as cleanly as Ctrl-C."""


@contextlib.contextmanager
def _sigterm_stops() -> Any:
    """Turn SIGTERM into :class:`_Terminated` in the main thread while workers run."""

    def on_sigterm(signum: int, frame: Any) -> None:
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (main() called from a thread): leave it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_workers(args: argparse.Namespace, pytest_args: list[str], out: TextIO) -> int:
    from hypofuzz_nb.session import fuzz

    session = fuzz(
        args.paths,
        pytest_args=pytest_args,
        workers=args.workers,
        max_time=args.max_time,
        max_examples=args.max_examples,
        timeout=args.timeout,
        seed=args.seed,
        exitfirst=args.exitfirst,
        cluster=args.cluster,
        solver=args.solver,
    )
    for error in session.collection_errors:
        # Their tests are not fuzzed; the others are. Say so once, up front.
        text = str(error).strip()
        print(
            f"hypofuzz-nb: warning: not fuzzing a file that failed to import: {text}",
            file=sys.stderr,
        )
    progress = _Progress(out)
    interrupted = False
    with _sigterm_stops():
        try:
            while not session.wait(REDRAW_EVERY_S if progress.tty else 0.5):
                progress.update(session.status())
        except (KeyboardInterrupt, _Terminated):
            interrupted = True
            # A second Ctrl-C must not cut the flush of the first one short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            session.stop()
        # Nor a second SIGTERM (the previous handler is back once this block ends).
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Let workers flush their last reports (failures are saved already).
        session.wait(30)
        status = session.status()
        progress.update(status, final=True)
        _summary(session, status, interrupted, out)
    if session.error is not None:
        _error(status.error or session.error)
        return EXIT_USER_ERROR
    return EXIT_FAILURES if status.n_failing_tests else EXIT_OK


def _summary(session: Any, status: Any, interrupted: bool, out: TextIO) -> None:
    why = "interrupted" if interrupted else "stopped"
    print(f"\n== hypofuzz-nb {why}: {session_line(status)} ==", file=out)
    for collection_note in getattr(session, "collection_notes", ()):
        print(f"Note: {collection_note}.", file=out)
    note = database_note(status)
    if note:
        print(
            f"Warning: {note}: they were not all written before stopping. Check that the "
            "database is reachable; a worker run later writes its own results, not these.",
            file=out,
        )
    failing = {t.nodeid for t in status.tests if t.n_failures or t.fatal}
    if not failing:
        print("No failures found.", file=out)
        return
    for t in status.tests:
        if t.fatal:
            print(f"\nFATAL {t.nodeid}: the test could not run at all", file=out)
            for line in str(t.fatal).splitlines()[-15:]:
                print(f"  {line}", file=out)
    database = getattr(session, "database", None)
    if database is not None:
        try:
            import warnings

            from hypofuzz_nb.frames import load

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = load(database)
            _print_failures(data.failures, failing, out)
        except Exception as e:  # the summary must never hide the result
            print(f"(could not read the failures back from the database: {e})", file=out)
    print(
        "\nThe failures are saved in the example database: run `pytest` to replay them.",
        file=out,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
