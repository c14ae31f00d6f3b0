"""deploy/: the conftest recipe runs, the systemd unit and Kubernetes manifest are valid,
and the Dask recipes pass their tools' own validation.

The dask-jobqueue recipe is loaded by dask-jobqueue itself (``dask-jobqueue`` is in the
``test`` extra), in a subprocess whose Dask configuration directory is a temporary one:
importing dask_jobqueue writes its defaults into that directory, never into ``~/.config``.
The dask-kubernetes manifest is validated against the operator's ``DaskCluster`` schema,
copied from dask-kubernetes into ``tests/fixtures`` (see its README): dask-kubernetes itself
brings the Kubernetes clients (about 180 MB) and is not a test dependency.
"""

from __future__ import annotations

import configparser
import copy
import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
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


# -- the Dask recipes, through their tools' validation ---------------------------------

#: The operator's DaskCluster CustomResourceDefinition (tests/fixtures/README.md).
DASK_CRD = Path(__file__).parent / "fixtures" / "dask-kubernetes-2026.3.0-daskcluster-crd.yaml"


def _strict(schema: object) -> object:
    """The CRD's schema with unknown fields refused, as the API server does for
    ``kubectl apply`` (field validation ``Strict``) instead of pruning them silently."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _dask_cluster_validator() -> jsonschema.Draft4Validator:
    # 280 kB of YAML: libyaml's loader where PyYAML has it.
    crd = yaml.load(DASK_CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert crd["kind"] == "CustomResourceDefinition"
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    # Every object has these; the API server checks them, not the CRD's schema.
    schema["properties"] |= {
        "apiVersion": {"enum": [f"{crd['spec']['group']}/{version['name']}"]},
        "kind": {"enum": [crd["spec"]["names"]["kind"]]},
        "metadata": {"type": "object", "required": ["name"]},
    }
    return jsonschema.Draft4Validator(schema)


def _errors(validator: jsonschema.Draft4Validator, manifest: dict) -> list[str]:
    return sorted(
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    )


def test_dask_kubernetes_recipe_is_a_valid_dask_cluster():
    manifest = yaml.safe_load((DEPLOY / "dask-kubernetes.yaml").read_text())
    assert _errors(_dask_cluster_validator(), manifest) == []


def test_the_dask_cluster_schema_catches_planted_mistakes():
    validator = _dask_cluster_validator()
    manifest = yaml.safe_load((DEPLOY / "dask-kubernetes.yaml").read_text())
    bad = copy.deepcopy(manifest)
    worker = bad["spec"]["worker"]
    worker["replicas"] = "4"
    (container,) = worker["spec"]["containers"]
    container["arg"] = container.pop("args")  # a typo Kubernetes would drop silently
    del bad["spec"]["scheduler"]["spec"]["containers"]
    assert _errors(validator, bad) == [
        "spec.scheduler.spec: 'containers' is a required property",
        "spec.worker.replicas: '4' is not of type 'integer'",
        "spec.worker.spec.containers.0: Additional properties are not allowed "
        "('arg' was unexpected)",
    ]
    assert _errors(validator, dict(manifest, kind="DaskWorkerGroup")) == [
        "kind: 'DaskWorkerGroup' is not one of ['DaskCluster']"
    ]


JOBQUEUE_SCRIPT = """
import json, sys
import dask
from dask_jobqueue import SLURMCluster

# The keys dask-jobqueue knows: its own defaults (a misspelt key would be ignored).
(known,) = [d["jobqueue"]["slurm"] for d in dask.config.defaults if "jobqueue" in d]
ours = dask.config.get("jobqueue.slurm")
with SLURMCluster() as cluster:  # a scheduler only: no job is submitted
    script = cluster.job_script()
print(json.dumps({"unknown": sorted(set(ours) - set(known)), "script": script}))
"""


def _jobqueue(tmp_path: Path, recipe: str) -> dict:
    """dask-jobqueue's view of ``recipe`` installed as ``jobqueue.yaml`` in the Dask
    configuration directory, as deploy/README.md says to."""
    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "jobqueue.yaml").write_text(recipe)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    env["DASK_CONFIG"] = str(config)
    result = subprocess.run(
        [sys.executable, "-c", JOBQUEUE_SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dask_jobqueue_recipe_builds_the_job_script(tmp_path):
    seen = _jobqueue(tmp_path, (DEPLOY / "dask-jobqueue.yaml").read_text())
    assert seen["unknown"] == []
    lines = seen["script"].splitlines()
    assert "#SBATCH -J hypofuzz-nb" in lines
    assert "#SBATCH -t 04:00:00" in lines
    activate = lines.index("source /srv/project/.venv/bin/activate")
    environment = lines.index('set -a; . "$HOME/.config/hypofuzz-nb.env"; set +a')
    (command,) = [line for line in lines if "distributed.cli.dask_worker" in line]
    assert activate < environment < lines.index(command)
    words = command.split()
    # The activated virtualenv's python; one thread per worker, two workers per job.
    assert words[:3] == ["python", "-m", "distributed.cli.dask_worker"]
    assert words[words.index("--nthreads") + 1] == "1"
    assert words[words.index("--nworkers") + 1] == "2"
    assert words[words.index("--local-directory") + 1] == "$TMPDIR"
    assert ENV_VAR not in seen["script"]  # the URL stays in the file


def test_dask_jobqueue_names_a_misspelt_recipe_key(tmp_path):
    recipe = (DEPLOY / "dask-jobqueue.yaml").read_text()
    assert "job-script-prologue:" in recipe
    seen = _jobqueue(tmp_path, recipe.replace("job-script-prologue:", "job-script-prolog:"))
    assert seen["unknown"] == ["job-script-prolog"]
    assert "source /srv/project/.venv/bin/activate" not in seen["script"]
