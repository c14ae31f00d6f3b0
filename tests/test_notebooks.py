"""The notebooks in notebooks/ run top to bottom in a real kernel (nbclient)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.notebook


def test_notebooks_are_committed_without_outputs():
    assert {path.name for path in NOTEBOOKS} >= {
        "quickstart.ipynb",
        "exploring-failures.ipynb",
        "team-database.ipynb",
    }
    for path in NOTEBOOKS:
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name} has outputs committed"
                assert cell["execution_count"] is None, f"{path.name} has execution counts"


def _execute(name: str, tmp_path: Path) -> nbformat.NotebookNode:
    # Run a copy, beside a copy of the example project, so that the notebooks'
    # relative paths hold and nothing is written into the repository.
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    shutil.copytree(
        REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns(".hypothesis")
    )
    path = tmp_path / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]


def _text_of(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for output in _outputs(notebook):
        if "text" in output:
            parts.append(output["text"])
        for value in output.get("data", {}).values():
            parts.append(value if isinstance(value, str) else json.dumps(value))
    return "\n".join(parts)


def test_quickstart_finds_the_planted_bug_and_pytest_replays_it(tmp_path):
    notebook = _execute("quickstart.ipynb", tmp_path)
    text = _text_of(notebook)
    # The dashboard displayed as a widget with an HTML fallback, never a blank.
    mimetypes = {key for output in _outputs(notebook) for key in output.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimetypes
    assert "reproduced:" in text
    assert "@example(" in text
    assert "@reproduce_failure(" in text
    assert "failed" in text
    assert "image/png" in mimetypes


def test_exploring_failures_runs(tmp_path):
    notebook = _execute("exploring-failures.ipynb", tmp_path)
    text = _text_of(notebook)
    # The run-length decoder's bug: a count of 10 or more is read as one digit.
    assert "ValueError: invalid literal for int()" in text
    assert "@example(text=" in text
    # After the fix, plain Hypothesis deleted the example: the failure shows as fixed.
    assert "fixed" in text


@pytest.mark.redis
def test_team_database_runs_on_a_real_redis(tmp_path, redis_server, monkeypatch):
    monkeypatch.setenv("HYPOFUZZ_NB_REDIS_URL", redis_server.url)
    notebook = _execute("team-database.ipynb", tmp_path)
    text = _text_of(notebook)
    assert "2 workers wrote to the database" in text
    assert "test_checksum_fits_a_byte" in text
