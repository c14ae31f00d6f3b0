"""The bundled example project, end to end, as a new user runs it.

`hypofuzz-nb fuzz tests --max-time 60 --no-dashboard` in a copy of examples/ finds the
planted bug, and then plain `pytest` fails at once on the shrunk example, even with
generation switched off. Only the planted-bug test is fuzzed here (`-- -k packets`),
so the session ends as soon as the bug is found instead of after the full 60 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLANTED = "tests/test_packets.py::test_decode_never_crashes"


def copy_examples(tmp_path: Path) -> Path:
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
    return target


def run(cwd: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_the_example_suite_passes_under_plain_pytest(tmp_path):
    examples = copy_examples(tmp_path)
    result = run(examples, "-m", "pytest", "tests", "-q", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_the_fuzzer_finds_the_planted_bug_and_plain_pytest_replays_it(tmp_path):
    examples = copy_examples(tmp_path)
    fuzz = run(
        examples,
        "-m",
        "hypofuzz_nb.cli",
        "fuzz",
        "tests",
        "--max-time",
        # 60 s is what a new user types; on a quiet machine the bug falls in ~5-30 s.
        # The headroom is for a loaded CI machine: the run ends when the bug is found.
        "120",
        "--no-dashboard",
        "--",
        "-k",
        "packets",
        timeout=200,
    )
    assert fuzz.returncode == 1, fuzz.stdout + fuzz.stderr
    assert f"FAILED {PLANTED}" in fuzz.stdout
    assert "IndexError" in fuzz.stdout
    assert "frame=[72, 89, 80, 79]" in fuzz.stdout  # shrunk: the magic bytes, no payload
    assert "run `pytest` to replay" in fuzz.stdout

    # Generation off: the failure can only come from the saved example.
    replay = run(
        examples,
        "-m",
        "pytest",
        "tests",
        "-q",
        "--hypothesis-profile=examples-replay",
        timeout=120,
    )
    assert replay.returncode == 1, replay.stdout + replay.stderr
    # (the other tests have nothing saved to replay, so Hypothesis skips them)
    assert "1 failed" in replay.stdout
    assert "frame=[72, 89, 80, 79]" in replay.stdout

    # What a new user types next.
    plain = run(examples, "-m", "pytest", "tests", "-q", timeout=120)
    assert plain.returncode == 1
    assert f"FAILED {PLANTED}" in plain.stdout

    summary = run(
        examples, "-m", "hypofuzz_nb.cli", "fuzz", "tests", "--dashboard-only", timeout=120
    )
    assert summary.returncode == 1, summary.stdout + summary.stderr
    assert PLANTED in summary.stdout
