"""Run the fuzzer, unchanged, on the Hypothesis tests shipped in real PyPI sdists.

For each package: download the sdist of the *installed* version (``pip download
--no-deps --no-binary :all:``) into a work directory, extract it, collect its tests
with hypofuzz_nb (in a fresh process per package), fuzz every fuzzable test for a
bounded time, and print what was collected, fuzzed, and why anything was not, as a
Markdown table (bench/real_suites.md holds a recorded run). Their code is never
copied into this repository.

    python bench/real_suites.py [--seconds 30] [--workdir /tmp/hypofuzz_nb-real-suites]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

# label, package (as pip knows it), directory inside the sdist, extra pytest arguments
SUITES = [
    ("attrs", "attrs", "tests", []),
    ("python-dateutil", "python-dateutil", "tests/property", []),
    # The same suite with the workaround for the failure recorded in real_suites.md.
    (
        "python-dateutil -W",
        "python-dateutil",
        "tests/property",
        ["-W", "ignore::pytest.PytestAssertRewriteWarning"],
    ),
]


def fetch(package: str, workdir: Path) -> Path:
    version = metadata.version(package)
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"{package.replace('-', '_')}-{version}"
    for candidate in (workdir / stem, workdir / f"{package}-{version}"):
        if candidate.is_dir():
            return candidate
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{package}=={version}",
            "-d",
            str(workdir),
        ],
        check=True,
        timeout=300,
    )
    archive = next(
        p
        for p in workdir.glob("*.tar.gz")
        if p.name.lower().startswith((stem.lower(), f"{package}-{version}".lower()))
    )
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    return next(p for p in (workdir / stem, workdir / f"{package}-{version}") if p.is_dir())


def run_one(directory: str, args: list[str], seconds: float) -> dict:
    """Collect and fuzz one suite in this process; returns a JSON-able summary."""
    os.chdir(directory)
    from hypofuzz_nb.collect import collect_tests
    from hypofuzz_nb.session import fuzz

    started = time.monotonic()
    paths, pytest_args = args[:1], args[1:]
    collection = collect_tests(paths, pytest_args)
    result: dict = {
        "collect_s": round(time.monotonic() - started, 1),
        "fuzzable": len(collection.targets),
        "not_fuzzable": dict(Counter(n.reason for n in collection.not_fuzzable)),
        "counts": dict(collection.counts),
        "errors": [str(e).strip().splitlines()[0][:200] for e in collection.errors],
        "database": repr(collection.database),
    }
    all_nodeids = [t.nodeid for t in collection.targets]
    session = fuzz(targets=collection, max_time=seconds)
    session.wait(seconds + 60)
    status = session.status()
    collection.close()
    result.update(
        fuzzed=sum(1 for t in status.tests if t.inputs > 0),
        inputs=status.inputs,
        failing=[t.nodeid for t in status.tests if t.n_failures],
        fatal={
            t.nodeid: (t.fatal or "").strip().splitlines()[-1][:200]
            for t in status.tests
            if t.fatal
        },
        not_reached=len(set(all_nodeids) - {t.nodeid for t in status.tests if t.inputs}),
        error=status.error,
        seconds=seconds,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="fuzzing time per suite")
    parser.add_argument("--workdir", default="/tmp/hypofuzz_nb-real-suites")
    parser.add_argument("--one", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1:], args.seconds)))
        return
    results = {}
    for label, package, tests, pytest_args in SUITES:
        directory = fetch(package, Path(args.workdir))
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--seconds",
                str(args.seconds),
                "--one",
                str(directory),
                tests,
                *pytest_args,
            ],
            capture_output=True,
            text=True,
            timeout=args.seconds + 600,
        )
        if proc.returncode != 0:
            results[label] = {"crash": proc.stderr.strip().splitlines()[-1][:300]}
        else:
            results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[label]["version"] = metadata.version(package)
    print(f"Python {sys.version.split()[0]}, {args.seconds:.0f} s of fuzzing per suite\n")
    print(
        "| package | fuzzable | fuzzed | inputs | failing | fatal | not fuzzable (reason: n) | collection errors |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for package, r in results.items():
        if "crash" in r:
            print(f"| {package} {r['version']} | could not collect: {r['crash']} |")
            continue
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted({**r["counts"]}.items()) if v)
        print(
            f"| {package} {r['version']} | {r['fuzzable']} | {r['fuzzed']} | {r['inputs']:,} | "
            f"{len(r['failing'])} | {len(r['fatal'])} | {reasons} | {len(r['errors'])} |"
        )
    print()
    print("```json")
    print(json.dumps(results, indent=1))
    print("```")


if __name__ == "__main__":
    main()
