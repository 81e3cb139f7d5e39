"""The layer's shape (issue #14), pinned so a later change can't slip it back: only the store
touches PynamoDB, no service module grows past about 400 lines, and the layer's modules import
each other without a cycle."""

import ast
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "boxoffice" / "boxoffice"
MODULES = sorted(p for p in LAYER.rglob("*.py") if "__pycache__" not in p.parts)
SERVICE_LINES = 420
"""About 400: the issue's bound for a module a reader takes in top to bottom."""


def module_name(path: Path) -> str:
    parts = ["boxoffice", *path.relative_to(LAYER).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_store(path: Path) -> bool:
    return path.relative_to(LAYER).parts[0] == "store"


def named_modules(tree: ast.AST) -> set[str]:
    """Every module ``tree`` imports or names lazily (``lazy.module("…")``), anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def runtime_imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The layer modules ``tree`` imports when it is imported: its top-level imports, not those
    under ``if TYPE_CHECKING:`` or inside functions."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


@pytest.mark.parametrize("path", [p for p in MODULES if not is_store(p)], ids=module_name)
def test_only_the_store_touches_pynamodb(path: Path) -> None:
    names = named_modules(ast.parse(path.read_text()))
    assert not [n for n in names if n == "pynamodb" or n.startswith("pynamodb.")]


@pytest.mark.parametrize("path", [p for p in MODULES if not is_store(p)], ids=module_name)
def test_no_service_module_is_over_about_400_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= SERVICE_LINES


def test_the_layer_imports_itself_without_a_cycle() -> None:
    known = {module_name(p) for p in MODULES}
    graph = {module_name(p): runtime_imports(ast.parse(p.read_text()), known) for p in MODULES}
    # A package's own __init__ importing its submodules is how packages work, not a cycle.
    graph = {m: {d for d in deps if not d.startswith(f"{m}.")} for m, deps in graph.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting[visiting.index(module) :], module])
        visiting.append(module)
        for dependency in sorted(graph.get(module, ())):
            visit(dependency)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
