"""Class-axis losses: softmax cross entropy against PyTorch's cross_entropy, and the runtime's
conventions (shapes, ignore_index, errors). Kernel accuracy against mpmath is in test_kernels."""

import math

import numpy as np
import pytest

import symloss

SCE = symloss.softmax_cross_entropy


def test_gradient_is_softmax_minus_one_hot():
    import sympy as sp

    from symloss.definition.spec import C, c
    from symloss.derive import j

    spec = symloss.get("softmax_cross_entropy")
    g = spec.derivative("logits").subs(sp.Symbol("label_smoothing", real=True), 0)
    z, y = spec.symbol("logits"), spec.symbol("target")
    softmax = sp.exp(z[j]) / sp.Sum(sp.exp(z[c]), (c, 0, C - 1))
    expected = (softmax - sp.KroneckerDelta(j, y)) * spec.symbol("weight")[y]
    assert sp.simplify(g - expected) == 0
    assert r"\sum_{c=0}^{C - 1}" in spec.latex() and r"\delta_{j y}" in spec.latex()


def test_extreme_logits_are_finite_and_exact():
    z = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    y = np.array([1, 0, 2])
    v, g = SCE.value_and_grad(z, y, reduction="none")
    np.testing.assert_array_equal(v[:2], [2e4, 0.0])
    np.testing.assert_allclose(v[2], math.log(3), rtol=1e-15)
    np.testing.assert_array_equal(g[0], [1.0, -1.0, 0.0])
    np.testing.assert_array_equal(g[1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(g[2], [1 / 3, 1 / 3, -2 / 3], rtol=1e-15)
    v32 = SCE(z.astype(np.float32), y, reduction="none")
    assert v32.dtype == np.float32 and np.isfinite(v32).all()


def test_shapes_dtypes_and_empty_input():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)  # (N, C, d1, d2)
    y = rng.integers(0, 4, size=(2, 3, 5))
    v, g = SCE.value_and_grad(z, y, reduction="none")
    assert v.shape == (2, 3, 5) and g.shape == z.shape and g.dtype == np.float32
    single = SCE.value_and_grad(z[0, :, 0, 0].astype(np.float64), y[0, 0, 0], reduction="none")
    assert np.ndim(single[0]) == 0 and single[1].shape == (4,)
    np.testing.assert_allclose(single[0], v[0, 0, 0], rtol=1e-6)
    e = np.zeros((0, 4))
    assert SCE(e, np.zeros(0, int), reduction="sum") == 0
    assert math.isnan(SCE(e, np.zeros(0, int)))
    assert math.isnan(SCE(z[:, :, 0, 0], np.full(2, -100)))  # everything ignored: 0/0


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: SCE(np.zeros((2, 3)), [0, 3]), ValueError, r"in \[0, 3\) or ignore_index=-100"),
        (lambda: SCE(np.zeros((2, 3)), [0, -1]), ValueError, "got -1"),
        (lambda: SCE(np.zeros((2, 3)), [0.0, 1.0]), TypeError, "integer class indices"),
        (lambda: SCE(np.zeros((2, 3)), [0, 1, 2]), ValueError, r"target has shape \(3,\)"),
        (lambda: SCE(np.zeros(()), 0), ValueError, "must have a class axis"),
        (lambda: SCE(np.zeros((2, 0)), [0, 0]), ValueError, "no classes"),
        (lambda: SCE(np.zeros((2, 3)), [0, 1], weight=[1, 2]), ValueError, r"shape \(3,\)"),
        (lambda: SCE(np.zeros((2, 3)), [0, 1], weight=[1, -2, 1]), ValueError, "weight must be"),
        (
            lambda: SCE(np.zeros((2, 3)), [0, 1], label_smoothing=1.5),
            ValueError,
            r"label_smoothing must be in \[0, 1\]",
        ),
        (lambda: SCE(np.zeros((2, 3)), [0, 1], ignore_index=0.5), TypeError, "ignore_index"),
        (lambda: SCE(np.zeros((2, 3)), [0, 1], delta=1), TypeError, "unexpected argument"),
        (lambda: SCE(np.zeros((2, 3)), [0, 1], axis=1), TypeError, "no axis="),
        (
            lambda: symloss.multiclass_hinge.grad_hess(
                np.zeros((2, 3)), [0, 1], kind="crammer_singer"
            ),
            TypeError,
            "no Hessian kernel",
        ),
        (lambda: SCE.grad_hess(np.zeros((2, 3)), [0, 1], out=1), TypeError, "out="),
        (lambda: SCE(np.zeros((2, 3)), [0, 1], reduction="avg"), ValueError, "reduction"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- against PyTorch ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _torch_ce(torch, z, y, reduction, **kw):
    zt = torch.tensor(z, requires_grad=True)
    if kw.get("weight") is not None:
        kw["weight"] = torch.tensor(kw["weight"])
    out = torch.nn.functional.cross_entropy(zt, torch.tensor(y), reduction=reduction, **kw)
    (g,) = torch.autograd.grad(out.sum(), zt)
    return out.detach().numpy(), g.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.7])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("shape", [(9, 5), (3, 5, 4), (2, 5, 3, 2)])
def test_matches_torch_cross_entropy(torch, reduction, weighted, smoothing, ignore_index, shape):
    rng = np.random.default_rng(hash((shape, ignore_index)) % 2**32)
    z = rng.normal(scale=3.0, size=shape)
    z.flat[:3] = [40.0, -40.0, 300.0]
    y = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    y.flat[1] = ignore_index if ignore_index < 0 else y.flat[1]
    kw = {"label_smoothing": smoothing, "ignore_index": ignore_index}
    kw["weight"] = rng.uniform(0.2, 3.0, shape[1]) if weighted else None
    expected_v, expected_g = _torch_ce(torch, z, y, reduction, **kw)
    v, g = SCE.value_and_grad(z, y, reduction=reduction, **kw)
    np.testing.assert_allclose(SCE(z, y, reduction=reduction, **kw), expected_v, rtol=1e-12)
    np.testing.assert_allclose(v, expected_v, rtol=1e-12)
    np.testing.assert_allclose(g, expected_g, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("shape", [(7, 4), (3, 4, 5), (4,)])
def test_probability_targets_match_torch(torch, reduction, weighted, smoothing, shape):
    rng = np.random.default_rng(len(shape) * 10 + int(weighted))
    z = rng.normal(scale=3.0, size=shape)
    t = np.moveaxis(rng.dirichlet(np.ones(4), size=(*shape[:1], *shape[2:])), -1, 1)
    if len(shape) == 1:
        t = rng.dirichlet(np.ones(4))
    else:
        t[0] = np.eye(4)[1][(slice(None), *([None] * (len(shape) - 2)))]  # one-hot row
        z[0] = 0.0
        z[(0, 1)] = 35.0  # a confident, correct prediction: the gradient is -Σ_{c≠1} p_c
    kw = {"label_smoothing": smoothing, "weight": rng.uniform(0.2, 3, 4) if weighted else None}
    expected_v, expected_g = _torch_ce(torch, z, t, reduction, **kw)
    v, g = SCE.value_and_grad(z, t, reduction=reduction, **kw)
    # torch forms log p = (z - lse) and p - t by subtraction, with absolute errors of ε·|z| and
    # ε: on the confident row (loss 1.9e-15) it is 5% off. Hence small absolute tolerances
    # here; ours is checked exactly there below and everywhere against mpmath in test_kernels.
    np.testing.assert_allclose(v, expected_v, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g, expected_g, rtol=1e-12, atol=1e-15)


def test_probability_targets_errors():
    z = np.zeros((2, 3))
    with pytest.raises(TypeError, match="ignore_index applies to class-index targets only"):
        SCE(z, np.full((2, 3), 1 / 3), ignore_index=1)
    with pytest.raises(ValueError, match=r"target has shape \(3, 2\)"):
        symloss.softmax_cross_entropy_probabilities(z, np.zeros((3, 2)))


def test_confident_prediction_gradient_keeps_its_digits():
    # p_1 = 1/(1 + 3e^-35): ∂ℓ/∂z_1 = p_1 - 1 = -3e^-35/(1 + 3e^-35), which p_1 - 1 in floating
    # point would round to about -2.2e-16·k; the kernels use expm1.
    z = np.array([[0.0, 35.0, 0.0, 0.0]])
    exact = -3 * math.exp(-35) / (1 + 3 * math.exp(-35))
    for target in (np.array([1]), np.eye(4)[[1]]):
        v, g = SCE.value_and_grad(z, target, reduction="sum")
        np.testing.assert_allclose(g[0, 1], exact, rtol=1e-14)
        np.testing.assert_allclose(v, math.log1p(3 * math.exp(-35)), rtol=1e-14)


# -- KL divergence ----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("log_input", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4)])
def test_kl_divergence_matches_torch_kl_div(torch, reduction, log_input, shape):
    """Ours: Σ over the class axis (1) per sample (each (n, d1, …) position), "mean" over the
    samples: PyTorch's "batchmean" for (N, C) inputs (PyTorch's "mean" divides by every
    element, N·C·…, which is not the divergence; its "batchmean" divides by N only)."""
    rng = np.random.default_rng(len(shape))
    q = np.moveaxis(rng.dirichlet(np.ones(5), size=(shape[0], *shape[2:])), -1, 1)
    p = np.moveaxis(rng.dirichlet(np.ones(5), size=(shape[0], *shape[2:])), -1, 1)
    p[0] = 0.0
    p[(0, 2)] = 1.0  # a one-hot target: 0·log 0 = 0
    pred = np.log(q) if log_input else q
    qt = torch.tensor(pred, requires_grad=True)
    each = torch.nn.functional.kl_div(
        qt if log_input else torch.log(qt), torch.tensor(p), reduction="none"
    ).sum(dim=1)
    expected = {"none": each, "sum": each.sum(), "mean": each.sum() / each.numel()}[reduction]
    (g,) = torch.autograd.grad(expected.sum(), qt)
    v, ours = symloss.kl_divergence.value_and_grad(
        pred, p, reduction=reduction, log_input=log_input
    )
    np.testing.assert_allclose(v, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours, g.numpy(), rtol=1e-12)


def test_kl_divergence_zero_conventions():
    # 0·log 0 = 0 (PyTorch gives NaN where target = pred = 0); p > 0 = q gives +inf
    v, g = symloss.kl_divergence.value_and_grad(
        np.array([[0.0, 1.0], [0.5, 0.5], [0.0, 1.0]]),
        np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]),
        reduction="none",
    )
    np.testing.assert_array_equal(v, [0.0, 0.0, np.inf])
    np.testing.assert_array_equal(g[0], [0.0, -1.0])
    assert g[2, 0] == -np.inf and g[2, 1] == 0.0
    with pytest.raises(ValueError, match="log_input must be False or True"):
        symloss.kl_divergence(np.ones((1, 2)) / 2, np.ones((1, 2)) / 2, log_input=2)
    with pytest.raises(TypeError, match="unexpected argument"):
        symloss.kl_divergence(np.ones((1, 2)) / 2, np.ones((1, 2)) / 2, weight=[1, 2])


# -- multi-class hinge ------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [1.0, 0.5, 0.0])
def test_multiclass_hinge_is_c_times_torch_multi_margin_loss(torch, reduction, margin):
    rng = np.random.default_rng(3)
    s = rng.normal(size=(8, 5))
    y = rng.integers(0, 5, size=8)
    st = torch.tensor(s, requires_grad=True)
    theirs = torch.nn.functional.multi_margin_loss(
        st, torch.tensor(y), margin=margin, reduction=reduction
    )
    (g,) = torch.autograd.grad(theirs.sum(), st)
    v, ours = symloss.multiclass_hinge.value_and_grad(s, y, reduction=reduction, margin=margin)
    np.testing.assert_allclose(v, 5 * theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours, 5 * g.numpy(), rtol=1e-12)


def test_multiclass_hinge_large_scores_keep_the_margin_exact():
    # m - s_y + s_c at c = y must be exactly m even when s_y is huge: Σ_{c≠y} terms only
    # (in float32, 1.8e19 - 4096 rounds to 1.8e19: the second row has a tie, loss = margin)
    s = np.array([[1.8e19, 0.0, 0.0], [0.0, 1.8e19, 1.8e19 - 4096]], dtype=np.float32)
    v = symloss.multiclass_hinge(s, np.array([0, 1]), reduction="none")
    np.testing.assert_array_equal(v, np.array([0.0, 1.0], dtype=np.float32))


# -- Dice -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("smooth", [1.0, 0.0, 1e-5])
def test_dice_against_the_textbook_formula_in_torch(torch, reduction, squared, smooth):
    rng = np.random.default_rng(7)
    p = rng.uniform(size=(3, 2, 4, 5))
    g = (rng.uniform(size=(3, 2, 4, 5)) < 0.3).astype(float)
    pt = torch.tensor(p, requires_grad=True)
    gt = torch.tensor(g)
    dims = (1, 2, 3)
    inter = (pt * gt).sum(dims)
    size = (pt**2).sum(dims) + (gt**2).sum(dims) if squared else pt.sum(dims) + gt.sum(dims)
    each = 1 - (2 * inter + smooth) / (size + smooth)
    expected = {"none": each, "sum": each.sum(), "mean": each.mean()}[reduction]
    (grad,) = torch.autograd.grad(expected.sum(), pt)
    v, ours = symloss.dice.value_and_grad(p, g, reduction=reduction, smooth=smooth, squared=squared)
    assert ours.shape == p.shape
    np.testing.assert_allclose(v, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours, grad.numpy(), rtol=1e-12)


def test_dice_empty_masks_and_perfect_predictions():
    empty = np.zeros((2, 3, 3))
    for smooth in (1.0, 0.0):  # s > 0: 1 - s/s; s = 0: 0/0, defined as 0 (nothing to miss)
        v, g = symloss.dice.value_and_grad(empty, empty, smooth=smooth, reduction="none")
        np.testing.assert_array_equal(v, [0.0, 0.0])
        assert np.isfinite(g).all()
    # a near-perfect prediction keeps its digits: p = 1 - 1e-12 on a full mask of 4
    p = np.full((1, 4), 1 - 1e-12)
    v = symloss.dice(p, np.ones((1, 4)), smooth=0.0, reduction="none")
    e = 1.0 - p[0, 0]  # exact (Sterbenz); Σ p(1-g) + g(1-p) = 4e over Σp + Σg = 8 - 4e
    np.testing.assert_allclose(v, 4 * e / (8 - 4 * e), rtol=1e-14)
    with pytest.raises(ValueError, match=r"target has shape \(1, 3\)"):
        symloss.dice(np.zeros((1, 4)), np.zeros((1, 3)))


def _mp_gradient(value, p, g, j):
    """∂value/∂p_j of the plain formula value(p, g), in mpmath at 60 digits (the inputs as
    given, exactly)."""
    import mpmath

    with mpmath.workdps(60):
        at, t = ([mpmath.mpf(float(x)) for x in v] for v in (p, g))
        return float(mpmath.diff(lambda x: value(at[:j] + [x] + at[j + 1 :], t), at[j]))


def _ulps(got, want, dtype):
    return abs(float(got) - want) / float(np.spacing(dtype(abs(want))))


def test_dice_gradient_where_its_quotient_rule_cancels():
    # (2Σpg + s)/D² - 2g_j/D at ordinary probabilities: the two terms agree to 3 digits here,
    # which formed in float64 lost 1766 ULP; the numerator is now formed in double-double
    p = [0.22273666311837736, 0.7055251753162405, 0.06621972720814666, 0.0034128879756063647]
    p += [0.0021055463816293508]
    g = [0.4216617652781877, 0.016482670322547004, 0.11641901740977197, 0.39049929003667705]
    g += [0.054937256952816156]
    s = 6.0956934985716344

    def dice(q, t):
        return 1 - (2 * sum(a * b for a, b in zip(q, t)) + s) / (sum(q) + sum(t) + s)

    _, grad = symloss.dice.value_and_grad(np.array([p]), np.array([g]), smooth=s, reduction="none")
    for j in range(5):
        assert _ulps(grad[0, j], _mp_gradient(dice, p, g, j), np.float64) <= 4, j


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tversky_gradient_near_a_perfect_prediction(dtype):
    # p_y = 1 - 4e^-30 on a one-hot mask with β = 0: the label's component is -α·FP/D², FP =
    # Σ_{c≠y} p_c ≈ 4e-13, which (TP + s)/D² - 1/D lost entirely (0 in float32, 5e12 ULP off
    # in float64)
    z = np.array([30.0, 0, 0, 0, 0])
    p = (np.exp(z - z.max()) / np.exp(z - z.max()).sum()).astype(dtype)
    g = np.eye(5, dtype=dtype)[0]
    alpha, beta, s = (float(dtype(v)) for v in (0.3, 0.0, 1.0))

    def tversky(q, t):
        tp = sum(a * b for a, b in zip(q, t))
        fp = sum(a * (1 - b) for a, b in zip(q, t))
        fn = sum((1 - a) * b for a, b in zip(q, t))
        return 1 - (tp + s) / (tp + alpha * fp + beta * fn + s)

    _, grad = symloss.tversky.value_and_grad(
        p[None], g[None], alpha=alpha, beta=beta, smooth=s, reduction="none"
    )
    for j in range(5):
        assert _ulps(grad[0, j], _mp_gradient(tversky, p, g, j), dtype) <= 4, j


# -- softmax focal ----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("alpha", [0.25, "per-class"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_against_its_formula_in_torch(torch, reduction, alpha, gamma):
    # torch forms 1 - p_y by subtraction, which loses digits for confident predictions: keep
    # the logits moderate here; the confident case is checked exactly below.
    rng = np.random.default_rng(11)
    z = rng.normal(scale=2.0, size=(9, 4))
    y = rng.integers(0, 4, size=9)
    a = rng.uniform(0.1, 2.0, 4) if alpha == "per-class" else alpha
    zt = torch.tensor(z, requires_grad=True)
    logp = torch.log_softmax(zt, dim=1).gather(1, torch.tensor(y)[:, None])[:, 0]
    a_y = torch.tensor(np.broadcast_to(a, (4,)))[torch.tensor(y)]
    each = -a_y * (1 - torch.exp(logp)) ** gamma * logp
    expected = {"none": each, "sum": each.sum(), "mean": each.mean()}[reduction]
    (g,) = torch.autograd.grad(expected.sum(), zt)
    v, ours = symloss.softmax_focal.value_and_grad(z, y, reduction=reduction, alpha=a, gamma=gamma)
    np.testing.assert_allclose(v, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours, g.numpy(), rtol=1e-12, atol=1e-300)


def test_softmax_focal_confident_prediction_is_exact():
    # p_y = 1/(1 + 2e^-40): 1 - p_y = 2e^-40/(1 + 2e^-40) would round to 0 by subtraction
    z = np.array([[0.0, 40.0, 0.0]])
    q = 2 * math.exp(-40) / (1 + 2 * math.exp(-40))
    log_p = -math.log1p(2 * math.exp(-40))
    v, g = symloss.softmax_focal.value_and_grad(z, [1], alpha=1.0, gamma=2.0, reduction="sum")
    np.testing.assert_allclose(v, -(q**2) * log_p, rtol=1e-14)
    assert np.isfinite(g).all() and g[0, 1] < 0 < g[0, 0]


def test_dice_stable_form_equals_its_formula():
    import sympy as sp

    from symloss.definition.spec import C

    spec = symloss.get("dice")
    rng = np.random.default_rng(2)
    p, g = spec.symbol("pred"), spec.symbol("target")
    for squared in (0, 1):
        at = {spec.symbol("squared"): squared, C: 4, spec.symbol("smooth"): sp.Rational(1, 2)}
        forms = [e.subs(at).doit() for e in (spec.element, spec.stable)]
        for _ in range(5):  # exact rational arithmetic at random points
            values = {p[k]: sp.Rational(rng.uniform()) for k in range(4)}
            values |= {g[k]: sp.Rational(rng.uniform()) for k in range(4)}
            a, b = (f.xreplace(values) for f in forms)
            assert a == b
    with pytest.raises(ValueError, match="unknown to the formula"):
        symloss.define("bad", sp.Symbol("pred") ** 2, stable=sp.Symbol("q"))
