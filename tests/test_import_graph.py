"""The packages' dependencies point one way (service -> indexer -> models) and no modules import each other in a
circle, lazy imports inside functions included. Read from the source with ast: nothing is imported here."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "indexer", "service")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache  # read once per test run; the tests only read it
def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it names in an import statement (a `from pkg import mod` names pkg.mod)."""
    files = {_module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_graph_sees_the_packages():
    graph = import_graph()
    assert {"models.embedder", "indexer.collection", "service.search.pipeline", "service.cli.main"} <= set(graph)
    assert "indexer.collection" in graph["service.runtime"]  # the reader resolves plain and from-imports


def test_dependencies_point_one_way():
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if (module.startswith("models") and target.split(".")[0] in ("indexer", "service"))
        or (module.startswith("indexer") and target.split(".")[0] == "service")
    )
    assert wrong == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_service_reaches_storage_only_through_collection():
    """Collection is the storage boundary: service/ neither imports the SQLite store or the filter compiler nor
    reaches through a collection into its store (`collection.store.`)."""
    graph = import_graph()
    imports = sorted(f"{m} imports {t}" for m, targets in graph.items() if m.startswith("service") for t in targets
                     if t == "indexer.store")  # fmt: skip
    assert imports == []
    reach = sorted(
        f"{path.relative_to(REPO)}:{n}"
        for path in (REPO / "service").rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ".store." in line or "compile_filter" in line
    )
    assert reach == []


def test_mcp_runs_over_the_service_facade_not_the_http_layer():
    """The MCP tools call service.facade; only their HTTP transport touches the API's auth and error shapes."""
    graph = import_graph()
    assert not {t for t in graph["service.facade"] if t.startswith("service.api")}
    mcp_imports = {t for m, targets in graph.items() if m.startswith("service.mcp") for t in targets}
    assert "service.facade" in mcp_imports
    assert not mcp_imports & {"service.api.state", "service.api.schemas", "service.api.app"}
    assert {t for t in graph["service.cli.mcp"] if t.startswith("service.api")} == set()


def test_one_place_builds_a_search():
    """Every entrance goes through service.search.searcher.Searcher; only it calls the pipeline function."""
    callers = set()
    for path in (REPO / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "service.search.pipeline":
                if any(alias.name == "search" for alias in node.names):
                    callers.add(_module_name(path))
    assert callers == {"service.search.searcher"}
