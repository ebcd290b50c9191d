"""How functions are computed: each primitive by its stable form, and log and exp by the C99
log1p and expm1 where they would lose digits."""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from .classes import exp_square_differences


def stable_primitives(expr: sp.Expr) -> sp.Expr:
    """Replace each primitive by its stable computational form (inner ones first)."""
    return expr.rewrite("stable")


def c99_functions(expr: sp.Expr) -> sp.Expr:
    """log(1 + u) → log1p(u), k·e^u - k → k·expm1(u) (1 - e^u → -expm1(u) too) and
    k·e^u - k·e^{2u} → -k·e^u·expm1(u) (`exp_square_differences`), by exact pattern only.

    (sympy.codegen.rewriting's log1p_opt and expm1_opt factor and expand their input, which
    turns β·y + (1 - β)(1 - y) into 2βy - β - y + 1 and loses every digit when β = 1; and
    expm1_opt does not match 1 - e^u, the form Welsch's loss is written in.)
    """

    def log1p_of(e: sp.log) -> sp.Expr:
        return log1p(e.args[0] - 1)

    def expm1_pair(add: sp.Add):
        """(term k·e^u, term -k) of the sum, the first such pair in a fixed order, or None."""
        terms = sorted(add.args, key=sp.default_sort_key)
        for t in terms:
            k, e = t.as_independent(sp.exp, as_Add=False)
            if isinstance(e, sp.exp) and -k in terms:
                return t, -k
        return None

    def expm1_of(add: sp.Add) -> sp.Expr:
        t, minus_k = expm1_pair(add)
        k, e = t.as_independent(sp.exp, as_Add=False)
        rest = list(add.args)
        rest.remove(t)
        rest.remove(minus_k)
        return sp.Add(k * expm1(e.args[0]), *rest)

    expr = expr.replace(
        lambda e: isinstance(e, sp.log) and e.args[0].is_Add and sp.S.One in e.args[0].args,
        log1p_of,
    )
    expr = expr.replace(lambda e: e.is_Add and expm1_pair(e) is not None, expm1_of)
    return exp_square_differences(expr)
