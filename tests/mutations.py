"""Naive implementations of built-in losses that the verification gate must reject.

Each `Mutation` is one quantity (value, grad or hess) of one built-in loss, written the way a
textbook prints the formula or a peer documents it, in plain vectorised NumPy, in the inputs'
dtype (float32 stays float32: parameters are Python floats, which NumPy casts to the array's
dtype, and array parameters are cast explicitly). Every one of them computes the right function
in exact arithmetic, with the built-in's inputs, parameter names and per-sample semantics, and
every one is wrong by more than the gate's bound (8 ULP for values and gradients, 16 for
Hessians) at some point inside the loss's declared domain, in at least one dtype:
`tests/check_mutations.py` measures each against mpmath and prints where.

The callables take ``f(*inputs, **params)`` as the gate calls them: elementwise losses return
one number per element; class-axis losses take logits (N, C) and integer labels (N,) (or, for
``kl_divergence``, ``dice``, ``tversky`` and ``cosine_distance``, two (N, C) arrays) and return
one value per sample (N,) or a gradient shaped like the logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Mutation", "MUTATIONS", "Careful", "CAREFUL"]

LOG2 = math.log(2.0)  # a Python float: does not promote float32 arrays


@dataclass(frozen=True)
class Mutation:
    """A naive form of one quantity of a built-in loss, which the gate must reject."""

    name: str
    loss: str
    quantity: str  # "value", "grad" or "hess"
    impl: Callable
    source: str  # where the formula is printed

    def __str__(self) -> str:
        return f"{self.name} ({self.loss} {self.quantity})"


# -- helpers -----------------------------------------------------------------------------------


def _p(v, like: np.ndarray):
    """A parameter in the dtype of ``like``: arrays cast, Python numbers left weak."""
    if isinstance(v, np.ndarray):
        return v.astype(like.dtype, copy=False)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _smoothed(target, label_smoothing):
    """TensorFlow's label smoothing of a binary target, y(1 - ε) + ε/2."""
    return target * (1 - label_smoothing) + label_smoothing / 2


def _sigmoid(x):
    """The textbook logistic function 1/(1 + e^-x)."""
    return 1 / (1 + np.exp(-x))


def _stable_softplus(x):
    """log(1 + e^x) without overflow (used where a mutation's flaw is elsewhere)."""
    return np.logaddexp(0, x)


def _class_weights(weight, logits):
    """Per-class weights as a (C,) array in the logits' dtype (None or a scalar: all equal)."""
    n = logits.shape[-1]
    if weight is None:
        return np.ones(n, logits.dtype)
    return np.broadcast_to(np.asarray(weight, dtype=logits.dtype), (n,))


def _labels(target, ignore_index):
    """Labels usable as indices (ignored samples read class 0) and the mask of valid samples."""
    target = np.asarray(target)
    valid = target != ignore_index
    return np.where(valid, target, 0).astype(np.intp), valid


def _pick(a, labels):
    """a[i, labels[i]] for each row i."""
    return np.take_along_axis(a, labels[:, None], axis=1)[:, 0]


# -- sigmoid cross entropy ---------------------------------------------------------------------


def sce_value_log_one_plus_exp(logits, target, pos_weight=1.0, label_smoothing=0.0):
    # ℓ = pw·y'·(log(1 + e^x) - x) + (1 - y')·log(1 + e^x)
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    sp = np.log(1 + np.exp(logits))
    return (pw * y + 1 - y) * sp - pw * y * logits


def sce_value_logaddexp_minus_yx(logits, target, pos_weight=1.0, label_smoothing=0.0):
    # the same with the overflow fixed: log(1 + e^x) = logaddexp(0, x)
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    return (pw * y + 1 - y) * np.logaddexp(0, logits) - pw * y * logits


def sce_value_bce_on_probability(logits, target, pos_weight=1.0, label_smoothing=0.0):
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    p = _sigmoid(logits)
    return -(pw * y * np.log(p) + (1 - y) * np.log(1 - p))


def sce_value_log_sigmoid_symmetric(logits, target, pos_weight=1.0, label_smoothing=0.0):
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    return -(pw * y * np.log(_sigmoid(logits)) + (1 - y) * np.log(_sigmoid(-logits)))


def sce_value_log1p_exp(logits, target, pos_weight=1.0, label_smoothing=0.0):
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    return pw * y * np.log1p(np.exp(-logits)) + (1 - y) * np.log1p(np.exp(logits))


def sce_value_tf_documented(logits, target, pos_weight=1.0, label_smoothing=0.0):
    # (1 - z)·x + l·(log(1 + exp(-|x|)) + max(-x, 0)), l = 1 + (q - 1)·z
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    weight = 1 + (pw - 1) * y
    tail = np.log(1 + np.exp(-np.abs(logits))) + np.maximum(-logits, 0)
    return (1 - y) * logits + weight * tail


def sce_grad_sigmoid_minus_target(logits, target, pos_weight=1.0, label_smoothing=0.0):
    # σ(x) - y at pw = 1; in general (1 + (pw - 1)·y')·σ(x) - pw·y'
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    return (1 + (pw - 1) * y) * _sigmoid(logits) - pw * y


def sce_grad_weighted_textbook(logits, target, pos_weight=1.0, label_smoothing=0.0):
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    s = _sigmoid(logits)
    return pw * y * (s - 1) + (1 - y) * s


def sce_hess_sigma_one_minus_sigma(logits, target, pos_weight=1.0, label_smoothing=0.0):
    pw, y = _p(pos_weight, logits), _smoothed(target, label_smoothing)
    s = _sigmoid(logits)
    return (pw * y + 1 - y) * s * (1 - s)


def balanced_sce_value_hed(logits, target, beta=None):
    # HED eq. (2): -β Σ_{Y+} log σ(x) - (1 - β) Σ_{Y-} log(1 - σ(x)), soft targets as weights
    if beta is None:
        beta = np.mean(1 - target)
    beta = _p(beta, logits)
    p = _sigmoid(logits)
    return -(beta * target * np.log(p) + (1 - beta) * (1 - target) * np.log(1 - p))


# -- sigmoid focal -----------------------------------------------------------------------------


def _alpha_t(alpha, target):
    if alpha < 0:
        return 1
    return alpha * target + (1 - alpha) * (1 - target)


def sigmoid_focal_value_torchvision(logits, target, alpha=0.25, gamma=2.0):
    # p = σ(x); p_t = p·y + (1 - p)(1 - y); loss = α_t·(1 - p_t)^γ·CE, CE computed stably
    alpha, gamma = _p(alpha, logits), _p(gamma, logits)
    p = _sigmoid(logits)
    ce = target * _stable_softplus(-logits) + (1 - target) * _stable_softplus(logits)
    p_t = p * target + (1 - p) * (1 - target)
    return _alpha_t(alpha, target) * (1 - p_t) ** gamma * ce


def sigmoid_focal_value_log1p_exp(logits, target, alpha=0.25, gamma=2.0):
    # 1 - p_t = y·σ(-x) + (1 - y)·σ(x) (no cancellation), CE from log1p(exp(·))
    alpha, gamma = _p(alpha, logits), _p(gamma, logits)
    q = target * _sigmoid(-logits) + (1 - target) * _sigmoid(logits)
    ce = target * np.log1p(np.exp(-logits)) + (1 - target) * np.log1p(np.exp(logits))
    return _alpha_t(alpha, target) * q**gamma * ce


# -- log cosh ----------------------------------------------------------------------------------


def log_cosh_value_log_of_cosh(pred, target):
    return np.log(np.cosh(pred - target))


def log_cosh_value_softplus_form(pred, target):
    # x + softplus(-2x) - log 2, softplus itself overflow-free
    r = pred - target
    return r + _stable_softplus(-2 * r) - LOG2


def log_cosh_grad_sinh_over_cosh(pred, target):
    r = pred - target
    return np.sinh(r) / np.cosh(r)


def log_cosh_hess_one_minus_tanh_squared(pred, target):
    return 1 - np.tanh(pred - target) ** 2


# -- Poisson, Gaussian NLL ---------------------------------------------------------------------


def poisson_nll_grad_exp_minus_target(pred, target, full=False):
    return np.exp(pred) - target  # Stirling's term does not depend on pred


def poisson_nll_value_documented(pred, target, full=False):
    # exp(input) - target·input, plus target·log(target) - target + ½log(2π·target) where
    # target > 1 with full=True
    loss = np.exp(pred) - target * pred
    if full:
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = target * np.log(target) - target + 0.5 * np.log(2 * math.pi * target)
        loss = loss + np.where(target > 1, stirling, 0)
    return loss


def gaussian_nll_value_documented(pred, target, var, eps=1e-6, full=False):
    v = np.maximum(var, _p(eps, var))
    loss = 0.5 * (np.log(v) + (pred - target) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return loss


# -- robust regression -------------------------------------------------------------------------


def cauchy_value_log_without_log1p(pred, target, c=1.0):
    c = _p(c, pred)
    return c**2 / 2 * np.log(1 + ((pred - target) / c) ** 2)


def cauchy_grad_ratio(pred, target, c=1.0):
    c = _p(c, pred)
    r = pred - target
    return r / (1 + (r / c) ** 2)


def general_robust_value_naive(pred, target, alpha=1.0, c=1.0):
    alpha, c = _p(alpha, pred), _p(c, pred)
    z = ((pred - target) / c) ** 2
    if alpha == 2:
        return 0.5 * z
    if alpha == 0:
        return np.log(0.5 * z + 1)
    b = abs(alpha - 2)
    return b / alpha * ((z / b + 1) ** (alpha / 2) - 1)


def mse_value_expanded(pred, target):
    return pred * pred - 2 * pred * target + target * target


def mae_value_sqrt_of_square(pred, target):
    r = pred - target
    return np.sqrt(r * r)


def huber_value_moreau_difference(pred, target, delta=1.0):
    # ½r² - ½·dist(r, [-δ, δ])²: equal to r²/2 inside, δ|r| - δ²/2 outside
    delta = _p(delta, pred)
    r = pred - target
    outside = np.maximum(np.abs(r) - delta, 0)
    return 0.5 * r * r - 0.5 * outside * outside


def smooth_l1_value_huber_over_beta(pred, target, beta=1.0):
    # branch-free huber(δ = β), q = min(|r|, β); l = q·(|r| - q/2), then divided by β
    beta = _p(beta, pred)
    a = np.abs(pred - target)
    q = np.minimum(a, beta)
    return q * (a - q / 2) / beta


def smooth_l1_value_quadratic_over_beta(pred, target, beta=1.0):
    beta = _p(beta, pred)
    a = np.abs(pred - target)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)


# -- class axis --------------------------------------------------------------------------------


def _smoothed_ce(neg_log_p, labels, valid, w, label_smoothing):
    """(1 - ε)·w_y·(-log p_y) + (ε/C)·Σ_c w_c·(-log p_c), 0 for ignored samples."""
    n = neg_log_p.shape[1]
    loss = (1 - label_smoothing) * w[labels] * _pick(neg_log_p, labels)
    if label_smoothing:
        loss = loss + label_smoothing / n * np.sum(w * neg_log_p, axis=1)
    return np.where(valid, loss, 0)


def softmax_ce_value_unshifted(logits, target, weight=None, label_smoothing=0.0, ignore_index=-100):
    labels, valid = _labels(target, ignore_index)
    e = np.exp(logits)
    p = e / np.sum(e, axis=1, keepdims=True)
    w = _class_weights(weight, logits)
    return _smoothed_ce(-np.log(p), labels, valid, w, _p(label_smoothing, logits))


def softmax_ce_value_shifted_log_p(
    logits, target, weight=None, label_smoothing=0.0, ignore_index=-100
):
    labels, valid = _labels(target, ignore_index)
    e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    w = _class_weights(weight, logits)
    return _smoothed_ce(-np.log(p), labels, valid, w, _p(label_smoothing, logits))


def softmax_ce_grad_unshifted(logits, target, weight=None, label_smoothing=0.0, ignore_index=-100):
    # (p - onehot(y)) at w = 1, ε = 0; in general p·((1 - ε)w_y + (ε/C)Σw) - (1 - ε)w_y·onehot
    # - (ε/C)·w
    labels, valid = _labels(target, ignore_index)
    n = logits.shape[1]
    eps = _p(label_smoothing, logits)
    w = _class_weights(weight, logits)
    e = np.exp(logits)
    p = e / np.sum(e, axis=1, keepdims=True)
    onehot = (np.arange(n) == labels[:, None]).astype(logits.dtype)
    wy = w[labels][:, None]
    grad = p * ((1 - eps) * wy + eps / n * np.sum(w)) - (1 - eps) * wy * onehot - eps / n * w
    return np.where(valid[:, None], grad, 0)


def softmax_focal_value_one_minus_p(logits, target, alpha=0.25, gamma=2.0, ignore_index=-100):
    labels, valid = _labels(target, ignore_index)
    e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    p_y = _pick(e, labels) / np.sum(e, axis=1)
    a = _class_weights(alpha, logits)[labels]
    loss = -a * (1 - p_y) ** _p(gamma, logits) * np.log(p_y)
    return np.where(valid, loss, 0)


def kl_divergence_value_p_log_p_over_q(pred, target, log_input=False):
    with np.errstate(divide="ignore", invalid="ignore"):
        if log_input:
            return np.sum(target * (np.log(target) - pred), axis=1)
        return np.sum(target * np.log(target / pred), axis=1)


def dice_value_textbook(pred, target, smooth=1.0, squared=False):
    pred, target = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    smooth = _p(smooth, pred)
    if squared:
        size = np.sum(pred * pred, axis=1) + np.sum(target * target, axis=1)
    else:
        size = np.sum(pred, axis=1) + np.sum(target, axis=1)
    empty = size + smooth == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = 1 - (2 * np.sum(pred * target, axis=1) + smooth) / (size + smooth)
    return np.where(empty, 0, loss)


def tversky_value_textbook(pred, target, alpha=0.3, beta=0.7, smooth=1.0):
    pred, target = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    alpha, beta, smooth = _p(alpha, pred), _p(beta, pred), _p(smooth, pred)
    tp = np.sum(pred * target, axis=1)
    fp = np.sum(pred * (1 - target), axis=1)
    fn = np.sum((1 - pred) * target, axis=1)
    empty = np.sum(pred, axis=1) + np.sum(target, axis=1) + smooth == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
    return np.where(empty, 0, loss)


def cosine_distance_value_textbook(pred, target, eps=1e-8):
    eps = _p(eps, pred)
    nx = np.maximum(np.sqrt(np.sum(pred * pred, axis=1)), eps)
    ny = np.maximum(np.sqrt(np.sum(target * target, axis=1)), eps)
    return 1 - np.sum(pred * target, axis=1) / (nx * ny)


# -- careful implementations, which the gate must pass -----------------------------------------


def careful_mse_value(pred, target):
    return (pred - target) ** 2


def careful_mse_grad(pred, target):
    return 2 * (pred - target)


def careful_sce_value(logits, target, pos_weight=1.0, label_smoothing=0.0):
    """w₊·y'·softplus(-x) + (1 - y')·softplus(x), the definition's own form: two non-negative
    terms, each softplus overflow-free (np.logaddexp), and 1 - y' formed as (1 - y)(1 - ε) + ε/2,
    which does not cancel when y' is close to 1."""
    pw = _p(pos_weight, logits)
    keep = 1 - label_smoothing
    y = target * keep + label_smoothing / 2
    not_y = (1 - target) * keep + label_smoothing / 2
    return pw * y * np.logaddexp(0, -logits) + not_y * np.logaddexp(0, logits)


@dataclass(frozen=True)
class Careful:
    """A careful implementation of some quantities of a built-in loss: the gate must pass it."""

    name: str
    loss: str
    impls: dict  # quantity -> callable


CAREFUL: list[Careful] = [
    Careful("mse", "mse", {"value": careful_mse_value, "grad": careful_mse_grad}),
    Careful("sigmoid_cross_entropy", "sigmoid_cross_entropy", {"value": careful_sce_value}),
]


# -- the suite ---------------------------------------------------------------------------------

_M = Mutation
MUTATIONS: list[Mutation] = [
    _M(
        "sce_value_log_one_plus_exp",
        "sigmoid_cross_entropy",
        "value",
        sce_value_log_one_plus_exp,
        "logistic log-likelihood in the logit, log(1 + e^x) - y·x (Hastie, Tibshirani & "
        "Friedman, ESL 2nd ed., eq. 4.20)",
    ),
    _M(
        "sce_value_logaddexp_minus_yx",
        "sigmoid_cross_entropy",
        "value",
        sce_value_logaddexp_minus_yx,
        "ESL eq. 4.20's log(1 + e^x) - y·x with the overflow removed, np.logaddexp(0, x) - y·x: "
        "still cancels for y = 1, x > 0",
    ),
    _M(
        "sce_value_bce_on_probability",
        "sigmoid_cross_entropy",
        "value",
        sce_value_bce_on_probability,
        "cross entropy -[y·log p + (1 - y)·log(1 - p)] with p = σ(x) (Bishop, PRML, eq. 4.90)",
    ),
    _M(
        "sce_value_log_sigmoid_symmetric",
        "sigmoid_cross_entropy",
        "value",
        sce_value_log_sigmoid_symmetric,
        "-y·log σ(x) - (1 - y)·log σ(-x), using σ(-a) = 1 - σ(a) (Bishop, PRML, §4.2)",
    ),
    _M(
        "sce_value_log1p_exp",
        "sigmoid_cross_entropy",
        "value",
        sce_value_log1p_exp,
        "softplus(x) = log(1 + e^x) taken literally as log1p(exp(x)) in the README's "
        "w₊·y'·softplus(-x) + (1 - y')·softplus(x)",
    ),
    _M(
        "sce_value_tf_documented",
        "sigmoid_cross_entropy",
        "value",
        sce_value_tf_documented,
        "TensorFlow tf.nn.weighted_cross_entropy_with_logits docs: (1 - z)·x + l·(log(1 + "
        "exp(-|x|)) + max(-x, 0)), l = 1 + (q - 1)·z",
    ),
    _M(
        "sce_grad_sigmoid_minus_target",
        "sigmoid_cross_entropy",
        "grad",
        sce_grad_sigmoid_minus_target,
        "logistic-regression gradient σ(x) - y, σ = 1/(1 + e^-x) (Bishop, PRML, eq. 4.91; "
        "NUMERICS.md, the form the first gate passed)",
    ),
    _M(
        "sce_grad_weighted_textbook",
        "sigmoid_cross_entropy",
        "grad",
        sce_grad_weighted_textbook,
        "derivative of -w₊·y·log σ - (1 - y)·log(1 - σ) with σ' = σ(1 - σ): "
        "w₊·y·(σ - 1) + (1 - y)·σ",
    ),
    _M(
        "sce_hess_sigma_one_minus_sigma",
        "sigmoid_cross_entropy",
        "hess",
        sce_hess_sigma_one_minus_sigma,
        "σ'(a) = σ(a)(1 - σ(a)) (Bishop, PRML, eq. 4.88), times (w₊·y' + 1 - y')",
    ),
    _M(
        "balanced_sce_value_hed",
        "balanced_sigmoid_cross_entropy",
        "value",
        balanced_sce_value_hed,
        "HED class-balanced loss -β·log Pr(y = 1) - (1 - β)·log Pr(y = 0) with Pr = σ(x) "
        "(Xie & Tu, ICCV 2015, eq. 2)",
    ),
    _M(
        "sigmoid_focal_value_torchvision",
        "sigmoid_focal",
        "value",
        sigmoid_focal_value_torchvision,
        "torchvision.ops.sigmoid_focal_loss docs/source: p = sigmoid(x), p_t = p·y + "
        "(1 - p)(1 - y), loss = α_t·CE·(1 - p_t)^γ",
    ),
    _M(
        "sigmoid_focal_value_log1p_exp",
        "sigmoid_focal",
        "value",
        sigmoid_focal_value_log1p_exp,
        "Lin et al. (ICCV 2017) FL = α_t(1 - p_t)^γ·CE with CE's softplus as log1p(exp(x))",
    ),
    _M(
        "log_cosh_value_log_of_cosh",
        "log_cosh",
        "value",
        log_cosh_value_log_of_cosh,
        "Keras losses.log_cosh docs: log(cosh(x)), taken literally",
    ),
    _M(
        "log_cosh_value_softplus_form",
        "log_cosh",
        "value",
        log_cosh_value_softplus_form,
        "Keras log_cosh's computational form x + softplus(-2x) - log 2 (NUMERICS.md's "
        "|x| + log1p(exp(-2|x|)) - log 2): cancels for small x",
    ),
    _M(
        "log_cosh_grad_sinh_over_cosh",
        "log_cosh",
        "grad",
        log_cosh_grad_sinh_over_cosh,
        "d/dr log cosh r = sinh r / cosh r (the definition of tanh)",
    ),
    _M(
        "log_cosh_hess_one_minus_tanh_squared",
        "log_cosh",
        "hess",
        log_cosh_hess_one_minus_tanh_squared,
        "tanh' = 1 - tanh² (Abramowitz & Stegun 4.5.19 via sech² = 1 - tanh², 4.5.16)",
    ),
    _M(
        "poisson_nll_grad_exp_minus_target",
        "poisson_nll",
        "grad",
        poisson_nll_grad_exp_minus_target,
        "derivative of PyTorch poisson_nll_loss's documented exp(input) - target·input",
    ),
    _M(
        "poisson_nll_value_documented",
        "poisson_nll",
        "value",
        poisson_nll_value_documented,
        "PyTorch poisson_nll_loss docs: exp(input) - target·input, Stirling term "
        "target·log(target) - target + 0.5·log(2π·target) with full=True",
    ),
    _M(
        "gaussian_nll_value_documented",
        "gaussian_nll",
        "value",
        gaussian_nll_value_documented,
        "PyTorch GaussianNLLLoss docs: ½(log(max(var, eps)) + (input - target)²/max(var, eps))",
    ),
    _M(
        "cauchy_value_log_without_log1p",
        "cauchy",
        "value",
        cauchy_value_log_without_log1p,
        "README's c²/2·log(1 + (r/c)²) evaluated as written (Barron, CVPR 2019, α = 0)",
    ),
    _M(
        "cauchy_grad_ratio",
        "cauchy",
        "grad",
        cauchy_grad_ratio,
        "README's hand-derived gradient (pred - target)/(1 + ((pred - target)/c)**2)",
    ),
    _M(
        "general_robust_value_naive",
        "general_robust",
        "value",
        general_robust_value_naive,
        "Barron (CVPR 2019) eq. 1 as printed: |α-2|/α·(((r/c)²/|α-2| + 1)^{α/2} - 1), "
        "without expm1/log1p",
    ),
    _M(
        "mse_value_expanded",
        "mse",
        "value",
        mse_value_expanded,
        "the expanded square (x - y)² = x² - 2xy + y²",
    ),
    _M(
        "mae_value_sqrt_of_square",
        "mae",
        "value",
        mae_value_sqrt_of_square,
        "|r| = √(r²)",
    ),
    _M(
        "huber_value_moreau_difference",
        "huber",
        "value",
        huber_value_moreau_difference,
        "Huber as ½r² minus the Moreau envelope of the box indicator, ½r² - "
        "½·dist(r, [-δ, δ])² (Parikh & Boyd, Proximal Algorithms, 2014, §2.5)",
    ),
    _M(
        "smooth_l1_value_huber_over_beta",
        "smooth_l1",
        "value",
        smooth_l1_value_huber_over_beta,
        "smooth_l1(β) = huber(δ=β)/β (README; PyTorch HuberLoss docs) with NUMERICS.md's "
        "branch-free Huber q·(|r| - q/2), q = min(|r|, β)",
    ),
    _M(
        "smooth_l1_value_quadratic_over_beta",
        "smooth_l1",
        "value",
        smooth_l1_value_quadratic_over_beta,
        "PyTorch SmoothL1Loss docs: 0.5·x²/beta if |x| < beta, else |x| - 0.5·beta",
    ),
    _M(
        "softmax_ce_value_unshifted",
        "softmax_cross_entropy",
        "value",
        softmax_ce_value_unshifted,
        "-log softmax(z)_y with softmax(z)_i = exp(z_i)/Σ_j exp(z_j) (Goodfellow, Bengio & "
        "Courville, Deep Learning, §6.2.2.3)",
    ),
    _M(
        "softmax_ce_value_shifted_log_p",
        "softmax_cross_entropy",
        "value",
        softmax_ce_value_shifted_log_p,
        "softmax stabilised by subtracting max z (Deep Learning, §4.1), then -log of the "
        "probability p_y",
    ),
    _M(
        "softmax_ce_grad_unshifted",
        "softmax_cross_entropy",
        "grad",
        softmax_ce_grad_unshifted,
        "∂/∂z (-log softmax(z)_y) = softmax(z) - onehot(y) (Bishop, PRML, §4.3.4), "
        "softmax from unshifted exp",
    ),
    _M(
        "softmax_focal_value_one_minus_p",
        "softmax_focal",
        "value",
        softmax_focal_value_one_minus_p,
        "Lin et al. (ICCV 2017) eq. 5, FL(p_t) = -α_t(1 - p_t)^γ·log p_t, p_t from softmax",
    ),
    _M(
        "kl_divergence_value_p_log_p_over_q",
        "kl_divergence",
        "value",
        kl_divergence_value_p_log_p_over_q,
        "D(p‖q) = Σ p·log(p/q) (Cover & Thomas, Elements of Information Theory, §2.3), "
        "without the convention 0·log 0 = 0",
    ),
    _M(
        "dice_value_textbook",
        "dice",
        "value",
        dice_value_textbook,
        "1 - (2Σp·g + s)/(Σp + Σg + s) (README; V-Net, Milletari et al. 2016, eq. 1 with "
        "squared=True)",
    ),
    _M(
        "tversky_value_textbook",
        "tversky",
        "value",
        tversky_value_textbook,
        "1 - (TP + s)/(TP + α·FP + β·FN + s) (Salehi et al. 2017)",
    ),
    _M(
        "cosine_distance_value_textbook",
        "cosine_distance",
        "value",
        cosine_distance_value_textbook,
        "PyTorch cosine_similarity docs: x·y/(max(‖x‖, ε)·max(‖y‖, ε)), norms as √Σx² "
        "in the inputs' dtype",
    ),
]
