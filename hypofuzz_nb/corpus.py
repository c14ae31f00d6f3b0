"""The corpus of one fuzzed test: the inputs worth mutating, and which to run next.

For every behavior (see :mod:`hypofuzz_nb.behaviors`) the corpus keeps the smallest
input known to show it, and for up to :data:`FINGERPRINT_CORPUS_LIMIT` fingerprints
the smallest input showing that whole fingerprint. An entry lives as long as it is
the best for something; the corpus mirrors its entries to the store under
``K.hypofuzz.corpus`` (docs/DATABASE.md), adding and deleting them as they come and go.

What to run next: first the stored inputs (known failures, then the stored corpus
and the pareto front, smallest first), replayed exactly; then, every other input
while there are any, *focus* inputs (:meth:`Mutator.substitutions` of an entry that
showed a new behavior), and otherwise a mutation of an entry whose fingerprint was
hit least often.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from random import Random
from typing import Any

from hypofuzz_nb import _compat, behaviors
from hypofuzz_nb.mutate import Mutator, Seed, complexity
from hypofuzz_nb.records import decode_choices, encode_choices, pareto_key, secondary_key

__all__ = ["Corpus"]

#: Fingerprints whose smallest input is kept as a corpus entry (the rest are only
#: remembered by their smallest size).
FINGERPRINT_CORPUS_LIMIT = 500
#: Substitution inputs (Mutator.substitutions) tried per corpus entry that showed a
#: new behavior, and how many entries wait for theirs (the newest, deepest first).
FOCUS_BUDGET = 256
FOCUS_QUEUE = 32
#: Share of mutation inputs drawn fresh from the empty prefix instead.
FRESH_INPUT_PROBABILITY = 0.1
#: Share of mutations that get a second entry to splice from.
SPLICE_PROBABILITY = 0.3
#: Entries drawn for the tournament that picks a parent to mutate.
TOURNAMENT_SIZE = 3


@dataclass(slots=True, eq=False)
class _Entry:
    seed: Seed
    value: bytes  # the encoded choices, as stored
    fingerprint: int  # hash of the fingerprint it was first kept for
    owners: int = 0  # behaviors and fingerprints it is the best input of


class Corpus:
    """The inputs of one test worth mutating, mirrored to ``store`` under ``key``.

    Called from the fuzzing thread only; ``behaviors`` and ``fingerprints`` may be
    read from any thread (changes happen under ``lock``, shared with the fuzzer's
    status).
    """

    def __init__(
        self, store: Any, key: bytes, mutator: Mutator, random: Random, lock: threading.Lock
    ) -> None:
        self.store = store
        self.key = key
        self.mutator = mutator
        self.random = random
        self._lock = lock
        self._best: dict[Any, _Entry] = {}  # behavior -> smallest entry showing it
        self._fp_best: dict[int, tuple] = {}  # hash(fingerprint) -> smallest key seen
        self._fp_entries: dict[int, _Entry] = {}  # a bounded subset, kept as corpus
        self._fp_hits: dict[int, int] = {}
        self._entries: list[_Entry] = []
        self._by_value: dict[bytes, _Entry] = {}  # one entry per stored value
        self._pending: list[tuple] = []  # stored inputs to replay, popped from the end
        self._focus: list[Iterator[tuple]] = []
        self._focus_turn = False

    @property
    def behaviors(self) -> int:
        """Distinct behaviors seen."""
        return len(self._best)

    @property
    def fingerprints(self) -> int:
        """Distinct fingerprints seen."""
        return len(self._fp_best)

    @property
    def replays_left(self) -> int:
        """Stored inputs still waiting for their replay."""
        return len(self._pending)

    def known_behaviors(self) -> list[Any]:
        """The behaviors seen so far."""
        with self._lock:
            return list(self._best)

    # --- what to run next -----------------------------------------------------------

    def load(self) -> None:
        """Queue the stored inputs for exact replay: the known failures first (``K``,
        then ``K.secondary``), then the corpus and the pareto front, each smallest first."""
        failures = [*self.store.fetch(self.key), *self.store.fetch(secondary_key(self.key))]
        rest = [value for value, _ in self.store.corpus(self.key)]
        rest += self.store.fetch(pareto_key(self.key))
        seen: set[bytes] = set()
        seeds: list[tuple] = []
        for i, value in enumerate(failures + rest):
            if value in seen:
                continue
            seen.add(value)
            choices = decode_choices(value)
            if choices is not None:
                seeds.append((i >= len(failures), complexity(choices), choices))
        seeds.sort(key=lambda s: s[:2], reverse=True)
        self._pending = [choices for _, _, choices in seeds]

    def next_replay(self) -> tuple | None:
        """The next stored input to replay exactly, or None once all were."""
        return self._pending.pop() if self._pending else None

    def next_mutation(self) -> tuple[tuple, bool]:
        """A prefix to run past its end, and whether it is a focus input."""
        # Every other input, while there are any: random mutation goes on meanwhile,
        # for what no constant of the code leads to.
        self._focus_turn = not self._focus_turn
        if self._focus_turn:
            while self._focus:
                prefix = next(self._focus[-1], None)
                if prefix is not None:
                    return prefix, True
                self._focus.pop()
        return self._mutation(), False

    def _mutation(self) -> tuple:
        rnd = self.random
        if not self._entries or rnd.random() < FRESH_INPUT_PROBABILITY:
            return ()
        parent = self._pick_parent()
        other = rnd.choice(self._entries) if rnd.random() < SPLICE_PROBABILITY else None
        return self.mutator.mutate(parent.seed, other.seed if other else None)

    def _pick_parent(self) -> _Entry:
        """Tournament: of a few random entries, the one whose fingerprint was hit
        least often."""
        rnd = self.random
        best = None
        best_hits = math.inf
        for _ in range(TOURNAMENT_SIZE):
            entry = rnd.choice(self._entries)
            hits = self._fp_hits.get(entry.fingerprint, 0)
            if hits < best_hits:
                best, best_hits = entry, hits
        assert best is not None
        return best

    # --- what to keep -----------------------------------------------------------------

    def candidate_key(self, choices: tuple, fingerprint: frozenset) -> tuple | None:
        """The complexity key of an input showing ``fingerprint``, if it may be new or
        smaller than what is kept (then confirm it and :meth:`add` it); else None.
        Counts the fingerprint's hits either way."""
        fp_hash = hash(fingerprint)
        self._fp_hits[fp_hash] = self._fp_hits.get(fp_hash, 0) + 1
        known = self._fp_best.get(fp_hash)
        if known is not None and len(choices) > known[0]:
            return None
        key = complexity(choices)
        if known is not None and key >= known:
            return None
        best = self._best
        if known is not None and not any(
            b not in best or key < best[b].seed.key for b in fingerprint
        ):
            self._fp_best[fp_hash] = key
            return None
        return key

    def add(self, outcome: Any, again: Any, key: tuple) -> tuple[bool, bool]:
        """Keep ``outcome`` (an Outcome with ``key`` from :meth:`candidate_key`) for what
        it is the smallest input of, confirmed by ``again``, its exact rerun: only the
        behaviors both runs showed count. Returns ``(new behavior, new fingerprint)``."""
        fingerprint = outcome.fingerprint
        stable = again.fingerprint == fingerprint and again.status == outcome.status
        if not stable:
            fingerprint = fingerprint & again.fingerprint
        fp_hash = hash(fingerprint)
        known = self._fp_best.get(fp_hash)
        observation = again.observation
        if observation is not None:
            observation = replace(observation, stability="stable" if stable else "unstable")
        best = self._best
        new_behaviors = [b for b in fingerprint if b not in best]
        smaller = [b for b in fingerprint if b in best and key < best[b].seed.key]
        new_fp = known is None
        if not (new_behaviors or smaller or new_fp or key < known):
            return False, False
        value = encode_choices(outcome.choices)
        entry = self._by_value.get(value)
        is_new_entry = entry is None
        if entry is None:
            seed = Seed(
                outcome.choices,
                _compat.engine_nodes(outcome.data),
                _compat.engine_spans(outcome.data),
                key,
            )
            entry = _Entry(seed, value, fp_hash)
        codes = {}
        with self._lock:
            if is_new_entry:
                self._by_value[value] = entry
            for b in new_behaviors + smaller:
                old = best.get(b)
                if old is entry:
                    continue
                best[b] = entry
                entry.owners += 1
                if old is not None:
                    self._release(old)
            self._fp_best[fp_hash] = key
            old_fp = self._fp_entries.get(fp_hash)
            if old_fp is entry:
                pass
            elif old_fp is not None or len(self._fp_entries) < FINGERPRINT_CORPUS_LIMIT:
                self._fp_entries[fp_hash] = entry
                entry.owners += 1
                if old_fp is not None:
                    self._release(old_fp)
            for b in new_behaviors:
                code = behaviors.CODE_BY_LOCATION.get(b[0])
                if code is not None:
                    codes[code] = None
                    self.mutator.constants.add_code(code)
        if is_new_entry:
            if entry.owners:
                self._entries.append(entry)
                self.store.save_corpus_entry(self.key, entry.value, observation)
                if new_behaviors:
                    self._focus.append(
                        itertools.islice(
                            self.mutator.substitutions(entry.seed, codes), FOCUS_BUDGET
                        )
                    )
                    del self._focus[:-FOCUS_QUEUE]
            else:
                del self._by_value[value]
        return bool(new_behaviors), new_fp

    def _release(self, entry: _Entry) -> None:
        entry.owners -= 1
        if entry.owners <= 0:
            self._by_value.pop(entry.value, None)
            with contextlib.suppress(ValueError):
                self._entries.remove(entry)
            self.store.delete_corpus_entry(self.key, entry.value)
