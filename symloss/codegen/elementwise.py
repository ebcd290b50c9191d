"""The plan of an elementwise loss: ℓ, ∂ℓ/∂x and ∂²ℓ/∂x², lowered, then per variant and
dtype the kernels of every kind (`kernels.KINDS`)."""

from __future__ import annotations

import math

import sympy as sp
from sympy.core.parameters import distribute

from .. import derive
from ..definition.spec import Loss
from ..lowering import float64_in_float32, lower, ranges_of
from .cse import _printed
from .kernels import _SHORT, DTYPES, GROUPS, KINDS, Kernel, ModulePlan, variants


def _element_derivatives(loss: Loss) -> dict[str, sp.Expr]:
    x = loss.symbol(loss.differentiable[0])
    return {
        "value": loss.element if loss.stable is None else loss.stable,
        "grad": derive.derivative(loss.element, x, 1),
        "hess": derive.derivative(loss.element, x, 2),
    }


def plan(loss: Loss, printer: type, element: str = "{}_i") -> ModulePlan:
    """Decide every kernel of a loss: variants × kinds × dtypes, printed by ``printer``;
    ``element``: the name an input's element takes in the code (``pred`` → ``pred_i``)."""
    quantities = _element_derivatives(loss)
    domains = {i.name: i.domain for i in loss.inputs}
    domains.update({k: p.domain for k, p in loss.parameters.items()})
    ranges = ranges_of(loss.symbols, domains)
    # where coefficients are split for exact rounding (lowering.exact_constant)
    centres = {
        loss.symbol(k): sp.nsimplify(p.default, rational=True)
        for k, p in loss.parameters.items()
        if not p.static and isinstance(p.default, (int, float)) and math.isfinite(p.default)
    }
    varying = frozenset(loss.symbol(i.name) for i in loss.inputs if i.differentiable)
    nonzero = frozenset(loss.symbol(k) for k, d in domains.items() if d.contains(0) is sp.false)
    module = ModulePlan(loss)
    for variant in variants(loss):
        static = {loss.symbol(k): int(v) for k, v in variant.static.items()}
        data_names = [i.name for i in loss.inputs] + list(variant.arrays)
        data = frozenset(loss.symbol(k) for k in data_names)
        scalars = [
            k for k, p in loss.parameters.items() if not p.static and k not in variant.arrays
        ]
        names = {loss.symbol(k): element.format(k) for k in data_names}
        with distribute(False):
            lowered = {
                q: lower(e.subs(static), ranges, data, centres, varying, nonzero)
                for q, e in sorted(quantities.items())
            }
            widened = {
                q for q, e in quantities.items() if float64_in_float32(e.subs(static), ranges)
            }
        for dtype in DTYPES:
            groups = {
                g: _printed(
                    [lowered[q] for q in qs],
                    dtype,
                    names,
                    data,
                    printer,
                    widen=bool(widened & set(qs)),
                )
                for g, qs in GROUPS.items()
            }
            for kind, spec in KINDS.items():
                statements, results, ops = groups[spec.group]
                results = dict(zip(GROUPS[spec.group], results))
                arrays = list(data_names) + (["weight"] if spec.weighted else [])
                loads = [(element.format(a) if a != "weight" else "w_i", a) for a in arrays]
                module.kernels.append(
                    Kernel(
                        name=f"{kind}{variant.suffix}_{_SHORT[dtype]}",
                        kind=kind,
                        dtype=dtype,
                        key=(kind, variant.key, dtype),
                        doc=spec.doc,
                        arrays=arrays,
                        scalars=scalars,
                        outputs=tuple(out for out, _ in spec.stores),
                        loads=loads,
                        statements=statements,
                        results=results,
                        ops=ops,
                        weighted=spec.weighted,
                        scaled=spec.scaled,
                        summand=None if spec.summand is None else spec.summand.format(**results),
                        stores=[(out, rhs.format(**results)) for out, rhs in spec.stores],
                    )
                )
    if loss.outer is not None:
        outer = printer("float64", {derive.S: "S"})
        for order, fname in enumerate(("outer", "outer_d1", "outer_d2")):
            g = loss.outer if order == 0 else derive.outer_derivative(loss.outer, order)
            doc = f"g{'′' * order}(S) = {g}" if order else f"g(S) = {g}, the loss from S = Σ w·ℓ"
            module.outer.append((fname, outer.doprint(lower(g, {}, frozenset())), doc))
    return module
