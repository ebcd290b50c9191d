"""Elementwise losses: every output of a kernel (or of an implementation under test) at every
sampled point against the exact value, gradient and Hessian, judged by the error model."""

from __future__ import annotations

import itertools
import math
from functools import cache

import mpmath
import numpy as np

from ..definition.spec import Loss
from .model import (
    BOUNDS,
    Row,
    assess,
    between_branches,
    perturbation_search,
    underflow_measure,
)
from .reference import Reference
from .sampling import param_sets, points
from .ulp import step, ulp_error

__all__ = ["verify_elementwise", "reference"]

QUANTITIES = ("value", "grad", "hess")


@cache
def reference(loss: Loss, static: tuple) -> Reference:
    """One reference per loss and static switches, shared by every kernel and dtype checked."""
    return Reference(loss, dict(static))


def verify_elementwise(loss: Loss, source, dtypes, seed: int, samples: int = 40) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows: dict = {}
    statics = [k for k, p in loss.parameters.items() if p.static]
    for values in itertools.product(*(loss.parameters[k].values for k in statics)):
        static = dict(zip(statics, values))
        ref = reference(loss, tuple(sorted(static.items())))
        for params in param_sets(loss, rng):
            for dtype in dtypes:
                dt = np.dtype(dtype).type
                at = points(loss, params, dt, rng, samples)
                _check_points(loss, source, ref, params, static, dt, at, rows, rng)
    return list(rows.values())


def row_of(rows: dict, loss: str, q: str, dtype) -> Row:
    name = np.dtype(dtype).name
    return rows.setdefault((loss, q, name), Row(loss, q, name, BOUNDS[q]))


def line_along(ref, q: str, at: dict, direction: dict[str, int], dtype):
    """k ↦ (exact result, branch) at the inputs moved by k·direction ULP."""

    def point(k: int) -> tuple:
        moved = dict(at)
        for nm, s in direction.items():
            moved[nm] = step(at[nm], k * s, dtype)
        return ref.evaluate(q, moved, dtype), ref.branch(q, moved)

    return point


def perturbation_error(ref, q: str, got: float, at: dict, names: list[str], dtype) -> float:
    """The error model's search (``model.perturbation_search``) at the point ``at``."""
    return perturbation_search(
        got, lambda direction: line_along(ref, q, at, direction, dtype), names, BOUNDS[q], dtype
    )


def _check_points(loss, source, ref: Reference, params, static, dtype, at, rows, rng):
    n = len(next(iter(at.values())))
    call_params = {**params, **static}
    args = [at[i.name] for i in loss.inputs]
    values = {k: np.full(n, v, dtype) for k, v in params.items() if v is not None}
    for k, p in loss.parameters.items():  # half the calls read broadcast parameters per element
        if p.broadcast and rng.random() < 0.5:
            lo, hi = float(p.domain.inf), float(p.domain.sup)
            hi = hi if hi < math.inf else lo + 4.0
            arr = np.asarray(lo + (hi - lo) * rng.random(n), dtype)
            values[k] = arr
            call_params[k] = arr
    if any(p.default is None and params.get(k) is None for k, p in loss.parameters.items()):
        return  # estimated parameters are checked through explicit values
    try:
        got = source.outputs(args, call_params, dtype, rng)
    except NotImplementedError:
        for q in source.quantities:
            row_of(rows, loss.name, q, dtype).drop("declined", n)
        return
    names = [i.name for i in loss.inputs] + list(values)
    point = [
        {nm: float(at[nm][j]) if nm in at else float(values[nm][j]) for nm in names}
        for j in range(n)
    ]
    nan_in = np.zeros(n, bool)
    inf_in = np.zeros(n, bool)
    for a in [*args, *values.values()]:
        nan_in |= np.isnan(a)
        inf_in |= np.isinf(a)
    for q, outs in got.items():
        if q == "sum":
            continue
        row = row_of(rows, loss.name, q, dtype)
        refs = [ref.evaluate(q, point[j], dtype) for j in range(n)]
        known = np.array([r is not None for r in refs])
        want = np.array([math.nan if r is None else r for r in refs], dtype)
        undefined = known & np.isnan(want) & ~nan_in
        keep = np.flatnonzero(known & ~undefined)
        for out in outs:
            out = np.asarray(out, dtype).reshape(-1)
            row.drop("unconverged", int((~known).sum()))
            row.drop("undefined", int(undefined.sum()))
            g, r = out[keep], want[keep]
            under = underflow_measure(g, r)

            def perturbed(i, g=g, q=q, keep=keep):
                differentiable = list(loss.differentiable)
                return perturbation_error(
                    ref, q, float(g[i]), point[keep[i]], differentiable, dtype
                )

            def infinite_input(i, g=g, q=q, keep=keep):
                j = keep[i]
                if not (inf_in[j] and np.isnan(g[i])):
                    return None
                return 0.0 if ref.literal(q, point[j]) else None

            def rounded_residual(i, g=g, q=q, keep=keep):
                if ref.residual is None:
                    return None
                x, y = ref.residual
                at = dict(point[keep[i]])
                r = np.asarray(at[x], dtype) - np.asarray(at[y], dtype)  # as the kernel forms it
                if not np.isfinite(r):
                    return None
                at[x] = _exact_sum(float(r), at[y])
                v = ref.evaluate(q, at, dtype)
                return (
                    None if v is None else float(ulp_error(g[i : i + 1], np.asarray([v], dtype))[0])
                )

            def kink(i, g=g, q=q, keep=keep):
                first = loss.differentiable[0]
                return between_branches(
                    float(g[i]), line_along(ref, q, point[keep[i]], {first: 1}, dtype)
                )

            def where(i, g=g, r=r, keep=keep):
                return {**point[keep[i]], **static, "got": float(g[i]), "ref": float(r[i])}

            assess(
                row,
                ulp_error(g, r),
                where,
                perturbed=perturbed,
                exceptions=[
                    ("underflow", under),
                    ("kink", kink),
                    ("infinite input", infinite_input),
                    ("rounded residual", rounded_residual),
                ],
            )
    if "sum" in got:
        _check_sums(loss, got["sum"], ref, point, args, values, call_params, dtype, rows, rng)


def _check_sums(loss, reduce, ref, point, args, values, call_params, dtype, rows, rng):
    """Σ w·ℓ and the mean over the points where every value is finite, against math.fsum."""
    n = len(point)
    refs = np.array([ref.evaluate("value", p, dtype) for p in point], dtype=object)
    refs = np.array([math.nan if r is None else r for r in refs], np.float64)
    # sums are about accumulation: over the points with finite inputs and values
    ok = np.isfinite(refs) & np.array([all(math.isfinite(v) for v in p.values()) for p in point])
    if ok.sum() < 2:
        return
    w = np.asarray(rng.choice([0.5, 1.0, 2.0, 4.0], n), dtype)  # exact scalings
    sub_args = [a[ok] for a in args]
    sub_params = {k: (v[ok] if isinstance(v, np.ndarray) else v) for k, v in call_params.items()}
    got_sum, got_mean = reduce(sub_args, sub_params, w[ok])
    exact = fsum(float(wi) * float(ri) for wi, ri in zip(w[ok], refs[ok]))
    exact_mean = fsum(float(r) for r in refs[ok]) / ok.sum()
    row = row_of(rows, loss.name, "sum", dtype)
    for value, target, weights in ((got_sum, exact, w[ok]), (got_mean, exact_mean, None)):
        slack = (
            ok.sum()
            * np.finfo(np.float64).eps
            * fsum(
                abs(float(x) * (1.0 if weights is None else float(wi)))
                for x, wi in zip(refs[ok], weights if weights is not None else refs[ok])
            )
        )
        if weights is None:
            slack /= ok.sum()
        diff = abs(float(value) - target)
        assess(
            row,
            ulp_error(np.asarray([value], dtype), np.asarray([target], dtype)),
            lambda i, target=target, value=value: {"got": float(value), "ref": target},
            exceptions=[
                ("summation", lambda i, diff=diff, slack=slack: 0.0 if diff <= slack else None)
            ],
        )


def _exact_sum(a: float, b: float):
    """a + b exactly, as an mpmath number (the input whose exact residual is a)."""
    return mpmath.fadd(a, b, exact=True)


def fsum(xs) -> float:
    """Correctly rounded sum; ±inf when it overflows (mpmath carries the exact sum)."""
    xs = list(xs)
    try:
        return math.fsum(xs)
    except OverflowError:
        return float(mpmath.fsum(mpmath.mpf(x) for x in xs))
