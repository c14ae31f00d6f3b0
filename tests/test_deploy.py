"""deploy/: the conftest recipe runs, the systemd unit and Kubernetes manifest are valid."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from deploy_recipe import DEPLOY, ENV_VAR, conftest_recipe

PASSWORD = "recipe-pw-7f3a"


def _run_recipe(tmp_path, env_value: str | None) -> str:
    script = tmp_path / "run_recipe.py"
    script.write_text(
        conftest_recipe()
        + textwrap.dedent(
            """
            from hypothesis import settings
            from hypothesis.database import DirectoryBasedExampleDatabase
            db = settings().database
            if isinstance(db, DirectoryBasedExampleDatabase):
                print("directory")
            print(type(db).__name__, type(getattr(db, "inner", db)).__name__, repr(db))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if env_value is not None:
        env[ENV_VAR] = env_value
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_recipe_without_the_variable_keeps_the_default_database(tmp_path):
    out = _run_recipe(tmp_path, None)
    assert out.split()[0] == "directory"


def test_recipe_with_the_variable_uses_redis_and_hides_the_password(tmp_path):
    pytest.importorskip("redis")
    # Nothing is contacted while loading the profile: port 1 has no server.
    out = _run_recipe(tmp_path, f"redis://:{PASSWORD}@127.0.0.1:1/0")
    # A plain Redis database: workers wrap it themselves (hypofuzz_nb.outage).
    assert out.split()[:2] == ["RedisExampleDatabase", "RedisExampleDatabase"]
    assert PASSWORD not in out


def test_recipe_with_a_bad_url_names_the_variable_value_problem(tmp_path):
    script = tmp_path / "run_recipe.py"
    script.write_text(conftest_recipe())
    env = dict(os.environ, **{ENV_VAR: f"http://:{PASSWORD}@host/0"})
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "is not a Redis URL" in result.stderr
    assert PASSWORD not in result.stderr


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / "hypofuzz-nb@.service").read_text())
    return parser


def test_systemd_unit_runs_the_cli_with_the_shared_database():
    unit = _unit()
    exec_start = unit["Service"]["ExecStart"]
    assert "hypofuzz-nb fuzz" in exec_start
    assert "-n %i" in exec_start
    assert "--no-dashboard" in exec_start
    env_file = unit["Service"]["EnvironmentFile"]
    assert ENV_VAR in (DEPLOY / "hypofuzz-nb@.service").read_text()
    assert env_file.startswith("/etc/")
    assert unit["Service"]["KillSignal"] == "SIGINT"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_unit_verifies(tmp_path):
    # Point the unit at things that exist here; systemd-analyze checks that they do.
    cli = shutil.which("hypofuzz-nb") or os.path.join(
        os.path.dirname(sys.executable), "hypofuzz-nb"
    )
    env_file = tmp_path / "hypofuzz-nb.env"
    env_file.write_text(f"{ENV_VAR}=redis://127.0.0.1:6379/0\n")
    text = (DEPLOY / "hypofuzz-nb@.service").read_text()
    text = text.replace("/srv/project/.venv/bin/hypofuzz-nb", cli)
    text = text.replace("/srv/project", str(tmp_path)).replace(
        "/etc/hypofuzz-nb.env", str(env_file)
    )
    unit = tmp_path / "hypofuzz-nb@2.service"
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Unknown" not in output, output
    assert "hypofuzz-nb@2.service" not in output, output  # no warning about our unit


def test_kubernetes_manifest_parses_and_points_at_the_secret():
    yaml = pytest.importorskip("yaml", reason="pyyaml is not installed here")
    secret, deployment = list(yaml.safe_load_all((DEPLOY / "k8s-deployment.yaml").read_text()))
    assert secret["kind"] == "Secret"
    assert ENV_VAR in secret["stringData"]
    assert secret["stringData"][ENV_VAR].startswith("redis://")
    assert deployment["kind"] == "Deployment"
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"][:3] == ["hypofuzz-nb", "fuzz", "tests"]
    assert "-n" in container["command"]
    assert "--no-dashboard" in container["command"]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    env_names = {e["name"] for e in container["env"]}
    assert {"POD_NAME", "POD_NAMESPACE", "NODE_NAME", "POD_IP"} <= env_names


def test_readme_commands_use_options_the_cli_has():
    from hypofuzz_nb.cli import build_parser

    parser = build_parser()
    fuzz = parser.parse_args(["fuzz", "tests", "-n", "4", "--no-dashboard", "--max-time", "3600"])
    assert (fuzz.workers, fuzz.no_dashboard, fuzz.max_time) == (4, True, 3600.0)
    assert parser.parse_args(["fuzz", "tests", "--dashboard-only"]).dashboard_only
