"""The passes of the class axis, in order: a loss's row quantities derived (`derive`) and
lowered — the per-row reductions, the value, the gradient of each differentiable input and
the Hessian diagonal where it exists (`lower` is the elementwise family's list)."""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.core.parameters import distribute

from .. import derive
from ..definition.spec import Loss
from .branches import branch_quotients, indicator_products, piecewise_forms
from .cancellation import margin_roots
from .classes import (
    absent_classes,
    component_differences,
    masked_softmax_differences,
    one_hot_differences,
    softmax_complements,
    unbounded_reductions,
    zero_coefficient_products,
)
from .double_double import exact_quotients
from .functions import c99_functions, stable_primitives
from .guards import nan_guards
from .rows import clamped_maxima, norm_quotients, row_reductions, split_logsumexp


def has_hessian(loss: Loss) -> bool:
    """Whether a class-axis loss gets a ``grad_hess`` kernel (the Hessian diagonal, what a
    gradient-boosting objective takes): one differentiable input, the class vector."""
    first = loss.inputs[0]
    return loss.frontend is None and loss.differentiable == (first.name,) and first.classes


def _class_quantities(loss: Loss, static: Mapping[sp.Symbol, int]):
    """Per-row reductions, value and gradient (of each differentiable input: per component
    for a vector, once per row for a per-sample scalar) of one static variant, lowered."""
    label = next((i.name for i in loss.inputs if i.labels == "classes"), None)
    element = loss.element.subs(static)
    computed = element if loss.stable is None else loss.stable.subs(static)
    wrt = [loss.symbol(nm) for nm in loss.differentiable]
    with distribute(False):
        gradients = [derive.component_derivative(element, v) for v in wrt]
        # ∂/∂z_j of the j-th component: the Hessian diagonal; none where it would be the
        # derivative of an argmax (Crammer–Singer: no closed form)
        hessian = derive.component_derivative(gradients[0], wrt[0]) if has_hessian(loss) else None
        if hessian is not None and hessian.has(sp.Derivative):
            hessian = None
        gradients += [hessian] if hessian is not None else []
        reductions, (value, *gradients) = row_reductions([computed, *gradients])
        gradients = [norm_quotients(clamped_maxima(g), reductions) for g in gradients]
        gradients = [masked_softmax_differences(g, reductions) for g in gradients]
        if label is not None:
            gradients = [one_hot_differences(g, loss.symbol(label), derive.j) for g in gradients]
        gradients = [softmax_complements(g, reductions) for g in gradients]
    # Outside distribute(False), so that -(m + l) distributes to -m - l before grouping.
    value, *gradients = split_logsumexp([value, *gradients], reductions)
    # 0·(-log p_c) = 0 where a coefficient is exactly 0 and the logit is -∞ (a masked class)
    unbounded = unbounded_reductions(reductions)
    varying = {getattr(s, "label", s) for s in wrt} | {
        o for r in reductions for o in (r.symbol, *r.outputs)
    }
    value, *gradients = [
        zero_coefficient_products(e, unbounded, varying) for e in [value, *gradients]
    ]
    if loss.inputs[0].classes:  # e^{z_j}/Σ_{c≠y} e^{z_c} = 0 where z_j = -∞
        component = loss.symbol(loss.inputs[0].name)[derive.j]
        gradients = [absent_classes(g, reductions, component) for g in gradients]
    # the data, and the sums of it: a condition on a norm is NaN-guarded as one on the data
    data = frozenset(loss.symbol(i.name).label for i in loss.inputs if i.classes) | {
        r.symbol for r in reductions if r.kind in ("sum", "norm")
    }

    def branch_free(e: sp.Expr) -> sp.Expr:  # Max, Heaviside, … as NaN-guarded selects
        e = c99_functions(stable_primitives(margin_roots(component_differences(e))))
        return nan_guards(indicator_products(branch_quotients(piecewise_forms(e))), data)

    for r in reductions:
        (r.body,) = split_logsumexp([r.body], reductions)
        r.body = zero_coefficient_products(r.body, unbounded, varying)
        r.body = branch_free(r.body)
    sums = {r.symbol for r in reductions if r.kind == "sum"}

    def lowered(e: sp.Expr) -> sp.Expr:
        return exact_quotients(branch_free(e), sums)

    hessian = lowered(gradients.pop()) if hessian is not None else None
    gradients = dict(zip(loss.differentiable, map(lowered, gradients)))
    return reductions, branch_free(value), gradients, hessian, label
