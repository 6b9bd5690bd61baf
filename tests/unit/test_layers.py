"""The spine's layers hold: no module imports a higher layer, and no module-level import cycle.

Read from the source (``ast``), so every import counts: module level, inside functions (lazy
imports) and under ``TYPE_CHECKING``. The layers are docs/design.md's "rooms" table, low to high.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "isthmus"

# Low to high. A module may import its own layer and any lower one. Longest prefix wins, so a
# module can sit lower than its package (what a TLS failure means is knowledge the transport
# uses, below the security services that import the transport's channel types).
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "isthmus",  # the package root: the version constants
        "isthmus.errors",
        "isthmus.clock",
        "isthmus.logs",
        "isthmus.rawjson",
        "isthmus.xcontent",
        "isthmus.storage",
        "isthmus.supervision",
        "isthmus.listeners",
        "isthmus.installation",
        "isthmus.doctor.model",
        "isthmus.doctor.causes",
    ),
    ("isthmus.settings", "isthmus.wire", "isthmus.ccr.wire"),
    # The etcd store of multi-node clusters: below the cluster state that it will carry.
    ("isthmus.coordination",),
    # Cluster metadata and shards: the metadata holds index mappings (index.mapping), the
    # indices service applies metadata: one layer.
    ("isthmus.cluster", "isthmus.index", "isthmus.environment", "isthmus.tasks"),
    ("isthmus.search",),
    (  # certificates, TLS configuration and what a TLS failure means: no I/O of their own
        "isthmus.security.dn",
        "isthmus.security.certs",
        "isthmus.security.tls",
        "isthmus.security.cert_facts",
        "isthmus.security.trust_diagnostics",
        "isthmus.security.tls_failures",
        "isthmus.security.tls_records",
    ),
    ("isthmus.transport",),
    ("isthmus.security",),
    ("isthmus.remote",),
    ("isthmus.actions", "isthmus.ccr", "isthmus.discovery"),
    ("isthmus.http",),
    ("isthmus.node",),
    (
        "isthmus.doctor",
        "isthmus.lab",
        "isthmus.testing",
        "isthmus.cli",
        "isthmus.console",
        "isthmus.__main__",
    ),
)


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS and docs/design.md"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        yield module_name(path), ast.parse(path.read_text(encoding="utf-8"))


def imported(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module.startswith("isthmus"):
            yield node.module
            for alias in node.names:  # `from isthmus.x import y` may import submodule y
                yield f"{node.module}.{alias.name}"
    elif isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.startswith("isthmus"))


def known(name: str, names: set[str]) -> str | None:
    """``name`` if it is a module of the package, else its parent module (``x.y`` of ``x.y.Z``)."""
    if name in names:
        return name
    parent = name.rsplit(".", 1)[0]
    return parent if parent in names else None


ALL = dict(modules())


def test_no_module_imports_a_higher_layer() -> None:
    names = set(ALL)
    upward = []
    for name, tree in ALL.items():
        mine = layer_of(name)
        for node in ast.walk(tree):
            for target in imported(node):
                target_module = known(target, names)
                if target_module is None or target_module == name:
                    continue
                if layer_of(target_module) > mine:
                    upward.append(f"{name} -> {target_module}")
    assert not sorted(set(upward))


def top_level_imports(tree: ast.Module) -> Iterator[str]:
    """Imports that run when the module is imported (not in functions, not TYPE_CHECKING)."""
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                break
            yield from imported(inner)


def test_no_module_level_import_cycle() -> None:
    names = set(ALL)
    graph: dict[str, set[str]] = {}
    for name, tree in ALL.items():
        edges = {known(t, names) for t in top_level_imports(tree)}
        # A package's __init__ runs before its submodules anyway, so an edge from a submodule to
        # its own package (``from isthmus.wire import compression``) is no cycle.
        graph[name] = {
            e for e in edges if e is not None and e != name and not name.startswith(e + ".")
        }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles


@pytest.mark.parametrize("name", ["isthmus.node", "isthmus.wire.frames", "isthmus.doctor.model"])
def test_layer_table_places_the_spine(name: str) -> None:
    assert layer_of("isthmus.wire.frames") < layer_of("isthmus.transport.server")
    assert layer_of("isthmus.transport.server") < layer_of("isthmus.remote.service")
    assert layer_of("isthmus.remote.service") < layer_of("isthmus.actions.search")
    assert layer_of("isthmus.actions.search") < layer_of("isthmus.http.app")
    assert layer_of("isthmus.http.app") < layer_of("isthmus.node") < layer_of("isthmus.cli.main")
    assert layer_of(name) >= 0
