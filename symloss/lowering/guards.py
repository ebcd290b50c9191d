"""NaN in, NaN out: through every branch of a Piecewise, and through outputs that do not
depend on some of the data."""

from __future__ import annotations

import sympy as sp

from ..definition.primitives import held
from .nodes import nan_in


def nan_guards(expr: sp.Expr, data: frozenset) -> sp.Expr:
    """Piecewise((a, c), …) → Piecewise((nan, nan_in(operands of c)), (a, c), …).

    A comparison with NaN is False, so without the guard a NaN input would select a branch and
    could return a finite number (a Hessian of 0, say). ``data``: the per-element symbols. A
    `held` quantity (cos θ = f/(‖x‖‖W‖)) is guarded by the data it is computed from: it may be
    0/0 where an enclosing branch does not use it, and NaN only in the data counts.
    """

    def data_of(operand: sp.Expr) -> list:
        if isinstance(operand, held):
            vectors = [a for a in operand.atoms(sp.Indexed) if a.base.label in data]
            labels = {a.base.label for a in vectors}
            return vectors + [a for a in operand.free_symbols & data if a not in labels]
        return [operand]

    def guard(pw: sp.Piecewise) -> sp.Expr:
        operands = []
        for _, cond in pw.args:
            for rel in cond.atoms(sp.core.relational.Relational):
                for s in (rel.lhs, rel.rhs):
                    operands += [a for a in data_of(s) if a.free_symbols & data]
        if not operands:
            return pw
        unique = sorted(set(operands), key=sp.default_sort_key)
        return sp.Piecewise((sp.nan, nan_in(*unique)), *pw.args)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), guard)


def nan_constants(expr: sp.Expr, data: frozenset, covered: frozenset = frozenset()) -> sp.Expr:
    """An output that does not depend on some of the data (the Hessian 2 of MSE, e^x of the
    Poisson loss, which has no target) is still NaN for NaN in those inputs, like every other
    output."""
    if isinstance(expr, sp.Piecewise):  # each branch on its own: the one selected counts
        (first, cond), *_ = expr.args
        if first is sp.nan and isinstance(cond, nan_in):  # a guard (nan_guards) covers these
            covered = covered | (cond.free_symbols & data)
        return sp.Piecewise(*((nan_constants(e, data, covered), c) for e, c in expr.args))
    missing = data - expr.free_symbols - covered
    if not missing or expr is sp.nan:
        return expr
    return sp.Piecewise((sp.nan, nan_in(*sorted(missing, key=sp.default_sort_key))), (expr, True))
