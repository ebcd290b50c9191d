"""The reference documents: `generated/docs/losses.tex`, `losses.md` and `figures/*.png`.

Every formula is printed from the definitions (the losses' expressions and derivatives, the
recurrences' cells); the templates in `templates/docs/` hold the layout and the prose. Long
formulas are shown as named pieces (A_1 = …) so that no line runs off the page. Output is
deterministic: stable ordering, fixed figure metadata.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from .catalog import ALL
from .printing import latex_names, latex_of, plain_latex

__all__ = ["build", "SECTIONS", "FIGURES", "LINE_LIMIT"]

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


@dataclass
class Formula:
    """One displayed equation: lhs = main, where each named piece is defined below it."""

    lhs: str
    main: str
    pieces: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Entry:
    name: str
    doc: str
    kind: str
    inputs: list[tuple[str, str, str, str]]  # (LaTeX symbol, name, role, doc)
    params: list[tuple[str, str, str, str, str]]  # (LaTeX symbol, name, default, range, doc)
    formulas: list[Formula]
    stable: Formula | None = None
    recurrence: list[str] = field(default_factory=list)


def named_pieces(render, expr: sp.Expr, limit: int = LINE_LIMIT) -> tuple[str, list]:
    """``render(expr)`` split into a main line and named pieces A_k, each line within
    ``limit`` characters: the largest subexpression that fits is named first."""
    main, named = split(render, expr, limit)
    return render(main), [(sp.latex(s), render(v)) for s, v in named]


def split(render, expr: sp.Expr, limit: int = LINE_LIMIT) -> tuple[sp.Expr, list]:
    """(main, [(A_k, piece)]): ``expr`` equals main with the pieces substituted, last first."""
    main, named, stuck = expr, [], set()  # stuck: too long, but nothing left to split
    for _ in range(200):
        items = [e for e in [main, *(e for _, e in named)] if e not in stuck]
        lengths = [len(render(e)) for e in items]
        if not items or max(lengths) <= limit:
            break
        e = items[max(range(len(items)), key=lengths.__getitem__)]
        subs = {
            s
            for s in sp.preorder_traversal(e)
            if s is not e
            and isinstance(s, sp.Expr)
            and not s.is_Atom
            and not isinstance(s, sp.Indexed)
            and not (s.is_Mul and s.args[0] == -1 and len(s.args) == 2)
        }
        sized = sorted((len(render(s)), sp.default_sort_key(s), s) for s in subs)
        fitting = [t for t in sized if t[0] <= limit]
        symbol = sp.Symbol(f"A_{len(named) + 1}")
        children = [a.expr if isinstance(a, ExprCondPair) else a for a in e.args]
        children = [a for a in children if isinstance(a, sp.Expr) and not a.is_Atom]
        if fitting and fitting[-1][0] >= limit // 5:
            pick = fitting[-1][2]
            swap = {pick: symbol}
        elif (
            (e.is_Add or e.is_Mul)
            and len(e.args) > 2
            and max(map(len, map(render, e.args))) <= limit
        ):
            # a long sum or product of small terms: name the longest run of terms that fits
            args, n = list(e.args), 2
            while n < len(args) - 1 and len(render(e.func(*args[: n + 1]))) <= limit:
                n += 1
            pick = e.func(*args[:n])
            swap = {e: e.func(symbol, *args[n:])}
        elif children:  # descend: name the longest part, then split that
            pick = max(children, key=lambda a: (len(render(a)), sp.default_sort_key(a)))
            swap = {pick: symbol}
        else:
            stuck.add(e)
            continue
        main = main.xreplace(swap)
        named = [(s, v.xreplace(swap)) for s, v in named] + [(symbol, pick)]
    return main, named


def _formula(loss, lhs: str, expr: sp.Expr) -> Formula:
    main, pieces = named_pieces(lambda e: latex_of(loss, e), expr)
    return Formula(lhs, main, pieces)


def _loss_entry(loss) -> Entry:
    tex = latex_names(loss)
    inputs = [
        (
            tex.get(loss.symbol(i.name), sp.latex(loss.symbol(i.name))),
            i.name,
            "differentiable" if i.differentiable else "constant",
            i.doc,
        )
        for i in loss.inputs
    ]
    params = [
        (p.latex or sp.latex(loss.symbol(k)), k, repr(p.default), sp.latex(p.domain), p.doc)
        for k, p in loss.parameters.items()
    ]
    lhs = r"\ell" if loss.outer is None else "L"
    formulas = [_formula(loss, lhs, loss.expr)]
    for i in loss.inputs:
        if not i.differentiable:
            continue
        v = tex.get(loss.symbol(i.name), i.name)
        if loss.family == "classes":
            v = f"{v}_{{j}}" if i.classes else v
            formulas.append(
                _formula(loss, rf"\frac{{\partial \ell}}{{\partial {v}}}", loss.derivative(i.name))
            )
            continue
        sub = "_{i}" if loss.outer is not None else ""
        formulas.append(
            _formula(
                loss, rf"\frac{{\partial {lhs}}}{{\partial {v}{sub}}}", loss.derivative(i.name, 1)
            )
        )
        formulas.append(
            _formula(
                loss,
                rf"\frac{{\partial^2 {lhs}}}{{\partial {v}{sub}^2}}",
                loss.derivative(i.name, 2),
            )
        )
    stable = None if loss.stable is None else _formula(loss, r"\ell", loss.stable)
    return Entry(loss.name, loss.doc, loss.family, inputs, params, formulas, stable)


def _recurrence_entry(rec) -> Entry:
    params = [
        (sp.latex(sp.Symbol(k)), k, repr(d), sp.latex(dom), "")
        for k, (d, dom) in rec.params.items()
    ]
    formulas = [Formula("V", plain_latex(rec.cell))]
    formulas += [
        Formula(rf"\frac{{\partial V}}{{\partial \mathrm{{{u}}}}}", plain_latex(d))
        for u, d in rec.partials().items()
    ]
    return Entry(
        rec.name, rec.doc, "sequence", [], params, formulas, recurrence=list(rec.equations)
    )


def entries(names=None) -> list[tuple[str, str, list[Entry]]]:
    """(section title, guidance, entries) in document order, for ``names`` (default: all)."""
    specs = {s.name: s for s in ALL if names is None or s.name in names}
    out, seen = [], set()
    for title, members, guidance in SECTIONS:
        chosen = [specs[n] for n in members if n in specs]
        seen |= {s.name for s in chosen}
        if chosen:
            out.append((title, guidance, [_entry(s) for s in chosen]))
    rest = [specs[n] for n in sorted(specs) if n not in seen]
    if rest:
        out.append(("Other losses", "", [_entry(s) for s in rest]))
    return out


def _entry(spec) -> Entry:
    return _loss_entry(spec) if hasattr(spec, "inputs") else _recurrence_entry(spec)


# -- figures ------------------------------------------------------------------------------


def figures() -> dict[str, bytes]:
    """The PNG figures, computed with the generated kernels (deterministic bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import symloss

    plt.rcParams.update({"svg.hashsalt": "symloss", "font.size": 9})
    r = np.linspace(-3, 3, 601)
    zero = np.zeros_like(r)

    def each(name, *args, **kw):
        return symloss.loss(name)(*args, reduction="none", **kw)

    def grad(name, *args, **kw):
        return symloss.loss(name).value_and_grad(*args, reduction="none", **kw)[1]

    out = {}

    def save(fig, name):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        out[name] = buf.getvalue()

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    for name in ("mse", "mae"):
        a.plot(r, each(name, r, zero), label=name)
        b.plot(r, grad(name, r, zero), label=name)
    a.set(xlabel="residual r", ylabel="loss", title="loss")
    b.set(xlabel="residual r", ylabel="d loss / d r", title="derivative")
    a.legend(), b.legend()
    save(fig, "mse_mae.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for delta in (0.5, 1.0, 2.0):
        ax.plot(r, each("huber", r, zero, delta=delta), label=f"huber, delta = {delta}")
    ax.plot(r, each("smooth_l1", r, zero, beta=1.0), "--", label="smooth L1, beta = 1")
    ax.set(xlabel="residual r", ylabel="loss")
    ax.legend()
    save(fig, "huber.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(r, each("log_cosh", r, zero), label="log cosh r")
    ax.plot(r, r**2 / 2, ":", label="r^2 / 2")
    ax.plot(r, np.abs(r) - np.log(2), "--", label="|r| - log 2")
    ax.set(xlabel="residual r", ylabel="loss", ylim=(-0.8, 3.2))
    ax.legend()
    save(fig, "log_cosh.png")

    p = np.linspace(0.01, 0.999, 500)
    logit = np.log(p) - np.log1p(-p)
    ones = np.ones_like(p)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(p, each("sigmoid_cross_entropy", logit, ones), label="cross entropy")
    for gamma in (0.5, 1.0, 2.0, 5.0):
        focal = each("sigmoid_focal", logit, ones, alpha=-1.0, gamma=gamma)
        ax.plot(p, focal, label=f"focal, gamma = {gamma}")
    ax.set(xlabel="p_t (probability of the true class)", ylabel="loss", ylim=(0, 4))
    ax.legend()
    save(fig, "cross_entropy_focal.png")

    m = np.linspace(-2, 3, 500)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(m, each("hinge", m, ones[: m.size]), label="hinge")
    ax.plot(m, each("hinge", m, ones[: m.size], squared=True), label="squared hinge")
    ax.plot(
        m, each("sigmoid_cross_entropy", m, ones[: m.size]) / np.log(2), label="logistic / log 2"
    )
    ax.set(xlabel="margin y f", ylabel="loss", ylim=(0, 5))
    ax.legend()
    save(fig, "margin.png")
    return out


# -- documents ----------------------------------------------------------------------------


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "_": r"\_\allowbreak{}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
}
_TEX_SPECIAL |= {"$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
_TEX_UNICODE = {
    "‖": r"$\|$",
    "·": r"$\cdot$",
    "≠": r"$\neq$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "−": "-",
    "²": r"$^2$",
    "ᵀ": r"$^T$",
    "…": r"\ldots{}",
    "→": r"$\to$",
    "∈": r"$\in$",
    "×": r"$\times$",
    "√": r"$\surd$",
    "∞": r"$\infty$",
    "Σ": r"$\Sigma$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "δ": r"$\delta$",
    "ε": r"$\varepsilon$",
    "θ": r"$\theta$",
    "λ": r"$\lambda$",
    "μ": r"$\mu$",
    "π": r"$\pi$",
    "σ": r"$\sigma$",
    "ψ": r"$\psi$",
    "ρ": r"$\rho$",
    "≪": r"$\ll$",
    "₁": r"$_1$",
    "₂": r"$_2$",
    "ŷ": r"$\hat y$",
    "₊": r"$_+$",
    "—": "---",
    "–": "--",
    "≈": r"$\approx$",
    "½": r"$\frac{1}{2}$",
    "ℓ": r"$\ell$",
    "∂": r"$\partial$",
    "Δ": r"$\Delta$",
    "η": r"$\eta$",
    "τ": r"$\tau$",
    "ω": r"$\omega$",
    "≻": r"$\succ$",
    "∑": r"$\sum$",
    "⋅": r"$\cdot$",
    "’": "'",
}


def tex(text) -> str:
    """Plain text for LaTeX: special characters escaped, Greek and symbols as math."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            raise ValueError(f"no LaTeX spelling for {ch!r} in {text!r}: add it to _TEX_UNICODE")
    return "".join(out)


def _environment():
    """Jinja for LaTeX and Markdown: << >> and <% %>, which never clash with { } of LaTeX."""
    import jinja2

    from .locations import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["tex"] = tex
    env.filters["figlabel"] = lambda f: {
        "mse_mae.png": "mse-mae",
        "huber.png": "huber",
        "log_cosh.png": "log-cosh",
        "cross_entropy_focal.png": "focal",
        "margin.png": "margin",
    }.get(f, f.rsplit(".", 1)[0])
    env.filters["anchor"] = lambda t: "-".join(t.lower().split())
    return env


def build(names=None, with_figures: bool = True) -> dict[str, str | bytes]:
    """Relative path (under generated/docs) → content of every document file."""
    from .codegen import header

    sections = entries(names)
    env = _environment()
    files: dict[str, str | bytes] = {}
    for template, out in (
        ("docs/losses.tex.jinja", "losses.tex"),
        ("docs/losses.md.jinja", "losses.md"),
    ):
        files[out] = env.get_template(template).render(
            header=header(template, "symloss.catalog"),
            sections=sections,
            relations=RELATIONS,
            figures=FIGURES,
        )
    if with_figures:
        files.update({f"figures/{k}": v for k, v in figures().items()})
    return files


def write(files: dict, out: Path) -> list[str]:
    changed = []
    for rel, content in sorted(files.items()):
        path = out / rel
        data = content.encode() if isinstance(content, str) else content
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            changed.append(rel)
    return changed


def stale(files: dict, out: Path) -> list[str]:
    bad = []
    for rel, content in sorted(files.items()):
        data = content.encode() if isinstance(content, str) else content
        path = out / rel
        if not path.exists() or path.read_bytes() != data:
            bad.append(rel)
    known = set(files)
    extra = [
        str(p.relative_to(out))
        for p in sorted(out.rglob("*"))
        if p.is_file() and str(p.relative_to(out)) not in known
    ]
    return bad + [
        f"{e} (not generated)"
        for e in extra
        if not e.endswith((".aux", ".log", ".pdf", ".toc", ".out"))
    ]
