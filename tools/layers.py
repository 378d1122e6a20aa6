"""The import graph of ``compress`` and ``fixtures``, and the layer rules it must keep.

    python tools/layers.py        # modules per package, the longest import chain, any breach

Every ``import`` statement counts, at module level or inside a function (a function-level
import that closes a cycle is still a cycle, only a deferred one). A package may import its
own modules, any package of a lower layer, and packages of its own layer that do not import it
back; never a higher layer. ``compress`` never imports ``fixtures``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("compress", "fixtures")
# Lower numbers are lower layers; a module's layer is its subpackage's.
LAYERS: dict[str, int] = {
    "compress.core": 0,  # errors, configs, statistics, input files: imports no other layer
    "compress.measure": 1,
    "compress.train": 1,
    "compress.quantize": 2,  # the techniques
    "compress.prune": 2,
    "compress.distill": 2,
    "compress.methods": 3,  # the method registry, its builds, suite files
    "compress.verdict": 3,  # typed results, the runner, in-run gates
    "compress.report": 4,  # tables and HTML of one run
    "compress.compare": 5,  # between runs
    "compress.history": 5,  # across nights
    "compress.search": 5,
    "compress.baseline": 5,  # records and lists committed baselines
    "fixtures.store": 10,  # the cache, registries, pretrained sources
    "fixtures.data": 11,
    "fixtures.models": 12,
    "fixtures.recipes": 13,  # training recipes and profiles
    "fixtures.search": 14,  # search spaces
    "fixtures.plugins": 15,  # pytest plugins and settings
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module under the two top packages."""
    found = {}
    for top in TOPS:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _targets(node: ast.AST, known: Iterable[str]) -> set[str]:
    known = set(known)
    names: set[str] = set()
    if isinstance(node, ast.Import):
        names = {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        # `from pkg import mod` names a module; `from mod import func` names mod
        names = {f"{node.module}.{a.name}" for a in node.names} | {node.module}
    found = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the two top packages it imports (package __init__s included)."""
    mods = modules(root)
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges[name] = set().union(*(_targets(n, mods) for n in ast.walk(tree))) - {name}
    return edges


def package_of(module: str) -> str:
    """The layer package a module belongs to (its first two dotted parts, or the top)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if ".".join(parts[:2]) in LAYERS else parts[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def breaches(edges: dict[str, set[str]]) -> list[str]:
    """Imports that go up a layer, out of the layer packages, or from compress into fixtures."""
    out = []
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            a, b = package_of(src), package_of(dst)
            if a == b or src.startswith(dst + "."):  # the same package, or its own parent
                continue
            if src.startswith("compress") and dst.startswith("fixtures"):
                out.append(f"{src} -> {dst}: compress never imports fixtures")
            elif a in LAYERS and b in LAYERS and LAYERS[b] > LAYERS[a]:
                out.append(f"{src} -> {dst}: {a} (layer {LAYERS[a]}) imports {b} ({LAYERS[b]})")
    return out


def longest_chain(edges: dict[str, set[str]]) -> list[str]:
    """The longest import path, each cycle counted as one step (on its condensation)."""
    comp = {m: i for i, c in enumerate(cycles(edges)) for m in c}
    memo: dict[str, list[str]] = {}

    def down(v: str, seen: frozenset) -> list[str]:
        if v in memo:
            return memo[v]
        best: list[str] = []
        for w in edges.get(v, ()):
            if w in seen or (v in comp and comp.get(w) == comp[v]):
                continue
            path = down(w, seen | {w})
            best = max(best, path, key=len)
        memo[v] = [v, *best]
        return memo[v]

    return max((down(v, frozenset({v})) for v in sorted(edges)), key=len, default=[])


def main() -> int:
    edges = graph()
    counts: dict[str, int] = {}
    for name in edges:
        if not name.endswith(("__init__", "__main__")) and name not in LAYERS and name not in TOPS:
            counts[package_of(name)] = counts.get(package_of(name), 0) + 1
    for package, n in sorted(counts.items()):
        print(f"{package:20} {n:3} modules")
    chain = longest_chain(edges)
    print(f"longest import chain: {len(chain)} modules: {' -> '.join(chain)}")
    problems = [f"cycle: {' <-> '.join(c)}" for c in cycles(edges)] + breaches(edges)
    print("\n".join(problems) or "no cycles, no upward imports")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
