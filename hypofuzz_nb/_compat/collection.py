"""Private pytest and Hypothesis APIs that collecting tests needs: driving a pytest
session by hand, reading a test's settings and its database key."""

from __future__ import annotations

from typing import Any

# --- collection (used by hypofuzz_nb.collect) ------------------------------------
# hypofuzz_nb.collect drives a pytest session by hand (configure, sessionstart,
# collection; sessionfinish and unconfigure when the collection is closed) so that
# the session, and with it pytest's fixture machinery, outlives the collection step.


def collection_prepare_config(args: list[str], plugins: list[object]) -> Any:
    """A parsed but not yet configured pytest Config, as ``pytest.main`` builds it.

    Raises pytest's ``UsageError`` for bad arguments and ``ConftestImportFailure``
    (see :func:`collection_conftest_failure`) for a conftest.py that fails to import.
    """
    from _pytest.config import _prepareconfig

    return _prepareconfig(list(args), list(plugins))


def collection_selection_given_by(config: Any, args: list[str]) -> tuple[str, str]:
    """``(-m expression, -k expression)`` that ``args`` alone give, parsed by
    ``config``'s own parser (so ``-mEXPR``, ``-k=EXPR`` and the like count); ``""``
    for an expression ``args`` do not give. Arguments the parser does not know
    (a plugin's) are ignored."""
    namespace = config._parser.parse_known_args([str(a) for a in args])
    return (
        str(getattr(namespace, "markexpr", "") or "").strip(),
        str(getattr(namespace, "keyword", "") or "").strip(),
    )


def collection_switch_off_run_level_plugins(early_config: Any, args: list[str]) -> list[str]:
    """Switch off what pytest-cov and pytest-xdist do for a whole run, keeping both
    plugins loaded (their options still parse, their markers and fixtures stay).

    Call from a ``pytest_load_initial_conftests`` hook wrapper: pytest-cov starts
    coverage.py in its own implementation of that hook, reading the early namespace
    (``known_args_namespace``), and pytest parses ``args`` (the same list) again
    afterwards, so both get the switch. Returns what was switched off, for people.
    """
    namespace = early_config.known_args_namespace
    modules = {getattr(p, "__name__", "") for p in early_config.pluginmanager.get_plugins()}
    switched = []
    cov_on = getattr(namespace, "cov_source", None) and not getattr(namespace, "no_cov", False)
    if "pytest_cov.plugin" in modules and cov_on:
        namespace.no_cov = True
        args.append("--no-cov")
        switched.append("pytest-cov's --cov (coverage.py would trace every input)")
    if "xdist.plugin" in modules:
        processes = getattr(namespace, "numprocesses", None)
        dist = getattr(namespace, "dist", "no")
        if processes or dist != "no":
            namespace.numprocesses = 0
            namespace.dist = "no"
            args.extend(["-n", "0", "--dist", "no"])
            given = f"-n {processes}" if processes else f"--dist {dist}"
            switched.append(f"pytest-xdist's {given} (the fuzzer runs its own workers: use its -n)")
    return switched


def collection_conftest_failure(exc: BaseException) -> tuple[str, BaseException] | None:
    """``(conftest path, the user's exception)`` if ``exc`` is pytest's wrapper for a
    conftest.py that failed to import, else ``None``."""
    from _pytest.config import ConftestImportFailure

    if isinstance(exc, ConftestImportFailure):
        return str(exc.path), exc.cause
    return None


def collection_configure(config: Any) -> None:
    """Run ``pytest_configure`` of every plugin and conftest (what pytest.main does)."""
    config._do_configure()


def collection_unconfigure(config: Any) -> None:
    """Undo :func:`collection_configure`: ``pytest_unconfigure`` and config cleanups."""
    config._ensure_unconfigure()


def collection_new_session(config: Any) -> Any:
    """A pytest Session for ``config``, as pytest's ``wrap_session`` creates it."""
    import pytest

    session = pytest.Session.from_config(config)
    session.exitstatus = pytest.ExitCode.OK
    return session


def collection_setup_item(item: Any) -> None:
    """Set up ``item``'s fixtures of every scope through pytest's SetupState.

    Collector nodes (session, package, module, class) that are set up already and
    that ``item`` descends from stay set up; nodes it does not descend from are torn
    down first, as between two consecutive tests of a pytest run. A re-run item gets
    a fresh FixtureRequest, as pytest does for re-runs (pytest-rerunfailures).
    """
    setupstate = item.session._setupstate
    setupstate.teardown_exact(item)
    if hasattr(item, "_initrequest"):
        item._initrequest()
    setupstate.setup(item)


def collection_teardown_item(item: Any, *, keep_parents: bool) -> None:
    """Tear down ``item``'s function-scoped fixtures, and with ``keep_parents=False``
    every other scope too (the whole setup stack of the session)."""
    setupstate = item.session._setupstate
    # teardown_exact keeps the nodes that its argument descends from; the parent
    # node's chain is exactly the item's chain without the item itself.
    setupstate.teardown_exact(item.parent if keep_parents else None)
    if hasattr(item, "_request"):
        item._request = False
        item.funcargs = None


def collection_pin_instance(item: Any, instance: Any) -> None:
    """Make ``item`` (a test method item) use ``instance`` as its ``self`` from its next
    setup on. pytest drops a unittest item's TestCase instance at teardown and makes a
    new one lazily; Hypothesis fails a test that is called with differing ``self``
    objects (HealthCheck.differing_executors), so the fuzzer keeps one per test."""
    item._instance = instance


def collection_teardown_all(session: Any) -> None:
    """Tear down everything set up in ``session`` (every scope)."""
    setupstate = getattr(session, "_setupstate", None)
    if setupstate is not None:
        setupstate.teardown_exact(None)


def collection_item_argnames(item: Any) -> tuple[str, ...]:
    """The names pytest passes to the test function (its own arguments, fixtures and
    parametrize values, not autouse-only fixtures)."""
    return tuple(item._fixtureinfo.argnames)


def collection_item_fixture_params(item: Any) -> bool:
    """Whether any fixture in ``item``'s closure is parametrized (``params=...``),
    exactly as Hypothesis' pytest plugin computes it for its database-key rule."""
    info = item.session._fixturemanager.getfixtureinfo(node=item, func=item.function, cls=None)
    return any(bool(fx.params) for defs in info.name2fixturedefs.values() for fx in defs)


def collection_evaluate_skip(item: Any) -> str | None:
    """The reason of ``item``'s triggered skip/skipif mark, or ``None`` if none triggers.

    Raises pytest's ``Failed`` (an OutcomeException) for a skipif condition that
    cannot be evaluated, as pytest does at setup time."""
    from _pytest.skipping import evaluate_skip_marks

    skipped = evaluate_skip_marks(item)
    return None if skipped is None else skipped.reason


def collection_evaluate_xfail(item: Any) -> tuple[str, bool] | None:
    """``(reason, run)`` of ``item``'s triggered xfail mark (``run=False``: pytest
    does not even call the test), or ``None`` if none triggers."""
    from _pytest.skipping import evaluate_xfail_marks

    xfailed = evaluate_xfail_marks(item)
    return None if xfailed is None else (xfailed.reason, bool(xfailed.run))


def collection_outcome_exceptions() -> tuple[type[BaseException], ...]:
    """pytest's outcome exceptions (skip, fail, xfail, exit) that are BaseExceptions."""
    from _pytest.outcomes import OutcomeException

    return (OutcomeException,)


def collection_function_digest(function: Any) -> bytes:
    """Hypothesis' database key for ``function``: sha384 of its source, signature
    and ``_hypothesis_internal_add_digest`` (the key of a @given test is the digest of
    its ``.hypothesis.inner_test``)."""
    from hypothesis.internal.reflection import function_digest

    return function_digest(function)


_MISSING = object()


def collection_get_add_digest(inner_test: Any) -> object:
    """The extra bytes Hypothesis mixes into ``inner_test``'s digest (the pytest
    plugin sets the nodeid for parametrized tests), or a private sentinel if unset."""
    return inner_test.__dict__.get("_hypothesis_internal_add_digest", _MISSING)


def collection_set_add_digest(inner_test: Any, value: object) -> None:
    """Set (bytes) or remove (the sentinel from :func:`collection_get_add_digest`)
    the extra digest bytes of ``inner_test``."""
    if value is _MISSING:
        inner_test.__dict__.pop("_hypothesis_internal_add_digest", None)
    else:
        inner_test._hypothesis_internal_add_digest = value


def collection_test_settings(test: Any) -> Any:
    """The settings a @given test runs with (its own @settings, else the default
    profile when it was decorated), as Hypothesis reads them at call time."""
    from hypothesis import settings

    return getattr(test, "_hypothesis_internal_use_settings", None) or settings.default


def collection_state_machine_class(function: Any) -> type | None:
    """The RuleBasedStateMachine class behind ``Machine.TestCase.runTest``, or None."""
    return getattr(function, "_hypothesis_state_machine_class", None)


def collection_state_machine_test(machine: type, settings: Any) -> Any:
    """Hypothesis' own @given wrapper that runs ``machine`` (what
    ``run_state_machine_as_test`` calls); its inner test's digest is the machine's key."""
    from hypothesis.stateful import get_state_machine_test

    return get_state_machine_test(machine, settings=settings)


def collection_pytest_package_dirs() -> list[str]:
    """The directories of pytest's private package, whose frames are the tool's own."""
    import _pytest

    return list(_pytest.__path__)
