"""Class-axis losses at logits of -inf (masked classes: "this class is impossible").

Expected values: PyTorch's cross_entropy and autograd (the peer), and the plain definitions
evaluated in mpmath at 60 digits with -inf replaced by -T for T = 1e20 (e^{-T} is far below
the working precision, so that is the limit; a term that grows with T is +inf there), the
derivatives by mpmath.diff at that point.
"""

import math

import mpmath
import numpy as np
import pytest

import symloss

inf = math.inf
C = 5
# rows of logits with masked classes; the labels are never masked here
ROWS = [
    ([1.0, -inf, 0.5, -2.0, 3.0], 0),  # one masked class
    ([-inf, 0.3, -inf, 2.0, -inf], 3),  # several
    ([-inf, -inf, 1.5, -inf, -inf], 2),  # only the label is left: p_y = 1, 1 - p_y = 0
    ([40.0, -inf, -40.0, 0.0, -inf], 2),  # an unlikely label next to masked classes
    ([0.0, 0.0, -inf, 0.0, 0.0], 4),
]
WEIGHT = np.array([0.5, 2.0, 1.0, 0.0, 1.5])  # a zero weight too
BIG = mpmath.mpf(10) ** 20

mpmath.mp.dps = 60


def _arrays(dtype, rows=ROWS):
    z = np.array([r for r, _ in rows], dtype=dtype)
    y = np.array([k for _, k in rows], dtype=np.int64)
    return z, y


def _finite(z):
    return [mpmath.mpf(-BIG) if v == -inf else mpmath.mpf(float(v)) for v in z]


def _log_partition(z):
    return mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))


def _ce(z, y, w, eps):
    lse = _log_partition(z)
    smooth = mpmath.fsum(w[c] * (lse - z[c]) for c in range(len(z)))
    return (1 - eps) * w[y] * (lse - z[y]) + eps / len(z) * smooth


def _ce_probabilities(z, t, w, eps):
    lse = _log_partition(z)
    return mpmath.fsum(
        w[c] * ((1 - eps) * t[c] + eps / len(z)) * (lse - z[c]) for c in range(len(z))
    )


def _focal(z, y, alpha, gamma):
    lse = _log_partition(z)
    log_p = z[y] - lse
    q = mpmath.fsum(mpmath.exp(z[c] - lse) for c in range(len(z)) if c != y)
    return -alpha[y] * q**gamma * log_p


def _limit(f, z, order=0, j=None):
    """f's value (order 0) or its derivative in z_j (order 1, 2) at the masked row."""
    at = _finite(z)
    if order == 0:
        v = f(at)
    else:

        def g(x):
            moved = list(at)
            moved[j] = x
            return f(moved)

        v = mpmath.diff(g, at[j], order)
        # mpmath.diff's own error: ~1e-55 where the -T terms are ~1e20 (the derivatives
        # compared here are 0 or far larger, the smallest about e^-40·e^-40 ~ 2e-35)
        v = 0 if abs(v) < 1e-45 else v
    return inf if v > BIG / 1e5 else -inf if v < -BIG / 1e5 else float(v)


def _reference(f, z, hess=False):
    value = _limit(f, z)
    grad = [_limit(f, z, 1, j) for j in range(len(z))]
    h = [_limit(f, z, 2, j) for j in range(len(z))] if hess else None
    return value, grad, h


def _ulp(got, want, dtype, bound, floor=0.0):
    """At most ``bound`` ULP of the reference; ``floor``: ULP of that scale at least (the
    absolute error of the label-smoothing gradient p_j·Σ_c w_c - w_j, which cancels near
    uniform logits, masked or not: ε·max(w)/C, as `symloss verify` judges it)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert np.array_equal(np.isinf(got), np.isinf(want)), (got, want)
    assert not np.isnan(got).any(), got
    fin = np.isfinite(want)
    info = np.finfo(dtype)
    spacing = np.spacing(np.maximum(np.abs(want[fin]), floor).astype(dtype)).astype(np.float64)
    spacing = np.maximum(spacing, info.tiny)
    err = np.abs(got[fin] - want[fin]) / spacing
    assert err.max(initial=0.0) <= bound, (err.max(), got, want)
    assert np.array_equal(got[~fin], want[~fin])


DTYPES = (np.float32, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_masked_classes_against_mpmath(dtype, eps, weighted):
    z, y = _arrays(dtype)
    w = WEIGHT if weighted else np.ones(C)
    kw = {"label_smoothing": eps, **({"weight": w.astype(dtype)} if weighted else {})}
    value, grad = symloss.softmax_cross_entropy.value_and_grad(z, y, reduction="none", **kw)
    g2, hess = symloss.softmax_cross_entropy.grad_hess(z, y, **kw)
    wm = [mpmath.mpf(float(v)) for v in w.astype(dtype)]
    e = mpmath.mpf(float(dtype(eps)))
    for i, (row, label) in enumerate(ROWS):
        ref_v, ref_g, ref_h = _reference(lambda a, k=label: _ce(a, k, wm, e), row, hess=True)
        floor = eps * w.max() / C
        _ulp([value[i]], [ref_v], dtype, 8)
        _ulp(grad[i], ref_g, dtype, 8, floor)
        _ulp(g2[i], ref_g, dtype, 8, floor)
        _ulp(hess[i], ref_h, dtype, 16)
        masked = np.isneginf(np.array(row))
        if eps == 0.0:  # the limit: the masked class is absent, its gradient is 0
            assert np.isfinite(value[i]) and not grad[i][masked].any()
            assert not hess[i][masked].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_probability_targets_zero_at_masked_classes_against_mpmath(dtype, eps):
    z, y = _arrays(dtype)
    rng = np.random.default_rng(3)
    t = rng.dirichlet(np.ones(C), len(ROWS))
    t[np.isneginf(z)] = 0.0  # the target gives no mass to a masked class
    t = (t / t.sum(axis=1, keepdims=True)).astype(dtype)
    kw = {"label_smoothing": eps, "weight": WEIGHT.astype(dtype)}
    value, grad = symloss.softmax_cross_entropy.value_and_grad(z, t, reduction="none", **kw)
    g2, hess = symloss.softmax_cross_entropy_probabilities.grad_hess(z, t, **kw)
    wm = [mpmath.mpf(float(v)) for v in WEIGHT.astype(dtype)]
    e = mpmath.mpf(float(dtype(eps)))
    for i, (row, _) in enumerate(ROWS):
        tm = [mpmath.mpf(float(v)) for v in t[i]]
        ref_v, ref_g, ref_h = _reference(
            lambda a, tm=tm: _ce_probabilities(a, tm, wm, e), row, True
        )
        # p_j·Σ_c w_c t'_c - w_j t'_j cancels (as it does at finite logits, bit for bit at
        # -1e30 instead of -inf): judged against the size of its terms, max_c w_c t'_c
        floor = float(np.max(WEIGHT * ((1 - eps) * t[i] + eps / C)))
        _ulp([value[i]], [ref_v], dtype, 8)
        _ulp(grad[i], ref_g, dtype, 8, floor)
        _ulp(g2[i], ref_g, dtype, 8, floor)
        _ulp(hess[i], ref_h, dtype, 16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_masked_classes_against_mpmath(dtype, gamma):
    z, y = _arrays(dtype)
    alpha = np.array([0.25, 1.0, 0.5, 2.0, 0.75], dtype)
    value, grad = symloss.softmax_focal.value_and_grad(
        z, y, reduction="none", alpha=alpha, gamma=gamma
    )
    g2, hess = symloss.softmax_focal.grad_hess(z, y, alpha=alpha, gamma=gamma)
    am = [mpmath.mpf(float(v)) for v in alpha]
    gm = mpmath.mpf(gamma)
    for i, (row, label) in enumerate(ROWS):
        ref_v, ref_g, ref_h = _reference(lambda a, k=label: _focal(a, k, am, gm), row, True)
        _ulp([value[i]], [ref_v], dtype, 8)
        _ulp(grad[i], ref_g, dtype, 8)
        _ulp(g2[i], ref_g, dtype, 8)
        _ulp(hess[i], ref_h, dtype, 16)
        assert not grad[i][np.isneginf(np.array(row))].any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_divergence_log_input_masked_classes(dtype):
    z, _ = _arrays(dtype)
    rng = np.random.default_rng(5)
    t = rng.dirichlet(np.ones(C), len(ROWS))
    t[np.isneginf(z)] = 0.0
    t = (t / t.sum(axis=1, keepdims=True)).astype(dtype)
    value, grad = symloss.kl_divergence.value_and_grad(z, t, reduction="none", log_input=True)
    g2, hess = symloss.kl_divergence.grad_hess(z, t, log_input=True)
    for i, (row, _) in enumerate(ROWS):
        tm = [mpmath.mpf(float(v)) for v in t[i]]

        def kl(a, tm=tm):
            return mpmath.fsum(tc * (mpmath.log(tc) - ac) for tc, ac in zip(tm, a) if tc != 0)

        ref_v, ref_g, ref_h = _reference(kl, row, True)
        _ulp([value[i]], [ref_v], dtype, 8)
        _ulp(grad[i], ref_g, dtype, 8)
        _ulp(g2[i], ref_g, dtype, 8)
        _ulp(hess[i], ref_h, dtype, 16)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_cross_entropy_masked_classes_match_torch(torch, dtype, eps, weighted, reduction):
    # a masked label too: +inf loss, the gradient p - onehot stays finite (as PyTorch)
    rows = ROWS + [([1.0, -inf, 0.5, -2.0, 3.0], 1)]
    z, y = _arrays(dtype, rows)
    w = WEIGHT.astype(dtype) if weighted else None
    kw = {"label_smoothing": eps, **({"weight": w} if weighted else {})}
    value, grad = symloss.softmax_cross_entropy.value_and_grad(z, y, reduction=reduction, **kw)
    zt = torch.tensor(z, requires_grad=True)
    wt = None if w is None else torch.tensor(w)
    ref = torch.nn.functional.cross_entropy(
        zt, torch.tensor(y), weight=wt, label_smoothing=eps, reduction=reduction
    )
    (ref.sum() if reduction == "none" else ref).backward()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    peer = np.atleast_1d(ref.detach().numpy())
    got = np.atleast_1d(value)
    if weighted and eps > 0:
        # PyTorch's smoothing term is 0·(-log p_c) = 0·inf = NaN at a masked class of weight
        # 0 (WEIGHT[3]), next to masked classes of weight > 0: the limit is +inf
        assert (got[np.isnan(peer)] == inf).all()
        got, peer = got[~np.isnan(peer)], peer[~np.isnan(peer)]
    np.testing.assert_allclose(got, peer, rtol=rtol)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)
    assert np.isfinite(grad).all()
    if reduction == "none":
        assert value[-1] == inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_probability_targets_masked_classes_match_torch(torch, dtype, eps):
    z, _ = _arrays(dtype)
    t = np.where(np.isneginf(z), 0.0, 1.0)
    t = (t / t.sum(axis=1, keepdims=True)).astype(dtype)
    w = WEIGHT.astype(dtype)
    value, grad = symloss.softmax_cross_entropy.value_and_grad(
        z, t, reduction="none", weight=w, label_smoothing=eps
    )
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(
        zt, torch.tensor(t), weight=torch.tensor(w), label_smoothing=eps, reduction="none"
    )
    ref.sum().backward()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    peer = ref.detach().numpy()
    if eps == 0.0:
        # PyTorch computes t_c·log p_c as 0·(-inf) = NaN at the masked classes (its
        # class-label path gives the limit); the limit is the loss over the other classes
        assert np.isnan(peer).all()
        keep = ~np.isneginf(z)
        peer = np.array(
            [
                float(-(torch.tensor(w[k] * t[i][k]) * torch.tensor(z[i][k]).log_softmax(0)).sum())
                for i, k in enumerate(keep)
            ]
        )
    else:
        # ε/C > 0 at every masked class: +inf, or NaN in PyTorch where such a class has
        # weight 0 (WEIGHT[3]): 0·inf; the limit is +inf there too (other masked classes)
        assert (value[np.isnan(peer)] == inf).all()
        peer = np.where(np.isnan(peer), inf, peer)
    np.testing.assert_allclose(value, peer, rtol=rtol)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)


def test_all_masked_row_is_nan_and_nan_propagates():
    z = np.array([[-inf] * C, [np.nan, -inf, 0.0, 1.0, -inf], [np.nan, -inf, 0.0, 1.0, -inf]])
    y = np.array([0, 2, 2])
    for kw in ({}, {"label_smoothing": 0.1}, {"weight": np.zeros(C)}):
        value, grad = symloss.softmax_cross_entropy.value_and_grad(z, y, reduction="none", **kw)
        assert np.isnan(value).all() and np.isnan(grad).all()
    value, grad = symloss.softmax_focal.value_and_grad(z, y, reduction="none", gamma=0.0)
    assert np.isnan(value).all() and np.isnan(grad[0]).all()
    t = np.where(np.isneginf(z) | np.isnan(z), 0.0, 0.5)
    value = symloss.softmax_cross_entropy(z, t, reduction="none")
    assert np.isnan(value).all()


def test_masked_label_is_infinite():
    z, _ = _arrays(np.float64)
    y = np.argmax(np.isneginf(z), axis=1)  # the first masked class of each row
    for kw in ({}, {"label_smoothing": 0.1, "weight": WEIGHT}):
        assert (symloss.softmax_cross_entropy(z, y, reduction="none", **kw) == inf).all()
    assert (symloss.softmax_focal(z, y, reduction="none") == inf).all()
