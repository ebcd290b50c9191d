"""Input checks that would cost NumPy several passes and temporaries, as one parallel pass.

Imported by the runtime on first need (it imports Numba, which ``import symloss`` does not).
"""

from __future__ import annotations

import numba
import numpy as np

from .jitcache import njit

__all__ = ["label_counts"]


@njit(__file__, parallel=True, error_model="numpy")
def _counts(a):
    minus = zero = one = nan = 0
    for i in numba.prange(a.shape[0]):
        v = a[i]
        minus += v == -1.0
        zero += v == 0.0
        one += v == 1.0
        nan += v != v
    return minus, zero, one, nan


def label_counts(a: np.ndarray) -> tuple[int, int, int, int]:
    """How many entries of ``a`` are -1, 0, 1 and NaN, in one pass."""
    return _counts(np.ascontiguousarray(a).reshape(-1))
