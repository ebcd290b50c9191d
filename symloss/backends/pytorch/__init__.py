"""The PyTorch backend: per loss a module of plain torch operations, in float32 and float64,
written to ``generated/torch/`` from ``templates/torch/``.

The plan is the Numba backend's (`symloss.codegen.plan`: the same lowering and CSE), printed
by `printer.TorchPrinter`; of its kernel kinds this backend lays out the per-element ones,
as functions returning tensors: ℓ, (ℓ, ℓ'), (ℓ', ℓ''). Reductions, weights and autograd are
the runtime's (`symloss.integrations.torch`), in torch operations too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...codegen import _pretty, header, metadata, plan
from ...codegen.layout import wrapped
from ...locations import templates_dir
from ..config import Backend, register
from .printer import TorchPrinter

__all__ = ["TORCH", "Function", "QUANTITIES"]

# kernel kind of the plan → the quantities the function returns
QUANTITIES = {
    "value_each": ("value",),
    "value_grad_each": ("value", "grad"),
    "grad_hess": ("grad", "hess"),
}
_DOCS = {
    ("value",): "ℓ per element",
    ("value", "grad"): "(ℓ, ∂ℓ/∂x) per element",
    ("grad", "hess"): "(∂ℓ/∂x, ∂²ℓ/∂x²) per element",
}


@dataclass(frozen=True)
class Function:
    """One generated function: its arguments (tensors broadcast together, then parameters),
    its CSE'd statements and the printed results, in the order of ``quantities``."""

    name: str
    key: tuple
    dtype: str
    doc: str
    arrays: tuple[str, ...]
    scalars: tuple[str, ...]
    statements: tuple[tuple[str, str], ...]
    results: tuple[str, ...]

    @property
    def args(self) -> list[str]:
        return [*self.arrays, *self.scalars]


def functions(loss) -> list[Function]:
    """The per-element functions of an elementwise loss, from the shared plan."""
    out = []
    for k in plan(loss, TorchPrinter, element="{}").kernels:
        if k.kind not in QUANTITIES:
            continue
        qs = QUANTITIES[k.kind]
        out.append(
            Function(
                name=k.name.replace(k.kind, "_".join(qs), 1),  # kind + variant + dtype
                key=("_".join(qs), k.key[1], k.dtype),
                dtype=k.dtype,
                doc=_DOCS[qs],
                arrays=tuple(k.arrays),
                scalars=tuple(k.scalars),
                statements=tuple(k.statements),
                results=tuple(k.results[q] for q in qs),
            )
        )
    return out


def _elementwise(loss, template: str) -> dict:
    return {
        "header": header(template, f"{loss.origin}:{loss.name}"),
        "loss": loss,
        "metadata": _pretty(metadata(loss)),
        "x": loss.differentiable[0],
        "functions": functions(loss),
    }


TORCH = register(
    Backend(
        name="torch",
        templates=templates_dir(),
        output="torch",
        families={"elementwise": "torch/elementwise.py.jinja"},
        plan={"elementwise": _elementwise},
        printer=TorchPrinter,
        index="torch/__init__.py.jinja",
        layout=wrapped,
    )
)
