"""Embedding losses: L-Softmax (large_margin_softmax), center loss and its center update, and the
Crammer-Singer multi-class hinge. Every reference here is independent of symloss: mpmath (with
mpmath.diff for gradients), brute-force loops, NumPy or PyTorch.

Convention assumed for reduction="none": the value is per sample, the gradient w.r.t. a per-sample
input (x, scores) is per sample and the gradient w.r.t. a shared parameter (weight, centers) is
that of the sum of the per-sample losses."""

import functools
import math

import mpmath as mp
import numpy as np
import pytest

import symloss

DPS = 30


def _mp(a):
    return np.vectorize(mp.mpf, otypes=[object])(np.asarray(a, dtype=np.float64))


def _mp_grad(f, *arrays):
    """mpmath.diff of f(*arrays) (a scalar) w.r.t. every entry of every array (object arrays)."""
    grads = []
    for k, a in enumerate(arrays):
        g = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(a.shape):

            def at(t, k=k, idx=idx):
                moved = list(arrays)
                moved[k] = arrays[k].copy()
                moved[k][idx] = t
                return f(*moved)

            g[idx] = mp.diff(at, a[idx])
        grads.append(g.astype(np.float64))
    return grads


def _reduce(each, per_sample_grad, shared_grad, reduction):
    """(value, per-sample-input gradient, shared-parameter gradient) under a reduction."""
    n = len(each)
    scale = 1.0 / n if reduction == "mean" else 1.0
    value = each if reduction == "none" else each.sum() * scale
    return value, per_sample_grad * scale, shared_grad * scale


def _assert_close(actual, expected, rel, dtype=np.float64):
    """Entries within rel·max|expected| (the honest float64 scale of a gradient) or rel·|e|."""
    actual, expected = np.asarray(actual), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape and actual.dtype == dtype
    scale = np.abs(expected).max(initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale)


# -- L-Softmax --------------------------------------------------------------------------------


def _psi(theta, m):
    k = min(int(mp.floor(m * theta / mp.pi)), m - 1)
    return (-1) ** k * mp.cos(m * theta) - 2 * k


def _lsoftmax_sample(x, w, y, m, lam):
    """-log softmax(f)_y for one sample in mpmath: x (D,), w (D, C) object arrays."""
    f = list(x @ w)
    dot = f[y]
    norms = mp.sqrt(sum(v * v for v in x)) * mp.sqrt(sum(v * v for v in w[:, y]))
    if norms != 0:
        theta = mp.acos(max(mp.mpf(-1), min(mp.mpf(1), dot / norms)))
        f[y] = (lam * dot + norms * _psi(theta, m)) / (1 + lam)
    return mp.log(sum(mp.exp(v - f[y]) for v in f))


def _lsoftmax_reference(x, w, y, m, lam, fd_rows=None):
    """Per-sample losses, per-sample ∂/∂x (N, D) and Σ_i ∂ℓ_i/∂W (D, C), mpmath at DPS digits.
    Only the rows in fd_rows (default: all) get finite-difference gradients; others are 0."""
    with mp.workdps(DPS):
        xs, ws, lam = _mp(x), _mp(w), mp.mpf(lam)
        each = np.array([float(_lsoftmax_sample(xs[i], ws, y[i], m, lam)) for i in range(len(x))])
        gx, gw = np.zeros(x.shape), np.zeros(w.shape)
        for i in range(len(x)) if fd_rows is None else fd_rows:
            gxi, gwi = _mp_grad(lambda a, b, i=i: _lsoftmax_sample(a, b, y[i], m, lam), xs[i], ws)
            gx[i] = gxi
            gw += gwi
    return each, gx, gw


@functools.cache
def _lsoftmax_case(m, lam):
    rng = np.random.default_rng(10 * m + int(10 * lam))
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    y = rng.integers(0, 5, size=4)
    return x, w, y, _lsoftmax_reference(x, w, y, m, lam)


def _softmax_ce(x, w, y, reduction):
    """Plain softmax cross entropy of the logits x @ w, with its gradients (NumPy)."""
    z = x @ w
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    each = -logp[np.arange(len(y)), y]
    g = np.exp(logp) - np.eye(w.shape[1])[y]
    return _reduce(each, g @ w.T, x.T @ g, reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("lam", [0.0, 0.5])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_lsoftmax_matches_mpmath_and_its_finite_differences(m, lam, reduction):
    x, w, y, (each, gx, gw) = _lsoftmax_case(m, lam)
    expected_v, expected_gx, expected_gw = _reduce(each, gx, gw, reduction)
    kw = {"m": m, "lambda_": lam, "reduction": reduction}
    v, (ours_gx, ours_gw) = symloss.large_margin_softmax.value_and_grad(x, w, y, **kw)
    _assert_close(v, expected_v, 1e-12)
    _assert_close(symloss.large_margin_softmax(x, w, y, **kw), expected_v, 1e-12)
    _assert_close(ours_gx, expected_gx, 1e-9)
    _assert_close(ours_gw, expected_gw, 1e-9)


def _at_angle(w, phi, r, rng):
    """A vector of norm r at angle phi to w (in the plane of w and a random direction)."""
    u = w / np.linalg.norm(w)
    v = rng.normal(size=w.shape)
    v -= (v @ u) * u
    v /= np.linalg.norm(v)
    return r * (math.cos(phi) * u + math.sin(phi) * v)


@pytest.mark.parametrize("lam", [0.0, 0.5])
@pytest.mark.parametrize("m", [2, 3, 4])
def test_lsoftmax_next_to_and_on_every_piece_boundary(m, lam):
    # ψ is C¹ at θ = kπ/m: both pieces meet with value 1 - 2k and slope 0
    rng = np.random.default_rng(m)
    w = rng.normal(size=(3, 4))
    rows, y = [], []
    for k in range(1, m):
        for offset in (-1e-7, 0.0, 1e-7):
            rows.append(_at_angle(w[:, k % 4], k * math.pi / m + offset, 1.7, rng))
            y.append(k % 4)
    x, y = np.array(rows), np.array(y)
    with mp.workdps(DPS):  # the construction is where it should be, on the expected sides
        for xi, yi, k, offset in zip(x, y, np.repeat(np.arange(1, m), 3), [-1, 0, 1] * (m - 1)):
            cos = mp.fdot(_mp(xi), _mp(w[:, yi])) / mp.norm(_mp(xi)) / mp.norm(_mp(w[:, yi]))
            err = mp.acos(cos) - k * mp.pi / m
            assert abs(err - offset * 1e-7) < 1e-14
    each, gx, gw = _lsoftmax_reference(x, w, y, m, lam)
    v, (ours_gx, ours_gw) = symloss.large_margin_softmax.value_and_grad(
        x, w, y, m=m, lambda_=lam, reduction="none"
    )
    _assert_close(v, each, 1e-12)
    _assert_close(ours_gx, gx, 1e-9)
    _assert_close(ours_gw, gw, 1e-9)


@pytest.mark.parametrize("lam", [0.0, 0.5])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_lsoftmax_parallel_and_antiparallel(m, lam):
    # θ = 0 and θ = π exactly (scaling by ±2^k is exact): cos θ = ±1, where arccos has no
    # derivative but ψ(θ) as a polynomial in cos θ does; in floating point cos θ may be ±(1 + ε)
    rng = np.random.default_rng(20 + m)
    w = rng.normal(size=(3, 4))
    x = np.array([2.0 * w[:, 1], -0.5 * w[:, 2], 0.25 * w[:, 0], -4.0 * w[:, 3]])
    y = np.array([1, 2, 0, 3])
    each, gx, gw = _lsoftmax_reference(x, w, y, m, lam)
    v, (ours_gx, ours_gw) = symloss.large_margin_softmax.value_and_grad(
        x, w, y, m=m, lambda_=lam, reduction="sum"
    )
    _assert_close(v, each.sum(), 1e-12)
    _assert_close(ours_gx, gx, 1e-9)
    _assert_close(ours_gw, gw, 1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_lsoftmax_m1_is_softmax_cross_entropy(lam, reduction):
    # ψ(θ) = cos θ: f_y = ‖W_y‖‖x‖cos θ = W_yᵀx, also for every λ
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(6, 4)), rng.normal(size=(4, 3))
    y = rng.integers(0, 3, size=6)
    expected_v, expected_gx, expected_gw = _softmax_ce(x, w, y, reduction)
    v, (gx, gw) = symloss.large_margin_softmax.value_and_grad(
        x, w, y, m=1, lambda_=lam, reduction=reduction
    )
    _assert_close(v, expected_v, 1e-12)
    _assert_close(gx, expected_gx, 1e-11)
    _assert_close(gw, expected_gw, 1e-11)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_lsoftmax_m1_matches_torch_cross_entropy(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, w = rng.normal(scale=2.0, size=(7, 3)), rng.normal(size=(3, 5))
    y = rng.integers(0, 5, size=7)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    out = torch.nn.functional.cross_entropy(xt @ wt, torch.tensor(y), reduction=reduction)
    gx, gw = torch.autograd.grad(out.sum(), (xt, wt))
    v, (ours_gx, ours_gw) = symloss.large_margin_softmax.value_and_grad(
        x, w, y, m=1, reduction=reduction
    )
    _assert_close(v, out.detach().numpy(), 1e-12)
    _assert_close(ours_gx, gx.numpy(), 1e-11)
    _assert_close(ours_gw, gw.numpy(), 1e-11)


@pytest.mark.parametrize("lam", [0.0, 0.5])
@pytest.mark.parametrize("m", [1, 2, 4])
def test_lsoftmax_zero_feature_and_zero_target_column(m, lam):
    # ‖x‖‖W_y‖ = 0: the margin term is 0, f_y = W_yᵀx = 0 with the gradient of W_yᵀx, i.e. the
    # sample contributes exactly as in plain softmax cross entropy
    rng = np.random.default_rng(30 + m)
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    x[0] = 0.0  # a zero feature (target 1)
    w[:, 2] = 0.0  # a zero target column for samples 1 and 3 (and a zero logit for sample 2)
    y = np.array([1, 2, 0, 2])
    each, gx, gw = _lsoftmax_reference(x, w, y, m, lam, fd_rows=[2])
    np.testing.assert_allclose(each[0], math.log(5), rtol=1e-15)
    plain = [0, 1, 3]
    plain_v, plain_gx, plain_gw = _softmax_ce(x[plain], w, y[plain], "none")
    np.testing.assert_allclose(each[plain], plain_v, rtol=1e-13)  # f_y = 0 = W_yᵀx
    gx[plain] = plain_gx
    gw += plain_gw
    v, (ours_gx, ours_gw) = symloss.large_margin_softmax.value_and_grad(
        x, w, y, m=m, lambda_=lam, reduction="none"
    )
    assert np.isfinite(v).all() and np.isfinite(ours_gx).all() and np.isfinite(ours_gw).all()
    _assert_close(v, each, 1e-12)
    _assert_close(ours_gx, gx, 1e-9)
    _assert_close(ours_gw, gw, 1e-9)


@pytest.mark.parametrize("lam", [0.0, 0.5])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_lsoftmax_logits_of_order_1e4(m, lam):
    rng = np.random.default_rng(40 + m)
    x, w = 3e3 * rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    y = np.argmin(x @ w, axis=1)  # ψ ≤ cos: f_y ≤ W_yᵀx, the loss is at least log C
    assert np.abs(x @ w).max() > 1e3
    each, gx, gw = _lsoftmax_reference(x, w, y, m, lam)
    v, (ours_gx, ours_gw) = symloss.large_margin_softmax.value_and_grad(
        x, w, y, m=m, lambda_=lam, reduction="none"
    )
    assert np.isfinite(v).all() and np.isfinite(ours_gx).all() and np.isfinite(ours_gw).all()
    _assert_close(v, each, 1e-12)
    _assert_close(ours_gx, gx, 1e-9)
    _assert_close(ours_gw, gw, 1e-9)


def test_lsoftmax_float32_stays_float32():
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(5, 3)), rng.normal(size=(3, 4))
    y = rng.integers(0, 4, size=5)
    for reduction in ("mean", "none"):
        kw = {"m": 3, "reduction": reduction}
        v64, (gx64, gw64) = symloss.large_margin_softmax.value_and_grad(x, w, y, **kw)
        v, (gx, gw) = symloss.large_margin_softmax.value_and_grad(
            x.astype(np.float32), w.astype(np.float32), y, **kw
        )
        assert v.dtype == gx.dtype == gw.dtype == np.float32
        assert symloss.large_margin_softmax(
            x.astype(np.float32), w.astype(np.float32), y
        ).dtype == (np.float32)
        np.testing.assert_allclose(v, v64, rtol=1e-4)
        _assert_close(gx, gx64, 1e-4, dtype=np.float32)
        _assert_close(gw, gw64, 1e-4, dtype=np.float32)


_X, _W, _Y = np.zeros((3, 2)), np.ones((2, 4)), np.array([0, 1, 3])


@pytest.mark.parametrize(
    "args, kw, error, message",
    [
        ((_X, _W, _Y), {"m": 0}, ValueError, r"\bm\b"),
        ((_X, _W, _Y), {"m": 2.5}, (TypeError, ValueError), r"\bm\b"),
        ((_X, _W, _Y), {"m": 5}, ValueError, r"\bm\b"),
        ((_X, _W, [0, 1, 4]), {}, ValueError, "target"),
        ((_X, _W, [0, -1, 3]), {}, ValueError, "target"),
        ((_X, _W, [0.0, 1.0, 3.0]), {}, (TypeError, ValueError), "target"),
        ((_X, _W, [0, 1]), {}, ValueError, "target"),
        ((_X, _W, [[0], [1], [3]]), {}, ValueError, "target"),
        ((np.zeros(2), _W, 0), {}, ValueError, r"\bx\b"),
        ((_X, np.ones((3, 4)), _Y), {}, ValueError, r"weight|\bx\b"),
        ((_X, np.ones(2), _Y), {}, ValueError, "weight"),
        ((_X, _W, _Y), {"reduction": "avg"}, ValueError, "reduction"),
    ],
)
def test_lsoftmax_bad_input_is_a_clear_error(args, kw, error, message):
    with pytest.raises(error, match=message):
        symloss.large_margin_softmax(*args, **kw)
    with pytest.raises(error, match=message):
        symloss.large_margin_softmax.value_and_grad(*args, **kw)


# -- center loss and center update ------------------------------------------------------------


def _center_loss_loop(x, y, centers, reduction):
    each, gx, gc = np.zeros(len(x)), np.zeros(x.shape), np.zeros(centers.shape)
    for i in range(len(x)):
        for d in range(x.shape[1]):
            diff = x[i, d] - centers[y[i], d]
            each[i] += diff * diff / 2
            gx[i, d] = diff
            gc[y[i], d] -= diff
    return _reduce(each, gx, gc, reduction)


def _center_loss_case():
    rng = np.random.default_rng(8)
    x, centers = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    y = np.array([0, 3, 3, 1, 0, 3, 1])  # repeated labels; classes 2 and 4 have no sample
    return x, y, centers


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_center_loss_against_a_loop(reduction):
    x, y, centers = _center_loss_case()
    expected_v, expected_gx, expected_gc = _center_loss_loop(x, y, centers, reduction)
    v, (gx, gc) = symloss.center_loss.value_and_grad(x, y, centers, reduction=reduction)
    _assert_close(v, expected_v, 1e-14)
    _assert_close(symloss.center_loss(x, y, centers, reduction=reduction), expected_v, 1e-14)
    _assert_close(gx, expected_gx, 1e-14)
    _assert_close(gc, expected_gc, 1e-14)
    np.testing.assert_array_equal(gc[[2, 4]], 0.0)


def _center_loss_mp(x, y, centers):
    return sum((x[i, d] - centers[y[i], d]) ** 2 for i in range(len(x)) for d in range(3)) / 2


def test_center_loss_against_finite_differences():
    x, y, centers = _center_loss_case()
    with mp.workdps(DPS):
        gx, gc = _mp_grad(lambda a, c: _center_loss_mp(a, y, c), _mp(x), _mp(centers))
    v, (ours_gx, ours_gc) = symloss.center_loss.value_and_grad(x, y, centers, reduction="sum")
    _assert_close(ours_gx, gx, 1e-13)
    _assert_close(ours_gc, gc, 1e-13)


def test_center_loss_float32_stays_float32():
    x, y, centers = _center_loss_case()
    x32, c32 = x.astype(np.float32), centers.astype(np.float32)
    v, (gx, gc) = symloss.center_loss.value_and_grad(x32, y, c32)
    assert v.dtype == gx.dtype == gc.dtype == np.float32
    assert symloss.center_loss(x32, y, c32, reduction="none").dtype == np.float32
    np.testing.assert_allclose(v, _center_loss_loop(x, y, centers, "mean")[0], rtol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((2, 3)), [0, 4], np.zeros((4, 3))), "target"),
        ((np.zeros((2, 3)), [-1, 0], np.zeros((4, 3))), "target"),
        ((np.zeros((2, 3)), [0, 1], np.zeros((4, 2))), r"centers|\bx\b"),
        ((np.zeros((2, 3)), [0, 1], np.zeros(3)), "centers"),
        ((np.zeros((2, 3)), [0, 1], np.zeros((4, 3, 1))), "centers"),
    ],
)
def test_center_loss_bad_input_is_a_clear_error(args, message):
    with pytest.raises((ValueError, TypeError), match=message):
        symloss.center_loss(*args)
    with pytest.raises((ValueError, TypeError), match=message):
        symloss.center_loss.value_and_grad(*args)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 0.3])
def test_center_update_against_a_loop(alpha):
    x, y, centers = _center_loss_case()
    x_before, centers_before = x.copy(), centers.copy()
    expected = centers.copy()
    for j in range(len(centers)):
        mine = [i for i in range(len(x)) if y[i] == j]
        step = sum((centers[j] - x[i] for i in mine), np.zeros(3))
        expected[j] = centers[j] - alpha * step / (1 + len(mine))
    new = symloss.center_update(x, y, centers, alpha=alpha)
    np.testing.assert_allclose(new, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(new[[2, 4]], centers[[2, 4]])  # no sample: unchanged
    assert new is not centers and not np.shares_memory(new, centers)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(centers, centers_before)
    np.testing.assert_allclose(symloss.center_update(x, y, centers), _default_update(x, y), 1e-14)


def _default_update(x, y):
    # the default α = 0.5, by the rule written out once more
    _, _, centers = _center_loss_case()
    counts = np.bincount(y, minlength=len(centers))
    sums = np.zeros_like(centers)
    np.add.at(sums, y, centers[y] - x)
    return centers - 0.5 * sums / (1 + counts)[:, None]


@pytest.mark.parametrize("alpha", [-0.1, 1.5, 2])
def test_center_update_alpha_out_of_range(alpha):
    x, y, centers = _center_loss_case()
    with pytest.raises(ValueError, match="alpha"):
        symloss.center_update(x, y, centers, alpha=alpha)


# -- Crammer-Singer hinge ---------------------------------------------------------------------


def _crammer_singer_loop(s, y, margin, reduction):
    each, g = np.zeros(len(s)), np.zeros(s.shape)
    for i in range(len(s)):
        others = [j for j in range(s.shape[1]) if j != y[i]]
        top = max(others, key=lambda j: s[i, j])  # the first index attaining the maximum
        h = margin + s[i, top] - s[i, y[i]]
        if h > 0:
            each[i], g[i, top], g[i, y[i]] = h, 1.0, -1.0
    value, g, _ = _reduce(each, g, np.zeros(()), reduction)
    return value, g


def _weston_watkins_loop(s, y, margin, reduction):
    each, g = np.zeros(len(s)), np.zeros(s.shape)
    for i in range(len(s)):
        for j in range(s.shape[1]):
            h = margin - s[i, y[i]] + s[i, j]
            if j != y[i] and h > 0:
                each[i] += h
                g[i, j] += 1.0
                g[i, y[i]] -= 1.0
    value, g, _ = _reduce(each, g, np.zeros(()), reduction)
    return value, g


def _check_crammer_singer(s, y, margin, reduction):
    expected_v, expected_g = _crammer_singer_loop(s, y, margin, reduction)
    kw = {"margin": margin, "kind": "crammer_singer", "reduction": reduction}
    v, g = symloss.multiclass_hinge.value_and_grad(s, y, **kw)
    _assert_close(symloss.multiclass_hinge(s, y, **kw), expected_v, 1e-15)
    _assert_close(v, expected_v, 1e-15)
    _assert_close(g, expected_g, 1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [1.0, 0.5, 0.0])
def test_crammer_singer_on_continuous_scores(margin, reduction):
    rng = np.random.default_rng(9)
    s = rng.normal(size=(9, 5))
    y = rng.integers(0, 5, size=9)
    _check_crammer_singer(s, y, margin, reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_crammer_singer_ties_and_kinks(reduction):
    rng = np.random.default_rng(10)
    s = rng.integers(-2, 3, size=(20, 4)).astype(np.float64)  # many ties and kinks
    y = rng.integers(0, 4, size=20)
    s[:4] = [[2, 0, 2, 2], [3, 1, 3, 0], [1, 2, 0, 0], [0, 5, 1, 1]]
    y[:4] = [1, 0, 1, 1]
    # first index attaining the max: +1 at 0 / at 2 (y = 0 is skipped); a kink; inactive
    _check_crammer_singer(s, y, 1.0, reduction)
    v, g = symloss.multiclass_hinge.value_and_grad(
        s[:4], y[:4], kind="crammer_singer", reduction="none"
    )
    np.testing.assert_array_equal(v, [3.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(g, [[1, -1, 0, 0], [-1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weston_watkins_is_still_the_default(reduction):
    rng = np.random.default_rng(11)
    s = rng.normal(size=(8, 4))
    y = rng.integers(0, 4, size=8)
    expected_v, expected_g = _weston_watkins_loop(s, y, 0.7, reduction)
    for kw in ({}, {"kind": "weston_watkins"}):
        v, g = symloss.multiclass_hinge.value_and_grad(s, y, margin=0.7, reduction=reduction, **kw)
        _assert_close(v, expected_v, 1e-14)
        _assert_close(g, expected_g, 1e-14)
        _assert_close(
            symloss.multiclass_hinge(s, y, margin=0.7, reduction=reduction, **kw), expected_v, 1e-14
        )


def test_multiclass_hinge_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        symloss.multiclass_hinge(np.zeros((2, 3)), [0, 1], kind="something")
    with pytest.raises(ValueError, match="kind"):
        symloss.multiclass_hinge.value_and_grad(np.zeros((2, 3)), [0, 1], kind="something")


# -- the references themselves ----------------------------------------------------------------


def test_references_agree_with_closed_forms():
    rng = np.random.default_rng(12)
    x, w = rng.normal(size=(3, 3)), rng.normal(size=(3, 4))
    y = np.array([0, 3, 1])
    for lam in (0.0, 0.5):  # m = 1 is softmax cross entropy, with its gradients
        each, gx, gw = _lsoftmax_reference(x, w, y, 1, lam)
        plain_v, plain_gx, plain_gw = _softmax_ce(x, w, y, "none")
        np.testing.assert_allclose(each, plain_v, rtol=1e-14)
        np.testing.assert_allclose(gx, plain_gx, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(gw, plain_gw, rtol=1e-13, atol=1e-15)
    with mp.workdps(DPS):  # ψ is continuous with slope 0 across the boundaries
        for m in (2, 3, 4):
            for k in range(1, m):
                b = k * mp.pi / m
                assert abs(_psi(b - mp.mpf(1e-20), m) - (1 - 2 * k)) < 1e-35
                assert abs(_psi(b + mp.mpf(1e-20), m) - (1 - 2 * k)) < 1e-35
        assert abs(_psi(mp.pi, 4) + 7) < 1e-25  # θ = π takes the last piece, k = m - 1
    x, y, centers = _center_loss_case()
    with mp.workdps(DPS):
        gx, gc = _mp_grad(lambda a, c: _center_loss_mp(a, y, c), _mp(x), _mp(centers))
    np.testing.assert_allclose(gx, x - centers[y], rtol=1e-14)
    np.testing.assert_allclose(gc, _center_loss_loop(x, y, centers, "sum")[2], rtol=1e-14)
    np.testing.assert_allclose(_default_update(x, y)[[2, 4]], centers[[2, 4]], rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lsoftmax_target_gradient_near_a_piece_boundary(dtype):
    """t = f_y/(‖x‖‖W_y‖) within a few ULP of cos(3π/4), where ψ_4'(t) vanishes: the gradient
    in f_y is tiny, and with t rounded first it took the wrong sign or 0. Reference: ψ through
    θ = arccos t, dψ/dt = (-1)^k m sin(mθ)/sin θ (not the Chebyshev pieces symloss uses)."""
    m, f, w_norm = 4, -30.0, 3.5424560476769824
    centre = dtype(abs(f) / (w_norm * math.cos(math.pi / 4)))
    x_norms = [centre]
    for _ in range(6):
        x_norms += [np.nextafter(x_norms[-1], dtype(np.inf)), np.nextafter(x_norms[0], dtype(0))]
    x_norm = np.array(x_norms, dtype)
    n = len(x_norm)
    logits = np.zeros((n, 5), dtype)
    logits[:, 0] = f
    target = np.zeros(n, np.int64)
    w = np.full(n, w_norm, dtype)
    _, (grad, _, _) = symloss.large_margin_softmax.rowwise.value_and_grad(
        logits, target, x_norm, w, m=m, reduction="none"
    )
    assert grad.dtype == dtype
    with mp.workdps(60):
        for i in range(n):
            norms = mp.mpf(float(x_norm[i])) * mp.mpf(float(w[i]))
            t = mp.mpf(float(f)) / norms
            theta = mp.acos(t)
            k = min(int(mp.floor(m * theta / mp.pi)), m - 1)
            slope = (-1) ** k * m * mp.sin(m * theta) / mp.sin(theta)
            margin = norms * _psi(theta, m)
            p_other = 1 / (1 + mp.exp(margin - mp.log(4)))  # four other logits of 0
            exact = -p_other * slope
            got = float(grad[i, 0])
            assert math.copysign(1, got) == math.copysign(1, float(exact))
            ulp = float(np.spacing(dtype(abs(float(exact)))))
            assert abs(got - float(exact)) <= 8 * ulp, (i, got, float(exact))
