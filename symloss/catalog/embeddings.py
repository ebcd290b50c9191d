"""Losses on embeddings: center loss (features against their class center) and L-Softmax
(a margin inside the softmax of a linear layer), written through `symloss.define`.

Their vector axis is the feature axis of x (D, written with the index c as every vector).
"""

import sympy as sp

from ..definition.primitives import margin_term, softplus
from ..definition.spec import Input, Param, c, class_sum, define

x, centers = sp.IndexedBase("x"), sp.IndexedBase("centers")
center_loss = define(
    "center_loss",
    class_sum((x[c] - centers[c]) ** 2) / 2,
    inputs=(
        Input("x", differentiable=True, classes=True, doc="features, (N, D)"),
        Input("target", labels="classes", doc="class index in [0, K)"),
        Input(
            "centers",
            differentiable=True,
            classes=True,
            by_label=True,
            latex=r"\mu",
            doc="one center per class, (K, D); sample i uses row target[i] (μ)",
        ),
    ),
    doc="Center loss ½‖x_i - c_{y_i}‖² (Wen et al., 2016): the squared distance of each "
    "feature vector to the center of its class.",
)

logits, target = sp.IndexedBase("logits"), sp.Symbol("target")
x_norm, w_norm, m, lambda_ = sp.symbols("x_norm w_norm m lambda_")
# f_y = ‖W_y‖‖x‖ψ_m(cos θ_y) with cos θ_y = W_yᵀx / (‖W_y‖‖x‖), blended with W_yᵀx by λ
_norms = x_norm * w_norm
_margin_logit = (lambda_ * logits[target] + margin_term(m, logits[target], _norms)) / (1 + lambda_)
# cross entropy with f_y for the target: log(e^{f_y} + Σ_{j≠y} e^{z_j}) - f_y
_others = sp.log(class_sum(sp.Piecewise((0, sp.Eq(c, target)), (sp.exp(logits[c]), True))))
large_margin_softmax = define(
    "large_margin_softmax",
    # where a norm is 0 the margin term is 0 and f_y is W_yᵀx (= 0), whose gradient it takes
    sp.Piecewise(
        (softplus(_others - logits[target]), sp.Eq(_norms, 0)),
        (softplus(_others - _margin_logit), True),
    ),
    inputs=(
        Input("logits", differentiable=True, classes=True, latex="f", doc="Wᵀx, (N, C)"),
        Input("target", labels="classes", doc="class index in [0, C)"),
        Input("x_norm", differentiable=True, domain=sp.Interval(0, sp.oo), latex=r"\|x\|"),
        Input("w_norm", differentiable=True, domain=sp.Interval(0, sp.oo), latex=r"\|W_y\|"),
    ),
    params={
        "m": Param(
            2,
            sp.FiniteSet(1, 2, 3, 4),
            static=True,
            doc="the angular margin: the target's angle counts m times; m = 1 is plain softmax",
        ),
        "lambda_": Param(
            0.0,
            sp.Interval(0, sp.oo),
            latex=r"\lambda",
            doc="blend with the plain logit, (λ·W_yᵀx + ‖W_y‖‖x‖ψ(θ)) / (1 + λ)",
        ),
    },
    frontend="linear",
    doc="Large-margin softmax (L-Softmax, Liu et al., 2016) on x (N, D) and weight (D, C): "
    "cross entropy with the target logit ‖W_y‖‖x‖ψ(θ_y), ψ(θ) = (-1)^k cos(mθ) - 2k.",
)

LOSSES = (center_loss, large_margin_softmax)
