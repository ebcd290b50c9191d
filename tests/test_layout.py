"""The package's layout as a checked property: no import cycles, and data flows one way.

Imports are read from the source (ast), module-level and inside functions alike, so a lazy
import cannot hide an edge. The only edges against the flow are the definition's named
conveniences (`Loss.derivative` and friends), listed below with the stage they call.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "symloss"

# (module, function) → why it may import a later stage.
CONVENIENCES = {
    ("symloss.definition.spec", "derivative"): "Loss.derivative calls symloss.derive",
    ("symloss.definition.spec", "latex"): "Loss.latex calls the LaTeX printer",
    ("symloss.definition.recurrence", "partials"): "Recurrence.partials calls symloss.derive",
    ("symloss.definition.recurrence", "log_weights"): "Recurrence.log_weights calls symloss.derive",
    ("symloss.definition.recurrence", "latex"): "Recurrence.latex calls the LaTeX printer",
}

# Stage → stages it must never import (directly, at any depth of a function).
LATER = ("derive", "lowering", "printing", "codegen", "compiled", "runtime", "verify", "docs")
FORBIDDEN = {
    "symloss.definition": LATER,
    "symloss.catalog": LATER,
    "symloss.derive": LATER[1:],
    "symloss.lowering": ("printing", "codegen", "compiled", "runtime", "verify", "docs"),
    "symloss.codegen": (
        "runtime",
        "compiled",
        "verify",
        "docs",
        "sequences",
        "centers",
        "backends",
        "printing",
    ),
}
# Modules a user's `import symloss` and the kernels' calls run: never SymPy, at any depth.
NO_SYMPY = (
    "runtime",
    "arguments",
    "variants",
    "sequences",
    "centers",
    "checks",
    "threads",
    "vmath",
    "seqmath",
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()

# The verification's truth is the plain definition (mpmath, SymPy's own diff): no module of it
# imports the stages it checks. verify.derivatives is the one exception: the derivation is
# what it checks (against finite differences).
FORBIDDEN.update(
    {
        m: ("derive", "lowering", "codegen", "runtime")
        for m in MODULES
        if m.startswith("symloss.verify.") and m != "symloss.verify.derivatives"
    }
)


def _imports(module: str) -> list[tuple[str, str | None, bool]]:
    """(imported module, enclosing function or None, at module level) for each import."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            )
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - (child.level - 1)]
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module or ""
                for alias in child.names:
                    sub = f"{name}.{alias.name}"
                    found.append((sub if sub in MODULES else name, function, node is tree))
            elif isinstance(child, ast.Import):
                found.extend((a.name, function, node is tree) for a in child.names)
            visit(child, inner or function)

    visit(tree, None)
    return found


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    graph = {}
    for m in MODULES:
        graph[m] = {
            t
            for t, function, top in _imports(m)
            if t in MODULES
            and t != m
            and (top or not module_level_only)
            and (m, function) not in CONVENIENCES
            and t != "symloss"  # the facade: imported for __version__, re-exports lazily
        }
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return out


def test_the_import_reader_sees_lazy_imports():
    targets = {t for t, function, _ in _imports("symloss.definition.spec") if function}
    assert "symloss.derive" in targets  # Loss.derivative's convenience import


def test_no_import_cycles():
    assert _cycles(_graph(module_level_only=False)) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_data_flows_one_way(stage):
    bad = []
    for m in MODULES:
        if m != stage and not m.startswith(stage + "."):
            continue
        for target, function, _ in _imports(m):
            if (m, function) in CONVENIENCES:
                continue
            for later in FORBIDDEN[stage]:
                if target == f"symloss.{later}" or target.startswith(f"symloss.{later}."):
                    bad.append(f"{m} ({function or 'module level'}) imports {target}")
    assert bad == []


def _no_sympy_modules() -> list[str]:
    """NO_SYMPY's modules (a package with every module in it) and every symloss module they
    import, at module level or in a function, transitively; not the facade `symloss`, which
    resolves the symbolic side lazily, by attribute name."""
    todo = [
        m
        for m in MODULES
        for name in NO_SYMPY
        if m == f"symloss.{name}" or m.startswith(f"symloss.{name}.")
    ]
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += [t for t, _, _ in _imports(m) if t in MODULES and t != "symloss"]
    return sorted(seen)


def test_the_sympy_free_modules_include_the_runtime_package():
    assert {"symloss.runtime", "symloss.runtime.kernel", "symloss.runtime.rows"} <= set(
        _no_sympy_modules()
    )


@pytest.mark.parametrize("module", _no_sympy_modules())
def test_runtime_never_imports_sympy(module):
    imported = {t.split(".")[0] for t, _, _ in _imports(module)}
    assert "sympy" not in imported and "mpmath" not in imported


MOVED = {
    "spec": "definition.spec",
    "parse": "definition.parse",
    "primitives": "definition.primitives",
    "recurrence": "definition.recurrence",
    "gradcheck": "verify.gradcheck",
    "verify_sequences": "verify.sequences",
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_paths_still_import_with_a_warning(old):
    import importlib
    import sys

    import symloss

    sys.modules.pop(f"symloss.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"symloss.{old} moved to symloss.{MOVED[old]}"):
        moved = importlib.import_module(f"symloss.{old}")
    assert moved is importlib.import_module(f"symloss.{MOVED[old]}")
    assert symloss.define is importlib.import_module("symloss.definition.spec").define


def test_every_package_is_installed():
    """pyproject lists packages explicitly: a new subpackage missing there installs nowhere."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
            "packages"
        ]
    )
    found = {m for m, path in MODULES.items() if path.name == "__init__.py"}
    assert found - listed == set()
