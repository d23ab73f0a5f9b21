"""The package's import map: Airflow stays in its layer, the core never reaches into it, and no
module imports itself back through a cycle.

Every module under include/vector_sync is parsed (ast), imports inside functions included: a
lazy import is still a dependency, and a lazy cycle still breaks as soon as both ends run.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "include" / "vector_sync"
LAYERS = ("vector_sync.airflow", "vector_sync.hooks")  # the only code that may import airflow
ENTRY_POINTS = ("vector_sync.cli",)  # may import the layer (lazily), never airflow itself


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, absolute, at any depth of the file (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from vector_sync import pipeline` imports the module vector_sync.pipeline
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def internal_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a package's import counts as its __init__)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        graph[name] = {target for target in imported_names(path, name) if target in known and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_walk_sees_every_module_and_lazy_imports():
    """The checks below would pass vacuously if the walk missed modules or function bodies."""
    found = modules()
    assert {"vector_sync.pipeline", "vector_sync.run", "vector_sync.airflow.dags", "vector_sync.hooks.tempo", "vector_sync.cli"} <= set(
        found
    )
    # cli imports the layer only inside its commands
    assert "vector_sync.airflow.backends" in imported_names(found["vector_sync.cli.context"], "vector_sync.cli.context")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_only_the_airflow_layer_and_hooks_import_airflow():
    offenders = {
        name: sorted(t for t in imported_names(path, name) if t == "airflow" or t.startswith("airflow."))
        for name, path in modules().items()
        if not within(name, LAYERS)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_core_imports_neither_the_airflow_layer_nor_hooks():
    offenders = {
        name: sorted(t for t in imported_names(path, name) if within(t, LAYERS))
        for name, path in modules().items()
        if not within(name, LAYERS + ENTRY_POINTS)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(internal_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
