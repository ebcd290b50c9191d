"""Derivatives of loss definitions, and the choices made where a loss is not differentiable.

Kink policy (documented, and what PyTorch's autograd does for abs, relu, huber and norms):

* Heaviside(0) = 0 and sign(0) = 0: at a kink the derivative is 0, the element of the
  subdifferential closest to zero (|x| and max(0, x) at 0, the hinge at margin 1);
* DiracDelta terms (second derivatives at kinks) are dropped: the Hessian at a kink is the
  one-sided value of the branch that the definition's condition selects;
* where the derivative of a norm's outer function diverges (√S at S = 0) it is taken to be 0.
"""

from __future__ import annotations

import sympy as sp

from .definition.axes import C, S, j
from .definition.recurrence import Recurrence, V, logsumexp_form
from .definition.spec import Loss

__all__ = [
    "S",
    "j",
    "derivative",
    "component_derivative",
    "outer_derivative",
    "outer_chain",
    "loss_derivative",
    "cell_partials",
    "cell_log_weights",
    "tidy",
]


def _kink_policy(expr: sp.Expr) -> sp.Expr:
    """DiracDelta(...) → 0 and Heaviside(x) → Heaviside(x, 0) (SymPy's default value is 1/2)."""
    expr = expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    return expr.replace(
        lambda e: isinstance(e, sp.Heaviside) and (len(e.args) == 1 or e.args[1] != 0),
        lambda e: sp.Heaviside(e.args[0], 0),
    )


def _sech_squared(expr: sp.Expr) -> sp.Expr:
    """c - c·tanh(u)² → c·sech(u)², which keeps its digits where tanh(u)² rounds to 1."""

    def rewrite(add: sp.Add) -> sp.Expr:
        terms = list(add.args)
        for t in terms:
            coeff, rest = t.as_independent(sp.tanh, as_Add=False)
            if rest.is_Pow and rest.exp == 2 and isinstance(rest.base, sp.tanh):
                partner = -coeff
                if partner in terms and partner != 0:
                    terms.remove(t)
                    terms.remove(partner)
                    return rewrite(sp.Add(*terms, partner * sp.sech(rest.base.args[0]) ** 2))
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Apply the kink policy and stable rewrites, then keep the simplest equivalent form."""
    expr = _sech_squared(_kink_policy(expr))
    candidates = [expr, sp.factor_terms(expr)]
    if sp.count_ops(expr) <= 80:
        candidates.append(_sech_squared(_kink_policy(sp.simplify(expr))))
    # Fewest operations wins; forms that divide by |x| or introduce new Piecewise lose ties.
    return min(candidates, key=lambda e: (sp.count_ops(e), len(e.atoms(sp.Piecewise))))


def derivative(expr: sp.Expr, var: sp.Symbol, order: int = 1) -> sp.Expr:
    """d^order expr / d var^order, tidied after each step."""
    for _ in range(order):
        expr = tidy(sp.diff(expr, var))
    return expr


def component_derivative(expr: sp.Expr, vector: sp.IndexedBase | sp.Symbol) -> sp.Expr:
    """∂ℓ/∂v_j of a class-axis loss, j a class index in [0, C): sums over c of Kronecker deltas
    collapse to their j-th term, and factors free of c move out of the remaining sums (so that
    Σ_c p_j·w_c becomes p_j·Σ_c w_c, one reduction per row instead of one per component).
    For a per-sample scalar input (a Symbol), ∂ℓ/∂v, tidied the same way."""
    var = vector[j] if isinstance(vector, sp.IndexedBase) else vector
    d = _collapse_piecewise_deltas(_kink_policy(sp.diff(expr, var).doit()))
    return _pull_out_of_sums(_index_in_range(d))


def _collapse_piecewise_deltas(expr: sp.Expr) -> sp.Expr:
    """Σ_c Piecewise((0, a(c)), (δ_{cj}·f(c), b(c))) → Piecewise((0, a(j)), (f(j), b(j))).

    SymPy collapses δ only as a factor of a sum's body, and folds a factor back into a
    Piecewise body, so a sum of a Piecewise with δ in every nonzero branch is done here."""

    def collapse(s: sp.Sum) -> sp.Expr:
        (index, lo, hi), *rest = s.limits
        body = s.function
        if rest or not isinstance(body, sp.Piecewise):
            return s
        delta = sp.KroneckerDelta(index, j)
        values = [v for v, _ in body.args]
        if not all(v == 0 or delta in sp.Mul.make_args(v) for v in values):
            return s
        return sp.Piecewise(*((v / delta, cnd) for v, cnd in body.args)).subs(index, j)

    return expr.replace(lambda e: isinstance(e, sp.Sum), collapse)


def _index_in_range(expr: sp.Expr) -> sp.Expr:
    """Resolve the Piecewise that Σ_c δ_{cj}·f(c) leaves, knowing 0 ≤ j ≤ C - 1."""
    known = {sp.Le(j, C - 1): sp.true, sp.Ge(C - 1, j): sp.true, sp.Ge(C - j, 1): sp.true}

    def resolve(pw: sp.Piecewise) -> sp.Expr:
        for value, cond in pw.args:
            cond = cond.xreplace(known)
            if cond is sp.true:
                return value
            if cond is not sp.false:
                return pw
        return pw

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), resolve)


def _pull_out_of_sums(expr: sp.Expr) -> sp.Expr:
    """Σ_c a·f(c) → a·Σ_c f(c) for a free of the summation index."""

    def pull(s: sp.Sum) -> sp.Expr:
        (index, *_), *_ = s.limits
        inner = _pull_out_of_sums(s.function)
        if inner.is_Add:
            return sp.Add(*(pull(sp.Sum(t, *s.limits)) for t in inner.args))
        free, dependent = inner.as_independent(index, as_Add=False)
        return free * sp.Sum(dependent, *s.limits) if free != 1 else sp.Sum(inner, *s.limits)

    return expr.replace(lambda e: isinstance(e, sp.Sum), pull)


def outer_derivative(outer: sp.Expr, order: int) -> sp.Expr:
    """g^(order)(S), taken as 0 at S = 0 where it diverges there (the kink of a norm)."""
    d = tidy(sp.diff(outer, S, order))
    if sp.limit(d, S, 0, "+").is_infinite:
        d = sp.Piecewise((0, sp.Eq(S, 0)), (d, True))
    return d


def outer_chain(element: sp.Expr, outer: sp.Expr, var: sp.Symbol, order: int) -> sp.Expr:
    """∂/∂x_i of g(Σ ℓ): g'(S)·ℓ'; and ∂²/∂x_i²: g''(S)·ℓ'² + g'(S)·ℓ''."""
    d1 = derivative(element, var, 1)
    if order == 1:
        return outer_derivative(outer, 1) * d1
    d2 = derivative(element, var, 2)
    return outer_derivative(outer, 2) * d1**2 + outer_derivative(outer, 1) * d2


def loss_derivative(loss: Loss, wrt: str, order: int = 1) -> sp.Expr:
    """∂^order ℓ/∂wrt^order of a loss: per element, per class component ∂ℓ/∂z_j, or for a
    norm g(Σ ℓ) the derivative with respect to element i."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    var = loss.symbol(wrt)
    if loss.family == "classes":
        if order != 1:
            raise ValueError("class-axis losses have first derivatives only (a vector)")
        return component_derivative(loss.element, var)
    if loss.outer is None:
        return _closed_form(loss.name, derivative(loss.element, var, order))
    parts = outer_chain(loss.element, loss.outer, var, order)
    return parts.subs(loss.index_map()).subs(S, loss.indexed_sum())


def _closed_form(name: str, d: sp.Expr) -> sp.Expr:
    if d.has(sp.Derivative, sp.Subs):
        raise ValueError(f"SymPy cannot differentiate {name!r} in closed form: {d}")
    return d


def cell_partials(rec: Recurrence) -> dict[sp.Symbol, sp.Expr]:
    """∂cell/∂u for every predecessor and local u, written in the cell's value V where the
    cell is k·log Σ exp(…) + rest (then Σ exp(…) = exp((V - rest)/k), and a softmax weight
    becomes one exponential, exp(a + e - V), that cannot overflow)."""
    out = {}
    form = logsumexp_form(rec.cell)
    for u in rec.symbols:
        d = sp.diff(rec.cell, u)
        if form is not None:
            k, total, rest = form
            d = sp.powsimp(d.subs(total, sp.exp((V - rest) / k)), combine="exp")
            d = d.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.exp(sp.expand(e.args[0])))
        out[u] = tidy(d)
    return out


def cell_log_weights(rec: Recurrence) -> dict[sp.Symbol, sp.Expr] | None:
    """log(∂V/∂u) + V - u for every predecessor u: what a cell multiplies a predecessor's
    probability by, in log space, where the cell is a log-sum-exp (e^V = Σ_u e^{u + w_u}).
    A backward sweep in log space, log B(u) = lse over the successors of log B + w, then
    keeps the digits of probabilities near 1 (log B near 0) that a linear one rounds away.
    None where the cell is not a plain log-sum-exp (k = 1 in k·log Σ e^{a} + rest)."""
    form = logsumexp_form(rec.cell)
    if form is None or form[0] != 1:
        return None
    out = {}
    for u, d in rec.partials().items():
        if u in rec.predecessors:
            w = sp.expand(sp.expand_log(sp.log(d), force=True) + V - u)
            if w.has(V) or w.has(*rec.predecessors):
                raise ValueError(f"the weight of {u} in {rec.name!r} depends on the cells")
            out[u] = tidy(w)
    return out
