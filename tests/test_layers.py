"""The module map in docs/INTERNALS.md is the real one: every module of the package is in
exactly one layer there, and every import of one of our modules (at module level or
inside a function) points to the same layer or a lower one, with no cycle anywhere.

Read statically (ast), so nothing is imported and a lazy import counts like any other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hypofuzz_nb"
INTERNALS = ROOT / "docs" / "INTERNALS.md"


def _module_name(path: Path) -> str:
    """``store`` for hypofuzz_nb/store.py; the _compat package counts as one module."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[0] == "_compat":
        return "_compat"
    return parts[0]


def _imports(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative imports exist only inside _compat
                continue
            if node.module == "hypofuzz_nb":
                names = [alias.name for alias in node.names]
            elif node.module.startswith("hypofuzz_nb."):
                names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("hypofuzz_nb.")]
        found.update(name for name in names if name in known)
    return found


def module_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (itself left out)."""
    files = [p for p in PACKAGE.rglob("*.py")]
    known = {_module_name(p) for p in files}
    graph: dict[str, set[str]] = {name: set() for name in known}
    for path in files:
        name = _module_name(path)
        graph[name] |= _imports(path, known) - {name}
    return graph


def documented_layers(text: str) -> list[tuple[str, list[str]]]:
    """The ```layers block of INTERNALS.md: ``name: module module ...`` per line,
    lowest layer first."""
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    if block is None:
        raise AssertionError("docs/INTERNALS.md has no ```layers block")
    layers = []
    for line in block[1].strip().splitlines():
        name, _, modules = line.partition(":")
        layers.append((name.strip(), modules.split()))
    return layers


def layer_problems(graph: dict[str, set[str]], layers: list[tuple[str, list[str]]]) -> list[str]:
    problems = []
    level: dict[str, int] = {}
    for index, (_, modules) in enumerate(layers):
        for module in modules:
            if module in level:
                problems.append(f"{module} is listed in two layers")
            level[module] = index
    for module in sorted(set(graph) - set(level)):
        problems.append(f"{module} is in no layer of docs/INTERNALS.md")
    for module in sorted(set(level) - set(graph)):
        problems.append(f"{module} is listed in docs/INTERNALS.md but is no module")
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            if module in level and target in level and level[target] > level[module]:
                problems.append(
                    f"{module} ({layers[level[module]][0]}) imports {target}, "
                    f"a higher layer ({layers[level[target]][0]})"
                )
    problems.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph))
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_internals_md_shows_the_real_import_graph() -> None:
    problems = layer_problems(module_graph(), documented_layers(INTERNALS.read_text()))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "graph, problem",
    [
        ({"a": {"b"}, "b": set()}, "a (low) imports b, a higher layer (high)"),
        ({"a": set(), "b": {"a"}, "c": set()}, "c is in no layer of docs/INTERNALS.md"),
        ({"a": {"b"}, "b": {"a"}}, "import cycle: a -> b -> a"),
    ],
)
def test_the_layer_check_finds_what_is_wrong(graph, problem) -> None:
    layers = [("low", ["a"]), ("high", ["b"])]
    if problem.startswith("import cycle"):
        layers = [("one", ["a", "b"])]
    assert problem in layer_problems(graph, layers)
