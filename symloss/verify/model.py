"""The error model of `symloss verify`: what it means for a result to pass. Stated once, here,
and applied to every family (elementwise, norms, class-axis, sequences) and every quantity.

A result (a value, a gradient component, a Hessian entry), computed in float32 or float64, is
compared with the exact result (the definition in mpmath, rounded to the dtype). It passes

1. **forward**: when its distance to the exact result is at most ``BOUNDS[quantity]`` units in
   the last place (ULP) of its dtype: 8 for values, gradients and sums, 16 for Hessians;
2. **perturbed**: otherwise, only where the mathematics is ill-conditioned in the
   *differentiable* inputs (predictions, logits, features): when the exact result at a point
   whose differentiable inputs lie within ±4 ULP of the given ones (everything else held
   exactly) is within the bound. The search looks at the floats 1 to 4 ULP away along each
   differentiable input and along the direction in which the result changes fastest, and
   between two adjacent such floats where the definition takes the same branch at both (the
   exact result is continuous there, so it takes every value in between). Labels, integer and
   {0, 1} targets, masks, lengths, weights and parameters are exact data: never perturbed;
3. **excused**: by one of the named exceptions in ``EXCEPTIONS``, each a documented limit with
   its reason, whose measure is within the bound.

Points where the exact result cannot be had are dropped, for a reason in ``DROPS``. Every
point that passes other than by (1) is counted in its row, under (2), the exception's name, or
the drop's reason: there is no silent allowance.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .ulp import ulp_error

__all__ = [
    "BOUNDS",
    "PERTURBATION_ULP",
    "EXCEPTIONS",
    "DROPS",
    "Row",
    "assess",
    "search_line",
    "perturbation_search",
    "nearest_on_lines",
]

BOUNDS = {"value": 8.0, "grad": 8.0, "hess": 16.0, "sum": 8.0}
PERTURBATION_ULP = 4

# name → reason. Each is listed in the README and counted per row of `symloss verify`.
EXCEPTIONS = {
    "underflow": "results below tiny/ε (1e-31 in float32, 1e-292 in float64) lose digits to "
    "gradual underflow in any intermediate: measured in units of the smallest normal number",
    "summation": "a sum or mean of m terms accumulated in float64 may be off by m·ε·Σ|terms| "
    "before its final rounding",
    "cancelling terms": "a norm's Hessian diagonal g''(S)(wℓ')² + g'(S)wℓ'' is a sum of two "
    "terms that cancel: measured against ε·(|term 1| + |term 2|)",
    "term sums": "zeros of a distance (triplet margin) are differences of its terms: "
    "measured against ε·Σ|terms| of the formula (losses declared accuracy='terms')",
    "smoothing floor": "with label smoothing ε, a gradient p_j·Σw − w_j·t'_j cancels near "
    "uniform logits: measured against the spacing of ε·max(w)/C",
    "kink": "where the definition switches branch within ±4 ULP of the differentiable input, "
    "its derivative there is a convention: a value between the one-sided limits (a "
    "subgradient, such as 0 for |r| at r = 0) is accepted; each loss's choice is documented and "
    "tested against its peer",
    "NaN row": "a NaN anywhere in a class-axis sample makes its value NaN; a gradient or "
    "Hessian component of that sample may be NaN, or 0 where a zero coefficient (a target of "
    "0) or a piecewise-linear loss makes it 0 whatever the NaN, or its exact value where the "
    "NaN does not enter it (-t, the gradient of KL divergence on log-probabilities)",
    "Hessian term sums": "a class-axis Hessian diagonal entry of the focal loss is a sum of "
    "probability products that cancel where a class other than the label has p_j → 1: "
    "measured against ε·Σ|terms| (a stable form is still to be derived)",
    "infinite input": "at an input of ±∞ the exact result is the limit; NaN is accepted where "
    "the formula taken literally there is 0·∞ or ∞ - ∞ (y·softplus(-x) at y = 0, x = -∞)",
    "rounded residual": "a loss of r = ŷ - y alone is judged at the residual rounded to the "
    "dtype, fl(ŷ - y), where it is ill-conditioned in the exact target y (a kink at |r| = δ "
    "that fl(ŷ - y) crosses): every implementation forms r in the dtype",
}

DROPS = {
    "undefined": "the definition is undefined at the point (NaN from non-NaN inputs, e.g. 0·∞ "
    "at an infinite input)",
    "unconverged": "mpmath did not give the same rounded result at two precisions up to 1920 "
    "digits",
    "declined": "the implementation under test raised NotImplementedError for these parameters",
}


@dataclass
class Row:
    """One line of the verification table: a loss, a quantity, a dtype, and its counts."""

    loss: str
    quantity: str
    dtype: str
    bound: float
    points: int = 0
    worst_ulp: float = 0.0  # after the allowances
    raw_ulp: float = 0.0  # the worst forward error
    perturbed: int = 0
    failed: int = 0
    excused: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    worst_at: dict = field(default_factory=dict)
    stopped: bool = False  # ended at the failure limit: the other points were not checked

    @property
    def passed(self) -> bool:
        return self.failed == 0 and self.worst_ulp <= self.bound

    @property
    def relaxed(self) -> int:
        """Points that passed other than by their forward error."""
        return self.perturbed + sum(self.excused.values())

    def drop(self, reason: str, count: int = 1) -> None:
        if reason not in DROPS:
            raise KeyError(f"unknown drop reason {reason!r}")
        if count:
            self.dropped[reason] += int(count)

    def allowances(self) -> str:
        parts = [f"{k} {v}" for k, v in sorted(self.excused.items())]
        parts += [f"dropped: {k} {v}" for k, v in sorted(self.dropped.items())]
        return ", ".join(parts)

    HEADER = (
        f"{'loss':32s} {'qty':5s} {'dtype':7s} {'worst':>8s} {'bound':>5s} {'points':>7s} "
        f"{'forward':>8s} {'perturb':>7s} {'fail':>5s}  result  named exceptions, drops"
    )

    def __str__(self) -> str:
        status = "pass" if self.passed else "FAIL"
        return (
            f"{self.loss:32s} {self.quantity:5s} {self.dtype:7s} {self.worst_ulp:8.3g} "
            f"{self.bound:5g} {self.points:7d} {self.raw_ulp:8.3g} {self.perturbed:7d} "
            f"{self.failed:5d}  {status:6s}  {self.allowances()}"
            + ("  (stopped at the failure limit)" if self.stopped else "")
        ).rstrip()


Measure = Callable[[int], float | None]

# how many failed results end a verification early (None: check every point)
_FAILURE_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("limit", default=None)


class FailureLimit(Exception):
    """Raised by `assess` when a row reaches the failure limit; carries that row."""

    def __init__(self, row: Row):
        super().__init__(f"{row.loss} {row.quantity} {row.dtype}: {row.failed} failures")
        self.row = row


@contextlib.contextmanager
def failure_limit(limit: int | None):
    """Within the block, `assess` stops the verification once a row has ``limit`` failures."""
    token = _FAILURE_LIMIT.set(limit)
    try:
        yield
    finally:
        _FAILURE_LIMIT.reset(token)


def assess(
    row: Row,
    forward: np.ndarray,
    where: Callable[[int], dict],
    *,
    perturbed: Measure | None = None,
    exceptions: Sequence[tuple[str, Measure]] = (),
) -> np.ndarray:
    """Judge results by the model and count them in ``row``; returns each result's error.

    ``forward``: each result's forward error in ULP (flat). ``perturbed(i)``: the smallest
    error of result i against the exact results at perturbed differentiable inputs (None: not
    applicable). ``exceptions``: (name, measure) pairs tried in order for a result still over
    the bound. ``where(i)``: a description of result i's point, for the worst one.
    """
    forward = np.asarray(forward, np.float64).ravel()
    final = forward.copy()
    row.points += forward.size
    if forward.size:
        row.raw_ulp = max(row.raw_ulp, float(forward.max()))
    for i in np.flatnonzero(~(forward <= row.bound)):
        err = forward[i]
        p = perturbed(int(i)) if perturbed is not None else None
        if p is not None and p <= row.bound:
            row.perturbed += 1
            final[i] = p
            continue
        if p is not None:
            err = min(err, p)
        for name, measure in exceptions:
            if name not in EXCEPTIONS:
                raise KeyError(f"unknown exception {name!r}")
            m = measure(int(i))
            if m is not None and m <= row.bound:
                row.excused[name] += 1
                err = m
                break
        else:
            row.failed += 1
            limit = _FAILURE_LIMIT.get()
            if limit is not None and row.failed >= limit:
                final[i] = err
                row.worst_ulp = max(row.worst_ulp, float(err))
                row.worst_at = where(int(i))
                row.stopped = True
                raise FailureLimit(row)
        final[i] = err
    if final.size and final.max() > row.worst_ulp:
        i = int(np.argmax(final))
        row.worst_ulp = float(final[i])
        row.worst_at = where(i)
    return final


def underflow_measure(got: np.ndarray, ref: np.ndarray) -> Measure:
    """The ``underflow`` exception: |got - ref| in units of the smallest normal number, where
    both are below tiny/ε."""
    got, ref = np.ravel(got), np.ravel(ref)
    info = np.finfo(got.dtype)
    zone = float(info.tiny) / float(info.eps)

    def measure(i: int) -> float | None:
        g, r = float(got[i]), float(ref[i])
        if not (np.isfinite(g) and np.isfinite(r)) or max(abs(g), abs(r)) >= zone:
            return None
        return abs(g - r) / float(info.tiny)

    return measure


def search_line(got: float, at: Callable[[int], tuple], dtype) -> float:
    """The smallest ULP distance from ``got`` to the exact results on one perturbation line:
    ``at(k)`` gives (exact result rounded to ``dtype`` or None, branch) k ULP along it.

    The ends and the middle first: where the definition takes one branch at all three, the
    exact result is continuous between them and takes every value in between, and the inner
    points lie in the same range (the line is 8 ULP long). Otherwise every point.
    """
    k = PERTURBATION_ULP
    ends = [at(-k), at(0), at(k)]
    values = [r for r, _ in ends]
    if all(r is not None and np.isfinite(r) for r in values) and len({b for _, b in ends}) == 1:
        lo, hi = min(values), max(values)
        if lo <= got <= hi:
            return 0.0
        g = np.asarray([got], dtype)
        return float(ulp_error(g, np.asarray([lo if got < lo else hi], dtype))[0])
    return nearest_on_lines(got, [[at(j) for j in range(-k, k + 1)]], dtype)


def perturbation_search(
    got: float,
    line: Callable[[dict], Callable[[int], tuple]],
    inputs: Sequence,
    bound: float,
    dtype,
) -> float:
    """The error model's search: the smallest ULP distance from ``got`` to the exact results
    at the differentiable ``inputs`` moved by -4 … +4 ULP, along each of them and, for several,
    along the direction in which the result changes fastest (each input's sign of change).
    ``line(direction)`` gives k ↦ (exact result or None, branch) at the inputs moved by
    k·direction[input] ULP."""
    best, signs = math.inf, {}
    for key in inputs:
        along = line({key: 1})
        best = min(best, search_line(got, along, dtype))
        if best <= bound:
            return best
        lo, hi = along(-PERTURBATION_ULP)[0], along(PERTURBATION_ULP)[0]
        ok = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
        signs[key] = -1 if ok and hi < lo else 1
    if len(signs) > 1:
        best = min(best, search_line(got, line(signs), dtype))
    return best


def between_branches(got: float, at: Callable[[int], tuple]) -> float | None:
    """The ``kink`` exception: 0 when the definition takes more than one branch on the line
    ``at(k)``, k in -4 … 4, and ``got`` lies between the exact results there."""
    k = PERTURBATION_ULP
    points = [at(j) for j in range(-k, k + 1)]
    values = [r for r, _ in points if r is not None and np.isfinite(r)]
    if len({b for _, b in points}) < 2 or not values:
        return None
    return 0.0 if min(values) <= got <= max(values) else None


def nearest_on_lines(got: float, lines: Sequence[Sequence[tuple[float | None, object]]], dtype):
    """The smallest ULP distance from ``got`` to the exact results along perturbation lines.

    Each line is a sequence of (exact result rounded to ``dtype``, branch) at consecutive
    points; between two neighbours with the same branch the exact result is continuous, so a
    ``got`` between their results is matched exactly (distance 0).
    """
    best = np.inf
    g = np.asarray([got], dtype)
    for line in lines:
        for k, (r, branch) in enumerate(line):
            if r is None:
                continue
            best = min(best, float(ulp_error(g, np.asarray([r], dtype))[0]))
            if k + 1 < len(line):
                r2, branch2 = line[k + 1]
                if r2 is not None and branch2 == branch and np.isfinite(r) and np.isfinite(r2):
                    if min(r, r2) <= got <= max(r, r2):
                        return 0.0
    return best
