"""Failure objects: reproduce in the process, debug post-mortem, @example patch, safe HTML."""

from __future__ import annotations

import io
import pdb
import textwrap

import pytest
from dashboard_data import EVIL, failure_row, make_data
from hypothesis import given
from hypothesis import strategies as st

import hypofuzz_nb
from hypofuzz_nb import _compat, records
from hypofuzz_nb.errors import FailureDidNotReproduce, HypofuzzNbError, TestNotFound
from hypofuzz_nb.reproduce import Failure, failures, highlight_traceback


class PlantedBug(Exception):
    pass


def _notebook_namespace():
    calls = []

    @given(st.integers(0, 1000))
    def test_deep(n):
        calls.append(n)
        hidden_local = n * 2
        if n == 737:
            raise PlantedBug(f"found {hidden_local}")

    return {"test_deep": test_deep}, calls


def test_exported_from_package():
    assert hypofuzz_nb.Failure is Failure
    assert hypofuzz_nb.failures is failures


def test_failures_from_frame_sorted_by_state():
    data = make_data(
        2,
        3,
        failures=[
            failure_row("tests/test_mod.py::test_1", state="fixed"),
            failure_row("tests/test_mod.py::test_0", state="unshrunk"),
            failure_row("tests/test_mod.py::test_1", state="shrunk"),
        ],
    )
    result = failures(data)
    assert [(f.state, f.nodeid) for f in result] == [
        ("shrunk", "tests/test_mod.py::test_1"),
        ("unshrunk", "tests/test_mod.py::test_0"),
        ("fixed", "tests/test_mod.py::test_1"),
    ]
    assert result[0].choices == (EVIL,)
    assert result[0].summary == f"ValueError: {EVIL}"
    assert failures(make_data(1, 1)) == []


def test_an_unshrunk_failure_equal_to_the_shrunk_one_is_listed_once():
    data = make_data(
        2,
        3,
        failures=[
            failure_row("tests/test_mod.py::test_0", state="unshrunk", choices=(1, 2)),
            failure_row("tests/test_mod.py::test_0", state="shrunk", choices=(1, 2)),
            failure_row("tests/test_mod.py::test_1", state="unshrunk", choices=(5, 9)),
            failure_row("tests/test_mod.py::test_1", state="shrunk", choices=(0, 0)),
        ],
    )
    assert [(f.state, f.nodeid, f.choices) for f in failures(data)] == [
        ("shrunk", "tests/test_mod.py::test_0", (1, 2)),
        ("shrunk", "tests/test_mod.py::test_1", (0, 0)),
        ("unshrunk", "tests/test_mod.py::test_1", (5, 9)),
    ]


def test_failures_of_wrong_object_says_what_to_pass():
    with pytest.raises(TypeError, match=r"hypofuzz_nb\.load\(\)"):
        failures([1, 2])


def test_reproduce_notebook_test_raises_the_real_exception():
    namespace, calls = _notebook_namespace()
    failure = Failure(nodeid="<notebook>::test_deep", choices=(737,))
    with pytest.raises(PlantedBug, match="found 1474"):
        failure.reproduce(namespace=namespace)
    # Only the stored example ran: no generation, no shrinking.
    assert set(calls) == {737}


def test_reproduce_of_a_fixed_failure_says_so():
    namespace, calls = _notebook_namespace()
    failure = Failure(nodeid="<notebook>::test_deep", choices=(5,))
    with pytest.raises(FailureDidNotReproduce, match="ran and passed"):
        failure.reproduce(namespace=namespace)
    assert calls == [5]


def test_reproduce_leaves_the_test_settings_alone():
    namespace, _ = _notebook_namespace()
    test = namespace["test_deep"]
    before = _compat.collection_test_settings(test)
    with pytest.raises(PlantedBug):
        Failure(nodeid="<notebook>::test_deep", choices=(737,)).reproduce(namespace=namespace)
    assert _compat.collection_test_settings(test) is before


def test_reproduce_missing_notebook_test_names_it():
    with pytest.raises(TestNotFound, match="no @given test named 'test_gone'"):
        Failure(nodeid="<notebook>::test_gone", choices=(1,)).reproduce(namespace={})
    assert issubclass(TestNotFound, HypofuzzNbError)


def test_reproduce_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TestNotFound, match="does not exist relative to"):
        Failure(nodeid="tests/test_gone.py::test_x", choices=(1,)).reproduce()


def test_reproduce_without_choices_or_database_says_what_to_do():
    namespace, _ = _notebook_namespace()
    with pytest.raises(TestNotFound, match="neither stored choices nor a database"):
        Failure(nodeid="<notebook>::test_deep").reproduce(namespace=namespace)


def test_reproduce_from_the_database_without_choices():
    # Hypothesis' own key for a plain test, as its pytest plugin computes it.
    from hypothesis.database import InMemoryExampleDatabase

    from hypofuzz_nb._compat import collection_function_digest as function_digest

    namespace, _ = _notebook_namespace()
    db = InMemoryExampleDatabase()
    key = function_digest(namespace["test_deep"].hypothesis.inner_test)
    db.save(key, records.encode_choices((737,)))
    with pytest.raises(PlantedBug):
        Failure(nodeid="<notebook>::test_deep", database=db).reproduce(namespace=namespace)
    # Replayed read-only: the entry is still there.
    assert list(db.fetch(key)) == [records.encode_choices((737,))]


def test_reproduce_file_test_through_collection(tmp_path, monkeypatch):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_planted.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from hypothesis import given, strategies as st

            @pytest.fixture
            def offset():
                return 10

            @given(st.integers(0, 100))
            def test_planted(offset, n):
                assert n + offset != 52, "planted"

            @pytest.mark.parametrize("scale", [1, 2])
            @given(n=st.integers(0, 100))
            def test_parametrized(scale, n):
                assert n * scale != 84, "planted in parametrized"
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    failure = Failure(nodeid="tests/test_planted.py::test_planted", choices=(42,))
    with pytest.raises(AssertionError, match="planted"):
        failure.reproduce()
    # Each parametrization is its own test: only scale=2 fails on n=42.
    failure = Failure(nodeid="tests/test_planted.py::test_parametrized[2]", choices=(42,))
    with pytest.raises(AssertionError, match="planted in parametrized"):
        failure.reproduce()
    failure = Failure(nodeid="tests/test_planted.py::test_parametrized[1]", choices=(42,))
    with pytest.raises(FailureDidNotReproduce):
        failure.reproduce()
    with pytest.raises(TestNotFound, match="was it renamed or removed"):
        Failure(nodeid="tests/test_planted.py::test_renamed", choices=(42,)).reproduce()
    # A test file that no longer imports: the user's own error, not ours.
    (tmp_path / "tests" / "test_planted.py").write_text("import no_such_module_xyz\n")
    with pytest.raises(HypofuzzNbError, match="no_such_module_xyz"):
        Failure(nodeid="tests/test_planted.py::test_planted", choices=(42,)).reproduce()


def test_debug_opens_post_mortem_in_the_failing_frame():
    namespace, _ = _notebook_namespace()
    output = io.StringIO()
    debugger = pdb.Pdb(stdin=io.StringIO("p hidden_local\nq\n"), stdout=output)
    debugger.use_rawinput = False
    Failure(nodeid="<notebook>::test_deep", choices=(737,)).debug(
        debugger=debugger, namespace=namespace
    )
    assert "1474" in output.getvalue()


def test_debug_of_fixed_failure_raises_clear_error():
    namespace, _ = _notebook_namespace()
    with pytest.raises(FailureDidNotReproduce):
        Failure(nodeid="<notebook>::test_deep", choices=(1,)).debug(
            debugger=pdb.Pdb(stdin=io.StringIO("q\n"), stdout=io.StringIO()),
            namespace=namespace,
        )


@pytest.mark.parametrize(
    "representation, arguments, expected",
    [
        ("test_f(\n    x=1,\n    y='a',\n)", {}, "@example(x=1, y='a')"),
        ("test_f(\n    xs=[\n        1,\n        2,\n    ],\n)", {}, "@example(xs=[ 1, 2, ])"),
        ("test_f(\n    s=b'\\x00',\n)", {}, "@example(s=b'\\x00')"),
        ("<unrepresentable>", {"x": 3, "y": [1, "b"]}, "@example(x=3, y=[1, 'b'])"),
        ("state.rule_a()\nstate.teardown()", {}, None),
        ("test_f(\n    obj=<object at 0x1>,\n)", {"obj": object()}, None),
    ],
)
def test_example_patch(representation, arguments, expected):
    failure = Failure(nodeid="t.py::test_f", representation=representation, arguments=arguments)
    assert failure.example_patch() == expected


def test_example_patch_is_valid_python_for_evil_strings():
    row = failure_row()
    patch = Failure.from_row(row).example_patch()
    assert patch is not None
    ns = {}
    exec(patch.replace("@example", "args = dict", 1), ns)
    assert ns["args"] == {"x": EVIL}


def test_reproduce_failure_line():
    assert Failure.from_row(failure_row()).reproduce_failure_line.startswith("@reproduce_failure(")
    assert Failure(nodeid="a::b").reproduce_failure_line is None


def test_html_escapes_every_generated_string():
    html = Failure.from_row(failure_row())._repr_html_()
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html or "&lt;script" in html
    assert "@example(" in html
    assert "@reproduce_failure(" in html


def test_highlighted_traceback_is_escaped_and_coloured():
    out = highlight_traceback(f"Traceback (most recent call last):\nValueError: {EVIL}\n")
    assert "<script" not in out
    assert "style=" in out  # inline colours: works without a stylesheet


def test_missing_cells_are_empty_text():
    row = failure_row()
    row.update(message=float("nan"), traceback=None, choices=None)
    failure = Failure.from_row(row)
    assert failure.message == ""
    assert failure.traceback == ""
    assert failure.choices is None
    assert "Traceback" not in failure._repr_html_()
