"""Coverage-guided fuzzing of one collected test: :class:`TestFuzzer`.

A TestFuzzer coordinates the parts that fuzz one test: it runs inputs
(:mod:`hypofuzz_nb.runner`, under the per-input timeout of
:mod:`hypofuzz_nb.watchdog`), keeps the inputs worth mutating
(:mod:`hypofuzz_nb.corpus`, which also picks what to run next), saves failures,
hangs and fatal errors, and reports progress (:mod:`hypofuzz_nb.reports`) and a
sample of observations (:mod:`hypofuzz_nb.observations`).

Where things go in the database (docs/DATABASE.md):

* covering inputs under ``K.hypofuzz.corpus`` (see :mod:`hypofuzz_nb.corpus`); the
  corpus, ``K``, ``K.secondary`` and ``K.pareto`` are replayed exactly on
  :meth:`TestFuzzer.start`, so a second run starts where the first stopped;
* a failure is handed to Hypothesis' own shrinker: the failing choices are saved
  under ``K.secondary`` and the test itself (the ``@given`` wrapper, with the
  fixture arguments) runs with ``phases=[Phase.reuse, Phase.shrink]`` on the same
  database, so Hypothesis shrinks it and keeps the minimal example under ``K``. The
  original stays recorded as the unshrunk failure; both get failure observations;
* a *hang* (an input running longer than ``timeout`` seconds) is interrupted and
  recorded as a failure of its own kind: NOT under ``K``, because plain pytest
  replaying it would hang forever, but through ``Store.save_timeout``; at most
  :data:`MAX_SAVED_TIMEOUTS` per fuzzer, and fuzzing goes on;
* a fixture or setup error is the test's fatal failure record; the record is
  cleared once the test sets up and runs an input again;
* reports and sampled observations as :mod:`hypofuzz_nb.reports` and
  :mod:`hypofuzz_nb.observations` schedule them;
* with ``solver=True``, on a plateau, a batch may start with a solver call
  (:mod:`hypofuzz_nb.solver`, once per batch, nothing per input), which makes that
  batch longer by the call's budget; each input the call produced is replayed
  exactly here, as any input (``how="fuzz:solver"``).

Threads: ``run``, ``start`` and ``stop`` are called from one worker thread at a time;
``request_stop`` and ``status`` are safe from any thread.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from random import Random
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import settings as Settings

from hypofuzz_nb import _compat, behaviors
from hypofuzz_nb.corpus import Corpus
from hypofuzz_nb.mutate import Mutator, complexity
from hypofuzz_nb.observations import ObservationSampler, make_observation
from hypofuzz_nb.records import (
    FatalFailure,
    Report,
    decode_choices,
    encode_choices,
    key_to_base64,
)
from hypofuzz_nb.reports import ReportSchedule
from hypofuzz_nb.runner import MAX_CHOICES, InputRunner, Outcome
from hypofuzz_nb.solver import Solver
from hypofuzz_nb.status import TestStatus
from hypofuzz_nb.userframes import user_traceback
from hypofuzz_nb.watchdog import InputTimeout

__all__ = ["TestFuzzer"]

EngineStatus = _compat.EngineStatus
#: The statuses that inputs are counted under (a hang counts as INTERESTING), which
#: are also the keys of a report's ``status_counts``.
_DATA_STATUSES = tuple(s for s in EngineStatus if s != EngineStatus.HANG)
#: Hangs of one fuzzer saved to the database; later ones are only counted.
MAX_SAVED_TIMEOUTS = 5
#: The longest one batch runs (:meth:`TestFuzzer.run`), in seconds.
MAX_BATCH_SECONDS = 2.0
#: With sys.settrace, once discoveries dried up, one mutated input in this many is traced.
TRACE_EVERY = 4
#: Inputs without a new behavior after which discoveries count as dried up.
DRIED_UP_AFTER = 500


class TestFuzzer:
    """Fuzzes one target (a FuzzTarget of hypofuzz_nb.fuzzable) into ``store``.

    Guarantees: a found failure is saved (shrunk under ``K``, original under
    ``K.secondary``) before the fuzzer reports itself ``finished``; a fixture or
    setup error becomes a FatalFailure record with the user's traceback and finishes
    the fuzzer, and a later fuzzer of the test that sets up and runs an input again
    clears that record; nothing here raises for a failing, hanging or broken test.
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
        solver: bool = False,
    ) -> None:
        self.target = target
        self.store = store
        self.key: bytes = target.database_key
        self.worker_uuid = worker_uuid
        self.random = random if random is not None else Random()
        self.timeout = timeout
        self.mutator = Mutator(self.random, max_choices=MAX_CHOICES)
        self.recorder = behaviors.BranchRecorder(InputTimeout)
        self.runner = InputRunner(target.nodeid, self.random, self.recorder, timeout)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()  # guards what ``status`` and reports read
        self.corpus = Corpus(store, self.key, self.mutator, self.random, self._lock)
        self.reports = ReportSchedule(store, self.key, self._report)
        self.sampler = ObservationSampler()
        self._key_base64 = key_to_base64(self.key)
        self.solver = Solver(store, self.key, worker_uuid) if solver else None

        self.phase = "replay"
        self.counts = [0] * len(_DATA_STATUSES)  # inputs by how they ended
        self.since_new_behavior = 0
        self.elapsed = 0.0
        self._new_behavior_elapsed = 0.0  # self.elapsed when the last new behavior came
        self.n_failures = 0
        self.n_timeouts = 0
        self.fatal: str | None = None
        self.failed = False
        self._started = False
        self._stopped = False
        self._fatal_record_cleared = False
        self._trace_counter = 0
        self._saved_timeouts = 0
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
    def status(self) -> TestStatus:
        """A snapshot of this fuzzer's progress. Thread-safe."""
        with self._lock:
            inputs = self.inputs
            work = self.solver.work if self.solver is not None else None
            return TestStatus(
                nodeid=self.nodeid,
                database_key=self._key_base64,
                phase=self.phase,
                inputs=inputs,
                behaviors=self.corpus.behaviors,
                fingerprints=self.corpus.fingerprints,
                since_new_behavior=self.since_new_behavior,
                elapsed_s=self.elapsed,
                inputs_per_s=inputs / self.elapsed if self.elapsed > 0 else 0.0,
                n_failures=self.n_failures,
                finished=self.finished,
                fatal=self.fatal,
                n_timeouts=self.n_timeouts,
                solver_calls=work.calls if work else 0,
                solver_s=work.seconds if work else 0.0,
                solver_found=work.found if work else 0,
            )

    def request_stop(self) -> None:
        """Ask the running batch (or, between batches, the next one) to return after
        the current input. Thread-safe."""
        self._stop_event.set()

    def start(self) -> None:
        """Load the stored corpus and failures as inputs to replay first, and report."""
        if self._started:
            return
        self._started = True
        self.store.register_test(self.key)
        self.corpus.load()
        self._set_phase("replay")

    def stop(self) -> None:
        """Flush a final report and release coverage. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.recorder.close()
        if self._started:
            self.reports.write()

    def run(
        self, n: int = 100, max_seconds: float | None = None, *, until: float | None = None
    ) -> None:
        """Run one batch of up to ``n`` inputs inside one set-up of the test's fixtures.

        Returns early when stop is requested (between inputs), after ``max_seconds``
        (default and at most ``MAX_BATCH_SECONDS``; at least one input runs), or when
        the test fails or cannot run. A solver call that starts the batch lasts at most
        its budget, and ends by ``until`` (a ``time.monotonic()`` time: the session's end).
        """
        limit = MAX_BATCH_SECONDS if max_seconds is None else min(max_seconds, MAX_BATCH_SECONDS)
        if not self._started:
            self.start()
        if self.finished or self._stopped:
            return
        _compat.engine_clear_leftover_monitoring()
        batch_start = time.monotonic()
        inputs_before = self.inputs
        try:
            with self._fixtures() as kwargs:
                if kwargs is None:
                    return
                try:
                    state = _compat.engine_make_state(self.target.test, kwargs, self._settings)
                except Exception as e:
                    self._set_fatal(user_traceback(e))
                    return
                solved = self._solve(kwargs, until)
                self.recorder.start()
                try:
                    if solved is not None:
                        self._replay_solved(state, kwargs, solved)
                    self._run_batch(state, kwargs, n, batch_start, limit)
                finally:
                    self.recorder.close()
            if self.fatal is None and self.inputs > inputs_before:
                self._clear_fatal_record()
        finally:
            # Cleared at the end, not the start: a request made between two batches
            # (a notebook cell starting) ends the next one before its first input.
            self._stop_event.clear()
            spent = time.monotonic() - batch_start
            with self._lock:
                self.elapsed += spent
            self.reports.maybe_write(end_of_batch=True)

    # --- the batch ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _fixtures(self) -> Iterator[dict[str, Any] | None]:
        """The fixture kwargs, or None after recording a fixture error as fatal."""
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
        corpus = self.corpus
        for _ in range(n):
            if self._stop_event.is_set() or self.finished:
                return
            focus = False
            prefix = corpus.next_replay()
            if prefix is not None:
                exact, how = True, "fuzz:replay"
            else:
                if self.phase != "generate":
                    self._set_phase("generate")
                prefix, focus = corpus.next_mutation()
                exact, how = False, "fuzz:focus" if focus else "fuzz:mutate"
            now = time.monotonic()
            observe = self.sampler.due(now)
            try:
                traced = focus or self._should_trace(exact)
                outcome = self.runner.run(
                    state, prefix, exact=exact, observe=observe, how=how, traced=traced
                )
            except InputTimeout:  # a stray interrupt, delivered after its input ended
                continue
            if observe:
                self.sampler.observed(now)
                if outcome.observation is not None:
                    self.store.save_observation(self.key, outcome.observation)
            self._account(outcome)
            status = outcome.status
            if status == EngineStatus.INTERESTING:
                self._on_failure(state, kwargs, outcome)
                return
            if status == EngineStatus.HANG:
                self._on_timeout(outcome)
            elif status != EngineStatus.OVERRUN and traced:
                self._consider(state, outcome)
            self.reports.maybe_write()
            if time.monotonic() - batch_start > limit:
                return

    def _should_trace(self, exact: bool) -> bool:
        """Whether to record this input's coverage. Always with sys.monitoring (nearly
        free). With sys.settrace (3.11, 2-4x per input) every input while discoveries
        are recent, then one mutated input in TRACE_EVERY once they have dried up:
        the untraced ones still find failures, at the speed of an untraced run."""
        if exact or not self.recorder.expensive or self.since_new_behavior < DRIED_UP_AFTER:
            return True
        self._trace_counter += 1
        return self._trace_counter % TRACE_EVERY == 0

    def _account(self, outcome: Outcome) -> None:
        # a hang counts as interesting: it is a failure of its own kind
        status = outcome.status
        index = EngineStatus.INTERESTING if status == EngineStatus.HANG else status
        with self._lock:
            self.counts[index] += 1
            self.since_new_behavior += 1

    def _consider(self, state: Any, outcome: Outcome) -> None:
        """Keep ``outcome`` in the corpus if it is new or smaller than what is kept,
        after confirming it by running it again (flaky tests)."""
        key = self.corpus.candidate_key(outcome.choices, outcome.fingerprint)
        if key is None:
            return
        again = self.runner.run(
            state, outcome.choices, exact=True, observe=True, how="fuzz:confirm"
        )
        self._account(again)
        if again.status == EngineStatus.INTERESTING:
            return  # flaky failure; the next time it fails for real it is handled
        new_behavior, new_fingerprint = self.corpus.add(outcome, again, key)
        if new_behavior:
            with self._lock:
                self.since_new_behavior = 0
                self._new_behavior_elapsed = self.elapsed
        if new_behavior or new_fingerprint:
            self.reports.discovered()

    # --- the solver ----------------------------------------------------------------------

    def _solve(self, kwargs: dict, until: float | None) -> list[tuple] | None:
        """The inputs of a solver call if one is due, else None (called before
        coverage starts: the call forks, and the child must not inherit a tracer)."""
        solver = self.solver
        if solver is None or self.phase != "generate":
            return None
        since = self.elapsed - self._new_behavior_elapsed
        if not solver.due(self.elapsed, self.since_new_behavior, since, until=until):
            return None
        return solver.call(self.target.test, kwargs, self._stop_event, until=until).inputs

    def _replay_solved(self, state: Any, kwargs: dict, solved: list[tuple]) -> None:
        """Replay the solver's inputs exactly: each joins the corpus if it reaches a
        new behavior, and a failing one is shrunk and saved as any failure."""
        assert self.solver is not None
        found = 0
        for choices in solved:
            if self._stop_event.is_set() or self.finished:
                break
            try:
                outcome = self.runner.run(state, choices, exact=True, how="fuzz:solver")
            except InputTimeout:
                continue
            self._account(outcome)
            if outcome.status == EngineStatus.INTERESTING:
                found += 1
                self._on_failure(state, kwargs, outcome)
            elif outcome.status == EngineStatus.HANG:
                self._on_timeout(outcome)
            elif outcome.status != EngineStatus.OVERRUN:
                before = self.corpus.behaviors
                self._consider(state, outcome)
                found += self.corpus.behaviors > before
        self.solver.credit(found)

    # --- failures, hangs, fatal errors -----------------------------------------------------

    def _on_failure(self, state: Any, kwargs: dict, outcome: Outcome) -> None:
        self._set_phase("shrink")
        original = outcome.choices
        original_value = encode_choices(original)
        self.recorder.close()  # Hypothesis' shrinker runs untraced
        run = self.runner.run
        confirm = run(state, original, exact=True, observe=True, how="fuzz:failure")
        if confirm.status != EngineStatus.INTERESTING:
            self._set_phase("generate")  # flaky: fuzzing goes on
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
        final = run(state, shrunk, exact=True, observe=True, how="fuzz:shrunk")
        if final.status != EngineStatus.INTERESTING:
            final = confirm  # fall back on what we saw fail
            shrunk = original
        self.store.save_failure(self.key, "shrunk", encode_choices(shrunk), final.observation)
        with self._lock:
            self.n_failures += 1
            self.failed = True
        self._set_phase("failed")

    def _on_timeout(self, outcome: Outcome) -> None:
        with self._lock:
            self.n_timeouts += 1
        if self._saved_timeouts >= MAX_SAVED_TIMEOUTS:
            return
        self._saved_timeouts += 1
        # The interrupted run's data is left half-built: the observation has no
        # features or arguments.
        observation = make_observation(
            self.nodeid,
            outcome.status,
            None,
            outcome.choices,
            events={},
            targets={},
            arguments={},
            representation="",
            start=time.time(),
            duration=self.timeout,
            how="fuzz:timeout",
            timeout=self.timeout,
        )
        with contextlib.suppress(Exception):
            self.store.save_timeout(self.key, encode_choices(outcome.choices), observation)

    def _set_fatal(self, user_tb: str) -> None:
        with self._lock:
            self.fatal = user_tb
        self.store.save_fatal_failure(self.key, FatalFailure(nodeid=self.nodeid, traceback=user_tb))
        self._set_phase("failed")

    def _clear_fatal_record(self) -> None:
        """The test set up and ran: a fatal failure recorded earlier is stale."""
        if self._fatal_record_cleared:
            return
        self._fatal_record_cleared = True
        with contextlib.suppress(Exception):
            self.store.clear_fatal_failure(self.key)

    # --- reports -----------------------------------------------------------------------------

    def _set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
        self.reports.write()

    def _report(self) -> Report:
        """The report of where this fuzzer is now."""
        with self._lock:
            return Report(
                database_key=self._key_base64,
                nodeid=self.nodeid,
                elapsed_time=self.elapsed,
                timestamp=time.time(),
                worker_uuid=self.worker_uuid,
                status_counts={str(int(s)): self.counts[s] for s in _DATA_STATUSES},
                behaviors=self.corpus.behaviors,
                fingerprints=self.corpus.fingerprints,
                since_new_behavior=self.since_new_behavior,
                phase=self.phase,
            )
