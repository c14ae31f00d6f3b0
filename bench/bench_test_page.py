"""What opening one test's page costs, from data already loaded (target <= 300 ms).

Usage: ``python bench/bench_test_page.py [--tests 100 --reports 200] [--corpus 500] [--rounds 7]``

On the foundation benchmark's directory database (bench_load.build, cached under
``bench/results/``), loaded once; one test is given a corpus of ``--corpus`` inputs
(half of them duplicates by repr) and one shrunk failure with eight unshrunk inputs
of the same bug, as Hypothesis leaves them. Then, per round, for a test not opened
before (nothing cached):

- ``static``: ``TestPage(data, nodeid)`` and its HTML (curves PNG, corpus, failures);
- ``widget``: the same and its ipywidgets tree: what the dashboard's Test page picker
  does on the kernel's thread.

Replaying for coverage is not part of opening a page (it runs on request, in a
subprocess; bench_coverage.py measures it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import context, print_header, summarize
from bench_load import RESULTS, build

import hypofuzz_nb
from hypofuzz_nb.frames import SCHEMAS
from hypofuzz_nb.single_test_page import TestPage

TARGET_MS = 300.0
UNSHRUNK_COPIES = 8


def _with_corpus_and_failures(data, nodeids: list[str], corpus_size: int) -> None:
    """Give each of ``nodeids`` a corpus and a bug's failures, as frames of load()'s schema."""
    corpus, failures = [], []
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "src/packets.py", line 41, in decode\n'
        "    return frame[4]\nIndexError: list index out of range\n"
    )
    for nodeid in nodeids:
        for i in range(corpus_size):
            corpus.append({"nodeid": nodeid, "size": i % 40, "representation": f"t(x={i // 2})"})
        for n in range(UNSHRUNK_COPIES + 1):
            failures.append(
                {
                    "nodeid": nodeid,
                    "state": "shrunk" if n == 0 else "unshrunk",
                    "exception": "IndexError",
                    "message": "list index out of range",
                    "representation": f"t(frame={[72, 89, 80, 79, *range(n)]})",
                    "traceback": traceback,
                    "reproduction_decorator": "",
                    "choices": (72, 89, 80, 79, *range(n)),
                    "first_seen": pd.NaT,
                }
            )
    data.corpus = pd.DataFrame(corpus).astype(SCHEMAS["corpus"])
    data.failures = pd.DataFrame(failures, columns=list(SCHEMAS["failures"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--corpus", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print_header(
        "test page: opening one from loaded data",
        tests=args.tests,
        reports_per_test=args.reports,
        corpus=args.corpus,
        rounds=args.rounds,
    )
    cached = RESULTS / f"load-db-{args.tests}x{args.reports}"
    print(f"database {cached.name}: building if not cached", flush=True)
    build(cached, args.tests, args.reports)
    data = hypofuzz_nb.load(cached / "db")
    nodeids = [str(n) for n in data.tests["nodeid"]][: 2 * args.rounds + 1]
    _with_corpus_and_failures(data, nodeids, args.corpus)
    TestPage(data, nodeids[-1]).widget()  # imports and first-drawing costs, not measured

    static, widget = [], []
    for round_ in range(args.rounds):
        start = time.perf_counter()
        TestPage(data, nodeids[2 * round_])._repr_html_()
        static.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        page = TestPage(data, nodeids[2 * round_ + 1])
        page.widget()
        widget.append((time.perf_counter() - start) * 1000)
        page.close()

    print(f"\n== opening a page, {len(data.reports):,} reports loaded")
    print(f"   {context()}")
    ms = {"fmt": ".1f", "unit": " ms"}
    print(
        f"static HTML                      {summarize(static, **ms)}  (target <= {TARGET_MS:.0f} ms)"
    )
    print(
        f"widget (the dashboard's picker)  {summarize(widget, **ms)}  (target <= {TARGET_MS:.0f} ms)"
    )


if __name__ == "__main__":
    main()
