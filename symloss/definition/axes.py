"""The class axis of a class-axis loss: the index c over C classes, and the sums and maxima over it.

Also S, the placeholder of a norm's inner sum Σ_i ℓ_i in g(S).
"""

from __future__ import annotations

import sympy as sp

__all__ = ["c", "C", "j", "S", "class_sum", "class_max", "class_argmax", "class_maximum"]

# A norm g(Σ_i ℓ_i) is written as g(S).
S = sp.Symbol("S", nonnegative=True)

# The class axis: losses over a vector of C scores per sample sum over the class index c.
c = sp.Symbol("c", integer=True, nonnegative=True)
C = sp.Symbol("C", integer=True, positive=True)
# The component of a class-axis gradient: ∂ℓ/∂z_j for j in [0, C).
j = sp.Symbol("j", integer=True, nonnegative=True)


def class_sum(body: sp.Expr) -> sp.Expr:
    """Σ_{c=0}^{C-1} body: a sum over the class axis (``body`` indexes vectors with ``c``)."""
    return sp.Sum(body, (c, 0, C - 1))


def _first_maxima(body: sp.Expr, n: int) -> list[tuple[int, sp.Expr, sp.Basic]]:
    """(k, body_k, condition) for k in [0, n): body_k is the largest term and no earlier term
    is as large (the first index wins ties); terms of -∞ (classes left out) are dropped."""
    terms = [(k, body.subs(c, k)) for k in range(n)]
    terms = [(k, b) for k, b in terms if b is not sp.S.NegativeInfinity]
    out = []
    for i, (k, b) in enumerate(terms):
        cond = sp.And(*(b > a for _, a in terms[:i]), *(b >= a for _, a in terms[i + 1 :]))
        out.append((k, b, sp.true if i == len(terms) - 1 else cond))
    return out


class class_max(sp.Function):
    """max_c body over the class axis, c = 0 … C-1 (arguments: body, C); a body of -∞ leaves a
    class out, as ``Piecewise((-oo, Eq(c, target)), (s[c], True))`` for max_{c≠y} s_c. It is
    differentiated through the first class attaining it, `class_argmax` (ties: first index)."""

    nargs = 2

    def _eval_derivative(self, s):
        body, n = self.args
        # at the maximiser the body is finite: its -∞ branches (classes left out) drop out
        return _finite_part(body).diff(s).xreplace({c: class_argmax(body, n)})

    def doit(self, **hints):
        body, n = self.args
        if not n.is_Integer:
            return self
        pieces = _first_maxima(body.doit(**hints), int(n))
        return sp.Piecewise(*((b, cond) for _, b, cond in pieces)) if pieces else -sp.oo

    def _eval_is_real(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        below, body = _kept(self.args[0], printer)
        body = printer._print(body)
        out = r"\max_{%s} %s" % (below, body)
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)


class class_argmax(sp.Function):
    """The first class c attaining `class_max` (body, C); -1 when every class is left out."""

    nargs = 2
    is_integer = True

    def doit(self, **hints):
        body, n = self.args
        if not n.is_Integer:
            return self
        pieces = _first_maxima(body.doit(**hints), int(n))
        return sp.Piecewise(*((k, cond) for k, _, cond in pieces)) if pieces else sp.S.NegativeOne

    def _latex(self, printer, exp=None):
        below, body = _kept(self.args[0], printer)
        return r"\operatorname{argmax}_{%s} %s" % (below, printer._print(body))


def _kept(body: sp.Expr, printer) -> tuple[str, sp.Expr]:
    """(subscript, term) of a maximum: "c \\ne y" and s_c for a body that leaves y out."""
    if isinstance(body, sp.Piecewise) and len(body.args) == 2:
        (first, cond), (rest, _) = body.args
        if first is sp.S.NegativeInfinity and isinstance(cond, sp.Eq) and c in cond.args:
            (label,) = [a for a in cond.args if a != c]
            return rf"c \ne {printer._print(label)}", rest
    return "c", body


def _finite_part(body: sp.Expr) -> sp.Expr:
    """A body without its -∞ branches (the value wherever it can be the maximum)."""
    if not isinstance(body, sp.Piecewise):
        return body
    kept = [(e, cond) for e, cond in body.args if e is not sp.S.NegativeInfinity]
    if len(kept) == 1:
        return kept[0][0]
    return sp.Piecewise(*kept[:-1], (kept[-1][0], True))


def class_maximum(body: sp.Expr) -> sp.Expr:
    """max_{c} body over the class axis (a body of -∞ leaves a class out)."""
    return class_max(body, C)
