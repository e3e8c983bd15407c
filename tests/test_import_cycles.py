"""No import cycles among the project's modules.

Every `import` and `from ... import` statement counts, at module level or inside a function (a
function-level import only defers a cycle, it does not remove it). Relative imports are resolved;
`from pkg import name` is an edge to the submodule `pkg.name` when there is one, else to `pkg`.
A package's `__init__` running before its submodules is not counted as an edge.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hwsim", "quantnet", "studies", "bitmixer")


def module_files() -> dict[str, Path]:
    """Module name -> source file, for every module of the project's packages present in this tree."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module named by a (possibly relative) `from X import ...`."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[:len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _known(name: str, modules) -> str | None:
    """The longest prefix of dotted `name` that is one of ours (`a.b.func` -> `a.b`)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return None


def import_graph(modules: dict[str, Path]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, path, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for t in targets:
                if (dst := _known(t, modules)) is not None and dst != module:
                    g.add_edge(module, dst, line=node.lineno)
    return g


def cycles(g: nx.DiGraph) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module."""
    found = []
    for scc in nx.strongly_connected_components(g):
        if len(scc) > 1:
            found.append(sorted(scc))
    return sorted(found)


def describe(g: nx.DiGraph, scc: list[str]) -> str:
    """`a:LINE -> b:LINE -> a`: each module with the line of its import of the next."""
    cycle = nx.find_cycle(g.subgraph(scc))
    return " -> ".join(f"{a}:{g.edges[a, b]['line']}" for a, b in cycle) + f" -> {cycle[0][0]}"


def test_graph_sees_relative_and_function_level_imports():
    modules = module_files()
    g = import_graph(modules)
    assert len(modules) > 40 and g.number_of_edges() > 60  # the walk really found the code
    assert g.has_edge("hwsim.pe.kinds", "hwsim.pe.base")            # from .base import ... (module level)
    assert g.has_edge("hwsim.hwconfig", "hwsim.typed_yaml")         # from .typed_yaml import ...
    assert g.has_edge("studies.pareto", "studies.hw")               # from .hw import ... inside a function
    assert g.has_edge("hwsim.pe.sim", "hwsim.pe")                   # from . import get_pe_kind


def test_no_import_cycles():
    g = import_graph(module_files())
    bad = cycles(g)
    assert not bad, "import cycles:\n" + "\n".join(describe(g, scc) for scc in bad)
