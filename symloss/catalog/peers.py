"""Losses users find in PyTorch, Optax and Keras, each defined from a string as a user would
(`symloss.define` parses it; see `symloss.definition.parse`). Where a peer has the loss, its
semantics.
"""

import sympy as sp

from ..definition.spec import Input, Param, define

positive = sp.Interval.open(0, sp.oo)
nonnegative = sp.Interval(0, sp.oo)
unit = sp.Interval(0, 1)
switch = sp.FiniteSet(0, 1)
signs = Input("target", domain=sp.FiniteSet(-1, 1), labels="signs", doc="labels in {-1, +1}")

cauchy = define(
    "cauchy",
    "c**2/2 * log(1 + ((pred - target)/c)**2)",
    params={"c": Param(1.0, positive, doc="scale: quadratic for |r| ≪ c")},
    doc="Cauchy (Lorentzian) loss c²/2·log(1 + (r/c)²): grows like log r², so outliers "
    "barely move the fit (Barron's ρ with α = 0, times c²).",
)

# (1 + (r/c)²)^{α/2} overflows beyond |r/c| ≈ 1e308^{1/α} (float32: 1e38^{1/α}) while the
# loss's gradient does not: the inputs' declared range stops at 1e15.
_bounded = sp.Interval(-1e15, 1e15)
general_robust = define(
    "general_robust",
    "where(alpha == 2, ((pred - target)/c)**2/2,"
    " where(alpha == 0, log(1 + ((pred - target)/c)**2/2),"
    " (2 - alpha)/alpha * expm1(alpha/2 * log(1 + ((pred - target)/c)**2/(2 - alpha)))))",
    inputs=(
        Input("pred", differentiable=True, domain=_bounded, doc="|pred| ≤ 1e15"),
        Input("target", domain=_bounded, doc="|target| ≤ 1e15"),
    ),
    params={
        "alpha": Param(
            1.0,
            sp.Interval(-sp.oo, 2),
            latex=r"\alpha",
            doc="shape ≤ 2: 2 L2, 1 Charbonnier, 0 Cauchy, -2 Geman–McClure, → -∞ Welsch",
        ),
        "c": Param(1.0, positive, doc="scale"),
    },
    doc="Barron's general robust loss ρ(r, α, c) = |α-2|/α·(((r/c)²/|α-2| + 1)^{α/2} - 1) "
    "(CVPR 2019) for α ≤ 2, with its limits at α = 2 (½(r/c)²) and α = 0 "
    "(log(½(r/c)² + 1)).",
)

quantile = define(
    "quantile",
    "where(target >= pred, tau*(target - pred), (tau - 1)*(target - pred))",
    params={"tau": Param(0.5, unit, latex=r"\tau", doc="the quantile to estimate")},
    doc="Quantile (pinball) loss: τ·(y - ŷ) where y ≥ ŷ, (τ - 1)·(y - ŷ) below; its "
    "minimiser is the τ-quantile (τ = 0.5: half the absolute error).",
)

squared_hinge = define(
    "squared_hinge",
    "max(0, 1 - target*pred)**2",
    inputs=("pred", signs),
    doc="Squared hinge loss max(0, 1 - y·f)² (Keras squared_hinge); labels {0, 1} become "
    "{-1, +1}. The same as hinge(squared=True).",
)

margin_ranking = define(
    "margin_ranking",
    "max(0, margin - target*(pred - other))",
    inputs=("pred", "other", signs),
    params={"margin": Param(0.0, nonnegative, doc="required gap between the two scores")},
    doc="Margin ranking loss max(0, Δ - y·(x1 - x2)) (PyTorch margin_ranking_loss, x1 = pred, "
    "x2 = other); the gradient is w.r.t. pred, and ∂/∂other = -∂/∂pred.",
)

poisson_nll = define(
    "poisson_nll",
    "exp(pred) - target*pred"
    " + where(full == 1, where(target > 1, target*log(target) - target"
    " + log(2*pi*target)/2, 0), 0)",
    # full, y > 1: y·(expm1(d) - d) + log(2πy)/2 with d = x - log y, which keeps its digits
    # where e^x - y·x and y·log y - y nearly cancel; otherwise e^x - y·x as written, which
    # lowering.overflow_differences turns into e^x·(1 - y·x·e^{-x}) only where e^x overflows
    # (no ∞ - ∞ at y = ∞); elsewhere the difference keeps its one rounding
    stable="where(full == 1 and target > 1,"
    " target*(expm1(held(pred - log(target))) - (pred - log(target))) + log(2*pi*target)/2,"
    " exp(pred) - target*pred)",
    inputs=("pred", Input("target", domain=nonnegative, doc="counts, ≥ 0")),
    params={
        "full": Param(
            False,
            switch,
            latex=r"\mathrm{full}",
            static=True,
            doc="add Stirling's term for log(target!)",
        )
    },
    doc="Poisson negative log-likelihood on the log-rate (PyTorch poisson_nll_loss with "
    "log_input=True): e^x - y·x, with full=True Stirling's approximation of log y! "
    "where y > 1.",
)

gaussian_nll = define(
    "gaussian_nll",
    "(log(max(var, eps)) + (pred - target)**2/max(var, eps))/2 + where(full == 1, log(2*pi)/2, 0)",
    # ½·r²/v as (r/2)·(r/v): neither r² nor r²/v is formed (either overflows where the loss is
    # finite), and two roundings (r/2 is exact) leave the quadratic term within 1 ε; where it
    # cancels ½·log v, float32 kernels form the sum in float64 (wide), float64 ones keep
    # what the terms' own rounding allows
    stable="wide(log(max(var, eps))/2 + held((pred - target)/2)*held((pred - target)/max(var, eps))"
    " + where(full == 1, log(2*pi)/2, 0))",
    inputs=("pred", "target", Input("var", domain=nonnegative, doc="variance, ≥ 0")),
    params={
        "eps": Param(1e-6, positive, latex=r"\epsilon", doc="the variance is clamped to ≥ ε"),
        "full": Param(
            False, switch, latex=r"\mathrm{full}", static=True, doc="add the constant log(2π)/2"
        ),
    },
    doc="Gaussian negative log-likelihood ½(log v + (ŷ - y)²/v), v = max(var, ε) (PyTorch "
    "gaussian_nll_loss); the gradient is w.r.t. pred.",
)

# Vectors: one per sample along axis 1 (or, over="sample", all non-batch axes).
_TP = "class_sum(pred[c]*target[c])"
_FP = "class_sum(pred[c]*(1 - target[c]))"
_FN = "class_sum((1 - pred[c])*target[c])"
_EMPTY = "class_sum(pred[c]) + class_sum(target[c]) + smooth == 0"
tversky = define(
    "tversky",
    f"where({_EMPTY}, 0, 1 - ({_TP} + smooth)/({_TP} + alpha*{_FP} + beta*{_FN} + smooth))",
    # 1 - (TP + s)/(…) without the cancellation, for near-perfect predictions
    stable=f"where({_EMPTY}, 0, (alpha*{_FP} + beta*{_FN})/({_TP} + alpha*{_FP} + beta*{_FN}"
    " + smooth))",
    inputs=(
        Input("pred", differentiable=True, classes=True, domain=unit),
        Input("target", classes=True, domain=unit, doc="the mask, in [0, 1]"),
    ),
    params={
        "alpha": Param(0.3, nonnegative, latex=r"\alpha", doc="weight of false positives"),
        "beta": Param(0.7, nonnegative, latex=r"\beta", doc="weight of false negatives"),
        "smooth": Param(1.0, nonnegative, latex="s", doc="added to both sides"),
    },
    over="sample",
    doc="Tversky loss 1 - (TP + s)/(TP + α·FP + β·FN + s) per sample over all its non-batch "
    "axes (Salehi et al., 2017): β > α penalises missed foreground more, for class "
    "imbalance; α = β = ½ is the Dice loss with smooth 2s.",
)

_NORM_PRED = "sqrt(class_sum(pred[c]**2))"
_NORM_TARGET = "sqrt(class_sum(target[c]**2))"
cosine_distance = define(
    "cosine_distance",
    # 1 - x·y/(‖x‖‖y‖) as ½‖x/‖x‖ - y/‖y‖‖²: a sum of squares, with no cancellation for
    # nearly parallel vectors (and derivatives that keep it); a norm below ε makes its unit
    # vector shorter than 1, which the last two terms (0 otherwise) make up for
    f"class_sum((pred[c]/max({_NORM_PRED}, eps) - target[c]/max({_NORM_TARGET}, eps))**2)/2"
    f" + where({_NORM_PRED} >= eps, 0, (1 - ({_NORM_PRED}/eps)**2)/2)"
    f" + where({_NORM_TARGET} >= eps, 0, (1 - ({_NORM_TARGET}/eps)**2)/2)",
    inputs=(
        Input("pred", differentiable=True, classes=True, latex="x"),
        Input("target", differentiable=True, classes=True, latex="y"),
    ),
    params={"eps": Param(1e-8, positive, latex=r"\epsilon", doc="each norm is clamped to ≥ ε")},
    accuracy="terms",
    doc="Cosine distance 1 - x·y/(max(‖x‖, ε)·max(‖y‖, ε)) along axis 1 (PyTorch "
    "1 - cosine_similarity, Optax cosine_distance with epsilon=ε); gradients w.r.t. both.",
)


def _distance(a: str, b: str) -> str:
    """‖a - b + eps‖₂ along the vector axis, as PyTorch's pairwise_distance."""
    return f"sqrt(class_sum(({a}[c] - {b}[c] + eps)**2))"


triplet_margin = define(
    "triplet_margin",
    # the difference first: margin + d(a, p) - d(a, n) would lose the margin for far anchors
    f"max(0, held({_distance('anchor', 'positive')} - {_distance('anchor', 'negative')}) + margin)",
    inputs=(
        Input("anchor", differentiable=True, classes=True, latex="a"),
        Input("positive", differentiable=True, classes=True, latex="p"),
        Input("negative", differentiable=True, classes=True, latex="n"),
    ),
    params={
        "margin": Param(
            1.0, nonnegative, latex=r"\Delta", doc="required gap between the two distances"
        ),
        "eps": Param(1e-6, nonnegative, latex=r"\epsilon", doc="added to each difference"),
    },
    accuracy="terms",
    doc="Triplet margin loss max(0, d(a, p) - d(a, n) + Δ), d(u, v) = ‖u - v + ε‖₂ along "
    "axis 1 (PyTorch triplet_margin_loss with p=2, swap=False); gradients w.r.t. all three.",
)

LOSSES = (
    cauchy,
    general_robust,
    quantile,
    squared_hinge,
    margin_ranking,
    poisson_nll,
    gaussian_nll,
    tversky,
    cosine_distance,
    triplet_margin,
)
