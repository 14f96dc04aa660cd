"""The core's imports point one way: no cycle inside ``hub/``, and ``hub/`` never imports the application.

Every ``import``/``from … import`` is counted, including those under ``TYPE_CHECKING`` (a
cycle only the type checker sees still means two modules that cannot be understood apart).
"""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"


def _module(path: Path) -> str:
    parts = path.relative_to(HUB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in HUB.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)  # a package importing its own submodules is how packages work
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_cycle_in_the_core() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_core_never_imports_the_application() -> None:
    offenders = []
    for path in HUB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("app", "tests"):
                offenders.append(f"{_module(path)} imports {node.module}")
    assert offenders == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_leaves_import_nothing_above_them() -> None:
    graph = _graph()
    for leaf in ("hub.codes", "hub.config", "hub.tasks", "hub.errors", "hub.metrics"):
        assert graph[leaf] <= {"hub.codes"}, (leaf, graph[leaf])
