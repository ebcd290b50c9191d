"""The nodes the printers know: functions and booleans the passes build, each computed in a
form of its own (its ``_numbacode``) and opaque to SymPy, which would otherwise decide them
from assumptions, simplify them or share their parts through the CSE.

`exact_numerator`, the double-double atom, is in `symloss.lowering.double_double`; the scaled
forms of the Lorentz functions, which are rewritten before printing, in
`symloss.lowering.scaled`.
"""

from __future__ import annotations

import sympy as sp
from sympy.logic.boolalg import BooleanFunction
from sympy.printing.precedence import PRECEDENCE, precedence

from ..definition.primitives import _as_written, wide
from .double_double import dd_code


class nan_in(BooleanFunction):
    """True when any argument is NaN (printed as math.isnan checks)."""

    @classmethod
    def eval(cls, *args):
        if args and all(a.is_number and a.is_finite for a in args):
            return sp.false
        return None

    def _mpmathcode(self, printer):
        # For lambdify(..., modules=[{"nan_in": ...}, "mpmath"]) in the verification.
        return "nan_in(%s)" % ", ".join(printer._print(a) for a in self.args)


class _float_test(BooleanFunction):
    """A test on a computed float that SymPy must not decide from assumptions (a real symbol
    is finite to SymPy, and e^u positive, but in floating point they overflow and underflow)."""

    template = ""

    @classmethod
    def eval(cls, *args):
        return None

    def _numbacode(self, printer):
        return "(" + " & ".join(self.template.format(printer._print(a)) for a in self.args) + ")"


class is_finite(_float_test):
    """True when every argument is finite (neither ±inf nor NaN)."""

    template = "math.isfinite({})"


class is_positive(_float_test):
    """True when every argument is > 0 (False for one that underflowed to 0)."""

    template = "({} > 0)"


class is_minus_inf(_float_test):
    """True when every argument is -inf."""

    template = "({} == -math.inf)"


class magnitude(sp.Function):
    """|x| as a kernel computes it, opaque to SymPy (whose Abs of a product recurses under
    distribute(False)); for comparisons between forms, never differentiated."""

    nargs = 1

    def _numbacode(self, printer):
        return f"abs({printer._print(self.args[0])})"


class exp_of_sum(sp.Function):
    """e^(u_1 + … + u_n) for a sum of logs (`logspace_products`): the terms added in
    double-double (`dd_code`) and e^(hi + lo) taken as e^hi·(1 + lo). Rounded to one float,
    the sum would carry ε·|Σ u| into the product as a relative error: 4 ULP at |Σ u| ≈ 10
    (σ(x)·q^(γ-1) at x = -10), which the focal loss's derivatives, sums of such products
    that cancel, multiply. `exponent_terms` makes each term an argument, so that the CSE
    shares the terms but never a partial sum of them."""

    def _eval_is_real(self):
        return all(a.is_real for a in self.args) or None

    def fdiff(self, argindex=1):
        return self

    def _eval_rewrite_as_exp(self, *terms, **kwargs):
        return sp.exp(sp.Add(*terms))

    def _eval_rewrite_as_math(self, *terms, **kwargs):
        return sp.exp(sp.Add(*terms))

    def _numbacode(self, printer):
        return f"vmath.dd_exp({dd_code(sp.Add(*self.args), printer, frozenset())})"

    def _latex(self, printer, exp=None):
        e = sp.exp(sp.Add(*self.args))
        return printer._print(e if exp is None else e**exp)


class exact_sum(_as_written):
    """Its argument, a rational function of the inputs whose terms cancel, evaluated in
    double-double arithmetic (`dd_code`) from the inputs as given and rounded once:
    (1 - y')/2 - w·y'/2 is 0 where (1 + w)·y' = 1, and formed in the kernel's dtype it would
    keep the roundings of y' and of the products, each relative to the terms, not the result.
    Kept out of the CSE by codegen (which would share its parts as plain temporaries)."""

    _latex = wide._latex

    def _numbacode(self, printer):
        return f"vmath.dd_value({dd_code(self.args[0], printer, frozenset())})"


def as_factor(printer, expr: sp.Expr) -> str:
    """expr printed as a factor of a product: bracketed where it binds looser (a sum)."""
    code = printer._print(expr)
    return f"({code})" if precedence(expr) < PRECEDENCE["Mul"] else code


class power_times(sp.Function):
    """q^γ·F for a power of a positive base and a factor F that may be infinite: F where
    q > 0 and F = ±∞ (q^γ > 0, whatever it rounds to, so the product tends to F's infinity),
    q^γ·F elsewhere. Rounded first, q^γ can underflow to 0 and make the product 0·∞ = NaN: the
    focal loss y^γ·CE at a logit of -∞ and a target of 1e-300.

    Built as ``power_times(q, q^γ, F, F)``: with q and F held twice the CSE names them once."""

    nargs = 4

    def _eval_rewrite_as_Mul(self, q, power, f, _, **kwargs):
        return power * f

    def _numbacode(self, printer):
        q, power, f, _ = (printer._print(a) for a in self.args)
        zero = printer.literal(0)
        product = f"{power}*{as_factor(printer, self.args[2])}"
        return f"select(({q} > {zero}) & (abs({f}) == math.inf), {f}, {product})"

    def _latex(self, printer, exp=None):
        return printer._print(self.rewrite(sp.Mul))


class zero_factor_mul(sp.Function):
    """F·k_1·…·k_n, for exact data k_j and F: 0 where a tested factor is 0, also where F = ±∞
    (`data_coefficient_limits`). The factors are tested one by one: their product, 5e-324 ·
    0.25 say, may underflow to 0 where it is not. A NaN F stays NaN.

    Built as ``zero_factor_mul(F, F, (k_1, …, k_n), (tested, …))``: with F held twice the CSE
    names it once."""

    def _numbacode(self, printer):
        f, _, factors, tests = self.args
        zero, f = printer.literal(0), printer._print(f)
        zeros = " | ".join(f"(({printer._print(t)}) == {zero})" for t in tests)
        product = "*".join(
            [as_factor(printer, self.args[0]), *(f"({printer._print(k)})" for k in factors)]
        )
        return f"select(({zeros}) & ({f} == {f}), {zero}, {product})"

    def _eval_rewrite_as_Mul(self, f, _, factors, tests, **kwargs):
        return f * sp.Mul(*factors)

    def _eval_rewrite_as_math(self, f, _, factors, tests, **kwargs):
        return f * sp.Mul(*factors)


class quotient(sp.Function):
    """a/b, printed as one division (CSE would otherwise share 1/b and multiply by it)."""

    nargs = 2

    def _numbacode(self, printer):
        a, b = self.args
        return f"({printer._print(a)}/{printer._print(b)})"

    def _eval_is_real(self):
        return self.args[0].is_real and self.args[1].is_real

    def _eval_rewrite_as_math(self, a, b, **kwargs):
        return a / b


class ordered_add(sp.Function):
    """a + b, computed as written: a first. Keeps m - z of a max shift exact before the small
    log1p term of a log-sum-exp is added (m + log1p(s) - z would round the large sum first)."""

    nargs = 2

    def _numbacode(self, printer):
        a, b = self.args
        return f"({printer._print(a)} + {printer._print(b)})"

    def _eval_rewrite_as_Add(self, a, b, **kwargs):
        return a + b


class limit_mul(sp.Function):
    """k·F for a coefficient k that is exact data (a weight, a target, ε, γ): 0 where k = 0,
    also where F = ±∞. The product is 0 for every finite F, so 0 is its limit as the logits
    tend to ±∞; 0·∞ = NaN would instead make a class of logit -∞ (p = 0, -log p = ∞) spoil a
    term that does not depend on it. A NaN F stays NaN (NaN in, NaN out).

    Built as ``limit_mul(k, F, F)``: the kernel tests F (F == F) and multiplies by it, and with
    F held twice the CSE names it once."""

    nargs = 3

    def _numbacode(self, printer):
        k, f, _ = (printer._print(a) for a in self.args)
        zero = printer.literal(0)
        product = f"({k})*{as_factor(printer, self.args[1])}"
        return f"select((({k}) == {zero}) & ({f} == {f}), {zero}, {product})"

    def _eval_rewrite_as_Mul(self, k, f, _, **kwargs):
        return k * f

    def _eval_rewrite_as_math(self, k, f, _, **kwargs):
        return k * f


class minus_infinity(BooleanFunction):
    """True where the argument is -∞ (SymPy would decide Eq(x, -oo) False for a real x)."""

    nargs = 1

    def _numbacode(self, printer):
        return f"({printer._print(self.args[0])} == -math.inf)"
