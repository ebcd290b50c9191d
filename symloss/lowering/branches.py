"""Branches: Max, Min, Heaviside and sign as Piecewise (which the printer emits branch-free),
and products with a Piecewise taken into its branches."""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .nodes import quotient


def _select(*pairs) -> sp.Piecewise:
    return sp.Piecewise(*pairs, evaluate=False)


def _max(*args) -> sp.Expr:
    out = args[0]
    for b in args[1:]:
        out = _select((out, sp.GreaterThan(out, b, evaluate=False)), (b, True))
    return out


def _min(*args) -> sp.Expr:
    out = args[0]
    for b in args[1:]:
        out = _select((out, sp.LessThan(out, b, evaluate=False)), (b, True))
    return out


def _heaviside(x, h0=sp.S.Zero) -> sp.Expr:
    if h0 == 0:
        return _select((sp.S.One, sp.StrictGreaterThan(x, 0)), (sp.S.Zero, True))
    return _select((sp.S.One, sp.StrictGreaterThan(x, 0)), (h0, sp.Eq(x, 0)), (sp.S.Zero, True))


def _sign(x) -> sp.Expr:
    return _select(
        (sp.S.One, sp.StrictGreaterThan(x, 0)),
        (sp.S.NegativeOne, sp.StrictLessThan(x, 0)),
        (sp.S.Zero, True),
    )


def piecewise_forms(expr: sp.Expr) -> sp.Expr:
    """Max, Min, Heaviside and sign as Piecewise, which the printer emits branch-free.

    Node by node, leaving the arguments alone: SymPy's own rewrite(Piecewise) splits cases
    through the arguments (|x| → x under x ≥ 0) and so produces exp(x) where exp(-|x|) stood.
    """
    return expr.replace(  # bottom-up: arguments are converted before the node that holds them
        lambda e: type(e) in _FORMS, _piecewise_form
    )


_FORMS = {sp.Max: _max, sp.Min: _min, sp.Heaviside: _heaviside, sp.sign: _sign}


@lru_cache(maxsize=4096)
def _piecewise_form(e: sp.Expr) -> sp.Expr:
    """One node as Piecewise, remembered: the same Max(0, x) recurs across the value and its
    derivatives, and building a Piecewise is SymPy's slowest step here."""
    return _FORMS[type(e)](*e.args)


def branch_quotients(expr: sp.Expr) -> sp.Expr:
    """u·Piecewise((1/a, c), (1/b, True)) → Piecewise((u/a, c), (u/b, True)) for a component or
    symbol u: one rounding, not two (u·fl(1/a) is not 1 at u = a, so cosine_distance's
    ½Σ(x/‖x‖ - y/‖y‖)² was 6e-33, not 0, at x = (1.8e307, 0, …), y = (1, 0, …))."""

    def reciprocal(v: sp.Expr) -> bool:
        return v is sp.nan or (v.is_Pow and v.exp == -1)

    def rewrite(mul: sp.Mul) -> sp.Expr:
        pws = [f for f in mul.args if isinstance(f, sp.Piecewise)]
        atoms = [f for f in mul.args if isinstance(f, (sp.Indexed, sp.Symbol))]
        if len(pws) != 1 or len(atoms) != 1 or not all(reciprocal(v) for v, _ in pws[0].args):
            return mul
        (pw,), (u,) = pws, atoms
        rest = [f for f in mul.args if f is not pw and f is not u]
        branches = [(v if v is sp.nan else quotient(u, v.base), cond) for v, cond in pw.args]
        return sp.Mul(_select(*branches), *rest)

    return expr.replace(lambda e: e.is_Mul, rewrite)


def indicator_products(expr: sp.Expr) -> sp.Expr:
    """[c]·B → Piecewise((B, c), (0, True)) for a Piecewise whose values are 0 and 1: B is not
    evaluated where c fails, so a B that is infinite there (1/‖x‖ at x = 0, behind [‖x‖ > ε])
    gives 0, not 0·∞ = NaN."""

    def is_indicator(e: sp.Expr) -> bool:
        return isinstance(e, sp.Piecewise) and all(v in (0, 1) for v, _ in e.args)

    def fold(mul: sp.Mul) -> sp.Expr:
        (indicator, *_) = [f for f in mul.args if is_indicator(f)]
        rest = mul.func(*(f for f in mul.args if f is not indicator))
        return sp.Piecewise(*((rest if v == 1 else sp.S.Zero, c) for v, c in indicator.args))

    for _ in range(8):  # a branch may hold another indicator product
        folded = expr.replace(lambda e: e.is_Mul and any(map(is_indicator, e.args)), fold)
        if folded == expr:
            break
        expr = folded
    return expr
