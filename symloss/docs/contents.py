"""What the reference contains, decided in Python: its sections and the losses in each (with
a paragraph of guidance), the relations between losses it states (each checked numerically by
tests/test_docs.py), its figures, and the width of a displayed formula."""

from __future__ import annotations

LINE_LIMIT = 110  # characters of LaTeX source per displayed line (≈ the text width)

# (title, losses, guidance): Python decides the grouping; anything unlisted goes to "Other".
SECTIONS = (
    (
        "Regression and robust losses",
        (
            "mse",
            "mae",
            "l2",
            "l1",
            "huber",
            "smooth_l1",
            "log_cosh",
            "cauchy",
            "general_robust",
            "quantile",
            "poisson_nll",
            "gaussian_nll",
        ),
        "The squared error is the maximum-likelihood loss for Gaussian noise; its gradient grows "
        "with the residual, so a few outliers dominate it. The absolute error (Laplace noise) "
        "gives every residual the same pull and estimates the median. Huber, smooth L1 and "
        "log-cosh are quadratic near zero and linear far out: robust to outliers while smooth "
        "at the optimum. Cauchy and the general robust loss with alpha < 1 go further: their "
        "gradient falls back toward zero for large residuals, so gross outliers are nearly "
        "ignored (at the price of a non-convex loss). The quantile loss estimates a quantile "
        "instead of the mean; the Poisson and Gaussian negative log-likelihoods fit counts and "
        "a mean with its variance.",
    ),
    (
        "Binary classification",
        (
            "sigmoid_cross_entropy",
            "balanced_sigmoid_cross_entropy",
            "sigmoid_focal",
            "hinge",
            "squared_hinge",
            "margin_ranking",
        ),
        "Cross entropy on logits is the default. With class imbalance, weight the positives "
        "(pos_weight), balance by the class frequency (balanced cross entropy), or focus on "
        "hard examples (focal loss, whose factor (1 - p_t)^gamma mutes the easy ones). The "
        "hinge loss asks only for a margin and ignores points beyond it; the squared hinge is "
        "smooth at the margin; the margin ranking loss asks one score to beat another.",
    ),
    (
        "Multi-class classification",
        (
            "softmax_cross_entropy",
            "softmax_cross_entropy_probabilities",
            "softmax_focal",
            "kl_divergence",
            "multiclass_hinge",
            "multiclass_hinge_crammer_singer",
        ),
        "Softmax cross entropy is the standard; class weights and focal loss address "
        "imbalance, label smoothing over-confidence. KL divergence compares whole "
        "distributions (distillation). The multi-class hinge losses ask for a margin between "
        "the true class and the others (Weston-Watkins: each violating class; Crammer-Singer: "
        "the worst one).",
    ),
    (
        "Segmentation",
        ("dice", "tversky"),
        "The Dice loss measures overlap per image, so a small foreground counts as much as a "
        "large one: the usual remedy when foreground pixels are rare. The Tversky loss weighs "
        "false negatives (beta) against false positives (alpha): beta > alpha favours recall "
        "of small structures.",
    ),
    (
        "Embeddings",
        ("large_margin_softmax", "center_loss", "cosine_distance", "triplet_margin"),
        "L-Softmax makes the target class win by an angular margin (m times its angle), center "
        "loss pulls features toward their class center; both give more discriminative features "
        "than plain softmax cross entropy. The cosine distance compares directions only; the "
        "triplet loss asks an anchor to be nearer its positive than its negative by a margin.",
    ),
    (
        "Sequences",
        ("ctc", "soft_edit_distance", "edit_distance"),
        "For sequences of unequal length without a given alignment: CTC sums over all "
        "alignments of the target to the frames (speech, handwriting); the edit distance "
        "counts insertions, deletions and substitutions (evaluation), and its soft version is "
        "a differentiable surrogate.",
    ),
)

# Relations between losses (LaTeX), each checked numerically by tests/test_docs.py.
RELATIONS = (
    r"\mathrm{smooth\_l1}_{\beta}(r) = \mathrm{huber}_{\delta = \beta}(r) / \beta",
    r"\mathrm{l2}(\hat y, y) = \sqrt{n \cdot \mathrm{mse}(\hat y, y)}",
    r"\mathrm{l1}(\hat y, y) = n \cdot \mathrm{mae}(\hat y, y)",
    r"\mathrm{kl\_divergence}(q, p) = \mathrm{softmax\_cross\_entropy}(\log q, p)"
    r" - H(p), \quad H(p) = -\sum_c p_c \log p_c",
    r"\mathrm{large\_margin\_softmax}_{m = 1}(x, W, y) = \mathrm{softmax\_cross\_entropy}(x W, y)",
    r"\mathrm{multiclass\_hinge}(s, y)"
    r" = C \cdot \mathrm{multi\_margin\_loss}_{\mathrm{PyTorch}}(s, y)",
)

FIGURES = {
    "mse_mae.png": "Squared and absolute error and their derivatives against the residual.",
    "huber.png": "Huber for several delta, with smooth L1 (beta = 1).",
    "log_cosh.png": "log cosh r with its quadratic (r^2/2) and linear (|r| - log 2) limits.",
    "cross_entropy_focal.png": "Cross entropy and focal loss for several gamma against p_t.",
    "margin.png": "Hinge, squared hinge and logistic loss against the margin y f.",
}
