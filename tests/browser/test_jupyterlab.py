"""The dashboard in a real browser: JupyterLab on loopback, driven by headless Chromium.

Starts ``jupyter lab`` on a free 127.0.0.1 port without a token, in a temporary root
directory with temporary Jupyter and IPython directories, opens a notebook in
Debian's Chromium through Playwright and runs every cell. A cell that raises fails
the test (as in the nbclient tests); then each test checks what its notebook promises:
the dashboard's table (fitting its cell at 1280 px), a non-empty progress image, the
failure list, and for the quickstart the planted bug found, shrunk and replayed, and
its test page with the coverage view (in its cell, and opened from the dashboard).
Screenshots go to tests/artifacts/ (gitignored).

Playwright's own browser download cannot work here, so Chromium comes from
``/usr/bin/chromium`` (installed by .ci/run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT = 60.0
RUN_TIMEOUT_MS = 90_000
#: The quickstart fuzzes for at most 600 s (its bound for the slowest supported
#: Python) and stops at the first failure; it runs unshortened here, so that a
#: failure not found fails the test instead of passing it.
QUICKSTART_RUN_TIMEOUT_MS = 780_000
VIEWPORT = {"width": 1280, "height": 1600}
#: The only input the example project's planted bug fails on.
PLANTED_EXAMPLE = "frame=[72, 89, 80, 79]"
PLANTED_NODEID = "tests/test_packets.py::test_decode_never_crashes"


def _requirements() -> str | None:
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            return f"needs the {module} package (the `browser` extra)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs Debian's chromium at {CHROMIUM}"
    return None


_missing = _requirements()


@pytest.fixture(autouse=True)
def _browser_requirements() -> None:
    # A missing browser fails the test: a skipped browser test would pass for nothing.
    if _missing:
        pytest.fail(_missing)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    def __init__(self, root: Path, port: int, process: subprocess.Popen, log: Path) -> None:
        self.root = root
        self.port = port
        self.process = process
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        IPYTHONDIR=str(base / "ipython"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        # The kernel imports hypofuzz_nb from this checkout even if it is not installed.
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    # The "get notified about Jupyter news?" toast would cover the screenshots.
    notification = base / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = _free_port()
    log = base / "jupyterlab.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                # ServerApp.token/password are the older (deprecated) names of these.
                "--IdentityProvider.token=",
                "--PasswordIdentityProvider.hashed_password=",
                "--allow-root",
                "--ServerApp.disable_check_xsrf=True",
                f"--ServerApp.root_dir={root}",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            cwd=root,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    lab = JupyterLab(root, port, process, log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{lab.log_tail()}")
            try:
                with urllib.request.urlopen(f"{lab.url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {SERVER_START_TIMEOUT}s")
            time.sleep(0.2)
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _notebook(cells: list[str]) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"cell{i}",
                    "metadata": {},
                    "outputs": [],
                    "source": textwrap.dedent(source).strip(),
                }
                for i, source in enumerate(cells)
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


#: A database as a worker writes it (through hypofuzz_nb.records), with a failure
#: whose generated strings are hostile, then the dashboard of it.
DASHBOARD_CELLS = [
    """
    import hashlib, time
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypofuzz_nb import records

    db = DirectoryBasedExampleDatabase("fuzz-db")
    now = time.time()
    for t in range(4):
        key = hashlib.sha384(f"test-{t}".encode()).digest()
        nodeid = f"tests/test_demo.py::test_{t}"
        db.save(records.TEST_KEYS_KEY, key)
        for r in range(30):
            report = records.Report(
                database_key=records.key_to_base64(key), nodeid=nodeid,
                elapsed_time=float(r + 1), timestamp=now - 30 + r, worker_uuid="a" * 32,
                status_counts={"0": 0, "1": 0, "2": 50 * (r + 1), "3": 0},
                behaviors=10 + t + r // 3, fingerprints=5 + r, since_new_behavior=r % 7,
                phase="generate",
            )
            db.save(records.reports_key(key), report.to_bytes())
    evil = "<script>document.title='pwned'</script>"
    value = records.encode_choices((evil,))
    db.save(key, value)
    observation = records.Observation(
        status="failed", status_reason=f"ValueError: {evil}",
        representation=f"test_3(\\n    s={evil!r},\\n)", property=nodeid, run_start=now,
        arguments={"s": evil},
        metadata={"traceback": f"Traceback (most recent call last):\\nValueError: {evil}\\n",
                  "reproduction_decorator": "@reproduce_failure('6.170.17', b'AXic')"},
    )
    db.save(records.failure_observation_key(key, "shrunk", value), observation.to_bytes())
    """,
    """
    from hypofuzz_nb import Dashboard
    dashboard = Dashboard(db)
    dashboard
    """,
]


def _run_notebook(
    page, lab: JupyterLab, name: str, *, timeout_ms: int = RUN_TIMEOUT_MS
) -> list[dict]:
    """Run every cell of ``name``; return its code cells as the notebook model holds them.

    Fails if a cell raised or never ran: what JupyterLab shows as an error is an
    error here too.
    """
    # ?reset: do not restore the tabs an earlier test left open in the workspace.
    page.goto(f"{lab.url}/lab/tree/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
        " === 'idle'",
        timeout=RUN_TIMEOUT_MS,
    )
    # run-all-cells resolves when the last cell has finished (false if one failed);
    # keep the panel too, in case another widget takes the focus meanwhile.
    page.evaluate(
        """() => {
            window.__hfPanel = window.jupyterapp.shell.currentWidget;
            window.__hfRunAll = undefined;
            window.jupyterapp.commands.execute('notebook:run-all-cells').then(
                (ok) => { window.__hfRunAll = {ok: ok}; },
                (err) => { window.__hfRunAll = {ok: false, error: String(err)}; },
            );
        }"""
    )
    page.wait_for_function("() => window.__hfRunAll !== undefined", timeout=timeout_ms)
    cells = page.evaluate(
        """() => {
            const cells = [];
            for (const cell of window.__hfPanel.content.model.cells) {
                if (cell.type !== 'code') continue;
                cells.push({
                    source: cell.sharedModel.getSource(),
                    execution_count: cell.executionCount,
                    outputs: cell.outputs.toJSON(),
                });
            }
            return cells;
        }"""
    )
    for cell in cells:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", (
                f"a cell raised {output['ename']}: {output['evalue']}\n{cell['source']}\n"
                + "\n".join(output.get("traceback", []))
            )
        assert cell["execution_count"] is not None, f"a cell did not run:\n{cell['source']}"
    assert page.evaluate("() => window.__hfRunAll")["ok"], "run all cells reported a failure"
    return cells


def _cell_text(cells: list[dict], start: str) -> str:
    """The text outputs of the one code cell whose source starts with ``start``."""
    (cell,) = [c for c in cells if c["source"].startswith(start)]
    parts = []
    for output in cell["outputs"]:
        text = output.get("text", "")
        parts.append(text if isinstance(text, str) else "".join(text))
        for mimetype, value in output.get("data", {}).items():
            if mimetype.startswith("text/"):
                parts.append(value if isinstance(value, str) else "".join(value))
    # Without the terminal colours pytest adds when run from a kernel.
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(parts))


def _assert_table_fits_its_cell(page) -> None:
    # At 1280 px the last columns ("since new behaviour", "failures") used to be cut off.
    table = page.locator(".hypofuzz-nb-dashboard .hypofuzz-nb-tests").filter(visible=True)
    table.first.scroll_into_view_if_needed()
    boxes = table.first.evaluate(
        """(table) => {
            const area = table.closest('.jp-OutputArea-output');
            const t = table.getBoundingClientRect(), a = area.getBoundingClientRect();
            return {table: [t.left, t.right], area: [a.left, a.right],
                    hidden: table.scrollWidth - table.clientWidth};
        }"""
    )
    (table_left, table_right), (area_left, area_right) = boxes["table"], boxes["area"]
    # Nor may its columns overflow the box itself (cut off or behind a scroll bar).
    assert boxes["hidden"] <= 1, f"{boxes['hidden']} px of the table's columns are cut off"
    # Every test's name is shown whole (wrapped if need be), not cut off with an ellipsis.
    names = table.first.locator(".hypofuzz-nb-test-name")
    for index in range(names.count()):
        cut = names.nth(index).evaluate("(b) => b.scrollWidth - b.clientWidth")
        assert cut <= 1, f"{names.nth(index).inner_text()!r}: {cut} px of its name are cut off"
    assert table_left >= area_left - 1 and table_right <= area_right + 1, (
        f"the dashboard table spans x={table_left:.0f}..{table_right:.0f} px, "
        f"wider than its cell's output area x={area_left:.0f}..{area_right:.0f} px"
    )


def _screenshot_dashboard(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    dashboard = page.locator(".hypofuzz-nb-dashboard").filter(visible=True).first
    dashboard.scroll_into_view_if_needed()
    dashboard.screenshot(path=str(ARTIFACTS / f"{name}-dashboard.png"))


def _assert_dashboard_rendered(page) -> None:
    from playwright.sync_api import expect

    dashboard = page.locator(".hypofuzz-nb-dashboard").filter(visible=True).first
    dashboard.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    table = dashboard.locator(".hypofuzz-nb-tests")
    table.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    assert table.locator(".hypofuzz-nb-test-name").count() >= 1  # one name button a test
    image = dashboard.locator("img").first
    image.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 100 && img.naturalHeight > 100",
        arg=image.element_handle(),
        timeout=RUN_TIMEOUT_MS,
    )
    failures = dashboard.locator(".hypofuzz-nb-failures")
    failures.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    # JupyterLab renders a cell far off screen only once it is scrolled to (its
    # widgets' views are then drawn anew): wait for the text rather than read it at once.
    failures.scroll_into_view_if_needed()
    expect(failures).to_contain_text("Failures", timeout=RUN_TIMEOUT_MS)


def _assert_failure_rendered(page) -> None:
    failure = page.locator(".hypofuzz-nb-dashboard .hypofuzz-nb-failure").filter(visible=True).first
    failure.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    assert failure.get_by_role("button", name="Reproduce").is_visible()
    assert failure.get_by_role("button", name="Debug").is_visible()


def _assert_test_page_rendered(page) -> None:
    """The quickstart's test page cell: the planted bug's page with its coverage view
    (computed in the cell, coverage=True), and the same page opened by a click on the
    test's name in the dashboard's table, whose button replays the corpus in the
    kernel's background."""
    from playwright.sync_api import expect

    shown = (
        page.locator(".hypofuzz-nb-test-page")
        .filter(visible=True)
        .filter(has_text="Source coverage of the corpus")
    )
    test_page = shown.filter(has=page.locator(".hfnb-cov")).first
    test_page.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    # Far-off cells are drawn once scrolled to (see _assert_dashboard_rendered).
    test_page.scroll_into_view_if_needed()
    expect(test_page).to_contain_text(PLANTED_NODEID, timeout=RUN_TIMEOUT_MS)
    expect(test_page).to_contain_text("IndexError", timeout=RUN_TIMEOUT_MS)
    image = test_page.locator("img").first
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 100",
        arg=image.element_handle(),
        timeout=RUN_TIMEOUT_MS,
    )
    coverage = test_page.locator(".hypofuzz-nb-test-coverage .hfnb-cov").first
    coverage.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    expect(coverage).to_contain_text("packets.py", timeout=RUN_TIMEOUT_MS)
    assert coverage.locator("tr.run").count() > 0
    # Computed with the coverage: what the fuzzer generates, and why a test is stuck.
    expect(test_page).to_contain_text("What it generates", timeout=RUN_TIMEOUT_MS)
    expect(test_page).to_contain_text("Why it is stuck", timeout=RUN_TIMEOUT_MS)
    assert test_page.locator("svg").count() > 0  # the distributions' histograms
    assert test_page.get_by_role("button", name="Reproduce").first.is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    # The page is taller than the window: its top, as a reader first sees it.
    test_page.locator("h3").first.evaluate("(h) => h.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-test-page.png"))
    # A click on the test's name in the dashboard's table opens the same page; its
    # button computes the coverage.
    dashboard = page.locator(".hypofuzz-nb-dashboard").filter(visible=True).first
    name = dashboard.locator(".hypofuzz-nb-tests").get_by_role(
        "button", name=PLANTED_NODEID, exact=True
    )
    name.scroll_into_view_if_needed()
    name.click()
    opened = dashboard.locator(".hypofuzz-nb-test-page").first
    opened.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    opened.get_by_role("button", name="Compute coverage").click()
    replayed = opened.locator(".hfnb-cov").first
    replayed.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    expect(replayed).to_contain_text("packets.py", timeout=RUN_TIMEOUT_MS)
    replayed.evaluate("(c) => c.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-dashboard-test-page.png"))


def test_dashboard_renders_in_jupyterlab(jupyterlab, browser):
    (jupyterlab.root / "dashboard.ipynb").write_text(_notebook(DASHBOARD_CELLS))
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _run_notebook(page, jupyterlab, "dashboard.ipynb")
        _assert_dashboard_rendered(page)
        _assert_table_fits_its_cell(page)
        _assert_failure_rendered(page)
        failure = page.locator(".hypofuzz-nb-failure").first
        # The hostile string is shown as text, never run as markup.
        assert "<script>document.title='pwned'</script>" in failure.inner_text()
        assert page.title() != "pwned"
        table_text = page.locator(".hypofuzz-nb-dashboard .hypofuzz-nb-tests").first.inner_text()
        assert "tests/test_demo.py::test_3" in table_text
        # The Reproduce button reaches Failure.reproduce() in the kernel: the demo's
        # test file does not exist, and the failure says so in its output area.
        failure.get_by_role("button", name="Reproduce").click()
        failure.get_by_text("does not exist relative to").wait_for(timeout=RUN_TIMEOUT_MS)
        _screenshot_dashboard(page, "jupyterlab")
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-dashboard.png"), full_page=True)
        # The width check can fail: a table forced wider than the cell is caught.
        page.locator(".hypofuzz-nb-dashboard .hypofuzz-nb-tests").first.evaluate(
            "(table) => { table.style.minWidth = '2000px'; }"
        )
        with pytest.raises(AssertionError, match="wider than its cell"):
            _assert_table_fits_its_cell(page)
    finally:
        page.close()


def test_a_cell_that_raises_fails_the_run(jupyterlab, browser):
    # The quickstart's explorer once raised StopIteration in JupyterLab and the
    # browser test still passed: an error output must fail the run, as in nbclient.
    cells = ["found = []", "failure = next(iter(found))", "print('not reached')"]
    (jupyterlab.root / "raises.ipynb").write_text(_notebook(cells))
    page = browser.new_page(viewport=VIEWPORT)
    try:
        with pytest.raises(AssertionError, match="a cell raised StopIteration"):
            _run_notebook(page, jupyterlab, "raises.ipynb")
    finally:
        page.close()


@pytest.mark.timeout(QUICKSTART_RUN_TIMEOUT_MS // 1000 + 240)
def test_quickstart_finds_shrinks_and_replays_the_planted_bug(jupyterlab, browser):
    from playwright.sync_api import expect

    shutil.copytree(REPO / "notebooks", jupyterlab.root / "notebooks", dirs_exist_ok=True)
    shutil.copytree(
        REPO / "examples",
        jupyterlab.root / "examples",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"),
    )
    page = browser.new_page(viewport=VIEWPORT)
    try:
        cells = _run_notebook(
            page, jupyterlab, "notebooks/quickstart.ipynb", timeout_ms=QUICKSTART_RUN_TIMEOUT_MS
        )
        # What the notebook promises: the planted bug, found and shrunk to its one
        # failing input, re-raised in the kernel, and replayed by plain pytest.
        explored = _cell_text(cells, "found = %hypofuzz failures")
        assert PLANTED_NODEID in explored
        assert PLANTED_EXAMPLE in explored
        assert "IndexError" in explored
        assert "reproduced: IndexError" in _cell_text(cells, "try:\n    failure.reproduce()")
        replayed = _cell_text(cells, "import subprocess, sys")
        assert "1 failed" in replayed
        assert "test_decode_never_crashes" in replayed
        # And the screen shows it: the live dashboard lists the shrunk failure.
        _assert_dashboard_rendered(page)
        _assert_failure_rendered(page)
        shown = page.locator(
            ".hypofuzz-nb-dashboard .hypofuzz-nb-failure", has_text=PLANTED_EXAMPLE
        )
        shown.first.wait_for(timeout=RUN_TIMEOUT_MS)
        # The live table followed the run to its end: the planted bug's test failed.
        expect(
            page.locator(".hypofuzz-nb-dashboard .hypofuzz-nb-tests").filter(visible=True).first
        ).to_contain_text("failed", timeout=RUN_TIMEOUT_MS)
        _screenshot_dashboard(page, "jupyterlab-quickstart")
        _assert_table_fits_its_cell(page)
        _assert_test_page_rendered(page)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-quickstart.png"), full_page=True)
        page.close()


def test_interactive_dashboard_draws_an_ipympl_canvas(jupyterlab, browser):
    cells = [
        *DASHBOARD_CELLS[:-1],
        "from hypofuzz_nb import Dashboard\nDashboard(db, interactive=True)",
    ]
    (jupyterlab.root / "interactive.ipynb").write_text(_notebook(cells))
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _run_notebook(page, jupyterlab, "interactive.ipynb")
        dashboard = page.locator(".hypofuzz-nb-dashboard").filter(visible=True).first
        dashboard.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
        # ipympl's front end renders the figure into a <canvas> with its toolbar.
        figure = dashboard.locator(".jupyter-matplotlib").first
        figure.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
        canvas = figure.locator("canvas").first
        canvas.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
        assert canvas.bounding_box()["width"] > 100
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-interactive.png"), full_page=True)
        page.close()
