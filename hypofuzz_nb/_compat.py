"""Every private Hypothesis and pytest API that hypofuzz_nb touches, and nothing else.

Hypothesis and pytest change their internals in minor releases. Keeping every such
use in this one module means a new release breaks one small file, and
``tests/test_compat.py`` checks each function here against the installed releases.

Sections are owned by the module that needs them; add to a section with a small
edit rather than rewriting the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


def collection_directory_database_paths(database: object) -> list[Any]:
    """The paths of every DirectoryBasedExampleDatabase in ``database``, looking inside
    Hypothesis' wrapper databases (read-only, multiplexed, background-write)."""
    from hypothesis.database import (
        BackgroundWriteDatabase,
        DirectoryBasedExampleDatabase,
        MultiplexedDatabase,
        ReadOnlyDatabase,
    )

    paths = []
    pending = [database]
    while pending and len(paths) < 1000:
        db = pending.pop()
        if isinstance(db, DirectoryBasedExampleDatabase):
            paths.append(db.path)
        elif isinstance(db, MultiplexedDatabase):
            pending.extend(db._wrapped)
        elif isinstance(db, ReadOnlyDatabase):
            pending.append(db._wrapped)
        elif isinstance(db, BackgroundWriteDatabase):
            pending.append(db._db)
    return paths


# --- store (used by hypofuzz_nb.store) ---------------------------------------------


def store_inner_databases(database: object) -> list[object]:
    """The databases a Hypothesis wrapper database delegates to ([] if not a wrapper).

    ReadOnlyDatabase keeps its inner database in ``_wrapped``, MultiplexedDatabase
    a tuple in ``_wrapped``, BackgroundWriteDatabase in ``_db``.
    """
    from hypothesis.database import (
        BackgroundWriteDatabase,
        MultiplexedDatabase,
        ReadOnlyDatabase,
    )

    if isinstance(database, MultiplexedDatabase):
        return list(database._wrapped)
    if isinstance(database, ReadOnlyDatabase):
        return [database._wrapped]
    if isinstance(database, BackgroundWriteDatabase):
        return [database._db]
    return []


def store_list_keys(database: object) -> list[bytes] | None:
    """Every key ``database`` holds values under, or ``None`` if it cannot list keys.

    Directory databases record their keys under the meta key
    ``DirectoryBasedExampleDatabase._metakeys_name``; the in-memory database
    keeps a dict ``data``; Redis keys carry the database's ``_prefix``.
    """
    from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase

    if isinstance(database, DirectoryBasedExampleDatabase):
        return list(database.fetch(DirectoryBasedExampleDatabase._metakeys_name))
    if isinstance(database, InMemoryExampleDatabase):
        return [key for key, values in list(database.data.items()) if values]
    try:
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:  # the redis extra is optional
        RedisExampleDatabase = None
    if RedisExampleDatabase is not None and isinstance(database, RedisExampleDatabase):
        prefix: bytes = database._prefix
        pattern = prefix
        for special in (b"\\", b"*", b"?", b"[", b"]"):  # glob-escape the prefix
            pattern = pattern.replace(special, b"\\" + special)
        return [
            key[len(prefix) :]
            for key in database.redis.scan_iter(match=pattern + b"*", count=1000)
            if key.startswith(prefix)
        ]
    return None


def store_directory_key_dir(database: object, key: bytes) -> str | None:
    """The directory holding ``key``'s values in an exact DirectoryBasedExampleDatabase.

    ``None`` for any other database (subclasses may override ``fetch``).
    """
    import os

    from hypothesis.database import DirectoryBasedExampleDatabase

    if type(database) is not DirectoryBasedExampleDatabase:
        return None
    return os.fspath(database._key_path(key))


def store_directory_fetch(database: object, key: bytes) -> list[bytes] | None:
    """``list(database.fetch(key))`` for an exact DirectoryBasedExampleDatabase, faster.

    Same files as Hypothesis' fetch (the key's directory from ``_key_path``), read
    with plain string paths instead of ``pathlib`` objects, which is about twice as
    fast for many small values. ``None`` for any other database (subclasses may
    override ``fetch``), so the caller falls back to the public ``fetch``.
    """
    import os

    from hypothesis.database import DirectoryBasedExampleDatabase

    if type(database) is not DirectoryBasedExampleDatabase:
        return None
    directory = os.fspath(database._key_path(key))
    try:
        names = os.listdir(directory)
    except OSError:  # no such key (or it was deleted meanwhile): Hypothesis yields nothing
        return []
    values = []
    join = os.path.join
    for name in names:
        try:
            with open(join(directory, name), "rb", buffering=0) as f:
                values.append(f.read())
        except OSError:  # deleted between listdir and open, as Hypothesis tolerates
            pass
    return values


def store_redis_fetch_many(database: object, keys: list[bytes]) -> list[list[bytes]] | None:
    """``[list(database.fetch(k)) for k in keys]`` in one round trip, for an exact
    ``RedisExampleDatabase``; ``None`` for any other database.

    Does what Hypothesis' ``fetch`` does for each key (``SMEMBERS`` of ``_prefix + key``
    and a reset of its expiry to ``_expire_after``), but in one non-transactional
    pipeline for all ``keys`` instead of one round trip per key. Errors of the
    connection propagate (the caller falls back to ``fetch``).
    """
    try:
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:  # the redis extra is optional
        return None
    if type(database) is not RedisExampleDatabase:
        return None
    prefix: bytes = database._prefix
    pipe = database.redis.pipeline(transaction=False)
    for key in keys:
        pipe.smembers(prefix + key)
        pipe.expire(prefix + key, database._expire_after)
    results = pipe.execute()
    return [list(results[2 * i]) for i in range(len(keys))]


# --- resilient (used by hypofuzz_nb.resilient) -------------------------------------
# DirectoryBasedExampleDatabase stores value v of key k in the file
# ``path / _hash(k) / _hash(v)`` and lists its keys under ``_metakeys_name``.


def resilient_background_write_inner(database: object) -> object:
    """The database a ``BackgroundWriteDatabase`` writes to (its ``_db``)."""
    return database._db  # type: ignore[attr-defined]


def resilient_directory_has_value(database: object, key: bytes, value: bytes) -> bool:
    """Whether ``value`` is stored under ``key`` and ``key`` is in the database's key list."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    db: Any = database
    if not db._value_path(key, value).is_file():
        return False
    if db._key_path(key).name == DirectoryBasedExampleDatabase._metakeys_hash:
        return True
    return db._value_path(DirectoryBasedExampleDatabase._metakeys_name, key).is_file()


def resilient_directory_delete_value(database: object, key: bytes, value: bytes) -> None:
    """Remove ``value``'s file only, never the key directory (which would race with
    another process saving into it). Raises ``OSError`` except for a missing file."""
    db: Any = database
    db._value_path(key, value).unlink(missing_ok=True)


def resilient_directory_probe_write(database: object, key: bytes) -> str | None:
    """The OS error that writing a file for ``key`` raises, as text, or ``None``."""
    import os
    import tempfile

    db: Any = database
    key_path = db._key_path(key)
    try:
        key_path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=key_path, prefix=".hypofuzz_nb-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        return f"{err.strerror or err} ({err.filename or key_path})"
    return None


# A RedisExampleDatabase keeps its key prefix in ``_prefix`` and its expiry in
# ``_expire_after``. redis-py keeps what a connection is made with in its pool's
# ``connection_class`` and ``connection_kwargs``. Our copy exists because of two
# redis-py defaults: ``Redis(host=...)`` retries a failed connect ten times with
# backoff up to 1 s (seconds per command while a server is down), and its jitter
# draws from the global ``random`` module, which Hypothesis watches while a test
# case draws its arguments (any thread touching it makes Hypothesis warn).

#: Connection settings of a pool that belong to that pool alone (redis-py's handlers
#: of server maintenance notifications point back at the pool that made them).
_REDIS_POOL_OWNED_KWARGS = (
    "maint_notifications_pool_handler",
    "oss_cluster_maint_notifications_handler",
)


def resilient_redis_private_copy(
    database: object, *, socket_timeout: float, connect_timeout: float
) -> object | None:
    """The same Redis database (server, credentials, key prefix, expiry, channel)
    through a client and connection pool of our own, or ``None`` if ``database`` is no
    exact ``RedisExampleDatabase`` or its client's pool cannot be copied (a Sentinel or
    a cluster pool, say).

    The copy retries a failed command once, after a fixed 20 ms (enough for a pooled
    connection that a restarted server dropped), never with jitter, and its socket
    timeouts are at most ``socket_timeout`` / ``connect_timeout`` seconds.
    """
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
        from redis.backoff import ConstantBackoff
        from redis.retry import Retry
    except ImportError:  # the redis extra is optional
        return None
    if type(database) is not RedisExampleDatabase:
        return None
    client: Any = database.redis
    pool = getattr(client, "connection_pool", None)
    if type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        return None

    def bounded(value: object, bound: float) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return min(float(value), bound)
        return bound

    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in _REDIS_POOL_OWNED_KWARGS}
    # Without a connect timeout of its own, redis-py connects with the socket timeout.
    user_connect = kwargs.get("socket_connect_timeout")
    if user_connect is None:
        user_connect = kwargs.get("socket_timeout")
    kwargs["socket_timeout"] = bounded(kwargs.get("socket_timeout"), socket_timeout)
    kwargs["socket_connect_timeout"] = bounded(user_connect, connect_timeout)
    kwargs["retry"] = Retry(ConstantBackoff(0.02), 1)
    try:
        copy_pool = redis.ConnectionPool(
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            **kwargs,
        )
        return RedisExampleDatabase(
            redis.Redis(connection_pool=copy_pool),
            expire_after=database._expire_after,
            key_prefix=database._prefix,
            listener_channel=database.listener_channel,
        )
    except Exception:  # an unusual client: the caller uses the database as it is
        return None


# --- watch (used by hypofuzz_nb.watch) -------------------------------------------------


def watch_supports_listeners(database: object) -> bool:
    """Whether ``database.add_listener`` will deliver changes by itself.

    The base class' ``_start_listening`` only warns. A directory database needs the
    optional watchdog package. A Redis database subscribes but nothing reads its
    pub/sub connection (hypofuzz_nb.watch does that itself), so it is ``False`` here.
    """
    import importlib.util

    from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

    if not isinstance(database, ExampleDatabase):
        return False
    if isinstance(database, DirectoryBasedExampleDatabase):
        return importlib.util.find_spec("watchdog") is not None
    if watch_is_redis_database(database):
        return False
    return type(database)._start_listening is not ExampleDatabase._start_listening


def watch_is_redis_database(database: object) -> bool:
    """Whether ``database`` is a ``RedisExampleDatabase`` (``False`` without the redis extra)."""
    try:
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:
        return False
    return isinstance(database, RedisExampleDatabase)


def watch_decode_redis_message(data: object) -> tuple[str, bytes, bytes | None] | None:
    """``(event, key, value)`` from a RedisExampleDatabase pub/sub payload, or ``None``.

    The payload is ``json.dumps([event, [base64(key), base64(value)]])`` (see its
    ``_publish``); anything else, or garbage, gives ``None``.
    """
    import base64
    import binascii
    import json

    try:
        event, (key, value) = json.loads(data)  # type: ignore[arg-type]
        return (
            str(event),
            base64.b64decode(key, validate=True),
            None if value is None else base64.b64decode(value, validate=True),
        )
    except (ValueError, TypeError, binascii.Error, RecursionError):
        return None


def watch_directory_value_names(database: object, key: bytes) -> list[str]:
    """The file names (value hashes) under ``key`` of a directory database, sorted:
    a fingerprint of the key's values that needs no file to be read."""
    import os

    db: Any = database
    try:
        return sorted(os.listdir(db._key_path(key)))
    except (FileNotFoundError, NotADirectoryError):
        return []


# --- failures (used by hypofuzz_nb.failures) -----------------------------------------


def failures_call_with_settings(test: object, settings: object, kwargs: dict) -> object:
    """Call the ``@given`` test ``test`` under ``settings`` instead of its own.

    A ``@given`` wrapper reads ``_hypothesis_internal_use_settings`` each time it is
    called, and ``@settings`` refuses to decorate a test twice, so the attribute is
    swapped for the duration of the call and restored afterwards.
    """
    previous = test._hypothesis_internal_use_settings  # type: ignore[attr-defined]
    test._hypothesis_internal_use_settings = settings  # type: ignore[attr-defined]
    try:
        return test(**kwargs)  # type: ignore[operator]
    finally:
        test._hypothesis_internal_use_settings = previous  # type: ignore[attr-defined]


# --- worker (used by hypofuzz_nb.worker) ------------------------------------------
# A worker process tells its supervisor which input it is about to run, so that an
# input that kills the process can still be saved.


def worker_current_choices() -> tuple[Any, ...] | None:
    """The choices drawn so far by the input running on this thread, or ``None``
    outside a Hypothesis test case. Called from inside the test body."""
    from hypothesis.control import _current_build_context

    context = _current_build_context.value
    data = getattr(context, "data", None)
    if data is None:
        return None
    return tuple(data.choices)


# --- engine (used by hypofuzz_nb.engine) ------------------------------------------
# Running one input directly, as fuzz_one_input does internally, without the 0.4-0.5 ms
# fixed cost of Hypothesis' engine per run.


class EngineStatus:
    """Hypothesis' ConjectureData status values, as plain ints (also the report's keys)."""

    OVERRUN = 0
    INVALID = 1
    VALID = 2
    INTERESTING = 3


def engine_provider_base() -> type:
    """Hypothesis' default PrimitiveProvider: random draws plus its boundary values and
    the constants it mines from the code under test. Our fuzz provider subclasses it."""
    from hypothesis.internal.conjecture.providers import HypothesisProvider

    return HypothesisProvider


def engine_make_state(wrapped_test: Any, kwargs: dict[str, Any], settings: Any) -> Any:
    """A StateForActualGivenExecution for ``wrapped_test`` (a @given function) bound to
    the extra keyword arguments ``kwargs`` (fixtures, parametrize values)."""
    import inspect
    from random import Random

    from hypothesis.core import StateForActualGivenExecution, process_arguments_to_given

    args: tuple = ()
    if inspect.ismethod(wrapped_test):
        # a test method bound to its instance: Hypothesis' wrapper takes self positionally
        args = (wrapped_test.__self__,)
        wrapped_test = wrapped_test.__func__
    handle = wrapped_test.hypothesis
    params = inspect.signature(wrapped_test).parameters
    _args, _kwargs, stuff = process_arguments_to_given(
        wrapped_test, args, dict(kwargs), handle._given_kwargs, params
    )
    return StateForActualGivenExecution(stuff, handle.inner_test, settings, Random(0), wrapped_test)


def engine_given_settings(wrapped_test: Any) -> Any:
    """The settings a @given test was decorated with (Settings.default if none)."""
    from hypothesis import settings as Settings

    function = getattr(wrapped_test, "__func__", wrapped_test)
    return getattr(function, "_hypothesis_internal_use_settings", None) or Settings.default


def engine_to_jsonable(obj: object) -> object:
    """Hypothesis' own JSON-able rendering of a generated value (for observations)."""
    from hypothesis.strategies._internal.utils import to_jsonable

    try:
        return to_jsonable(obj, avoid_realization=False)
    except Exception:
        return repr(obj)


def engine_new_data(prefix: Any, random: Any, provider: Any, max_choices: int) -> Any:
    """A ConjectureData replaying ``prefix`` (full choice sequence, forced positions
    included) and drawing from ``provider`` past it."""
    from hypothesis.internal.conjecture.data import ConjectureData

    return ConjectureData(
        prefix=tuple(prefix), random=random, provider=provider, max_choices=max_choices
    )


def engine_execute(state: Any, data: Any, stop_exceptions: tuple = ()) -> tuple:
    """Run one input. Returns ``(status, exception or None)``; ``data`` is frozen after.

    ``stop_exceptions`` are re-raised untouched (our own timeout interrupt). A skip
    (pytest.skip and friends) counts as an invalid input, as it does for Hypothesis.
    """
    from hypothesis.core import failure_exceptions_to_catch, skip_exceptions_to_reraise
    from hypothesis.errors import StopTest, UnsatisfiedAssumption
    from hypothesis.internal.escalation import InterestingOrigin

    exception = None
    try:
        try:
            state.execute_once(data)
            status = int(data.status)
        except StopTest:
            status = int(data.status)
        except UnsatisfiedAssumption as e:
            status = EngineStatus.INVALID
            data.events["gave up because"] = e.reason or ""
        except stop_exceptions:
            raise
        except skip_exceptions_to_reraise():
            status = EngineStatus.INVALID
        except failure_exceptions_to_catch() as e:
            status = EngineStatus.INTERESTING
            exception = e
            data.interesting_origin = InterestingOrigin.from_exception(e)
    finally:
        if not data.frozen:
            data.freeze()
    return status, exception


def engine_choices(data: Any) -> tuple:
    """The full choice sequence of a finished run (forced positions included)."""
    return data.choices


def engine_nodes(data: Any) -> tuple[tuple[str, dict, Any, bool], ...]:
    """The choice nodes of a finished run as ``(type, constraints, value, was_forced)``."""
    return tuple((n.type, n.constraints, n.value, n.was_forced) for n in data.nodes)


def engine_spans(data: Any, limit: int = 256) -> tuple[tuple[int, int, int], ...]:
    """Up to ``limit`` spans of a finished run as ``(label, start, end)`` choice indices
    (strategy draws, list elements): the units that span mutations move around."""
    out = []
    for span in data.spans:
        if span.end - span.start >= 1 and span.depth > 0:
            out.append((span.label, span.start, span.end))
            if len(out) >= limit:
                break
    return tuple(out)


def engine_choice_from_index(index: int, choice_type: str, constraints: dict) -> Any:
    """The ``index``-th simplest choice of a type (None if there is no such choice)."""
    from hypothesis.internal.conjecture.choice import choice_from_index

    try:
        return choice_from_index(index, choice_type, constraints)
    except Exception:
        return None


def engine_choice_permitted(choice: Any, constraints: dict) -> bool:
    from hypothesis.internal.conjecture.choice import choice_permitted

    return choice_permitted(choice, constraints)


def engine_features(data: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """``(events, target observations)`` of a finished run."""
    return data.events, data.target_observations


def engine_reproduction_decorator(choices: Any) -> str:
    from hypothesis.core import reproduction_decorator

    return reproduction_decorator(tuple(choices))


def engine_trimmed_traceback(exception: BaseException) -> str:
    """The user's traceback of ``exception``, with Hypothesis' own frames trimmed."""
    import traceback

    from hypothesis.internal.escalation import get_trimmed_traceback

    try:
        tb = get_trimmed_traceback(exception)
    except Exception:
        tb = exception.__traceback__
    return "".join(traceback.format_exception(type(exception), exception, tb))


@contextmanager
def engine_observing(state: Any) -> Iterator[dict[str, Any]]:
    """Turn on Hypothesis' representation-building for one input on this thread.

    Yields a dict filled on exit with ``representation`` and ``arguments``.
    """
    from hypothesis.internal.observability import with_observability_callback

    out: dict[str, Any] = {}

    def _ignore(observation: Any) -> None:
        pass

    try:
        with with_observability_callback(_ignore):
            yield out
    finally:
        out["representation"] = getattr(state, "_string_repr", "") or ""


def engine_observed_arguments(data: Any) -> dict[str, Any]:
    return {
        k.removeprefix("generate:"): v for k, v in getattr(data, "_observability_args", {}).items()
    }


@contextmanager
def engine_overridden_given(
    wrapped_test: Any, settings: Any, database_key: bytes
) -> Iterator[None]:
    """Run ``wrapped_test`` with ``settings`` and under ``database_key`` (restored after).

    Used to hand a failure to Hypothesis' own reuse+shrink phases under the test's key.
    """
    import inspect

    if inspect.ismethod(wrapped_test):
        wrapped_test = wrapped_test.__func__
    missing = object()
    old_settings = wrapped_test.__dict__.get("_hypothesis_internal_use_settings", missing)
    old_key = wrapped_test.__dict__.get("_hypothesis_internal_database_key", missing)
    wrapped_test._hypothesis_internal_use_settings = settings
    wrapped_test._hypothesis_internal_database_key = database_key
    try:
        yield
    finally:
        for name, old in (
            ("_hypothesis_internal_use_settings", old_settings),
            ("_hypothesis_internal_database_key", old_key),
        ):
            if old is missing:
                wrapped_test.__dict__.pop(name, None)
            else:
                setattr(wrapped_test, name, old)


def engine_clear_leftover_monitoring() -> None:
    """Hypothesis' observability frees sys.monitoring tool 3 but leaves its LINE events
    set, slowing every later run by ~15%; clear them if so."""
    import sys

    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None or monitoring.get_tool(3) is not None:
        return
    try:
        monitoring.use_tool_id(3, "hypofuzz_nb-cleanup")
    except ValueError:
        return
    try:
        monitoring.set_events(3, 0)
    finally:
        monitoring.free_tool_id(3)
