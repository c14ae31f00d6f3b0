"""Collecting Hypothesis tests through pytest, and deciding which ones can be fuzzed.

:func:`collect_tests` runs pytest's own collection in this process (``conftest.py``,
ini ``addopts``, ``-k``/``-m``, plugins, settings profiles loaded at import or in
``pytest_configure``) and returns a :class:`Collection`: one :class:`FuzzTarget`
per fuzzable test (per parametrization), a :class:`NotFuzzable` with a fixed
reason for every other Hypothesis test, and the database of the settings profile
in effect afterwards (the *seed rule*: see :func:`database_in_effect`).
:func:`collect_namespace` does the same for ``@given`` tests defined in a
notebook.

Guarantees:

* ``FuzzTarget.database_key`` is exactly the key Hypothesis uses for the test when
  plain ``pytest`` runs it, so failures saved under it replay there (the pytest
  plugin mixes in the node id only for parametrized tests and tests using
  parametrized fixtures; state machines use the digest Hypothesis' state machine
  runner gives them).
* Collection can run any number of times in one process: the project's modules
  (test files, conftest.py, packages under the root directory) that a collection
  imported are forgotten (removed from ``sys.modules``) before the next one, so
  edited tests are seen. Modules imported before the first collection, installed
  packages and extension modules are never re-imported.
* Nothing is printed: pytest's output goes to ``Collection.output``, and into the
  error messages where it helps.
* The pytest session stays configured while the collection is open, so that
  :meth:`FuzzTarget.fixtures` can set fixtures up through pytest itself; call
  :meth:`Collection.close` (or use the collection as a context manager) when the
  tests will not run any more: that runs the session-scoped teardowns, pytest's
  ``pytest_unconfigure`` hooks and removes what collection added to ``sys.path``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import Phase, is_hypothesis_test
from hypothesis import settings as Settings
from hypothesis.database import ExampleDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.databases import check_directory_databases
from hypofuzz_nb.errors import (
    CollectionError,
    DatabasePathIsFile,
    FixtureSetupError,
    NoSuchPath,
    NoTestsCollected,
    PytestUsageError,
    TestImportError,
)
from hypofuzz_nb.userframes import user_traceback

__all__ = [
    "COLLECTION_ERROR",
    "DATABASE_DIFFERS",
    "DERANDOMIZE",
    "NEEDS_ARGUMENTS",
    "NESTED_GIVEN",
    "NOT_HYPOTHESIS",
    "NO_GENERATE",
    "SKIP",
    "SKIPIF",
    "XFAIL",
    "Collection",
    "FuzzTarget",
    "NotFuzzable",
    "collect_namespace",
    "collect_tests",
    "database_in_effect",
    "list_tests",
]

# The fixed reasons a Hypothesis test is not fuzzed (NotFuzzable.reason).
SKIP = "skip"
SKIPIF = "skipif"
XFAIL = "xfail"
DERANDOMIZE = "derandomize"
DATABASE_DIFFERS = "database differs from the profile's"
NO_GENERATE = "no generate phase"
NESTED_GIVEN = "nested @given"
COLLECTION_ERROR = "collection error"
#: A notebook test with parameters that are not generated (nothing can supply them).
NEEDS_ARGUMENTS = "needs arguments"

# Counted but not listed one by one: tests removed before they are considered.
DESELECTED = "deselected by -k/-m"
NOT_HYPOTHESIS = "not Hypothesis tests"


@dataclass(frozen=True)
class NotFuzzable:
    """A collected test that will not be fuzzed: ``reason`` is one of the fixed
    strings of this module (``SKIP``, ``XFAIL``, ...), ``detail`` says more (the
    skip reason, the user's traceback of a collection error, ...)."""

    nodeid: str
    reason: str
    detail: str = ""


class FuzzTarget:
    """One fuzzable test: one parametrization of one test function.

    ``test`` is a ``@given``-wrapped function (it has ``.hypothesis``); call it, or
    run its ``test.hypothesis.inner_test`` through Hypothesis, with the generated
    arguments plus the keyword arguments that :meth:`fixtures` yields.

    * Methods of test classes and ``unittest.TestCase`` methods: ``test`` is the
      function as defined in the class (not bound), and the keyword arguments
      include its first parameter (usually ``self``) bound to the instance pytest
      created for the test: the same instance in every :meth:`fixtures` block
      (Hypothesis rejects a test called on differing instances); for
      ``unittest.TestCase``, ``setUp`` runs at the entry of each block and
      ``tearDown`` plus cleanups at its exit. Hypothesis finds its executor
      (``setup_example``...) on that instance.
    * ``RuleBasedStateMachine.TestCase``: ``test`` is Hypothesis' own state machine
      runner (``get_state_machine_test``) for the machine with ``TestCase.settings``;
      the machine class is bound into it, so the keyword arguments are empty.
      ``state_machine`` is the machine class.
    * Notebook tests: ``item`` is ``None`` and the keyword arguments are empty.
    """

    def __init__(
        self,
        *,
        nodeid: str,
        database_key: bytes,
        test: Callable[..., Any],
        settings: Settings,
        item: Any = None,
        add_digest: object = None,
        session: _PytestSession | None = None,
        kind: str = "function",
        self_name: str | None = None,
        state_machine: type | None = None,
    ) -> None:
        self.nodeid = nodeid
        self.database_key = database_key
        self.test = test
        self.settings = settings
        self.item = item
        self.kind = kind
        self.state_machine = state_machine
        self._inner_test = test.hypothesis.inner_test  # type: ignore[attr-defined]
        self._add_digest = add_digest
        self._session = session
        self._self_name = self_name
        # The one instance a method's test is called on across fixtures() blocks.
        self._instance: Any = None

    def __repr__(self) -> str:
        return f"<FuzzTarget {self.nodeid} key={self.database_key.hex()[:12]}...>"

    @contextlib.contextmanager
    def fixtures(self) -> Iterator[dict[str, Any]]:
        """Set up everything the test needs and yield the keyword arguments to call
        ``test`` with besides the generated ones; tear down on exit.

        Fixtures of every scope are set up through pytest's own machinery, as for a
        pytest run. Function-scoped fixtures (and ``unittest`` ``setUp``) are set up
        once per ``fixtures()`` block, so the engine gets fresh ones per batch of
        inputs, not per input; higher scopes stay set up across blocks (as between
        consecutive tests of a pytest run) until a block of a test outside their
        scope is entered or the collection is closed. Blocks of one collection
        cannot nest. Re-entering after exit starts a new batch.

        Inside the block the test's inner function carries the database key extras
        that Hypothesis' pytest plugin would give it, so running the test through
        Hypothesis' own engine uses :attr:`database_key` too.

        Raises :class:`~hypofuzz_nb.errors.FixtureSetupError` with the user's
        traceback if a fixture fails to set up (or to tear down after a clean
        block).
        """
        if self.item is None or self._session is None:
            with self._digest_applied():
                yield {}
            return
        with self._session.fixtures_block(self.nodeid):
            kwargs, instance = self._setup()
            ok = False
            try:
                with self._digest_applied():
                    yield kwargs
                ok = True
            finally:
                self._teardown(instance, raise_errors=ok)

    def _setup(self) -> tuple[dict[str, Any], Any]:
        item = self.item
        try:
            if self._instance is not None:
                _compat.collection_pin_instance(item, self._instance)
            _compat.collection_setup_item(item)
            kwargs: dict[str, Any] = {}
            instance = None
            if self.kind in ("function", "method"):
                kwargs = {
                    name: item.funcargs[name] for name in _compat.collection_item_argnames(item)
                }
            if self.kind in ("method", "unittest"):
                instance = self._instance = item.instance
                kwargs[self._self_name or "self"] = instance
            if self.kind == "unittest":
                instance.setUp()
            if self.kind == "state_machine":
                # pytest's unittest items make their TestCase lazily when a run uses
                # it, and delete it at teardown; make it as such a run would.
                _ = item.instance
        except (Exception, *_compat.collection_outcome_exceptions()) as err:
            text = user_traceback(err)
            with contextlib.suppress(Exception, *_compat.collection_outcome_exceptions()):
                _compat.collection_teardown_item(item, keep_parents=True)
            raise FixtureSetupError(self.nodeid, text) from None
        return kwargs, instance if self.kind == "unittest" else None

    def _teardown(self, unittest_instance: Any, *, raise_errors: bool) -> None:
        errors: list[BaseException] = []
        if unittest_instance is not None:
            for step in (unittest_instance.tearDown, unittest_instance.doCleanups):
                try:
                    step()
                except Exception as err:
                    errors.append(err)
        try:
            _compat.collection_teardown_item(self.item, keep_parents=True)
        except (Exception, *_compat.collection_outcome_exceptions()) as err:
            errors.append(err)
        if errors and raise_errors:
            text = "\n".join(user_traceback(err) for err in errors)
            raise FixtureSetupError(self.nodeid, text, when="teardown")

    @contextlib.contextmanager
    def _digest_applied(self) -> Iterator[None]:
        if self._add_digest is None:
            yield
            return
        previous = _compat.collection_get_add_digest(self._inner_test)
        _compat.collection_set_add_digest(self._inner_test, self._add_digest)
        try:
            yield
        finally:
            _compat.collection_set_add_digest(self._inner_test, previous)


class Collection:
    """The result of one collection: fuzzable ``targets``, ``not_fuzzable`` tests
    with their reasons, ``errors`` (user-facing :class:`CollectionError` instances,
    one per file that failed to import), ``counts`` (how many tests each filter or
    reason removed), ``database``: ``settings().database`` after collection,
    the database of the settings profile in effect, and ``notes``: what collection
    changed in the project's pytest configuration for fuzzing, one sentence each
    (an ini ``-m``/``-k`` dropped, a run-level plugin switched off), for the summary;
    ``pytest_args``: the arguments that give this collection again without dropping
    anything (what worker processes pass to :func:`collect_tests`).

    Close it (or use it as a context manager) when its targets will not run any
    more; closing twice is harmless.
    """

    def __init__(
        self,
        *,
        targets: list[FuzzTarget],
        not_fuzzable: list[NotFuzzable],
        errors: list[CollectionError],
        counts: dict[str, int],
        database: ExampleDatabase | None,
        session: _PytestSession | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.targets = targets
        self.not_fuzzable = not_fuzzable
        self.errors = errors
        self.counts = counts
        self.database = database
        self.notes: list[str] = list(notes or ())
        self.pytest_args: list[str] = []
        self._session = session

    @property
    def output(self) -> str:
        """Everything pytest printed while collecting (and closing)."""
        return self._session.output.getvalue() if self._session is not None else ""

    def close(self) -> None:
        """Tear down every fixture still set up, finish the pytest session quietly
        and undo what collection added to ``sys.path``."""
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Collection {len(self.targets)} targets, {len(self.not_fuzzable)} not "
            f"fuzzable, {len(self.errors)} errors, database={self.database!r}>"
        )


# -- the in-process pytest session ------------------------------------------------------

# Modules that collections imported from the user's project, forgotten before the
# next collection so that edited files are imported afresh.
_PROJECT_MODULES: dict[str, ModuleType] = {}
_COLLECT_LOCK = threading.RLock()


class _Recorder:
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


class _PytestSession:
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


def _remember_project_modules(before: set[str], roots: list[Path], state: _PytestSession) -> None:
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


def _check_database(database: ExampleDatabase | None) -> None:
    if database is not None:
        check_directory_databases(database)


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


def _profile_database() -> ExampleDatabase | None:
    return Settings().database


def _start_session(args: list[str], recorder: _Recorder, state: _PytestSession) -> None:
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


def _run_level_guard(recorder: _Recorder) -> object:
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


def _raise_usage_error(message: str, state: _PytestSession) -> None:
    prefix = "file or directory not found: "
    if message.startswith(prefix):
        raise NoSuchPath(message[len(prefix) :].strip(), os.getcwd()) from None
    raise PytestUsageError(f"pytest rejected the arguments: {message}", state.output.getvalue())


def _record_additions(
    state: _PytestSession, paths: list[str], before_modules: set[str], before_path: list[str]
) -> None:
    """Note what collection added to ``sys.modules`` and ``sys.path``, to undo it."""
    roots = [Path(state.cwd).resolve()]
    if state.config is not None:
        roots.append(Path(state.config.rootpath).resolve())
    roots.extend(Path(p.split("::", 1)[0]).resolve() for p in paths)
    _remember_project_modules(before_modules, roots, state)
    state.added_sys_path = [p for p in sys.path if p not in before_path]


def _collect(
    paths: Iterable[str | os.PathLike[str]],
    pytest_args: Iterable[str],
    rootdir: str | os.PathLike[str] | None,
) -> tuple[_PytestSession, _Recorder, ExampleDatabase | None]:
    if isinstance(pytest_args, str) or isinstance(paths, str):
        raise TypeError(
            "paths and pytest_args must be lists (e.g. ['tests'], ['-k', 'foo']), not one string"
        )
    paths = [os.fspath(p) for p in paths]
    pytest_args = [str(a) for a in pytest_args]
    state = _PytestSession()
    recorder = _Recorder()
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
                database = _profile_database()
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
    try:
        _check_database(database)
    except DatabasePathIsFile:
        state.close()
        raise
    return state, recorder, database


class _PluginKeyRule:
    """Replays, in run order, what Hypothesis' pytest plugin does to test keys.

    At call time the plugin sets ``inner_test._hypothesis_internal_add_digest`` to
    the item's node id for items with a ``parametrize`` mark or any parametrized
    fixture in their closure, and in the same step adds ``differing_executors`` to
    the test's suppressed health checks. The fixture check is skipped when both
    ``function_scoped_fixture`` and ``differing_executors`` are suppressed, so for a
    test that suppresses ``function_scoped_fixture`` and uses only parametrized
    fixtures, every case after the first runs under the *first* case's key (the
    node id it left on the shared inner test). Plain pytest saves failures there,
    so that is the key we report too. Items pytest never calls (skipped, xfail
    with ``run=False``, deselected) do not change this state.
    """

    def __init__(self) -> None:
        self._suppressed: dict[Any, set[Any]] = {}
        self._add_digest: dict[Any, bytes] = {}

    def add_digest(self, item: Any, obj: Any) -> bytes | None:
        """Feed one item that pytest will call; returns the add-digest it runs with."""
        from hypothesis import HealthCheck

        function = getattr(obj, "__func__", obj)
        inner = function.hypothesis.inner_test
        suppressed = self._suppressed.get(function)
        if suppressed is None:
            suppressed = set(_compat.collection_test_settings(obj).suppress_health_check)
        both = {HealthCheck.function_scoped_fixture, HealthCheck.differing_executors}
        fixture_params = False
        if not suppressed.issuperset(both):
            fixture_params = _compat.collection_item_fixture_params(item)
        if fixture_params or item.get_closest_marker("parametrize") is not None:
            self._suppressed[function] = suppressed | {HealthCheck.differing_executors}
            self._add_digest[inner] = item.nodeid.encode()
        return self._add_digest.get(inner)


def _key_with(inner_test: Any, add_digest: object) -> bytes:
    previous = _compat.collection_get_add_digest(inner_test)
    if add_digest is not None:
        _compat.collection_set_add_digest(inner_test, add_digest)
    try:
        return _compat.collection_function_digest(inner_test)
    finally:
        _compat.collection_set_add_digest(inner_test, previous)


def _settings_reason(test_settings: Settings, database: ExampleDatabase | None) -> str | None:
    if test_settings.derandomize:
        return DERANDOMIZE
    if test_settings.database != database:
        return DATABASE_DIFFERS
    if Phase.generate not in test_settings.phases:
        return NO_GENERATE
    return None


def _first_param_name(function: Any) -> str:
    code = getattr(function, "__code__", None)
    if code is not None and code.co_argcount:
        return code.co_varnames[0]
    return "self"


def _classify_item(
    item: Any,
    state: _PytestSession,
    database: ExampleDatabase | None,
    key_rule: _PluginKeyRule,
) -> FuzzTarget | NotFuzzable | None:
    """A target, a NotFuzzable, or None for a test that is not a Hypothesis test."""
    import unittest

    nodeid = item.nodeid
    if not hasattr(item, "obj"):
        return None
    try:
        skip_reason = _compat.collection_evaluate_skip(item)
        xfail_reason = _compat.collection_evaluate_xfail(item)
    except (Exception, *_compat.collection_outcome_exceptions()) as err:
        return NotFuzzable(nodeid, COLLECTION_ERROR, user_traceback(err))
    obj = item.obj
    function = getattr(obj, "__func__", obj)
    machine = _compat.collection_state_machine_class(function)
    if machine is None and not is_hypothesis_test(obj):
        return None
    if skip_reason is not None:
        kind = SKIP if item.get_closest_marker("skip") is not None else SKIPIF
        return NotFuzzable(nodeid, kind, skip_reason)
    if machine is None and (xfail_reason is None or xfail_reason[1]):
        # pytest calls this test, so the plugin's key state changes here.
        add_digest = key_rule.add_digest(item, obj)
    if xfail_reason is not None:
        return NotFuzzable(nodeid, XFAIL, xfail_reason[0])
    if machine is not None:
        test_settings = getattr(item.parent.obj, "settings", None) or Settings.default
        reason = _settings_reason(test_settings, database)
        if reason is not None:
            return NotFuzzable(nodeid, reason, f"settings: {test_settings!r}")
        test = _compat.collection_state_machine_test(machine, test_settings)
        key = _compat.collection_function_digest(test.hypothesis.inner_test)
        return FuzzTarget(
            nodeid=nodeid,
            database_key=key,
            test=test,
            settings=test_settings,
            item=item,
            session=state,
            kind="state_machine",
            state_machine=machine,
        )
    inner = function.hypothesis.inner_test
    if is_hypothesis_test(inner):
        return NotFuzzable(nodeid, NESTED_GIVEN, "@given is applied to this test more than once")
    test_settings = _compat.collection_test_settings(function)
    reason = _settings_reason(test_settings, database)
    if reason is not None:
        return NotFuzzable(nodeid, reason, f"settings: {test_settings!r}")
    key = _key_with(inner, add_digest)
    instance_owner = getattr(obj, "__self__", None)
    if isinstance(instance_owner, unittest.TestCase):
        kind = "unittest"
    elif instance_owner is not None:
        kind = "method"
    else:
        kind = "function"
    return FuzzTarget(
        nodeid=nodeid,
        database_key=key,
        test=function,
        settings=test_settings,
        item=item,
        add_digest=add_digest,
        session=state,
        kind=kind,
        self_name=_first_param_name(inner) if kind != "function" else None,
    )


def _new_counts() -> dict[str, int]:
    return {DESELECTED: 0, NOT_HYPOTHESIS: 0}


def _build_collection(
    state: _PytestSession, recorder: _Recorder, database: ExampleDatabase | None
) -> Collection:
    counts = _new_counts()
    counts[DESELECTED] = recorder.deselected
    targets: list[FuzzTarget] = []
    not_fuzzable: list[NotFuzzable] = []
    errors: list[CollectionError] = []
    for report in recorder.failed_reports:
        text = report.longreprtext
        path = report.nodeid or str(getattr(report, "fspath", "")) or "a test file"
        errors.append(TestImportError(path, text))
        not_fuzzable.append(NotFuzzable(path, COLLECTION_ERROR, text))
    for report in recorder.skipped_reports:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        not_fuzzable.append(NotFuzzable(report.nodeid, SKIP, f"whole module: {reason}"))
    items = list(getattr(state.session, "items", ()) or ())
    key_rule = _PluginKeyRule()
    with state.quiet():
        for item in items:
            try:
                result = _classify_item(item, state, database, key_rule)
            except Exception as err:  # a test object that breaks when inspected
                result = NotFuzzable(item.nodeid, COLLECTION_ERROR, user_traceback(err))
            if result is None:
                counts[NOT_HYPOTHESIS] += 1
            elif isinstance(result, NotFuzzable):
                not_fuzzable.append(result)
            else:
                targets.append(result)
    for entry in not_fuzzable:
        counts[entry.reason] = counts.get(entry.reason, 0) + 1
    if len(errors) > 1:
        first = errors[0]
        assert isinstance(first, TestImportError)
        errors[0] = TestImportError(first.path, first.traceback, others=len(errors) - 1)
    return Collection(
        targets=targets,
        not_fuzzable=not_fuzzable,
        errors=errors,
        counts=counts,
        database=database,
        session=state,
        notes=[f"switched off for fuzzing: {what}" for what in recorder.switched_off],
    )


def _ini_selection(state: _PytestSession, pytest_args: Sequence[str]) -> list[tuple[str, str]]:
    """The ``-m``/``-k`` expressions in effect that came from the ini file's
    ``addopts``, as ``[(flag, expression)]``.

    What the user gave (``pytest_args``, and ``PYTEST_ADDOPTS``: the user's own way
    to pass arguments without editing the project) always applies, so an
    expression they gave is never listed.
    """
    config = state.config
    if config is None or config.inipath is None:
        return []
    import shlex

    try:
        ini = _compat.collection_selection_given_by(config, list(config.getini("addopts")))
        user_words = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *pytest_args]
        user = _compat.collection_selection_given_by(config, user_words)
    except (Exception, *_compat.collection_outcome_exceptions()):
        return []  # whatever pytest could not parse here, it did not apply either
    in_effect = (
        str(config.getoption("markexpr") or "").strip(),
        str(config.getoption("keyword") or "").strip(),
    )
    return [
        (flag, ini_expr)
        for flag, ini_expr, user_expr, effective in zip(
            ("-m", "-k"), ini, user, in_effect, strict=True
        )
        if ini_expr and not user_expr and effective == ini_expr
    ]


def _display_path(path: Any, start: str) -> str:
    text = os.fspath(path)
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(text, start)
        if not relative.startswith(os.pardir):
            return relative
    return text


def _collect_fuzzable(
    paths: list[str], pytest_args: Sequence[str], rootdir: str | os.PathLike[str] | None
) -> Collection:
    """Collect, applying the rule for ini ``-m``/``-k`` expressions.

    Projects deselect their property tests in their ini ``addopts`` (``-m "not
    hypothesis"``) to keep everyday runs fast; a fuzzer exists to run exactly those.
    So when the ini's expressions leave nothing to fuzz, collect again without them
    (an empty ``-m``/``-k`` after ``addopts`` replaces theirs) and say so in
    ``notes``; when they leave something, they hold.
    """
    state, recorder, database = _collect(paths, pytest_args, rootdir)
    collection = _build_collection(state, recorder, database)
    collection.pytest_args = list(pytest_args)
    if collection.targets or not recorder.deselected:
        return collection
    dropped = _ini_selection(state, pytest_args)
    if not dropped:
        return collection
    inipath = _display_path(state.config.inipath, state.cwd)
    override = [word for flag, _expr in dropped for word in (flag, "")]
    retry_state, retry_recorder, retry_database = _collect(
        paths, [*pytest_args, *override], rootdir
    )
    retry = _build_collection(retry_state, retry_recorder, retry_database)
    retry.pytest_args = [*pytest_args, *override]
    if not retry.targets:
        retry.close()
        return collection
    collection.close()
    expressions = " and ".join(f"{flag} {expr!r}" for flag, expr in dropped)
    retry.notes.insert(
        0,
        f"dropped {expressions} of the addopts in {inipath}: it deselected every "
        f"Hypothesis test, and fuzzing is for exactly those (an explicit -m/-k applies)",
    )
    return retry


def collect_tests(
    paths: Iterable[str | os.PathLike[str]] = (),
    pytest_args: Iterable[str] = (),
    *,
    rootdir: str | os.PathLike[str] | None = None,
    namespace: Mapping[str, Any] | None = None,
    notebook_name: str = "notebook",
) -> Collection:
    """Collect the Hypothesis tests in ``paths`` through pytest, in this process.

    ``pytest_args`` are passed to pytest before the paths (``-k``, ``-m``, ``-p``,
    ``--hypothesis-profile``...), on top of the ini file's ``addopts``. Collection
    runs as if pytest were started in ``rootdir`` (default: the current
    directory); relative paths are taken from there. With ``namespace``, the
    ``@given`` tests in it are added as by :func:`collect_namespace`.

    Files that fail to import are listed in ``Collection.errors`` (and as
    ``NotFuzzable`` with reason ``COLLECTION_ERROR``) as long as something else
    can be fuzzed. Raises :class:`~hypofuzz_nb.errors.NoSuchPath` for a path that
    does not exist, :class:`~hypofuzz_nb.errors.TestImportError` for a
    conftest.py that fails to import or when the only tests found are in files
    that fail to import, :class:`~hypofuzz_nb.errors.NoTestsCollected` (with what
    each filter removed) when nothing is fuzzable,
    :class:`~hypofuzz_nb.errors.PytestUsageError` for arguments pytest rejects and
    :class:`~hypofuzz_nb.errors.DatabasePathIsFile` for a directory database
    configured at a regular file.
    """
    if isinstance(paths, str):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    collection = _collect_fuzzable(paths, _as_args(pytest_args), rootdir)
    database = collection.database
    if namespace is not None:
        extra = _namespace_targets(namespace, notebook_name, database)
        collection.targets.extend(extra.targets)
        collection.not_fuzzable.extend(extra.not_fuzzable)
        for reason, n in extra.counts.items():
            collection.counts[reason] = collection.counts.get(reason, 0) + n
    if not collection.targets:
        collection.close()
        if collection.errors:
            raise collection.errors[0]
        where = ", ".join(paths) or os.fspath(rootdir or os.getcwd())
        raise NoTestsCollected(where, collection.counts, detail=_pytest_summary(collection))
    return collection


def _as_args(pytest_args: Iterable[str]) -> list[str]:
    if isinstance(pytest_args, str):
        raise TypeError(
            "paths and pytest_args must be lists (e.g. ['tests'], ['-k', 'foo']), not one string"
        )
    return [str(a) for a in pytest_args]


def list_tests(
    paths: Iterable[str | os.PathLike[str]] = (),
    pytest_args: Iterable[str] = (),
    *,
    rootdir: str | os.PathLike[str] | None = None,
) -> Collection:
    """What :func:`collect_tests` would fuzz in ``paths``, already closed: for listing
    tests (node ids and database keys) and the database, not for running them.

    Never raises because nothing is fuzzable or a test file fails to import (the
    collection is then empty, or lists the error); raises
    :class:`~hypofuzz_nb.errors.NoSuchPath`,
    :class:`~hypofuzz_nb.errors.TestImportError` for a conftest.py,
    :class:`~hypofuzz_nb.errors.PytestUsageError` and
    :class:`~hypofuzz_nb.errors.DatabasePathIsFile` as :func:`collect_tests` does.
    """
    if isinstance(paths, str):
        paths = [paths]
    collection = _collect_fuzzable([os.fspath(p) for p in paths], _as_args(pytest_args), rootdir)
    collection.close()
    return collection


def _pytest_summary(collection: Collection) -> str:
    lines = [line for line in collection.output.splitlines() if line.strip()]
    return "\n".join(lines[-3:]) if lines else ""


def database_in_effect(
    paths: Iterable[str | os.PathLike[str]] = (),
    pytest_args: Iterable[str] = (),
    *,
    rootdir: str | os.PathLike[str] | None = None,
) -> ExampleDatabase | None:
    """The seed rule: the database of the settings profile in effect after pytest
    collects ``paths`` (default: the current directory), i.e. the one a plain
    ``pytest`` run there would save failures to. ``None`` if the profile has
    ``database=None``.

    Files that fail to import are ignored (they cannot change the profile any
    more than they do for pytest); a conftest.py that fails to import raises
    :class:`~hypofuzz_nb.errors.TestImportError`, a missing path
    :class:`~hypofuzz_nb.errors.NoSuchPath`, a directory database at a regular
    file :class:`~hypofuzz_nb.errors.DatabasePathIsFile`.
    """
    state, _recorder, database = _collect(list(paths), pytest_args, rootdir)
    state.close()
    return database


def _namespace_targets(
    namespace: Mapping[str, Any], notebook_name: str, database: ExampleDatabase | None
) -> Collection:
    import inspect

    from hypothesis.stateful import RuleBasedStateMachine

    counts = _new_counts()
    targets: list[FuzzTarget] = []
    not_fuzzable: list[NotFuzzable] = []
    for name, value in list(namespace.items()):
        nodeid = f"{notebook_name}::{name}"
        if (
            isinstance(value, type)
            and issubclass(value, RuleBasedStateMachine)
            and value is not RuleBasedStateMachine
        ):
            test_settings = value.TestCase.settings
            reason = _settings_reason(test_settings, database)
            if reason is not None:
                not_fuzzable.append(NotFuzzable(nodeid, reason, f"settings: {test_settings!r}"))
                continue
            test = _compat.collection_state_machine_test(value, test_settings)
            targets.append(
                FuzzTarget(
                    nodeid=nodeid,
                    database_key=_compat.collection_function_digest(test.hypothesis.inner_test),
                    test=test,
                    settings=test_settings,
                    kind="state_machine",
                    state_machine=value,
                )
            )
            continue
        if not callable(value) or not is_hypothesis_test(value) or name.startswith("_"):
            continue
        handle = getattr(value, "hypothesis", None)
        inner = getattr(handle, "inner_test", None)
        if inner is None:
            continue
        if is_hypothesis_test(inner):
            not_fuzzable.append(NotFuzzable(nodeid, NESTED_GIVEN, "@given applied twice"))
            continue
        test_settings = _compat.collection_test_settings(value)
        reason = _settings_reason(test_settings, database)
        if reason is not None:
            not_fuzzable.append(NotFuzzable(nodeid, reason, f"settings: {test_settings!r}"))
            continue
        try:
            required = [
                p.name
                for p in inspect.signature(value).parameters.values()
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
        except (TypeError, ValueError):
            required = []
        if required:
            not_fuzzable.append(
                NotFuzzable(
                    nodeid,
                    NEEDS_ARGUMENTS,
                    f"parameters {required} are not generated by @given; notebook tests "
                    "cannot use pytest fixtures",
                )
            )
            continue
        targets.append(
            FuzzTarget(
                nodeid=nodeid,
                database_key=_compat.collection_function_digest(inner),
                test=value,
                settings=test_settings,
            )
        )
    for entry in not_fuzzable:
        counts[entry.reason] = counts.get(entry.reason, 0) + 1
    return Collection(
        targets=targets, not_fuzzable=not_fuzzable, errors=[], counts=counts, database=database
    )


def collect_namespace(namespace: Mapping[str, Any], *, notebook_name: str) -> Collection:
    """The ``@given`` tests (and ``RuleBasedStateMachine`` subclasses) defined in a
    notebook's namespace, e.g. ``get_ipython().user_ns``.

    Node ids are ``<notebook_name>::<name>``; keys are Hypothesis' own for the
    function (``function_digest`` of its inner test, no node id mixed in), so a
    failure saved while fuzzing replays when the test is called in the notebook.
    ``database`` is ``settings().database`` now. Raises
    :class:`~hypofuzz_nb.errors.NoTestsCollected` if nothing in it can be fuzzed,
    and :class:`~hypofuzz_nb.errors.DatabasePathIsFile` as :func:`collect_tests`.
    """
    database = _profile_database()
    _check_database(database)
    collection = _namespace_targets(namespace, notebook_name, database)
    if not collection.targets:
        raise NoTestsCollected(f"the namespace of {notebook_name}", collection.counts)
    return collection
