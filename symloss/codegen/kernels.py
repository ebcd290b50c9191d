"""The kernel kinds of the elementwise family and the records a template lays out.

A loss's static switches × broadcast parameters give its variants (`variants`); each variant
× kind × dtype is one `Kernel`: arguments, loads, CSE'd statements and results, printed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..definition.spec import Loss
from ..variants import static_parts, variant_key

KERNEL_DIR = "kernels"
DTYPES = ("float32", "float64")
_SHORT = {"float32": "f32", "float64": "f64"}

# kind → (group of quantities it computes, weighted?, one-line docstring)
KINDS = {
    "value_each": ("value", False, "out[i] = ℓ_i"),
    "value_sum": ("value", False, "Σ_i ℓ_i, accumulated in float64"),
    "value_sum_w": ("value", True, "Σ_i w_i·ℓ_i, accumulated in float64"),
    "value_grad_each": ("value_grad", False, "value[i] = ℓ_i and grad[i] = ∂ℓ_i/∂x_i"),
    "value_grad_sum": ("value_grad", False, "Σ_i ℓ_i; grad[i] = scale·∂ℓ_i/∂x_i, in one pass"),
    "value_grad_sum_w": (
        "value_grad",
        True,
        "Σ_i w_i·ℓ_i; grad[i] = scale·w_i·∂ℓ_i/∂x_i, in one pass",
    ),
    "grad_hess": ("grad_hess", False, "grad[i] = ∂ℓ_i/∂x_i and hess[i] = ∂²ℓ_i/∂x_i²"),
}
GROUPS = {"value": ("value",), "value_grad": ("value", "grad"), "grad_hess": ("grad", "hess")}
OUTPUTS = {
    "value_each": ("out",),
    "value_grad_each": ("value", "grad"),
    "value_grad_sum": ("grad",),
    "value_grad_sum_w": ("grad",),
    "grad_hess": ("grad", "hess"),
}


@dataclass(frozen=True)
class Variant:
    """One kernel set: static switches substituted, broadcast parameters read per element."""

    static: Mapping[str, bool | int]
    arrays: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return variant_key(static_parts(self.static), self.arrays)

    @property
    def suffix(self) -> str:
        return "".join("__" + part.replace("[]", "_array").replace("=", "_") for part in self.key)


@dataclass
class Kernel:
    """Everything a template needs to lay out one kernel function."""

    name: str
    kind: str
    dtype: str
    key: tuple
    doc: str
    arrays: list[str]
    scalars: list[str]
    outputs: tuple[str, ...]
    loads: list[tuple[str, str]]
    statements: list[tuple[str, str]]
    results: dict[str, str]
    ops: int
    weighted: bool = False

    @property
    def args(self) -> list[str]:
        extra = ["scale"] if self.kind in ("value_grad_sum", "value_grad_sum_w") else []
        return self.arrays + self.scalars + extra + list(self.outputs)


@dataclass
class ModulePlan:
    loss: Loss
    kernels: list[Kernel] = field(default_factory=list)
    outer: list[tuple[str, str]] = field(default_factory=list)


def variants(loss: Loss) -> list[Variant]:
    statics = [k for k, p in loss.parameters.items() if p.static]
    broadcast = [k for k, p in loss.parameters.items() if p.broadcast]
    out = []
    for values in itertools.product(*(loss.parameters[k].values for k in statics)):
        for n in range(len(broadcast) + 1):
            for arrays in itertools.combinations(broadcast, n):
                out.append(Variant(dict(zip(statics, values)), tuple(arrays)))
    return out
