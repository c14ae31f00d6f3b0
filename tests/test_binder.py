"""binder/: the repo2docker configuration installs this package and saves widget state."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"


def test_runtime_is_a_supported_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match, runtime
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    assert int(match.group(1)) >= 11


def test_requirements_install_this_repository_with_existing_extras():
    # repo2docker runs `pip install -r binder/requirements.txt` from the repository
    # root, so "." must be the root: the directory holding pyproject.toml.
    lines = [
        line.strip()
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (line,) = lines
    match = re.fullmatch(r"(?:-e\s+)?\.(?:\[([\w,]+)\])?", line)
    assert match, line
    extras = set(filter(None, (match.group(1) or "").split(",")))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert extras <= set(project["optional-dependencies"])


def test_post_build_turns_on_widget_state_saving(tmp_path):
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    env = dict(os.environ)
    env["JUPYTERLAB_DIR"] = str(tmp_path / "lab")
    # Binder runs postBuild with the environment's python first on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    subprocess.run([str(post_build)], check=True, env=env, cwd=REPO, timeout=60)
    (override,) = (tmp_path / "lab" / "settings" / "overrides.d").glob("*.json")
    settings = json.loads(override.read_text())
    assert settings == {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}


def test_post_build_writes_into_jupyterlabs_app_dir(tmp_path):
    """Without JUPYTERLAB_DIR the file lands where JupyterLab reads its settings."""
    from jupyterlab import commands

    prefix = tmp_path / "env"
    (prefix / "bin").mkdir(parents=True)
    # A python whose sys.prefix is `prefix`, as in Binder's environment.
    (prefix / "bin" / "python").symlink_to(sys.executable)
    (prefix / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\n")
    env = {k: v for k, v in os.environ.items() if k != "JUPYTERLAB_DIR"}
    env["PATH"] = os.pathsep.join([str(prefix / "bin"), env.get("PATH", "")])
    subprocess.run([str(BINDER / "postBuild")], check=True, env=env, cwd=REPO, timeout=60)
    expected = Path(commands.get_app_dir()).relative_to(sys.prefix)
    assert (prefix / expected / "settings" / "overrides.d" / "hypofuzz-nb.json").is_file()
