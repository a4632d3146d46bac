"""The import graph, read with ast: no cycles, the layers import one way, model/ knows nothing
of studies, and only study/tuning imports Ray and Optuna."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT

PACKAGES = ("study", "model", "reports", "search_spaces")
# CLI -> plan -> tuning -> train/merge -> data -> config -> model: a module may import its own
# layer and those after it, never one before. Every module of PACKAGES has a layer (a test).
LAYERS = (
    ("study",),  # the package's own __init__: a facade (`from study import load_trials`, lazy)
    ("study.__main__", "study.cli"),
    ("study.bench",),  # runs plans and trials to time them
    # the commands' workflows; reports read stored results (the Optuna journal through tuning)
    (
        "study.plan",
        "study.preflight",
        "study.predict",
        "study.decide",
        "study.status",
        "study.hub",
        "reports",
    ),
    ("study.tuning",),
    ("study.train", "study.merge"),
    ("study.data", "study.records", "study.study_files"),
    # what a trial or a study is: configs, scales, spaces, options, metric names
    (
        "study.config",
        "study.scales",
        "study.overrides",
        "study.validate",
        "study.options",
        "study.metrics",
        "search_spaces",
    ),
    ("study.atomic", "study.errors", "study.folder_lock"),  # used by every layer above
    ("model",),
)


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (PROJECT / package).rglob("*.py"):
            parts = path.relative_to(PROJECT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path) -> set[str]:
    """Every module named by an import in the file, lazy ones included, TYPE_CHECKING not."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for b in ast.walk(tree) if _type_checking(b) for n in ast.walk(b)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (a `from pkg import sub` names the submodule)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        found = {m for m in _imports(path) if m in modules}
        # `from a.b import c`: the edge goes to a.b.c when that is a module, else to a.b
        graph[name] = {m for m in found if not any(o.startswith(m + ".") for o in found)} - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
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


def _layer(module: str) -> int | None:
    """The layer of the longest prefix that names the module ("study" is only the package)."""
    best, rank = "", None
    for index, prefixes in enumerate(LAYERS):
        for p in prefixes:
            exact = module == p or (p != "study" and module.startswith(p + "."))
            if exact and len(p) > len(best):
                best, rank = p, index
    return rank


def test_every_module_has_a_layer():
    assert sorted(m for m in _modules() if _layer(m) is None) == []


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_model_imports_nothing_of_studies():
    bad = {
        (m, i)
        for m, imports in _graph().items()
        if m.split(".")[0] == "model"
        for i in imports
        if i.split(".")[0] != "model"
    }
    assert bad == set()


def _backwards(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a module to one in a layer above it."""
    found = []
    for module, imports in graph.items():
        rank = _layer(module)
        for other in imports:
            other_rank = _layer(other)
            if rank is not None and other_rank is not None and other_rank < rank:
                found.append(f"{module} -> {other}")
    return sorted(found)


def test_layers_import_one_way():
    assert _backwards(_graph()) == []


def test_the_layer_check_finds_an_import_back_up():
    graph = {"study.train.run": {"study.tuning.recorder", "model.heads"}, "reports.stats": set()}
    assert _backwards(graph) == ["study.train.run -> study.tuning.recorder"]


def test_only_tuning_imports_ray_and_optuna():
    users = sorted(
        name
        for name, path in _modules().items()
        if any(i.split(".")[0] in ("ray", "optuna") for i in _imports(path))
        and not name.startswith("study.tuning")
    )
    assert users == []
