"""The generator's symbolic derivatives against mpmath finite differences of the definition
(at 50 digits), at random points away from kinks: a quick check of the derivation itself."""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp

from .. import derive
from ..definition.spec import C, Loss
from .reference import ClassReference, mp_function, plain

__all__ = ["check_derivatives", "FD_TOLERANCE"]

FD_TOLERANCE = 1e-20  # relative, derived derivative vs mpmath finite differences at 50 digits


def check_derivatives(loss: Loss, points: int = 8, seed: int = 0) -> float:
    """Largest relative difference between the derived derivatives and mpmath finite
    differences of the definition (at 50 digits), at random points away from kinks."""
    rng = np.random.default_rng(seed)
    if loss.family == "classes":
        return _check_class_derivatives(loss, rng)
    x = loss.symbol(loss.differentiable[0])
    statics = {loss.symbol(k): int(p.default) for k, p in loss.parameters.items() if p.static}
    element = loss.element.subs(statics)
    others = [s for s in element.free_symbols if s != x]
    f = sp.lambdify([x, *others], plain(element), modules="mpmath")
    d = [
        sp.lambdify([x, *others], plain(derive.derivative(element, x, k)), modules="mpmath")
        for k in (1, 2)
    ]
    worst = 0.0
    with mpmath.workdps(50):
        for _ in range(points):
            at = [mpmath.mpf(float(rng.uniform(0.1, 0.9))) for _ in others]
            x0 = mpmath.mpf(float(rng.normal(0, 2)))
            for k in (1, 2):
                fd = mpmath.diff(lambda t, at=at: f(t, *at), x0, k)
                exact = d[k - 1](x0, *at)
                scale = max(abs(exact), mpmath.mpf(1e-30))
                worst = max(worst, float(abs(fd - exact) / scale))
    return worst


def _check_class_derivatives(loss: Loss, rng: np.random.Generator, n: int = 4) -> float:
    """The derived closed-form gradient (∂ℓ/∂v_j of each vector input, sums collapsed, as the
    kernels use it; ∂ℓ/∂s of each per-sample input) against mpmath finite differences of the
    definition written out for C = n, every label and component."""

    static = {loss.symbol(k): int(p.default) for k, p in loss.parameters.items() if p.static}
    ref = ClassReference(loss, n, static)
    label = next((loss.symbol(i.name) for i in loss.inputs if i.labels == "classes"), None)
    written = {loss.symbol(loss.differentiable[0])[k]: ref.zs[k] for k in range(n)}
    for name, ws in ref.ws.items():
        written.update({loss.symbol(name)[k]: ws[k] for k in range(n)})
    components = []  # (derived expression, position of the component in ref.args)
    for name in loss.differentiable:
        gradient = loss.derivative(name).subs(static)
        if isinstance(loss.symbol(name), sp.IndexedBase):
            syms = ref.zs if name == loss.differentiable[0] else ref.ws[name]
            components += [
                (gradient.subs(derive.j, k), ref.args.index(a)) for k, a in enumerate(syms)
            ]
        else:
            components.append((gradient, ref.args.index(loss.symbol(name))))
    worst = 0.0
    with mpmath.workdps(50):
        for y in range(len(ref.exprs)):  # every label, or once without labels
            if loss.inputs[0].domain.is_subset(sp.Interval(0, sp.oo)):  # probabilities
                args = [mpmath.mpf(float(rng.uniform(0.05, 1))) for _ in ref.zs]
            else:
                args = [mpmath.mpf(float(rng.normal(0, 2))) for _ in ref.zs]
            args += [mpmath.mpf(float(rng.uniform(0.2, 2))) for k in ref.data for _ in ref.ws[k]]
            args += [mpmath.mpf(float(rng.uniform(0.5, 3))) for _ in ref.per_sample]
            args += [mpmath.mpf(float(rng.uniform(0.2, 2))) for k in ref.vectors for _ in ref.ws[k]]
            args += [mpmath.mpf(float(rng.uniform(0.1, 0.9))) for _ in ref.scalars]
            for derived, at in components:
                subs = {C: n, **({label: y} if ref.labelled else {})}
                derived = derived.subs(subs).doit().xreplace(written).rewrite("math")
                exact = mp_function(ref.args, derived, guard=False)(*args)

                def f(t, at=at, y=y, args=args):
                    return ref.functions("value", y)[0][0](*args[:at], t, *args[at + 1 :])

                fd = mpmath.diff(f, args[at])
                worst = max(worst, float(abs(fd - exact) / max(abs(exact), mpmath.mpf(1e-30))))
    return worst
