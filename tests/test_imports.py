"""The import graph of ``w2v/`` has no cycles: each module can be read knowing only the ones below it.

The graph is built from the source (``ast``), without importing anything: an edge ``a -> b`` for every
``import w2v.b`` or ``from w2v.b import x`` in module ``a``, at module level and inside functions alike
(a function-level import that dodges a cycle at import time is still a cycle in the design). ``from
w2v.pkg import name`` goes to the submodule ``w2v.pkg.name`` when there is one, else to the package.
Imports under ``if TYPE_CHECKING:`` are left out: they never run. Importing ``w2v.a.b`` also runs
``w2v/a/__init__.py``, but that edge is Python's, not the code's, and is not counted.

Also a script, which prints every cycle (or "acyclic")::

    python -m tests.test_imports        # or: make imports
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "w2v"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its ``__init__.py``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _type_checking_only(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): its body only runs under a type checker."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` at any depth, except those in ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        children = list(ast.iter_child_nodes(node))
        if _type_checking_only(node):
            children = node.orelse  # the body is skipped; an else branch runs
        stack.extend(children)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The dotted module a ``from`` import names, relative ones (``from .x import y``) resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports (see the module docstring for what counts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
            continue
        target = _absolute(module, is_package, node)
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in known:  # from w2v.data import corpus: the submodule
                found.add(sub)
            elif target in known:  # from w2v.config import validate: the module itself
                found.add(target)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the package's modules it imports, for every module under ``root``."""
    modules = module_names(root)
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))  # depth is at most the number of modules
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found, key=lambda c: (-len(c), c))


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, as ``[a, b, ..., a]`` (breadth-first)."""
    members, start = set(component), component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]  # start, ..., v, start
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return component  # unreachable for a strongly connected component


def describe_cycles(graph: dict[str, set[str]]) -> list[str]:
    """One line per strongly connected component: a shortest cycle, and the component's other modules."""
    lines = []
    for component in strongly_connected(graph):
        cycle = shortest_cycle(graph, component)
        rest = sorted(set(component) - set(cycle))
        lines.append(" -> ".join(cycle) + (f"  (with {', '.join(rest)})" if rest else ""))
    return lines


def test_the_graph_sees_module_and_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "w2v"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import w2v.b\n\ndef f():\n    from w2v.sub import c\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from w2v import a\nfrom w2v.sub.c import x\n")
    (pkg / "sub" / "__init__.py").write_text("from .c import x\n")
    (pkg / "sub" / "c.py").write_text("from ..a import f\nfrom w2v.sub import nothing_here\n")
    graph = import_graph(pkg)
    assert graph == {
        "w2v": set(),
        "w2v.a": {"w2v.b", "w2v.sub.c"},
        "w2v.b": {"w2v.sub.c"},  # the TYPE_CHECKING import of w2v.a never runs
        "w2v.sub": {"w2v.sub.c"},
        "w2v.sub.c": {"w2v.a", "w2v.sub"},
    }
    assert describe_cycles(graph) == ["w2v.a -> w2v.sub.c -> w2v.a  (with w2v.b, w2v.sub)"]
    assert describe_cycles({"x": {"y"}, "y": set()}) == []


def test_w2v_imports_no_cycles():
    cycles = describe_cycles(import_graph())
    assert not cycles, "import cycles in w2v/ (python -m tests.test_imports):\n" + "\n".join(cycles)


def main() -> int:
    """Print each import cycle of ``w2v/`` on a line (or "acyclic"); exit 1 when there is one."""
    cycles = describe_cycles(import_graph())
    print("\n".join(cycles) if cycles else "acyclic")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
