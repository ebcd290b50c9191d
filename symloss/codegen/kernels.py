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


@dataclass(frozen=True)
class Kind:
    """What one kernel kind computes per element, as code over the element's results
    ``{value}``, ``{grad}``, ``{hess}`` and the loop's locals (``w_i`` the weight, ``scale``):
    ``summand`` the term of a float64 sum the kernel returns (None: no sum), ``stores`` the
    (output array, expression) written at i. ``group``: the quantities it needs."""

    group: str
    doc: str
    summand: str | None = None
    stores: tuple[tuple[str, str], ...] = ()
    weighted: bool = False

    @property
    def scaled(self) -> bool:
        return any("scale" in rhs for _, rhs in self.stores)


KINDS = {
    "value_each": Kind("value", "out[i] = ℓ_i", stores=(("out", "{value}"),)),
    "value_sum": Kind("value", "Σ_i ℓ_i, accumulated in float64", summand="{value}"),
    "value_sum_w": Kind(
        "value", "Σ_i w_i·ℓ_i, accumulated in float64", summand="w_i * ({value})", weighted=True
    ),
    "value_grad_each": Kind(
        "value_grad",
        "value[i] = ℓ_i and grad[i] = ∂ℓ_i/∂x_i",
        stores=(("value", "{value}"), ("grad", "{grad}")),
    ),
    "value_grad_sum": Kind(
        "value_grad",
        "Σ_i ℓ_i; grad[i] = scale·∂ℓ_i/∂x_i, in one pass",
        summand="{value}",
        stores=(("grad", "scale * ({grad})"),),
    ),
    "value_grad_sum_w": Kind(
        "value_grad",
        "Σ_i w_i·ℓ_i; grad[i] = scale·w_i·∂ℓ_i/∂x_i, in one pass",
        summand="w_i * ({value})",
        stores=(("grad", "scale * w_i * ({grad})"),),
        weighted=True,
    ),
    "grad_hess": Kind(
        "grad_hess",
        "grad[i] = ∂ℓ_i/∂x_i and hess[i] = ∂²ℓ_i/∂x_i²",
        stores=(("grad", "{grad}"), ("hess", "{hess}")),
    ),
}
GROUPS = {"value": ("value",), "value_grad": ("value", "grad"), "grad_hess": ("grad", "hess")}
OUTPUTS = {k: tuple(out for out, _ in v.stores) for k, v in KINDS.items() if v.stores}


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
    scaled: bool = False
    summand: str | None = None  # the term of the returned sum, printed (None: no sum)
    stores: list[tuple[str, str]] = field(default_factory=list)  # (output, printed value at i)

    @property
    def args(self) -> list[str]:
        extra = ["scale"] if self.scaled else []
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
