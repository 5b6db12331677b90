"""The project's imports are one-way: no module of `core/` or `ui/` imports, at any depth, a module that imports it.

Imports inside functions count too: deferring an import "to avoid a cycle" hides the cycle, it does not remove it.
The graph is read from the source with `ast`, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPOSITORY_ROOT

PACKAGES = ("core", "ui")


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The project modules that the file at `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]  # `from core import runs`
            found |= {name for name in [node.module, *names] if name in modules}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {
        ".".join(path.relative_to(REPOSITORY_ROOT).with_suffix("").parts): path
        for package in PACKAGES
        for path in (REPOSITORY_ROOT / package).glob("*.py")
        if path.name != "__init__.py"
    }
    modules = set(paths)
    return {module: imported_modules(path, modules) - {module} for module, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle that a depth-first walk of `graph` meets, each as the modules around it."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                found.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_core_and_ui_import_one_way() -> None:
    graph = import_graph()
    assert len(graph) > 40  # Sanity: the walk found the modules.
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_through_an_import_inside_a_function(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from core import b\n")
    (tmp_path / "b.py").write_text("def later():\n    from core.c import thing\n")
    (tmp_path / "c.py").write_text("import core.a\n")
    modules = {"core.a", "core.b", "core.c"}
    graph = {f"core.{name}": imported_modules(tmp_path / f"{name}.py", modules) for name in "abc"}
    assert cycles(graph) == [["core.a", "core.b", "core.c", "core.a"]]


def test_core_never_imports_ui() -> None:
    graph = import_graph()
    assert {module: sorted(imported) for module, imported in graph.items()
            if module.startswith("core.") and any(name.startswith("ui.") for name in imported)} == {}  # fmt: skip
