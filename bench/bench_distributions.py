"""How long ``hypofuzz_nb.distributions`` takes from 10,000 observations already sampled.

Usage: ``python bench/bench_distributions.py [--observations 10000] [--rounds 5]``

Builds ``--observations`` observations like the fuzzer's (a representation of a list of
bytes, an event with a few values, a ``target()`` value, a run time; a tenth invalid,
a few failed, some duplicates), split into tests of at most
:data:`~hypofuzz_nb.records.OBSERVATIONS_LIMIT` each as a database holds them, and
times, round by round:

- ``frames``: :meth:`Distributions.from_observations` on the observations in memory
  (the work ``distributions(sample=N)`` does once its subprocess returned);
- ``from database``: ``distributions(database)`` reading them from a directory
  database through Store and building the frames;
- ``view``: the HTML of the view (counts, inline SVG charts, examples) from the frames.

Target: ``frames`` <= 1 s. Every figure is the median over ``--rounds`` rounds with
its min-max.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import interleave, print_header, summarize
from hypothesis.database import DirectoryBasedExampleDatabase

import hypofuzz_nb
from hypofuzz_nb.distributions_html import DistributionsView
from hypofuzz_nb.input_distributions import Distributions
from hypofuzz_nb.records import OBSERVATIONS_LIMIT, Observation
from hypofuzz_nb.store import Store

TARGET_S = 1.0
MAX_LIST = 16
BYTE = 256
#: Shares of invalid and failed inputs among the observations.
INVALID_SHARE, FAILED_SHARE = 0.1, 0.01
#: The length of a Hypothesis database key.
KEY_LENGTH = 48


def make_observations(n: int) -> list[tuple[str, str, Observation]]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        nodeid = f"test_decoder.py::test_decode_{i // OBSERVATIONS_LIMIT}"
        frame = [rng.randrange(BYTE) for _ in range(rng.randrange(MAX_LIST + 1))]
        r = rng.random()
        status = "gave_up" if r < INVALID_SHARE else "failed" if r < 0.11 else "passed"
        features = {"length": f"{len(frame) // 4 * 4}+", "target:checksum": float(sum(frame))}
        if status == "gave_up":
            features = {"gave up because": "failed to satisfy assume()"}
        out.append(
            (
                nodeid,
                "stored",
                Observation(
                    status=status,
                    representation=f"test_decode(\n    frame={frame!r},\n)",
                    property=nodeid,
                    run_start=1_700_000_000.0 + i,
                    how_generated="fuzz:mutate",
                    features=features,
                    timing={"execute:test": rng.expovariate(1000.0)},
                    metadata={"data_status": 1 if status == "gave_up" else 2},
                ),
            )
        )
    return out


def save(root: Path, triples: list[tuple[str, str, Observation]]) -> None:
    store = Store(DirectoryBasedExampleDatabase(root))
    keys: dict[str, bytes] = {}
    for nodeid, _source, observation in triples:
        key = keys.setdefault(nodeid, nodeid.encode().rjust(KEY_LENGTH, b"_")[-KEY_LENGTH:])
        store.register_test(key)
        store.save_observation(key, observation)


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print_header("distributions of sampled inputs", observations=args.observations)
    triples = make_observations(args.observations)
    data = Distributions.from_observations(triples)
    assert int(data.counts.inputs.sum()) == args.observations
    with tempfile.TemporaryDirectory(prefix="bench-distributions-") as tmp:
        save(Path(tmp), triples)
        runs = interleave(
            {
                "frames": lambda _run: timed(Distributions.from_observations, triples),
                "database": lambda _run: timed(hypofuzz_nb.distributions, tmp),
                "view": lambda _run: timed(DistributionsView(data)._repr_html_),
            },
            args.rounds,
        )
    print(f"frames:        {summarize(runs['frames'], fmt='.3f', unit=' s')}")
    print(f"from database: {summarize(runs['database'], fmt='.3f', unit=' s')}")
    print(f"view (HTML):   {summarize(runs['view'], fmt='.3f', unit=' s')}")
    median = statistics.median(runs["frames"])
    print(f"target <= {TARGET_S:.0f} s: {'met' if median <= TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
