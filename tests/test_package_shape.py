"""The package's shape, as the contracts issue states it: no module-level import cycle, no module
importing another module's private names, and no module over 600 lines."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "seqloaders"
MAX_LINES = 600


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _top_level_imports(module: str, path: pathlib.Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) of the imports that run when the module is imported: those at
    module level, outside functions and ``if TYPE_CHECKING`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(body):
        for node in body:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node, path.name == "__init__.py")
                names = [a.name for a in node.names]
                found.append((target, names, node.lineno))
                for name in names:  # `from . import x` imports the submodule x
                    if f"{target}.{name}" in MODULES:
                        found.append((f"{target}.{name}", [], node.lineno))
            elif isinstance(node, ast.Import):
                found.extend((a.name, [], node.lineno) for a in node.names)

    visit(tree.body)
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        edges = set()
        for target, _names, _line in _top_level_imports(module, path):
            # importing a.b.c runs a and a.b first
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name in MODULES and name != module:
                    edges.add(name)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
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
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return result


def _is_ancestor_package(importer: str, target: str) -> bool:
    """A package importing from itself or its own subpackages (``__init__`` re-exports) is not a cycle
    in the sense that matters: Python imports the package first, by definition."""
    return target.startswith(importer + ".")


def test_no_module_level_import_cycle():
    graph = {m: {t for t in edges if not _is_ancestor_package(m, t)} for m, edges in _graph().items()}
    # a module importing its parent package's __init__ is where the package re-exports it: drop parents
    graph = {m: {t for t in edges if not m.startswith(t + ".")} for m, edges in graph.items()}
    assert _cycles(graph) == []


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # in functions too
            if not isinstance(node, ast.ImportFrom):
                continue
            target = _resolve(module, node, path.name == "__init__.py")
            if not target.startswith("seqloaders") or target == module:
                continue
            offenders += [f"{path.name}:{node.lineno} imports {a.name} from {target}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_under_the_size_limit(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines < MAX_LINES, f"{MODULES[module]} has {lines} lines (limit {MAX_LINES}): split it by concept"


def test_the_checks_see_a_cycle_and_a_private_import(tmp_path):
    """The graph code itself: a made-up cycle is found, and a relative import resolves."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    node = ast.parse("from ..records import _x").body[0]
    assert _resolve("seqloaders.formats.coco", node, False) == "seqloaders.records"
    assert _resolve("seqloaders.formats", ast.parse("from .coco import y").body[0], True) == "seqloaders.formats.coco"


def test_the_readme_pieces_table_names_every_module():
    """Each module and subpackage of seqloaders is in the README's "pieces" table (the compatibility
    re-export modules excepted), and each name in the table exists."""
    import re

    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The pieces"):]
    section = section[: section.index("\n### ")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {name.rstrip("/") for row in rows for name in re.findall(r"`([a-z_]+(?:\.py|/))`", row.split("|")[1])}
    children = set()
    for path in PACKAGE.iterdir():
        if path.name.startswith("_") or path.name == "__pycache__":
            continue
        package = path.is_dir() and (path / "__init__.py").exists()
        compat = path.suffix == ".py" and path.read_text(encoding="utf-8").startswith('"""Compatibility module')
        if package or (path.suffix == ".py" and not compat):
            children.add(path.name)
    assert children - named == set(), "modules missing from the README's pieces table"
    assert named - children == set(), "the README's pieces table names modules that do not exist"
