"""Status snapshots of a fuzzing session: one record per test, and their merge.

A :class:`TestStatus` is what one worker knows of one test; :func:`merge_statuses`
sums the records of workers that share a test; :class:`SessionStatus` is a whole
session's snapshot, with its table as text and HTML.

Words: a test's *status* in the table is one of the words of ``frames.STATUSES``
that a live session can tell (fatal, failed, waiting: not started yet, idle: not
being fuzzed now), ``finished`` (done for good: its budget is used up or its search
space exhausted), or while it is being fuzzed the engine's *phase* (replay,
generate, shrink). ``n_failures`` counts a test's failing inputs;
:attr:`SessionStatus.n_failing_tests` counts tests with a failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypofuzz_nb.summary import database_note, solver_note

if TYPE_CHECKING:
    import pandas

__all__ = ["PLATEAU_INPUTS", "PLATEAU_SECONDS", "SessionStatus", "TestStatus", "merge_statuses"]

# The one plateau threshold: a test whose behaviors stopped growing for both this many
# seconds of its own fuzzing time and this many inputs is on a plateau (the reading
# view hypofuzz_nb.plateau_signal and the worker's solver use the same two numbers).

#: Seconds of the test's own fuzzing time without a new behavior.
PLATEAU_SECONDS = 30.0
#: Inputs of the test without a new behavior.
PLATEAU_INPUTS = 5_000


@dataclass(frozen=True, slots=True)
class TestStatus:
    """Progress of one test in this session (summed over the workers that share it).

    ``elapsed_s`` is the time this test itself was fuzzed, not the session's wall
    time: tests take turns on a worker. ``inputs_per_s`` is per second of that own
    fuzzing time (summed over the workers that share the test), so the rates of
    time-shared tests add up to far more than the session runs: use
    :attr:`SessionStatus.inputs_per_s` for the whole session.
    """

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    database_key: str  # base64 of the test's key, as in reports
    phase: str
    inputs: int
    behaviors: int
    fingerprints: int
    since_new_behavior: int | None
    elapsed_s: float
    inputs_per_s: float
    n_failures: int
    finished: bool
    fatal: str | None = None
    n_timeouts: int = 0  # inputs that hung past the per-input timeout
    solver_calls: int = 0  # CrossHair calls on plateaus (hypofuzz_nb.solver)
    solver_s: float = 0.0  # seconds spent in them
    solver_found: int = 0  # their inputs that reached a new behavior or failed

    @classmethod
    def killed_its_process(cls, nodeid: str, database_key: str) -> TestStatus:
        """A test whose input killed the process fuzzing it: failed and finished, with
        nothing else known (its counters died with the process)."""
        return cls(
            nodeid=nodeid,
            database_key=database_key,
            phase="failed",
            inputs=0,
            behaviors=0,
            fingerprints=0,
            since_new_behavior=None,
            elapsed_s=0.0,
            inputs_per_s=0.0,
            n_failures=1,
            finished=True,
        )


_COLUMNS = tuple(f.name for f in dataclasses.fields(TestStatus))


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A consistent snapshot of a whole session; cheap to take, safe to keep."""

    tests: tuple[TestStatus, ...]
    running: bool
    elapsed_s: float
    workers: int
    restarts: int = 0
    error: str | None = None
    #: Database writes kept in memory because the database refused them (all workers).
    pending_writes: int = 0
    #: ``time.time()`` since when the database has been unreachable, or ``None``.
    unreachable_since: float | None = None
    #: The Dask workers fuzzing now (``fuzz(cluster=...)``), by address.
    hosts: tuple[str, ...] = ()

    @property
    def inputs(self) -> int:
        return sum(t.inputs for t in self.tests)

    @property
    def n_failing_tests(self) -> int:
        """Number of tests with at least one failure (fatal failures included)."""
        return sum(1 for t in self.tests if t.n_failures or t.fatal)

    @property
    def inputs_per_s(self) -> float:
        """Inputs of every test per second of the session's wall time (``elapsed_s``).

        Not the sum of the tests' own rates: those are per second of each test's own
        fuzzing time, and tests that take turns would be counted many times over.
        """
        return self.inputs / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_frame(self) -> pandas.DataFrame:
        """One row per test, columns in the order of :class:`TestStatus` fields."""
        import pandas

        rows = [dataclasses.astuple(t) for t in self.tests]
        return pandas.DataFrame(rows, columns=list(_COLUMNS))

    def headline(self) -> str:
        """One line: running or stopped, tests, inputs and the session's rate, failing tests,
        database."""
        n = len(self.tests)
        parts = [
            f"hypofuzz_nb {'fuzzing' if self.running else 'stopped'} for {self.elapsed_s:,.1f} s",
            f"{n} test{'s' if n != 1 else ''}",
            f"{self.inputs:,} inputs ({self.inputs_per_s:,.0f}/s over the session)",
            f"{self.n_failing_tests} failing",
            f"{self.workers} worker{'s' if self.workers != 1 else ''}",
        ]
        if self.hosts:
            parts.append(f"on Dask workers {', '.join(self.hosts)}")
        if self.restarts:
            parts.append(f"{self.restarts} worker restart(s)")
        if solver := solver_note(self):
            parts.append(solver)
        if note := database_note(self):
            parts.append(note)
        return ", ".join(parts)

    def _rows(self) -> list[tuple[str, ...]]:
        """Failing tests first, then by nodeid; cells as displayed (see _TABLE_HEADERS)."""
        ordered = sorted(self.tests, key=lambda t: (not (t.n_failures or t.fatal), t.nodeid))
        return [
            (
                _test_status(t, running=self.running),
                f"{t.inputs:,}",
                f"{t.behaviors:,}",
                f"{t.fingerprints:,}",
                f"{t.inputs_per_s:,.0f}",
                "" if t.since_new_behavior is None else f"{t.since_new_behavior:,}",
                f"{t.n_failures:,}",
                t.nodeid,
            )
            for t in ordered
        ]

    def __str__(self) -> str:
        lines = [self.headline()]
        if self.error:
            lines.append(f"error: {self.error}")
        rows = self._rows()
        if not rows:
            lines.append("No tests yet.")
            return "\n".join(lines)
        table = [tuple(h for h, _ in _TABLE_HEADERS), *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(_TABLE_HEADERS) - 1)]
        for row in table:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        lines.append(_RATE_NOTE)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        import html

        cell = "padding:0 .6em;text-align:right;white-space:nowrap"
        head = "".join(
            f'<th style="{cell}" title="{html.escape(tip)}">{html.escape(h)}</th>'
            for h, tip in _TABLE_HEADERS[:-1]
        )
        name = "text-align:left;font-family:monospace;word-break:break-all"
        body = []
        for row in self._rows():
            cells = "".join(f'<td style="{cell}">{html.escape(c)}</td>' for c in row[:-1])
            body.append(f'<tr><td style="{name}">{html.escape(row[-1])}</td>{cells}</tr>')
        error = (
            f'<pre style="color:#c62828;white-space:pre-wrap">{html.escape(self.error)}</pre>'
            if self.error
            else ""
        )
        return (
            f'<div class="hypofuzz-nb-status"><p><b>{html.escape(self.headline())}</b></p>{error}'
            '<div style="max-width:100%;overflow-x:auto">'
            '<table style="border-collapse:collapse"><thead><tr>'
            f'<th style="text-align:left">test</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
            f"<p><small>{html.escape(_RATE_NOTE)}</small></p></div>"
        )


#: Columns of a SessionStatus table: (header, what it means).
_TABLE_HEADERS = (
    (
        "status",
        "fatal, failed, finished, waiting (not started), idle (not fuzzed now), "
        "or while fuzzing its phase: replay, generate, shrink",
    ),
    ("inputs", "inputs run in this session"),
    ("behaviors", "distinct behaviors (branches, events, targets) seen"),
    ("fingerprints", "distinct combinations of behaviors seen"),
    ("inputs/s", "per second of the test's own fuzzing time"),
    ("since new", "inputs since the last new behavior"),
    ("failures", "failing inputs found"),
    ("test", "the test's pytest node id"),
)

_RATE_NOTE = (
    "A test's inputs/s is per second of its own fuzzing time (tests take turns); "
    "the session's rate is per second of wall time."
)


def _test_status(t: TestStatus, *, running: bool) -> str:
    """The test's word in the table: the words of ``frames.STATUSES`` where they
    apply (fatal, failed, waiting, idle); ``finished`` for a test done for good,
    and the engine's phase in place of ``running``."""
    if t.fatal:
        return "fatal"
    if t.n_failures:
        return "failed"
    if t.finished:
        return "finished"
    if t.phase == "waiting":  # the scheduler had not reached it yet
        return "waiting"
    if not running:
        return "idle"
    return t.phase


def merge_statuses(statuses: Iterable[TestStatus]) -> tuple[TestStatus, ...]:
    """One status per nodeid, merging workers that share a test (sorted by nodeid)."""
    by_nodeid: dict[str, TestStatus] = {}
    for s in statuses:
        old = by_nodeid.get(s.nodeid)
        if old is None:
            by_nodeid[s.nodeid] = s
            continue
        since = [x for x in (old.since_new_behavior, s.since_new_behavior) if x is not None]
        by_nodeid[s.nodeid] = dataclasses.replace(
            old,
            phase=old.phase if old.phase == "failed" else s.phase,
            inputs=old.inputs + s.inputs,
            behaviors=max(old.behaviors, s.behaviors),
            fingerprints=max(old.fingerprints, s.fingerprints),
            since_new_behavior=min(since) if since else None,
            elapsed_s=max(old.elapsed_s, s.elapsed_s),
            inputs_per_s=old.inputs_per_s + s.inputs_per_s,
            n_failures=max(old.n_failures, s.n_failures),
            finished=old.finished and s.finished,
            fatal=old.fatal or s.fatal,
            n_timeouts=old.n_timeouts + s.n_timeouts,
            solver_calls=old.solver_calls + s.solver_calls,
            solver_s=old.solver_s + s.solver_s,
            solver_found=old.solver_found + s.solver_found,
        )
    return tuple(by_nodeid[k] for k in sorted(by_nodeid))
