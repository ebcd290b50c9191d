"""Values, gradients and Hessians against PyTorch (the peer), float64, 1e-12 relative.

The expected values come from torch.nn.functional (or, where torch has no function, the peer's
published formula written in torch ops) and torch's autograd. Skipped without torch.
"""

import math

import numpy as np
import pytest

import symloss

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-12
REDUCTIONS = ("mean", "sum", "none")
SHAPE = (7, 5)


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=False)


def _peer(fn, pred, *rest, reduction="mean", weight=None, hessian=False):
    """Value, gradient (and per-element Hessian) of ``fn(pred, *rest)`` reduced like symloss."""
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    each = fn(p, *[_t(r) for r in rest])
    if weight is not None:
        each = each * _t(weight)
    if reduction == "none":
        value, total = each, each.sum()
    elif reduction == "sum":
        value = total = each.sum()
    else:
        denom = each.numel() if weight is None else _t(np.broadcast_to(weight, pred.shape)).sum()
        value = total = each.sum() / denom
    (g,) = torch.autograd.grad(total, p, create_graph=hessian)
    h = None
    if hessian:  # elementwise: the Hessian is diagonal, d(Σ g)/dp
        (h,) = torch.autograd.grad(g.sum(), p)
        h = h.numpy()
    return value.detach().numpy(), g.detach().numpy(), h


def _close(ours, theirs, atol=0.0):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=atol)


def _compare(
    name, fn, pred, target, reduction, weight=None, hessian=False, hess_atol=0.0, **params
):
    k = symloss.loss(name)
    v, g = k.value_and_grad(pred, target, reduction=reduction, weight=weight, **params)
    pv, pg, _ = _peer(fn, pred, target, reduction=reduction, weight=weight)
    _close(k(pred, target, reduction=reduction, weight=weight, **params), pv)
    _close(v, pv)
    _close(g, pg)
    if hessian:
        _compare_hessian(name, fn, pred, target, hess_atol, **params)


def _compare_hessian(name, fn, pred, target, atol=0.0, **params):
    g, h = symloss.loss(name).grad_hess(pred, target, **params)
    _, pg, ph = _peer(fn, pred, target, reduction="sum", hessian=True)
    _close(g, pg)
    _close(h, ph, atol=atol)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return rng.normal(scale=2.0, size=SHAPE), rng.normal(scale=2.0, size=SHAPE), rng


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_mae(data, reduction):
    p, t, rng = data
    w = rng.uniform(0.1, 2.0, size=SHAPE)
    _compare("mse", lambda a, b: F.mse_loss(a, b, reduction="none"), p, t, reduction, hessian=True)
    _compare("mse", lambda a, b: F.mse_loss(a, b, reduction="none"), p, t, reduction, weight=w)
    _compare("mae", lambda a, b: F.l1_loss(a, b, reduction="none"), p, t, reduction)
    # torch's own reductions agree with ours where there are no weights
    pt, tt = _t(p), _t(t)
    if reduction != "none":
        _close(symloss.mse(p, t, reduction=reduction), F.mse_loss(pt, tt, reduction=reduction))
        _close(symloss.mae(p, t, reduction=reduction), F.l1_loss(pt, tt, reduction=reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.5])
def test_huber(data, reduction, delta):
    p, t, _ = data
    fn = lambda a, b: F.huber_loss(a, b, reduction="none", delta=delta)  # noqa: E731
    _compare("huber", fn, p, t, reduction, hessian=True, delta=delta)
    _close(symloss.huber(p, t, delta=delta), F.huber_loss(_t(p), _t(t), delta=delta))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.5])
def test_smooth_l1(data, reduction, beta):
    p, t, _ = data
    fn = lambda a, b: F.smooth_l1_loss(a, b, reduction="none", beta=beta)  # noqa: E731
    _compare("smooth_l1", fn, p, t, reduction, hessian=beta > 0, beta=beta)
    _close(symloss.smooth_l1(p, t, beta=beta), F.smooth_l1_loss(_t(p), _t(t), beta=beta))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_log_cosh_against_the_keras_formula(data, reduction):
    p, t, _ = data

    def keras(a, b):  # Keras: x + softplus(-2x) - log 2
        r = a - b
        return r + F.softplus(-2.0 * r) - math.log(2.0)

    # torch's double backward of softplus forms σ(x)(1 - σ(x)), whose error is absolute (~ε),
    # not relative: sech²(5.05) = 1.6454e-4 comes out 2e-12 off (ours is within 1 ULP of
    # mpmath there). Hence an absolute tolerance of a few ε for the peer's Hessian.
    _compare("log_cosh", keras, p, t, reduction, hessian=True, hess_atol=4e-16)


def _logits_and_probabilities(rng):
    x = rng.normal(scale=4.0, size=SHAPE)
    x[0, :4] = [30.0, -30.0, 300.0, -300.0]
    y = rng.uniform(size=SHAPE)
    y[1] = rng.integers(0, 2, size=SHAPE[1])
    return x, y


def _moderate(rng):
    """Logits for Hessian comparisons: torch's double backward of the logistic forms
    σ(x)(1 - σ(x)), which loses relative accuracy like ε·e^|x| (at x = 30 it is 1e-3 off, at
    x = 300 it is 0 instead of 5e-131; ours matches mpmath there, see test_kernels)."""
    return rng.uniform(-5, 5, size=SHAPE), rng.uniform(size=SHAPE)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "pos_weight, smoothing, weight",
    [
        (None, 0.0, None),
        (3.0, 0.0, None),
        (np.array([0.5, 1.0, 2.0, 4.0, 0.0]), 0.0, None),
        (None, 0.1, None),
        (2.0, 0.2, "full"),
        (None, 0.0, "row"),
    ],
)
def test_sigmoid_cross_entropy(reduction, pos_weight, smoothing, weight):
    rng = np.random.default_rng(11)
    x, y = _logits_and_probabilities(rng)
    w = {None: None, "full": rng.uniform(0.1, 2, SHAPE), "row": rng.uniform(0.1, 2, SHAPE[1])}[
        weight
    ]
    pw = None if pos_weight is None else _t(np.broadcast_to(pos_weight, SHAPE[1:]))

    def torch_bce(a, b):
        b = b * (1 - smoothing) + smoothing / 2  # TensorFlow's label smoothing
        return F.binary_cross_entropy_with_logits(a, b, pos_weight=pw, reduction="none")

    params = {"label_smoothing": smoothing}
    if pos_weight is not None:
        params["pos_weight"] = pos_weight
    _compare("sigmoid_cross_entropy", torch_bce, x, y, reduction, weight=w, **params)
    _compare_hessian("sigmoid_cross_entropy", torch_bce, *_moderate(rng), **params)
    if w is None and reduction != "none" and smoothing == 0:  # torch's own reduction
        expected = F.binary_cross_entropy_with_logits(
            _t(x), _t(y), pos_weight=pw, reduction=reduction
        )
        _close(symloss.sigmoid_cross_entropy(x, y, reduction=reduction, **params), expected)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [0.3, 0.7, None])
def test_balanced_sigmoid_cross_entropy(reduction, beta):
    """(1 - β)·BCE(pos_weight = β/(1 - β)) is the balanced loss; β=None is mean(1 - y) (HED)."""
    rng = np.random.default_rng(5)
    x, y = _logits_and_probabilities(rng)
    b = float(np.mean(1 - y)) if beta is None else beta
    pw = _t(b / (1 - b))

    def hed(a, t):
        return (1 - b) * F.binary_cross_entropy_with_logits(a, t, pos_weight=pw, reduction="none")

    _compare("balanced_sigmoid_cross_entropy", hed, x, y, reduction, beta=beta)
    if beta is not None:
        _compare_hessian("balanced_sigmoid_cross_entropy", hed, *_moderate(rng), beta=beta)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (0.5, 0.0), (-1, 2.0), (0.25, 1.5)])
def test_sigmoid_focal_against_torchvision_formula(reduction, alpha, gamma):
    # torchvision computes 1 - p_t by subtraction, which loses digits for large |logits|;
    # keep them moderate so the peer itself is accurate to 1e-12.
    rng = np.random.default_rng(3)
    x = rng.uniform(-8, 8, size=SHAPE)
    y = rng.uniform(size=SHAPE)
    y[0] = rng.integers(0, 2, size=SHAPE[1])

    def torchvision(a, t):
        p = torch.sigmoid(a)
        ce = F.binary_cross_entropy_with_logits(a, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
        return loss

    _compare(
        "sigmoid_focal",
        torchvision,
        x,
        y,
        reduction,
        hessian=gamma != 1.5,
        alpha=alpha,
        gamma=gamma,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("squared", [False, True])
def test_hinge(data, reduction, squared):
    f, _, rng = data
    signs = rng.choice([-1.0, 1.0], size=SHAPE)
    f = np.where(np.isclose(signs * f, 1.0), f + 0.5, f)  # keep off the kink

    def clamp(a, y):
        m = torch.clamp(1 - y * a, min=0)
        return m**2 if squared else m

    _compare("hinge", clamp, f, signs, reduction, squared=squared)
    zero_one = (signs + 1) / 2  # TensorFlow maps {0, 1} to {-1, +1}
    _close(
        symloss.hinge(f, zero_one, reduction=reduction, squared=squared),
        symloss.hinge(f, signs, reduction=reduction, squared=squared),
    )


@pytest.mark.parametrize("name, order", [("l1", 1), ("l2", 2)])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1), -1])
def test_norms_against_vector_norm(data, name, order, axis):
    p, t, _ = data
    pt = torch.tensor(p, requires_grad=True)
    norm = torch.linalg.vector_norm(pt - _t(t), ord=order, dim=axis)
    (g,) = torch.autograd.grad(norm.sum(), pt)
    k = symloss.loss(name)
    v, ours = k.value_and_grad(p, t, axis=axis)
    _close(k(p, t, axis=axis), norm.detach().numpy())
    _close(v, norm.detach().numpy())
    _close(ours, g.numpy())
