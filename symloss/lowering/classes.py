"""Passes over the class axis once its reductions are symbols: softmax differences and
complements without cancellation, components subtracted first, and the limits at infinite
logits (a class of logit -∞ is absent, an exact-data coefficient 0 gives 0)."""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1

from ..definition.primitives import sigmoid
from .nodes import limit_mul, minus_infinity, ordered_add
from .rows import Reduction


def masked_softmax_differences(expr: sp.Expr, reductions: list) -> sp.Expr:
    """[j ≠ y]·e^{a - L'} - e^{a - L} → e^{a + b_y - L' - L} where j ≠ y (and -e^{a - L}
    where j = y), with L' = log Σ_{c≠y} e^{b_c} and L = log Σ_c e^{b_c}: since
    1/Σ_{c≠y} - 1/Σ_c = e^{b_y}/(Σ_{c≠y}·Σ_c), the difference needs no subtraction, which
    would cancel when class y is unlikely (the focal loss's gradient)."""
    full = {
        (r.body, r.index): r.symbol
        for r in reductions
        if r.kind == "logsumexp" and r.exclude is None
    }
    masked = {
        r.symbol: (r.exclude, r.body.subs(r.index, r.exclude), full.get((r.body, r.index)))
        for r in reductions
        if r.kind == "logsumexp" and r.exclude is not None
    }

    def rewrite(add: sp.Add) -> sp.Expr:
        for pw in [t for t in add.args if isinstance(t, sp.Piecewise) and len(t.args) == 2]:
            (zero, cond), (e1, last) = pw.args
            if zero != 0 or last is not sp.true or not isinstance(e1, sp.exp):
                continue
            for lse_m, (label, b_y, lse_f) in masked.items():
                a = e1.args[0] + lse_m
                if lse_f is None or a.has(lse_m) or label not in cond.args:
                    continue
                partner = -sp.exp(a - lse_f)
                if partner in add.args:
                    exact = sp.exp(a + b_y - lse_m - lse_f)
                    chosen = sp.Piecewise((partner, cond), (exact, True))
                    rest = [t for t in add.args if t is not pw and t != partner]
                    return sp.Add(chosen, *rest)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def softmax_complements(expr: sp.Expr, reductions: list[Reduction]) -> sp.Expr:
    """p·R + T → p·(R + T) - T·expm1(u), p = exp(u) a softmax and R a per-row sum.

    The gradient of a cross entropy against a distribution, p_j·Σ_c t_c - t_j, cancels when
    p_j → 1 and t is concentrated on j; written as p_j·Σ_{c≠j} t_c + t_j·(p_j - 1), with
    p_j - 1 = expm1(u), it keeps its digits (R + T is then the exact difference of the sum
    and its own j-th term)."""
    sums = {r.symbol for r in reductions if r.kind == "sum"}

    def rewrite(add: sp.Add) -> sp.Expr:
        if len(add.args) != 2:
            return add
        for p_r, t in (add.args, add.args[::-1]):
            factors = sp.Mul.make_args(p_r)
            exps = [f for f in factors if isinstance(f, sp.exp)]
            rs = [f for f in factors if f in sums]
            if len(factors) == 2 and len(exps) == 1 and len(rs) == 1 and not t.has(sp.exp):
                (p,), (r,) = exps, rs
                return p * sp.Add(r, t, evaluate=False) - t * expm1(p.args[0])
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def component_differences(expr: sp.Expr) -> sp.Expr:
    """v[a] - v[b] + rest → ordered_add(v[a] - v[b], rest): the difference of two components
    of one vector is formed first, exactly when they are close, and is exactly 0 when a = b
    (m - s_y + s_c would round m away when s_y is large, even at c = y)."""

    def rewrite(add: sp.Add) -> sp.Expr:
        if isinstance(add, ordered_add):
            return add
        plus = [t for t in add.args if isinstance(t, sp.Indexed)]
        minus = [
            -t for t in add.args if isinstance(-t, sp.Indexed) and not isinstance(t, sp.Indexed)
        ]
        for a in plus:
            for b in minus:
                if a.base == b.base and len(add.args) > 2:
                    rest = add - a + b
                    return ordered_add(sp.Add(a, -b, evaluate=False), rest)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def one_hot_differences(expr: sp.Expr, label: sp.Symbol, component: sp.Symbol) -> sp.Expr:
    """exp(u) - δ_{j,y} → expm1(u) where j = y, else exp(u): softmax minus one-hot without
    the cancellation of p_y - 1 when p_y is close to 1."""

    def rewrite(add: sp.Add) -> sp.Expr:
        delta = sp.KroneckerDelta(component, label)
        for sign in (1, -1):  # exp(u) - δ, or δ - exp(u)
            if -sign * delta not in add.args:
                continue
            exps = [t for t in add.args if isinstance(sign * t, sp.exp)]
            if len(exps) != 1:
                return add
            (e,) = exps
            rest = [t for t in add.args if t is not e and t != -sign * delta]
            u = (sign * e).args[0]
            chosen = sp.Piecewise(
                (expm1(u), sp.Eq(component, label)), (sp.exp(u), True), evaluate=False
            )
            return sp.Add(sign * chosen, *rest)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def exp_square_differences(expr: sp.Expr) -> sp.Expr:
    """k·e^u - k·e^{2u} → -k·e^u·expm1(u): p - p² = p(1 - p) for p = e^u ≤ 1 (a softmax
    probability), which keeps its digits where p rounds to 1 (the Hessian diagonal of a
    softmax loss)."""

    def plain(e: sp.Expr) -> sp.Expr:
        return e.replace(ordered_add, lambda *a: sp.Add(*a))

    def pair(add: sp.Add) -> sp.Expr:
        terms = list(add.args)
        for t in terms:
            k, e = t.as_independent(sp.exp, as_Add=False)
            if not isinstance(e, sp.exp):
                continue
            u = e.args[0]
            for s in terms:
                k2, e2 = s.as_independent(sp.exp, as_Add=False)
                twice = isinstance(e2, sp.exp) and sp.expand(plain(e2.args[0] - 2 * u)) == 0
                if twice and k2 == -k:
                    terms.remove(t)
                    terms.remove(s)
                    return pair(sp.Add(*terms, -k * e * expm1(u)))
        return add

    return expr.replace(lambda e: e.is_Add, pair)


def unbounded_reductions(reductions: list[Reduction]) -> set:
    """The row symbols that are infinite at infinite logits outside an exponential: the two
    parts of every log-sum-exp (log Σ e^{z_c} = -∞ for an empty or all -∞ sum, +∞ at a +∞
    logit) and the sums over classes whose terms hold one (Σ_c w_c·(-log p_c))."""
    unbounded: set = set()
    for r in reductions:  # innermost first: a sum's body sees the reductions before it
        if r.kind == "logsumexp":
            unbounded |= {r.symbol, *r.outputs}
        elif r.kind == "sum" and holds_unbounded(r.body, unbounded):
            unbounded.add(r.symbol)
    return unbounded


def holds_unbounded(expr: sp.Expr, unbounded: set) -> bool:
    """Whether ``expr`` uses one of ``unbounded`` outside the argument of an exponential (inside
    one, -∞ gives a probability 0: bounded; so in a sigmoid)."""
    if isinstance(expr, (sp.exp, expm1, sigmoid)):
        return False
    if expr in unbounded:
        return True
    return any(holds_unbounded(a, unbounded) for a in expr.args)


def zero_coefficient_products(expr: sp.Expr, unbounded: set, varying: set) -> sp.Expr:
    """k·F → limit_mul(k, F) where F may be infinite (`holds_unbounded`) and the coefficient k
    is exact data: no symbol of ``varying`` (the differentiable inputs and every per-row
    reduction) and not a plain number. Cross entropy with label smoothing 0 (0·Σ_c w_c(-log
    p_c)), a probability target 0 at a class of logit -∞ (0·(-log p_c)) and the focal
    loss's γ = 0 in q^γ = exp(γ·log q) with q = 0 are then their limits, not NaN."""

    def is_data(f: sp.Expr) -> bool:
        names = {a.base.label if isinstance(a, sp.Indexed) else a for a in f.atoms(sp.Indexed)}
        return not (f.free_symbols | names) & varying

    def wrap(mul: sp.Mul) -> sp.Expr:
        k = [f for f in mul.args if is_data(f)]
        rest = [f for f in mul.args if not is_data(f)]
        coeff = sp.Mul(*k)
        if not rest or coeff.is_number or not holds_unbounded(sp.Mul(*rest), unbounded):
            return mul
        return limit_mul(coeff, sp.Mul(*rest), sp.Mul(*rest))

    return expr.replace(lambda e: e.is_Mul, wrap)


def absent_classes(expr: sp.Expr, reductions: list[Reduction], component: sp.Expr) -> sp.Expr:
    """e^{k·z_j - k·L'} → 0 where z_j = -∞ (k > 0), L' = log Σ_{c≠y} e^{z_c} a log-sum-exp
    that leaves the label out: the ratio (e^{z_j}/Σ_{c≠y} e^{z_c})^k of a class of logit -∞ is
    0, also where every class but the label is -∞ and the sum is 0 too (e^{-∞ + ∞} = NaN
    otherwise). The class is then absent, as for any other sum over the classes; the focal
    loss multiplies these ratios by (1 - p_y)^γ = 0 there. ``component``: the logit z_j."""
    masked = [r.outputs[0] for r in reductions if r.kind == "logsumexp" and r.exclude is not None]
    if not masked:
        return expr

    def plain(e: sp.Expr) -> sp.Expr:
        return sp.expand(e.replace(ordered_add, lambda a, b: a + b))

    def is_ratio(e: sp.Expr) -> bool:
        if not isinstance(e, sp.exp):
            return False
        u = plain(e.args[0])
        k = u.coeff(component)
        return k.is_positive is True and any(u.coeff(m) == -k for m in masked)

    def guard(e: sp.exp) -> sp.Expr:
        return sp.Piecewise((sp.S.Zero, minus_infinity(component)), (e, True), evaluate=False)

    return expr.replace(is_ratio, guard)
