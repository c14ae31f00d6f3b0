"""Deciding whether a collected test can be fuzzed, and what fuzzing it means.

A Hypothesis test becomes a :class:`FuzzTarget` (one per parametrization) or a
:class:`NotFuzzable` with one of this module's fixed reasons (``SKIP``,
``XFAIL``, ``DATABASE_DIFFERS``, ...); :class:`Collection` gathers them with the
database they share. :func:`classify_item` decides for one pytest item.

Guarantees:

* ``FuzzTarget.database_key`` is exactly the key Hypothesis uses for the test when
  plain ``pytest`` runs it, so failures saved under it replay there (the pytest
  plugin mixes in the node id only for parametrized tests and tests using
  parametrized fixtures; state machines use the digest Hypothesis' state machine
  runner gives them).
* A target's settings use the collection's database, generate inputs and are not
  derandomized: fuzzing any other test would save failures where plain pytest
  never looks, or could not find new ones.
* Fixtures are set up through pytest's own machinery while the pytest session
  stays open: :meth:`FuzzTarget.fixtures`; :meth:`Collection.close` (or the
  collection as a context manager) ends it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import Phase, is_hypothesis_test
from hypothesis import settings as Settings
from hypothesis.database import ExampleDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.databases import check_directory_databases
from hypofuzz_nb.errors import CollectionError, FixtureSetupError
from hypofuzz_nb.pytest_session import PytestSession
from hypofuzz_nb.userframes import user_traceback

__all__ = [
    "COLLECTION_ERROR",
    "DATABASE_DIFFERS",
    "DERANDOMIZE",
    "DESELECTED",
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
    "PluginKeyRule",
    "check_database",
    "classify_item",
    "new_counts",
    "settings_reason",
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
        session: PytestSession | None = None,
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
    anything (what worker processes pass to
    :func:`~hypofuzz_nb.collect.collect_tests`).

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
        session: PytestSession | None = None,
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


def check_database(database: ExampleDatabase | None) -> None:
    """Raise :class:`~hypofuzz_nb.errors.DatabasePathIsFile` if ``database`` (or one it
    wraps) is a directory database configured at a regular file."""
    if database is not None:
        check_directory_databases(database)


class PluginKeyRule:
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


def settings_reason(test_settings: Settings, database: ExampleDatabase | None) -> str | None:
    """Why a test with ``test_settings`` cannot be fuzzed into ``database``, or None."""
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


def classify_item(
    item: Any,
    state: PytestSession,
    database: ExampleDatabase | None,
    key_rule: PluginKeyRule,
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
        reason = settings_reason(test_settings, database)
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
    reason = settings_reason(test_settings, database)
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


def new_counts() -> dict[str, int]:
    """``Collection.counts`` before any test is considered."""
    return {DESELECTED: 0, NOT_HYPOTHESIS: 0}
