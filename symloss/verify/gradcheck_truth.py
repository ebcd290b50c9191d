"""The truth a candidate gradient is judged against: the definition in plain mathematics
differentiated by SymPy's ``diff`` here (not by the derivation it would be checking).

At a kink the derivative is a convention; the truth takes the one symloss's kernels (and
PyTorch's autograd) document: Heaviside(0) = 0 and sign(0) = 0, so |x| and max(0, x) have
derivative 0 at 0; Dirac deltas (derivatives of jumps) are 0; and where a norm's outer
derivative g'(S) diverges at S = 0 it is 0 there. Per family:

* elementwise:  ∂ℓ/∂x;
* norm g(Σ ℓ):  g'(S)·∂ℓ/∂x, in terms of S;
* class axis:   ∂ℓ/∂v_j, the component j ∈ [0, C) of one sample's gradient, with the sums
                over classes left as sums (the numeric check writes them out for C = 5).
"""

from __future__ import annotations

import sympy as sp

from ..definition.axes import C, S, j
from ..definition.spec import Loss

__all__ = ["j", "truth", "kink_convention"]


# 0 ≤ j ≤ C - 1, in the forms SymPy writes the range of a collapsed Kronecker delta.
_IN_RANGE = {sp.Le(j, C - 1): sp.true, sp.Ge(C - 1, j): sp.true, sp.Ge(C - j, 1): sp.true}


def kink_convention(expr: sp.Expr) -> sp.Expr:
    """DiracDelta(…) → 0 and Heaviside(u) → Heaviside(u, 0) (SymPy's default H(0) is 1/2)."""
    expr = expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    return expr.replace(
        lambda e: isinstance(e, sp.Heaviside) and (len(e.args) == 1 or e.args[1] != 0),
        lambda e: sp.Heaviside(e.args[0], 0),
    )


def _diff(expr: sp.Expr, var) -> sp.Expr:
    """d expr / d var of the plain formula (|x|, max and min kept: SymPy differentiates them
    into sign and Heaviside, which the convention then fixes at the kink)."""
    d = kink_convention(sp.diff(expr.rewrite("math"), var))
    if d.has(sp.Derivative, sp.Subs):
        raise ValueError(f"SymPy cannot differentiate {expr} in closed form: {d}")
    return d


def _outer(outer: sp.Expr) -> sp.Expr:
    """g'(S), 0 at S = 0 where it diverges there."""
    d = _diff(outer, S)
    if sp.limit(d, S, 0, "+").is_infinite:
        d = sp.Piecewise((0, sp.Eq(S, 0)), (d, True))
    return d


def _delta_sum(s: sp.Sum) -> sp.Expr:
    """Σ_c Piecewise((δ_cj·f(c), a(c)), …, (0, b(c))) = Piecewise((f(j), a(j)), …, (0, b(j))):
    the sum over classes of a Piecewise with δ_cj in each branch that is not 0 (SymPy's
    ``doit`` collapses δ_cj only as a factor of the whole body)."""
    (index, lo, hi), *rest = s.limits
    body = s.function
    if rest or (lo, hi) != (0, C - 1) or not isinstance(body, sp.Piecewise):
        return s
    delta = sp.KroneckerDelta(index, j)
    if not all(v == 0 or delta in sp.Mul.make_args(v) for v, _ in body.args):
        return s
    return sp.Piecewise(*((v / delta, cond) for v, cond in body.args)).subs(index, j)


def _component(expr: sp.Expr, vector) -> sp.Expr:
    """∂ℓ/∂v_j of one sample (∂ℓ/∂v for a per-sample scalar input); the sums' Kronecker
    deltas collapse (by SymPy's ``doit``, or `_delta_sum`), and the range 0 ≤ j < C that
    ``doit`` leaves is known."""
    var = vector[j] if isinstance(vector, sp.IndexedBase) else vector
    d = kink_convention(sp.diff(expr.rewrite("math"), var).doit())
    return d.replace(lambda e: isinstance(e, sp.Sum), _delta_sum).xreplace(_IN_RANGE)


def truth(spec: Loss, wrt: str) -> sp.Expr:
    """∂ℓ/∂wrt of ``spec`` by family (see the module docstring)."""
    var = spec.symbol(wrt)
    if spec.family == "classes":
        return _component(spec.element, var)
    if spec.family == "norm":
        return _outer(spec.outer) * _diff(spec.element, var)
    return _diff(spec.element, var)
