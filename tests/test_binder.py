"""binder/: the repo2docker configuration installs this package and saves widget state."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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
    pytest.importorskip("jupyterlab", reason="postBuild asks jupyterlab for its app dir")
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
