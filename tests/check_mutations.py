"""Measure every mutation in tests/mutations.py against mpmath: each must be wrong somewhere.

    python tests/check_mutations.py [NAME ...]
    python tests/check_mutations.py --control [LOSS ...]   # the built-in kernels, same points
    python tests/check_mutations.py --careful              # the careful forms (must be within)

For every mutation and dtype (float32, float64) the script evaluates the naive implementation at
a grid of ordinary and extreme points inside the loss's declared domain (|x| from subnormals to
1e300, exact and soft targets, near-equal prediction/target pairs, small and large parameters)
and compares it with the plain mathematical definition of the loss, written out below in mpmath
independently of symloss (no symloss code is imported): evaluated at 60 and 120 digits, and at
more (up to 960) until two successive precisions round to the same float; a result that rounds
to 0 is confirmed at 240 and 480 digits, since a cancellation can give exactly 0 at every low
precision (1 - σ(700) at 120 digits).

Error: |got - ref| in ULP of the dtype, counted between consecutive floats; NaN or ±inf where
the reference is finite (or of the other sign) is an infinite error. Where both |got| and |ref|
are below tiny/ε (1e-292 in float64, 1e-31 in float32) the error is at most |got - ref|/tiny,
an absolute floor of the smallest normal number (the same convention as NUMERICS.md). A
mutation passes this check (is "genuinely wrong") when its worst error exceeds 8 ULP (values,
gradients) or 16 ULP (Hessians) in at least one dtype; the script exits with status 1 if any
does not. Points with non-finite inputs are not used: the mutations are about finite inputs.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import mpmath
import numpy as np
from mpmath import mp, mpf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutations import CAREFUL, MUTATIONS, Mutation  # noqa: E402

BOUNDS = {"value": 8.0, "grad": 8.0, "hess": 16.0}
PRECISIONS = (60, 120, 240, 480, 960)
ZERO_CHECK = 480  # a result that rounds to 0 must still be 0 at this many digits
DTYPES = (np.float32, np.float64)
C = 5  # classes per row for the class-axis losses

# -- the definitions, in mpmath -----------------------------------------------------------------


def softplus(u):
    return mp.log(1 + mp.exp(u))


def sigma(u):
    return 1 / (1 + mp.exp(-u))


def _smoothed(y, eps):
    return y * (1 - eps) + eps / 2


def sce(q, x, y, pos_weight=1.0, label_smoothing=0.0):
    w, s = mpf(pos_weight), _smoothed(y, mpf(label_smoothing))
    if q == "value":
        return w * s * softplus(-x) + (1 - s) * softplus(x)
    if q == "grad":
        return -w * s * sigma(-x) + (1 - s) * sigma(x)
    return (w * s + 1 - s) * sigma(x) * sigma(-x)


def balanced_sce(q, x, y, beta):
    b = mpf(beta)
    return b * y * softplus(-x) + (1 - b) * (1 - y) * softplus(x)


def sigmoid_focal(q, x, y, alpha=0.25, gamma=2.0):
    a = mpf(alpha)
    alpha_t = 1 if a < 0 else a * y + (1 - a) * (1 - y)
    one_minus_pt = y * sigma(-x) + (1 - y) * sigma(x)
    ce = y * softplus(-x) + (1 - y) * softplus(x)
    return alpha_t * one_minus_pt ** mpf(gamma) * ce


def log_cosh(q, x, t):
    r = x - t
    if q == "value":
        return mp.log(mp.cosh(r))
    if q == "grad":
        return mp.tanh(r)
    return 1 / mp.cosh(r) ** 2


def poisson_nll(q, x, y, full=False):
    if q == "grad":
        return mp.exp(x) - y
    out = mp.exp(x) - y * x
    if full and y > 1:
        out += y * mp.log(y) - y + mp.log(2 * mp.pi * y) / 2
    return out


def gaussian_nll(q, x, t, var, eps=1e-6, full=False):
    v = max(var, mpf(eps))
    out = (mp.log(v) + (x - t) ** 2 / v) / 2
    return out + (mp.log(2 * mp.pi) / 2 if full else 0)


def cauchy(q, x, t, c=1.0):
    r, c = x - t, mpf(c)
    if q == "value":
        return c**2 / 2 * mp.log(1 + (r / c) ** 2)
    return r / (1 + (r / c) ** 2)


def general_robust(q, x, t, alpha=1.0, c=1.0):
    z, a = ((x - t) / mpf(c)) ** 2, mpf(alpha)
    if a == 2:
        return z / 2
    if a == 0:
        return mp.log(z / 2 + 1)
    b = abs(a - 2)
    return b / a * ((z / b + 1) ** (a / 2) - 1)


def mse(q, x, t):
    return (x - t) ** 2 if q == "value" else 2 * (x - t)


def mae(q, x, t):
    return abs(x - t)


def huber(q, x, t, delta=1.0):
    r, d = abs(x - t), mpf(delta)
    return r**2 / 2 if r < d else d * (r - d / 2)


def smooth_l1(q, x, t, beta=1.0):
    r, b = abs(x - t), mpf(beta)
    return r**2 / (2 * b) if r < b else r - b / 2


def _weights(w, n):
    if w is None:
        return [mpf(1)] * n
    return [mpf(float(v)) for v in np.broadcast_to(np.asarray(w, np.float64), (n,))]


def softmax_ce(q, z, y, weight=None, label_smoothing=0.0):
    n, eps, w = len(z), mpf(label_smoothing), _weights(weight, len(z))
    log_partition = mp.log(mp.fsum(mp.exp(v) for v in z))
    if q == "value":
        nll = [log_partition - v for v in z]
        return (1 - eps) * w[y] * nll[y] + eps / n * mp.fsum(wc * v for wc, v in zip(w, nll))
    p = [mp.exp(v - log_partition) for v in z]
    total = mp.fsum(w)
    return [
        (1 - eps) * w[y] * (p[j] - (1 if j == y else 0)) + eps / n * (p[j] * total - w[j])
        for j in range(n)
    ]


def softmax_focal(q, z, y, alpha=0.25, gamma=2.0):
    a = _weights(alpha, len(z))
    log_partition = mp.log(mp.fsum(mp.exp(v) for v in z))
    # 1 - p_y = Σ_{c≠y} p_c, the definition's own form
    log_rest = mp.log(mp.fsum(mp.exp(v) for c, v in enumerate(z) if c != y))
    return -a[y] * mp.exp(mpf(gamma) * (log_rest - log_partition)) * (z[y] - log_partition)


def kl_divergence(q, pred, target, log_input=False):
    terms = []
    for qc, pc in zip(pred, target):
        if pc == 0:
            terms.append(mpf(0))  # 0·log 0 = 0
        else:
            log_q = qc if log_input else mp.log(qc)
            terms.append(pc * (mp.log(pc) - log_q))
    return mp.fsum(terms)


def dice(q, p, g, smooth=1.0, squared=False):
    s = mpf(smooth)
    if squared:
        size = mp.fsum(v**2 for v in p) + mp.fsum(v**2 for v in g)
    else:
        size = mp.fsum(p) + mp.fsum(g)
    if size + s == 0:
        return mpf(0)
    return 1 - (2 * mp.fsum(a * b for a, b in zip(p, g)) + s) / (size + s)


def tversky(q, p, g, alpha=0.3, beta=0.7, smooth=1.0):
    a, b, s = mpf(alpha), mpf(beta), mpf(smooth)
    if mp.fsum(p) + mp.fsum(g) + s == 0:
        return mpf(0)
    tp = mp.fsum(x * y for x, y in zip(p, g))
    fp = mp.fsum(x * (1 - y) for x, y in zip(p, g))
    fn = mp.fsum((1 - x) * y for x, y in zip(p, g))
    return 1 - (tp + s) / (tp + a * fp + b * fn + s)


def cosine_distance(q, x, y, eps=1e-8):
    e = mpf(eps)
    nx = max(mp.sqrt(mp.fsum(v**2 for v in x)), e)
    ny = max(mp.sqrt(mp.fsum(v**2 for v in y)), e)
    return 1 - mp.fsum(a * b for a, b in zip(x, y)) / (nx * ny)


REFERENCES = {
    "sigmoid_cross_entropy": sce,
    "balanced_sigmoid_cross_entropy": balanced_sce,
    "sigmoid_focal": sigmoid_focal,
    "log_cosh": log_cosh,
    "poisson_nll": poisson_nll,
    "gaussian_nll": gaussian_nll,
    "cauchy": cauchy,
    "general_robust": general_robust,
    "mse": mse,
    "mae": mae,
    "huber": huber,
    "smooth_l1": smooth_l1,
    "softmax_cross_entropy": softmax_ce,
    "softmax_focal": softmax_focal,
    "kl_divergence": kl_divergence,
    "dice": dice,
    "tversky": tversky,
    "cosine_distance": cosine_distance,
}
LABELLED = {"softmax_cross_entropy", "softmax_focal"}  # (logits, labels)
ROWWISE = {"kl_divergence", "dice", "tversky", "cosine_distance"}  # two (N, C) arrays

# -- rounding and ULPs --------------------------------------------------------------------------


def _round(v, dtype) -> float:
    if isinstance(v, mpmath.mpc) or mp.isnan(v):
        return math.nan
    with np.errstate(over="ignore"):
        return float(np.asarray(float(v)).astype(dtype))  # float() rounds to nearest


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def reference(thunk, dtype, cache: dict, key):
    """thunk() at escalating precision, rounded to dtype (a float or a list of floats);
    None where the precisions never agree."""
    if key in cache:
        return cache[key]
    prev, result = None, None
    for dps in PRECISIONS:
        with mp.workdps(dps):
            v = thunk()
            r = [_round(x, dtype) for x in v] if isinstance(v, list) else [_round(v, dtype)]
        if prev is not None and all(_same(a, b) for a, b in zip(r, prev)):
            if dps >= ZERO_CHECK or not any(x == 0 for x in r):
                result = r if isinstance(v, list) else r[0]
                break
        prev = r
    cache[key] = result
    return result


def _ordinal(x: np.ndarray) -> np.ndarray:
    itype = np.int64 if x.dtype == np.float64 else np.int32
    bits = x.view(itype).astype(np.int64)
    magnitude = bits & np.int64((1 << (63 if x.dtype == np.float64 else 31)) - 1)
    return np.where(bits < 0, -magnitude, magnitude)


def ulp(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    got, ref = np.asarray(got), np.asarray(ref, dtype=got.dtype)
    info = np.finfo(got.dtype)
    with np.errstate(all="ignore"):
        err = np.abs(_ordinal(got) - _ordinal(ref)).astype(np.float64)
        g, r = got.astype(np.float64), ref.astype(np.float64)
        tiny = np.maximum(np.abs(g), np.abs(r)) < float(info.tiny) / float(info.eps)
        err = np.where(tiny, np.minimum(err, np.abs(g - r) / float(info.tiny)), err)
    finite = np.isfinite(got) & np.isfinite(ref)
    same = (np.isnan(got) & np.isnan(ref)) | (np.isinf(got) & (got == ref))
    return np.where(finite, err, np.where(same, 0.0, np.inf))


# -- points -------------------------------------------------------------------------------------

MAGNITUDES = [
    1e-300,
    1e-200,
    1e-165,
    1e-30,
    1e-23,
    1e-10,
    1e-8,
    1e-3,
    0.5,
    1.0,
    2.0,
    10.0,
    20.0,
    40.0,
    100.0,
    700.0,
    1e3,
    1e4,
    1e10,
    1e20,
    1e30,
    1e100,
    1e154,
    1e200,
    1e300,
]


def extremes(dtype, lo=-math.inf, hi=math.inf) -> list[float]:
    info = np.finfo(dtype)
    mags = [float(info.smallest_subnormal), float(info.tiny)] + MAGNITUDES
    mags = [m for m in mags if float(info.smallest_subnormal) <= m <= float(info.max)]
    values = [0.0] + [s * m for m in mags for s in (1.0, -1.0)]
    values = [float(dtype(v)) for v in values]
    return sorted({v for v in values if lo <= v <= hi})


def _fits(v, dtype) -> bool:
    return v is None or isinstance(v, bool) or abs(v) <= float(np.finfo(dtype).max)


def elementwise_points(loss: str, dtype, rng) -> list[tuple]:
    """(x, t) or (x, t, var) tuples, exact in dtype."""
    lo, hi = (-1e15, 1e15) if loss == "general_robust" else (-math.inf, math.inf)
    xs = extremes(dtype, lo, hi)
    xs += (
        rng.normal(0, 3, 12).tolist()
        + (rng.choice([-1, 1], 12) * 10 ** rng.uniform(-8, 4, 12)).tolist()
    )
    xs = [float(dtype(x)) for x in xs]
    if loss in ("sigmoid_cross_entropy", "balanced_sigmoid_cross_entropy", "sigmoid_focal"):
        ts = [0.0, 1.0, 0.5, 0.3, 0.7, 1e-8, 1 - 2.0**-20]
        return [(x, float(dtype(t))) for x in xs for t in ts]
    if loss == "poisson_nll":
        ts = [0.0, 0.5, 1.0, 2.0, 3.0, 10.0, 1e4, 1e10, 1e30, 1e300]
        ts = [float(dtype(t)) for t in ts if _fits(t, dtype)]
        pts = [(x, t) for x in xs for t in ts]
        # near the Poisson mode x = log y, where e^x - y·x and Stirling's term cancel
        for t in ts:
            if t > 1:
                for d in (0.0, 1e-3, -1e-3, 0.1):
                    pts.append((float(dtype(math.log(t) + d)), t))
        return pts
    ts = [0.0, 1.0, -1.0, 0.5, 2.5, -1e-300, 1e4, -1e30, 1e300]
    ts = [float(dtype(t)) for t in ts if lo <= t <= hi and _fits(t, dtype)]
    pts = [(x, t) for x in xs for t in ts]
    pts += [(x, x) for x in xs]
    pts += [(x, float(dtype(x * (1 - 2.0**-10)))) for x in xs]  # near-equal pairs
    pts += [(x, float(-dtype(x))) for x in xs]  # r = 2x
    if loss == "gaussian_nll":
        variances = [0.0, 1e-8, 1e-6, 1.0, 1e10, 1e100, 1e300]
        variances = [float(dtype(v)) for v in variances if _fits(v, dtype)]
        return [(x, t, v) for (x, t) in pts for v in variances]
    return pts


PARAMS = {
    "sigmoid_cross_entropy": [
        {},
        {"pos_weight": 0.0},
        {"pos_weight": 3.7},
        {"pos_weight": 1e-30},
        {"label_smoothing": 0.1},
        {"label_smoothing": 1.0},
    ],
    "balanced_sigmoid_cross_entropy": [{"beta": 0.3}, {"beta": 0.0}, {"beta": 1.0}],
    "sigmoid_focal": [
        {},
        {"alpha": -1.0},
        {"alpha": 1.0},
        {"gamma": 0.0},
        {"gamma": 0.5},
        {"gamma": 5.0},
    ],
    "log_cosh": [{}],
    "poisson_nll": [{"full": False}, {"full": True}],
    "gaussian_nll": [{}, {"eps": 1e-30}, {"full": True}],
    "cauchy": [{}, {"c": 1e-3}, {"c": 1e5}],
    "general_robust": [
        {},
        {"alpha": 2.0},
        {"alpha": 0.0},
        {"alpha": -2.0},
        {"alpha": 1.5},
        {"alpha": -50.0},
        {"alpha": 0.5, "c": 1e-3},
        {"alpha": 1.0, "c": 10.0},
    ],
    "mse": [{}],
    "mae": [{}],
    "huber": [{}, {"delta": 1e-3}, {"delta": 5.0}, {"delta": 1e10}],
    "smooth_l1": [
        {},
        {"beta": 0.0},
        {"beta": 1e-3},
        {"beta": 5.0},
        {"beta": 1e30},
        {"beta": 1e300},
    ],
    "softmax_cross_entropy": [
        {},
        {"weight": "random"},
        {"label_smoothing": 0.1},
        {"label_smoothing": 1.0},
    ],
    "softmax_focal": [{}, {"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 5.0}, {"alpha": "random"}],
    "kl_divergence": [{"log_input": False}, {"log_input": True}],
    "dice": [{}, {"smooth": 0.0}, {"smooth": 1e-5}, {"squared": True}],
    "tversky": [{}, {"smooth": 0.0}, {"alpha": 0.5, "beta": 0.5}, {"alpha": 5.0, "beta": 0.0}],
    "cosine_distance": [{}, {"eps": 1e-30}],
}


def logit_rows(dtype, rng) -> np.ndarray:
    rows = [rng.normal(0, 3, C) for _ in range(8)]
    big = 1e19 if dtype == np.float32 else 1e30
    for s in (10.0, 30.0, 100.0, 1e3, 1e4, big):
        rows += [np.r_[s, np.zeros(C - 1)], np.r_[-s, np.zeros(C - 1)]]
        rows += [np.full(C, s), np.linspace(-s, s, C)]
    rows += [np.full(C, 1e-30), np.zeros(C), np.r_[1e-30, -1e-30, 0, 2e-30, 0]]
    return np.array(rows, dtype=np.float64).astype(dtype)


def _softmax64(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def class_points(loss: str, dtype, rng):
    """(first (N, C), second: labels (N,) or (N, C)) in dtype."""
    z = logit_rows(dtype, rng)
    if loss in LABELLED:  # each row with the dominant class as the label, and with another
        n = len(z)
        z2 = np.concatenate([z, z])
        y = np.r_[np.zeros(n, np.int64), (np.arange(n) % (C - 1)) + 1]
        return z2, y
    probs = _softmax64(z.astype(np.float64)).astype(dtype)  # exact 0s and 1s, 1e-300, ...
    onehot = np.eye(C, dtype=dtype)[np.arange(len(z)) % C]
    dirichlet = rng.dirichlet(np.ones(C), len(z)).astype(dtype)
    if loss == "kl_divergence":
        first = np.concatenate([probs, probs, probs, dirichlet])
        second = np.concatenate([onehot, dirichlet, probs, probs])
        return first, second
    if loss in ("dice", "tversky"):
        mask = (rng.random((len(z), C)) < 0.5).astype(dtype)
        dominant = np.eye(C, dtype=dtype)[np.argmax(probs, axis=1)]
        first = np.concatenate([probs, probs, probs, dirichlet, np.zeros_like(probs)])
        second = np.concatenate([onehot, dominant, mask, dirichlet, np.zeros_like(probs)])
        return first, second
    # cosine distance: vectors at many scales, parallel, nearly parallel, random
    x = rng.normal(0, 1, (6, C))
    scales = [1e-30, 1e-8, 1.0, 1e10, 1e20, 1e30, 1e100, 1e200]
    scales = [s for s in scales if s * 10 < float(np.finfo(dtype).max)]
    first, second = [], []
    for s in scales:
        a = (x * s).astype(dtype)
        first += [a, a, a, a]
        second += [a, (a * (1 + 2.0**-12)).astype(dtype), (x[::-1] * s).astype(dtype), -a]
    return np.concatenate(first), np.concatenate(second)


def concrete(params: dict, dtype, rng) -> dict:
    out = {}
    for k, v in params.items():
        if v == "random":
            v = rng.uniform(0.1, 3.0, C).astype(dtype)
        out[k] = v
    return out


# -- the measurement ----------------------------------------------------------------------------


def _mp(v):
    return mpf(float(v))


def _param_args(params: dict) -> dict:
    return {k: (v if isinstance(v, bool | np.ndarray) else float(v)) for k, v in params.items()}


@dataclass
class Point:
    """One evaluation: the inputs (floats, or rows as lists), what the mutation returned and
    the reference, rounded to the dtype."""

    inputs: tuple
    params: dict  # as given to the reference
    shown: dict  # the parameters as given to the implementation, for the report
    got: np.ndarray  # 1-d: one value, or one row of gradient components
    ref: np.ndarray
    raw: float  # worst forward error of the components, ULP


def _mp_inputs(inputs: tuple) -> tuple:
    return tuple(
        int(v) if isinstance(v, int) else [_mp(u) for u in v] if isinstance(v, list) else _mp(v)
        for v in inputs
    )


def _key(m, dtype, inputs, params) -> tuple:
    flat = tuple(tuple(v) if isinstance(v, list) else v for v in inputs)
    shown = tuple((k, tuple(np.ravel(v).tolist())) for k, v in sorted(params.items()))
    return (m.loss, m.quantity, np.dtype(dtype).name, flat, shown)


def _ref_at(m, dtype, inputs, params, cache):
    fn = REFERENCES[m.loss]
    args = _mp_inputs(inputs)
    return reference(
        lambda: fn(m.quantity, *args, **params), dtype, cache, _key(m, dtype, inputs, params)
    )


def points(m, dtype, rng) -> list[Point]:
    """Every point of every parameter set, evaluated by the mutation and the reference."""
    out, cache = [], points.cache
    for params in PARAMS[m.loss]:
        if not all(_fits(v, dtype) for v in params.values() if not isinstance(v, str)):
            continue
        call = concrete(params, dtype, rng)
        ref_params = _param_args(call)
        if m.loss in LABELLED or m.loss in ROWWISE:
            first, second = class_points(m.loss, dtype, rng)
            with np.errstate(all="ignore"):
                got = np.asarray(m.impl(first, second, **call))
            rows = [
                (first[i].tolist(), int(second[i]) if m.loss in LABELLED else second[i].tolist())
                for i in range(len(first))
            ]
        else:
            pts = elementwise_points(m.loss, dtype, rng)
            cols = [np.asarray(c, dtype) for c in zip(*pts)]
            with np.errstate(all="ignore"):
                got = np.asarray(m.impl(*cols, **call))
            rows = [tuple(float(c[i]) for c in cols) for i in range(len(pts))]
        if got.dtype != np.dtype(dtype):
            points.dtype_problems.add((m.name, np.dtype(dtype).name, str(got.dtype)))
        got = got.astype(dtype)
        for i, inputs in enumerate(rows):
            ref = _ref_at(m, dtype, inputs, ref_params, cache)
            if ref is None:
                points.unresolved += 1
                continue
            g, r = np.atleast_1d(got[i]), np.atleast_1d(np.asarray(ref, dtype))
            raw = float(np.max(ulp(g, r)))
            out.append(Point(inputs, ref_params, _show(call), g, r, raw))
    return out


points.cache = {}
points.dtype_problems = set()
points.unresolved = 0


def _differentiable(loss: str) -> list[int]:
    """Positions of the inputs a caller's rounding may perturb (predictions, logits)."""
    return [0, 1] if loss == "cosine_distance" else [0]


def _sensitivity(m, p: Point, component: int) -> float:
    """Σ |v·∂f/∂v| over the differentiable inputs v (every element of a row), at 60 digits by
    central differences of the reference: what rounding those inputs by one part in 1/ε
    moves the quantity by."""
    fn = REFERENCES[m.loss]
    total = mpf(0)
    with mp.workdps(60):
        args = list(_mp_inputs(p.inputs))
        for pos in _differentiable(m.loss):
            slots = range(len(args[pos])) if isinstance(args[pos], list) else [None]
            for j in slots:
                v = args[pos] if j is None else args[pos][j]
                if v == 0:
                    continue

                def f(u, pos=pos, j=j):
                    a = list(args)
                    if j is None:
                        a[pos] = u
                    else:
                        a[pos] = list(a[pos])
                        a[pos][j] = u
                    out = fn(m.quantity, *a, **p.params)
                    return out[component] if isinstance(out, list) else out

                h = abs(v) * mpf(10) ** -25
                d = (f(v + h) - f(v - h)) / (2 * h)
                total += abs(v * d)
    return float(total)


def _step(x: float, k: int, dtype) -> float:
    v = np.asarray(x, dtype)
    for _ in range(abs(k)):
        v = np.nextafter(v, dtype(math.copysign(math.inf, k)))
    return float(v)


PERTURBATION_ULP = 4


def relaxed(m, p: Point, dtype, cache) -> float:
    """The error left after the allowances a forward-error gate may make, through the
    differentiable inputs only (NUMERICS.md): conditioning, |got - ref|/(ε·Σ|v·∂f/∂v|), and
    (elementwise) the reference at the prediction moved by ±4 ULP. NaN or ±inf against a
    finite reference (or the reverse) is never excused."""
    if math.isinf(p.raw):
        return math.inf
    eps = float(np.finfo(dtype).eps)
    errs = ulp(p.got, p.ref)
    worst = 0.0
    for k in range(len(errs)):
        e = float(errs[k])
        if e > BOUNDS[m.quantity]:
            sens = _sensitivity(m, p, k)
            if sens > 0 and math.isfinite(sens):
                e = min(e, abs(float(p.got[k]) - float(p.ref[k])) / (eps * sens))
        if e > BOUNDS[m.quantity] and not isinstance(p.inputs[0], list):
            for step in (-PERTURBATION_ULP, PERTURBATION_ULP):
                moved = (_step(p.inputs[0], step, dtype), *p.inputs[1:])
                r = _ref_at(m, dtype, moved, p.params, cache)
                if r is not None:
                    moved_err = ulp(p.got[k : k + 1], np.asarray([r], dtype))
                    e = min(e, float(moved_err[0]))
        worst = max(worst, e)
    return worst


def worst_relaxed(m, pts: list[Point], dtype, cache) -> tuple[float, Point | None]:
    """The largest relaxed error over pts (relaxed ≤ raw: points are taken in decreasing raw
    error until no remaining point can beat the best)."""
    best, at = -1.0, None
    for p in sorted(pts, key=lambda p: p.raw, reverse=True):
        if p.raw <= best:
            break
        r = relaxed(m, p, dtype, cache)
        if r > best or at is None:
            best, at = r, p
    return best, at


def measure(m, dtype, seed: int = 0, compare: bool = True):
    """(worst relaxed error, where; the worst among points where the mutation's output is
    finite; the worst among points where the built-in kernel is within the bound; the worst
    raw forward error)."""
    pts = points(m, dtype, np.random.default_rng(seed))
    cache = points.cache
    worst = worst_relaxed(m, pts, dtype, cache)
    finite = [p for p in pts if np.all(np.isfinite(p.got))]
    worst_finite = worst_relaxed(m, finite, dtype, cache)
    worst_vs_builtin = (None, None)
    if compare:  # the same points (same seed) through the built-in kernel
        b = Mutation("built-in", m.loss, m.quantity, _builtin(m.loss, m.quantity), "symloss")
        bpts = points(b, dtype, np.random.default_rng(seed))
        assert [p.inputs for p in bpts] == [p.inputs for p in pts]
        bound = BOUNDS[m.quantity]
        right = [
            p for p, q in zip(pts, bpts) if q.raw <= bound or relaxed(b, q, dtype, cache) <= bound
        ]
        worst_vs_builtin = worst_relaxed(m, right, dtype, cache)
    raw = max((p.raw for p in pts), default=0.0)
    return worst, worst_finite, worst_vs_builtin, raw


@functools.cache
def _builtin(loss: str, quantity: str):
    return builtin(loss, quantity)


def _where(p: Point | None) -> str:
    if p is None:
        return "-"
    return f"inputs={list(p.inputs)} params={p.shown} got={p.got.tolist()} ref={p.ref.tolist()}"


def _show(call: dict) -> dict:
    return {
        k: (np.round(v, 3).tolist() if isinstance(v, np.ndarray) else v) for k, v in call.items()
    }


def builtin(loss: str, quantity: str):
    """The built-in kernel's quantity as a callable (for --control only: a subject, never the
    reference)."""
    import symloss

    kernel = symloss.loss(loss)

    def f(*inputs, **params):
        if quantity == "value":
            return kernel(*inputs, reduction="none", **params)
        if quantity == "grad":
            return kernel.value_and_grad(*inputs, reduction="none", **params)[1]
        return kernel.grad_hess(*inputs, **params)[1]

    return f


def controls() -> list[Mutation]:
    """The built-in kernels for every (loss, quantity) the suite mutates: these should stay
    within the bounds, which checks the references and the points above."""
    seen = dict.fromkeys((m.loss, m.quantity) for m in MUTATIONS)
    return [Mutation(f"built-in {q}", loss, q, builtin(loss, q), "symloss") for loss, q in seen]


def careful() -> list[Mutation]:
    """The careful implementations of tests/mutations.py, one subject per quantity."""
    return [
        Mutation(f"careful {c.name} {q}", c.loss, q, f, "careful")
        for c in CAREFUL
        for q, f in c.impls.items()
    ]


def main(argv: list[str]) -> int:
    control = "--control" in argv or "--careful" in argv
    subjects = careful() if "--careful" in argv else controls()
    argv = [a for a in argv if a not in ("--control", "--careful")]
    if control:
        chosen = [m for m in subjects if not argv or m.loss in argv]
    else:
        chosen = [m for m in MUTATIONS if not argv or m.name in argv]
    problems = []
    title = "subject" if control else "mutation"
    print(
        f"{title:38s} {'loss':31s} {'q':5s} {'float32':>9s} {'float64':>9s} "
        f"{'f32 b.ok':>9s} {'f64 b.ok':>9s}  verdict"
    )
    details = []
    for m in chosen:
        errs = {np.dtype(dt).name: measure(m, dt, compare=not control) for dt in DTYPES}
        bound = BOUNDS[m.quantity]
        wrong = any(e[0][0] > bound for e in errs.values())
        if control:
            verdict = "over the bound" if wrong else "within (ok)"
            if wrong:
                problems.append(f"{m.name} ({m.loss}) exceeds {bound:g} ULP")
        else:
            verdict = "wrong (ok)" if wrong else "NOT WRONG"
            if not wrong:
                problems.append(f"{m.name}: within {bound:g} ULP everywhere")
        f32, f64 = errs["float32"][0][0], errs["float64"][0][0]
        b32, b64 = ("-" if errs[dt][2][0] is None else f"{errs[dt][2][0]:.3g}" for dt in errs)
        name = m.name
        print(
            f"{name:38s} {m.loss:31s} {m.quantity:5s} {f32:9.3g} {f64:9.3g} {b32:>9s} {b64:>9s}"
            f"  {verdict}",
            flush=True,
        )
        details.append((name, m, errs))
    print("\nb.ok: the worst error among the points where the built-in kernel is within its bound.")
    print("\nWorst error (after the conditioning and ±4-ULP allowances) and where; then the")
    print("worst among the points where the output is finite; among the points where the")
    print("built-in kernel is within the bound (mutations only); the raw forward error.")
    for name, m, errs in details:
        print(f"\n{name} [{m.loss} {m.quantity}]")
        for dt, ((e, p), (ef, pf), (eb, pb), raw) in errs.items():
            print(f"  {dt}: {e:.3g} ULP at {_where(p)}")
            if pf is not None and pf is not p:
                print(f"  {dt} finite output: {ef:.3g} ULP at {_where(pf)}")
            if eb is not None:
                print(f"  {dt} where the built-in is right: {eb:.3g} ULP at {_where(pb)}")
            print(f"  {dt} raw forward error: {raw:.3g} ULP")
    for name, dt, got in sorted(points.dtype_problems):
        problems.append(f"{name}: {got} output for {dt} inputs")
    if points.unresolved:
        print(f"\n{points.unresolved} points skipped: the precisions up to 960 digits disagree")
    if problems:
        print("\nPROBLEMS:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
