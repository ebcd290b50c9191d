"""Accuracy fixes of issue 15 point 5, each kernel against mpmath on the plain definition.

The references are the formulas as written (σ(x) = 1/(1 + e^{-x}), e^x - y, 1 - e^{-r²/2}),
evaluated at two high precisions that must agree after rounding; infinite inputs take the
limit (evaluated at ±1e400, beyond both dtypes). Errors are in ULP of the kernel's dtype.
"""

import mpmath as mp
import numpy as np
import pytest

import symloss
from symloss.verify import ulp_error
from symloss.verify.model import underflow_measure

DTYPES = ("float32", "float64")


def reference(f, args, dtype, params=()):
    """f(*point, *params) for each point, at 400 and 800 digits, rounded to dtype (e^x - 1 at
    x = 1e-300 needs more than 300)."""
    out = []
    for point in zip(*args):
        values = []
        for dps in (400, 800):
            with mp.workdps(dps):
                at = [
                    mp.mpf(float(v)) if np.isfinite(v) else mp.sign(float(v)) * mp.mpf("1e400")
                    for v in point
                ]
                ps = [mp.mpf(float(np.asarray(p, dtype=dtype))) for p in params]
                values.append(np.asarray(float(f(*at, *ps)), dtype=dtype))
        assert values[0] == values[1], (point, values)
        out.append(values[1])
    return np.array(out, dtype=dtype)


def sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def sce_grad(x, y, w, eps):
    smoothed = y * (1 - eps) + eps / 2
    return -w * smoothed * sigmoid(-x) + (1 - smoothed) * sigmoid(x)


def sce_hess(x, y, w, eps):
    smoothed = y * (1 - eps) + eps / 2
    return (w * smoothed + 1 - smoothed) * sigmoid(x) * sigmoid(-x)


LOGITS = [1e-8, -1e-8, 1e-30, 1e-3, -0.3, 0.7, -0.99, 1.5, -2.0, 5.0, 20.0, -20.0, 40.0, -90.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("w, eps", [(1.0, 0.0), (1.0, 0.1), (2.5, 0.0), (0.5, 0.2)])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.5, 0.3, 0.5 - 2**-20, 0.9])
def test_sigmoid_cross_entropy_gradient_keeps_digits_for_soft_targets(dtype, w, eps, y):
    x = np.array(LOGITS, dtype=dtype)
    t = np.full_like(x, y)
    g, h = symloss.sigmoid_cross_entropy.grad_hess(x, t, pos_weight=w, label_smoothing=eps)
    ref_g = reference(sce_grad, [x, t], dtype, (w, eps))
    ref_h = reference(sce_hess, [x, t], dtype, (w, eps))
    # Forward error, except near a root x0 = log(w·y'/(1 - y')) ≠ 0 of the gradient, where it
    # is ill-conditioned in the logit: there a perturbation of x by 4 ULP (|x·g'(x)|·4ε, the
    # Hessian being g') is excused, as the logit is the one input a caller's rounding touches.
    excused = 4 * np.finfo(dtype).eps * np.abs(x.astype(float) * ref_h.astype(float))
    off = np.abs(g.astype(float) - ref_g.astype(float))
    err = np.where(off <= excused, 0.0, ulp_error(g, ref_g))
    assert err.max() <= 8, (x[err > 8], g[err > 8], ref_g[err > 8])
    assert ulp_error(h, ref_h).max() <= 16


def sce_value(x, y, w, eps):
    smoothed = y * (1 - eps) + eps / 2
    return w * smoothed * mp.log1p(mp.exp(-x)) + (1 - smoothed) * mp.log1p(mp.exp(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.1, 0.3, 2.0**-20])
@pytest.mark.parametrize("y", [1.0, 1.0 - 2.0**-10, 0.75])
def test_sigmoid_cross_entropy_value_forms_one_minus_the_smoothed_target_exactly(dtype, eps, y):
    # 1 - y' as 1 - (y(1 - ε) + ε/2) carried y'’s rounding 19-fold: 12 ULP at y = 1, ε = 0.1,
    # x = 40 (the value is then (1 - y')·x); (1 - y)(1 - ε) + ε/2 has no cancellation
    x = np.array([40.0, 300.0, 17.5, 3.0], dtype=dtype)
    t = np.full_like(x, y)
    got = symloss.sigmoid_cross_entropy(x, t, reduction="none", label_smoothing=eps)
    ref = reference(sce_value, [x, t], dtype, (1.0, eps))
    assert ulp_error(got, ref).max() <= 4, (got, ref)


def test_sigmoid_cross_entropy_gradient_at_a_tiny_logit_and_target_one_half():
    # issue 15: relative error 8e-9 at x = 1e-8, y = 0.5 (σ(x) - 1/2 cancelled)
    g, _ = symloss.sigmoid_cross_entropy.grad_hess(np.array([1e-8]), np.array([0.5]))
    assert abs(g[0] - 2.5e-9) <= 2 * np.spacing(2.5e-9)


def _near_balance(dtype, y, eps):
    """pos_weight w in dtype with (1 + w)·y' as close to 1 as it gets: the gradient's constant
    (1 - y')/2 - w·y'/2 at x = 0 then cancels in the data themselves."""
    smoothed = mp.mpf(float(np.asarray(y, dtype))) * (1 - mp.mpf(float(np.asarray(eps, dtype))))
    smoothed += mp.mpf(float(np.asarray(eps, dtype))) / 2
    return float(np.asarray(float(1 / smoothed - 1), dtype))


SCE_BALANCED = {  # (x, y, w, ε): points where (1 + w)·y' ≈ 1
    "float32": [
        (3e-7, 0.06, 3.98, 0.32),  # 71 ULP (the constant formed in float32)
        (-2.1794772692373954e-05, 0.3, 2.325458288192749, 0.0),  # 60 ULP
        (1e-30, 0.3, _near_balance("float32", 0.3, 0.0), 0.0),
        (-1e-12, 0.06, _near_balance("float32", 0.06, 0.32), 0.32),
        (2e-9, 0.41, _near_balance("float32", 0.41, 0.1), 0.1),
    ],
    "float64": [
        (1e-300, 0.41, 1.42, (1 / 2.42 - 0.41) / 0.09),  # 87 ULP
        (-0.00023995131676401687, 0.4359997089612143, 1.2916153015982874, 0.0),  # 65 ULP
        (1e-300, 0.41, _near_balance("float64", 0.41, 0.0), 0.0),
        (-1e-20, 0.06, _near_balance("float64", 0.06, 0.32), 0.32),
        (3e-17, 0.2, _near_balance("float64", 0.2, 0.7), 0.7),
    ],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(5))
def test_sigmoid_cross_entropy_gradient_where_the_positive_weight_balances_the_target(dtype, k):
    # the constant (1 - y')/2 - w·y'/2 of the gradient near x = 0 is formed from exact data in
    # double-double: in the dtype it kept the roundings of y' and w·y', relative to the terms
    x, y, w, eps = SCE_BALANCED[dtype][k]
    xs, ts = np.array([x], dtype=dtype), np.array([y], dtype=dtype)
    g, h = symloss.sigmoid_cross_entropy.grad_hess(xs, ts, pos_weight=w, label_smoothing=eps)
    ref_g = reference(sce_grad, [xs, ts], dtype, (w, eps))
    ref_h = reference(sce_hess, [xs, ts], dtype, (w, eps))
    # as above: the ill-conditioning in the logit near a root of the gradient is excused
    excused = 4 * np.finfo(dtype).eps * np.abs(xs.astype(float) * ref_h.astype(float))
    off = np.abs(g.astype(float) - ref_g.astype(float))
    err = np.where(off <= excused, 0.0, ulp_error(g, ref_g))
    assert err.max() <= 8, (g, ref_g, err)
    value, grad = symloss.sigmoid_cross_entropy.value_and_grad(
        xs, ts, reduction="none", pos_weight=w, label_smoothing=eps
    )
    err = np.where(
        np.abs(grad.astype(float) - ref_g.astype(float)) <= excused, 0, ulp_error(grad, ref_g)
    )
    assert err.max() <= 8, (grad, ref_g)


@pytest.mark.parametrize(
    "dtype, x, y, w",
    [
        ("float32", -1e30, 2.0**-149, 0.30092766880989075),  # 0 for 4.2e-16 (w·y rounded)
        ("float32", -1e20, 2.0**-149, 0.3),
        ("float32", -3e25, 3 * 2.0**-149, 1.7),
        ("float64", -1e300, 2.0**-1074, 1.4077582444893935),  # 7.5e14 ULP
        ("float64", -1e290, 2.0**-1074, 0.3),
        ("float64", -3e280, 5 * 2.0**-1074, 2.9),
    ],
)
def test_sigmoid_cross_entropy_value_with_a_subnormal_target(dtype, x, y, w):
    # w·y' of a subnormal y rounds to few digits (or 0) before it meets softplus(-x) ≈ |x|;
    # formed as softplus(-x)·y'·w the product keeps them
    xs, ts = np.array([x], dtype=dtype), np.array([y], dtype=dtype)
    ref = reference(sce_value, [xs, ts], dtype, (w, 0.0))
    got = symloss.sigmoid_cross_entropy(xs, ts, reduction="none", pos_weight=w)
    assert ulp_error(got, ref).max() <= 8, (got, ref)
    value, _ = symloss.sigmoid_cross_entropy.value_and_grad(xs, ts, reduction="none", pos_weight=w)
    assert ulp_error(value, ref).max() <= 8, (value, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("y", [1.0, 0.0, 0.5, 2.0, 1 - 2**-12, 1.25, 1e6])
def test_poisson_nll_gradient_near_x_0_and_y_1(dtype, y):
    x = np.array([-4.4e-134, 1e-300, -1e-20, 1e-8, -1e-5, 0.3, -2.0, 5.0, 30.0, -30.0, 14.0])
    x = x.astype(dtype)
    t = np.full_like(x, y)
    g, h = symloss.poisson_nll.grad_hess(x, t)
    ref = reference(lambda a, b: mp.exp(a) - b, [x, t], dtype)
    assert ulp_error(g, ref).max() <= 8, (g, ref)


@pytest.fixture(scope="module")
def welsch():
    return {
        "written": symloss.compile(symloss.define("welsch", "1 - exp(-(pred - target)**2/2)")),
        "expm1": symloss.compile(symloss.define("welsch2", "-expm1(-(pred - target)**2/2)")),
    }


def _welsch_residuals(dtype):
    big = [1e154, 1e200, 1e300] if dtype == "float64" else [1e19, 2e19, 1e30, 3e38]
    r = [1e-8, 1e-3, -1e-20, 0.5, 1.0, 3.0, -7.0, 30.0, 38.0, 40.0, *big, np.inf]
    return np.array(r + [-v for v in r], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["written", "expm1"])
def test_welsch_value_gradient_hessian_small_and_huge_residuals(welsch, dtype, form):
    r = _welsch_residuals(dtype)
    zero = np.zeros_like(r)
    kernel = welsch[form]
    got = {"value": kernel(r, zero, reduction="none")}
    got["grad"], got["hess"] = kernel.grad_hess(r, zero)
    refs = {
        "value": lambda p, t: 1 - mp.exp(-((p - t) ** 2) / 2),
        "grad": lambda p, t: (p - t) * mp.exp(-((p - t) ** 2) / 2),
        "hess": lambda p, t: (1 - (p - t) ** 2) * mp.exp(-((p - t) ** 2) / 2),
    }
    for q, bound in (("value", 8), ("grad", 8), ("hess", 16)):
        ref = reference(refs[q], [r, zero], dtype)
        err = ulp_error(got[q], ref)
        # the error model's one allowance here: results below tiny/ε (r = 38 in float64 gives a
        # subnormal gradient) are measured in units of the smallest normal number
        underflow = underflow_measure(got[q], ref)
        for i in np.flatnonzero(err > bound):
            m = underflow(int(i))
            err[i] = err[i] if m is None else m
        assert err.max() <= bound, (q, r[err > bound], got[q][err > bound], ref[err > bound])


@pytest.mark.parametrize("form", ["written", "expm1"])
def test_welsch_propagates_nan(welsch, form):
    r = np.array([np.nan, 1.0])
    t = np.array([0.0, np.nan])
    g, h = welsch[form].grad_hess(r, t)
    assert np.isnan(welsch[form](r, t, reduction="none")).all()
    assert np.isnan(g).all() and np.isnan(h).all()


def focal_value(x, y, alpha, gamma):
    p = sigmoid(x)
    q = y * (1 - p) + (1 - y) * p
    ce = y * mp.log1p(mp.exp(-x)) + (1 - y) * mp.log1p(mp.exp(x))
    return (alpha * y + (1 - alpha) * (1 - y)) * q**gamma * ce


@pytest.mark.parametrize("y", [1e-8, 3e-9, 1 - 2.0**-24])
def test_sigmoid_focal_value_keeps_digits_where_q_to_the_gamma_is_subnormal(y):
    # float32: q = 1e-8 at γ = 5 gives q^γ = 1e-40, a subnormal with 4 digits, while
    # q^γ·CE (CE ≈ y·|x|) is a normal number: 45 ULP and more when q^γ was rounded to float32
    x = np.array([-1e12, -3e10, -1e9, 4e11, 1e9], dtype="float32")
    t = np.full_like(x, y)
    got = symloss.sigmoid_focal(x, t, reduction="none", alpha=0.25, gamma=5.0)
    ref = reference(focal_value, [x, t], "float32", (0.25, 5.0))
    assert ulp_error(got, ref).max() <= 8, (got, ref)


def focal_grad(x, y, alpha, gamma):
    """∂/∂x of the definition; α < 0 disables the α_t weighting (α_t = 1)."""
    if alpha < 0:
        return mp.diff(lambda t: focal_value(t, y, 1, gamma) / y, x)  # α_t = y at α = 1
    return mp.diff(lambda t: focal_value(t, y, alpha, gamma), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha, gamma", [(0.25, 0.0), (0.25, 2.0), (-1.0, 0.0), (0.7, 5.0)])
def test_sigmoid_focal_gradient_near_a_zero_logit_at_target_one_half(dtype, alpha, gamma):
    # q^γ·((1 - y)σ(x) - y·σ(-x)) at y = 1/2 is q^γ·tanh(x/2)/2: formed as a difference of
    # sigmoids it was 0 for 3e-9 in float32 at x = 2.4e-8, γ = 0 (8e8 ULP; 3e7 in float64)
    x = np.array([2.4e-8, -3e-7, 1e-20, -1e-30, 1e-3], dtype=dtype)
    t = np.full_like(x, 0.5)
    ref = reference(focal_grad, [x, t], dtype, (alpha, gamma))
    g, _ = symloss.sigmoid_focal.grad_hess(x, t, alpha=alpha, gamma=gamma)
    assert ulp_error(g, ref).max() <= 8, (g, ref)


def focal_hess(x, y, alpha, gamma):
    """∂²/∂x² of the definition; α < 0 disables the α_t weighting (α_t = 1)."""
    if alpha < 0:
        return mp.diff(lambda t: focal_value(t, y, 1, gamma) / y, x, 2)
    return mp.diff(lambda t: focal_value(t, y, alpha, gamma), x, 2)


@pytest.mark.parametrize("x", [-10.0, -9.0, -12.0])
def test_sigmoid_focal_float32_hessian_where_its_terms_cancel(x):
    # at y = 0.53, γ = 2 the Hessian's 1 cancels against γ(1 - 2y)·CE·σ(-x)/q ≈ 1.29 for
    # x ≈ -10: its terms (products taken as exp(Σ logs)) rounded in float32 left 81 ULP at
    # x = -10; float32 kernels now compute the derivatives in float64
    xs = np.array([x], dtype="float32")
    t = np.full_like(xs, 0.53)
    ref = reference(focal_hess, [xs, t], "float32", (-1.0, 2.0))
    _, h = symloss.sigmoid_focal.grad_hess(xs, t, alpha=-1.0, gamma=2.0)
    assert ulp_error(h, ref).max() <= 4, (h, ref)


@pytest.mark.parametrize("x", [-1.98, -1.9797, -1.981])
def test_sigmoid_focal_float32_gradient_near_its_root(x):
    # at y = 0.3, α = 1, γ = 2 the gradient's two terms (≈ 0.0217) cancel to 6e-5 near
    # x = -1.98: 145 ULP in float32 from the roundings of the exp(Σ logs) product
    xs = np.array([x], dtype="float32")
    t = np.full_like(xs, 0.3)
    ref = reference(focal_grad, [xs, t], "float32", (1.0, 2.0))
    g, _ = symloss.sigmoid_focal.grad_hess(xs, t, alpha=1.0, gamma=2.0)
    assert ulp_error(g, ref).max() <= 4, (g, ref)


@pytest.mark.parametrize("x, y, alpha", [(-10.0, 0.5389344076221869, 0.25)])
def test_sigmoid_focal_float64_hessian_where_its_terms_cancel(x, y, alpha):
    # the same cancellation in float64: each product exp(Σ logs) carried the rounding of its
    # exponent (|Σ| ≈ 11) as a relative error, 26 ULP after the cancellation (the gate's
    # worst point); the exponent's terms are now added in double-double (lowering.exp_of_sum)
    xs = np.array([x])
    t = np.full_like(xs, y)
    ref = reference(focal_hess, [xs, t], "float64", (alpha, 2.0))
    _, h = symloss.sigmoid_focal.grad_hess(xs, t, alpha=alpha, gamma=2.0)
    assert ulp_error(h, ref).max() <= 16, (h, ref)


@pytest.mark.parametrize("dtype, y", [("float64", 1e-300), ("float64", 5e-324), ("float32", 1e-30)])
def test_sigmoid_focal_value_at_a_logit_of_minus_infinity_and_a_tiny_target(dtype, y):
    # y^γ·CE with CE = y·softplus(∞) = ∞: y^γ underflowed to 0 and the product was 0·∞ = NaN;
    # the limit is +∞ (y^γ > 0)
    x = np.array([-np.inf, -1e30], dtype=dtype)
    t = np.full_like(x, y)
    got = symloss.sigmoid_focal(x, t, reduction="none", alpha=0.25, gamma=2.0)
    assert got[0] == np.inf
    ref = reference(focal_value, [x[1:], t[1:]], dtype, (0.25, 2.0))
    assert got[1] == ref[0]  # y^3·|x|·α_t underflows to 0 (or a subnormal), not NaN


def bsce_value(x, y, beta):
    return beta * y * mp.log1p(mp.exp(-x)) + (1 - beta) * (1 - y) * mp.log1p(mp.exp(x))


# A label y = 1 exactly (or 0) makes the other term 0·softplus(±x): 0 for every finite logit,
# so 0 in the limit of an infinite one; computed as written it was 0·∞ = NaN. A tiny target
# times its weight may round to 0 while it is not: that term stays +∞ (last point).
INFINITE_LOGITS = {
    "sigmoid_cross_entropy": (sce_value, (1.0, 0.0)),
    "balanced_sigmoid_cross_entropy": (bsce_value, (0.25,)),
    "sigmoid_focal": (focal_value, (0.25, 2.0)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(INFINITE_LOGITS))
def test_value_at_an_infinite_logit_with_an_exact_label_is_its_limit(name, dtype):
    f, params = INFINITE_LOGITS[name]
    tiny = float(np.finfo(dtype).smallest_subnormal)
    x = np.array([np.inf, -np.inf, np.inf, -np.inf, -np.inf], dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, tiny], dtype=dtype)
    kw = dict(
        zip(
            {
                "sigmoid_cross_entropy": ("pos_weight", "label_smoothing"),
                "balanced_sigmoid_cross_entropy": ("beta",),
                "sigmoid_focal": ("alpha", "gamma"),
            }[name],
            params,
        )
    )
    got = symloss.loss(name)(x, t, reduction="none", **kw)
    ref = reference(f, [x[:4], t[:4]], dtype, params)
    np.testing.assert_array_equal(got[:4], ref)
    # a positive coefficient times +∞ (the 1e400 of `reference` is finite against 5e-324)
    assert got[4] == np.inf


def barron(r, alpha, c):
    k = abs(alpha - 2)
    return k / alpha * (((r / c) ** 2 / k + 1) ** (alpha / 2) - 1)


@pytest.mark.parametrize("alpha", [1.0, 0.5, -2.0, 1.5])
def test_general_robust_float32_with_a_tiny_scale(alpha):
    # r/c overflowed float32 (and c² underflowed) where the derivatives are finite: NaN
    # gradients and Hessians at c = 1e-30; float32 kernels now take this loss in float64.
    c = 1e-30
    r = np.array([1.0, -3.0e4, 1e9, 1e15], np.float32)
    g, h = symloss.loss("general_robust").grad_hess(r, np.zeros_like(r), alpha=alpha, c=c)
    with mp.workdps(80):
        cc = mp.mpf(float(np.float32(c)))
        ref_g = [mp.diff(lambda t: barron(t, mp.mpf(alpha), cc), mp.mpf(float(v))) for v in r]
        ref_h = [mp.diff(lambda t: barron(t, mp.mpf(alpha), cc), mp.mpf(float(v)), 2) for v in r]
    ref_g = np.array([float(v) for v in ref_g]).astype(np.float32)
    ref_h = np.array([float(v) for v in ref_h]).astype(np.float32)
    assert ulp_error(g, ref_g).max() <= 8, (g, ref_g)
    assert ulp_error(h, ref_h).max() <= 16, (h, ref_h)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_focal_derivatives_at_an_infinite_logit_of_the_right_sign(dtype):
    # ℓ(x, 1) = α·σ(-x)^γ·softplus(-x): it and its derivatives tend to 0 as x → +∞ (each term
    # holds σ(-x)^γ·e^{-x}-like factors); ℓ(x, 0) likewise as x → -∞. They were NaN: the
    # log-sum-exp giving log q compared ∞ - ∞ in a branch it did not take, and the exponent
    # (γ - 1)·log q was split into γ·log q - log q = -∞ + ∞ at q = 0.
    x = np.array([np.inf, -np.inf], dtype=dtype)
    t = np.array([1.0, 0.0], dtype=dtype)
    # (the gradient for γ < 1 and the Hessian for γ < 2 are still NaN there: q^(γ-1)·σ(-x)
    # and q^(γ-2)·σ(-x)² are exp(∞ - ∞) in log space; README)
    for alpha, gamma in [(0.25, 2.0), (-1.0, 1.0), (0.5, 3.0), (0.25, 2.5)]:
        _, g = symloss.sigmoid_focal.value_and_grad(
            x, t, reduction="none", alpha=alpha, gamma=gamma
        )
        g2, h = symloss.sigmoid_focal.grad_hess(x, t, alpha=alpha, gamma=gamma)
        np.testing.assert_array_equal(g, [0.0, 0.0])
        np.testing.assert_array_equal(g2, [0.0, 0.0])
        if gamma >= 2:
            np.testing.assert_array_equal(h, [0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_zero_coefficient_times_an_infinite_input_is_zero(dtype):
    # Poisson (log input): ℓ(x, 0) = e^x, so 0 at x = -∞ (it was e^x - 0·x = 0 - NaN), its
    # gradient e^x likewise; quantile with τ = 0 is 0 for y > ŷ (τ·(y - ŷ) at ŷ = -∞), and
    # with τ = 1 for y < ŷ ((τ - 1)·(y - ŷ) at ŷ = +∞).
    x = np.array([-np.inf, np.inf], dtype=dtype)
    y = np.zeros(2, dtype=dtype)
    value, grad = symloss.loss("poisson_nll").value_and_grad(x, y, reduction="none")
    np.testing.assert_array_equal(value, [0.0, np.inf])
    np.testing.assert_array_equal(grad, [0.0, np.inf])
    np.testing.assert_array_equal(symloss.quantile(x, y, tau=0.0, reduction="none"), [0.0, np.inf])
    np.testing.assert_array_equal(symloss.quantile(x, y, tau=1.0, reduction="none"), [np.inf, 0.0])
