"""The code stays small and acyclic: no module over 400 lines, no import cycle among project modules.

The import graph is read from the source (ast), so it sees every import statement: at module level
and inside functions (a function-level import that closes a cycle is still a cycle), with relative
imports resolved. Each failure prints the modules at fault.
"""
from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

MAX_LINES = 400
PACKAGES = ("harness", "tasks", "adapters", "bench")
SCRIPTS = ("run.py",)


def project_files() -> dict[str, Path]:
    """Module name -> file, for every module in the checked folders (bench scripts by their stem)."""
    out = {}
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            if "__pycache__" in f.parts:
                continue
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if pkg == "bench":   # scripts run with bench/ on sys.path: `from _common import ...`
                parts = parts[1:]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    for s in SCRIPTS:
        out[Path(s).stem] = REPO / s
    return out


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Candidate module names an import statement loads, most specific first per name."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:   # relative: resolved against this module's package
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [f"{target}.{a.name}" if target else a.name for a in node.names] + [target]


def import_graph() -> dict[str, set[str]]:
    files = project_files()
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _imported(node, module, is_package)
            if isinstance(node, ast.ImportFrom):
                # `from pkg import sub` loads pkg.sub when it is a module, else a name from pkg
                subs = [n for n in names[:-1] if n in files]
                hits = subs or ([names[-1]] if names[-1] in files else [])
            else:
                hits = [_deepest(n, files) for n in names]
            graph[module].update(h for h in hits if h and h != module)
    return graph


def _deepest(name: str, files) -> str | None:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in files:
            return ".".join(parts[:i])
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as one cycle through them."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(_cycle_through(sorted(component), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _cycle_through(component: list[str], graph) -> list[str]:
    """One concrete cycle inside a component (breadth-first from its first module back to it)."""
    members, start = set(component), component[0]
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & members):
            if w == start:
                return path + [start]
            if w not in seen:
                seen.add(w)
                paths.append(path + [w])
    return component


def test_no_module_over_400_lines():
    too_long = {str(p.relative_to(REPO)): n for p in project_files().values()
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not too_long, "modules over 400 lines: " + ", ".join(f"{f} ({n})" for f, n in sorted(too_long.items()))


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_graph_reader_sees_function_level_and_relative_imports(tmp_path):
    tree = ast.parse("def f():\n    from .b import c\n    from ..x import y\n")
    got = [_imported(n, "pkg.sub.a", False) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert got == [["pkg.sub.b.c", "pkg.sub.b"], ["pkg.x.y", "pkg.x"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
