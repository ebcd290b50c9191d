"""The functions generated PyTorch code calls besides torch's own: double-double arithmetic
and the stable forms torch lacks. Plain tensor operations, so they run on every device and
trace under ``torch.compile`` and ``torch.func``; the twins of `symloss.vmath`'s.

A double-double is a pair (hi, lo) of float64 tensors (or Python floats, for constants),
|lo| ≤ ulp(hi)/2. A result that overflows, or a NaN, falls back to the plain float64
operation (lo is then 0), as in vmath.
"""

from __future__ import annotations

import torch

__all__ = [
    "dd",
    "dd_add",
    "dd_div",
    "dd_exp",
    "dd_mul",
    "dd_neg",
    "dd_value",
    "sech",
    "shaped",
    "constant",
]

_SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's splitting constant for float64


def dd(x):
    """x as a double-double (exact)."""
    return (x.to(torch.float64) if isinstance(x, torch.Tensor) else float(x), 0.0)


def _finite(x):
    return torch.isfinite(x) if isinstance(x, torch.Tensor) else abs(x) < float("inf")


def _normalized(s, e):
    hi = s + e
    lo = e - (hi - s)
    if not isinstance(hi, torch.Tensor):
        return (hi, lo) if _finite(hi) and _finite(lo) else (s, 0.0)
    ok = torch.isfinite(hi) & torch.isfinite(lo)
    return (torch.where(ok, hi, s), torch.where(ok, lo, 0.0))


def dd_add(x, y):
    """x + y (Knuth's TwoSum of the heads, plus the tails)."""
    s = x[0] + y[0]
    b = s - x[0]
    return _normalized(s, ((x[0] - (s - b)) + (y[0] - b)) + (x[1] + y[1]))


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def dd_mul(x, y):
    """x·y: the heads' product made exact by Dekker's TwoProduct (torch has no fused
    multiply-add on every device), plus the cross terms."""
    a, b = x[0], y[0]
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    err = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return _normalized(p, err + (a * y[1] + x[1] * b))


def dd_neg(x):
    """-x."""
    return (-x[0], -x[1])


def dd_div(x, y):
    """x / y (the heads' quotient, corrected by the remainder x - q·y over y)."""
    q = x[0] / y[0]
    r = dd_add(x, dd_neg(dd_mul((q, 0.0), y)))
    return _normalized(q, r[0] / y[0])


def dd_value(x):
    """hi + lo rounded to float64."""
    return x[0] + x[1]


def dd_exp(x):
    """e^(hi + lo) as e^hi·(1 + lo); e^hi where it is 0 or ∞."""
    e = torch.exp(x[0])
    return torch.where(torch.isfinite(e), e + e * x[1], e)


def sech(x):
    """1/cosh x as 2e^{−|x|}/(1 + e^{−2|x|}): no overflow, no cancellation."""
    e = torch.exp(-torch.abs(x))
    return (2.0 * e) / (1.0 + e * e)


def constant(value: float, like: torch.Tensor) -> torch.Tensor:
    """A constant shaped, typed and placed as ``like`` (a select of two constants must not
    take torch's default dtype)."""
    return torch.full_like(like, value)


def shaped(result, like: torch.Tensor) -> torch.Tensor:
    """A result in ``like``'s dtype and shape: a constant (ℓ'' = 2 of the squared error) or
    a float64 intermediate of a float32 function becomes a tensor like the input."""
    if not isinstance(result, torch.Tensor):
        return torch.full_like(like, result)
    if result.dtype != like.dtype:
        result = result.to(like.dtype)
    if result.shape != like.shape:
        result = result.expand(like.shape)
    return result
