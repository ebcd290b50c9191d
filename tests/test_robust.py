"""Accuracy at extreme inputs (issue 15, point 5), each against mpmath on the plain definition
at 60 digits, in ULP of the kernel's dtype (symloss.verify.ulp_error): gaussian_nll where r²/v
would overflow, parameters given in float64 to float32 kernels, cosine_distance at huge, tiny
and nearly parallel vectors.
"""

import mpmath
import numpy as np
import pytest

import symloss
from symloss.verify import ulp_error

DPS = 60
BOUND = 8  # ULP, values and gradients


def _ulp(got, exact, dtype) -> np.ndarray:
    """ULP error of ``got`` against mpmath numbers ``exact``, rounded once to ``dtype``."""
    ref = np.array([float(e) for e in np.ravel(exact)], np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = ref.astype(dtype)
        return ulp_error(np.ravel(np.asarray(got, dtype)), ref)


# --- gaussian_nll: ½(log v + r²/v) ------------------------------------------------------------


def _gaussian_nll(p, t, v, eps):
    with mpmath.workdps(DPS):
        p, t, v, eps = (mpmath.mpf(float(a)) for a in (p, t, v, eps))
        v = max(v, eps)
        r = p - t
        return (mpmath.log(v) + r**2 / v) / 2, r / v


@pytest.mark.parametrize(
    "dtype, points",
    [
        # r² or r²/v overflows where ½·r²/v (and the loss) does not
        (np.float32, [(2e19, 0.0, 1.0), (1.5e19, -1e19, 2.0), (1e20, 0.0, 60.0), (0.0, 1e19, 0.6)]),
        (np.float64, [(1.5e154, -3e153, 1.0), (1e160, 0.0, 1e12), (-1.8e154, 0.0, 1.0)]),
    ],
)
def test_gaussian_nll_near_overflow_is_finite_and_accurate(dtype, points):
    p, t, v = (np.array(c, dtype) for c in zip(*points))
    eps = dtype(1e-6)
    value, grad = symloss.gaussian_nll.value_and_grad(p, t, v, eps=eps, reduction="none")
    each = symloss.gaussian_nll(p, t, v, eps=eps, reduction="none")
    exact = [_gaussian_nll(*a, eps) for a in zip(p, t, v)]
    assert _ulp(value, [e[0] for e in exact], dtype).max() <= BOUND
    assert _ulp(each, [e[0] for e in exact], dtype).max() <= BOUND
    assert _ulp(grad, [e[1] for e in exact], dtype).max() <= BOUND
