"""The losses of symloss/catalog/peers.py against independent references, float64.

Expected values come from torch.nn.functional and torch's autograd (tests that need torch skip
without it), from the published formulas written here in NumPy or mpmath, or from finite
differences; never from symloss's own output.
"""

import math

import mpmath
import numpy as np
import pytest

import symloss

RTOL = 1e-12
SUM_RTOL = 1e-10  # where a reduction sums many terms
REDUCTIONS = ("mean", "sum", "none")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _peer(torch, fn, inputs, reduction, wrt=(0,), **kwargs):
    """Value of ``fn(*inputs, reduction=...)`` and the gradients of its sum w.r.t. ``wrt``."""
    ts = [
        torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=i in wrt)
        for i, a in enumerate(inputs)
    ]
    out = fn(*ts, reduction=reduction, **kwargs)
    grads = torch.autograd.grad(out.sum(), [ts[i] for i in wrt])
    return out.detach().numpy(), [g.numpy() for g in grads]


def _reduce(each, reduction):
    return {"none": each, "sum": each.sum(), "mean": each.mean()}[reduction]


def _fd(f, x, h=1e-6):
    """Central differences of the scalar ``f`` w.r.t. every element of ``x``."""
    g = np.empty_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up) - f(down)) / (2 * h)
    return g


def _residuals(rng, n=40, scale=3.0):
    p, t = rng.normal(scale=scale, size=n), rng.normal(scale=scale, size=n)
    return p, t, p - t


# --- cauchy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.3, 1.0, 2.5])
def test_cauchy_value_gradient_and_hessian(rng, c):
    p, t, r = _residuals(rng)
    expected = c**2 / 2 * np.log1p((r / c) ** 2)
    np.testing.assert_allclose(symloss.cauchy(p, t, c=c, reduction="none"), expected, rtol=RTOL)
    np.testing.assert_allclose(symloss.cauchy(p, t, c=c), expected.mean(), rtol=SUM_RTOL)

    def grad(pp):
        rr = pp - t
        return rr / (1 + (rr / c) ** 2)

    v, g = symloss.cauchy.value_and_grad(p, t, c=c, reduction="sum")
    np.testing.assert_allclose(v, expected.sum(), rtol=SUM_RTOL)
    np.testing.assert_allclose(g, grad(p), rtol=RTOL)
    g2, h = symloss.cauchy.grad_hess(p, t, c=c)
    np.testing.assert_allclose(g2, grad(p), rtol=RTOL)
    step = 1e-6 * np.maximum(1.0, np.abs(r))
    fd = (grad(p + step) - grad(p - step)) / (2 * step)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-9)


def test_cauchy_huge_residual_is_finite():
    with mpmath.workdps(50):
        r = mpmath.mpf(10) ** 200
        value, slope = float(mpmath.log1p(r**2) / 2), float(r / (1 + r**2))
    v, g = symloss.cauchy.value_and_grad(np.array([1e200]), np.array([0.0]), c=1.0)
    np.testing.assert_allclose(v, value, rtol=RTOL)
    np.testing.assert_allclose(v, math.log(1e200), rtol=RTOL)
    np.testing.assert_allclose(g, [slope], rtol=RTOL)
    assert 0 < g[0] < 1.1e-200


# --- general_robust (Barron, CVPR 2019) --------------------------------------------------------

SPECIAL = {  # α → ρ(x) with x = r/c, the paper's special cases
    2.0: lambda x: x**2 / 2,
    0.0: lambda x: np.log(x**2 / 2 + 1),
    1.0: lambda x: np.sqrt(x**2 + 1) - 1,
    -2.0: lambda x: 2 * x**2 / (x**2 + 4),
}


@pytest.mark.parametrize("alpha", sorted(SPECIAL))
@pytest.mark.parametrize("c", [0.5, 2.0])
def test_general_robust_special_cases(rng, alpha, c):
    p, t, r = _residuals(rng)
    got = symloss.general_robust(p, t, alpha=alpha, c=c, reduction="none")
    np.testing.assert_allclose(got, SPECIAL[alpha](r / c), rtol=RTOL)


def test_general_robust_tends_to_welsch(rng):
    p, t, r = _residuals(rng, scale=1.5)
    got = symloss.general_robust(p, t, alpha=-1e6, c=1.3, reduction="none")
    np.testing.assert_allclose(got, -np.expm1(-((r / 1.3) ** 2) / 2), rtol=1e-5)


def _barron_grad(r, alpha, c):
    """The paper's ∂ρ/∂x = x/c²·((x/c)²/|α - 2| + 1)^{α/2 - 1} (L2 at α = 2)."""
    if alpha == 2:
        return r / c**2
    return r / c**2 * ((r / c) ** 2 / abs(alpha - 2) + 1) ** (alpha / 2 - 1)


@pytest.mark.parametrize("near, alpha", [(2.0, 2 - 1e-9), (0.0, 1e-9), (0.0, -1e-9)])
def test_general_robust_continuous_at_the_limits(rng, near, alpha):
    p, t, r = _residuals(rng)
    v, g = symloss.general_robust.value_and_grad(p, t, alpha=alpha, c=0.7, reduction="none")
    np.testing.assert_allclose(v, SPECIAL[near](r / 0.7), rtol=1e-6)
    np.testing.assert_allclose(g, _barron_grad(r, near, 0.7), rtol=1e-6)


@pytest.mark.parametrize("alpha", [-4.5, -1.0, -0.3, 0.5, 1.5, 1.9])
def test_general_robust_gradient_vs_numerical_derivative(rng, alpha):
    p, t, r = _residuals(rng, n=12)
    c = 1.7
    with mpmath.workdps(40):
        a, cc = mpmath.mpf(alpha), mpmath.mpf(c)

        def rho(x):  # the paper's general form, in mpmath
            return abs(a - 2) / a * (((x / cc) ** 2 / abs(a - 2) + 1) ** (a / 2) - 1)

        values = [float(rho(mpmath.mpf(x))) for x in r]
        derivs = [float(mpmath.diff(rho, mpmath.mpf(x))) for x in r]
    g, h = symloss.general_robust.grad_hess(p, t, alpha=alpha, c=c)
    np.testing.assert_allclose(g, derivs, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(g, _barron_grad(r, alpha, c), rtol=1e-11)
    np.testing.assert_allclose(
        symloss.general_robust(p, t, alpha=alpha, c=c, reduction="none"), values, rtol=1e-11
    )
    fd = _fd(lambda pp: sum(_barron_grad(pp - t, alpha, c)), p.copy(), h=1e-6)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-9)


# --- quantile, squared_hinge -------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_quantile_is_the_pinball_loss(rng, tau):
    p, t, _ = _residuals(rng)
    d = t - p
    expected = np.maximum(tau * d, (tau - 1) * d)
    v, g = symloss.quantile.value_and_grad(p, t, tau=tau, reduction="none")
    np.testing.assert_allclose(v, expected, rtol=RTOL)
    np.testing.assert_allclose(symloss.quantile(p, t, tau=tau), expected.mean(), rtol=SUM_RTOL)
    np.testing.assert_array_equal(g, np.where(t > p, -tau, 1 - tau))


def test_quantile_median_is_half_l1(rng, torch):
    p, t, _ = _residuals(rng)
    l1 = torch.nn.functional.l1_loss(torch.tensor(p), torch.tensor(t)).item()
    np.testing.assert_allclose(symloss.quantile(p, t, tau=0.5), l1 / 2, rtol=SUM_RTOL)


def test_squared_hinge(rng):
    f = rng.normal(scale=1.5, size=50)
    y = rng.choice([-1.0, 1.0], size=50)
    expected = np.maximum(0, 1 - y * f) ** 2
    got = symloss.squared_hinge(f, y, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=RTOL)
    np.testing.assert_allclose(got, symloss.hinge(f, y, squared=True, reduction="none"), rtol=RTOL)
    _, g = symloss.squared_hinge.value_and_grad(f, y, reduction="none")
    np.testing.assert_allclose(g, -2 * y * np.maximum(0, 1 - y * f), rtol=RTOL)
    bits = (y + 1) / 2  # {0, 1} labels mean {-1, +1}
    np.testing.assert_allclose(symloss.squared_hinge(f, bits), expected.mean(), rtol=SUM_RTOL)


# --- against torch.nn.functional ---------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.7])
def test_margin_ranking_vs_torch(rng, torch, reduction, margin):
    x1, x2 = rng.normal(size=30), rng.normal(size=30)
    y = rng.choice([-1.0, 1.0], size=30)
    pv, (pg,) = _peer(
        torch, torch.nn.functional.margin_ranking_loss, (x1, x2, y), reduction, margin=margin
    )
    v, g = symloss.margin_ranking.value_and_grad(x1, x2, y, margin=margin, reduction=reduction)
    np.testing.assert_allclose(v, pv, rtol=RTOL)
    np.testing.assert_allclose(g, pg, rtol=RTOL)
    np.testing.assert_allclose(
        symloss.margin_ranking(x1, x2, y, margin=margin, reduction=reduction), pv, rtol=RTOL
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_vs_torch(rng, torch, reduction, full):
    y = np.array([0.0, 0.5, 1.0, 2.0, 10.0, 3.0, 0.0, 7.0, 1.5, 25.0])
    x = rng.normal(scale=2.0, size=y.size)
    pv, (pg,) = _peer(
        torch, torch.nn.functional.poisson_nll_loss, (x, y), reduction, log_input=True, full=full
    )
    v, g = symloss.poisson_nll.value_and_grad(x, y, full=full, reduction=reduction)
    np.testing.assert_allclose(v, pv, rtol=RTOL)
    np.testing.assert_allclose(g, pg, rtol=RTOL)
    np.testing.assert_allclose(
        symloss.poisson_nll(x, y, full=full, reduction=reduction), pv, rtol=RTOL
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_vs_torch(rng, torch, reduction, full):
    x, y = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    var = rng.uniform(0.05, 3.0, size=(3, 5))
    var[0, 0], var[1, 2], var[2, 4] = 1e-8, 0.0, 1e-6  # below and at eps: clamped
    pv, (pg,) = _peer(
        torch, torch.nn.functional.gaussian_nll_loss, (x, y, var), reduction, full=full, eps=1e-6
    )
    v, g = symloss.gaussian_nll.value_and_grad(x, y, var, eps=1e-6, full=full, reduction=reduction)
    np.testing.assert_allclose(v, pv, rtol=RTOL)
    np.testing.assert_allclose(g, pg, rtol=RTOL)


# --- tversky -----------------------------------------------------------------------------------


def _tversky(p, g, alpha, beta, s):
    axes = tuple(range(1, p.ndim))
    tp = (p * g).sum(axes)
    fp, fn = (p * (1 - g)).sum(axes), ((1 - p) * g).sum(axes)
    return 1 - (tp + s) / (tp + alpha * fp + beta * fn + s)


@pytest.mark.parametrize("alpha, beta, s", [(0.3, 0.7, 1.0), (0.5, 0.5, 0.0), (0.8, 0.1, 2.5)])
def test_tversky_value_and_gradient(rng, alpha, beta, s):
    p = rng.uniform(size=(3, 4, 5))
    g = (rng.uniform(size=(3, 4, 5)) > 0.6).astype(np.float64)
    expected = _tversky(p, g, alpha, beta, s)
    params = {"alpha": alpha, "beta": beta, "smooth": s}
    np.testing.assert_allclose(
        symloss.tversky(p, g, reduction="none", **params), expected, rtol=RTOL
    )
    v, grad = symloss.tversky.value_and_grad(p, g, **params)
    np.testing.assert_allclose(v, expected.mean(), rtol=RTOL)
    fd = _fd(lambda q: _tversky(q, g, alpha, beta, s).mean(), p)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-10)


def test_tversky_half_half_is_dice_and_empty_masks_are_zero(rng):
    p = rng.uniform(size=(4, 6, 6))
    g = (rng.uniform(size=(4, 6, 6)) > 0.5).astype(np.float64)
    for s in (0.0, 0.5, 1.0):
        tv = symloss.tversky(p, g, alpha=0.5, beta=0.5, smooth=s, reduction="none")
        np.testing.assert_allclose(
            tv, symloss.dice(p, g, smooth=2 * s, reduction="none"), rtol=1e-13
        )
        p[1], g[1] = 0.0, 0.0  # an empty sample from the second round on
        zero = symloss.tversky(p, g, smooth=s, reduction="none")
        assert zero[1] == 0.0 and np.isfinite(zero).all()


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p, t: symloss.quantile(p, t, tau=2.0), "tau"),
        (lambda p, t: symloss.quantile(p, t, tau=-0.1), "tau"),
        (lambda p, t: symloss.cauchy(p, t, c=0.0), "c must be"),
        (lambda p, t: symloss.general_robust(p, t, alpha=2.5), "alpha"),
        (lambda p, t: symloss.gaussian_nll(p, t, np.ones(3), eps=0.0), "eps"),
        (lambda p, t: symloss.margin_ranking(p, t, [1, 2, -1]), "target"),
        (lambda p, t: symloss.squared_hinge(p, [0.5, 1, -1]), "target"),
    ],
)
def test_bad_input_raises(call, message):
    p, t = np.array([0.3, -1.2, 2.0]), np.array([0.1, 0.5, -3.0])
    with pytest.raises(ValueError, match=message):
        call(p, t)


# --- cosine_distance and triplet_margin (vectors along axis 1) -------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2)])
def test_cosine_distance_vs_torch(rng, torch, reduction, shape):
    x, y = rng.normal(size=shape), rng.normal(size=shape)
    y[0] = 3.0 * x[0]  # parallel: distance 0, gradient 0
    y[1] = -x[1]  # opposite: distance 2

    def peer(a, b, reduction):
        return _reduce(1 - torch.nn.functional.cosine_similarity(a, b, dim=1), reduction)

    want, (gx, gy) = _peer(torch, peer, (x, y), reduction, wrt=(0, 1))
    got = symloss.cosine_distance(x, y, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-15)
    v, (dx, dy) = symloss.cosine_distance.value_and_grad(x, y, reduction="sum")
    np.testing.assert_allclose(
        v,
        np.sum(
            1
            - torch.nn.functional.cosine_similarity(torch.tensor(x), torch.tensor(y), dim=1).numpy()
        ),
        rtol=RTOL,
    )
    if reduction == "sum":
        np.testing.assert_allclose(dx, gx, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(dy, gy, rtol=1e-10, atol=1e-15)


def test_cosine_distance_clamps_small_norms_to_eps(rng):
    """Below ε the norm is ε: 1 - ⟨x, y⟩/(ε‖y‖), whose gradient in x is -y/(ε‖y‖)."""
    eps = 1e-3
    x = np.array([[0.0, 0.0, 0.0], [2e-4, -1e-4, 3e-4]])
    y = np.array([[1.0, 2.0, -2.0], [0.5, 0.0, 1.0]])
    v, (dx, _) = symloss.cosine_distance.value_and_grad(x, y, eps=eps, reduction="none")
    ny = np.linalg.norm(y, axis=1, keepdims=True)
    np.testing.assert_allclose(v, 1 - (x * y).sum(1) / (eps * ny[:, 0]), rtol=1e-14)
    np.testing.assert_allclose(dx, -y / (eps * ny), rtol=1e-14)


def test_cosine_distance_of_huge_float32_vectors_is_finite():
    """‖x‖² overflows float32 at 1e20; the norm is formed in float64, the result is exact."""
    x = np.array([[3e20, -4e20, 0.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0]], np.float32)
    v, (dx, dy) = symloss.cosine_distance.value_and_grad(x, y, reduction="none")
    # 1 - cos θ with cos θ = 3/5; ∂/∂x = (cos θ·x/‖x‖ - y/‖y‖)/‖x‖, ∂/∂y = (cos θ·y - x/‖x‖)
    np.testing.assert_allclose(v, [0.4], rtol=1e-6)
    np.testing.assert_allclose(
        dx[0], (0.6 * np.array([0.6, -0.8, 0]) - [1, 0, 0]) / 5e20, rtol=1e-6
    )
    np.testing.assert_allclose(
        dy[0], 0.6 * np.array([1, 0, 0]) - [0.6, -0.8, 0], rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin, eps", [(1.0, 1e-6), (0.2, 0.0), (3.0, 1e-3)])
def test_triplet_margin_vs_torch(rng, torch, reduction, margin, eps):
    a, p, n = (rng.normal(size=(12, 6)) for _ in range(3))
    n[:3] = a[:3] + 5.0  # far negatives: the hinge is inactive there
    want, grads = _peer(
        torch,
        torch.nn.functional.triplet_margin_loss,
        (a, p, n),
        reduction,
        wrt=(0, 1, 2),
        margin=margin,
        eps=eps,
    )
    got = symloss.triplet_margin(a, p, n, margin=margin, eps=eps, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-15)
    if reduction != "none":
        _, ours = symloss.triplet_margin.value_and_grad(
            a, p, n, margin=margin, eps=eps, reduction=reduction
        )
        for g, w in zip(ours, grads):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-15)


def test_triplet_margin_keeps_the_margin_for_far_anchors():
    """With p = n the loss is the margin exactly, however far the anchor: the distances are
    subtracted before the margin is added (margin + d(a,p) - d(a,n) would round it away)."""
    a = np.array([[1e17, 0.0, 0.0], [1e8, -1e8, 3.0]])
    p = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    for dtype in (np.float32, np.float64):
        v = symloss.triplet_margin(
            a.astype(dtype), p.astype(dtype), p.astype(dtype), reduction="none"
        )
        np.testing.assert_array_equal(v, np.ones(2, dtype))


def test_triplet_margin_gradient_vs_finite_differences(rng):
    a, p, n = (rng.normal(size=(4, 5)) for _ in range(3))

    def total(a, p, n):
        d = lambda u, v: np.linalg.norm(u - v + 1e-6, axis=1)  # noqa: E731
        return np.maximum(0, d(a, p) - d(a, n) + 1.0).sum()

    args = [a, p, n]
    _, grads = symloss.triplet_margin.value_and_grad(*args, reduction="sum")
    for k, g in enumerate(grads):

        def f(x, k=k):
            return total(*(x if i == k else v for i, v in enumerate(args)))

        np.testing.assert_allclose(g, _fd(f, args[k]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: symloss.cosine_distance(np.ones((2, 3)), np.ones((2, 4))), "shape"),
        (lambda: symloss.cosine_distance(np.ones((2, 3)), np.ones((2, 3)), eps=0.0), "eps"),
        (lambda: symloss.triplet_margin(np.ones((2, 3)), np.ones((2, 3)), np.ones(3)), "negative"),
        (lambda: symloss.triplet_margin(*[np.ones((2, 3))] * 3, margin=-1.0), "margin"),
    ],
)
def test_vector_peers_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
