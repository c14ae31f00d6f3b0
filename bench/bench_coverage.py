"""How long ``hypofuzz_nb.coverage()`` takes for a test with a 500-input corpus, against
plain ``coverage run`` replaying the same inputs.

Usage: ``python bench/bench_coverage.py [--inputs 500] [--rounds 5] [--no-observations]``

Builds a project in a temporary directory: a branchy decoder and one ``@given`` test
over lists of bytes, and a directory database holding ``--inputs`` corpus entries
(random lists, saved through Store as the fuzzer saves them: each with an observation
holding its representation; ``--no-observations`` leaves those out, so every input is
run a second time for its representation, the worst case). Then, alternating round
by round, it times:

- ``coverage()``: the whole call in this process (pandas and hypofuzz_nb imported
  before the clock starts): collecting the tests, reading the corpus, the replaying
  subprocess (collection again, one coverage.py context per input, a second pass
  for the inputs' representations, the JSON report) and building the frame;
- the baseline, ``coverage run --branch`` of a script that imports the test module
  and calls the test's function on the same 500 values (no pytest, no Hypothesis
  engine, no per-input contexts), then ``coverage json``: the least a replay under
  coverage.py can cost.

Target: ``coverage()`` <= 5 s. Every figure is the median over ``--rounds`` rounds
with its min-max; the ratio is paired round by round.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import interleave, print_header, summarize, summarize_ratio
from hypothesis.database import DirectoryBasedExampleDatabase

import hypofuzz_nb
from hypofuzz_nb.records import Observation, encode_choices
from hypofuzz_nb.store import Store

TARGET_S = 5.0
#: Where a project keeps its database (pytest does not walk dot-directories).
DATABASE = ".hypothesis/examples"
MAX_LIST = 16
BYTE = 256

DECODER = """\
def decode(frame):
    if len(frame) < 4:
        raise ValueError("short")
    if frame[0] != 0x48:
        raise ValueError("magic 0")
    if frame[1] != 0x59:
        raise ValueError("magic 1")
    kind = frame[2]
    if kind < 16:
        body = frame[3:]
    elif kind < 128:
        body = frame[3:][::-1]
    else:
        body = [b ^ 0xFF for b in frame[3:]]
    total = 0
    for b in body:
        if b % 2:
            total += b
        else:
            total -= b
    return total
"""

TEST = f"""\
from hypothesis import given, strategies as st
from decoder import decode


@given(st.lists(st.integers(0, 255), max_size={MAX_LIST}))
def test_decode(frame):
    try:
        decode(frame)
    except ValueError:
        pass
"""

BASELINE = """\
import json, sys
from test_decoder import test_decode

inner = test_decode.hypothesis.inner_test
for frame in json.load(open(sys.argv[1])):
    inner(frame)
"""


def build(root: Path, n_inputs: int, observations: bool) -> list[list[int]]:
    (root / "decoder.py").write_text(DECODER)
    (root / "test_decoder.py").write_text(TEST)
    (root / "baseline.py").write_text(BASELINE)
    (root / "conftest.py").write_text(
        "from hypothesis import settings\n"
        "from hypothesis.database import DirectoryBasedExampleDatabase\n"
        "settings.register_profile('bench', "
        f"database=DirectoryBasedExampleDatabase({str(root / DATABASE)!r}))\n"
        "settings.load_profile('bench')\n"
    )
    rng = random.Random(0)
    frames = []
    for _ in range(n_inputs):
        frame = [rng.randrange(BYTE) for _ in range(rng.randrange(MAX_LIST + 1))]
        if rng.random() < 0.5 and len(frame) >= 2:
            frame[:2] = [0x48, 0x59]
        frames.append(frame)
    tests = hypofuzz_nb.load(paths=[str(root)]).tests
    key = base64.b64decode(tests.database_key.iloc[0])
    store = Store(DirectoryBasedExampleDatabase(root / DATABASE))
    for frame in frames:
        # st.lists draws "one more element?" before each element, False to stop
        choices = (*(c for b in frame for c in (True, b)), False)
        observation = Observation(
            status="passed",
            representation=f"test_decode(\n    frame={frame!r},\n)",
            property="test_decoder.py::test_decode",
            run_start=time.time(),
        )
        store.save_corpus_entry(key, encode_choices(choices), observation if observations else None)
    (root / "frames.json").write_text(json.dumps(frames))
    return frames


def time_coverage(root: Path) -> float:
    start = time.perf_counter()
    frame = hypofuzz_nb.coverage(paths=[str(root)])
    elapsed = time.perf_counter() - start
    assert not frame.empty
    return elapsed


def time_baseline(root: Path) -> float:
    start = time.perf_counter()
    coverage = [sys.executable, "-m", "coverage"]
    subprocess.run(
        [*coverage, "run", "--branch", "--data-file=.cov", "baseline.py", "frames.json"],
        cwd=root,
        check=True,
    )
    subprocess.run(
        [*coverage, "json", "--data-file=.cov", "-o", "cov.json", "-q"], cwd=root, check=True
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-observations", action="store_true")
    args = parser.parse_args()
    print_header(
        "coverage of a stored corpus",
        inputs=args.inputs,
        rounds=args.rounds,
        stored_representations=not args.no_observations,
    )
    with tempfile.TemporaryDirectory(prefix="bench-coverage-") as tmp:
        root = Path(tmp)
        build(root, args.inputs, observations=not args.no_observations)
        os.chdir(root)
        runs = interleave(
            {
                "coverage": lambda _run: time_coverage(root),
                "baseline": lambda _run: time_baseline(root),
            },
            args.rounds,
        )
    measured, baseline = runs["coverage"], runs["baseline"]
    print(f"coverage():            {summarize(measured, fmt='.2f', unit=' s')}")
    print(f"coverage run baseline: {summarize(baseline, fmt='.2f', unit=' s')}")
    print(f"ratio:                 {summarize_ratio(measured, baseline)}")
    median = statistics.median(measured)
    print(f"target <= {TARGET_S:.0f} s: {'met' if median <= TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
