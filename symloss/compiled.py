"""Kernels for losses defined outside the catalogue: compiled into a cache, or rendered into a
folder of the user's own.

``compile(spec)`` renders a `Loss` through the same templates as the built-ins into a cache
directory, one module per definition, named by a hash of the definition and of the toolkit
(its version, SymPy's version, and the text of the templates and of the generator's modules),
so a second process finds the module, and Numba's cache beside it, and compiles nothing.
The cache is ``$SYMLOSS_CACHE_DIR``, else ``$XDG_CACHE_HOME/symloss`` or ``~/.cache/symloss``.

``definitions(path)`` imports a user's module of definitions; ``load(directory)`` returns the
kernels of a folder written by ``symloss generate --module FILE --out DIR``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path

import sympy as sp

from . import __version__
from .definition.spec import Loss
from .jitcache import writable_dir
from .runtime import LossKernel

__all__ = ["compile", "cache_dir", "definition_hash", "definitions", "load"]

# Modules and packages whose text decides what a kernel module contains (each a package or a
# module: the fingerprint reads whichever exists).
_GENERATOR_SOURCES = (
    "definition",
    "backends",
    "codegen",
    "derive",
    "lowering",
    "printing",
    "vmath",
    "seqmath",
    "variants",
    "arguments",
    "runtime",
)


def cache_dir() -> Path:
    """Where compiled user kernels go (created on first use)."""
    custom = os.environ.get("SYMLOSS_CACHE_DIR")
    if custom:
        return Path(custom)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symloss"


@cache
def _toolkit_fingerprint() -> str:
    from .locations import templates_dir

    h = hashlib.sha256(f"symloss {__version__}; sympy {sp.__version__}".encode())
    package = Path(__file__).parent
    files = []
    for name in _GENERATOR_SOURCES:
        path = package / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    files += sorted(templates_dir().rglob("*.jinja"))
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _describe(loss: Loss) -> str:
    """Everything that defines a loss, as text: the key of its compiled module."""
    inputs = [
        (i.name, i.differentiable, sp.srepr(i.domain), i.labels, i.classes, i.by_label)
        for i in loss.inputs
    ]
    params = [
        (k, repr(p.default), sp.srepr(p.domain), p.broadcast, p.static, p.estimate, p.per_class)
        for k, p in loss.parameters.items()
    ]
    parts = [
        loss.name,
        sp.srepr(loss.element),
        sp.srepr(loss.stable) if loss.stable is not None else "",
        sp.srepr(loss.outer) if loss.outer is not None else "",
        repr(inputs),
        repr(params),
        repr((loss.homogeneous, loss.over, loss.frontend, loss.kind, loss.doc)),
    ]
    return "\n".join(parts)


def definition_hash(loss: Loss) -> str:
    """A hash of the definition and of the toolkit that renders it (hex, 16 characters)."""
    h = hashlib.sha256(_toolkit_fingerprint().encode())
    h.update(_describe(loss).encode())
    return h.hexdigest()[:16]


def _import_file(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


_COMPILED: dict[str, LossKernel] = {}


def compile(loss: Loss) -> LossKernel:  # noqa: A001 - the toolkit's verb, as symloss.compile
    """The kernel object of a loss defined with `symloss.define`: the same API as the built-ins
    (``__call__`` with reductions and weights, ``value_and_grad``, ``grad_hess``).

    The module is rendered once per definition into `cache_dir` and reused by later calls and
    other processes; Numba caches its machine code beside it.
    """
    if not isinstance(loss, Loss):
        raise TypeError(
            "compile takes a loss defined with symloss.define (a symloss.Loss), "
            f"got {type(loss).__name__}"
        )
    key = f"{loss.name}_{definition_hash(loss)}"
    if key in _COMPILED:
        return _COMPILED[key]
    directory = cache_dir()
    if not writable_dir(directory):
        directory = Path(tempfile.gettempdir()) / f"symloss-{os.getuid()}"
        directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key}.py"
    if not path.exists():
        from .backends import render_definition
        from .backends.numba import NUMBA

        text = render_definition(replace(loss, origin="symloss.compile"), NUMBA)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)  # atomic: a concurrent process sees all of it or nothing
    kernel = LossKernel(_import_file(path, f"symloss_compiled_{key}"))
    _COMPILED[key] = kernel
    return kernel


def definitions(path: str | os.PathLike) -> list[Loss]:
    """The losses a user's module defines: its ``LOSSES`` if it has one, else every module-level
    `Loss`, sorted by name. The module is imported (it is the user's own code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--module {path}: no such file")
    module = _import_file(path.resolve(), path.stem)
    found = getattr(module, "LOSSES", None)
    if found is None:
        found = [v for v in vars(module).values() if isinstance(v, Loss)]
    found = list(found)
    if not found or not all(isinstance(v, Loss) for v in found):
        raise ValueError(
            f"{path} defines no losses: define them with symloss.define at module level "
            "(or list them in LOSSES)"
        )
    names = [v.name for v in found]
    if len(set(names)) != len(names):
        raise ValueError(f"{path} defines a loss name twice: {sorted(names)}")
    return sorted(found, key=lambda v: v.name)


def render_folder(losses: Iterable[Loss]) -> dict[str, str]:
    """Relative path → text of a user's generated folder: one module per loss and an index."""
    from .backends import render_definition
    from .backends.numba import NUMBA
    from .codegen import environment, header

    losses = sorted(losses, key=lambda v: v.name)
    files = {f"{loss.name}.py": render_definition(loss, NUMBA) for loss in losses}
    template = NUMBA.index
    files["__init__.py"] = (
        environment(NUMBA.templates)
        .get_template(template)
        .render(
            header=header(template, "symloss generate --module"), names=[v.name for v in losses]
        )
    )
    return files


def load(directory: str | os.PathLike) -> Mapping[str, LossKernel]:
    """name → kernel object for a folder written by ``symloss generate --module ... --out``."""
    directory = Path(directory).resolve()
    index = directory / "__init__.py"
    if not index.is_file():
        raise FileNotFoundError(f"{directory} is not a folder written by symloss generate --module")
    tag = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    names = _import_file(index, f"symloss_folder_{tag}").NAMES
    return {
        nm: LossKernel(_import_file(directory / f"{nm}.py", f"symloss_folder_{tag}_{nm}"))
        for nm in names
    }
