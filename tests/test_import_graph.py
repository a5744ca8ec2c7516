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


def _external_imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("top", sorted(PACKAGES))
def test_only_the_command_line_imports_typer(top: str) -> None:
    outside = [
        module
        for module, path in module_files(top).items()
        if "typer" in _external_imports(path) and not module.startswith(f"{top}.cli")
    ]
    assert outside == [], f"typer imported outside {top}.cli: {outside}"


def _edges(top: str, source: str, target: str) -> list[str]:
    """``a → b`` for every import of a module under ``target`` by one under ``source`` (prefixes, dotted)."""
    return [
        f"{module} → {imported}"
        for module, imports in import_graph(top).items()
        if module.startswith(source)
        for imported in sorted(imports)
        if imported.startswith(target)
    ]


@pytest.mark.parametrize(
    ("top", "source", "target"),
    [
        ("pdacrad", "pdacrad.radiomics", "pdacrad.inference"),  # the engine knows nothing of the pipeline
        ("pdacrad", "pdacrad.radiomics", "pdacrad.nnunet_ext"),
        ("pdacrad", "pdacrad.io", "pdacrad.inference"),  # GC I/O is the lowest layer
        ("pdacrad", "pdacrad.io", "pdacrad.model"),
        (
            "pdacrad",
            "pdacrad.model",
            "pdacrad.inference",
        ),  # the packaged model is read by inference, not back
        ("pdacrad", "pdacrad.inference", "pdacrad.evaluation"),  # picai_eval stays out of the runtime set
        ("pdacrad_train", "pdacrad_train.steps", "pdacrad_train.cli"),
        ("pdacrad_train", "pdacrad_train.experiment", "pdacrad_train.cli"),
    ],
)
def test_lower_layers_never_import_higher_ones(top: str, source: str, target: str) -> None:
    assert _edges(top, source, target) == []


def test_nothing_outside_the_command_line_imports_it_and_steps_import_no_step() -> None:
    into_cli = [e for e in _edges("pdacrad", "pdacrad", "pdacrad.cli") if not e.startswith("pdacrad.cli")]
    assert into_cli == []
    library_to_steps = [
        e
        for e in _edges("pdacrad_train", "pdacrad_train", "pdacrad_train.steps")
        if not e.startswith(("pdacrad_train.steps", "pdacrad_train.cli", "pdacrad_train.experiment"))
    ]
    assert library_to_steps == []
    step_modules = [m for m in module_files("pdacrad_train") if m.startswith("pdacrad_train.steps.")]
    for step in step_modules:
        family = step if step.count(".") == 2 else step.rsplit(".", 1)[0]  # steps.radiomics.* form one step
        crossing = [
            e
            for e in _edges("pdacrad_train", step, "pdacrad_train.steps")
            if not e.split(" → ")[1].startswith(family)
        ]
        assert crossing == [], f"a step imports another step: {crossing}"
    assert not any("pdacrad_train" in _external_imports(path) for path in module_files("pdacrad").values()), (
        "pdacrad imports the training tree"
    )
