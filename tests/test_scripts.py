"""The set-up scripts behind the README's two commands, run for real in a sandboxed PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEWEST = ROOT / "scripts" / "newest-python"
SYSTEM_PACKAGES = ROOT / "scripts" / "system-packages"


def run_sh(script: Path, *args: str, path: str, env: dict | None = None, **kw):
    return subprocess.run(
        ["/bin/sh", str(script), *args],
        capture_output=True,
        text=True,
        env={"PATH": path, "HOME": "/nonexistent", **(env or {})},
        timeout=60,
        **kw,
    )


def fake_bin(tmp_path: Path) -> Path:
    """A bin folder with the basic tools the scripts use, and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sed", "id", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def test_newest_python_runs_each_candidate_and_skips_a_failing_shim(tmp_path):
    bin_dir = fake_bin(tmp_path)
    # A pyenv-style shim: on PATH, newer, and failing when run.
    shim = bin_dir / "python3.29"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.29: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    (bin_dir / f"python3.{sys.version_info[1]}").symlink_to(sys.executable)
    result = run_sh(NEWEST, path=str(bin_dir), env={"PYENV_ROOT": str(tmp_path / "none")})
    assert result.returncode == 0, result.stderr
    chosen = result.stdout.strip()
    version = subprocess.run(
        [chosen, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    assert version == str(tuple(sys.version_info[:2]))


def test_newest_python_prefers_the_newest_that_runs(tmp_path):
    bin_dir = fake_bin(tmp_path)
    # Two working interpreters that report different minor versions.
    for minor in (11, 17):
        exe = bin_dir / f"python3.{minor}"
        exe.write_text(
            f'#!/bin/sh\ncase "$2" in *executable*) echo {exe};; *) echo {minor};; esac\n'
        )
        exe.chmod(0o755)
    result = run_sh(NEWEST, path=str(bin_dir), env={"PYENV_ROOT": str(tmp_path / "none")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bin_dir / "python3.17")


def test_newest_python_says_what_to_do_when_none_is_new_enough(tmp_path):
    bin_dir = fake_bin(tmp_path)
    old = bin_dir / "python3"
    old.write_text("#!/bin/sh\necho 9\n")
    old.chmod(0o755)
    result = run_sh(NEWEST, path=str(bin_dir), env={"PYENV_ROOT": str(tmp_path / "none")})
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no Python >= 3.11 found" in result.stderr


def test_system_packages_stops_with_the_command_to_run_when_it_cannot_install(tmp_path):
    setpriv = shutil.which("setpriv")  # util-linux: runs the script as an unprivileged user
    assert setpriv, "util-linux's setpriv is needed to run this test as a non-root user"
    # pytest's tmp_path is private to root; the unprivileged user needs to read this one.
    tmp_path = Path(tempfile.mkdtemp(prefix="hypofuzz-nb-"))
    tmp_path.chmod(0o755)
    bin_dir = fake_bin(tmp_path)
    apt = bin_dir / "apt-get"  # present, so the message names it; never run as non-root
    apt.write_text("#!/bin/sh\necho 'apt-get must not run here' >&2\nexit 99\n")
    apt.chmod(0o755)
    result = subprocess.run(
        [
            setpriv,
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/sh",
            str(SYSTEM_PACKAGES),
        ],
        capture_output=True,
        text=True,
        env={"PATH": str(bin_dir)},
        timeout=60,
        cwd="/",
    )
    shutil.rmtree(tmp_path)
    assert result.returncode == 1
    assert "apt-get must not run" not in result.stderr
    assert "redis-server" in result.stderr
    assert "sudo apt-get install -y redis-server" in result.stderr


def test_system_packages_is_quiet_when_everything_is_there(tmp_path):
    bin_dir = fake_bin(tmp_path)
    for tool in ("redis-server", "chromium"):
        exe = bin_dir / tool
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    result = run_sh(SYSTEM_PACKAGES, path=str(bin_dir))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_make_refuses_a_python_that_does_not_run(tmp_path):
    make = shutil.which("make")
    assert make, "make is one of the README's two commands"
    result = subprocess.run(
        [make, "-C", str(ROOT), "test", "PYTHON=/nonexistent/python3", f"VENV={tmp_path}/venv"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert result.returncode != 0
    assert "cannot run PYTHON=/nonexistent/python3" in result.stderr
    assert not (tmp_path / "venv").exists()
