"""Candidate gradients of elementwise losses and norms against the truth (`gradcheck_truth`):

* a formula: both evaluated in mpmath at DIGITS digits at random points, parameters sampled;
  the largest relative difference decides, with its point as a counterexample;
* a callable ``f(pred, target, **params)`` on NumPy arrays: evaluated at random and extreme
  float64 points and compared with the truth in mpmath at those exact points; it passes when
  |f - ∂ℓ| ≤ rtol·|∂ℓ| + atol everywhere the truth is finite. For a norm g(Σ ℓ), f returns
  the gradient of the norm of its arrays: the truth is g'(S)·ℓ' with S = Σ ℓ of those arrays.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from ..definition.axes import S
from ..definition.spec import Loss
from .gradcheck_points import (
    DIGITS,
    as_float,
    callable_error,
    elementwise_points,
    evaluate,
    mp,
    param_point,
    relative,
)
from .gradcheck_report import GradientReport
from .gradcheck_truth import truth

__all__ = ["EXTREMES", "formula_elementwise", "callable_elementwise"]

EXTREMES = (0.0, 1e-12, -1e-12, 1e-6, -1e-6, 0.5, -0.5, 30.0, -30.0, 1e3, -1e3, 1e6, -1e6)


def formula_elementwise(spec: Loss, wrt, candidate, rng, n: int):
    """(worst relative difference, its point, points used, how) of candidate vs truth."""
    names = [*spec.input_names, *spec.parameters] + (["S"] if spec.family == "norm" else [])
    symbols = [S if nm == "S" else spec.symbol(nm) for nm in names]
    f_truth, f_cand = mp(symbols, truth(spec, wrt)), mp(symbols, candidate)
    worst, worst_at, used = 0.0, None, 0
    with mpmath.workdps(DIGITS):
        for pt in elementwise_points(spec, wrt, rng, n):
            at = [mpmath.mpf(float(pt[nm])) for nm in names]
            t = evaluate(f_truth, at)
            if t is None:
                continue
            cnd = evaluate(f_cand, at)
            used += 1
            err = math.inf if cnd is None else relative(cnd, t)
            if err > worst:
                worst, worst_at = err, dict(pt, truth=float(t), candidate=as_float(cnd))
    return (
        worst,
        worst_at,
        used,
        f"compared in mpmath at {DIGITS} digits at {used} random points, parameters sampled",
    )


def _groups(spec: Loss, wrt, rng, n: int, norm: bool) -> list:
    """12 × (parameters, {input: array}); the first, where wrt is real, at the EXTREMES."""
    groups = []
    for g in range(12):
        params = param_point(spec, rng)
        pts = elementwise_points(spec, wrt, rng, n // 12 if not norm else 6)
        arrays = {i.name: np.array([p[i.name] for p in pts]) for i in spec.inputs}
        if g == 0 and not norm and spec.inputs[0].domain == sp.S.Reals:  # extremes of wrt
            m = len(EXTREMES)
            for i in spec.inputs:
                arrays[i.name] = arrays[i.name][:1].repeat(m) if i.name != wrt else None
            arrays[wrt] = np.array(EXTREMES)
        groups.append((params, arrays))
    return groups


def callable_elementwise(spec: Loss, wrt, f, rng, n: int, rtol, atol) -> GradientReport:
    d = truth(spec, wrt)
    symbols = [spec.symbol(nm) for nm in [*spec.input_names, *spec.parameters]]
    norm = spec.family == "norm"
    if norm:
        f_d1 = mp([S, *symbols], d)
        f_ell = mp(symbols, spec.element)
    else:
        f_truth = mp(symbols, d)
    worst, worst_at, used = 0.0, None, 0
    for params, arrays in _groups(spec, wrt, rng, n, norm):
        args = [arrays[i.name] for i in spec.inputs]
        try:
            got = np.asarray(f(*args, **params), dtype=np.float64)
        except Exception as exc:  # the user's code failed: that is the report
            return GradientReport(
                spec.name,
                wrt,
                False,
                "callable",
                f"the candidate raised {type(exc).__name__}: {exc}",
                counterexample={**{k: v.tolist() for k, v in arrays.items()}, **params},
            )
        if got.shape != args[0].shape:
            return GradientReport(
                spec.name,
                wrt,
                False,
                "callable",
                f"the candidate returned shape {got.shape} for inputs of shape {args[0].shape}",
            )
        with mpmath.workdps(DIGITS):
            pvals = [mpmath.mpf(float(params[k])) for k in spec.parameters]
            rows = [
                [mpmath.mpf(float(arrays[nm][k])) for nm in spec.input_names]
                for k in range(len(args[0]))
            ]
            if norm:
                ells = [evaluate(f_ell, [*row, *pvals]) for row in rows]
                if any(e is None for e in ells):
                    continue
                total = mpmath.fsum(ells)
            for k, row in enumerate(rows):
                if norm:
                    t = evaluate(f_d1, [total, *row, *pvals])
                else:
                    t = evaluate(f_truth, [*row, *pvals])
                if t is None:
                    continue
                used += 1
                g = got[k]
                err = callable_error(g, t, rtol, atol)
                if err > worst:
                    pt = {nm: float(arrays[nm][k]) for nm in spec.input_names}
                    worst, worst_at = err, dict(pt, **params, truth=float(t), candidate=float(g))
    ok = worst <= 1.0
    detail = (
        f"compared with the derivative of the definition in mpmath at {used} float64 points "
        f"(random, parameters sampled, and extremes): worst |f - ∂ℓ| / (rtol·|∂ℓ| + atol) = "
        f"{worst:.3g} (rtol={rtol:g}, atol={atol:g})"
    )
    return GradientReport(
        spec.name,
        wrt,
        ok,
        "callable",
        detail,
        points=used,
        worst_error=worst,
        counterexample=None if ok else worst_at,
    )
