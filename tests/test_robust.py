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


def test_gaussian_nll_float32_where_log_v_cancels_r2_over_v():
    """½·log v + ½·r²/v near 0 (r² ≈ -v·log v, v < 1): each term rounded to float32 left the
    sum 12 ULP off; formed in float64 (wide), it is rounded once."""
    v = np.array([0.25, 0.25, 0.5, 0.1, 0.9], np.float32)
    r = np.sqrt(-v.astype(np.float64) * np.log(v.astype(np.float64))) * (1 + 1e-7)
    p = np.array([-3.102289269918401e-08, 0.0, 1e-3, -2e-4, 0.0], np.float32)
    t = np.array([0.6063432097434998, *(p[1:] - r[1:].astype(np.float32))], np.float32)
    eps = np.float32(1e-6)
    value = symloss.gaussian_nll(p, t, v, eps=eps, reduction="none")
    exact = [_gaussian_nll(*a, eps)[0] for a in zip(p, t, v)]
    assert _ulp(value, exact, np.float32).max() <= BOUND


# --- parameters are checked in the dtype the kernel uses ----------------------------------------

_X32, _Y32 = np.array([1.0, -2.0, 0.5], np.float32), np.array([0.0, 1.0, 0.25], np.float32)
_V32 = np.ones((2, 3), np.float32)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: symloss.cauchy(_X32, _Y32, c=1e-300), r"c must be in \(0, inf\); 1e-300 rounds "),
        (lambda: symloss.cauchy(_X32, _Y32, c=1e300), r"c must .*1e\+300 rounds to inf in float32"),
        (lambda: symloss.huber(_X32, _Y32, delta=1e-50), r"delta .*1e-50 rounds to 0.0 in float32"),
        (lambda: symloss.general_robust(_X32, _Y32, c=1e-46), r"c must be in \(0, inf\); 1e-46"),
        (lambda: symloss.gaussian_nll(_X32, _Y32, _X32, eps=1e-60), r"eps .*rounds to 0.0"),
        (lambda: symloss.cosine_distance(_V32, _V32, eps=1e-300), r"eps .*rounds to 0.0"),
        (
            lambda: symloss.sigmoid_cross_entropy(_X32, _Y32, pos_weight=np.array([1, 1e50, 2])),
            r"pos_weight must be in \[0, inf\); 1e\+50 rounds to inf in float32 among",
        ),
        (
            lambda: symloss.sigmoid_cross_entropy(_X32, _Y32, pos_weight=np.array([1, -1e-50, 2])),
            r"pos_weight must be in \[0, inf\), got -1e-50 among",  # -0.0 in float32, but < 0
        ),
        (
            lambda: symloss.softmax_cross_entropy(_V32, np.array([0, 2]), weight=[1, 1e300, 1]),
            r"weight must be in \[0, inf\); 1e\+300 rounds to inf in float32 among",
        ),
    ],
)
def test_float32_parameters_out_of_range_once_rounded_raise(call, message):
    """float32 inputs: the parameter is checked as the float32 kernel receives it (1e-300 is
    0 there, which c > 0 excludes) and the error says so, rather than a NaN result."""
    with pytest.raises(ValueError, match=message):
        call()


def test_float64_parameter_representable_there_is_used():
    """c = 1e-150 is a float64 number: the loss is c²/2·log(1 + (r/c)²), by mpmath."""
    p, t, c = np.array([1.0, -3e-150, 2e-151]), np.zeros(3), 1e-150
    value, grad = symloss.cauchy.value_and_grad(p, t, c=c, reduction="none")
    with mpmath.workdps(DPS):
        cc = mpmath.mpf(c)
        r = [mpmath.mpf(float(x)) for x in p]
        exact_v = [cc**2 / 2 * mpmath.log1p((x / cc) ** 2) for x in r]
        exact_g = [x / (1 + (x / cc) ** 2) for x in r]
    assert _ulp(value, exact_v, np.float64).max() <= BOUND
    assert _ulp(grad, exact_g, np.float64).max() <= BOUND


# --- cosine_distance: 1 - cos θ as ½‖x/‖x‖ - y/‖y‖‖² --------------------------------------------


def _cosine_distance(x, y, eps):
    """1 - x·y/(max(‖x‖, ε)·max(‖y‖, ε)) and its gradients, the plain definition."""
    with mpmath.workdps(DPS):
        x, y = [mpmath.mpf(float(a)) for a in x], [mpmath.mpf(float(b)) for b in y]
        eps = mpmath.mpf(float(eps))
        rx, ry = mpmath.sqrt(sum(a * a for a in x)), mpmath.sqrt(sum(b * b for b in y))
        nx, ny, d = max(rx, eps), max(ry, eps), sum(a * b for a, b in zip(x, y))
        gx = [-b / (nx * ny) + (d * a / (nx**3 * ny) if rx > eps else 0) for a, b in zip(x, y)]
        gy = [-a / (nx * ny) + (d * b / (ny**3 * nx) if ry > eps else 0) for a, b in zip(x, y)]
        return 1 - d / (nx * ny), gx, gy


def _cosine_rows(x, y, dtype):
    eps = dtype(1e-8)
    value, (gx, gy) = symloss.cosine_distance.value_and_grad(x, y, eps=eps, reduction="none")
    exact = [_cosine_distance(a, b, eps) for a, b in zip(x, y)]
    return (
        _ulp(value, [e[0] for e in exact], dtype).max(),
        _ulp(gx, [g for e in exact for g in e[1]], dtype).max(),
        _ulp(gy, [g for e in exact for g in e[2]], dtype).max(),
    )


def test_cosine_distance_float32_components_past_the_float32_range_of_x_dot_y(rng):
    """Components ≈ 1e20: x·y and ‖x‖‖y‖ pass 3.4e38 (the old quotient gave NaN or -inf)."""
    x = (1e20 * rng.normal(size=(8, 4))).astype(np.float32)
    y = (1e20 * rng.normal(size=(8, 4))).astype(np.float32)
    value_err, _, _ = _cosine_rows(x, y, np.float32)
    assert value_err <= BOUND
    assert np.all(np.isfinite(symloss.cosine_distance.value_and_grad(x, y)[1][0]))


def test_cosine_distance_float32_nearly_parallel_keeps_its_digits(rng):
    """y = k·x + 1e-4 noise: 1 - cos θ ≈ 1e-9 is a sum of squares, not 1 - (≈ 1)."""
    x = rng.normal(size=(16, 5))
    y = x * rng.uniform(0.5, 3.0, (16, 1)) + 1e-4 * rng.normal(size=(16, 5))
    value_err, _, _ = _cosine_rows(x.astype(np.float32), y.astype(np.float32), np.float32)
    assert value_err <= BOUND


# --- cauchy: c²/2·log(1 + (r/c)²) at scales where c² or r/c over- or underflow ------------------


def _cauchy(r, c):
    """Value, gradient and Hessian of c²/2·log(1 + (r/c)²), the plain definition."""
    with mpmath.workdps(DPS):
        r, c = mpmath.mpf(float(r)), mpmath.mpf(float(c))
        x2 = (r / c) ** 2
        return c**2 / 2 * mpmath.log1p(x2), r / (1 + x2), (1 - x2) / (1 + x2) ** 2


@pytest.mark.parametrize(
    "dtype, c, residuals",
    [
        # r/c overflows (c² ≈ 1e-300 does not underflow): was inf
        (np.float64, 1e-150, [1e160, -3e158, 1e-150]),
        # c² overflows where (r/c)² underflows, the loss ≈ r²/2: was NaN
        (np.float64, 1e200, [1e150, -1e-20, 3.0]),
        (np.float32, 1e30, [1e10, -2e15, 0.5]),
        # 1 - (r/c)² cancels near |r| = c: 31 ULP in the Hessian from rounding r/c first
        (np.float64, 6.0956934985716344, [6.2085, -6.0, 6.1]),
    ],
)
def test_cauchy_at_extreme_scales_and_near_r_equal_c(dtype, c, residuals):
    p, t = np.array(residuals, dtype), np.zeros(len(residuals), dtype)
    value, grad = symloss.cauchy.value_and_grad(p, t, c=dtype(c), reduction="none")
    _, hess = symloss.cauchy.grad_hess(p, t, c=dtype(c))
    exact = [_cauchy(r, dtype(c)) for r in p]
    assert _ulp(value, [e[0] for e in exact], dtype).max() <= BOUND
    assert _ulp(grad, [e[1] for e in exact], dtype).max() <= BOUND
    assert _ulp(hess, [e[2] for e in exact], dtype).max() <= 2 * BOUND


# --- poisson_nll: e^x - y·x where e^x overflows and y = +∞ ----------------------------------------


@pytest.mark.parametrize(
    "dtype, x",
    [(np.float64, [1000.0, 710.0, 1e300, 5.0]), (np.float32, [100.0, 89.0, 1e30, 5.0])],
)
def test_poisson_nll_at_an_infinite_target_where_exp_overflows(dtype, x):
    """e^x - y·x and e^x - y at y = +∞ are -∞ by mpmath on the plain formula, also where e^x
    overflows the dtype (they were ∞·0 and ∞ - ∞: NaN)."""
    p = np.array(x, dtype)
    t = np.full(len(x), np.inf, dtype)
    value, grad = symloss.poisson_nll.value_and_grad(p, t, reduction="none")
    with mpmath.workdps(DPS):
        y = mpmath.mpf("inf")
        exact_v = [mpmath.exp(mpmath.mpf(float(a))) - y * mpmath.mpf(float(a)) for a in p]
        exact_g = [mpmath.exp(mpmath.mpf(float(a))) - y for a in p]
    np.testing.assert_array_equal(value, np.array([float(e) for e in exact_v], dtype))
    np.testing.assert_array_equal(grad, np.array([float(e) for e in exact_g], dtype))
    # NaN in, NaN out: the target's NaN reaches the value at x = +∞ too
    v = symloss.poisson_nll(np.array([np.inf], dtype), np.array([np.nan], dtype), reduction="none")
    assert np.isnan(v).all()


# --- general_robust: Barron's ρ(r, α, c) at large |r/c| -----------------------------------------


def _barron(r, alpha, c):
    """Value, gradient and Hessian of |α-2|/α·(((r/c)²/|α-2| + 1)^{α/2} - 1), α ∉ {0, 2}."""
    with mpmath.workdps(DPS):
        r, a, c = (mpmath.mpf(float(v)) for v in (r, alpha, c))
        b = abs(a - 2)
        x = r / c
        q = x**2 / b + 1
        value = b / a * (q ** (a / 2) - 1)
        grad = x / c * q ** (a / 2 - 1)  # its derivatives by hand, in r
        hess = q ** (a / 2 - 2) * (q + (a - 2) * x**2 / b) / c**2
        return value, grad, hess


@pytest.mark.parametrize(
    "dtype, alpha, residuals",
    [
        # e^{α/2·log(1 + x²)} with a large exponent: 69 and 283 ULP; α·ρ'² + ρ'' cancels at α = 1
        (np.float64, 1.3428080423874833, [4.94065655114941e14, 1e10, 3.0]),
        (np.float64, -5.732655185893089, [-9.99999980001e14, 1e15, 1e4]),
        (np.float64, 1.0, [-1e10, 1e4, 0.5]),
        # float32: the Hessian's x⁻⁴ underflowed (0, not 5e-36) at α = 1, r = 5.8e11
        (np.float32, 1.0, [-5.76230261e11, 1e4, 2.0]),
        (np.float32, -5.732655048370361, [-100.5, 1e7, 3.0]),
    ],
)
def test_general_robust_at_large_residuals(dtype, alpha, residuals):
    p, t = np.array(residuals, dtype), np.zeros(len(residuals), dtype)
    kw = {"alpha": dtype(alpha), "c": dtype(1.0)}
    value, grad = symloss.general_robust.value_and_grad(p, t, reduction="none", **kw)
    _, hess = symloss.general_robust.grad_hess(p, t, **kw)
    exact = [_barron(r, dtype(alpha), 1.0) for r in p]
    assert _ulp(value, [e[0] for e in exact], dtype).max() <= BOUND
    assert _ulp(grad, [e[1] for e in exact], dtype).max() <= BOUND
    assert _ulp(hess, [e[2] for e in exact], dtype).max() <= 2 * BOUND
