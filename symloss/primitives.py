"""Numerically stable primitives as SymPy functions.

Each primitive carries four views of one function:

* ``fdiff``: its derivative, written again in primitives so that derivatives stay stable;
* ``_latex``: its conventional notation;
* ``rewrite("math")``: the plain mathematical definition, used by the mpmath reference;
* ``rewrite("stable")``: the overflow- and cancellation-free form that kernels compute.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import log1p

__all__ = ["sigmoid", "softplus", "log_sigmoid", "log_cosh", "logaddexp", "PRIMITIVES"]


class _Primitive(sp.Function):
    """A real function of one real argument, opaque to differentiation, simplification and CSE."""

    nargs = 1
    latex_name: str = ""

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_finite(self):
        return self.args[0].is_finite

    def _latex(self, printer, exp=None):
        body = r"%s\left(%s\right)" % (self.latex_name, printer._print(self.args[0]))
        return body if exp is None else r"%s^{%s}" % (body, exp)

    def _eval_evalf(self, prec):
        return self.rewrite("math")._eval_evalf(prec)


class sigmoid(_Primitive):
    """σ(x) = 1 / (1 + e^{-x})."""

    latex_name = r"\sigma"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Half
        if x is sp.oo:
            return sp.S.One
        if x is sp.S.NegativeInfinity:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sigmoid(x) * sigmoid(-x)

    def _eval_is_positive(self):
        return self.args[0].is_finite

    def _eval_rewrite_as_math(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_rewrite_as_stable(self, x, **kwargs):
        # e = exp(-|x|) never overflows; choose the branch whose denominator is in [1, 2].
        e = sp.exp(-sp.Abs(x))
        return sp.Piecewise((1 / (1 + e), x >= 0), (e / (1 + e), True))


class softplus(_Primitive):
    """softplus(x) = log(1 + e^x)."""

    latex_name = r"\operatorname{softplus}"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.log(2)
        if x is sp.oo:
            return sp.oo
        if x is sp.S.NegativeInfinity:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_is_positive(self):
        return self.args[0].is_finite

    def _eval_rewrite_as_math(self, x, **kwargs):
        return log1p(sp.exp(x))

    def _eval_rewrite_as_stable(self, x, **kwargs):
        return sp.Max(x, 0) + log1p(sp.exp(-sp.Abs(x)))


class log_sigmoid(_Primitive):
    """log σ(x) = -softplus(-x)."""

    latex_name = r"\log\sigma"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return -sp.log(2)

    def fdiff(self, argindex=1):
        return sigmoid(-self.args[0])

    def _eval_is_negative(self):
        return self.args[0].is_finite

    def _eval_rewrite_as_math(self, x, **kwargs):
        return -log1p(sp.exp(-x))

    def _eval_rewrite_as_stable(self, x, **kwargs):
        return sp.Min(x, 0) - log1p(sp.exp(-sp.Abs(x)))


class log_cosh(_Primitive):
    """log cosh(x)."""

    latex_name = r"\log\cosh"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return sp.tanh(self.args[0])

    def _eval_is_nonnegative(self):
        return self.args[0].is_real

    def _eval_rewrite_as_math(self, x, **kwargs):
        return log1p(2 * sp.sinh(x / 2) ** 2)  # log cosh x, with cosh x - 1 = 2 sinh²(x/2)

    def _eval_rewrite_as_stable(self, x, **kwargs):
        # Near 0, log1p(cosh x - 1) with cosh x - 1 = 2 sinh²(x/2) keeps the x²/2 digits;
        # away from 0, |x| + log1p(e^{-2|x|}) - log 2 cannot overflow.
        a = sp.Abs(x)
        near = log1p(2 * sp.sinh(x / 2) ** 2)
        far = a + log1p(sp.exp(-2 * a)) - sp.log(2)
        return sp.Piecewise((near, a < 2), (far, True))


class logaddexp(sp.Function):
    """logaddexp(a, b) = log(e^a + e^b)."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args
        return sigmoid(a - b) if argindex == 1 else sigmoid(b - a)

    def _eval_is_real(self):
        return all(a.is_real for a in self.args) or None

    def _latex(self, printer, exp=None):
        a, b = (printer._print(x) for x in self.args)
        body = r"\log\left(e^{%s} + e^{%s}\right)" % (a, b)
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)

    def _eval_evalf(self, prec):
        return self.rewrite("math")._eval_evalf(prec)

    def _eval_rewrite_as_math(self, a, b, **kwargs):
        return sp.log(sp.exp(a) + sp.exp(b))

    def _eval_rewrite_as_stable(self, a, b, **kwargs):
        # Also right when one argument is -inf (a zero term in log space).
        return sp.Max(a, b) + log1p(sp.exp(-sp.Abs(a - b)))


PRIMITIVES = (sigmoid, softplus, log_sigmoid, log_cosh, logaddexp)
