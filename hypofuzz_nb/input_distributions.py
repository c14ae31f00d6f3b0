"""What the fuzzer generates: :func:`distributions`, frames built from observations.

The observations are Hypothesis' observability records (one per executed input):
the *stored* ones the fuzzer samples while it runs (one every few seconds, the
latest :data:`~hypofuzz_nb.records.OBSERVATIONS_LIMIT` per test), and, with
``sample=N``, a *sampled* set: the test's stored corpus and mutations of it
(:class:`~hypofuzz_nb.mutate.Mutator`), N inputs in all, replayed with
observability in a subprocess (:mod:`hypofuzz_nb.replay` with
:class:`~hypofuzz_nb.sample_probe.ObservingProbe`). The ``source`` column says
which ("stored" or "sampled").

Frames of :class:`Distributions` (exactly the columns and dtypes of
:data:`DISTRIBUTION_SCHEMAS`, also when empty):

``counts`` (one row per test and source)
    ``inputs``, and how many of them ``passed``, ``failed`` (an error or a hang),
    were ``invalid`` (rejected by ``assume()``, ``.filter()`` or a skip), or were an
    ``overrun`` (drew more choices than allowed); these four add up to ``inputs``.
    ``duplicate`` counts inputs whose representation repeats an earlier input's of
    the same test and source (also counted under their status).
``inputs`` (one row per observation, in the order of :attr:`Distributions.observations`)
    ``status`` (passed, failed, invalid, overrun), ``duplicate``, ``how_generated``,
    ``size`` (characters of the representation: known for every input),
    ``choices`` (number of choices drawn; ``<NA>`` for stored observations, which
    do not record it), ``run_time_s``, ``representation``, ``run_start`` (UTC).
``features`` (one row per ``event()`` or ``target()`` value of an input)
    ``input`` (row of ``inputs``), ``kind`` ("event" or "target"), ``name``
    (the event, or the target's label; ``invalid because`` style reasons of
    ``assume()`` appear as the event ``gave up because``), ``value`` (as text),
    ``number`` (the value as a float, NaN when it is not a number).
``examples`` (the distinct inputs of each test by representation, smallest first)
    ``representation``, ``count`` (inputs with it), ``status`` (of the first), ``size``.

:meth:`Distributions.write_jsonl` exports the observations as a file Tyche opens:
Hypothesis' observability format, one JSON object per line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any

import numpy as np
import pandas as pd

from hypofuzz_nb.errors import BadSampleSize, NoTestsCollected, UnknownTest
from hypofuzz_nb.options import DEFAULT_TIMEOUT_S
from hypofuzz_nb.records import Observation
from hypofuzz_nb.replay import DEFAULT_REPLAY_TIMEOUT_S, ReplayLimits
from hypofuzz_nb.sample_probe import CHOICES_SIZE

__all__ = ["DISTRIBUTION_SCHEMAS", "Distributions", "distributions", "tyche_record"]

_STR = pd.StringDtype()
_I64 = np.dtype("int64")
_F64 = np.dtype("float64")
_UTC = pd.DatetimeTZDtype(unit="ns", tz="UTC")

#: Frame name -> column name -> dtype, in column order.
DISTRIBUTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "counts": {
        "nodeid": _STR,
        "source": _STR,
        "inputs": _I64,
        "passed": _I64,
        "failed": _I64,
        "invalid": _I64,
        "overrun": _I64,
        "duplicate": _I64,
    },
    "inputs": {
        "nodeid": _STR,
        "source": _STR,
        "status": _STR,
        "duplicate": np.dtype("bool"),
        "how_generated": _STR,
        "size": _I64,
        "choices": pd.Int64Dtype(),
        "run_time_s": _F64,
        "representation": _STR,
        "run_start": _UTC,
    },
    "features": {
        "nodeid": _STR,
        "source": _STR,
        "input": _I64,
        "kind": _STR,
        "name": _STR,
        "value": _STR,
        "number": _F64,
    },
    "examples": {
        "nodeid": _STR,
        "representation": _STR,
        "count": _I64,
        "status": _STR,
        "size": _I64,
    },
}

#: The statuses of the ``inputs`` frame, in the order of the ``counts`` columns.
INPUT_STATUSES = ("passed", "failed", "invalid", "overrun")
SOURCES = ("stored", "sampled")

#: Hypothesis' ``data_status`` of an input that drew more choices than allowed.
_OVERRUN_DATA_STATUS = 0
_TARGET_PREFIX = "target:"
_PROBE = "hypofuzz_nb.sample_probe:ObservingProbe"
#: Seed of the mutations of a sample, so that the same database gives the same sample.
SAMPLE_SEED = 0


@dataclass
class Distributions:
    """The frames of :func:`distributions` (see the module docstring), and the
    observations they were built from (``observations[i]`` is row ``i`` of ``inputs``)."""

    counts: pd.DataFrame
    inputs: pd.DataFrame
    features: pd.DataFrame
    examples: pd.DataFrame
    observations: list[Observation] = field(default_factory=list)

    @classmethod
    def from_observations(
        cls, observations: Sequence[tuple[str, str, Observation]]
    ) -> Distributions:
        """The frames of ``(nodeid, source, observation)`` triples."""
        return _build(observations)

    def write_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write the observations to ``path`` in Hypothesis' observability format, one
        test case per line (a file Tyche opens; its directory is created if need be);
        returns how many were written."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for observation in self.observations:
                f.write(json.dumps(tyche_record(observation), allow_nan=False) + "\n")
        return len(self.observations)


def tyche_record(observation: Observation) -> dict[str, Any]:
    """``observation`` as Hypothesis writes a test case observation (its metadata
    names ``sys.argv`` and ``os.getpid()`` so; no stability field; no coverage)."""
    record = observation.to_json()
    record.pop("stability", None)
    record["coverage"] = None
    metadata = dict(record["metadata"])
    for ours, theirs in (("sys_argv", "sys.argv"), ("os_getpid", "os.getpid()")):
        if ours in metadata:
            metadata[theirs] = metadata.pop(ours)
    record["metadata"] = metadata
    return record


def distributions(
    database: Any = None,
    *,
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    nodeid: str | None = None,
    sample: int | None = None,
    timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    input_timeout: float = DEFAULT_TIMEOUT_S,
) -> Distributions:
    """What the fuzzer generates for each test, from its stored observations and,
    with ``sample=N``, from N inputs of its corpus and their mutations replayed in a
    subprocess (see the module docstring for the frames).

    ``database`` is an ``ExampleDatabase``, the path of a directory database, or
    ``None`` for the settings profile's database after collecting ``paths``
    (default: the current directory), as in :func:`hypofuzz_nb.load`. A given
    database without ``sample`` needs no collection: its tests are the ones it
    holds. ``nodeid`` selects one test. With ``sample``, ``timeout`` bounds the whole
    call and ``input_timeout`` each replayed input, in seconds: a slower input is
    stopped and counted as a timeout; past ``timeout`` the replaying subprocess is
    killed and :class:`~hypofuzz_nb.errors.ReplayTimeout` raised, with no partial
    result (without ``sample`` nothing is replayed and they are unused).

    Raises :class:`~hypofuzz_nb.errors.UnknownTest` for an unknown ``nodeid``,
    :class:`~hypofuzz_nb.errors.BadSampleSize` unless ``sample`` is ``None`` or a
    positive integer, :class:`~hypofuzz_nb.errors.BadTimeout` unless both timeouts are
    positive numbers, :class:`~hypofuzz_nb.errors.NoTestsCollected` when ``paths``
    hold no tests to fuzz, and :class:`~hypofuzz_nb.errors.ReplayError` if the
    replaying subprocess fails.
    """
    if sample is not None and (
        isinstance(sample, bool) or not isinstance(sample, int) or sample < 1
    ):
        raise BadSampleSize(sample)
    limits = ReplayLimits.check(timeout, input_timeout)
    from hypofuzz_nb.databases import open_database
    from hypofuzz_nb.resilient import private_database
    from hypofuzz_nb.store import Store

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    where = [os.fspath(p) for p in paths] if paths else ["."]
    keys: dict[str, bytes] = {}
    if database is None or paths or sample is not None:
        from hypofuzz_nb.collect import list_tests

        listing = list_tests(where)
        keys = {t.nodeid: t.database_key for t in listing.targets}
        if not keys:
            if listing.errors:
                raise listing.errors[0]
            raise NoTestsCollected(", ".join(where), listing.counts)
        if database is None:
            database = listing.database
    if isinstance(database, (str, os.PathLike)):
        database = open_database(database)
    store = Store(private_database(database), read_only=True) if database is not None else None
    read: dict[bytes, list[Observation]] = {}
    if store is not None and not keys:
        keys = _tests_in(store, read)
    if nodeid is not None:
        if nodeid not in keys:
            raise UnknownTest(nodeid, sorted(keys))
        keys = {nodeid: keys[nodeid]}
    if store is None:
        return _build([])
    triples: list[tuple[str, str, Observation]] = []
    for name, key in sorted(keys.items()):
        stored = read[key] if key in read else store.observations(key)
        triples.extend((name, "stored", o) for o in stored)
    if sample is not None:
        triples.extend(_sample(store, keys, where, sample, limits))
    return _build(triples)


def _tests_in(store: Any, read: dict[bytes, list[Observation]]) -> dict[str, bytes]:
    """The tests a database holds, by the node id their reports or observations name
    (the observations read are kept in ``read``, by key)."""
    out = {}
    for key in store.test_keys():
        names = [r.nodeid for r in store.reports(key)]
        if not names:
            read[key] = store.observations(key)
            names = [o.property for o in read[key]]
        if names:
            out[max(names)] = key
    return out


def _sample(
    store: Any, keys: dict[str, bytes], where: list[str], sample: int, limits: ReplayLimits
) -> list[tuple[str, str, Observation]]:
    """``sample`` inputs per test: its stored corpus (shortest first), then
    mutations of random corpus entries (fresh inputs when it has none)."""
    from hypofuzz_nb.mutate import Mutator, Seed
    from hypofuzz_nb.replay import ReplayRequest, replay
    from hypofuzz_nb.runner import MAX_CHOICES

    tests: dict[str, list[tuple]] = {}
    mutated_from = []
    for name, key in sorted(keys.items()):
        corpus = [choices for _value, choices in store.corpus(key)][:sample]
        rnd = Random(SAMPLE_SEED)
        mutator = Mutator(rnd, max_choices=MAX_CHOICES)
        seeds = [Seed(c) for c in corpus] or [Seed(())]
        mutations = [
            mutator.mutate(rnd.choice(seeds), rnd.choice(seeds))
            for _ in range(sample - len(corpus))
        ]
        tests[name] = corpus + mutations
        mutated_from.append(len(corpus))
    request = ReplayRequest(
        paths=where,
        rootdir=os.getcwd(),
        tests=tests,
        probe=_PROBE,
        probe_options={
            "nodeids": list(tests),
            "mutated_from": mutated_from,
            "timeout": limits.input_timeout,
        },
        max_choices=MAX_CHOICES,
        input_timeout=limits.input_timeout,
    )
    replayed, observations = replay(request, limits)
    out = []
    for test, observed in zip(replayed, observations, strict=True):
        if test.error is not None:
            import warnings

            warnings.warn(
                f"the inputs of {test.nodeid} could not be replayed:\n{test.error}",
                stacklevel=3,
            )
            continue
        out.extend((test.nodeid, "sampled", o) for o in observed)
    return out


def _status(observation: Observation) -> str:
    if observation.status == "passed":
        return "passed"
    if observation.status == "failed":
        return "failed"
    if observation.metadata.get("data_status") == _OVERRUN_DATA_STATUS:
        return "overrun"
    return "invalid"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _frame(name: str, columns: dict[str, Any]) -> pd.DataFrame:
    schema = DISTRIBUTION_SCHEMAS[name]
    data = {col: pd.Series(columns.get(col, []), dtype=dtype) for col, dtype in schema.items()}
    return pd.DataFrame(data, columns=list(schema))


def _build(triples: Sequence[tuple[str, str, Observation]]) -> Distributions:
    inputs: dict[str, list[Any]] = {name: [] for name in DISTRIBUTION_SCHEMAS["inputs"]}
    features: dict[str, list[Any]] = {name: [] for name in DISTRIBUTION_SCHEMAS["features"]}
    seen: set[tuple[str, str, str]] = set()
    starts = []
    for row, (nodeid, source, o) in enumerate(triples):
        representation = o.representation
        duplicate = (nodeid, source, representation) in seen
        seen.add((nodeid, source, representation))
        choices = o.metadata.get(CHOICES_SIZE)
        timing = o.timing
        run_time = timing.get("execute:test")
        if run_time is None:
            run_time = sum(v for v in timing.values() if isinstance(v, (int, float)))
        inputs["nodeid"].append(nodeid)
        inputs["source"].append(source)
        inputs["status"].append(_status(o))
        inputs["duplicate"].append(duplicate)
        inputs["how_generated"].append(o.how_generated)
        inputs["size"].append(len(representation))
        inputs["choices"].append(choices if isinstance(choices, int) else None)
        inputs["run_time_s"].append(float(run_time))
        inputs["representation"].append(representation)
        starts.append(o.run_start)
        for key, value in o.features.items():
            target = key == "target" or key.startswith(_TARGET_PREFIX)
            features["nodeid"].append(nodeid)
            features["source"].append(source)
            features["input"].append(row)
            features["kind"].append("target" if target else "event")
            features["name"].append(key.removeprefix(_TARGET_PREFIX) if target else key)
            features["value"].append(str(value))
            features["number"].append(_number(value))
    arr = np.asarray(starts, dtype="float64")
    with np.errstate(invalid="ignore"):
        arr = np.where(np.abs(arr) < 9.2e9, arr, np.nan)  # datetime64[ns]'s range
    inputs["run_start"] = pd.to_datetime(arr, unit="s", utc=True)
    inputs_frame = _frame("inputs", inputs)
    return Distributions(
        counts=_counts(inputs_frame),
        inputs=inputs_frame,
        features=_frame("features", features),
        examples=_examples(inputs_frame),
        observations=[o for _n, _s, o in triples],
    )


def _counts(inputs: pd.DataFrame) -> pd.DataFrame:
    if inputs.empty:
        return _frame("counts", {})
    by = inputs.groupby(["nodeid", "source"], sort=True, observed=True)
    statuses = (
        pd.crosstab([inputs.nodeid, inputs.source], inputs.status)
        .reindex(columns=list(INPUT_STATUSES), fill_value=0)
        .sort_index()
    )
    index = statuses.index
    columns = {
        "nodeid": index.get_level_values(0),
        "source": index.get_level_values(1),
        "inputs": statuses.sum(axis=1).to_numpy(),
        "duplicate": by.duplicate.sum().reindex(index).to_numpy(),
    }
    for status in INPUT_STATUSES:
        columns[status] = statuses[status].to_numpy()
    return _frame("counts", columns)


def _examples(inputs: pd.DataFrame) -> pd.DataFrame:
    if inputs.empty:
        return _frame("examples", {})
    by = inputs.groupby(["nodeid", "representation"], sort=False, observed=True)
    first = by.first()
    columns = {
        "nodeid": first.index.get_level_values(0),
        "representation": first.index.get_level_values(1),
        "count": by.size().to_numpy(),
        "status": first.status.to_numpy(),
        "size": first["size"].to_numpy(),
    }
    frame = _frame("examples", columns)
    return frame.sort_values(["nodeid", "size", "representation"], ignore_index=True)
