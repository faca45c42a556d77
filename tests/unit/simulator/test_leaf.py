"""The simulator is a leaf: production code reaches it through its launcher only, and neither
the simulator nor the adapters import in a circle (checked on the real import graph)."""

from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("core", cache_dir=None)


def _cycles(graph: grimp.ImportGraph, package: str) -> list[set[str]]:
    """Strongly connected groups of more than one module inside ``package`` (Tarjan)."""
    mods = {package} | graph.find_descendants(package)
    edges = {m: graph.find_modules_directly_imported_by(m) & mods for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(group)

    for m in sorted(mods):
        if m not in index:
            visit(m)
    return out


@pytest.mark.parametrize("package", ["core.simulator", "core.providers"])
def test_no_import_cycle(graph: grimp.ImportGraph, package: str) -> None:
    assert _cycles(graph, package) == []


def test_production_code_imports_only_the_launcher(graph: grimp.ImportGraph) -> None:
    inside = {"core.simulator"} | graph.find_descendants("core.simulator")
    doors = {(importer, imported) for imported in inside
             for importer in graph.find_modules_that_directly_import(imported)
             if importer not in inside}
    assert doors, "the app starts the simulator somewhere"
    assert {imported for _, imported in doors} == {"core.simulator.launcher"}, sorted(doors)
