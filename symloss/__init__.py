"""symloss: loss functions defined once in SymPy, with derived derivatives, LaTeX and verified
Numba kernels.

Runtime (NumPy + Numba, no SymPy)::

    symloss.names()                      # sorted loss names
    symloss.huber(pred, target, delta=0.5, reduction="mean", weight=None)
    symloss.loss("huber").value_and_grad(pred, target)
    symloss.loss("huber").grad_hess(pred, target)

Symbolic side (imports SymPy on first use)::

    symloss.get("huber").derivative("pred")
    spec = symloss.define("cauchy2", "c**2/2*log(1 + ((pred - target)/c)**2)", params={"c": 1.0})
    symloss.compile(spec).value_and_grad(pred, target)   # kernels, cached across processes
    symloss.verify_gradient(spec, "(pred - target)/(1 + ((pred - target)/c)**2)")
"""

from __future__ import annotations

__version__ = "0.1.0"

from .threads import choose_threading_layer  # noqa: E402

choose_threading_layer()  # before any kernel runs (symloss/threads.py)

from ._moved import install as _install_moved  # noqa: E402

_install_moved()  # old module paths (symloss.spec, …) resolve to their new homes

from .centers import center_update  # noqa: E402
from .runtime import REDUCTIONS, LossKernel, loss, names  # noqa: E402

__all__ = [
    "__version__",
    "REDUCTIONS",
    "LossKernel",
    "names",
    "loss",
    "center_update",
    "get",
    "define",
    "Input",
    "Param",
    "Loss",
    "compile",
    "load",
    "verify_gradient",
    "verify_implementation",
]

# The symbolic side, imported (with SymPy) on first use: attribute → module.
_SYMBOLIC = {
    "define": "definition.spec",
    "Input": "definition.spec",
    "Param": "definition.spec",
    "Loss": "definition.spec",
    "compile": "compiled",
    "load": "compiled",
    "verify_gradient": "verify.gradcheck",
    "verify_implementation": "verify",
}


def get(name: str):
    """The symbolic definition (a `symloss.Loss`) of a built-in loss. Imports SymPy."""
    from .catalog import BUILTINS, SEQUENCES

    if name in SEQUENCES:  # a sequence loss: its recurrence (a `Recurrence`)
        return SEQUENCES[name]
    if name not in BUILTINS:
        loss(name)  # raises the runtime's "unknown loss" error, with suggestions
        raise ValueError(
            f"{name!r} has kernels but no definition: regenerate with symloss generate"
        )
    return BUILTINS[name]


def __getattr__(attr: str):
    if attr in _SYMBOLIC:
        import importlib

        return getattr(importlib.import_module(f".{_SYMBOLIC[attr]}", __name__), attr)
    if not attr.startswith("_") and attr in names():
        return loss(attr)
    raise AttributeError(f"module 'symloss' has no attribute {attr!r}")


def __dir__():
    return sorted(set(globals()) | set(_SYMBOLIC) | set(names()))
