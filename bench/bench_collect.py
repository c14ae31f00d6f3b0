"""How long ``hypofuzz_nb.collect_tests`` takes, against pytest's own ``--collect-only``.

Usage: ``python bench/bench_collect.py [--files 20 --tests 25] [--rounds 5]``

Writes a project of ``files x tests`` @given tests (a third of them parametrized
over 3 cases) into a temporary directory, then times, in fresh child processes
(``--rounds`` rounds, alternating; each figure is the median with min-max):

- baseline: ``python -m pytest --collect-only -q`` on the project;
- ``collect_tests``: ``python -c "collect_tests(...)"`` on the same project
  (collection, classification and every database key), one call per process;
- and in one process: the first ``collect_tests`` call against a second one
  (a notebook cell re-run: modules are imported afresh, so about 1x is expected).

Prints the ratios collect_tests / pytest --collect-only and second / first call.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import context, print_header, summarize, summarize_ratio

CHILD = """
import sys, time
t0 = time.perf_counter()
from hypofuzz_nb.collect import collect_tests
with collect_tests(rootdir=sys.argv[1]) as c:
    n = len(c.targets)
t1 = time.perf_counter()
if sys.argv[2] == "twice":
    with collect_tests(rootdir=sys.argv[1]) as c:
        assert len(c.targets) == n
t2 = time.perf_counter()
print(n, t1 - t0, t2 - t1)
"""


def write_project(root: Path, n_files: int, n_tests: int) -> int:
    (root / "conftest.py").write_text(
        "from hypothesis import settings\n"
        "settings.register_profile('bench', max_examples=10)\n"
        "settings.load_profile('bench')\n"
    )
    cases = 0
    for f in range(n_files):
        lines = ["import pytest", "from hypothesis import given, strategies as st", ""]
        for t in range(n_tests):
            if t % 3 == 0:
                lines.append("@pytest.mark.parametrize('n', [1, 2, 3])")
                args = "n, x"
                cases += 3
            else:
                args = "x"
                cases += 1
            lines += [
                "@given(st.integers())",
                f"def test_{t}({args}):",
                f"    assert x != {t} or True",
                "",
            ]
        (root / f"test_bench_{f}.py").write_text("\n".join(lines))
    return cases


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--tests", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print_header(
        "collection: collect_tests against pytest --collect-only, interleaved",
        rounds=args.rounds,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = write_project(root, args.files, args.tests)
        baseline, ours, first, second = [], [], [], []
        for _ in range(max(1, args.rounds)):
            t, _out = timed(
                [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                root,
            )
            baseline.append(t)
            t, out = timed([sys.executable, "-c", textwrap.dedent(CHILD), str(root), "once"], root)
            ours.append(t)
            assert int(out.split()[0]) == cases
            _t, out = timed(
                [sys.executable, "-c", textwrap.dedent(CHILD), str(root), "twice"], root
            )
            n, t1, t2 = out.split()
            assert int(n) == cases, (n, cases)
            first.append(float(t1))
            second.append(float(t2))
        print(f"project: {args.files} files, {cases} test cases  {context()}")
        print(f"pytest --collect-only (process): {summarize(baseline, fmt='.3f', unit=' s')}")
        print(f"collect_tests (process):         {summarize(ours, fmt='.3f', unit=' s')}")
        print(f"ratio collect_tests / pytest:    {summarize_ratio(ours, baseline)}")
        print(f"first call in process:           {summarize(first, fmt='.3f', unit=' s')}")
        print(f"second call (cell re-run):       {summarize(second, fmt='.3f', unit=' s')}")
        print(f"ratio second / first:            {summarize_ratio(second, first)}")


if __name__ == "__main__":
    main()
