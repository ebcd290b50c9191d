"""Sequence-loss kernels against independent high-precision references.

* CTC: the sum over every alignment (all C^T paths whose collapse is the target), in mpmath;
  the gradient from the same enumeration, ∂(-log P)/∂z_t(k) = p_t(k) - P(π_t = k)/P.
* soft edit distance: the recurrence evaluated in mpmath, its gradient by mpmath.diff.
* edit distance: the recurrence in exact rational arithmetic.

Errors are in ULPs of the dtype. A CTC or soft-edit gradient component is a difference of
numbers in [0, 1] (p_t(k) minus an occupancy), so it is also measured against ε (an absolute
error of a few ε is the limit of any implementation there); the smaller of the two counts.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np

from .verify import BOUNDS, Row, ulp_error

__all__ = ["verify_sequence", "ctc_reference", "soft_edit_reference"]

DPS = 40


def _log_softmax_mp(row):
    m = max(row)
    s = mpmath.fsum(mpmath.exp(v - m) for v in row)
    return [v - m - mpmath.log(s) for v in row]


def _collapse(path, blank):
    out, last = [], None
    for k in path:
        if k != last and k != blank:
            out.append(k)
        last = k
    return out


def ctc_reference(z: np.ndarray, target: list[int], blank: int = 0):
    """(-log P, ∂/∂z) for one sample, z (T, C), by enumerating all alignments in mpmath."""
    with mpmath.workdps(DPS):
        lp = [_log_softmax_mp([mpmath.mpf(float(v)) for v in row]) for row in z]
        n_time, n_classes = z.shape
        total = mpmath.mpf(0)
        at = [[mpmath.mpf(0)] * n_classes for _ in range(n_time)]
        for path in itertools.product(range(n_classes), repeat=n_time):
            if _collapse(path, blank) != list(target):
                continue
            p = mpmath.exp(mpmath.fsum(lp[t][k] for t, k in enumerate(path)))
            total += p
            for t, k in enumerate(path):
                at[t][k] += p
        if total == 0:
            return math.inf, None
        grad = [
            [mpmath.exp(lp[t][k]) - at[t][k] / total for k in range(n_classes)]
            for t in range(n_time)
        ]
        return -mpmath.log(total), grad


def soft_edit_reference(z: np.ndarray, target: list[int], gamma: float):
    """(D[T, S], ∂/∂z) in mpmath: the recurrence itself, differentiated numerically."""

    def value(flat):
        lp = [
            _log_softmax_mp(flat[t * z.shape[1] : (t + 1) * z.shape[1]]) for t in range(z.shape[0])
        ]
        g = mpmath.mpf(gamma)
        n_time, n_target = z.shape[0], len(target)
        D = [
            [mpmath.mpf(i + j) if i == 0 or j == 0 else None for j in range(n_target + 1)]
            for i in range(n_time + 1)
        ]
        for i in range(1, n_time + 1):
            for j in range(1, n_target + 1):
                costs = (
                    D[i - 1][j] + 1,
                    D[i][j - 1] + 1,
                    D[i - 1][j - 1] + 1 - mpmath.exp(lp[i - 1][target[j - 1]]),
                )
                D[i][j] = -g * mpmath.log(mpmath.fsum(mpmath.exp(-c / g) for c in costs))
        return D[n_time][n_target]

    with mpmath.workdps(DPS):
        flat = [mpmath.mpf(float(v)) for v in z.ravel()]
        grad = []
        for k in range(len(flat)):

            def f(x, k=k):
                return value(flat[:k] + [x] + flat[k + 1 :])

            grad.append(mpmath.diff(f, flat[k]))
        return value(flat), np.array([float(g) for g in grad]).reshape(z.shape)


def edit_reference(h, r, costs) -> Fraction:
    ins, dele, sub = (Fraction(c) for c in costs)
    row = [j * ins for j in range(len(r) + 1)]
    for i in range(1, len(h) + 1):
        new = [i * dele]
        for j in range(1, len(r) + 1):
            new.append(
                min(row[j] + dele, new[j - 1] + ins, row[j - 1] + sub * (h[i - 1] != r[j - 1]))
            )
        row = new
    return row[-1]


def _ctc_cases(rng):
    """(z (T, C), target) pairs: random, with repeated labels, confident and extreme logits,
    an impossible alignment, an empty target."""
    cases = []
    for n_time, n_classes in ((1, 2), (3, 3), (4, 3), (5, 3), (6, 3), (4, 4)):
        for scale in (1.0, 3.0, 30.0):
            length = int(rng.integers(0, min(3, n_time) + 1))
            target = [int(v) for v in rng.integers(1, n_classes, length)]
            cases.append((rng.normal(0, scale, (n_time, n_classes)), target))
    cases.append((rng.normal(0, 2, (4, 3)), [1, 1]))  # a repeat needs a blank between
    cases.append((rng.normal(0, 2, (3, 3)), [1, 1, 2]))  # too long for T = 3: impossible
    cases.append((np.array([[1e3, -1e3, 0.0]] * 3), [1]))  # the label is very unlikely
    cases.append((np.array([[-1e3, 1e3, 0.0]] * 3), [1]))  # the label is certain
    cases.append((np.zeros((4, 3)), [2, 1]))
    return cases


def _component_error(got, want, dtype) -> np.ndarray:
    ulps = ulp_error(np.asarray(got, dtype), np.asarray(want, dtype))
    absolute = (
        np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)) / np.finfo(dtype).eps
    )
    return np.minimum(ulps, absolute)


def _ctc_conditioning(z, target) -> np.ndarray:
    """Σ_a |a·∂g/∂a| over the logits a, for each gradient component g (mpmath finite
    differences of the enumerated gradient): how much rounding the logits moves it."""
    _, base = ctc_reference(z, target)
    sens = np.zeros(z.shape)
    with mpmath.workdps(DPS):
        for idx in np.ndindex(z.shape):
            a = float(z[idx])
            if a == 0:
                continue
            moved = z.astype(np.float64).copy()
            moved[idx] = a + abs(a) * 1e-12
            h = moved[idx] - a  # the step as taken (exact)
            _, up = ctc_reference(moved, target)
            d = np.array(
                [
                    [float((u - b) / mpmath.mpf(h)) for u, b in zip(ru, rb)]
                    for ru, rb in zip(up, base)
                ]
            )
            sens += np.abs(a * d)
    return sens


def _record(rows: dict, name, q, dtype, err: np.ndarray, at, bound_key, raw=None) -> None:
    row = rows.setdefault((q, dtype), Row(name, q, dtype, 0.0, BOUNDS[bound_key], 0))
    row.points += int(err.size)
    if raw is not None:
        row.raw_ulp = max(row.raw_ulp or 0.0, raw)
        row.relaxed += int((err < raw).sum()) if raw > BOUNDS[bound_key] else 0
    if err.size and float(err.max()) > row.worst_ulp:
        row.worst_ulp, row.worst_at = float(err.max()), at


def verify_sequence(rec, kernel, dtypes=("float32", "float64"), seed: int = 0) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows: dict = {}
    with np.errstate(all="ignore"):
        if rec.family == "ctc":
            cases = [(z, t, ctc_reference(z, t)) for z, t in _ctc_cases(rng)]
            for dtype in dtypes:
                for z, target, (ref_v, ref_g) in cases:
                    zz = z.astype(dtype)[:, None, :]
                    args = (
                        zz,
                        np.array([target + [1] * (3 - len(target))]),
                        [len(z)],
                        [len(target)],
                    )
                    v, g = kernel.value_and_grad(*args, reduction="none")
                    at = {"logits": z.tolist(), "target": target}
                    _record(
                        rows,
                        rec.name,
                        "value",
                        dtype,
                        ulp_error(np.asarray(v, dtype), np.asarray([float(ref_v)], dtype)),
                        at,
                        "value",
                    )
                    if ref_g is not None:
                        want = np.array([[float(x) for x in r] for r in ref_g])
                        err = _component_error(g[:, 0], want, dtype)
                        raw = float(err.max())
                        if raw > BOUNDS["grad"]:  # against the conditioning of the gradient
                            sens = _ctc_conditioning(z.astype(dtype).astype(np.float64), target)
                            diff = np.abs(g[:, 0].astype(np.float64) - want)
                            with np.errstate(divide="ignore", invalid="ignore"):
                                cond = np.where(
                                    sens > 0, diff / (sens * np.finfo(dtype).eps), np.inf
                                )
                            err = np.minimum(err, cond)
                        _record(rows, rec.name, "grad", dtype, err, at, "grad", raw)
        elif rec.family == "soft_edit":
            cases = []
            for n_time, n_target, n_classes in ((1, 1, 2), (3, 2, 3), (4, 3, 3), (2, 4, 3)):
                for gamma in (1.0, 0.1):
                    z = rng.normal(0, 2, (n_time, n_classes))
                    t = [int(v) for v in rng.integers(0, n_classes, n_target)]
                    cases.append((z, t, gamma, soft_edit_reference(z, t, gamma)))
            for dtype in dtypes:
                for z, target, gamma, (ref_v, ref_g) in cases:
                    v, g = kernel.value_and_grad(z.astype(dtype), np.array(target), gamma=gamma)
                    at = {"logits": z.tolist(), "target": target, "gamma": gamma}
                    _record(
                        rows,
                        rec.name,
                        "value",
                        dtype,
                        ulp_error(np.asarray([v], dtype), np.asarray([float(ref_v)], dtype)),
                        at,
                        "value",
                    )
                    _record(
                        rows, rec.name, "grad", dtype, _component_error(g, ref_g, dtype), at, "grad"
                    )
        else:  # the hard edit distance: exact rationals against the float64 kernel
            for _ in range(200):
                h = [int(v) for v in rng.integers(0, 4, rng.integers(0, 9))]
                r = [int(v) for v in rng.integers(0, 4, rng.integers(0, 9))]
                costs = tuple(float(c) for c in rng.choice([0.5, 1.0, 2.0, 0.25], 3))
                want = float(edit_reference(h, r, costs))
                got = kernel(np.array(h, np.int64), np.array(r, np.int64), costs=costs)
                err = ulp_error(np.asarray([got]), np.asarray([want]))
                _record(
                    rows,
                    rec.name,
                    "value",
                    "float64",
                    err,
                    {"h": h, "r": r, "costs": costs},
                    "value",
                )
    return list(rows.values())
