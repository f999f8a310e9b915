"""No import circles among first-party modules (issue 9: the composition root only composes).

Every first-party module is parsed, its imports at module level and inside functions alike (a
function-level import is still a dependency, only a later one), and the module import graph must
be acyclic. `from x import y` where `y` is a submodule is an edge to `x.y`; otherwise to `x`.
An edge goes to the module named, not to the packages above it: importing `a.b` runs
`a/__init__.py` too, but every package's `__init__` states a public surface and a circle through
it shows up as an edge from the `__init__` itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("vigil", "ingest", "stream", "alerts", "program", "reports", "replay", "api", "simulators",
            "bench")  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def first_party() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        if (REPO / package).is_dir()
        for path in sorted((REPO / package).rglob("*.py"))
    }


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(path: Path, module: str) -> Iterator[str]:
    """Dotted names `path` imports (anywhere in the file), as candidates for module names."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            for alias in node.names:
                yield f"{source}.{alias.name}"  # a submodule, or else a name in `source`


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    modules = first_party()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {_resolve(n, modules) for n in imported_names(path, module)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (first module repeated at the end), or None: depth-first, iterative."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_submodule_imports_resolve_to_the_submodule() -> None:
    graph = import_graph()
    assert "vigil.cli" in graph
    assert "simulators.cli" in graph["vigil.cli"]  # `from simulators.cli import ...`


def test_first_party_imports_form_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
