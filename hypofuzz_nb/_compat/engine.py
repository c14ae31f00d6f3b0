"""Private parts of Hypothesis' engine: running a test on a given choice sequence,
its observability records, its providers and its settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from random import Random

# --- reproduce (used by hypofuzz_nb.reproduce) ----------------------------------------


def reproduce_call_with_settings(test: object, settings: object, kwargs: dict) -> object:
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


# --- worker (used by hypofuzz_nb.fuzz_loop) ----------------------------------------
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


# --- engine (used by the fuzzing modules: engine, runner, corpus, observations, mutate) -
# Running one input directly, as fuzz_one_input does internally, without the 0.4-0.5 ms
# fixed cost of Hypothesis' engine per run.


class EngineStatus(IntEnum):
    """How one input ended: the one vocabulary of outcomes.

    ``OVERRUN`` to ``INTERESTING`` are Hypothesis' ConjectureData statuses, with
    their values (which are also the keys of a report's ``status_counts``).
    ``HANG`` is ours: the input ran past the per-input timeout and was interrupted.
    """

    HANG = -1
    OVERRUN = 0
    INVALID = 1
    VALID = 2
    INTERESTING = 3


#: The event under which Hypothesis records why an input was rejected (``assume``).
ENGINE_GAVE_UP_EVENT = "gave up because"

#: Hypothesis' statuses, indexed by their values: a cheap int -> EngineStatus.
_DATA_STATUSES = (
    EngineStatus.OVERRUN,
    EngineStatus.INVALID,
    EngineStatus.VALID,
    EngineStatus.INTERESTING,
)


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


def engine_execute(
    state: Any, data: Any, stop_exceptions: tuple = ()
) -> tuple[EngineStatus, BaseException | None]:
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
            status = _DATA_STATUSES[data.status]
        except StopTest:
            status = _DATA_STATUSES[data.status]
        except UnsatisfiedAssumption as e:
            status = EngineStatus.INVALID
            data.events[ENGINE_GAVE_UP_EVENT] = e.reason or ""
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
    """Whether ``choice`` is a value a draw with ``constraints`` could have made."""
    from hypothesis.internal.conjecture.choice import choice_permitted

    return choice_permitted(choice, constraints)


def engine_features(data: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """``(events, target observations)`` of a finished run."""
    return data.events, data.target_observations


def engine_reproduction_decorator(choices: Any) -> str:
    """The ``@reproduce_failure(...)`` line that replays ``choices``."""
    from hypothesis.core import reproduction_decorator

    return reproduction_decorator(tuple(choices))


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
    """The generated arguments of a run made under :func:`engine_observing`, by name."""
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


def engine_provider_random(provider: Any) -> Random | None:
    """The Random that a provider of :func:`engine_provider_base` draws from (None
    where Hypothesis gave it none)."""
    return provider._random


# --- replay (used by hypofuzz_nb.replay) ------------------------------------------


def replay_sort_key(data: Any) -> tuple[int, tuple[int, ...]]:
    """Hypothesis' shrink order of a finished run's choices: fewer choices first, then
    the simpler choice at the first difference (smaller sorts as simpler)."""
    from hypothesis.internal.conjecture.shrinker import sort_key

    return sort_key(data.nodes)


# --- reproduce (used by hypofuzz_nb.reproduce) -------------------------------------


def reproduce_test_settings(test: object) -> object | None:
    """The settings a ``@given`` test was decorated with (Hypothesis keeps them in
    ``_hypothesis_internal_use_settings``), or ``None`` if it has none."""
    return getattr(test, "_hypothesis_internal_use_settings", None)


# --- solver (used by hypofuzz_nb.solver_child) ---------------------------------------
# The solver child runs a test through a subclass of the CrossHair backend, registered
# under a name of our own, and reads each test case's choices from its observation.


def solver_register_backend(name: str, provider_path: str) -> None:
    """Make ``settings(backend=name)`` use the PrimitiveProvider at ``provider_path``
    (``"module.Class"``, imported by Hypothesis when a test first uses it)."""
    from hypothesis.internal.conjecture.providers import AVAILABLE_PROVIDERS

    AVAILABLE_PROVIDERS[name] = provider_path


def solver_record_choices() -> None:
    """Make test-case observations carry their choice nodes, and stop Hypothesis from
    tracing coverage for them (this process only: the solver child)."""
    from hypothesis.internal import observability

    observability.OBSERVABILITY_CHOICES = True
    observability.OBSERVABILITY_COLLECT_COVERAGE = False


def solver_observation_values(observation: Any) -> tuple[Any, ...] | None:
    """The values of a test-case observation's choice nodes (forced ones included,
    possibly symbolic), or ``None`` if it carries none."""
    nodes = getattr(getattr(observation, "metadata", None), "choice_nodes", None)
    if nodes is None:
        return None
    return tuple(node.value for node in nodes)
