"""The class axis's row reductions: every sum, norm, log-sum-exp and maximum over the classes
as a per-row symbol (`row_reductions`), and the forms that keep their quotients and sums
exact (`split_logsumexp`, `clamped_maxima`, `norm_quotients`)."""

from __future__ import annotations

import sympy as sp

from ..definition.axes import c, class_argmax, class_max
from ..definition.primitives import held
from .nodes import ordered_add


class Reduction:
    """A per-row quantity over the class axis: ``kind`` "sum" (Σ_c body), "norm" (√Σ_c body,
    accumulated from float64 terms and kept in float64, so that a float32 Σx² beyond float32's
    range, or ‖x‖³ in a gradient, stays finite; in a float64 kernel a norm of u² sums
    (u·2^-e)², see codegen's `_norm_form`, and `norm_quotients` keeps ‖x‖^k out of gradients)
    or "logsumexp"
    (log Σ_c exp(body), computed as m + log1p(Σ_{c≠k} exp(body_c - m)) with m = body_k the
    largest term, which is exact in the limit where one class dominates). ``exclude``: a
    class (the label) the log-sum-exp leaves out, as in 1 - p_y = Σ_{c≠y} p_c."""

    def __init__(self, symbol: sp.Symbol, kind: str, body: sp.Expr, index: sp.Symbol, exclude=None):
        self.symbol, self.kind, self.body, self.index = symbol, kind, body, index
        self.exclude = exclude  # a class the reduction leaves out (c ≠ y), or None

    @property
    def outputs(self) -> tuple[sp.Symbol, ...]:
        """The symbols the kernel defines: r_k, (lse_k_max, lse_k_log1p) of a log-sum-exp, or
        (mx_k, mx_k_arg) of a maximum and the first class attaining it."""
        if self.kind == "logsumexp":
            return tuple(sp.Symbol(f"{self.symbol}_{part}", real=True) for part in ("max", "log1p"))
        if self.kind == "max":
            return (self.symbol, argmax_symbol(self.symbol))
        return (self.symbol,)

    def __repr__(self) -> str:
        return f"Reduction({self.symbol} = {self.kind}_{self.index} {self.body})"


def argmax_symbol(symbol: sp.Symbol) -> sp.Symbol:
    """The class index that attains the maximum ``symbol`` (the first one, on ties)."""
    return sp.Symbol(f"{symbol}_arg", integer=True)


def _excluding(body: sp.Expr, index: sp.Symbol):
    """(y, exp(b)) when ``body`` is Piecewise((0, Eq(c, y)), (exp(b), True)), else None."""
    if not isinstance(body, sp.Piecewise) or len(body.args) != 2:
        return None
    (zero, cond), (inner, last) = body.args
    if zero != 0 or last is not sp.true or not isinstance(inner, sp.exp):
        return None
    if isinstance(cond, sp.Eq) and index in cond.args:
        (label,) = [a for a in cond.args if a != index]
        return label, inner
    return None


def row_reductions(exprs: list[sp.Expr]) -> tuple[list[Reduction], list[sp.Expr]]:
    """Replace every sum over the class axis by a per-row symbol, innermost first.

    log Σ_c exp(b) → lse_k; Σ_c exp(b) → exp(lse_k) (so softmax e^{z_j}/Σ e^{z_c} becomes
    exp(z_j - lse), which cannot overflow); (Σ_c b)^{k/2} → nrm_k^k (a norm, k odd); any other
    Σ_c b → r_k. Equal sums share a symbol.
    """
    reductions: list[Reduction] = []
    by_key: dict = {}

    def symbol_for(kind: str, body: sp.Expr, index: sp.Symbol, exclude=None) -> sp.Symbol:
        key = (kind, body, exclude)
        if key not in by_key:
            name = {"logsumexp": "lse", "max": "mx", "norm": "nrm"}.get(kind, "r")
            count = sum(r.kind == kind for r in reductions)
            by_key[key] = sp.Symbol(f"{name}{count}", real=True)
            reductions.append(Reduction(by_key[key], kind, body, index, exclude))
        return by_key[key]

    def innermost(e: sp.Expr) -> bool:
        return isinstance(e, sp.Sum) and not e.function.has(sp.Sum)

    def replace(e: sp.Expr) -> sp.Expr:
        (index, *_), *_ = e.limits
        body = e.function
        if isinstance(body, sp.exp):
            return sp.exp(symbol_for("logsumexp", body.args[0], index))
        excluded = _excluding(body, index)
        if excluded is not None:  # Σ_{c≠y} exp(b): a log-sum-exp that skips class y
            label, inner = excluded
            return sp.exp(symbol_for("logsumexp", inner.args[0], index, label))
        return symbol_for("sum", body, index)

    def is_norm(e: sp.Expr) -> bool:  # (Σ_c b)^{k/2}, k odd
        return (
            isinstance(e, sp.Pow)
            and innermost(e.base)
            and e.exp.is_Rational
            and e.exp.q == 2
            and not isinstance(e.base.function, sp.exp)
        )

    def norm(e: sp.Pow) -> sp.Expr:
        (index, *_), *_ = e.base.limits
        return symbol_for("norm", e.base.function, index) ** (2 * e.exp)

    def maximum(e: sp.Expr) -> sp.Expr:  # max_c body → mx_k, its first maximiser → mx_k_arg
        symbol = symbol_for("max", e.args[0], c)
        return symbol if isinstance(e, class_max) else argmax_symbol(symbol)

    out = list(exprs)
    while any(e.has(sp.Sum, class_max, class_argmax) for e in out):
        out = [e.replace(lambda e: isinstance(e, (class_max, class_argmax)), maximum) for e in out]
        out = [e.replace(is_norm, norm) for e in out]
        out = [e.replace(innermost, replace) for e in out]
    # log(exp(lse)) → lse and exp(z)·exp(-lse) → exp(z - lse), also inside Piecewise branches
    out = [_combine_exp(sp.expand_log(e, force=True)) for e in out]
    return reductions, out


def _combine_exp(expr: sp.Expr) -> sp.Expr:
    """exp(a)·exp(b) → exp(a + b) at any depth (inside powers of sums too), also where the
    exponentials multiply a Piecewise whose branches are 0 or exponentials (the factors move
    into the branches)."""

    def fold(mul: sp.Mul) -> sp.Expr:
        pws = [f for f in mul.args if isinstance(f, sp.Piecewise)]
        exps = [f for f in mul.args if isinstance(f, sp.exp)]
        if len(pws) != 1 or not exps:
            return mul
        (pw,) = pws
        if not all(v == 0 or isinstance(v, sp.exp) for v, _ in pw.args):
            return mul
        rest = [f for f in mul.args if f is not pw and not isinstance(f, sp.exp)]
        factor = sp.Mul(*exps)
        inner = sp.Piecewise(*((sp.powsimp(v * factor, combine="exp"), c) for v, c in pw.args))
        return sp.Mul(inner, *rest)

    return sp.powsimp(expr, deep=True, combine="exp").replace(lambda e: e.is_Mul, fold)


def split_logsumexp(exprs: list[sp.Expr], reductions: list[Reduction]) -> list[sp.Expr]:
    """lse_k → (lse_k_max + lse_k_log1p) grouped so that the max meets the data first:
    (m - z_y) + log1p(s) for the value, exp((z_j - m) - log1p(s)) for the softmax."""
    pairs = {r.symbol: r.outputs for r in reductions if r.kind == "logsumexp"}

    def group(add: sp.Expr) -> sp.Expr:
        if not add.is_Add:
            return add
        for m, lg in pairs.values():
            coeff_m, coeff_l = add.coeff(m), add.coeff(lg)
            if coeff_m != 0 and coeff_m == coeff_l:
                return ordered_add(group(add - coeff_l * lg), coeff_l * lg)
        return add

    split = {lse: m + lg for lse, (m, lg) in pairs.items()}
    return [e.xreplace(split).replace(lambda x: x.is_Add, group) for e in exprs]


def clamped_maxima(expr: sp.Expr) -> sp.Expr:
    """H(a - b)·Max(a, b)^k → H(a - b)·a^k: where the step is not 0, a ≥ b (the derivative of
    1/max(‖x‖, ε) is -H(‖x‖ - ε)/‖x‖²·∂‖x‖, so that `norm_quotients` sees the norm's powers)."""

    def rewrite(mul: sp.Mul) -> sp.Expr:
        steps = [f.args[0] for f in mul.args if isinstance(f, sp.Heaviside)]
        if not steps:
            return mul

        def chosen(m: sp.Expr) -> bool:
            return isinstance(m, sp.Max) and len(m.args) == 2

        def pick(m: sp.Max) -> sp.Expr:
            a, b = m.args
            for x, other in ((a, b), (b, a)):
                if any(sp.expand(s - (x - other)) == 0 for s in steps):
                    return x
            return m

        factors = [f if isinstance(f, sp.Heaviside) else f.replace(chosen, pick) for f in mul.args]
        return sp.Mul(*factors)

    return expr.replace(lambda e: e.is_Mul, rewrite)


def norm_quotients(expr: sp.Expr, reductions: list[Reduction]) -> sp.Expr:
    """u_j·r·‖u‖^{-k} (k ≥ 2) → held(u_j/‖u‖)·held(r/‖u‖)·‖u‖^{2-k}: each factor that grows like
    the norm (a component u_j, or a row sum Σ_c b·u_c) is divided by it first, so that no
    ‖u‖^{-k} is formed, which over- or underflows where ‖u‖ is beyond √max or below √tiny
    (cosine_distance's gradient at rows of 1e300) although the product is ordinary."""
    norms = {}
    for r in reductions:
        body = r.body
        if r.kind == "norm" and body.is_Pow and body.exp == 2 and isinstance(body.base, sp.Indexed):
            norms[r.symbol] = body.base.base
    linear = {  # sum symbol → the vector whose component c multiplies its body
        r.symbol: f.base
        for r in reductions
        if r.kind == "sum"
        for f in sp.Mul.make_args(r.body)
        if isinstance(f, sp.Indexed) and f.indices == (r.index,)
    }
    if not norms:
        return expr

    def rewrite(mul: sp.Mul) -> sp.Expr:
        factors = list(mul.args)
        for k, f in enumerate(factors):
            if not (f.is_Pow and f.base in norms and f.exp.is_Integer and f.exp <= -2):
                continue
            nrm, vector, power = f.base, norms[f.base], -int(f.exp)
            held_parts = []
            for m, g in enumerate(factors):
                if power < 2:
                    break
                grows = (isinstance(g, sp.Indexed) and g.base == vector) or linear.get(g) == vector
                if m != k and grows:
                    held_parts.append(m)
                    factors[m] = held(g / nrm)
                    power -= 1
            if held_parts:
                factors[k] = nrm ** (-power)
                return sp.Mul(*factors)
        return mul

    return expr.replace(lambda e: e.is_Mul, rewrite)
