"""Norms L = g(Σ w·ℓ) (l1, l2): value, gradient g'(S)·w·ℓ' and Hessian diagonal
g''(S)·(w·ℓ')² + g'(S)·w·ℓ'' against S summed exactly in mpmath, judged by the error model."""

from __future__ import annotations

import mpmath
import numpy as np

from ..definition.spec import Loss
from .elementwise import reference, row_of
from .model import assess, underflow_measure
from .reference import derivative, mp_function, plain, rounded
from .sampling import norm_cases
from .ulp import step, ulp_error

__all__ = ["verify_norm"]


def verify_norm(loss: Loss, source, dtypes=("float32", "float64"), seed: int = 0):
    rng = np.random.default_rng(seed)
    ref = reference(loss, ())
    (s,) = loss.outer.free_symbols
    outer = [mp_function([s], derivative(plain(loss.outer), s, k)) for k in range(3)]
    rows: dict = {}
    kernel = source.kernel
    for dtype in dtypes:
        dt = np.dtype(dtype).type
        for label, p, t, w, axis in norm_cases(dt, rng):
            value, grad, hess, hess_terms, sides = _norm_reference(ref, outer, p, t, w, axis, dt)
            got_v, got_g = kernel.value_and_grad(p, t, weight=w, axis=axis)
            got_v2 = kernel(p, t, weight=w, axis=axis)
            got_h = kernel.grad_hess(p, t)[1] if w is None and axis is None else None
            for q, outs, r in (
                ("value", [got_v, got_v2], value),
                ("grad", [got_g], grad),
                ("hess", [got_h] if got_h is not None else [], hess),
            ):
                row = row_of(rows, loss.name, q, dt)
                want = np.asarray(r, dt).ravel()
                defined = ~np.isnan(want) | bool(np.isnan(p).any())
                row.drop("undefined", int((~defined).sum()) * len(outs))
                for out in outs:
                    g = np.asarray(out, dt).ravel()[defined]
                    wd = want[defined]
                    exceptions = [("underflow", underflow_measure(g, wd))]
                    if q == "grad":  # one-sided gradients where an element sits at a kink
                        lo, hi = (np.asarray(a, np.float64).ravel()[defined] for a in sides)
                        exceptions.append(
                            (
                                "kink",
                                lambda i, g=g, lo=lo, hi=hi: (
                                    0.0
                                    if min(lo[i], hi[i]) <= g[i] <= max(lo[i], hi[i])
                                    and lo[i] != hi[i]
                                    else None
                                ),
                            )
                        )
                    if q == "hess":
                        terms = hess_terms.ravel()[defined]
                        diff = np.abs(g.astype(np.float64) - wd.astype(np.float64))
                        scaled = diff / (float(np.finfo(dt).eps) * terms)
                        exceptions.append(
                            (
                                "cancelling terms",
                                lambda i, s=scaled: float(s[i]) if np.isfinite(s[i]) else None,
                            )
                        )
                    assess(
                        row,
                        ulp_error(g, wd),
                        lambda i, label=label: {"case": label, "index": int(i)},
                        exceptions=exceptions,
                    )
    return list(rows.values())


def _norm_reference(ref, outer, p, t, w, axis, dtype):
    """Exact S per reduced slice (mpmath fsum at 120 digits), then g, g'·w·ℓ' and the diagonal
    g''·(w·ℓ')² + g'·w·ℓ'', rounded to ``dtype``."""
    t = np.broadcast_to(t, p.shape)
    w = np.ones(p.shape) if w is None else np.broadcast_to(w, p.shape)
    ax = None if axis is None else axis % p.ndim
    last = p.shape if ax is None else np.moveaxis(p, ax, -1).shape

    def slices(a):
        return a.reshape(1, -1) if ax is None else np.moveaxis(a, ax, -1).reshape(-1, last[-1])

    def back(a):
        return a.reshape(p.shape) if ax is None else np.moveaxis(a.reshape(last), -1, ax)

    P, T, W = slices(p), slices(t), slices(w)
    values, G, H = np.empty(len(P)), np.empty(P.shape), np.empty(P.shape)
    Hmag = np.empty(P.shape)
    left, right = np.empty(P.shape), np.empty(P.shape)
    f = ref.functions
    with mpmath.workdps(120):
        for j, (pj, tj, wj) in enumerate(zip(P, T, W)):
            args = [(mpmath.mpf(float(a)), mpmath.mpf(float(b))) for a, b in zip(pj, tj)]
            ws = [mpmath.mpf(float(x)) for x in wj]
            S = mpmath.fsum(wi * f["value"](*ab) for wi, ab in zip(ws, args))
            g0, g1, g2 = (_at(o, S) for o in outer)
            values[j] = rounded(g0, dtype)
            for i, (wi, ab) in enumerate(zip(ws, args)):
                wd = wi * f["grad"](*ab)
                G[j, i] = rounded(g1 * wd, dtype)
                for out, k in ((left, -1), (right, 1)):  # the gradient one ULP to either side
                    moved = (mpmath.mpf(step(float(ab[0]), k, dtype)), ab[1])
                    out[j, i] = rounded(g1 * wi * f["grad"](*moved), dtype)
                a, b = g2 * wd**2, g1 * wi * f["hess"](*ab)
                H[j, i] = rounded(a + b, dtype)
                Hmag[j, i] = float(abs(a) + abs(b))
    value = values[0] if ax is None else values.reshape(last[:-1])
    return value, back(G), back(H), back(Hmag), (back(left), back(right))


def _at(f, s):
    """g^(k)(S), NaN where it diverges (the gradient of √S at S = 0 is undefined)."""
    try:
        return f(s)
    except ZeroDivisionError:
        return mpmath.nan
