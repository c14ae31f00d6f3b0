"""Mutation of choice sequences, and the provider for fresh draws.

A mutation turns a parent input (its full choice sequence, plus the node types,
constraints and ``was_forced`` flags recorded when it ran) into a *prefix*: a full
choice sequence that the engine replays through ``ConjectureData(prefix=...)``.
Forced positions stay in the prefix, so stored and mutated inputs replay aligned;
where a mutation misaligns the sequence, Hypothesis substitutes the simplest
permitted choice, and past the end of the prefix every draw comes from
:class:`FuzzProvider`.

Guarantees: every function here is pure given its ``Random``, never raises on a
well-formed parent, and returns a tuple of choices of at most ``max_choices``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from random import Random
from typing import Any

from hypofuzz_nb import _compat

__all__ = ["FuzzProvider", "Mutator", "Seed", "complexity"]

NodeT = tuple[str, dict, Any, bool]  # (type, constraints, value, was_forced)

#: node type -> the Constants attribute that holds candidates for it
_SUBSTITUTABLE = {"integer": "ints", "string": "strings", "bytes": "bytes"}
#: Positions of one input that :meth:`Mutator.substitutions` tries constants at.
MAX_SUBSTITUTION_POSITIONS = 64
#: Share of integer draws past a prefix that take a value at or next to a bound.
BOUNDARY_INTEGER_PROBABILITY = 0.05
#: Code objects mined for constants, at most; then the constants stay as they are.
MAX_MINED_CODES = 10_000
#: Longest string or bytes constant kept, and the largest integer constant's magnitude.
MAX_CONSTANT_LENGTH = 64
MAX_CONSTANT_INT = 1 << 64

_INTERESTING_INTS = (0, 1, -1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256)


def _choice_size(value: Any) -> float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return abs(value)
    if isinstance(value, float):
        return abs(value) if math.isfinite(value) else math.inf
    return len(value) * 256 + (value[0] if isinstance(value, bytes) and value else 0)


def complexity(choices: tuple) -> tuple:
    """A Hypothesis-like complexity order: fewer choices first, then simpler values."""
    sizes = tuple(_choice_size(v) for v in choices)
    return (len(choices), sum(sizes), sizes)


@dataclass(slots=True, eq=False)
class Seed:
    """An input the mutator can start from: what ran, and how it was drawn."""

    choices: tuple
    nodes: tuple[NodeT, ...] = ()
    spans: tuple[tuple[int, int, int], ...] = ()
    key: tuple = field(default=())

    def __post_init__(self) -> None:
        if not self.key:
            self.key = complexity(self.choices)


class FuzzProvider(_compat.engine_provider_base()):  # type: ignore[misc]
    """Hypothesis' own random provider (with its boundary values and the constants it
    mines from the code under test), plus extra boundary integers near the bounds."""

    def draw_integer(self, min_value=None, max_value=None, *, weights=None, shrink_towards=0):
        rnd = _compat.engine_provider_random(self)
        if weights is None and rnd is not None and rnd.random() < BOUNDARY_INTEGER_PROBABILITY:
            candidates = [v for v in (min_value, max_value) if v is not None]
            if min_value is not None:
                candidates.append(min_value + 1)
            if max_value is not None:
                candidates.append(max_value - 1)
            candidates = [
                v
                for v in candidates
                if (min_value is None or v >= min_value) and (max_value is None or v <= max_value)
            ]
            if candidates:
                return rnd.choice(candidates)
        return super().draw_integer(
            min_value, max_value, weights=weights, shrink_towards=shrink_towards
        )


def _tweak_integer(
    value: int, constraints: dict, rnd: Random, constants: tuple[int, ...] = ()
) -> int:
    lo, hi = constraints.get("min_value"), constraints.get("max_value")
    r = rnd.random()
    if constants and r < 0.3:
        # The code's own literals are what its comparisons test against: the cheapest
        # way past an `if x == 0x48` is to try 0x48.
        new = rnd.choice(constants)
    elif lo is not None and hi is not None and hi - lo <= 4096 and r < 0.6:
        new = rnd.randint(lo, hi)
    elif r < 0.4:
        new = value + rnd.choice((-1, 1)) * rnd.randint(1, 16)
    elif r < 0.55:
        new = value + rnd.choice((-1, 1)) * (1 << rnd.randint(0, 64))
    elif r < 0.7:
        new = rnd.choice(_INTERESTING_INTS) * rnd.choice((1, -1))
    elif r < 0.8:
        new = rnd.choice([v for v in (lo, hi, value ^ 1, -value) if v is not None])
    elif lo is not None and hi is not None:
        new = rnd.randint(lo, hi)
    else:
        base = lo if lo is not None else (hi if hi is not None else 0)
        new = base + rnd.choice((1, -1)) * rnd.randint(0, 1 << rnd.randint(1, 64))
    if lo is not None:
        new = max(lo, new)
    if hi is not None:
        new = min(hi, new)
    return new


def _tweak_float(value: float, rnd: Random) -> float:
    options = (
        lambda: value + rnd.choice((-1.0, 1.0)) * rnd.randint(1, 16),
        lambda: value * 2,
        lambda: value / 2,
        lambda: -value,
        lambda: float(int(value)) if math.isfinite(value) else 0.0,
        lambda: rnd.choice((0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e308, 5e-324)),
        lambda: rnd.uniform(-1e6, 1e6),
    )
    return rnd.choice(options)()


def _tweak_bytes(
    value: bytes, constraints: dict, rnd: Random, constants: tuple[bytes, ...] = ()
) -> bytes:
    data = bytearray(value)
    r = rnd.random()
    if constants and r < 0.1:
        i = rnd.randint(0, len(data))
        data[i:i] = rnd.choice(constants)
    elif data and r < 0.45:
        data[rnd.randrange(len(data))] = rnd.randrange(256)
    elif r < 0.7:
        data.insert(rnd.randint(0, len(data)), rnd.randrange(256))
    elif data and r < 0.85:
        del data[rnd.randrange(len(data))]
    elif data:
        i = rnd.randrange(len(data))
        data[i] = (data[i] + rnd.choice((-1, 1))) % 256
    else:
        data.append(rnd.randrange(256))
    lo, hi = constraints.get("min_size", 0), constraints.get("max_size")
    if hi is not None and len(data) > hi:
        del data[hi:]
    while len(data) < lo:
        data.append(rnd.randrange(256))
    return bytes(data)


def _tweak_string(value: str, constraints: dict, rnd: Random, donors: list[str]) -> str | None:
    r = rnd.random()
    if r < 0.3 and donors:
        return rnd.choice(donors)
    chars = list(value)
    fresh = _compat.engine_choice_from_index(
        rnd.randrange(1, 1 << rnd.randint(1, 12)), "string", constraints
    )
    if not isinstance(fresh, str) or not fresh:
        return None
    if chars and r < 0.6:
        chars[rnd.randrange(len(chars))] = fresh[0]
    elif r < 0.8:
        chars.insert(rnd.randint(0, len(chars)), fresh[0])
    elif chars:
        del chars[rnd.randrange(len(chars))]
    else:
        return fresh
    return "".join(chars)


class Constants:
    """Literal constants of the code under test, by type: mutation dictionaries of at
    most ``LIMIT`` values each."""

    LIMIT = 512

    def __init__(self) -> None:
        self.ints: tuple[int, ...] = ()
        self.bytes: tuple[bytes, ...] = ()
        self.strings: tuple[str, ...] = ()
        self._seen: set = set()

    def add_code(self, code: Any) -> None:
        """Mine ``code`` (a code object of the code under test) once: its literal
        constants, and the module-level constants of its module that it names
        (``MAGIC = 0xCAFE`` ... ``if x == MAGIC``)."""
        if code in self._seen or len(self._seen) > MAX_MINED_CODES:
            return
        self._seen.add(code)
        ints, bs, strs = set(self.ints), set(self.bytes), set(self.strings)
        module_globals = _module_globals(code.co_filename)
        named = [module_globals.get(name) for name in code.co_names]
        for c in (*code.co_consts, *named):
            if isinstance(c, bool) or c is None:
                continue
            if isinstance(c, int) and abs(c) < MAX_CONSTANT_INT:
                ints.update((c, c + 1, c - 1))
            elif isinstance(c, bytes) and 0 < len(c) <= MAX_CONSTANT_LENGTH:
                bs.add(c)
                ints.update(c)
            elif isinstance(c, str) and 0 < len(c) <= MAX_CONSTANT_LENGTH:
                strs.add(c)
                bs.add(c.encode("utf-8", "replace"))
                if len(c) == 1:
                    ints.add(ord(c))
        self.ints = tuple(sorted(ints))[: self.LIMIT]
        self.bytes = tuple(sorted(bs))[: self.LIMIT]
        self.strings = tuple(sorted(strs))[: self.LIMIT]


_NO_CONSTANTS = Constants()
_GLOBALS_BY_FILE: dict[str, dict] = {}


def _module_globals(filename: str) -> dict:
    """The globals of the loaded module defined in ``filename`` ({} if none)."""
    import sys

    found = _GLOBALS_BY_FILE.get(filename)
    if found is None:
        found = {}
        for module in list(sys.modules.values()):
            if getattr(module, "__file__", None) == filename:
                found = module.__dict__
                break
        _GLOBALS_BY_FILE[filename] = found
    return found


def mutate_value(
    node: NodeT, rnd: Random, donors: list[Any] = (), constants: Constants = _NO_CONSTANTS
) -> Any:
    """A new value for one node, near the old one where that makes sense; the old value
    if no permitted new one was found."""
    choice_type, constraints, value, _forced = node
    for _ in range(3):
        if choice_type == "boolean":
            new: Any = not value
        elif choice_type == "integer":
            new = _tweak_integer(value, constraints, rnd, constants.ints)
        elif choice_type == "float":
            new = _tweak_float(value, rnd)
        elif choice_type == "bytes":
            new = _tweak_bytes(value, constraints, rnd, constants.bytes)
        else:
            strings = [d for d in donors if isinstance(d, str)] + list(constants.strings)
            new = _tweak_string(value, constraints, rnd, strings)
        if new is not None and _compat.engine_choice_permitted(new, constraints):
            return new
    return value


class Mutator:
    """Turns parents into prefixes to run. ``max_choices`` bounds every result."""

    def __init__(self, rnd: Random, *, max_choices: int = 8 * 1024) -> None:
        self.rnd = rnd
        self.max_choices = max_choices
        self.constants = Constants()

    def substitutions(self, seed: Seed, codes: Iterable[Any] = ()) -> Iterator[tuple]:
        """Inputs that differ from ``seed`` in one drawn value, replaced by a literal
        constant of the code under test: those of ``codes`` first (where ``seed``
        showed something new, so most likely what the next comparison tests against),
        then the others known. Lazy; each (position, constant) once.

        Random mutation hits the right constant at the right position about once in
        a thousand inputs; a chain of comparisons (``if x[0] == 0x48: if x[1] ==
        0x59: ...``) needs that at every step. Trying each pair once climbs a step in
        at most positions x constants inputs."""
        nodes = seed.nodes
        if not nodes or len(nodes) != len(seed.choices):
            return
        positions = [
            i for i, node in enumerate(nodes) if not node[3] and node[0] in _SUBSTITUTABLE
        ][:MAX_SUBSTITUTION_POSITIONS]
        if not positions:
            return
        preferred = Constants()
        for code in codes:
            preferred.add_code(code)
        tried: set = set()
        for pool in (preferred, self.constants):
            for i in positions:
                kind, constraints, value, _forced = nodes[i]
                for c in getattr(pool, _SUBSTITUTABLE[kind]):
                    if type(c) is type(value) and c == value:
                        continue
                    if (i, c) in tried or not _compat.engine_choice_permitted(c, constraints):
                        continue
                    tried.add((i, c))
                    choices = list(seed.choices)
                    choices[i] = c
                    yield tuple(choices[: self.max_choices])

    def mutate(self, parent: Seed, other: Seed | None = None) -> tuple:
        """One to a few stacked mutations of ``parent`` (``other`` is for splicing)."""
        rnd = self.rnd
        choices = list(parent.choices)
        nodes = parent.nodes
        for _ in range(1 + int(rnd.expovariate(1.0))):
            r = rnd.random()
            if r < 0.55 or not choices:
                choices = self._change_one(choices, nodes, other)
            elif r < 0.65 and other is not None and other.choices:
                choices = self._splice(choices, other.choices)
            elif r < 0.9:
                choices = self._span_op(choices, parent.spans, other)
            else:
                # keep a prefix, draw the rest fresh
                choices = choices[: rnd.randint(0, len(choices))]
            nodes = ()  # after a structural change the old nodes no longer line up
            if rnd.random() < 0.5:
                break
        return tuple(choices[: self.max_choices])

    def _change_one(self, choices: list, nodes: tuple, other: Seed | None) -> list:
        rnd = self.rnd
        if not choices:
            return choices
        if nodes and len(nodes) == len(choices):
            free = [i for i, n in enumerate(nodes) if not n[3]]
            if not free:
                return choices
            i = rnd.choice(free)
            node = nodes[i]
        else:
            i = rnd.randrange(len(choices))
            node = (_type_of(choices[i]), None, choices[i], False)
        donors = list(other.choices) if other is not None else []
        if node[1] is None:
            choices[i] = _mutate_untyped(choices[i], rnd, donors)
        else:
            choices[i] = mutate_value(node, rnd, donors, self.constants)
        return choices

    def _splice(self, choices: list, other: tuple) -> list:
        rnd = self.rnd
        i = rnd.randint(0, len(choices))
        j = rnd.randint(0, len(other))
        if rnd.random() < 0.5:
            j = min(i, len(other))  # aligned splice keeps the structure
        return choices[:i] + list(other[j:])

    def _span_op(self, choices: list, spans: tuple, other: Seed | None) -> list:
        rnd = self.rnd
        valid = [s for s in spans if s[2] <= len(choices)]
        if not valid:
            if not choices:
                return choices
            a = rnd.randrange(len(choices))
            b = min(len(choices), a + rnd.randint(1, 8))
            label, start, end = 0, a, b
        else:
            label, start, end = rnd.choice(valid)
        r = rnd.random()
        if r < 0.35:
            return choices[:start] + choices[end:]  # delete
        if r < 0.7:
            return choices[:end] + choices[start:end] + choices[end:]  # duplicate
        if r < 0.85 and other is not None and other.spans:
            same = [s for s in other.spans if s[0] == label] or list(other.spans)
            _, os_, oe = rnd.choice(same)
            return choices[:start] + list(other.choices[os_:oe]) + choices[end:]  # replace
        # swap with another span of the same label
        same = [s for s in valid if s[0] == label and (s[2] <= start or s[1] >= end)]
        if not same:
            return choices[:start] + choices[end:]
        _, s2, e2 = rnd.choice(same)
        if s2 >= end:
            return (
                choices[:start]
                + choices[s2:e2]
                + choices[end:s2]
                + choices[start:end]
                + choices[e2:]
            )
        return (
            choices[:s2] + choices[start:end] + choices[e2:start] + choices[s2:e2] + choices[end:]
        )


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float", bytes: "bytes", str: "string"}[type(value)]


def _mutate_untyped(value: Any, rnd: Random, donors: list) -> Any:
    """Mutate a value whose constraints we do not know; misfits are fixed by replay."""
    kind = _type_of(value)
    if kind == "boolean":
        return not value
    if kind == "integer":
        return _tweak_integer(value, {}, rnd)
    if kind == "float":
        return _tweak_float(value, rnd)
    if kind == "bytes":
        return _tweak_bytes(value, {"min_size": 0, "max_size": None}, rnd)
    if donors and rnd.random() < 0.5:
        strings = [d for d in donors if isinstance(d, str)]
        if strings:
            return rnd.choice(strings)
    return value[:-1] if value and rnd.random() < 0.5 else value + chr(rnd.randrange(32, 127))
