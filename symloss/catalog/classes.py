"""Class-axis losses: a vector of C scores per sample, reduced over the classes.

Each is written through `symloss.define`, exactly as a user would define a loss: sums over the
class axis with `class_sum`, vector components as ``logits[c]``, the labelled one as
``logits[target]``.
"""

import sympy as sp

from ..definition.spec import C, Input, Param, c, class_maximum, class_sum, define

logits, weight = sp.IndexedBase("logits"), sp.IndexedBase("weight")
target, label_smoothing = sp.symbols("target label_smoothing")
probabilities = sp.IndexedBase("target")  # a target distribution over the classes

_log_partition = sp.log(class_sum(sp.exp(logits[c])))  # log Σ_c e^{z_c}; -log p_k = it - z_k

_class_weight = Param(
    1.0,
    sp.Interval(0, sp.oo),
    latex="w",
    per_class=True,
    doc="per-class weights (PyTorch weight=); with class labels the mean divides by Σ w_target",
)
_label_smoothing = Param(
    0.0,
    sp.Interval(0, 1),
    latex=r"\varepsilon",
    doc="mix the target with the uniform distribution: (1 - ε)·target + ε/C, as PyTorch",
)
_logits = Input("logits", differentiable=True, classes=True, doc="unnormalised scores")

softmax_cross_entropy = define(
    "softmax_cross_entropy",
    (1 - label_smoothing) * weight[target] * (_log_partition - logits[target])
    + label_smoothing / C * class_sum(weight[c] * (_log_partition - logits[c])),
    inputs=(_logits, Input("target", labels="classes", doc="class index in [0, C)")),
    params={"weight": _class_weight, "label_smoothing": _label_smoothing},
    doc="Softmax cross entropy on logits with class labels (PyTorch cross_entropy): "
    "-w_y log softmax(z)_y, with label smoothing.",
)

# The form softmax_cross_entropy takes for probability targets (PyTorch decides by the target).
softmax_cross_entropy_probabilities = define(
    "softmax_cross_entropy_probabilities",
    class_sum(
        weight[c]
        * ((1 - label_smoothing) * probabilities[c] + label_smoothing / C)
        * (_log_partition - logits[c])
    ),
    inputs=(_logits, Input("target", classes=True, doc="class probabilities, used as given")),
    params={"weight": _class_weight, "label_smoothing": _label_smoothing},
    doc="Softmax cross entropy on logits with probability targets (PyTorch cross_entropy): "
    "-Σ_c w_c t_c log softmax(z)_c; the mean is over samples.",
)

pred, log_input = sp.IndexedBase("pred"), sp.Symbol("log_input")
_log_q = sp.Piecewise((pred[c], sp.Eq(log_input, 1)), (sp.log(pred[c]), True))
kl_divergence = define(
    "kl_divergence",
    class_sum(
        sp.Piecewise(
            (0, sp.Eq(probabilities[c], 0)),  # 0·log 0 = 0
            (probabilities[c] * (sp.log(probabilities[c]) - _log_q), True),
        )
    ),
    inputs=(
        Input(
            "pred",
            differentiable=True,
            classes=True,
            domain=sp.Interval(0, sp.oo),
            doc="Q: probabilities (log-probabilities with log_input=True)",
        ),
        Input("target", classes=True, domain=sp.Interval(0, sp.oo), doc="P: probabilities"),
    ),
    params={
        "log_input": Param(
            False,
            sp.FiniteSet(0, 1),
            latex=r"\mathrm{log\_input}",
            static=True,
            doc="pred holds log-probabilities",
        )
    },
    doc="Kullback-Leibler divergence KL(P‖Q) = Σ_c p_c·log(p_c/q_c) over the class axis, "
    "P = target, Q = pred (PyTorch kl_div on log Q, summed over classes); 0·log 0 = 0.",
)

scores, margin = sp.IndexedBase("scores"), sp.Symbol("margin")
_hinge_inputs = (
    Input("scores", differentiable=True, classes=True, doc="class scores"),
    Input("target", labels="classes", doc="class index in [0, C)"),
)
_hinge_params = {"margin": Param(1.0, sp.Interval(0, sp.oo), latex=r"\Delta", doc="the margin")}
multiclass_hinge = define(
    "multiclass_hinge",
    # Σ_{c≠y} max(0, m - s_y + s_c): the c = y term of the full sum is max(0, m)
    class_sum(sp.Max(0, margin - scores[target] + scores[c])) - sp.Max(0, margin),
    inputs=_hinge_inputs,
    params=_hinge_params,
    kind="weston_watkins",
    doc="Multi-class hinge loss of Weston and Watkins, Σ_{j≠y} max(0, margin - s_y + s_j) "
    "(PyTorch multi_margin_loss times C); kind='crammer_singer' for the Crammer-Singer form.",
)

# multiclass_hinge(..., kind="crammer_singer"): the largest violation only
multiclass_hinge_crammer_singer = define(
    "multiclass_hinge_crammer_singer",
    sp.Max(
        0,
        margin
        + class_maximum(sp.Piecewise((-sp.oo, sp.Eq(c, target)), (scores[c], True)))
        - scores[target],
    ),
    inputs=_hinge_inputs,
    params=_hinge_params,
    kind="crammer_singer",
    doc="Multi-class hinge loss of Crammer and Singer, max(0, margin + max_{j≠y} s_j - s_y): "
    "the largest violation (its gradient goes to the first class attaining the max).",
)

truth, smooth, squared = sp.IndexedBase("target"), sp.Symbol("smooth"), sp.Symbol("squared")
_size = sp.Piecewise(
    (class_sum(pred[c] ** 2) + class_sum(truth[c] ** 2), sp.Eq(squared, 1)),
    (class_sum(pred[c]) + class_sum(truth[c]), True),
)
_empty = sp.Eq(_size + smooth, 0)  # both masks empty and s = 0: 0/0, taken as 0
# The value is computed from the non-negative terms of 1 - (2Σpg + s)/(Σp + Σg + s):
# Σ [p(1 - g) + g(1 - p)] (or Σ (p - g)²) over the denominator, exact for near-perfect
# predictions where 1 - (…) would cancel. The gradient's quotient rule cancels too (where a
# target component balances the ratio); its numerator is formed in double-double
# (lowering.exact_quotients).
_mismatch = sp.Piecewise(
    ((pred[c] - truth[c]) ** 2, sp.Eq(squared, 1)),
    (pred[c] * (1 - truth[c]) + truth[c] * (1 - pred[c]), True),
)
dice = define(
    "dice",
    sp.Piecewise(
        (0, _empty), (1 - (2 * class_sum(pred[c] * truth[c]) + smooth) / (_size + smooth), True)
    ),
    stable=sp.Piecewise((0, _empty), (class_sum(_mismatch) / (_size + smooth), True)),
    inputs=(
        Input("pred", differentiable=True, classes=True, domain=sp.Interval(0, 1)),
        Input("target", classes=True, domain=sp.Interval(0, 1), doc="the mask, in [0, 1]"),
    ),
    params={
        "smooth": Param(1.0, sp.Interval(0, sp.oo), latex="s", doc="added to both sides"),
        "squared": Param(
            False,
            sp.FiniteSet(0, 1),
            latex=r"\mathrm{squared}",
            static=True,
            doc="Σp² + Σg² in the denominator (V-Net)",
        ),
    },
    over="sample",
    doc="Dice loss 1 - (2Σ p·g + s)/(Σ p + Σ g + s) per sample over all its non-batch axes "
    "(squared: Σ p² + Σ g², as V-Net), pred probabilities and target a mask.",
)

alpha, gamma = sp.IndexedBase("alpha"), sp.Symbol("gamma")
# (1 - p_y)^γ written as exp(γ·log q) with q = Σ_{c≠y} e^{z_c} / Σ_c e^{z_c} = 1 - p_y: the
# sum over the other classes keeps q exact when p_y → 1, where 1 - p_y would round to 0.
_log_q = sp.log(class_sum(sp.Piecewise((0, sp.Eq(c, target)), (sp.exp(logits[c]), True))))
softmax_focal = define(
    "softmax_focal",
    -alpha[target] * sp.exp(gamma * (_log_q - _log_partition)) * (logits[target] - _log_partition),
    inputs=(_logits, Input("target", labels="classes", doc="class index in [0, C)")),
    params={
        "alpha": Param(
            0.25,
            sp.Interval(0, sp.oo),
            latex=r"\alpha",
            per_class=True,
            doc="weight of the target class: a scalar, or one per class",
        ),
        "gamma": Param(2.0, sp.Interval(0, sp.oo), latex=r"\gamma", doc="focusing exponent"),
    },
    doc="Multi-class focal loss -α_y (1 - p_y)^γ log p_y from log-softmax (Lin et al.), "
    "which down-weights well-classified samples.",
)

LOSSES = (
    dice,
    softmax_cross_entropy,
    softmax_cross_entropy_probabilities,
    kl_divergence,
    multiclass_hinge,
    multiclass_hinge_crammer_singer,
    softmax_focal,
)
