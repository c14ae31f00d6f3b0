"""Replaying stored inputs of collected tests in a subprocess, under a probe.

:func:`replay` runs a fresh Python process that collects the tests in ``paths``
(as ``hypofuzz-nb fuzz`` would), runs each requested test on exact choice
sequences the way the engine replays its corpus (one fixtures block per test, an
exact prefix, the test's settings without deadline or database), and returns what
the probe measured. The process is separate so that a probe's tracer (coverage.py)
never meets the fuzzer's, and the caller's process (a kernel that may be fuzzing)
only waits on a pipe.

A *probe* is a class named as ``"module:Class"`` (imported in the subprocess). It
is constructed with the request's ``probe_options`` before the tests are imported,
and is called as:

* ``probe.start()``: before collection (imports and fixture setup run outside any
  input); a probe with a ``pytest_plugin`` attribute (a module name) has that
  module registered with pytest (``-p``) for the collection, for its hooks;
* ``with probe.input(test_index, input_index):`` around each input's run;
* ``with probe.paused():`` around the second pass that only builds each input's
  representation (so that user ``__repr__`` code is not measured);
* ``probe.result(tests)``: once, after every test ran; ``tests`` are the
  :class:`ReplayedTest` results; returns anything picklable.

A probe with a ``ran`` method observes each input instead: the first pass runs under
Hypothesis' observability (representation and arguments are built, so the second
pass is skipped) and ``probe.ran(test_index, input_index, data, status, exception,
representation)`` is called after each input, with the frozen ConjectureData.

The first pass gives each input its status and Hypothesis sort key; the second its
representation (only for inputs whose representation the request does not give). A test whose fixtures fail to set up gets ``error`` (the user's
traceback) and no inputs. This module imports no pandas: the subprocess stays light.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from random import Random
from typing import Any

from hypofuzz_nb import _compat
from hypofuzz_nb.errors import ReplayError

__all__ = ["ReplayRequest", "ReplayedInput", "ReplayedTest", "replay"]

#: How much of the subprocess' own output an error message quotes.
_OUTPUT_TAIL_CHARS = 4000


@dataclass
class ReplayRequest:
    """What to replay: ``tests`` maps node ids to their choice sequences;
    ``representations`` to those already known (``None`` where not): the inputs
    with one are not run a second time."""

    paths: list[str]
    rootdir: str
    tests: dict[str, list[tuple]]
    probe: str
    probe_options: dict[str, Any] = field(default_factory=dict)
    pytest_args: list[str] = field(default_factory=list)
    representations: dict[str, list[str | None]] = field(default_factory=dict)
    #: ``None``: each input replays exactly its choices. A number: the choices are a
    #: prefix (a mutation), draws past it come fresh from a Random seeded with the
    #: input's index, up to this many choices in all.
    max_choices: int | None = None


@dataclass
class ReplayedInput:
    """One input as replayed: ``status`` is an ``_compat.EngineStatus`` value."""

    choices: tuple
    status: int
    sort_key: tuple
    representation: str


@dataclass
class ReplayedTest:
    nodeid: str
    inputs: list[ReplayedInput]
    error: str | None = None


def replay(request: ReplayRequest) -> tuple[list[ReplayedTest], Any]:
    """Run ``request`` in a subprocess; ``(tests in request order, probe result)``.

    Raises :class:`~hypofuzz_nb.errors.ReplayError` (with the tail of the
    subprocess' output) if the subprocess fails.
    """
    import hypofuzz_nb

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(hypofuzz_nb.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="hypofuzz-nb-replay-") as tmp:
        request_path = os.path.join(tmp, "request.pickle")
        result_path = os.path.join(tmp, "result.pickle")
        with open(request_path, "wb") as f:
            pickle.dump(request, f)
        proc = subprocess.run(
            [sys.executable, "-m", "hypofuzz_nb.replay", request_path, result_path],
            cwd=request.rootdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        output = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0 or not os.path.exists(result_path):
            raise ReplayError(proc.returncode, output[-_OUTPUT_TAIL_CHARS:])
        with open(result_path, "rb") as f:
            tests, probe_result = pickle.load(f)
    return tests, probe_result


def _load_probe(name: str, options: dict[str, Any]) -> Any:
    import importlib

    module_name, _, class_name = name.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(**options)


def _run_test(
    target: Any,
    index: int,
    inputs: Sequence[tuple],
    known: Sequence[str | None],
    probe: Any,
    max_choices: int | None = None,
) -> ReplayedTest:
    from hypothesis import Verbosity
    from hypothesis import settings as Settings

    settings = Settings(
        parent=target.settings, deadline=None, database=None, verbosity=Verbosity.quiet
    )
    provider = _compat.engine_provider_base()
    replayed: list[ReplayedInput] = []
    try:
        with target.fixtures() as kwargs:
            state = _compat.engine_make_state(target.test, kwargs, settings)
            ran = getattr(probe, "ran", None)
            for i, choices in enumerate(inputs):
                limit = len(choices) if max_choices is None else max_choices
                data = _compat.engine_new_data(choices, Random(i), provider, limit)
                observing = _compat.engine_observing(state) if ran else nullcontext({})
                with probe.input(index, i), observing as observed:
                    status, exception = _compat.engine_execute(state, data)
                representation = observed.get("representation", "")
                if ran is not None:
                    ran(index, i, data, status, exception, representation)
                ran_choices = (
                    tuple(choices) if max_choices is None else _compat.engine_choices(data)
                )
                replayed.append(
                    ReplayedInput(
                        ran_choices, status, _compat.replay_sort_key(data), representation
                    )
                )
            for entry, representation in zip(replayed, known, strict=False):
                entry.representation = representation or entry.representation
            with probe.paused():
                for entry in replayed:
                    if entry.representation:
                        continue
                    data = _compat.engine_new_data(
                        entry.choices, Random(0), provider, len(entry.choices)
                    )
                    with _compat.engine_observing(state) as observed:
                        _compat.engine_execute(state, data)
                    entry.representation = observed.get("representation", "")
    except Exception as err:  # a fixture or the test's set-up: the user's to fix
        from hypofuzz_nb.userframes import user_traceback

        text = getattr(err, "traceback", None)
        return ReplayedTest(
            target.nodeid, [], text if isinstance(text, str) else user_traceback(err)
        )
    return ReplayedTest(target.nodeid, replayed)


def _main(request_path: str, result_path: str) -> None:
    with open(request_path, "rb") as f:
        request: ReplayRequest = pickle.load(f)
    probe = _load_probe(request.probe, request.probe_options)
    probe.start()
    from hypofuzz_nb.collect import collect_tests

    results: dict[str, ReplayedTest] = {}
    pytest_args = list(request.pytest_args)
    plugin = getattr(probe, "pytest_plugin", None)
    if plugin:
        pytest_args += ["-p", plugin]
    with collect_tests(request.paths, pytest_args, rootdir=request.rootdir) as collection:
        targets = {t.nodeid: t for t in collection.targets}
        for index, (nodeid, inputs) in enumerate(request.tests.items()):
            target = targets.get(nodeid)
            if target is None:
                results[nodeid] = ReplayedTest(nodeid, [], "the test was not collected again")
            else:
                known = request.representations.get(nodeid, [])
                results[nodeid] = _run_test(
                    target, index, inputs, known, probe, request.max_choices
                )
    tests = [results[nodeid] for nodeid in request.tests]
    probe_result = probe.result(tests)
    with open(result_path, "wb") as f:
        pickle.dump((tests, probe_result), f)


if __name__ == "__main__":
    # Through the package's module, so that the results pickle as
    # hypofuzz_nb.replay classes rather than __main__ ones.
    from hypofuzz_nb.replay import _main as main

    main(sys.argv[1], sys.argv[2])
