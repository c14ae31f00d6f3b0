"""The engine section of hypofuzz_nb._compat against the installed Hypothesis."""

from __future__ import annotations

import sys
from random import Random

import pytest
from hypothesis import HealthCheck, Phase, event, given, target
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase
from hypothesis.internal.conjecture.data import Status
from hypothesis.internal.conjecture.providers import PrimitiveProvider

from hypofuzz_nb import _compat
from hypofuzz_nb.records import decode_choices, encode_choices

SETTINGS = Settings(deadline=None, database=None)


def run(test, prefix=(), kwargs=None, max_choices=1000, stop=()):
    state = _compat.engine_make_state(test, kwargs or {}, SETTINGS)
    data = _compat.engine_new_data(prefix, Random(0), _compat.engine_provider_base(), max_choices)
    status, exc = _compat.engine_execute(state, data, stop)
    return status, exc, data, state


def test_status_values_match_hypothesis() -> None:
    for name in ("OVERRUN", "INVALID", "VALID", "INTERESTING"):
        assert getattr(_compat.EngineStatus, name) == int(getattr(Status, name))
    # the hang is ours, and no Hypothesis status
    assert _compat.EngineStatus.HANG not in {int(s) for s in Status}


def test_execute_returns_engine_statuses() -> None:
    status, _, _, _ = run(needs_four)
    assert type(status) is _compat.EngineStatus


def test_provider_random_is_the_random_the_provider_draws_from() -> None:
    rnd = Random(1)
    data = _compat.engine_new_data((), rnd, _compat.engine_provider_base(), 100)
    assert _compat.engine_provider_random(_compat.engine_provider_base()(data)) is rnd
    assert _compat.engine_provider_random(_compat.engine_provider_base()(None)) is None


def test_provider_base_is_a_primitive_provider() -> None:
    assert issubclass(_compat.engine_provider_base(), PrimitiveProvider)


def test_given_settings() -> None:
    @Settings(max_examples=7)
    @given(st.integers())
    def decorated(x):
        pass

    assert _compat.engine_given_settings(decorated).max_examples == 7


@given(st.lists(st.integers(0, 9), min_size=4))
def needs_four(xs):
    event("length", len(xs))
    target(float(sum(xs)), label="sum")
    assert xs[:2] != [3, 4]


def test_execute_replays_full_choice_sequences_with_forced_positions() -> None:
    status, exc, data, _ = run(needs_four)
    assert status == _compat.EngineStatus.VALID and exc is None
    choices = _compat.engine_choices(data)
    nodes = _compat.engine_nodes(data)
    assert tuple(n[2] for n in nodes) == choices
    assert [n[3] for n in nodes][:8:2] == [True] * 4  # the forced "more?" booleans
    # a stored full sequence replays exactly, forced positions included
    failing = (True, 3, True, 4, True, 0, True, 0, False)
    status, exc, data, _ = run(needs_four, failing, max_choices=len(failing))
    assert status == _compat.EngineStatus.INTERESTING
    assert isinstance(exc, AssertionError)
    assert _compat.engine_choices(data) == failing
    events, targets = _compat.engine_features(data)
    assert events == {"length": "4"} or events == {"length": 4}
    assert targets == {"sum": 7.0}


def test_execute_statuses_for_assume_overrun_skip_and_stop() -> None:
    @given(st.integers())
    def rejects(x):
        from hypothesis import assume

        assume(False)

    status, _, data, _ = run(rejects)
    assert status == _compat.EngineStatus.INVALID
    assert _compat.ENGINE_GAVE_UP_EVENT in _compat.engine_features(data)[0]

    assert run(needs_four, max_choices=2)[0] == _compat.EngineStatus.OVERRUN

    @given(st.integers())
    def skips(x):
        pytest.skip("not today")

    assert run(skips)[0] == _compat.EngineStatus.INVALID

    class Stop(BaseException):
        pass

    @given(st.integers())
    def stops(x):
        raise Stop

    with pytest.raises(Stop):
        run(stops, stop=(Stop,))


def test_make_state_binds_fixture_kwargs_and_bound_methods() -> None:
    @given(x=st.integers(0, 3))
    def uses_fixture(fixture_value, x):
        assert fixture_value == "fx"

    assert run(uses_fixture, kwargs={"fixture_value": "fx"})[0] == _compat.EngineStatus.VALID

    class Holder:
        marker = "self-seen"

        @given(st.integers(0, 3))
        def method(self, x):
            assert self.marker == "self-seen"

    assert run(Holder().method)[0] == _compat.EngineStatus.VALID
    assert run(Holder.method, kwargs={"self": Holder()})[0] == _compat.EngineStatus.VALID


def test_spans_choice_helpers_and_reproduction_decorator() -> None:
    _, _, data, _ = run(needs_four, (True, 1, True, 2, True, 3, True, 4, False))
    spans = _compat.engine_spans(data)
    assert spans and all(0 <= s < e <= 9 for _, s, e in spans)
    constraints = _compat.engine_nodes(data)[1][1]
    assert _compat.engine_choice_from_index(0, "integer", constraints) == 0
    assert _compat.engine_choice_permitted(9, constraints)
    assert not _compat.engine_choice_permitted(10, constraints)
    line = _compat.engine_reproduction_decorator((True, 3))
    assert line.startswith("@reproduce_failure(")


def test_observing_and_jsonable() -> None:
    failing = (True, 3, True, 4, True, 0, True, 0, False)
    state = _compat.engine_make_state(needs_four, {}, SETTINGS)
    data = _compat.engine_new_data(failing, Random(0), _compat.engine_provider_base(), 100)
    with _compat.engine_observing(state) as out:
        _, exc = _compat.engine_execute(state, data)
    assert "needs_four(" in out["representation"] and "[3, 4, 0, 0]" in out["representation"]
    assert _compat.engine_observed_arguments(data)["xs"] == [3, 4, 0, 0]
    assert isinstance(exc, AssertionError)
    assert _compat.engine_to_jsonable({"a": (1, 2)}) == {"a": [1, 2]}


def test_overridden_given_shrinks_under_the_given_key_and_restores() -> None:
    @given(st.lists(st.integers(0, 9), min_size=4))
    def shrinkable(xs):
        assert 7 not in xs

    db = InMemoryExampleDatabase()
    key = b"k" * 48
    db.save(
        key + b".secondary", encode_choices((True, 5, True, 7, True, 9, True, 8, True, 1, False))
    )
    before = shrinkable._hypothesis_internal_use_settings
    shrink = Settings(
        phases=[Phase.reuse, Phase.shrink],
        database=db,
        suppress_health_check=list(HealthCheck),
    )
    with _compat.engine_overridden_given(shrinkable, shrink, key), pytest.raises(AssertionError):
        shrinkable()
    assert shrinkable._hypothesis_internal_use_settings is before
    assert not hasattr(shrinkable, "_hypothesis_internal_database_key")
    shrunk = min((decode_choices(v) for v in db.fetch(key)), key=len)
    # Hypothesis shrank the 5-element list to the minimal [7, 0, 0, 0] or similar
    assert len(shrunk) == 9 and 7 in shrunk and sum(v for v in shrunk if v is not True) == 7


def test_clear_leftover_monitoring_clears_tool_3_events() -> None:
    mon = getattr(sys, "monitoring", None)
    if mon is None:
        # Python 3.11 has no sys.monitoring: nothing to clear, and no error.
        assert sys.version_info < (3, 12)
        _compat.engine_clear_leftover_monitoring()
        return
    assert mon.get_tool(3) is None, "tool 3 is in use before the test"
    mon.use_tool_id(3, "leftover")
    mon.set_events(3, mon.events.LINE)
    mon.free_tool_id(3)
    _compat.engine_clear_leftover_monitoring()
    assert mon.get_tool(3) is None
    mon.use_tool_id(3, "check")
    try:
        assert mon.get_events(3) == 0
    finally:
        mon.free_tool_id(3)


def test_replay_sort_key_orders_shorter_then_simpler_first() -> None:
    @given(st.lists(st.integers(0, 255)))
    def test(xs):
        pass

    keys = {}
    for name, prefix in {
        "empty": (False,),
        "zero": (True, 0, False),
        "big": (True, 200, False),
        "two": (True, 0, True, 0, False),
    }.items():
        status, _exc, data, _state = run(test, prefix, max_choices=len(prefix))
        assert status == _compat.EngineStatus.VALID
        keys[name] = _compat.replay_sort_key(data)
    assert sorted(keys, key=keys.get) == ["empty", "zero", "big", "two"]


def test_solver_register_backend_makes_settings_accept_the_name() -> None:
    from hypothesis.internal.conjecture.providers import AVAILABLE_PROVIDERS

    name = "hypofuzz_nb_compat_test"
    try:
        _compat.solver_register_backend(name, "hypofuzz_nb.mutate.FuzzProvider")
        assert Settings(backend=name).backend == name
    finally:
        AVAILABLE_PROVIDERS.pop(name, None)


def test_solver_record_choices_puts_the_choice_values_in_observations(monkeypatch) -> None:
    from hypothesis.internal import observability

    monkeypatch.setattr(observability, "OBSERVABILITY_CHOICES", False)
    monkeypatch.setattr(observability, "OBSERVABILITY_COLLECT_COVERAGE", True)
    _compat.solver_record_choices()
    assert observability.OBSERVABILITY_CHOICES
    assert not observability.OBSERVABILITY_COLLECT_COVERAGE
    seen: list = []

    @Settings(database=None, max_examples=5, phases=[Phase.generate])
    @given(st.integers(0, 10), st.booleans())
    def inner(x, flag):
        seen.append((x, flag))

    values = []
    with observability.with_observability_callback(
        lambda obs: (
            values.append(_compat.solver_observation_values(obs))
            if obs.type == "test_case"
            else None
        )
    ):
        inner()
    assert [v for v in values if v is not None] == seen
    assert _compat.solver_observation_values(object()) is None
