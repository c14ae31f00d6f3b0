"""The collection section of hypofuzz_nb._compat against the installed pytest and
Hypothesis: each private API we use still exists and behaves as we rely on."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from hypofuzz_nb import _compat

PROJECT = {
    "conftest.py": """
        import os
        import pytest

        LOG = os.environ["HYPOFUZZ_NB_COMPAT_LOG"]

        def log(line):
            with open(LOG, "a") as f:
                f.write(line + "\\n")

        @pytest.fixture(scope="module")
        def module_fx():
            log("setup module")
            yield "m"
            log("teardown module")

        @pytest.fixture
        def function_fx():
            log("setup function")
            yield "f"
            log("teardown function")

        @pytest.fixture(params=[1, 2])
        def numbered(request):
            return request.param
    """,
    "test_compat_project.py": """
        import sys
        import pytest

        def test_plain(module_fx, function_fx):
            pass

        def test_numbered(numbered):
            pass

        @pytest.mark.skipif(sys.version_info > (3,), reason="always")
        def test_skipped():
            pass

        @pytest.mark.xfail(reason="later", run=False)
        def test_xfailed():
            pass

        import unittest

        class TestCaseClass(unittest.TestCase):
            def test_unit(self):
                pass
    """,
}


@pytest.fixture
def session(tmp_path, monkeypatch):
    for name, text in PROJECT.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    log = tmp_path / "log.txt"
    monkeypatch.setenv("HYPOFUZZ_NB_COMPAT_LOG", str(log))
    monkeypatch.chdir(tmp_path)
    config = _compat.collection_prepare_config(["-p", "no:cacheprovider", "-q", "-s"], [])
    session = _compat.collection_new_session(config)
    _compat.collection_configure(config)
    try:
        config.hook.pytest_sessionstart(session=session)
        config.hook.pytest_collection(session=session)
        yield session, log
    finally:
        _compat.collection_teardown_all(session)
        config.hook.pytest_sessionfinish(session=session, exitstatus=0)
        _compat.collection_unconfigure(config)
        for name in ("test_compat_project", "conftest"):
            sys.modules.pop(name, None)


def _items(session):
    return {item.name: item for item in session.items}


def test_session_collects_items_and_sets_up_fixtures(session):
    session, log = session
    items = _items(session)
    assert set(items) == {
        "test_plain",
        "test_numbered[1]",
        "test_numbered[2]",
        "test_skipped",
        "test_xfailed",
        "test_unit",
    }
    plain = items["test_plain"]
    assert _compat.collection_item_argnames(plain) == ("module_fx", "function_fx")
    _compat.collection_setup_item(plain)
    assert plain.funcargs["module_fx"] == "m" and plain.funcargs["function_fx"] == "f"
    _compat.collection_teardown_item(plain, keep_parents=True)
    assert log.read_text().splitlines() == [
        "setup module",
        "setup function",
        "teardown function",
    ]
    # Set up again after teardown: a fresh request, the module fixture is kept.
    _compat.collection_setup_item(plain)
    assert plain.funcargs["function_fx"] == "f"
    _compat.collection_teardown_item(plain, keep_parents=False)
    assert log.read_text().splitlines()[3:] == [
        "setup function",
        "teardown function",
        "teardown module",
    ]
    _compat.collection_teardown_all(session)  # nothing left: harmless


def test_fixture_params_skip_and_xfail(session):
    session, _log = session
    items = _items(session)
    assert _compat.collection_item_fixture_params(items["test_numbered[1]"])
    assert not _compat.collection_item_fixture_params(items["test_plain"])
    assert _compat.collection_evaluate_skip(items["test_skipped"]) == "always"
    assert _compat.collection_evaluate_skip(items["test_plain"]) is None
    assert _compat.collection_evaluate_xfail(items["test_xfailed"]) == ("later", False)
    assert _compat.collection_evaluate_xfail(items["test_plain"]) is None


def test_outcome_exceptions_include_skip_and_fail():
    outcomes = _compat.collection_outcome_exceptions()
    for raiser in (pytest.skip, pytest.fail):
        with pytest.raises(outcomes):
            raiser("x")


def test_conftest_failure_is_recognised(tmp_path, monkeypatch):
    (tmp_path / "conftest.py").write_text("raise KeyError('in conftest')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BaseException) as raised:
        _compat.collection_prepare_config(["-p", "no:cacheprovider"], [])
    path, cause = _compat.collection_conftest_failure(raised.value)
    assert Path(path).name == "conftest.py"
    assert isinstance(cause, KeyError)
    assert _compat.collection_conftest_failure(ValueError()) is None


@given(st.integers())
def digest_me(x):
    pass


def test_function_digest_and_add_digest():
    inner = digest_me.hypothesis.inner_test
    plain = _compat.collection_function_digest(inner)
    assert len(plain) == 48
    before = _compat.collection_get_add_digest(inner)
    _compat.collection_set_add_digest(inner, b"node")
    assert _compat.collection_get_add_digest(inner) == b"node"
    salted = _compat.collection_function_digest(inner)
    _compat.collection_set_add_digest(inner, before)
    assert salted != plain
    assert _compat.collection_function_digest(inner) == plain
    assert "_hypothesis_internal_add_digest" not in inner.__dict__


def test_test_settings_are_the_decorated_ones():
    @settings(max_examples=7, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers())
    def with_settings(x):
        pass

    assert _compat.collection_test_settings(with_settings).max_examples == 7
    assert _compat.collection_test_settings(digest_me) is not None


class CompatMachine(RuleBasedStateMachine):
    @rule()
    def step(self):
        pass


def test_state_machine_class_and_test():
    run_test = CompatMachine.TestCase.runTest
    assert _compat.collection_state_machine_class(run_test) is CompatMachine
    assert _compat.collection_state_machine_class(digest_me) is None
    test = _compat.collection_state_machine_test(CompatMachine, CompatMachine.TestCase.settings)
    inner = test.hypothesis.inner_test
    # The machine's digest is mixed into the runner's key, as run_state_machine_as_test does.
    assert _compat.collection_get_add_digest(inner) == _compat.collection_function_digest(
        CompatMachine
    )
    test()  # runs the machine


def test_pinned_instance_survives_unittest_teardown(session):
    session, _log = session
    unit = _items(session)["test_unit"]
    _compat.collection_setup_item(unit)
    first = unit.instance
    _compat.collection_teardown_item(unit, keep_parents=True)
    _compat.collection_setup_item(unit)
    assert unit.instance is not first  # pytest's own behaviour: a new TestCase
    _compat.collection_teardown_item(unit, keep_parents=True)
    _compat.collection_pin_instance(unit, first)
    _compat.collection_setup_item(unit)
    assert unit.instance is first
    assert unit.obj.__self__ is first
    _compat.collection_teardown_item(unit, keep_parents=False)


def test_selection_given_by_parses_m_and_k_like_pytest(tmp_path, monkeypatch):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    monkeypatch.chdir(tmp_path)
    config = _compat.collection_prepare_config(["-p", "no:cacheprovider"], [])
    try:
        given_by = _compat.collection_selection_given_by
        assert given_by(config, ["-m", "not slow", "-knot fast"]) == ("not slow", "not fast")
        assert given_by(config, ["-k=a and b", "--unknown-plugin-option=1"]) == ("", "a and b")
        assert given_by(config, ["-x", "tests"]) == ("", "")
        # The last one wins, as for pytest itself.
        assert given_by(config, ["-m", "a", "-m", "b"]) == ("b", "")
    finally:
        _compat.collection_unconfigure(config)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


RUN_LEVEL_PROJECT = {
    "pytest.ini": """
        [pytest]
        addopts = --cov=pkg -n 2 --dist loadscope --strict-markers
    """,
    "pkg/__init__.py": "X = 1\n",
    "test_run_level.py": """
        import pytest

        @pytest.mark.no_cover
        def test_marked(worker_id):
            pass
    """,
}

_COVERAGE_PROBE = """
import sys
import coverage
from hypofuzz_nb import _compat

plugins = []
if sys.argv[1] == "guard":
    import pytest

    class Guard:
        switched = None

        @pytest.hookimpl(wrapper=True)
        def pytest_load_initial_conftests(self, early_config, parser, args):
            Guard.switched = _compat.collection_switch_off_run_level_plugins(early_config, args)
            return (yield)

    plugins.append(Guard())
config = _compat.collection_prepare_config(["-p", "no:cacheprovider"], plugins)
_compat.collection_configure(config)
print("switched:", plugins[0].switched if plugins else None)
print("measuring:", coverage.Coverage.current() is not None)
print("options:", config.option.no_cov, config.option.numprocesses, config.option.dist)
print("no_cover registered:", any(m.startswith("no_cover") for m in config.getini("markers")))
_compat.collection_unconfigure(config)
"""


@pytest.mark.parametrize("guarded", [False, True])
def test_switch_off_run_level_plugins_keeps_coverage_from_starting(tmp_path, guarded):
    # In a subprocess: unguarded, pytest-cov starts coverage.py in it.
    import subprocess

    project = _write(tmp_path, RUN_LEVEL_PROJECT)
    result = subprocess.run(
        [sys.executable, "-c", _COVERAGE_PROBE, "guard" if guarded else "plain"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "no_cover registered: True" in out
    if guarded:
        assert "measuring: False" in out
        assert "options: True 0 no" in out
        assert "pytest-cov's --cov" in out and "pytest-xdist's -n 2" in out
    else:
        assert "measuring: True" in out
        assert "options: False 2 loadscope" in out


def test_pytest_package_dirs_hold_pytest_internals():
    import _pytest.python

    dirs = _compat.collection_pytest_package_dirs()
    assert any(_pytest.python.__file__.startswith(d) for d in dirs)
