"""Elementwise losses: regression, binary classification and margin losses.

Each is written through `symloss.define`, exactly as a user would define a loss.
"""

import sympy as sp

from ..definition.axes import S
from ..definition.primitives import log_cosh as _log_cosh
from ..definition.primitives import sigmoid, softplus
from ..definition.spec import Input, Param, define

pred, target, logits = sp.symbols("pred target logits", real=True)
delta, beta, alpha, gamma = sp.symbols("delta beta alpha gamma", real=True)
pos_weight, label_smoothing, squared = sp.symbols("pos_weight label_smoothing squared", real=True)

r = pred - target
positive = sp.Interval.open(0, sp.oo)
nonnegative = sp.Interval(0, sp.oo)
unit = sp.Interval(0, 1)
probability = Input("target", domain=unit, doc="probability of the positive class")

mse = define(
    "mse",
    r**2,
    homogeneous=2,
    doc="Mean squared error (PyTorch mse_loss): the Gaussian negative log-likelihood up to "
    "constants; sensitive to outliers.",
)

mae = define(
    "mae",
    sp.Abs(r),
    homogeneous=1,
    doc="Mean absolute error (PyTorch l1_loss): robust to outliers, gradient of constant size.",
)

l1 = define(
    "l1",
    sp.Abs(r),
    outer=S,
    homogeneous=1,
    doc="L1 norm of the residual, Σ|ŷ - y|, over all elements or along axis=.",
)

l2 = define(
    "l2",
    r**2,
    outer=sp.sqrt(S),
    homogeneous=1,
    doc="L2 (Euclidean) norm of the residual, √(Σ (ŷ - y)²), over all elements or along axis=.",
)

huber = define(
    "huber",
    sp.Piecewise((r**2 / 2, sp.Abs(r) < delta), (delta * (sp.Abs(r) - delta / 2), True)),
    params={"delta": Param(1.0, positive, doc="where the quadratic turns linear")},
    doc="Huber loss (PyTorch huber_loss): quadratic for |r| < δ, linear beyond.",
)

smooth_l1 = define(
    "smooth_l1",
    sp.Piecewise((r**2 / (2 * beta), sp.Abs(r) < beta), (sp.Abs(r) - beta / 2, True)),
    params={"beta": Param(1.0, nonnegative, doc="width of the quadratic zone; 0 gives L1")},
    doc="Smooth L1 loss (PyTorch smooth_l1_loss): huber with δ = β, divided by β.",
)

log_cosh = define(
    "log_cosh",
    _log_cosh(r),
    doc="Log-cosh loss (Keras log_cosh): ≈ r²/2 near 0 and |r| - log 2 far from it.",
)

_smoothed = target * (1 - label_smoothing) + label_smoothing / 2
sigmoid_cross_entropy = define(
    "sigmoid_cross_entropy",
    pos_weight * _smoothed * softplus(-logits) + (1 - _smoothed) * softplus(logits),
    inputs=(Input("logits", differentiable=True), probability),
    params={
        "pos_weight": Param(
            1.0, nonnegative, latex="w_{+}", broadcast=True, doc="weight of the positive term"
        ),
        "label_smoothing": Param(
            0.0, unit, latex=r"\varepsilon", doc="target·(1 - ε) + ε/2, as TensorFlow"
        ),
    },
    doc="Binary cross entropy on logits (PyTorch binary_cross_entropy_with_logits), "
    "with TensorFlow's label smoothing.",
)

balanced_sigmoid_cross_entropy = define(
    "balanced_sigmoid_cross_entropy",
    beta * target * softplus(-logits) + (1 - beta) * (1 - target) * softplus(logits),
    inputs=(Input("logits", differentiable=True), probability),
    params={
        "beta": Param(
            None,
            unit,
            estimate="negative_fraction",
            doc="weight of positives; None takes the fraction of negatives in target (HED)",
        )
    },
    doc="Class-balanced binary cross entropy (HED): positives weighted by β, negatives by 1 - β.",
)

_one_minus_pt = target * sigmoid(-logits) + (1 - target) * sigmoid(logits)
_alpha_t = sp.Piecewise((1, alpha < 0), (alpha * target + (1 - alpha) * (1 - target), True))
sigmoid_focal = define(
    "sigmoid_focal",
    _alpha_t
    * _one_minus_pt**gamma
    * (target * softplus(-logits) + (1 - target) * softplus(logits)),
    inputs=(Input("logits", differentiable=True), probability),
    params={
        "alpha": Param(
            0.25,
            sp.Union(unit, sp.FiniteSet(-1)),
            doc="weight of positives; -1 disables the α_t weighting (torchvision)",
        ),
        "gamma": Param(2.0, nonnegative, doc="focusing exponent on 1 - p_t"),
    },
    doc="Sigmoid focal loss (torchvision sigmoid_focal_loss): cross entropy scaled by "
    "α_t (1 - p_t)^γ, which down-weights easy examples.",
)

_margin = sp.Max(0, 1 - target * pred)
hinge = define(
    "hinge",
    sp.Piecewise((_margin**2, sp.Eq(squared, 1)), (_margin, True)),
    inputs=(
        Input("pred", differentiable=True),
        Input("target", domain=sp.FiniteSet(-1, 1), labels="signs", doc="labels in {-1, +1}"),
    ),
    params={
        "squared": Param(
            False, sp.FiniteSet(0, 1), latex=r"\mathrm{squared}", static=True, doc="square it"
        )
    },
    doc="Hinge loss max(0, 1 - y·f) (Keras hinge, squared_hinge); labels {0, 1} become {-1, +1}.",
)

LOSSES = (
    mse,
    mae,
    l1,
    l2,
    huber,
    smooth_l1,
    log_cosh,
    sigmoid_cross_entropy,
    balanced_sigmoid_cross_entropy,
    sigmoid_focal,
    hinge,
)
