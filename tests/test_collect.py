"""hypofuzz_nb.collect against real pytest collection of real projects in tmp_path.

The key test runs plain ``python -m pytest`` in a subprocess on a project whose
tests all fail, then checks that the key we collect for each kind of test is the
key Hypothesis saved the failure under.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase
from hypothesis.stateful import RuleBasedStateMachine, rule

from hypofuzz_nb import _compat
from hypofuzz_nb.collect import collect_tests, database_in_effect, list_tests
from hypofuzz_nb.errors import (
    DatabasePathIsFile,
    FixtureSetupError,
    HypofuzzNbError,
    NoSuchPath,
    NoTestsCollected,
    PytestUsageError,
    TestImportError,
)
from hypofuzz_nb.fuzzable import (
    COLLECTION_ERROR,
    DATABASE_DIFFERS,
    DERANDOMIZE,
    NEEDS_ARGUMENTS,
    NESTED_GIVEN,
    NO_GENERATE,
    NOT_HYPOTHESIS,
    SKIP,
    SKIPIF,
    XFAIL,
)
from hypofuzz_nb.notebook_tests import collect_namespace


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def conftest_with_profile(db: Path, extra: str = "") -> str:
    return textwrap.dedent(
        f"""
            from hypothesis import HealthCheck, settings
            from hypothesis.database import DirectoryBasedExampleDatabase

            settings.register_profile(
                "collect-test",
                database=DirectoryBasedExampleDatabase({str(db)!r}),
                max_examples=20,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture],
            )
            settings.load_profile("collect-test")
            """
    ) + textwrap.dedent(extra)


FAILING_KINDS = """
    import unittest

    import pytest
    from hypothesis import HealthCheck, given, settings, strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, rule


    @given(st.integers(min_value=0))
    def test_plain(x):
        assert x < 0


    @pytest.mark.parametrize("n", [1, 2])
    @given(st.integers(min_value=0))
    def test_parametrized(n, x):
        assert x < 0


    @pytest.fixture(params=["a", "b"])
    def letter(request):
        return request.param


    @given(st.integers(min_value=0))
    def test_parametrized_fixture(letter, x):
        assert x < 0


    @settings(
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ]
    )
    @given(st.integers(min_value=0))
    def test_parametrized_fixture_both_checks_off(letter, x):
        assert x < 0


    class TestClass:
        @given(st.integers(min_value=0))
        def test_method(self, x):
            assert x < 0

        @pytest.mark.parametrize("n", [3])
        @given(st.integers(min_value=0))
        def test_method_parametrized(self, n, x):
            assert x < 0


    class TestUnit(unittest.TestCase):
        @given(st.integers(min_value=0))
        def test_unit(self, x):
            assert x < 0


    class Machine(RuleBasedStateMachine):
        @rule(x=st.integers())
        def step(self, x):
            assert x != x


    TestMachine = Machine.TestCase
"""

ALL_KIND_IDS = {
    "test_kinds.py::test_plain",
    "test_kinds.py::test_parametrized[1]",
    "test_kinds.py::test_parametrized[2]",
    "test_kinds.py::test_parametrized_fixture[a]",
    "test_kinds.py::test_parametrized_fixture[b]",
    "test_kinds.py::test_parametrized_fixture_both_checks_off[a]",
    "test_kinds.py::test_parametrized_fixture_both_checks_off[b]",
    "test_kinds.py::TestClass::test_method",
    "test_kinds.py::TestClass::test_method_parametrized[3]",
    "test_kinds.py::TestUnit::test_unit",
    "test_kinds.py::TestMachine::runTest",
}


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )


def test_keys_equal_the_keys_plain_pytest_saves_failures_under(tmp_path):
    db_dir = tmp_path / "db"
    project = write(
        tmp_path / "proj",
        {"conftest.py": conftest_with_profile(db_dir), "test_kinds.py": FAILING_KINDS},
    )
    result = run_pytest(project)
    assert "11 failed" in result.stdout, result.stdout + result.stderr

    with collect_tests(rootdir=project) as collection:
        by_id = {t.nodeid: t for t in collection.targets}
        assert set(by_id) == ALL_KIND_IDS, collection.not_fuzzable
        assert collection.database == DirectoryBasedExampleDatabase(str(db_dir))
        db = DirectoryBasedExampleDatabase(str(db_dir))
        for nodeid, target in by_id.items():
            assert list(db.fetch(target.database_key)), f"nothing saved under key of {nodeid}"
        # Hypothesis' plugin quirk, followed exactly: with function_scoped_fixture
        # suppressed (the profile), only the first case of a test whose only
        # parametrization is a fixture gets its node id mixed in, and the later cases
        # run under that same key; with both checks suppressed no node id at all.
        key = {nodeid.split("::")[-1]: t.database_key for nodeid, t in by_id.items()}
        assert key["test_parametrized_fixture[a]"] == key["test_parametrized_fixture[b]"]
        both_off = "test_parametrized_fixture_both_checks_off"
        assert key[f"{both_off}[a]"] == key[f"{both_off}[b]"]
        assert key["test_parametrized[1]"] != key["test_parametrized[2]"]
        assert len(set(key.values())) == len(key) - 2
        # The rule "node id only when parametrized" matters: the salted key of the
        # plain test holds nothing.
        plain = by_id["test_kinds.py::test_plain"]
        inner = plain.test.hypothesis.inner_test
        unsalted = _compat.collection_get_add_digest(inner)
        _compat.collection_set_add_digest(inner, b"test_kinds.py::test_plain")
        try:
            salted = _compat.collection_function_digest(inner)
        finally:
            _compat.collection_set_add_digest(inner, unsalted)
        assert not list(db.fetch(salted))
        assert plain.kind == "function"
        assert by_id["test_kinds.py::TestClass::test_method"].kind == "method"
        assert by_id["test_kinds.py::TestUnit::test_unit"].kind == "unittest"
        machine = by_id["test_kinds.py::TestMachine::runTest"]
        assert machine.kind == "state_machine"
        assert machine.state_machine.__name__ == "Machine"


def test_targets_run_with_their_fixture_kwargs_and_fail_like_pytest(tmp_path):
    db_dir = tmp_path / "db"
    project = write(
        tmp_path / "proj",
        {"conftest.py": conftest_with_profile(db_dir), "test_kinds.py": FAILING_KINDS},
    )
    with collect_tests(rootdir=project) as collection:
        assert len(collection.targets) == len(ALL_KIND_IDS)
        for target in collection.targets:
            with target.fixtures() as kwargs:
                if target.kind in ("method", "unittest"):
                    assert type(kwargs["self"]).__name__ in ("TestClass", "TestUnit")
                if "letter" in target.nodeid:
                    assert kwargs["letter"] == target.nodeid[-2]
                with pytest.raises(Exception) as raised:
                    target.test(**kwargs)
                assert "AssertionError" in repr(raised.value) or isinstance(
                    raised.value, AssertionError
                ), target.nodeid
    # Inside the fixtures() block the test ran under its collected key, so the
    # failures landed exactly where plain pytest looks for them.
    db = DirectoryBasedExampleDatabase(str(db_dir))
    for target in collection.targets:
        assert list(db.fetch(target.database_key)), target.nodeid


REASONS_PROJECT = {
    "pytest.ini": """
        [pytest]
        addopts = -m "not slow"
        markers =
            slow: deselected by addopts
            fast: selected by -m in a test
    """,
    "test_reasons.py": """
        import sys

        import pytest
        from hypothesis import Phase, given, settings, strategies as st
        from hypothesis.database import InMemoryExampleDatabase


        @given(st.integers())
        def test_ok(x):
            pass


        @pytest.mark.skip(reason="not today")
        @given(st.integers())
        def test_skip(x):
            pass


        @pytest.mark.skipif(sys.version_info > (3,), reason="always true")
        @given(st.integers())
        def test_skipif_true(x):
            pass


        @pytest.mark.skipif(sys.version_info < (3,), reason="never true")
        @given(st.integers())
        def test_skipif_false(x):
            pass


        @pytest.mark.xfail(reason="known bug")
        @given(st.integers())
        def test_xfail(x):
            pass


        @settings(derandomize=True)
        @given(st.integers())
        def test_derandomize(x):
            pass


        @settings(database=InMemoryExampleDatabase())
        @given(st.integers())
        def test_other_database(x):
            pass


        @settings(phases=[Phase.explicit, Phase.reuse])
        @given(st.integers())
        def test_no_generate(x):
            pass


        @given(st.integers())
        @given(st.integers())
        def test_nested(x):
            pass


        @pytest.mark.slow
        @given(st.integers())
        def test_slow(x):
            pass


        def test_not_hypothesis():
            pass
    """,
    "test_broken.py": """
        import not_a_module_that_exists_anywhere
    """,
}


def test_not_fuzzable_reasons_and_filter_counts(tmp_path):
    db_dir = tmp_path / "db"
    project = write(
        tmp_path / "proj", {**REASONS_PROJECT, "conftest.py": conftest_with_profile(db_dir)}
    )
    with collect_tests(rootdir=project) as collection:
        assert sorted(t.nodeid for t in collection.targets) == [
            "test_reasons.py::test_ok",
            "test_reasons.py::test_skipif_false",
        ]
        reasons = {n.nodeid: n.reason for n in collection.not_fuzzable}
        assert reasons == {
            "test_broken.py": COLLECTION_ERROR,
            "test_reasons.py::test_skip": SKIP,
            "test_reasons.py::test_skipif_true": SKIPIF,
            "test_reasons.py::test_xfail": XFAIL,
            "test_reasons.py::test_derandomize": DERANDOMIZE,
            "test_reasons.py::test_other_database": DATABASE_DIFFERS,
            "test_reasons.py::test_no_generate": NO_GENERATE,
            "test_reasons.py::test_nested": NESTED_GIVEN,
        }
        details = {n.nodeid: n.detail for n in collection.not_fuzzable}
        assert details["test_reasons.py::test_skip"] == "not today"
        assert "not_a_module_that_exists_anywhere" in details["test_broken.py"]
        assert collection.counts["deselected by -k/-m"] == 1  # ini addopts -m
        # The ini's -m leaves Hypothesis tests to fuzz, so it holds and nothing is said.
        assert collection.notes == []
        assert collection.counts[NOT_HYPOTHESIS] == 1
        assert collection.counts[SKIP] == 1
        assert len(collection.errors) == 1
        error = collection.errors[0]
        assert isinstance(error, TestImportError)
        assert "not_a_module_that_exists_anywhere" in str(error)
        assert "_pytest" not in error.traceback.split("Traceback:")[-1]


def test_k_and_m_filters_and_the_no_tests_message(tmp_path):
    project = write(
        tmp_path / "proj",
        {**REASONS_PROJECT, "conftest.py": conftest_with_profile(tmp_path / "db")},
    )
    (project / "test_broken.py").unlink()
    with collect_tests(["test_reasons.py"], ["-k", "ok"], rootdir=project) as collection:
        assert [t.nodeid for t in collection.targets] == ["test_reasons.py::test_ok"]
        assert collection.counts["deselected by -k/-m"] == 10
    with pytest.raises(NoTestsCollected) as raised:
        collect_tests(
            ["test_reasons.py"], ["-k", "(skip and not false) or xfail or not_hyp"], rootdir=project
        )
    message = str(raised.value)
    assert "deselected by -k/-m: 7" in message
    assert "skip: 1" in message and "skipif: 1" in message and "xfail: 1" in message
    assert "not Hypothesis tests: 1" in message
    assert set(raised.value.counts) >= {SKIP, SKIPIF, XFAIL, NOT_HYPOTHESIS}


def test_collecting_twice_sees_an_edited_test_and_prints_nothing(tmp_path, capfd):
    project = write(
        tmp_path / "proj",
        {
            "conftest.py": conftest_with_profile(tmp_path / "db"),
            "collect_edit_pkg/__init__.py": "",
            "collect_edit_pkg/helper.py": "VALUE = 1\n",
            "collect_edit_pkg/test_edit.py": """
                from hypothesis import given, strategies as st
                from collect_edit_pkg.helper import VALUE
                print("printed while importing the test module")

                @given(st.integers())
                def test_first(x):
                    assert VALUE == 1
            """,
        },
    )
    first = collect_tests(rootdir=project)
    first_key = first.targets[0].database_key
    assert [t.nodeid for t in first.targets] == ["collect_edit_pkg/test_edit.py::test_first"]
    first.close()
    # Closing forgets the project's modules and its sys.path entries.
    assert "collect_edit_pkg" not in sys.modules
    assert "collect_edit_pkg.test_edit" not in sys.modules
    assert str(project) not in sys.path
    write(
        project,
        {
            "collect_edit_pkg/helper.py": "VALUE = 2  # edited\n",
            "collect_edit_pkg/test_edit.py": """
                from hypothesis import given, strategies as st
                from collect_edit_pkg.helper import VALUE

                @given(st.integers())
                def test_renamed(x):
                    assert VALUE == 2, "the edited helper module is imported afresh"
            """,
        },
    )
    with collect_tests(rootdir=project) as second:
        assert [t.nodeid for t in second.targets] == ["collect_edit_pkg/test_edit.py::test_renamed"]
        assert second.targets[0].database_key != first_key
        with second.targets[0].fixtures() as kwargs:
            second.targets[0].test(**kwargs)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


FIXTURES_PROJECT = {
    "test_fixtures.py": """
        import os

        import pytest
        from hypothesis import given, strategies as st

        LOG = os.environ["HYPOFUZZ_NB_FIXTURE_LOG"]


        def log(line):
            with open(LOG, "a") as f:
                f.write(line + "\\n")


        def make(scope):
            @pytest.fixture(scope=scope)
            def fixture():
                log(f"setup {scope}")
                yield scope
                log(f"teardown {scope}")
            return fixture


        session_fx = make("session")
        module_fx = make("module")
        class_fx = make("class")
        function_fx = make("function")


        @pytest.fixture(autouse=True)
        def auto():
            log("setup autouse")
            yield
            log("teardown autouse")


        @pytest.mark.parametrize("n", [7])
        @given(st.integers())
        def test_uses_all(session_fx, module_fx, function_fx, n, x):
            pass


        class TestScopes:
            @given(st.integers())
            def test_in_class(self, class_fx, x):
                pass


        import unittest


        class TestUnitCase(unittest.TestCase):
            def setUp(self):
                log("setUp")
                self.ready = True

            def tearDown(self):
                log("tearDown")

            @given(st.integers())
            def test_unit(self, x):
                assert self.ready


        @pytest.fixture
        def broken():
            raise RuntimeError("the fixture is broken")


        @given(st.integers())
        def test_broken_fixture(broken, x):
            pass
    """,
}


def test_fixtures_yield_kwargs_and_tear_down_per_block(tmp_path, monkeypatch):
    log_file = tmp_path / "fixture.log"
    monkeypatch.setenv("HYPOFUZZ_NB_FIXTURE_LOG", str(log_file))
    project = write(
        tmp_path / "proj",
        {**FIXTURES_PROJECT, "conftest.py": conftest_with_profile(tmp_path / "db")},
    )

    def lines() -> list[str]:
        text = log_file.read_text() if log_file.exists() else ""
        log_file.write_text("")
        return text.splitlines()

    collection = collect_tests(rootdir=project)
    by_name = {t.nodeid.split("::")[-1]: t for t in collection.targets}
    uses_all = by_name["test_uses_all[7]"]
    with uses_all.fixtures() as kwargs:
        assert kwargs == {
            "session_fx": "session",
            "module_fx": "module",
            "function_fx": "function",
            "n": 7,
        }
        assert lines() == [
            "setup session",
            "setup module",
            "setup autouse",
            "setup function",
        ]
        uses_all.test(**kwargs)
    assert lines() == ["teardown function", "teardown autouse"]
    # A second block is a new batch: fresh function-scoped fixtures only.
    with uses_all.fixtures() as kwargs:
        assert kwargs["function_fx"] == "function"
    assert lines() == ["setup autouse", "setup function", "teardown function", "teardown autouse"]
    in_class = by_name["test_in_class"]
    with in_class.fixtures() as kwargs:
        assert set(kwargs) == {"self", "class_fx"}
        in_class.test(**kwargs)
    assert lines() == ["setup class", "setup autouse", "teardown autouse"]
    unit = by_name["test_unit"]
    for _ in range(2):  # a fresh TestCase instance per block, setUp/tearDown around it
        with unit.fixtures() as kwargs:
            assert set(kwargs) == {"self"} and kwargs["self"].ready
            unit.test(**kwargs)
    assert lines() == [
        "teardown class",
        "setup autouse",
        "setUp",
        "tearDown",
        "teardown autouse",
        "setup autouse",
        "setUp",
        "tearDown",
        "teardown autouse",
    ]
    with pytest.raises(FixtureSetupError) as raised, by_name["test_broken_fixture"].fixtures():
        pass
    assert "the fixture is broken" in str(raised.value)
    assert "_pytest" not in raised.value.traceback
    assert lines() == ["setup autouse", "teardown autouse"]
    collection.close()
    assert lines() == ["teardown module", "teardown session"]
    collection.close()  # closing twice is harmless


def test_database_in_effect_is_the_profile_database(tmp_path):
    db_dir = tmp_path / "db"
    project = write(
        tmp_path / "proj",
        {
            "collect_profile_pkg/__init__.py": conftest_with_profile(db_dir),
            "collect_profile_pkg/test_a.py": "def test_nothing():\n    pass\n",
        },
    )
    assert database_in_effect(
        ["collect_profile_pkg"], rootdir=project
    ) == DirectoryBasedExampleDatabase(str(db_dir))


def test_profile_from_pytest_configure_and_the_hypothesis_profile_option(tmp_path):
    db_dir = tmp_path / "db"
    project = write(
        tmp_path / "proj",
        {
            "conftest.py": f"""
                from hypothesis import settings
                from hypothesis.database import DirectoryBasedExampleDatabase

                def pytest_configure(config):
                    settings.register_profile(
                        "from-configure", database=DirectoryBasedExampleDatabase({str(db_dir)!r})
                    )
                    settings.register_profile("memory", database=None)
                    settings.load_profile("from-configure")
            """,
            "test_a.py": """
                from hypothesis import given, strategies as st

                @given(st.integers())
                def test_a(x):
                    pass
            """,
        },
    )
    with collect_tests(rootdir=project) as collection:
        assert collection.database == DirectoryBasedExampleDatabase(str(db_dir))
        assert len(collection.targets) == 1
    assert database_in_effect(["test_a.py"], rootdir=project) == DirectoryBasedExampleDatabase(
        str(db_dir)
    )
    # The plugin's --hypothesis-profile option (after conftest's pytest_configure).
    assert (
        database_in_effect(["test_a.py"], ["--hypothesis-profile=memory"], rootdir=project) is None
    )
    # Collection leaves the caller's profile as it was.
    assert settings.get_current_profile_name() != "memory"


def test_missing_path_is_a_clear_error(tmp_path):
    project = write(tmp_path / "proj", {"test_a.py": "def test_a():\n    pass\n"})
    with pytest.raises(NoSuchPath) as raised:
        collect_tests(["tests/nope.py"], rootdir=project)
    assert "'tests/nope.py' does not exist" in str(raised.value)
    with pytest.raises(NoSuchPath):
        collect_tests(rootdir=tmp_path / "no-such-root")


def test_only_file_failing_to_import_raises_with_the_user_traceback(tmp_path):
    project = write(
        tmp_path / "proj",
        {
            "collect_boom.py": "def boom():\n    raise ValueError('helper exploded')\n",
            "test_bad.py": "from collect_boom import boom\nboom()\n",
        },
    )
    with pytest.raises(TestImportError) as raised:
        collect_tests(rootdir=project)
    message = str(raised.value)
    assert "test_bad.py" in message and "helper exploded" in message
    assert "hypofuzz_nb" not in message
    # A failed collection undoes its additions at once.
    assert "collect_boom" not in sys.modules
    assert str(project) not in sys.path


def test_conftest_failing_to_import_raises_with_the_user_traceback(tmp_path):
    project = write(
        tmp_path / "proj",
        {"conftest.py": "1 / 0\n", "test_a.py": "def test_a():\n    pass\n"},
    )
    with pytest.raises(TestImportError) as raised:
        collect_tests(rootdir=project)
    assert "conftest.py" in str(raised.value)
    assert "ZeroDivisionError" in str(raised.value)


def test_bad_pytest_arguments_are_a_clear_error(tmp_path):
    project = write(tmp_path / "proj", {"test_a.py": "def test_a():\n    pass\n"})
    with pytest.raises(PytestUsageError) as raised:
        collect_tests(pytest_args=["--no-such-option"], rootdir=project)
    assert "--no-such-option" in str(raised.value)
    with pytest.raises(TypeError, match="not one string"):
        collect_tests(pytest_args="-k foo", rootdir=project)


def test_database_path_that_is_a_file_is_a_clear_error(tmp_path):
    not_a_dir = tmp_path / "db-file"
    not_a_dir.write_text("I am a file")
    project = write(
        tmp_path / "proj",
        {
            "conftest.py": conftest_with_profile(not_a_dir),
            "test_a.py": "from hypothesis import given, strategies as st\n\n"
            "@given(st.integers())\ndef test_a(x):\n    pass\n",
        },
    )
    with pytest.raises(DatabasePathIsFile) as raised:
        collect_tests(rootdir=project)
    assert str(not_a_dir) in str(raised.value)
    with pytest.raises(DatabasePathIsFile):
        database_in_effect(rootdir=project)


def test_errors_are_hypofuzz_nb_errors():
    for cls in (NoSuchPath, TestImportError, NoTestsCollected, PytestUsageError):
        assert issubclass(cls, HypofuzzNbError)
    assert issubclass(DatabasePathIsFile, HypofuzzNbError)
    assert issubclass(FixtureSetupError, HypofuzzNbError)


# -- notebook namespaces -----------------------------------------------------------------


@given(st.integers())
def notebook_test(x):
    assert isinstance(x, int)


@settings(derandomize=True)
@given(st.integers())
def notebook_derandomized(x):
    pass


@given(st.integers())
def notebook_needs_fixture(fixture, x):
    pass


class NotebookMachine(RuleBasedStateMachine):
    @rule()
    def step(self):
        pass


def test_namespace_tests_use_hypothesis_own_key():
    namespace = {
        "notebook_test": notebook_test,
        "notebook_derandomized": notebook_derandomized,
        "notebook_needs_fixture": notebook_needs_fixture,
        "NotebookMachine": NotebookMachine,
        "RuleBasedStateMachine": RuleBasedStateMachine,
        "not_a_test": print,
    }
    collection = collect_namespace(namespace, notebook_name="demo.ipynb")
    by_id = {t.nodeid: t for t in collection.targets}
    assert set(by_id) == {"demo.ipynb::notebook_test", "demo.ipynb::NotebookMachine"}
    reasons = {n.nodeid: n.reason for n in collection.not_fuzzable}
    assert reasons == {
        "demo.ipynb::notebook_derandomized": DERANDOMIZE,
        "demo.ipynb::notebook_needs_fixture": NEEDS_ARGUMENTS,
    }
    target = by_id["demo.ipynb::notebook_test"]
    assert target.item is None


@pytest.fixture
def memory_profile():
    db = InMemoryExampleDatabase()
    previous = settings.get_current_profile_name()
    settings.register_profile("collect-memory", database=db, max_examples=5)
    settings.load_profile("collect-memory")
    yield db
    settings.load_profile(previous)


def test_namespace_failure_is_saved_under_the_collected_key(memory_profile):
    db = memory_profile

    @given(st.integers())
    def failing(x):
        raise ValueError

    # Calling the test directly (as in a notebook) saves its failure under this key.

    failing_target = collect_namespace({"failing": failing}, notebook_name="nb").targets[0]
    with failing_target.fixtures() as kwargs:
        assert kwargs == {}
        with pytest.raises(ValueError):
            failing_target.test(**kwargs)
    assert list(db.fetch(failing_target.database_key))


def test_empty_namespace_says_why():
    with pytest.raises(NoTestsCollected) as raised:
        collect_namespace({"notebook_derandomized": notebook_derandomized}, notebook_name="nb")
    assert "derandomize: 1" in str(raised.value)


def test_namespace_of_a_real_ipython_shell(memory_profile):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    cell = textwrap.dedent(
        """
        from hypothesis import given, strategies as st

        @given(st.integers(min_value=0))
        def test_in_cell(x):
            assert x < 0
        """
    )
    assert shell.run_cell(cell).success
    try:
        collection = collect_namespace(shell.user_ns, notebook_name="analysis.ipynb")
        (target,) = [t for t in collection.targets if t.nodeid.endswith("::test_in_cell")]
        assert target.nodeid == "analysis.ipynb::test_in_cell"
        # The cell's test, called as a notebook user would, saves under our key.
        result = shell.run_cell("test_in_cell()")
        assert isinstance(result.error_in_exec, AssertionError)
        assert list(memory_profile.fetch(target.database_key))
    finally:
        shell.user_ns.pop("test_in_cell", None)


def test_collect_tests_can_add_a_namespace(tmp_path):
    project = write(
        tmp_path / "proj",
        {
            "conftest.py": conftest_with_profile(tmp_path / "db"),
            "test_a.py": "from hypothesis import given, strategies as st\n\n"
            "@given(st.integers())\ndef test_a(x):\n    pass\n",
        },
    )
    namespace = {"notebook_test": notebook_test}
    with collect_tests(rootdir=project, namespace=namespace, notebook_name="nb") as collection:
        assert [t.nodeid for t in collection.targets] == ["test_a.py::test_a"]
        # Decorated under another profile, so it would save elsewhere: not fuzzed.
        assert [(n.nodeid, n.reason) for n in collection.not_fuzzable] == [
            ("nb::notebook_test", DATABASE_DIFFERS)
        ]


def test_state_machine_fixtures_can_be_entered_batch_after_batch(tmp_path):
    # pytest makes a unittest item's TestCase lazily and deletes it at teardown: a
    # second block used to fail its teardown, making the machine look fatal.
    project = write(
        tmp_path / "proj",
        {
            "collect_sm_pkg/__init__.py": conftest_with_profile(tmp_path / "db"),
            "collect_sm_pkg/test_machine.py": """
                from hypothesis import strategies as st
                from hypothesis.stateful import RuleBasedStateMachine, rule

                class Counter(RuleBasedStateMachine):
                    total = 0

                    @rule(n=st.integers(0, 3))
                    def add(self, n):
                        self.total += n

                TestCounter = Counter.TestCase
            """,
        },
    )
    with collect_tests(["collect_sm_pkg"], rootdir=project) as collection:
        [target] = collection.targets
        assert target.kind == "state_machine"
        for _ in range(3):
            with target.fixtures() as kwargs:
                assert kwargs == {}
                target.test(**kwargs)


def test_a_project_that_turns_warnings_into_errors_still_collects(tmp_path):
    # In a kernel, Hypothesis is imported before pytest starts, so pytest warns that
    # it cannot rewrite asserts in it; `filterwarnings = error` (as python-dateutil
    # has) must not turn that into a collection failure that plain pytest never has.
    project = write(
        tmp_path / "proj",
        {
            "pytest.ini": "[pytest]\nfilterwarnings =\n    error\n",
            "collect_warn_pkg/__init__.py": conftest_with_profile(tmp_path / "db"),
            "collect_warn_pkg/test_w.py": """
                from hypothesis import given, strategies as st

                @given(st.integers())
                def test_int(n):
                    assert isinstance(n, int)
            """,
        },
    )
    with collect_tests(["collect_warn_pkg"], rootdir=project) as collection:
        assert [t.nodeid for t in collection.targets] == ["collect_warn_pkg/test_w.py::test_int"]


# -- ini -m/-k that deselect every Hypothesis test; run-level plugins ----------------------

FIXTURE_PROJECTS = Path(__file__).resolve().parent / "fixture_projects"
CODEC_TESTS = {"tests/test_codec.py::test_roundtrip", "tests/test_codec.py::test_decode_or_error"}
SORTING_TESTS = {
    "tests/test_sorting.py::test_sorted_is_ordered",
    "tests/test_sorting.py::test_sorted_keeps_length",
}


def fixture_project(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE_PROJECTS / name, tmp_path / name))


@pytest.fixture
def no_env_addopts(monkeypatch):
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


@pytest.mark.parametrize(
    ("name", "expected", "dropped"),
    [
        ("not_hypothesis", CODEC_TESTS, "dropped -m 'not hypothesis' of the addopts in pytest.ini"),
        (
            "not_property",
            SORTING_TESTS,
            "dropped -m 'not property' of the addopts in pyproject.toml",
        ),
    ],
)
def test_ini_m_deselecting_every_hypothesis_test_is_dropped_and_said(
    tmp_path, no_env_addopts, name, expected, dropped
):
    project = fixture_project(name, tmp_path)
    # What plain pytest does with the ini: no Hypothesis test runs.
    plain = run_pytest(project)
    assert plain.returncode == 0 and "1 passed, 2 deselected" in plain.stdout, plain.stdout
    with collect_tests(rootdir=project) as collection:
        assert {t.nodeid for t in collection.targets} == expected
        assert collection.notes[0].startswith(dropped), collection.notes
        assert collection.counts["deselected by -k/-m"] == 0
        assert collection.counts[NOT_HYPOTHESIS] == 1
        # What worker processes pass to collect the same at the first try.
        assert collection.pytest_args == ["-m", ""]
    with collect_tests(rootdir=project, pytest_args=collection.pytest_args) as again:
        assert {t.nodeid for t in again.targets} == expected
        assert again.notes == []
    # The same for listing (load(paths=...) uses it), which never raises.
    listing = list_tests(["tests"], rootdir=project)
    assert {t.nodeid for t in listing.targets} == expected
    assert listing.notes == collection.notes


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("pytest.ini", '[pytest]\naddopts = -k "not roundtrip and not decode"\n'),
        (
            "pyproject.toml",
            "[tool.pytest.ini_options]\naddopts = \"-k 'not roundtrip and not decode'\"\n",
        ),
        ("tox.ini", '[pytest]\naddopts = -k "not roundtrip and not decode"\n'),
        ("setup.cfg", '[tool:pytest]\naddopts = -k "not roundtrip and not decode"\n'),
    ],
)
def test_ini_k_is_dropped_from_every_kind_of_ini_file(tmp_path, no_env_addopts, filename, text):
    project = fixture_project("not_hypothesis", tmp_path)
    (project / "pytest.ini").unlink()
    (project / filename).write_text(text)
    with collect_tests(rootdir=project) as collection:
        assert {t.nodeid for t in collection.targets} == CODEC_TESTS
        assert collection.notes == [
            f"dropped -k 'not roundtrip and not decode' of the addopts in {filename}: it "
            "deselected every Hypothesis test, and fuzzing is for exactly those (an "
            "explicit -m/-k applies)"
        ]


def test_explicit_m_and_k_always_apply(tmp_path, no_env_addopts, monkeypatch):
    project = fixture_project("not_hypothesis", tmp_path)
    # The user's -k applies; only the ini's -m is dropped.
    with collect_tests(["tests"], ["-k", "roundtrip"], rootdir=project) as collection:
        assert [t.nodeid for t in collection.targets] == ["tests/test_codec.py::test_roundtrip"]
        assert len(collection.notes) == 1 and "-m 'not hypothesis'" in collection.notes[0]
    # The user's own -m replaces the ini's: nothing to drop, nothing said.
    with collect_tests(["tests"], ["-m", "hypothesis"], rootdir=project) as collection:
        assert {t.nodeid for t in collection.targets} == CODEC_TESTS
        assert collection.notes == []
    # The user asking for what the ini says is the user's choice: nothing to fuzz.
    with pytest.raises(NoTestsCollected) as raised:
        collect_tests(["tests"], ["-m", "not hypothesis"], rootdir=project)
    assert "deselected by -k/-m: 2" in str(raised.value)
    # PYTEST_ADDOPTS is the user's too.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-m 'not hypothesis'")
    with pytest.raises(NoTestsCollected):
        collect_tests(["tests"], rootdir=project)
    assert list_tests(["tests"], rootdir=project).targets == []


def test_ini_m_is_kept_when_dropping_it_finds_nothing_either(tmp_path, no_env_addopts):
    project = write(
        tmp_path / "proj",
        {
            "pytest.ini": '[pytest]\naddopts = -m "not hypothesis"\n',
            "test_plain.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
        },
    )
    with pytest.raises(NoTestsCollected) as raised:
        collect_tests(rootdir=project, pytest_args=["-k", "test_a"])
    assert "not Hypothesis tests: 1" in str(raised.value)
    assert list_tests(rootdir=project).targets == []


def test_run_level_plugins_are_switched_off_and_tests_keep_what_they_need(
    tmp_path, no_env_addopts, monkeypatch
):
    import coverage

    project = fixture_project("run_level_plugins", tmp_path)
    log = tmp_path / "run-level.log"
    monkeypatch.setenv("RUN_LEVEL_LOG", str(log))
    assert coverage.Coverage.current() is None
    with collect_tests(rootdir=project) as collection:
        # --strict-markers: pytest-cov's no_cover marker is still registered.
        by_id = {t.nodeid: t for t in collection.targets}
        assert set(by_id) == {
            "tests/test_clamp.py::test_clamp_in_range",
            "tests/test_clamp.py::test_clamp_identity",
        }
        assert collection.notes == [
            "switched off for fuzzing: pytest-cov's --cov (coverage.py would trace every input)",
            "switched off for fuzzing: pytest-xdist's -n 2 (the fuzzer runs its own workers: "
            "use its -n)",
        ]
        target = by_id["tests/test_clamp.py::test_clamp_in_range"]
        with target.fixtures() as kwargs:
            assert kwargs["worker_id"] == "master"  # xdist's fixture is still there
            target.test(**kwargs)
    assert set(log.read_text().splitlines()) == {"coverage=False worker_id=master"}
    assert not list(project.glob(".coverage*"))


def hypofuzz_nb_cli(project: Path, *args: str, env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    return subprocess.run(
        [sys.executable, "-m", "hypofuzz_nb", "fuzz", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **(env or {})},
        check=False,
    )


def test_the_command_fuzzes_a_project_whose_ini_deselects_its_property_tests(tmp_path):
    project = fixture_project("not_hypothesis", tmp_path)
    # Two worker processes: each collects with the same rule.
    result = hypofuzz_nb_cli(project, "tests", "-n", "2", "--max-time", "6")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 tests" in result.stdout
    assert (
        "Note: dropped -m 'not hypothesis' of the addopts in pytest.ini: it deselected every "
        "Hypothesis test" in result.stdout
    )


def test_the_command_fuzzes_without_coverage_or_xdist_from_addopts(tmp_path):
    project = fixture_project("run_level_plugins", tmp_path)
    log = tmp_path / "run-level.log"
    result = hypofuzz_nb_cli(project, "--max-time", "4", env={"RUN_LEVEL_LOG": str(log)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Note: switched off for fuzzing: pytest-cov's --cov" in result.stdout
    assert "Note: switched off for fuzzing: pytest-xdist's -n 2" in result.stdout
    lines = log.read_text().splitlines()
    assert len(lines) > 10  # the test body ran, many times, in the fuzzer's process
    assert set(lines) == {"coverage=False worker_id=master"}
    assert not list(project.glob(".coverage*"))


def test_the_magic_fuzzes_a_project_whose_ini_deselects_its_property_tests(
    tmp_path, no_env_addopts, monkeypatch, capsys
):
    from IPython.core.interactiveshell import InteractiveShell

    from hypofuzz_nb import magic

    project = fixture_project("not_property", tmp_path)
    monkeypatch.chdir(project)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "hypofuzz_nb")
    try:
        shell.run_line_magic("hypofuzz", "tests --no-dashboard --max-time 3")
        out = capsys.readouterr().out
        assert "hypofuzz: dropped -m 'not property' of the addopts in pyproject.toml" in out
        session = magic._state.session
        assert session.wait(120)
        assert {t.nodeid for t in session.status().tests} == SORTING_TESTS
    finally:
        shell.run_line_magic("unload_ext", "hypofuzz_nb")


ONE_GIVEN_TEST = """
from hypothesis import given, strategies as st

@given(st.integers())
def test_one(x):
    pass
"""


def _age(root: Path, seconds: float = 60.0) -> None:
    """Date every file under ``root`` back, out of the listing cache's racy window."""
    import time

    then = time.time() - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (then, then))


def test_a_listing_is_reused_until_a_file_it_read_changes(tmp_path):
    project = write(
        tmp_path / "proj",
        {
            "conftest.py": conftest_with_profile(tmp_path / "db"),
            "test_listed.py": ONE_GIVEN_TEST,
        },
    )
    _age(project)
    first = list_tests(rootdir=project)
    assert list_tests(rootdir=project) is first
    assert list_tests(["test_listed.py"], rootdir=project) is not first  # other paths
    assert list_tests(rootdir=project, pytest_args=["-k", "one"]) is not first
    # A new test file changes the listing, though no file that was read changed.
    write(
        project,
        {
            "test_added.py": """
                from hypothesis import given, strategies as st

                @given(st.integers())
                def test_two(x):
                    pass
            """
        },
    )
    _age(project)
    second = list_tests(rootdir=project)
    assert sorted(t.nodeid for t in second.targets) == [
        "test_added.py::test_two",
        "test_listed.py::test_one",
    ]
    # An edited conftest (here: which database) is seen too.
    (project / "conftest.py").write_text(conftest_with_profile(tmp_path / "other_db"))
    _age(project)
    third = list_tests(rootdir=project)
    assert third is not second
    assert Path(third.database.path) == tmp_path / "other_db"


def test_a_listing_with_errors_or_fresh_files_is_collected_again(tmp_path):
    project = write(
        tmp_path / "proj",
        {
            "conftest.py": conftest_with_profile(tmp_path / "db"),
            "test_ok.py": ONE_GIVEN_TEST,
            "test_broken.py": "import a_module_that_does_not_exist\n",
        },
    )
    _age(project)
    broken = list_tests(rootdir=project)
    assert broken.errors
    # The fix may be outside the paths (a missing package installed): collect again.
    assert list_tests(rootdir=project) is not broken
    (project / "test_broken.py").write_text("FIXED = True\n")
    # Just written files: their modification time cannot tell an edit apart yet.
    fresh = list_tests(rootdir=project)
    assert list_tests(rootdir=project) is not fresh
