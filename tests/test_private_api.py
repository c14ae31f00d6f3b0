"""Private Hypothesis and pytest APIs are used only through ``hypofuzz_nb/_compat/``.

Hypothesis and pytest change their internals in minor releases; keeping every such
use in ``_compat`` (checked against the installed releases by
``tests/test_compat_*.py``) means a new release breaks one small package. This test
reads the source (statically, with :mod:`ast`) of the package outside ``_compat``,
of the tests outside ``tests/test_compat_*.py`` and of the benchmarks, and reports:

* imports of ``_pytest``, ``hypothesis.internal`` or any other
  ``hypothesis.*._internal`` module, and of underscore names from ``hypothesis`` or
  ``pytest`` modules;
* underscore attributes of anything imported from ``hypothesis`` or ``pytest``
  (``hypothesis.core._x``, ``settings.default._y``);
* attribute accesses (including ``getattr``/``setattr``/``hasattr``/``delattr``
  with a literal name) whose name starts with ``_hypothesis``, or is one of the
  private attribute names that ``_compat`` itself accesses on Hypothesis or pytest
  objects (computed from ``_compat``'s source, so the list stays true), except on
  ``self``/``cls`` (our own objects' attributes may share such a name);
* in a class derived from a Hypothesis or pytest class (a base imported from them
  or given by ``_compat``), ``self._name`` that the class does not define itself:
  an inherited private attribute;
* a class that defines one of those private names or a ``_hypothesis*`` name in
  its body: a stand-in for a Hypothesis or pytest object, whose private
  attributes only ``_compat`` may know.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hypofuzz_nb"
COMPAT = PACKAGE / "_compat"
TESTS = ROOT / "tests"
BENCH = ROOT / "bench"

_ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "hasattr", "delattr"})
_OWN_RECEIVERS = frozenset({"self", "cls"})
_LIBRARIES = ("hypothesis", "pytest")
# Underscore names Hypothesis documents for subclasses of ExampleDatabase to
# implement and call (its docs, "change listening"): public API despite the name.
DOCUMENTED_HOOKS = frozenset({"_broadcast_change", "_start_listening", "_stop_listening"})


def _is_private(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and name not in DOCUMENTED_HOOKS


def _attribute_names(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.AST | None, str]]:
    """Every ``(node, receiver, name)`` of an attribute access, literal
    ``getattr``-style names included (receiver ``None`` when not a plain name)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield node, node.value, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _ATTRIBUTE_FUNCTIONS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            yield node, node.args[0], node.args[1].value


def _receiver_name(receiver: ast.AST | None) -> str | None:
    return receiver.id if isinstance(receiver, ast.Name) else None


def compat_private_attributes(sources: Iterable[str] | None = None) -> frozenset[str]:
    """The private attribute names ``_compat`` accesses on other libraries' objects."""
    if sources is None:
        sources = [path.read_text() for path in sorted(COMPAT.glob("*.py"))]
    names: set[str] = set()
    for source in sources:
        for _node, receiver, name in _attribute_names(ast.parse(source)):
            if _is_private(name) and _receiver_name(receiver) not in _OWN_RECEIVERS:
                names.add(name)
    return frozenset(names)


def _private_module(module: str) -> bool:
    parts = module.split(".")
    if parts[0] == "_pytest":
        return True
    return parts[0] in _LIBRARIES and any(part in ("internal", "_internal") for part in parts[1:])


def private_uses(source: str, filename: str, private_attributes: frozenset[str]) -> list[str]:
    """One ``file:line: what`` message per private Hypothesis or pytest API use."""
    tree = ast.parse(source, filename=filename)
    found: list[tuple[int, str]] = []
    # Names bound to Hypothesis or pytest modules and objects by this file's imports.
    library_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _private_module(alias.name):
                    found.append((node.lineno, f"imports {alias.name}"))
                elif alias.name.split(".")[0] in _LIBRARIES:
                    library_names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _private_module(node.module):
                found.append((node.lineno, f"imports from {node.module}"))
            elif node.module.split(".")[0] in _LIBRARIES:
                library_names.update(alias.asname or alias.name for alias in node.names)
                found.extend(
                    (node.lineno, f"imports {alias.name} from {node.module}")
                    for alias in node.names
                    if _is_private(alias.name)
                )
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            found.extend(_class_uses(node, library_names, private_attributes))
    for node, receiver, name in _attribute_names(tree):
        if not _is_private(name):
            continue
        owner = _root_name(receiver) if receiver is not None else None
        if owner in library_names:
            found.append((node.lineno, f"uses {name} of {owner}"))
        elif _receiver_name(receiver) not in _OWN_RECEIVERS and (
            name.startswith("_hypothesis") or name in private_attributes
        ):
            found.append((node.lineno, f"uses the private attribute {name}"))
    return [
        f"{filename}:{line}: {what}: go through hypofuzz_nb._compat (add a function there)"
        for line, what in sorted(set(found))
    ]


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _class_uses(
    cls: ast.ClassDef,
    library_names: set[str],
    private_attributes: frozenset[str],
) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    defined: set[str] = set()
    for statement in cls.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(statement.name)
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                defined.add(target.id)
                if target.id.startswith("_hypothesis") or target.id in private_attributes:
                    found.append((statement.lineno, f"defines the private attribute {target.id}"))
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store | ast.Del)
            and _receiver_name(node.value) in _OWN_RECEIVERS
        ):
            defined.add(node.attr)
    library_bases = {_root_name(base) for base in cls.bases} & (library_names | {"_compat"})
    if not library_bases:
        return found
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and _receiver_name(node.value) in _OWN_RECEIVERS
            and _is_private(node.attr)
            and node.attr not in defined
        ):
            found.append((node.lineno, f"uses the inherited private attribute {node.attr}"))
    return found


def _checked_files() -> list[Path]:
    package = [p for p in PACKAGE.rglob("*.py") if COMPAT not in p.parents]
    tests = [p for p in TESTS.rglob("*.py") if not p.name.startswith("test_compat_")]
    return sorted(package + tests + list(BENCH.rglob("*.py")))


def test_no_private_hypothesis_or_pytest_api_outside_compat():
    private_attributes = compat_private_attributes()
    problems = [
        problem
        for path in _checked_files()
        for problem in private_uses(
            path.read_text(), str(path.relative_to(ROOT)), private_attributes
        )
    ]
    assert not problems, "\n".join(problems)


def test_the_attribute_names_come_from_compat():
    names = compat_private_attributes()
    assert "_hypothesis_internal_add_digest" in names
    assert "_setupstate" in names


PLANTED = """\
import _pytest.fixtures
from hypothesis.internal.conjecture.data import ConjectureData
from hypothesis.strategies._internal.core import sampled_from
from hypothesis.core import _get_seed
import hypothesis as hyp
from hypothesis import settings
from pytest import _fake

def f(test, item, obj):
    test.hypothesis.inner_test._hypothesis_internal_add_digest = b"x"
    getattr(test, "_hypothesis_internal_use_settings", None)
    item.session._setupstate.teardown_exact(None)
    hyp._private_thing
    settings.default._current_profile
    obj._own_thing  # not a name _compat uses: allowed
    public = item.hypothesis.inner_test

class Provider(_compat.engine_provider_base()):
    def draw(self):
        self._mine = 1
        return self._random.random() + self._mine

class StandIn:
    _observability_args: dict = {}

class Database(ExampleDatabase):
    def _start_listening(self):
        self._broadcast_change(("save", b"k", b"v"))
"""


def test_the_checker_reports_every_planted_use_with_file_and_line():
    private_attributes = frozenset({"_setupstate", "_observability_args"})
    problems = private_uses(PLANTED, "planted.py", private_attributes)
    lines = sorted(int(problem.split(":")[1]) for problem in problems)
    assert lines == [1, 2, 3, 4, 7, 10, 11, 12, 13, 14, 21, 24], problems
    assert all("go through hypofuzz_nb._compat" in problem for problem in problems)


def test_the_checker_allows_public_api_and_our_own_attributes():
    source = """\
import hypothesis
import pytest
from hypothesis import given, settings

class Target:
    def __init__(self):
        self._setupstate = None
        self._hypothesis_thing = 1

print(hypothesis.__version__, pytest.__version__)
"""
    assert private_uses(source, "clean.py", frozenset({"_setupstate"})) == []


def test_the_documented_database_hooks_are_allowed():
    source = PLANTED.split("class Database")[1]
    source = "from hypothesis.database import ExampleDatabase\nclass Database" + source
    assert private_uses(source, "hooks.py", compat_private_attributes()) == []


def test_compat_names_are_computed_from_source():
    source = "def f(config):\n    config._do_configure()\n    self._mine = 1\n"
    assert compat_private_attributes([source]) == frozenset({"_do_configure"})
