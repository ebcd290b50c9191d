"""Distances between floats in units in the last place (ULP) of their dtype."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ulp_error", "step"]


def _ordinal(x: np.ndarray) -> np.ndarray:
    """Map floats to integers that are consecutive for consecutive floats (-0 and +0 coincide)."""
    itype = np.int64 if x.dtype == np.float64 else np.int32
    i = x.view(itype).astype(np.int64)
    magnitude = i & np.int64((1 << (63 if x.dtype == np.float64 else 31)) - 1)
    return np.where(i < 0, -magnitude, magnitude)


def ulp_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in ULP of their dtype: the number of floats between them (subnormals at
    their own spacing). inf where exactly one is non-finite or they differ in non-finite class;
    0 where both are the same infinity or both NaN."""
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=got.dtype)
    err = np.abs(_ordinal(got) - _ordinal(ref)).astype(np.float64)
    finite = np.isfinite(got) & np.isfinite(ref)
    same_special = (np.isnan(got) & np.isnan(ref)) | (np.isinf(got) & (got == ref))
    return np.where(finite, err, np.where(same_special, 0.0, np.inf))


def step(x: float, k: int, dtype) -> float:
    """x moved by k ULP of ``dtype`` (towards ±inf)."""
    v = np.asarray(x, dtype)
    for _ in range(abs(k)):
        v = np.nextafter(v, np.asarray(math.copysign(math.inf, k), dtype))
    return float(v)
