"""The layers of docs/architecture.md hold: imports run one way, and no module
imports itself back through others.

Every import counts, at module level or inside a function: a deferred import
is still a dependency. Only imports under `if TYPE_CHECKING:` are left out:
they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "lobby", "gameserver", "client", "load_tests")

MAY_IMPORT: dict[str, set[str]] = {
    "engine": {"engine"},
    "lobby": {"lobby", "engine"},
    "gameserver.net": {"gameserver.net"},
    "gameserver": {"gameserver", "lobby", "engine", "client"},
    "client": {"client", "engine"},
    "load_tests": {"load_tests", "engine"},
}
"""Which layers each layer may import (the most specific key applies)."""

EXCEPTIONS: dict[str, set[str]] = {
    # Benchmarks of the server's own parts measure those parts themselves.
    "load_tests.codec_bench": {"gameserver.net"},
    "load_tests.textbook": {"gameserver"},
    "load_tests.db_writes": {"gameserver"},
    "load_tests.hotpath_bench": {"gameserver"},
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or "node_modules" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _project_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:`."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                assert isinstance(child, ast.If)
                todo.extend(child.orelse)
            else:
                todo.append(child)
    return found


def _imports(module: str, path: Path) -> set[str]:
    deps: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                full = f"{base}.{node.module}" if node.module else base
            else:
                full = node.module or ""
            targets = [f"{full}.{alias.name}" if f"{full}.{alias.name}" in MODULES else full
                       for alias in node.names]
        else:
            continue
        for target in targets:
            found = _project_module(target)
            if found is not None and found != module:
                deps.add(found)
    return deps


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module: str, table: dict[str, set[str]]) -> str | None:
    keys = [k for k in table if module == k or module.startswith(k + ".")]
    return max(keys, key=len) if keys else None


def test_the_graph_sees_the_project() -> None:
    assert "gameserver.manager" in GRAPH and "gameserver.room" in GRAPH["gameserver.manager"]
    assert "engine.protocol" in GRAPH["lobby.chat"]


def test_imports_run_one_way_between_layers() -> None:
    wrong = []
    for module, deps in GRAPH.items():
        layer = _layer(module, MAY_IMPORT)
        assert layer is not None, module
        allowed = MAY_IMPORT[layer] | EXCEPTIONS.get(module, set())
        for dep in deps:
            dep_layer = _layer(dep, MAY_IMPORT)
            if not any(dep == a or dep.startswith(a + ".") for a in allowed):
                wrong.append(f"{module} ({layer}) imports {dep} ({dep_layer})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_module_imports_itself_back() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in GRAPH[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"
