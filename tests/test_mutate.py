"""Mutation: results respect the parents' constraints, stay bounded, and can evolve
an input towards a deep branch."""

from __future__ import annotations

import math
from random import Random

from hypofuzz_nb.mutate import Constants, FuzzProvider, Mutator, Seed, complexity, mutate_value

INT_0_255 = {"min_value": 0, "max_value": 255, "weights": None, "shrink_towards": 0}
BYTES = {"min_size": 2, "max_size": 6}
FLOAT = {
    "min_value": -10.0,
    "max_value": 10.0,
    "allow_nan": False,
    "smallest_nonzero_magnitude": 5e-324,
}


def test_complexity_orders_by_length_then_values() -> None:
    assert complexity((1, 2)) < complexity((0, 0, 0))
    assert complexity((0, 1)) < complexity((0, 5))
    assert complexity((b"",)) < complexity((b"ab",))
    assert complexity((True,)) > complexity((False,))
    assert math.isinf(complexity((math.nan,))[1])


def test_mutated_values_respect_constraints() -> None:
    rnd = Random(0)
    for _ in range(2000):
        v = mutate_value(("integer", INT_0_255, rnd.randint(0, 255), False), rnd)
        assert 0 <= v <= 255
        b = mutate_value(("bytes", BYTES, b"abc", False), rnd)
        assert 2 <= len(b) <= 6
        f = mutate_value(("float", FLOAT, 1.5, False), rnd)
        assert -10.0 <= f <= 10.0 and not math.isnan(f)
    assert mutate_value(("boolean", {"p": 0.5}, True, False), rnd) is False


def test_mutations_are_bounded_and_keep_forced_positions_in_place() -> None:
    rnd = Random(1)
    mutator = Mutator(rnd, max_choices=20)
    nodes = []
    for i in range(4):
        nodes.append(("boolean", {"p": 0.5}, True, True))  # forced "more?" booleans
        nodes.append(("integer", INT_0_255, i, False))
    nodes.append(("boolean", {"p": 0.5}, False, False))
    choices = tuple(n[2] for n in nodes)
    parent = Seed(choices, tuple(nodes), ((0, 0, 2), (0, 2, 4), (0, 4, 6), (0, 6, 8)))
    other = Seed((True, 200, True, 201, False))
    results = [mutator.mutate(parent, other) for _ in range(3000)]
    assert all(isinstance(r, tuple) and len(r) <= 20 for r in results)
    one_change = [r for r in results if len(r) == len(choices)]
    # single-value changes never touch the forced booleans
    assert any(r != choices for r in one_change)
    lengths = {len(r) for r in results}
    assert min(lengths) < len(choices) < max(lengths)  # deletes and duplicates happen
    assert any(200 in r for r in results)  # splicing from the other entry


def test_constants_from_the_code_under_test_feed_mutation() -> None:
    def code_under_test(x, s):
        return x == 4242 and s == "needle"

    constants = Constants()
    constants.add_code(code_under_test.__code__)
    assert 4242 in constants.ints and "needle" in constants.strings
    rnd = Random(2)
    node = (
        "integer",
        {"min_value": None, "max_value": None, "weights": None, "shrink_towards": 0},
        0,
        False,
    )
    assert any(mutate_value(node, rnd, (), constants) == 4242 for _ in range(500))


def test_fuzz_provider_draws_boundaries() -> None:
    from hypothesis import given
    from hypothesis import settings as Settings
    from hypothesis import strategies as st

    from hypofuzz_nb import _compat

    seen: set[int] = set()

    @given(st.lists(st.integers(10, 20), min_size=200, max_size=200))
    def draws(xs):
        seen.update(xs)

    state = _compat.engine_make_state(draws, {}, Settings(database=None, deadline=None))
    data = _compat.engine_new_data((), Random(3), FuzzProvider, 10_000)
    assert _compat.engine_execute(state, data)[0] == _compat.EngineStatus.VALID
    assert seen <= set(range(10, 21))
    assert {10, 20} <= seen


def _string_constraints() -> dict:
    """The constraints Hypothesis records for a drawn ``st.text(alphabet=a-z)``."""
    from hypothesis import given
    from hypothesis import settings as Settings
    from hypothesis import strategies as st

    from hypofuzz_nb import _compat

    @given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=10))
    def draws(s):
        pass

    state = _compat.engine_make_state(draws, {}, Settings(database=None, deadline=None))
    data = _compat.engine_new_data((), Random(0), FuzzProvider, 100)
    _compat.engine_execute(state, data)
    (node,) = _compat.engine_nodes(data)
    return node[1]


def test_substitutions_put_each_constant_at_each_free_position_once() -> None:
    def near(frame):
        return frame[0] == 0x48

    mutator = Mutator(Random(4))
    mutator.constants.ints = (4242, 77)
    mutator.constants.strings = ("needle", "NO")  # "NO" is outside the alphabet
    nodes = (
        ("boolean", {"p": 0.5}, True, True),  # forced: never substituted
        ("integer", INT_0_255, 5, False),
        ("integer", INT_0_255, 5, True),
        ("string", _string_constraints(), "", False),
        ("integer", INT_0_255, 0, False),
    )
    seed = Seed(tuple(n[2] for n in nodes), nodes)
    out = list(mutator.substitutions(seed, [near.__code__]))
    assert len(out) == len(set(out))
    # the constants of the code where the seed showed something new come first
    assert out[:5] == [(True, v, 5, "", 0) for v in (0, 1, 0x47, 0x48, 0x49)]
    for prefix in out:
        changed = [i for i, (a, b) in enumerate(zip(prefix, seed.choices, strict=True)) if a != b]
        assert len(changed) == 1 and changed[0] in (1, 3, 4), prefix
        value = prefix[changed[0]]
        if changed[0] == 3:
            assert value == "needle"
        else:
            assert 0 <= value <= 255  # 4242 does not fit
    assert (True, 5, 5, "needle", 0) in out
    assert (True, 5, 5, "", 77) in out
    assert (True, 5, 5, "", 0x48) in out
    # a seed without its recorded nodes has nothing to substitute
    assert list(mutator.substitutions(Seed(seed.choices))) == []
