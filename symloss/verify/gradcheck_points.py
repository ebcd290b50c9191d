"""Where a candidate gradient is compared with the truth, and how both are evaluated there:
random values over each domain (parameters over their valid range, not only the default),
and formulas in mpmath at DIGITS digits (`reference.plain`, `reference.mp_function`).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from ..definition.spec import Loss
from .reference import mp_function, plain

__all__ = [
    "DIGITS",
    "AGREE",
    "sample",
    "param_point",
    "elementwise_points",
    "mp",
    "evaluate",
    "relative",
    "as_float",
    "callable_error",
]

DIGITS = 50
AGREE = 1e-30  # relative difference of two formulas at DIGITS digits that counts as equal


def sample(domain: sp.Set, rng: np.random.Generator) -> float:
    """One random value in ``domain``: uniform inside a bounded interval, log-uniform over
    10^±3 from a single bound, normal or log-uniform of either sign on the reals."""
    if isinstance(domain, sp.FiniteSet):
        return float(rng.choice([float(v) for v in domain.args]))
    if isinstance(domain, sp.Union):
        return sample(domain.args[rng.integers(len(domain.args))], rng)
    lo, hi = float(domain.inf), float(domain.sup)
    if math.isfinite(lo) and math.isfinite(hi):
        return float(lo + (hi - lo) * rng.uniform(0.001, 0.999))
    if math.isfinite(lo):
        return float(lo + 10.0 ** rng.uniform(-3, 3))
    if math.isfinite(hi):
        return float(hi - 10.0 ** rng.uniform(-3, 3))
    if rng.random() < 0.5:
        return float(rng.normal(0, 3))
    return float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-3, 3))


def param_point(spec: Loss, rng) -> dict[str, float]:
    """A value of each parameter but the per-class ones (a static one: one of its values)."""
    out = {}
    for k, p in spec.parameters.items():
        if p.static:
            out[k] = bool(rng.integers(2)) if isinstance(p.default, bool) else rng.choice(p.values)
        elif not p.per_class:
            out[k] = sample(p.domain, rng)
    return out


def elementwise_points(spec: Loss, wrt: str, rng, n: int) -> list[dict[str, float]]:
    """Random points; a third put the input ``wrt`` at a parameter's scale from the next
    input (residuals near thresholds such as δ and 2δ)."""
    out = []
    for k in range(n):
        pt = param_point(spec, rng)
        for i in spec.inputs:
            pt[i.name] = sample(i.domain, rng)
        scales = [
            abs(v)
            for nm, v in pt.items()
            if nm in spec.parameters and v and not isinstance(v, bool)
        ]
        others = [i.name for i in spec.inputs if i.name != wrt and i.domain == sp.S.Reals]
        if k % 3 == 2 and others:
            scale = float(rng.choice(scales)) if scales else 1.0
            step = float(rng.choice([-1.0, 1.0]) * scale * 10.0 ** rng.uniform(-1, 1))
            pt[wrt] = pt[others[0]] + step
        if spec.family == "norm":
            pt["S"] = 10.0 ** rng.uniform(-3, 3)
        out.append(pt)
    return out


def _undefined(*args):
    raise ZeroDivisionError("the expression is undefined (a division by zero)")


def mp(symbols: list, expr: sp.Expr):
    """``expr`` in plain mathematics as an mpmath function of ``symbols``."""
    if expr.has(sp.zoo, sp.nan):
        return _undefined
    return mp_function(symbols, plain(expr))


def evaluate(f, at: list):
    """f(*at), or None where it is undefined, complex or not finite."""
    try:
        v = f(*at)
    except (ZeroDivisionError, ValueError, OverflowError):
        return None
    if isinstance(v, (mpmath.mpc, complex)) or not mpmath.isfinite(v):
        return None
    return v


def relative(a, b) -> float:
    """|a - b| / max(|a|, |b|) (0 where both are 0)."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else float(abs(a - b) / scale)


def as_float(v):
    return None if v is None else float(v)


def callable_error(g: float, t, rtol: float, atol: float) -> float:
    """|g - t| / (rtol·|t| + atol); 0 where t overflows float64 and g is that infinity."""
    if math.isinf(float(t)) and g == float(t):
        return 0.0
    if not math.isfinite(g):
        return math.inf
    return float(abs(mpmath.mpf(float(g)) - t) / (rtol * abs(t) + atol))
