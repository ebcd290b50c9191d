"""Numerically stable primitives as SymPy functions.

Each primitive carries four views of one function:

* ``fdiff``: its derivative, written again in primitives so that derivatives stay stable;
* ``_latex``: its conventional notation;
* ``rewrite("math")``: the plain mathematical definition, used by the mpmath reference;
* ``rewrite("stable")``: the overflow- and cancellation-free form that kernels compute.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

__all__ = [
    "sigmoid",
    "softplus",
    "log_sigmoid",
    "log_cosh",
    "logaddexp",
    "log1p_square",
    "lorentz_ratio",
    "lorentz_slope",
    "adopt_primitives",
    "margin_psi",
    "margin_intercept",
    "margin_term",
    "held",
    "wide",
    "PRIMITIVES",
]


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
        # One m = e^{-|x|} - 1 serves both sides. Near 0, log1p(cosh x - 1) with
        # cosh x - 1 = m²/(2(1 + m)) keeps the x²/2 digits; away from 0,
        # log cosh x = |x| + log1p((e^{-2|x|} - 1)/2) with e^{-2|x|} - 1 = m(2 + m) cannot
        # overflow.
        a = sp.Abs(x)
        m = expm1(-a)
        near = log1p(m**2 / (2 * (1 + m)))
        far = a + log1p(m * (2 + m) / 2)
        return sp.Piecewise((near, a < 1), (far, True))


def _quotient(x: sp.Expr) -> sp.Expr:
    """x computed once, as written: SymPy would distribute a power of r/c into r²/c², which
    over- or underflows (∞/∞, 0/0) where (r/c)² does not."""
    return x if x.is_Atom else held(x)


class log1p_square(_Primitive):
    """log(1 + x²), the Cauchy (Lorentzian) shape; `adopt_primitives` finds it in formulas."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return 2 * lorentz_ratio(self.args[0])

    def _eval_is_nonnegative(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        body = r"\log\left(1 + %s\right)" % printer._print(self.args[0] ** 2)
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)

    def _eval_rewrite_as_math(self, x, **kwargs):
        return log1p(x**2)

    def _eval_rewrite_as_stable(self, x, **kwargs):
        # beyond |x| = 1, 2 log|x| + log1p(1/x²): x² would overflow for |x| > 1.3e154
        x = _quotient(x)
        a = sp.Abs(x)
        return sp.Piecewise((log1p(x**2), a <= 1), (2 * sp.log(a) + log1p(a**-2), True))


class lorentz_ratio(_Primitive):
    """x / (1 + x²), half the derivative of log(1 + x²)."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return lorentz_slope(self.args[0])

    def _latex(self, printer, exp=None):
        x = printer._print(self.args[0])
        body = r"\frac{%s}{1 + %s}" % (x, printer._print(self.args[0] ** 2))
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)

    def _eval_rewrite_as_math(self, x, **kwargs):
        return x / (1 + x**2)

    def _eval_rewrite_as_stable(self, x, **kwargs):
        x = _quotient(x)
        return sp.Piecewise((x / (1 + x**2), sp.Abs(x) <= 1), (1 / (x + 1 / x), True))


class lorentz_slope(_Primitive):
    """(1 - x²) / (1 + x²)², the derivative of x / (1 + x²)."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return 2 * x * (x**2 - 3) / (1 + x**2) ** 3

    def _latex(self, printer, exp=None):
        sq = printer._print(self.args[0] ** 2)
        body = r"\frac{1 - %s}{\left(1 + %s\right)^{2}}" % (sq, sq)
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)

    def _eval_rewrite_as_math(self, x, **kwargs):
        return (1 - x**2) / (1 + x**2) ** 2

    def _eval_rewrite_as_stable(self, x, **kwargs):
        # 1 - x² as (1 - |x|)(1 + |x|), exact where it cancels (Sterbenz: 1 - |x| for |x| in
        # [1/2, 2]; 1 - x² would round x² first); divided through by x⁴ beyond |x| = 2, where
        # x⁻² - 1 cannot cancel and x² could overflow
        x = _quotient(x)
        a = sp.Abs(x)
        return sp.Piecewise(
            ((1 - a) * (1 + a) / (1 + x**2) ** 2, a <= 2),
            ((x**-2 - 1) * x**-2 / (1 + x**-2) ** 2, True),
        )


def adopt_primitives(expr: sp.Expr, nonnegative=lambda e: bool(e.is_nonnegative)) -> sp.Expr:
    """log(1 + A²) → log1p_square(A) where A² is a positive number times powers that are
    even or of bases that ``nonnegative`` accepts: the same function, differentiated and
    computed without overflow."""

    def root(square: sp.Expr):
        coeff, rest = square.as_coeff_Mul()
        if not (coeff.is_Rational and coeff > 0):
            return None
        factors = [f if f.is_Pow else sp.Pow(f, 1, evaluate=False) for f in sp.Mul.make_args(rest)]
        even = [f.exp.is_Integer and f.exp % 2 == 0 for f in factors]
        if not all(e or nonnegative(f.base) for e, f in zip(even, factors)):
            return None
        if not any(even):
            return None
        return sp.sqrt(coeff) * sp.Mul(*(f.base ** (f.exp / 2) for f in factors))

    def match(e) -> bool:
        if not (isinstance(e, sp.log) and e.args[0].is_Add and sp.S.One in e.args[0].args):
            return False
        return root(e.args[0] - 1) is not None

    return expr.replace(match, lambda e: log1p_square(root(e.args[0] - 1)))


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
        return logaddexp_form(a, b, a, b)


class logaddexp_form(sp.Function):
    """How kernels compute logaddexp(a, b): a + log 2 where a = b (also the same infinity, where
    a - b is NaN), else max(a, b) + log1p(e^{-|a - b|}) (right when one is -∞: a zero term in
    log space). Printed whole, from a and b as they are: as a Piecewise, the lowering would
    split its comparisons by the regions a and b are chosen in and guard every one against
    NaN, and a comparison of a region not taken can be ∞ - ∞. A NaN a or b makes
    log1p(e^{-|a - b|}) NaN, so the result is NaN without a guard.

    Built as ``logaddexp_form(a, b, a, b)``: with each held twice the CSE names it once."""

    nargs = 4

    def _eval_rewrite_as_math(self, a, b, *_, **kwargs):
        return sp.log(sp.exp(a) + sp.exp(b))

    def _eval_rewrite_as_Piecewise(self, a, b, *_, **kwargs):
        """The form the kernel computes, as an expression (for checking it in mpmath)."""
        rest = sp.Max(a, b) + log1p(sp.exp(-sp.Abs(a - b)))
        return sp.Piecewise((a + sp.log(2), sp.Eq(a, b)), (rest, True))

    def _numbacode(self, printer):
        a, b, *_ = self.args
        pa, pb = printer._print(a), printer._print(b)
        tail = printer._print(log1p(sp.exp(-sp.Abs(a - b))))
        both = printer._print(a + sp.log(2))
        return f"select(({pa} == {pb}), {both}, select(({pa} >= {pb}), {pa}, {pb}) + {tail})"


class _as_written(sp.Function):
    """A function that is its argument: what it changes is how kernels compute it."""

    nargs = 1

    @classmethod
    def eval(cls, a):
        if a.is_Number:
            return a

    def fdiff(self, argindex=1):
        return sp.S.One

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_rewrite_as_math(self, a, **kwargs):
        return a


class held(_as_written):
    """An argument computed once as written: powers of held(a/b) stay powers of the quotient
    (SymPy would distribute (a/b)² into a²/b², which overflows where a/b does not), and
    held(a - b) + c adds c to the difference (SymPy's flat sum would round c away in a + c - b
    where a ≈ b are large). Its derivative is that of its argument."""

    def _latex(self, printer, exp=None):
        tex = r"\left(%s\right)" % printer._print(self.args[0])
        return tex if exp is None else "%s^{%s}" % (tex, exp)

    def _numbacode(self, printer):
        return f"({printer._print(self.args[0])})"


class wide(_as_written):
    """Its argument, computed in float64 by float32 kernels (every input widened, the result
    rounded once): for sums whose terms cancel, ½·log v + ½·r²/v near 0, where rounding each
    term to float32 first would leave the result with the terms' errors. float64 kernels
    compute it as written."""

    def _latex(self, printer, exp=None):
        tex = printer._print(self.args[0])
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)


def _chebyshev_pieces(m: int, t: sp.Expr, form) -> sp.Piecewise:
    """form(ψ_m)(t) as a Piecewise of polynomials in t, one piece per θ ∈ [kπ/m, (k+1)π/m];
    ``form`` maps the polynomial of a piece (in u) to the one wanted (a derivative, …)."""
    u = sp.Dummy("u")
    pieces = []
    for k in range(m):
        body = sp.expand(form((-1) ** k * sp.chebyshevt(m, u) - 2 * k, u))
        # θ ≤ (k+1)π/m ⟺ t ≥ cos((k+1)π/m); the last piece takes the rest, down to t = -1
        bound = t >= sp.cos(sp.pi * (k + 1) / m) if k < m - 1 else True
        pieces.append((sp.horner(body, u).subs(u, t) if body.has(u) else body, bound))
    return sp.Piecewise(*pieces)


class _MarginFunction(sp.Function):
    """A function of (m, t = cos θ) built from ψ_m: opaque through differentiation, written out
    for an integer m by ``rewrite("math")`` and ``rewrite("stable")`` (t computed once)."""

    def _eval_is_real(self):
        return self.args[1].is_real

    def _form(self, poly: sp.Expr, u: sp.Symbol) -> sp.Expr:
        raise NotImplementedError

    def _written_out(self, t):
        m = self.args[0]
        if not (m.is_Integer and m >= 1):
            return None
        return _chebyshev_pieces(int(m), t, self._form)

    def _eval_rewrite_as_math(self, *args, **kwargs):
        return self._written_out(args[1])

    def _eval_rewrite_as_stable(self, *args, **kwargs):
        t = args[1]
        return self._written_out(t if t.is_Atom else held(t))

    def _eval_evalf(self, prec):
        out = self.rewrite("math")
        return None if out is self else out._eval_evalf(prec)


class margin_psi(_MarginFunction):
    """ψ_m of L-Softmax (Liu et al., 2016) in t = cos θ, and its derivatives: ψ_m = (-1)^k
    cos(mθ) - 2k for θ ∈ [kπ/m, (k+1)π/m], k = 0 … m-1, with cos(mθ) = T_m(t), the Chebyshev
    polynomial, so no arccos is needed. Arguments (m, t, order)."""

    nargs = 3

    def fdiff(self, argindex=2):
        if argindex != 2:
            raise sp.ArgumentIndexError(self, argindex)
        m, t, order = self.args
        return margin_psi(m, t, order + 1)

    def _form(self, poly, u):
        return sp.diff(poly, u, int(self.args[2]))

    def _latex(self, printer, exp=None):
        m, t, order = self.args
        primes = "" if order == 0 else "'" * int(order) if order <= 2 else f"^{{({order})}}"
        body = r"\psi_{%s}%s\left(%s\right)" % (printer._print(m), primes, printer._print(t))
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)


class margin_intercept(_MarginFunction):
    """ψ_m(t) - t·ψ_m'(t), expanded piece by piece (for m = 1 it is exactly 0): the derivative
    of n·ψ_m(f/n) in n, which written as a difference would cancel. Arguments (m, t)."""

    nargs = 2

    def fdiff(self, argindex=2):
        if argindex != 2:
            raise sp.ArgumentIndexError(self, argindex)
        m, t = self.args
        return -t * margin_psi(m, t, 2)

    def _form(self, poly, u):
        return poly - u * sp.diff(poly, u)

    def _latex(self, printer, exp=None):
        m, t = (printer._print(a) for a in self.args)
        body = r"\left(\psi_{%s} - t\,\psi_{%s}'\right)\left(%s\right)" % (m, m, t)
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)


class margin_term(sp.Function):
    """n·ψ_m(f/n), the L-Softmax target logit ‖W_y‖‖x‖ψ_m(cos θ) in f = W_yᵀx and
    n = ‖W_y‖‖x‖ > 0: homogeneous of degree 1, with ∂/∂f = ψ_m'(t) and ∂/∂n = ψ_m(t) - tψ_m'(t)
    at t = f/n. Arguments (m, f, n)."""

    nargs = 3

    def fdiff(self, argindex=2):
        m, f, n = self.args
        if argindex == 2:
            return margin_psi(m, f / n, 1)
        if argindex == 3:
            return margin_intercept(m, f / n)
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_is_real(self):
        return self.args[1].is_real and self.args[2].is_real

    def _eval_rewrite_as_math(self, m, f, n, **kwargs):
        return n * margin_psi(m, f / n, 0).rewrite("math")

    def _eval_rewrite_as_stable(self, m, f, n, **kwargs):
        return n * margin_psi(m, f / n, 0).rewrite("stable")

    def _eval_evalf(self, prec):
        out = self.rewrite("math")
        return None if out.has(margin_psi) else out._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        m, f, n = (printer._print(a) for a in self.args)
        body = r"%s\,\psi_{%s}\left(\frac{%s}{%s}\right)" % (n, m, f, n)
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)


PRIMITIVES = (
    sigmoid,
    softplus,
    log_sigmoid,
    log_cosh,
    logaddexp,
    log1p_square,
    lorentz_ratio,
    lorentz_slope,
)
