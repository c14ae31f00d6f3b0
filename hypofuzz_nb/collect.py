"""Collecting Hypothesis tests through pytest: the entry points.

:func:`collect_tests` runs pytest's own collection in this process (see
:mod:`hypofuzz_nb.pytest_session`) and returns a :class:`~hypofuzz_nb.fuzzable.Collection`:
one :class:`~hypofuzz_nb.fuzzable.FuzzTarget` per fuzzable test (per
parametrization), a :class:`~hypofuzz_nb.fuzzable.NotFuzzable` with a fixed reason
for every other Hypothesis test, and the database of the settings profile in
effect afterwards (the *seed rule*: see :func:`database_in_effect`).
:func:`list_tests` gives the same, already closed, for listing.

Guarantees:

* What plain ``pytest`` would run is what is considered, with one exception: ini
  ``addopts`` ``-m``/``-k`` expressions that deselect every Hypothesis test are
  dropped (and ``Collection.notes`` says so), since fuzzing is for exactly those.
* ``Collection.pytest_args`` collects the same tests again (worker processes pass
  it back to :func:`collect_tests`).
* Nothing is printed: pytest's output goes to ``Collection.output``, and into the
  error messages where it helps.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hypothesis.database import ExampleDatabase

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import (
    CollectionError,
    DatabasePathIsFile,
    NoTestsCollected,
    TestImportError,
)
from hypofuzz_nb.fuzzable import (
    COLLECTION_ERROR,
    DESELECTED,
    NOT_HYPOTHESIS,
    SKIP,
    Collection,
    FuzzTarget,
    NotFuzzable,
    PluginKeyRule,
    check_database,
    classify_item,
    new_counts,
)
from hypofuzz_nb.listing_cache import cached_listing
from hypofuzz_nb.notebook_tests import namespace_targets
from hypofuzz_nb.pytest_session import PytestSession, Recorder, open_session
from hypofuzz_nb.userframes import user_traceback

__all__ = ["collect_tests", "database_in_effect", "list_tests"]


def _open(
    paths: Iterable[str | os.PathLike[str]],
    pytest_args: Iterable[str],
    rootdir: str | os.PathLike[str] | None,
) -> tuple[PytestSession, Recorder, ExampleDatabase | None]:
    state, recorder, database = open_session(paths, pytest_args, rootdir)
    try:
        check_database(database)
    except DatabasePathIsFile:
        state.close()
        raise
    return state, recorder, database


def _build_collection(
    state: PytestSession, recorder: Recorder, database: ExampleDatabase | None
) -> Collection:
    counts = new_counts()
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
    key_rule = PluginKeyRule()
    with state.quiet():
        for item in items:
            try:
                result = classify_item(item, state, database, key_rule)
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


def _ini_selection(state: PytestSession, pytest_args: Sequence[str]) -> list[tuple[str, str]]:
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
    state, recorder, database = _open(paths, pytest_args, rootdir)
    collection = _build_collection(state, recorder, database)
    collection.pytest_args = list(pytest_args)
    if collection.targets or not recorder.deselected:
        return collection
    dropped = _ini_selection(state, pytest_args)
    if not dropped:
        return collection
    inipath = _display_path(state.config.inipath, state.cwd)
    override = [word for flag, _expr in dropped for word in (flag, "")]
    retry_state, retry_recorder, retry_database = _open(paths, [*pytest_args, *override], rootdir)
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
    ``@given`` tests in it are added as by
    :func:`~hypofuzz_nb.notebook_tests.collect_namespace`.

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
        extra = namespace_targets(namespace, notebook_name, database)
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

    The same listing comes back (not collected again) while the files it read are
    unchanged (see :mod:`hypofuzz_nb.listing_cache`): treat it as read-only.

    Never raises because nothing is fuzzable or a test file fails to import (the
    collection is then empty, or lists the error); raises
    :class:`~hypofuzz_nb.errors.NoSuchPath`,
    :class:`~hypofuzz_nb.errors.TestImportError` for a conftest.py,
    :class:`~hypofuzz_nb.errors.PytestUsageError` and
    :class:`~hypofuzz_nb.errors.DatabasePathIsFile` as :func:`collect_tests` does.
    """
    if isinstance(paths, str):
        paths = [paths]
    listed = [os.fspath(p) for p in paths]
    args = _as_args(pytest_args)

    def make() -> Collection:
        collection = _collect_fuzzable(listed, args, rootdir)
        collection.close()
        return collection

    return cached_listing(listed, args, rootdir, make)


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
    state, _recorder, database = _open(list(paths), pytest_args, rootdir)
    state.close()
    return database
