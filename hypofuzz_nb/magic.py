"""The ``%hypofuzz`` line magic and the ``%%hypofuzz`` cell magic.

``%load_ext hypofuzz_nb`` registers them. Each magic is a thin shell over the
Python API, so everything it does can also be done without IPython:

==============================  ===============================================
magic                           Python API
==============================  ===============================================
``%hypofuzz tests/``            ``session = hypofuzz_nb.fuzz(["tests/"])`` and
                                ``hypofuzz_nb.Dashboard(session.database)``
``%hypofuzz --dashboard-only``  ``hypofuzz_nb.Dashboard(database)``
``%hypofuzz status``            ``session.status()``
``%hypofuzz stop``              ``session.stop()``
``%hypofuzz failures``          ``hypofuzz_nb.failures(hypofuzz_nb.load())``
``%%hypofuzz``                  ``hypofuzz_nb.fuzz(targets=collect_namespace(...))``
==============================  ===============================================
"""

from __future__ import annotations

import argparse
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from hypofuzz_nb import options
from hypofuzz_nb.summary import session_line

#: What ``%hypofuzz?`` and ``%hypofuzz --help`` show, and usage errors end with.
USAGE = options.magic_help()
ACTIONS = tuple(word for word, _ in options.MAGIC_ACTIONS)


class _MagicArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that raises IPython's UsageError instead of exiting the kernel."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"{message}\n\n{USAGE}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        raise UsageError(message or USAGE)


def _line_parser() -> argparse.ArgumentParser:
    parser = _MagicArgumentParser(prog="%hypofuzz", add_help=False)
    options.add_options(parser, options.MAGIC)
    # Prints the usage instead of exiting: exiting would end the kernel.
    parser.add_argument("-h", "--help", action="store_true")
    return parser


def _cell_parser() -> argparse.ArgumentParser:
    parser = _MagicArgumentParser(prog="%%hypofuzz", add_help=False)
    return options.add_options(parser, options.CELL)


def parse_line(line: str) -> tuple[argparse.Namespace, list[str]]:
    """Split a ``%hypofuzz`` line into our options and the pytest arguments after ``--``.

    Raises ``UsageError`` (with the usage text) for anything we cannot parse.
    """
    try:
        words = shlex.split(line)
    except ValueError as err:
        raise UsageError(f"cannot parse the arguments: {err}\n\n{USAGE}") from None
    ours, pytest_args = options.split_pytest_args(words)
    return _line_parser().parse_args(ours), pytest_args


@dataclass
class _KernelState:
    """What the magics started in this kernel: one fuzzing session, any dashboards."""

    session: Any = None
    dashboards: list[Any] = field(default_factory=list)

    def stop_all(self) -> None:
        for dashboard in self.dashboards:
            dashboard.close()
        self.dashboards.clear()
        if self.session is not None:
            self.session.stop()


_state = _KernelState()


def _notebook_name(user_ns: dict[str, Any]) -> str:
    """The notebook's name for nodeids (``<notebook>::<function>``)."""
    for variable in ("__session__", "__vsc_ipynb_file__"):
        value = user_ns.get(variable)
        if isinstance(value, str) and value:
            return value.rsplit("/", 1)[-1]
    return "notebook"


@magics_class
class HypofuzzMagics(Magics):
    @line_cell_magic
    def hypofuzz(self, line: str, cell: str | None = None) -> Any:
        # The docstring is replaced by USAGE below, so that `%hypofuzz?` shows it.
        if cell is not None:
            return self._run_cell(line, cell)
        words = line.split()
        if len(words) == 1 and words[0] in ACTIONS:
            return getattr(self, f"_{words[0]}")()
        args, pytest_args = parse_line(line)
        if args.help:
            print(USAGE)
            return None
        return self._start(args, pytest_args)

    hypofuzz.__doc__ = USAGE

    # -- line magic actions --------------------------------------------------------

    def _start(self, args: argparse.Namespace, pytest_args: list[str]) -> None:
        from hypofuzz_nb.errors import HypofuzzNbError

        paths = args.paths or ["."]
        try:
            if args.dashboard_only:
                self._show_dashboard(
                    _database_for(paths, pytest_args), interactive=args.interactive
                )
                return
            from hypofuzz_nb.session import fuzz

            if _state.session is not None and _state.session.running:
                raise UsageError(
                    "hypofuzz is already running in this kernel: `%hypofuzz stop` first, "
                    "or `%hypofuzz status` to see what it does."
                )
            _state.session = fuzz(
                paths,
                pytest_args=pytest_args,
                workers=args.workers,
                max_time=args.max_time,
                max_examples=args.max_examples,
                timeout=args.timeout,
                exitfirst=args.exitfirst,
                cluster=args.cluster,
                solver=args.solver,
            )
            if _state.session.error is not None:
                raise _state.session.error
            for note in _state.session.collection_notes:
                print(f"hypofuzz: {note}.")
        except HypofuzzNbError as err:
            # One readable message naming the thing to fix, never our traceback.
            raise UsageError(str(err)) from None
        if not args.no_dashboard:
            self._show_dashboard(
                _state.session.database, session=_state.session, interactive=args.interactive
            )

    def _show_dashboard(
        self, database: Any, session: Any = None, interactive: bool = False
    ) -> None:
        from hypofuzz_nb.widgets import Dashboard

        try:
            dashboard = Dashboard(database, session=session, interactive=interactive)
        except ImportError as err:
            raise UsageError(str(err)) from None
        _state.dashboards.append(dashboard)
        display(dashboard)

    def _status(self) -> Any:
        if _state.session is None:
            print("hypofuzz is not running in this kernel: start it with `%hypofuzz PATHS`.")
            return None
        return _state.session.status()

    def _stop(self) -> None:
        if _state.session is None:
            print("hypofuzz is not running in this kernel.")
            return
        _state.session.stop()
        print(f"stopped: {session_line(_state.session.status())}")

    def _wait(self) -> Any:
        if _state.session is None:
            print("hypofuzz is not running in this kernel.")
            return None
        try:
            _state.session.wait()
        except KeyboardInterrupt:
            _state.session.stop()
        print(f"done: {session_line(_state.session.status())}")
        return None

    def _failures(self) -> Any:
        from hypofuzz_nb.errors import HypofuzzNbError
        from hypofuzz_nb.frames import load
        from hypofuzz_nb.reproduce import failures

        try:
            database = _state.session.database if _state.session is not None else None
            found = failures(load(database))
        except HypofuzzNbError as err:
            raise UsageError(str(err)) from None
        if not found:
            print("no failures in the database")
        return found

    # -- cell magic ----------------------------------------------------------------

    def _run_cell(self, line: str, cell: str) -> Any:
        from hypofuzz_nb.errors import HypofuzzNbError
        from hypofuzz_nb.notebook_tests import collect_namespace
        from hypofuzz_nb.session import fuzz

        try:
            args = _cell_parser().parse_args(shlex.split(line))
        except ValueError as err:
            raise UsageError(f"cannot parse the arguments: {err}\n\n{USAGE}") from None
        user_ns = self.shell.user_ns
        before = {name: id(value) for name, value in user_ns.items()}
        result = self.shell.run_cell(cell)
        if not result.success:
            return None  # IPython has already shown the user's error
        defined = {
            name: value
            for name, value in user_ns.items()
            if before.get(name) != id(value) and hasattr(value, "hypothesis")
        }
        if not defined:
            raise UsageError(
                "%%hypofuzz found no @given tests defined in this cell: define a test "
                "decorated with hypothesis.given in the cell."
            )
        try:
            collection = collect_namespace(defined, notebook_name=_notebook_name(user_ns))
            session = fuzz(targets=collection, max_time=args.max_time, timeout=args.timeout)
        except HypofuzzNbError as err:
            raise UsageError(str(err)) from None
        _state.session = session
        progress = _CellProgress()
        try:
            while session.running:
                progress.update(session.status())
                session.wait(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            session.stop()
        progress.update(session.status(), final=True)
        return None


class _CellProgress:
    """Inline progress for ``%%hypofuzz``: one updating display, text or HTML."""

    def __init__(self) -> None:
        self._handle = display(_StatusView(None), display_id=True)
        self._last = 0.0

    def update(self, status: Any, *, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._last >= 0.5:
            self._last = now
            if self._handle is not None:
                self._handle.update(_StatusView(status, final=final))


class _StatusView:
    """A session status as text and HTML, for displays without widgets."""

    def __init__(self, status: Any, *, final: bool = False) -> None:
        self.status = status
        self.final = final

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.__repr__())

    def __repr__(self) -> str:
        if self.status is None:
            return "hypofuzz: starting..."
        head = "hypofuzz: done" if self.final else "hypofuzz: fuzzing"
        return f"{head}\n{self.status}"

    def _repr_html_(self) -> str:
        if self.status is None:
            return "<p>hypofuzz: starting...</p>"
        head = "done" if self.final else "fuzzing"
        return f"<p><b>hypofuzz: {head}</b></p>{self.status._repr_html_()}"


def _database_for(paths: list[str], pytest_args: list[str]) -> Any:
    from hypofuzz_nb.collect import database_in_effect

    return database_in_effect(paths, pytest_args)


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(HypofuzzMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext hypofuzz_nb`` stops the workers and the dashboards' refreshers."""
    _state.stop_all()
    _state.session = None
