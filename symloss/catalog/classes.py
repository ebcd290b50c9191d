"""Class-axis losses: a vector of C scores per sample, reduced over the classes.

Each is written through `symloss.define`, exactly as a user would define a loss: sums over the
class axis with `class_sum`, vector components as ``logits[c]``, the labelled one as
``logits[target]``.
"""

import sympy as sp

from ..spec import C, Input, Param, c, class_sum, define

logits, weight = sp.IndexedBase("logits"), sp.IndexedBase("weight")
target, label_smoothing = sp.symbols("target label_smoothing")

_log_partition = sp.log(class_sum(sp.exp(logits[c])))  # log Σ_c e^{z_c}; -log p_k = it - z_k

softmax_cross_entropy = define(
    "softmax_cross_entropy",
    (1 - label_smoothing) * weight[target] * (_log_partition - logits[target])
    + label_smoothing / C * class_sum(weight[c] * (_log_partition - logits[c])),
    inputs=(
        Input("logits", differentiable=True, classes=True, doc="unnormalised scores"),
        Input("target", labels="classes", doc="class index in [0, C)"),
    ),
    params={
        "weight": Param(
            1.0,
            sp.Interval(0, sp.oo),
            latex="w",
            per_class=True,
            doc="per-class weights (PyTorch weight=); the mean divides by Σ w_target",
        ),
        "label_smoothing": Param(
            0.0,
            sp.Interval(0, 1),
            latex=r"\varepsilon",
            doc="mix the one-hot target with the uniform distribution, as PyTorch",
        ),
    },
    doc="Softmax cross entropy on logits with class labels (PyTorch cross_entropy): "
    "-w_y log softmax(z)_y, with label smoothing.",
)

LOSSES = (softmax_cross_entropy,)
