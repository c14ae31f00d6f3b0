"""Running pytest's own collection inside this process, and keeping its session open.

:func:`open_session` configures pytest and collects as ``pytest`` started in a
directory would (``conftest.py``, ini ``addopts``, ``-k``/``-m``, plugins, settings
profiles loaded at import or in ``pytest_configure``), then stops before running
anything. The :class:`PytestSession` it returns keeps the config and session
alive so fixtures can be set up through pytest itself; :class:`Recorder`, our
plugin, notes what collection removed or failed to import.

Guarantees:

* Collection can run any number of times in one process: the project's modules
  (test files, conftest.py, packages under the root directory) that a collection
  imported are forgotten (removed from ``sys.modules``) when its session closes
  and before the next collection, so edited tests are seen. Modules imported
  before the first collection, installed packages and extension modules are
  never re-imported.
* Nothing is printed: pytest's output goes to ``PytestSession.output``.
* The caller's working directory, ``PYTEST_VERSION`` and settings profile are as
  before when :func:`open_session` returns; what collection added to ``sys.path``
  is removed when the session closes.
* Run-level plugins (coverage, xdist) switched on by the project's ``addopts`` are
  switched off, and listed in ``Recorder.switched_off``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import settings as Settings
from hypothesis.database import ExampleDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import NoSuchPath, PytestUsageError, TestImportError
from hypofuzz_nb.userframes import user_traceback

__all__ = ["PytestSession", "Recorder", "open_session"]

# Modules that collections imported from the user's project, forgotten before the
# next collection so that edited files are imported afresh.
_PROJECT_MODULES: dict[str, ModuleType] = {}
_COLLECT_LOCK = threading.RLock()


class Recorder:
    """Our pytest plugin: records deselected items and collection reports."""

    def __init__(self) -> None:
        self.deselected = 0
        self.failed_reports: list[Any] = []
        self.skipped_reports: list[Any] = []
        self.switched_off: list[str] = []

    def pytest_deselected(self, items: Sequence[Any]) -> None:
        self.deselected += len(items)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.failed_reports.append(report)
        elif report.skipped:
            self.skipped_reports.append(report)


class PytestSession:
    """A configured pytest config and session, kept open for fixture set-up."""

    def __init__(self) -> None:
        self.output = io.StringIO()
        self.config: Any = None
        self.session: Any = None
        self.closed = False
        self.added_sys_path: list[str] = []
        self.modules: dict[str, ModuleType] = {}
        self.cwd = os.getcwd()
        self._block_lock = threading.Lock()
        self._active_block: str | None = None
        self._started = False

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        with contextlib.redirect_stdout(self.output), contextlib.redirect_stderr(self.output):
            yield

    @contextlib.contextmanager
    def fixtures_block(self, nodeid: str) -> Iterator[None]:
        with self._block_lock:
            if self.closed:
                raise RuntimeError(
                    f"cannot set up the fixtures of {nodeid}: its collection was closed; "
                    "collect the tests again"
                )
            if self._active_block is not None:
                raise RuntimeError(
                    f"cannot set up the fixtures of {nodeid} while those of "
                    f"{self._active_block} are set up: exit that fixtures() block first"
                )
            self._active_block = nodeid
        try:
            yield
        finally:
            self._active_block = None

    def close(self) -> None:
        with self._block_lock:
            if self.closed:
                return
            self.closed = True
        with _COLLECT_LOCK, self.quiet():
            if self.session is not None and self._started:
                with contextlib.suppress(Exception, *_compat.collection_outcome_exceptions()):
                    _compat.collection_teardown_all(self.session)
                with contextlib.suppress(Exception, *_compat.collection_outcome_exceptions()):
                    self.config.hook.pytest_sessionfinish(
                        session=self.session, exitstatus=self.session.exitstatus
                    )
            if self.config is not None:
                with contextlib.suppress(Exception, *_compat.collection_outcome_exceptions()):
                    _compat.collection_unconfigure(self.config)
            for entry in self.added_sys_path:
                with contextlib.suppress(ValueError):
                    sys.path.remove(entry)
            # Forget the project's modules now rather than at the next collection,
            # so that nothing of a closed collection lingers in sys.modules.
            for name, module in self.modules.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
                if _PROJECT_MODULES.get(name) is module:
                    del _PROJECT_MODULES[name]


def _forget_project_modules() -> None:
    for name, module in list(_PROJECT_MODULES.items()):
        if sys.modules.get(name) is module:
            del sys.modules[name]
    _PROJECT_MODULES.clear()


def _remember_project_modules(before: set[str], roots: list[Path], state: PytestSession) -> None:
    """Record the modules collection imported from files under ``roots``."""
    for name, module in list(sys.modules.items()):
        if name in before or name == "hypofuzz_nb" or name.startswith("hypofuzz_nb."):
            continue
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or not filename.endswith((".py", ".pyc")):
            continue  # extension modules cannot be imported twice
        try:
            path = Path(filename).resolve()
        except (OSError, RuntimeError):
            continue
        if {"site-packages", "dist-packages"} & set(path.parts):
            continue
        if any(root == path.parent or root in path.parents for root in roots):
            _PROJECT_MODULES[name] = module
            state.modules[name] = module


def _check_paths(paths: Sequence[str]) -> None:
    for path in paths:
        filename = str(path).split("::", 1)[0]
        if not Path(filename).exists():
            raise NoSuchPath(str(path), os.getcwd())


@contextlib.contextmanager
def _profile_restored() -> Iterator[None]:
    """Load the settings profile that was in effect before, on the way out.

    Collection runs the project's conftest.py, which usually loads a profile; the
    collected tests keep the settings they were decorated with, so undoing the
    global change leaves the caller's process (a notebook) as it was.
    """
    name = Settings.get_current_profile_name()
    try:
        yield
    finally:
        if Settings.get_current_profile_name() != name:
            with contextlib.suppress(Exception):
                Settings.load_profile(name)


def _start_session(args: list[str], recorder: Recorder, state: PytestSession) -> None:
    """Configure pytest and collect, as ``pytest.main`` does up to running tests."""
    import pytest

    try:
        state.config = _compat.collection_prepare_config(
            args, [recorder, _run_level_guard(recorder)]
        )
    except pytest.UsageError as err:
        _raise_usage_error(str(err), state)
    except (Exception, *_compat.collection_outcome_exceptions()) as err:
        conftest = _compat.collection_conftest_failure(err)
        if conftest is not None:
            path, cause = conftest
            raise TestImportError(path, user_traceback(cause)) from None
        raise PytestUsageError(
            f"pytest could not start: {type(err).__name__}: {err}", state.output.getvalue()
        ) from None
    try:
        state.session = _compat.collection_new_session(state.config)
        _compat.collection_configure(state.config)
        state.config.hook.pytest_sessionstart(session=state.session)
        state._started = True
        state.config.hook.pytest_collection(session=state.session)
    except pytest.UsageError as err:
        _raise_usage_error(str(err), state)
    except _compat.collection_outcome_exceptions() as err:
        raise PytestUsageError(
            f"pytest stopped before collecting: {type(err).__name__}: {err}",
            state.output.getvalue(),
        ) from None
    finally:
        # pytest's own entry point returns to the starting directory too.
        os.chdir(state.cwd)


def _run_level_guard(recorder: Recorder) -> object:
    """A plugin that keeps run-level plugins (coverage, xdist) out of the fuzzer.

    A project's ``addopts`` often switch on pytest-cov for everyday runs; inside the
    fuzzer coverage.py would trace every input (about half the inputs per second)
    and xdist would take collection away to worker processes of its own. The
    plugins stay loaded, so their options in ``addopts`` still parse and their
    markers and fixtures still exist.
    """
    import pytest

    class RunLevelGuard:
        @pytest.hookimpl(wrapper=True)
        def pytest_load_initial_conftests(
            self, early_config: Any, parser: Any, args: list[str]
        ) -> Any:
            recorder.switched_off = _compat.collection_switch_off_run_level_plugins(
                early_config, args
            )
            return (yield)

    return RunLevelGuard()


def _raise_usage_error(message: str, state: PytestSession) -> None:
    prefix = "file or directory not found: "
    if message.startswith(prefix):
        raise NoSuchPath(message[len(prefix) :].strip(), os.getcwd()) from None
    raise PytestUsageError(f"pytest rejected the arguments: {message}", state.output.getvalue())


def _record_additions(
    state: PytestSession, paths: list[str], before_modules: set[str], before_path: list[str]
) -> None:
    """Note what collection added to ``sys.modules`` and ``sys.path``, to undo it."""
    roots = [Path(state.cwd).resolve()]
    if state.config is not None:
        roots.append(Path(state.config.rootpath).resolve())
    roots.extend(Path(p.split("::", 1)[0]).resolve() for p in paths)
    _remember_project_modules(before_modules, roots, state)
    state.added_sys_path = [p for p in sys.path if p not in before_path]


def open_session(
    paths: Iterable[str | os.PathLike[str]],
    pytest_args: Iterable[str],
    rootdir: str | os.PathLike[str] | None,
) -> tuple[PytestSession, Recorder, ExampleDatabase | None]:
    """Collect ``paths`` with ``pytest_args`` as if pytest were started in ``rootdir``
    (default: the current directory) and return the open session, what our plugin
    recorded, and ``settings().database`` after collection (the database of the
    profile in effect).

    Raises :class:`~hypofuzz_nb.errors.NoSuchPath`,
    :class:`~hypofuzz_nb.errors.TestImportError` for a conftest.py that fails to
    import and :class:`~hypofuzz_nb.errors.PytestUsageError`; the session is closed
    then.
    """
    if isinstance(pytest_args, str) or isinstance(paths, str):
        raise TypeError(
            "paths and pytest_args must be lists (e.g. ['tests'], ['-k', 'foo']), not one string"
        )
    paths = [os.fspath(p) for p in paths]
    pytest_args = [str(a) for a in pytest_args]
    state = PytestSession()
    recorder = Recorder()
    old_cwd = os.getcwd()
    old_env = os.environ.get("PYTEST_VERSION")
    with _COLLECT_LOCK:
        _forget_project_modules()
        importlib.invalidate_caches()
        if rootdir is not None:
            if not Path(rootdir).is_dir():
                raise NoSuchPath(os.fspath(rootdir), old_cwd)
            os.chdir(rootdir)
        state.cwd = os.getcwd()
        before_modules = set(sys.modules)
        before_path = list(sys.path)
        try:
            _check_paths(paths)
            import pytest

            os.environ["PYTEST_VERSION"] = pytest.__version__
            with state.quiet(), _profile_restored():
                # In a kernel Hypothesis is imported before pytest starts, so pytest
                # warns that it cannot rewrite asserts in it; an ini that turns
                # warnings into errors must not fail a collection plain pytest passes.
                quiet_rewrite = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
                _start_session([*quiet_rewrite, *pytest_args, *paths], recorder, state)
                database = Settings().database
        except BaseException:
            _record_additions(state, paths, before_modules, before_path)
            with contextlib.suppress(Exception):
                state.close()
            raise
        else:
            _record_additions(state, paths, before_modules, before_path)
        finally:
            if old_env is None:
                os.environ.pop("PYTEST_VERSION", None)
            else:
                os.environ["PYTEST_VERSION"] = old_env
            os.chdir(old_cwd)
    return state, recorder, database
