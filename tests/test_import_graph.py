"""No import circles in pdacrad or the training tree, counting the imports written inside functions too.

Python runs a circle that closes inside a function (the import happens at call time), but then no module of the
circle can be read, tested or reused alone. The graph is read from the source (``ast``), not from what an import
run happens to execute: an edge for every ``import``/``from … import`` anywhere in a module except under
``if TYPE_CHECKING:``; ``from package import name`` points at ``package/name.py`` where that module exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"pdacrad": ROOT / "src" / "pdacrad", "pdacrad_train": ROOT / "training" / "pdacrad_train"}


def module_files(top: str) -> dict[str, Path]:
    """Dotted module name → source file, for every module of the package ``top``."""
    base = PACKAGES[top].parent
    modules = {}
    for path in sorted(PACKAGES[top].rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``tree`` imports (relative imports resolved): ``from X import y`` is the
    module ``X.y`` where that is one, else ``X``."""
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                source = ".".join(anchor + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                names.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
        stack.extend(ast.iter_child_nodes(node))
    return (names & known) - {module}


def import_graph(top: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports."""
    files = module_files(top)
    return {
        module: imported_modules(ast.parse(path.read_text()), module, path.name == "__init__.py", set(files))
        for module, path in files.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_a_circle_inside_functions(tmp_path: Path) -> None:
    tree_a = ast.parse("def f():\n    from pkg.b import g\n")
    tree_b = ast.parse(
        "import typing\nif typing.TYPE_CHECKING:\n    from pkg.c import x\nfrom pkg import a\n"
    )
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    graph = {
        "pkg.a": imported_modules(tree_a, "pkg.a", False, known),
        "pkg.b": imported_modules(tree_b, "pkg.b", False, known),
    }
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}
    assert circles(graph) == [["pkg.a", "pkg.b"]]
    assert circles({"pkg.a": {"pkg.b"}, "pkg.b": set()}) == []


@pytest.mark.parametrize("top", sorted(PACKAGES))
def test_no_import_circle(top: str) -> None:
    found = circles(import_graph(top))
    assert not found, f"import circles in {top}: " + "; ".join(" ↔ ".join(c) for c in found)
