"""Coverage-guided fuzzing of one collected test: :class:`TestFuzzer`.

A TestFuzzer runs inputs directly (a ConjectureData replaying a prefix, executed
by Hypothesis' own per-test state, as ``fuzz_one_input`` does internally), so an
input costs about what the test itself costs. It keeps, for every behaviour
(see :mod:`hypofuzz_nb.behaviors`) and every fingerprint, the smallest input known
to show it, and mutates those (:mod:`hypofuzz_nb.mutate`), preferring inputs with
rare fingerprints.

Where things go in the database (docs/DATABASE.md):

* covering inputs under ``K.hypofuzz.corpus`` with a corpus observation; superseded
  ones are deleted; the corpus, ``K``, ``K.secondary`` and ``K.pareto`` are replayed
  exactly on :meth:`TestFuzzer.start`, so a second run starts where the first stopped;
* a failure is handed to Hypothesis' own shrinker: the failing choices are saved
  under ``K`` and the test itself (the ``@given`` wrapper, with the fixture
  arguments) runs with ``phases=[Phase.reuse, Phase.shrink]`` on the same
  database, so Hypothesis shrinks it and keeps the minimal example under ``K``. The
  original goes under ``K.secondary``; both get failure observations;
* a *hang* (an input running longer than ``timeout`` seconds) is interrupted and
  recorded as a failure of its own kind: NOT under ``K``, because plain pytest
  replaying it would hang forever, but under ``K.hypofuzz_nb.timeouts`` (choices)
  with its observation under ``K.hypofuzz_nb.timeouts.<sha1>.observation``; at most
  :data:`MAX_SAVED_TIMEOUTS` per fuzzer, and fuzzing goes on;
* reports on every discovery (coalesced to at most one per second), on every phase
  change, and timed (2 s at first, backing off to 60 s), flushed on stop; old timed
  reports of this worker are thinned so that growth stays bounded;
* observations for a sample of inputs only (observability costs 2.4-8x per input):
  at most one every :data:`OBSERVATION_INTERVAL` seconds into the rolling buffer.

Threads: ``run``, ``start`` and ``stop`` are called from one worker thread at a time;
``request_stop`` and ``status`` are safe from any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from random import Random
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import settings as Settings

from hypofuzz_nb import _compat, behaviors
from hypofuzz_nb.mutate import FuzzProvider, Mutator, Seed, complexity
from hypofuzz_nb.records import (
    FatalFailure,
    Observation,
    Report,
    decode_choices,
    encode_choices,
    key_to_base64,
    pareto_key,
    secondary_key,
)
from hypofuzz_nb.userframes import user_traceback

__all__ = ["FuzzStatus", "InputTimeout", "TestFuzzer"]

Status = _compat.EngineStatus
MAX_CHOICES = 10_000
MAX_SAVED_TIMEOUTS = 5
OBSERVATION_INTERVAL = 5.0
FINGERPRINT_CORPUS_LIMIT = 500
DISCOVERY_REPORT_INTERVAL = 1.0
MAX_BATCH_SECONDS = 2.0
TRACE_EVERY = 4
#: Substitution inputs (Mutator.substitutions) tried per corpus entry that showed a
#: new behaviour, and how many entries wait for theirs (the newest, deepest first).
FOCUS_BUDGET = 256
FOCUS_QUEUE = 32
_STATUS_NAMES = {0: "gave_up", 1: "gave_up", 2: "passed", 3: "failed"}


class InputTimeout(BaseException):
    """Raised asynchronously in the worker thread when one input runs too long.

    A BaseException so that a test's ``except Exception`` does not swallow it.
    """


class _Watchdog:
    """One daemon thread per process that interrupts inputs running past a deadline.

    The interrupt is ``PyThreadState_SetAsyncExc``: it lands at the next bytecode,
    so it cannot break out of a single long call into C (a ``time.sleep(60)`` is
    interrupted when it returns). The worker's side takes no lock: an exception
    delivered between a lock's acquire and its ``with`` block would leave the lock
    held forever. Dict and set operations are atomic under the GIL instead.
    """

    def __init__(self) -> None:
        self._deadlines: dict[int, tuple[float, object]] = {}
        self._fired: set[object] = set()
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="hypofuzz_nb-watchdog", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            for tid, entry in list(self._deadlines.items()):
                deadline, token, soft, seconds = entry
                if now <= deadline or token in self._fired:
                    continue
                if soft is not None:
                    # first ask the tracer to raise at the next traced line; interrupt
                    # asynchronously only if the input is still running much later
                    soft()
                    self._deadlines[tid] = (now + max(seconds, 1.0), token, None, seconds)
                    continue
                self._fired.add(token)
                if self._deadlines.get(tid) is entry:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(tid), ctypes.py_object(InputTimeout)
                    )
            if len(self._fired) > 1000:
                self._fired.clear()

    def arm(self, seconds: float, soft: Any = None) -> None:
        """Watch this thread: after ``seconds``, call ``soft()`` if given (a request
        to stop at a safe point), then interrupt asynchronously if still running."""
        self._ensure_thread()
        self._deadlines[threading.get_ident()] = (
            time.monotonic() + seconds,
            object(),
            soft,
            seconds,
        )

    def disarm(self) -> None:
        """Stop watching this thread; clear an interrupt that fired but was not
        delivered yet (one delivered meanwhile surfaces here as InputTimeout)."""
        tid = threading.get_ident()
        entry = self._deadlines.pop(tid, None)
        if entry is not None and entry[1] in self._fired:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)


_WATCHDOG = _Watchdog()


@dataclass(frozen=True, slots=True)
class FuzzStatus:
    """A snapshot of one TestFuzzer, safe to read from any thread."""

    nodeid: str
    database_key: bytes
    phase: str
    inputs: int
    behaviors: int
    fingerprints: int
    since_new_behavior: int
    elapsed_s: float
    inputs_per_s: float
    n_failures: int
    n_timeouts: int
    finished: bool
    fatal: str | None
    last_new_behavior_time: float | None


@dataclass(slots=True, eq=False)
class _Entry:
    seed: Seed
    value: bytes
    fingerprint: int
    owners: int = 0


@dataclass(slots=True)
class _Outcome:
    status: int
    exception: BaseException | None
    fingerprint: frozenset
    choices: tuple
    data: Any
    observation: Observation | None = None


class TestFuzzer:
    """Fuzzes one target (a FuzzTarget of hypofuzz_nb.fuzzable) into ``store``.

    Guarantees: a found failure is saved (shrunk under ``K``, original under
    ``K.secondary``) before the fuzzer reports itself ``finished``; a fixture or
    setup error becomes a FatalFailure record with the user's traceback and finishes
    the fuzzer; nothing here raises for a failing, hanging or broken test.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        target: Any,
        store: Any,
        *,
        worker_uuid: str,
        random: Random | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.store = store
        self.key: bytes = target.database_key
        self.worker_uuid = worker_uuid
        self.random = random if random is not None else Random()
        self.timeout = timeout
        self.mutator = Mutator(self.random, max_choices=MAX_CHOICES)
        self.recorder = behaviors.BranchRecorder(InputTimeout)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

        self.phase = "replay"
        self.counts = [0, 0, 0, 0]
        self.since_new_behavior = 0
        self.elapsed = 0.0
        self.n_failures = 0
        self.n_timeouts = 0
        self.fatal: str | None = None
        self.failed = False
        self.last_new_behavior_time: float | None = None
        self._started = False
        self._stopped = False

        self._best: dict[Any, _Entry] = {}  # behaviour -> smallest entry showing it
        self._fp_best: dict[int, tuple] = {}  # hash(fingerprint) -> smallest key seen
        self._fp_entries: dict[int, _Entry] = {}  # a bounded subset, kept as corpus
        self._fp_hits: dict[int, int] = {}
        self._entries: list[_Entry] = []
        self._by_value: dict[bytes, _Entry] = {}  # one entry per stored value
        self._trace_counter = 0
        self._pending_seeds: list[tuple] = []
        self._focus: list[Iterator[tuple]] = []
        self._focus_turn = False
        self._saved_timeouts = 0
        self._flaky = 0

        self._report_interval = 2.0
        self._next_timed_report = 0.0
        self._discovery_dirty = False
        self._last_report_time = 0.0
        self._timed_reports: list[Report] = []
        self._last_observation = -math.inf
        self._rate_score = 0.0
        self._rate_time = 0.0
        self._settings = Settings(
            parent=target.settings,
            deadline=None,
            database=None,
            verbosity=Verbosity.quiet,
        )

    # --- public API ------------------------------------------------------------------

    @property
    def nodeid(self) -> str:
        return self.target.nodeid

    @property
    def finished(self) -> bool:
        """Failed or fatal: the worker stops scheduling this fuzzer."""
        return self.failed or self.fatal is not None

    @property
    def inputs(self) -> int:
        return sum(self.counts)

    @property
    def status(self) -> FuzzStatus:
        with self._lock:
            inputs = self.inputs
            return FuzzStatus(
                nodeid=self.nodeid,
                database_key=self.key,
                phase=self.phase,
                inputs=inputs,
                behaviors=len(self._best),
                fingerprints=len(self._fp_best),
                since_new_behavior=self.since_new_behavior,
                elapsed_s=self.elapsed,
                inputs_per_s=inputs / self.elapsed if self.elapsed > 0 else 0.0,
                n_failures=self.n_failures,
                n_timeouts=self.n_timeouts,
                finished=self.finished,
                fatal=self.fatal,
                last_new_behavior_time=self.last_new_behavior_time,
            )

    def recent_discovery_rate(self) -> float:
        """Discoveries per second of this test's running time, decayed with a 30 s
        half-life of running time. Cheap; for the worker's scheduler."""
        return self._rate_score / max(self._rate_time, 1.0)

    def request_stop(self) -> None:
        """Ask a running batch to return after the current input. Thread-safe."""
        self._stop_event.set()

    def start(self) -> None:
        """Load the stored corpus and failures as seeds (replayed first) and report."""
        if self._started:
            return
        self._started = True
        self.store.register_test(self.key)
        seen: set[bytes] = set()
        seeds: list[tuple] = []
        # Known failures first (K, then K.secondary), then the corpus and the
        # pareto front, smallest first; _pending_seeds is popped from the end.
        values = [*self.store.fetch(self.key), *self.store.fetch(secondary_key(self.key))]
        n_failures = len(values)
        rest = [v for v, _ in self.store.corpus(self.key)]
        rest += self.store.fetch(pareto_key(self.key))
        for i, value in enumerate(values + rest):
            if value in seen:
                continue
            seen.add(value)
            choices = decode_choices(value)
            if choices is not None:
                seeds.append((i >= n_failures, complexity(choices), choices))
        seeds.sort(key=lambda s: s[:2], reverse=True)
        self._pending_seeds = [choices for _, _, choices in seeds]
        self._set_phase("replay")

    def stop(self) -> None:
        """Flush a final report and release coverage. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.recorder.close()
        if self._started:
            self._write_report()

    def run(self, n: int = 100, max_seconds: float | None = None) -> None:
        """Run one batch of up to ``n`` inputs inside one set-up of the test's fixtures.

        Returns early when stop is requested (between inputs), after ``max_seconds``
        (default and at most ``MAX_BATCH_SECONDS``; at least one input runs), or when
        the test fails or cannot run.
        """
        limit = MAX_BATCH_SECONDS if max_seconds is None else min(max_seconds, MAX_BATCH_SECONDS)
        if not self._started:
            self.start()
        if self.finished or self._stopped:
            return
        self._stop_event.clear()
        _compat.engine_clear_leftover_monitoring()
        batch_start = time.monotonic()
        try:
            with self._fixtures() as kwargs:
                if kwargs is None:
                    return
                try:
                    state = _compat.engine_make_state(self.target.test, kwargs, self._settings)
                except Exception as e:
                    self._set_fatal(user_traceback(e))
                    return
                self.recorder.start()
                try:
                    self._run_batch(state, kwargs, n, batch_start, limit)
                finally:
                    self.recorder.close()
        finally:
            spent = time.monotonic() - batch_start
            with self._lock:
                self.elapsed += spent
            self._rate_score *= 0.5 ** (spent / 30.0)
            self._rate_time = self._rate_time * 0.5 ** (spent / 30.0) + spent
            self._maybe_timed_report(force_discovery=True)

    # --- the batch ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _fixtures(self) -> Iterator[dict[str, Any] | None]:
        """The fixture kwargs, or None after recording a fixture error as fatal."""
        import traceback

        cm = self.target.fixtures()
        try:
            kwargs = cm.__enter__()
        except Exception as e:
            tb = getattr(e, "traceback", None)
            self._set_fatal(tb if isinstance(tb, str) else traceback.format_exc())
            yield None
            return
        try:
            yield kwargs
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
        else:
            try:
                cm.__exit__(None, None, None)
            except Exception as e:
                tb = getattr(e, "traceback", None)
                self._set_fatal(tb if isinstance(tb, str) else traceback.format_exc())

    def _run_batch(
        self, state: Any, kwargs: dict, n: int, batch_start: float, limit: float
    ) -> None:
        for _ in range(n):
            if self._stop_event.is_set() or self.finished:
                return
            focus = None
            if self._pending_seeds:
                prefix = self._pending_seeds.pop()
                exact, how = True, "fuzz:replay"
            else:
                if self.phase != "generate":
                    self._set_phase("generate")
                # Every other input, while there are any: random mutation goes on
                # meanwhile, for what no constant of the code leads to.
                self._focus_turn = not self._focus_turn
                focus = self._next_focus() if self._focus_turn else None
                if focus is not None:
                    prefix, exact, how = focus, False, "fuzz:focus"
                else:
                    prefix, exact, how = self._next_prefix(), False, "fuzz:mutate"
            now = time.monotonic()
            observe = now - self._last_observation >= OBSERVATION_INTERVAL
            try:
                traced = focus is not None or self._should_trace(exact)
                outcome = self._execute(
                    state, prefix, exact=exact, observe=observe, how=how, traced=traced
                )
            except InputTimeout:  # a stray interrupt, delivered after its input ended
                continue
            if observe:
                self._last_observation = now
                if outcome.observation is not None:
                    self.store.save_observation(self.key, outcome.observation)
            self._account(outcome)
            if outcome.status == Status.INTERESTING:
                self._on_failure(state, kwargs, outcome)
                return
            if outcome.status == -1:
                self._on_timeout(outcome)
            elif outcome.status != Status.OVERRUN and traced:
                self._consider(state, outcome)
            self._maybe_timed_report()
            if time.monotonic() - batch_start > limit:
                return

    def _next_prefix(self) -> tuple:
        rnd = self.random
        if not self._entries or rnd.random() < 0.1:
            return ()
        parent = self._pick_parent()
        other = rnd.choice(self._entries) if rnd.random() < 0.3 else None
        return self.mutator.mutate(parent.seed, other.seed if other else None)

    def _next_focus(self) -> tuple | None:
        while self._focus:
            prefix = next(self._focus[-1], None)
            if prefix is not None:
                return prefix
            self._focus.pop()
        return None

    def _pick_parent(self) -> _Entry:
        """Tournament of three: the entry whose fingerprint was hit least often."""
        rnd = self.random
        best = None
        best_hits = math.inf
        for _ in range(3):
            entry = rnd.choice(self._entries)
            hits = self._fp_hits.get(entry.fingerprint, 0)
            if hits < best_hits:
                best, best_hits = entry, hits
        assert best is not None
        return best

    def _should_trace(self, exact: bool) -> bool:
        """Whether to record this input's coverage. Always with sys.monitoring (nearly
        free). With sys.settrace (3.11, 2-4x per input) every input while discoveries
        are recent, then one mutated input in TRACE_EVERY once they have dried up:
        the untraced ones still find failures, at the speed of an untraced run."""
        if exact or not self.recorder.expensive or self.since_new_behavior < 500:
            return True
        self._trace_counter += 1
        return self._trace_counter % TRACE_EVERY == 0

    def _execute(
        self,
        state: Any,
        prefix: tuple,
        *,
        exact: bool,
        observe: bool = False,
        how: str = "",
        traced: bool = True,
    ) -> _Outcome:
        data = _compat.engine_new_data(
            prefix, self.random, FuzzProvider, len(prefix) if exact else MAX_CHOICES
        )
        self.recorder.reset(enabled=traced)
        start = time.time()
        t0 = time.perf_counter()
        exception: BaseException | None = None
        representation: dict[str, Any] = {}
        observing = (
            _compat.engine_observing(state) if observe else contextlib.nullcontext(representation)
        )
        try:
            _WATCHDOG.arm(self.timeout, self.recorder.soft_interrupt)
            try:
                with observing as representation:
                    status, exception = _compat.engine_execute(state, data, (InputTimeout,))
            finally:
                _WATCHDOG.disarm()
        except InputTimeout:
            status = -1
        duration = time.perf_counter() - t0
        branches = self.recorder.take()
        events, targets = _compat.engine_features(data)
        fingerprint = branches | behaviors.features_behaviors(events, targets)
        outcome = _Outcome(status, exception, fingerprint, _compat.engine_choices(data), data)
        if observe:
            outcome.observation = self._observation(
                data, outcome, representation, start, duration, how
            )
        return outcome

    def _observation(
        self,
        data: Any,
        outcome: _Outcome,
        representation: dict,
        start: float,
        duration: float,
        how: str,
        stability: str | None = None,
    ) -> Observation:
        events, targets = _compat.engine_features(data)
        features: dict[str, Any] = {f"target:{k}".strip(":"): v for k, v in targets.items()}
        for k, v in events.items():
            features[k] = v if isinstance(v, (str, int, float)) else str(v)
        traceback = None
        reproduction = None
        if outcome.status == Status.INTERESTING and outcome.exception is not None:
            traceback = user_traceback(outcome.exception)
            reproduction = _compat.engine_reproduction_decorator(outcome.choices)
        elif outcome.status == -1:
            traceback = f"InputTimeout: the input ran longer than {self.timeout} s"
        arguments = {
            k: _compat.engine_to_jsonable(v)
            for k, v in _compat.engine_observed_arguments(data).items()
        }
        status_reason = ""
        if outcome.exception is not None:
            status_reason = f"{type(outcome.exception).__name__}: {outcome.exception}"[:1000]
        elif outcome.status == -1:
            status_reason = "timeout"
        return Observation(
            status="failed"
            if outcome.status in (Status.INTERESTING, -1)
            else _STATUS_NAMES[outcome.status],
            status_reason=status_reason,
            representation=representation.get("representation", ""),
            arguments=_jsonable_dict(arguments),
            how_generated=how,
            features=_jsonable_dict(features),
            timing={"execute:test": duration},
            metadata={
                "traceback": traceback,
                "reproduction_decorator": reproduction,
                "predicates": {},
                "backend": {},
                "sys_argv": list(sys.argv),
                "os_getpid": os.getpid(),
                "imported_at": _IMPORTED_AT,
                "data_status": max(outcome.status, 0),
            },
            property=self.nodeid,
            run_start=start,
            stability=stability,
        )

    def _account(self, outcome: _Outcome) -> None:
        with self._lock:
            # a hang counts as interesting: it is a failure of its own kind
            self.counts[Status.INTERESTING if outcome.status < 0 else outcome.status] += 1
            self.since_new_behavior += 1

    # --- corpus --------------------------------------------------------------------------

    def _consider(self, state: Any, outcome: _Outcome) -> None:
        fingerprint = outcome.fingerprint
        fp_hash = hash(fingerprint)
        self._fp_hits[fp_hash] = self._fp_hits.get(fp_hash, 0) + 1
        known = self._fp_best.get(fp_hash)
        n = len(outcome.choices)
        if known is not None and n > known[0]:
            return
        key = complexity(outcome.choices)
        if known is not None and key >= known:
            return
        best = self._best
        if known is not None and not any(
            b not in best or key < best[b].seed.key for b in fingerprint
        ):
            self._fp_best[fp_hash] = key
            return
        # Something new or smaller: confirm by running it again (flaky tests).
        again = self._execute(state, outcome.choices, exact=True, observe=True, how="fuzz:confirm")
        self._account(again)
        stable = again.fingerprint == fingerprint and again.status == outcome.status
        if again.status == Status.INTERESTING:
            return  # flaky failure; the next time it fails for real it is handled
        if not stable:
            fingerprint = fingerprint & again.fingerprint
            fp_hash = hash(fingerprint)
            known = self._fp_best.get(fp_hash)
        observation = again.observation
        if observation is not None:
            observation = _replace(observation, stability="stable" if stable else "unstable")
        new_behaviors = [b for b in fingerprint if b not in best]
        smaller = [b for b in fingerprint if b in best and key < best[b].seed.key]
        new_fp = known is None
        if not (new_behaviors or smaller or new_fp or key < known):
            return
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
            codes = {}
            for b in new_behaviors:
                code = behaviors.CODE_BY_LOCATION.get(b[0])
                if code is not None:
                    codes[code] = None
                    self.mutator.constants.add_code(code)
            if new_behaviors:
                self.since_new_behavior = 0
                self.last_new_behavior_time = time.time()
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
        if new_behaviors or new_fp:
            self._rate_score += len(new_behaviors) + (1 if new_fp else 0)
            self._discovery_dirty = True

    def _release(self, entry: _Entry) -> None:
        entry.owners -= 1
        if entry.owners <= 0:
            self._by_value.pop(entry.value, None)
            with contextlib.suppress(ValueError):
                self._entries.remove(entry)
            self.store.delete_corpus_entry(self.key, entry.value)

    # --- failures, hangs, fatal errors -----------------------------------------------------

    def _on_failure(self, state: Any, kwargs: dict, outcome: _Outcome) -> None:
        self._set_phase("shrink")
        original = outcome.choices
        original_value = encode_choices(original)
        self.recorder.close()  # Hypothesis' shrinker runs untraced
        confirm = self._execute(state, original, exact=True, observe=True, how="fuzz:failure")
        if confirm.status != Status.INTERESTING:
            self._flaky += 1
            self._set_phase("generate")
            self.recorder.start()
            return
        self.store.save_failure(self.key, "unshrunk", original_value, confirm.observation)
        # Hand the failure to Hypothesis: its reuse phase finds it under K.secondary
        # (under K it would count as already shrunk and be left alone), shrinks it,
        # and saves the minimal example under K.
        shrink_settings = Settings(
            parent=self.target.settings,
            phases=[Phase.reuse, Phase.shrink],
            database=self.store.database,
            deadline=None,
            verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        with (
            _compat.engine_overridden_given(self.target.test, shrink_settings, self.key),
            contextlib.suppress(Exception),
        ):
            self.target.test(**kwargs)
        candidates = [
            c for c in (decode_choices(v) for v in self.store.fetch(self.key)) if c is not None
        ]
        shrunk = min(candidates, key=complexity) if candidates else original
        # Hypothesis moves what it reuses from K.secondary to K; the original stays
        # recorded as the unshrunk failure.
        self.store.save_failure(self.key, "unshrunk", original_value, None)
        final = self._execute(state, shrunk, exact=True, observe=True, how="fuzz:shrunk")
        if final.status != Status.INTERESTING:
            final = confirm  # fall back on what we saw fail
            shrunk = original
        shrunk_value = encode_choices(shrunk)
        self.store.save_failure(self.key, "shrunk", shrunk_value, final.observation)
        with self._lock:
            self.n_failures += 1
            self.failed = True
        self._set_phase("failed")

    def _on_timeout(self, outcome: _Outcome) -> None:
        with self._lock:
            self.n_timeouts += 1
        if self._saved_timeouts >= MAX_SAVED_TIMEOUTS:
            return
        self._saved_timeouts += 1
        value = encode_choices(outcome.choices)
        observation = self._observation(
            _NoData(), outcome, {}, time.time(), self.timeout, "fuzz:timeout"
        )
        with contextlib.suppress(Exception):
            self.store.save_timeout(self.key, value, observation)

    def _set_fatal(self, traceback: str) -> None:
        with self._lock:
            self.fatal = traceback
        self.store.save_fatal_failure(
            self.key, FatalFailure(nodeid=self.nodeid, traceback=traceback)
        )
        self._set_phase("failed")

    # --- reports -----------------------------------------------------------------------------

    def _set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
        self._write_report()

    def _maybe_timed_report(self, force_discovery: bool = False) -> None:
        now = time.monotonic()
        if self._discovery_dirty and (
            force_discovery or now - self._last_report_time >= DISCOVERY_REPORT_INTERVAL
        ):
            self._write_report()
        elif now >= self._next_timed_report:
            report = self._write_report()
            self._timed_reports.append(report)
            self._report_interval = min(self._report_interval * 1.5, 60.0)
            self._thin_timed_reports()

    def _write_report(self) -> Report:
        with self._lock:
            report = Report(
                database_key=key_to_base64(self.key),
                nodeid=self.nodeid,
                elapsed_time=self.elapsed,
                timestamp=time.time(),
                worker_uuid=self.worker_uuid,
                status_counts={str(i): c for i, c in enumerate(self.counts)},
                behaviors=len(self._best),
                fingerprints=len(self._fp_best),
                since_new_behavior=self.since_new_behavior,
                phase=self.phase,
            )
        self.store.save_report(self.key, report)
        now = time.monotonic()
        self._last_report_time = now
        self._next_timed_report = now + self._report_interval
        self._discovery_dirty = False
        return report

    def _thin_timed_reports(self) -> None:
        """Keep at most 100 purely timed reports of ours: drop every other old one."""
        if len(self._timed_reports) <= 100:
            return
        old, recent = self._timed_reports[:50], self._timed_reports[50:]
        for report in old[1::2]:
            with contextlib.suppress(Exception):
                self.store.delete_report(self.key, report)
        self._timed_reports = old[0::2] + recent


_IMPORTED_AT = time.time()


class _NoData:
    """Stands in for a ConjectureData that a timeout left unusable."""

    events: dict = {}
    target_observations: dict = {}
    _observability_args: dict = {}


def _replace(observation: Observation, **changes: Any) -> Observation:
    import dataclasses

    return dataclasses.replace(observation, **changes)


def _jsonable_dict(obj: dict[str, Any]) -> dict[str, Any]:
    """Make sure ``obj`` survives json.dumps (reprs for anything that would not)."""
    import json

    out = {}
    for k, v in obj.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            v = repr(v)
        out[str(k)] = v
    return out
