"""Sequence-loss kernels against independent high-precision references.

* CTC: the sum over every alignment (all C^T paths whose collapse is the target), in mpmath;
  the gradient from the same enumeration, ∂(-log P)/∂z_t(k) = p_t(k) - P(π_t = k)/P.
* soft edit distance: the recurrence evaluated in mpmath, its gradient by mpmath.diff.
* edit distance: the recurrence in exact rational arithmetic.

Each is evaluated at the logits rounded to the kernel's dtype and judged by the error model
(`symloss.verify.model`): a CTC or soft-edit gradient component over the bound is searched
along the direction in which it changes fastest, within ±4 ULP of the logits; a soft-edit
value along the sign of its gradient.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np

from .model import BOUNDS, Row, assess, search_line, underflow_measure
from .ulp import step, ulp_error

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
    """(-log P, ∂/∂z) for one sample, z (T, C), by enumerating all alignments in mpmath.

    ∂(-log P)/∂z_t(k) = p_t(k) - P(π_t = k)/P is summed as
    (p_t(k)·P(π_t ≠ k) - (Σ_{j≠k} p_t(j))·P(π_t = k))/P, each path mass summed exactly by
    fsum: no 1 - p is formed at the working precision (a forced frame, P(π_t ≠ k) = 0, keeps
    all its digits), and a gradient that is 0 by a coincidence of path counts (equal logits,
    equal path masses) comes out as 0."""
    with mpmath.workdps(DPS):
        lp = [_log_softmax_mp([mpmath.mpf(float(v)) for v in row]) for row in z]
        n_time, n_classes = z.shape
        masses = [[[] for _ in range(n_classes)] for _ in range(n_time)]
        paths = []
        for path in itertools.product(range(n_classes), repeat=n_time):
            if _collapse(path, blank) != list(target):
                continue
            p = mpmath.exp(mpmath.fsum(lp[t][k] for t, k in enumerate(path)))
            paths.append(p)
            for t, k in enumerate(path):
                masses[t][k].append(p)
        total = mpmath.fsum(paths)
        if total == 0:
            return math.inf, None
        grad = []
        for t in range(n_time):
            probs = [mpmath.exp(v) for v in lp[t]]
            row = []
            for k in range(n_classes):
                others = [m for j in range(n_classes) if j != k for m in masses[t][j]]
                rest = mpmath.fsum(probs[j] for j in range(n_classes) if j != k)
                at_k = mpmath.fsum(masses[t][k])
                row.append(mpmath.fsum([probs[k] * mpmath.fsum(others), -rest * at_k]) / total)
            grad.append(row)
        return -mpmath.log(total), grad


def soft_edit_reference(
    z: np.ndarray, target: list[int], gamma: float, exact: bool = False, gradient: bool = True
):
    """(D[T, S], ∂/∂z) in mpmath: the recurrence itself, differentiated numerically (the
    gradient as floats, or with ``exact`` as mpmath numbers); D[T, S] alone without
    ``gradient``."""

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
        if not gradient:
            return value(flat)
        grad = []
        for k in range(len(flat)):

            def f(x, k=k):
                return value(flat[:k] + [x] + flat[k + 1 :])

            grad.append(mpmath.diff(f, flat[k]))
        if exact:
            return value(flat), [
                grad[t * z.shape[1] : (t + 1) * z.shape[1]] for t in range(z.shape[0])
            ]
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


def _signed_sensitivity(z, gradient_of) -> np.ndarray:
    """∂g/∂z_a for every gradient component g and logit a (mpmath finite differences of the
    reference gradient ``gradient_of(z)``, steps of one part in 1e12), shape (T, C, T, C)."""
    base = gradient_of(z)
    out = np.zeros(z.shape + z.shape)
    with mpmath.workdps(DPS):
        for idx in np.ndindex(z.shape):
            a = float(z[idx])
            moved = z.astype(np.float64).copy()
            moved[idx] = a + max(abs(a), 1.0) * 1e-12
            h = moved[idx] - a  # the step as taken (exact)
            up = gradient_of(moved)
            if up is None or base is None:
                continue
            for g in np.ndindex(z.shape):
                out[g + idx] = float((up[g[0]][g[1]] - base[g[0]][g[1]]) / mpmath.mpf(h))
    return out


def _moved(z, direction, k, dtype) -> np.ndarray:
    """The logits each moved by k ULP of ``dtype`` in the sign of ``direction``."""
    return np.array(
        [step(float(v), int(k * s), dtype) for v, s in zip(z.ravel(), direction.ravel())]
    ).reshape(z.shape)


def _gradient_perturbed(z, gradient_of, got, dtype):
    """The error model's perturbation search for a sequence gradient: each component against
    the exact gradient at the logits moved by -4 … +4 ULP along the direction in which that
    component changes fastest (one line per component; no branches, so continuous)."""
    memo: dict = {}
    sens: list = []

    def measure(idx: int) -> float | None:
        if not sens:
            sens.append(_signed_sensitivity(z.astype(np.float64), gradient_of))
        comp = np.unravel_index(idx, z.shape)
        direction = np.where(sens[0][comp] < 0, -1, 1).astype(int)

        def point(k: int) -> tuple:
            key = (direction.tobytes(), k)
            if key not in memo:
                memo[key] = gradient_of(_moved(z, direction, k, dtype))
            g = memo[key]
            return (None if g is None else float(np.asarray(float(g[comp[0]][comp[1]]), dtype))), 0

        return search_line(float(np.ravel(got)[idx]), point, dtype)

    return measure


def _value_perturbed(z, value_of, gradient, got, dtype):
    """The same search for a sequence loss's value: along the sign of its gradient (the
    direction in which it changes fastest)."""
    direction = np.where(np.asarray(gradient, np.float64) < 0, -1, 1).astype(int)

    def measure(idx: int) -> float | None:
        def point(k: int) -> tuple:
            v = value_of(_moved(z, direction, k, dtype))
            return (None if v is None else float(np.asarray(float(v), dtype))), 0

        return search_line(float(np.ravel(got)[idx]), point, dtype)

    return measure


def _record(rows: dict, name, q, dtype, forward, at, got, want, perturbed=None) -> None:
    key = (q, np.dtype(dtype).name)
    row = rows.setdefault(key, Row(name, q, np.dtype(dtype).name, BOUNDS[q]))
    got, want = np.ravel(got), np.ravel(want)

    def where(i):
        return {**at, "index": int(i), "got": float(got[i]), "ref": float(want[i])}

    assess(
        row,
        forward,
        where,
        perturbed=perturbed,
        exceptions=[
            ("underflow", underflow_measure(np.asarray(got, dtype), np.asarray(want, dtype)))
        ],
    )


def verify_sequence(rec, kernel, dtypes=("float32", "float64"), seed: int = 0) -> list[Row]:
    """Each sequence kernel against its reference at the logits as the kernel sees them (rounded
    to the dtype), judged by the error model."""
    rng = np.random.default_rng(seed)
    rows: dict = {}
    with np.errstate(all="ignore"):
        if rec.family == "ctc":
            cases = _ctc_cases(rng)
            for dtype in dtypes:
                for z, target in cases:
                    zd = z.astype(dtype)
                    ref_v, ref_g = ctc_reference(zd.astype(np.float64), target)
                    args = (
                        zd[:, None, :],
                        np.array([target + [1] * (3 - len(target))]),
                        [len(z)],
                        [len(target)],
                    )
                    v, g = kernel.value_and_grad(*args, reduction="none")
                    at = {"logits": zd.tolist(), "target": target}
                    want_v = np.asarray([float(ref_v)], dtype)
                    _record(
                        rows,
                        rec.name,
                        "value",
                        dtype,
                        ulp_error(np.asarray(v, dtype), want_v),
                        at,
                        v,
                        want_v,
                    )
                    if ref_g is not None:
                        want = np.array([[float(x) for x in r] for r in ref_g]).astype(dtype)
                        got = np.asarray(g[:, 0], dtype)
                        perturbed = _gradient_perturbed(
                            zd, lambda moved, t=target: ctc_reference(moved, t)[1], got, dtype
                        )
                        _record(
                            rows,
                            rec.name,
                            "grad",
                            dtype,
                            ulp_error(got, want),
                            at,
                            got,
                            want,
                            perturbed,
                        )
        elif rec.family == "soft_edit":
            cases = []
            for n_time, n_target, n_classes in ((1, 1, 2), (3, 2, 3), (4, 3, 3), (2, 4, 3)):
                for gamma in (1.0, 0.1):
                    z = rng.normal(0, 2, (n_time, n_classes))
                    t = [int(v) for v in rng.integers(0, n_classes, n_target)]
                    cases.append((z, t, gamma))
            for dtype in dtypes:
                for z, target, gamma in cases:
                    zd = z.astype(dtype)
                    ref_v, ref_g = soft_edit_reference(zd.astype(np.float64), target, gamma)
                    v, g = kernel.value_and_grad(zd, np.array(target), gamma=gamma)
                    at = {"logits": zd.tolist(), "target": target, "gamma": gamma}
                    want_v = np.asarray([float(ref_v)], dtype)
                    got_v = np.asarray([v], dtype)

                    def reference(moved, target=target, gamma=gamma):
                        return soft_edit_reference(moved, target, gamma, exact=True)

                    value_at = _value_perturbed(
                        zd,
                        lambda moved, t=target, g=gamma: soft_edit_reference(
                            moved, t, g, gradient=False
                        ),
                        ref_g,
                        got_v,
                        dtype,
                    )
                    _record(
                        rows,
                        rec.name,
                        "value",
                        dtype,
                        ulp_error(got_v, want_v),
                        at,
                        got_v,
                        want_v,
                        value_at,
                    )
                    want = np.asarray(ref_g, dtype)
                    got = np.asarray(g, dtype)
                    grad_at = _gradient_perturbed(
                        zd, lambda moved, f=reference: f(moved)[1], got, dtype
                    )
                    _record(
                        rows, rec.name, "grad", dtype, ulp_error(got, want), at, got, want, grad_at
                    )
        else:  # the hard edit distance: exact rationals against the float64 kernel
            for _ in range(200):
                h = [int(v) for v in rng.integers(0, 4, rng.integers(0, 9))]
                r = [int(v) for v in rng.integers(0, 4, rng.integers(0, 9))]
                costs = tuple(float(c) for c in rng.choice([0.5, 1.0, 2.0, 0.25], 3))
                want = np.asarray([float(edit_reference(h, r, costs))])
                got = np.asarray(
                    [kernel(np.array(h, np.int64), np.array(r, np.int64), costs=costs)], np.float64
                )
                at = {"h": h, "r": r, "costs": costs}
                _record(rows, rec.name, "value", "float64", ulp_error(got, want), at, got, want)
    return list(rows.values())
