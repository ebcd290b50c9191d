"""symloss: loss functions defined once in SymPy, with derived derivatives, LaTeX and verified
Numba kernels.

Runtime (NumPy + Numba, no SymPy)::

    symloss.names()                      # sorted loss names
    symloss.huber(pred, target, delta=0.5, reduction="mean", weight=None)
    symloss.loss("huber").value_and_grad(pred, target)
    symloss.loss("huber").grad_hess(pred, target)

Symbolic side (imports SymPy on first use)::

    symloss.get("huber").derivative("pred")
    symloss.define("cauchy", c**2/2*sympy.log(1 + ((pred - target)/c)**2), params={"c": 1.0})
"""

from __future__ import annotations

__version__ = "0.1.0"

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
]

_SYMBOLIC = ("define", "Input", "Param", "Loss")


def get(name: str):
    """The symbolic definition (a `symloss.Loss`) of a built-in loss. Imports SymPy."""
    from .catalog import BUILTINS, SEQUENCES

    if name in SEQUENCES:  # a sequence loss: its recurrence (a `symloss.recurrence.Recurrence`)
        return SEQUENCES[name]
    if name not in BUILTINS:
        loss(name)  # raises the runtime's "unknown loss" error, with suggestions
        raise ValueError(
            f"{name!r} has kernels but no definition: regenerate with symloss generate"
        )
    return BUILTINS[name]


def __getattr__(attr: str):
    if attr in _SYMBOLIC:
        from . import spec

        return getattr(spec, attr)
    if not attr.startswith("_") and attr in names():
        return loss(attr)
    raise AttributeError(f"module 'symloss' has no attribute {attr!r}")


def __dir__():
    return sorted(set(globals()) | set(_SYMBOLIC) | set(names()))
