"""The PyTorch backend's printer: lowered expressions as device-agnostic torch operations.

The lowered expressions are the Numba backend's (same passes, same CSE); what changes is how
each operation is spelled. Literals are Python floats (a weak scalar takes the tensor's dtype,
so float32 stays float32), a branch is ``torch.where`` over both sides (as the kernels'
``select``: NaN semantics unchanged), the transcendental functions are torch's, and
double-double arithmetic is `symloss.torchmath`'s. A float32 function computes ``wide(…)``
and the powers q^γ in float64, as the float32 kernels do.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from ...definition.primitives import log1p
from ...lowering.double_double import dd_code
from ...lowering.nodes import as_factor
from ..numba.printer import MAX_EXPANDED_POWER, NumbaPrinter

__all__ = ["TorchPrinter", "LIKE"]

LIKE = "_like"  # a tensor of the function's shape, dtype and device (set by the template)


class TorchPrinter(NumbaPrinter):
    """Print lowered expressions as torch operations on tensors of one dtype.

    It inherits the operator structure of `NumbaPrinter` (products ordered so data cannot
    underflow first, integer powers expanded) and overrides every spelling."""

    printmethod = "_torchcode"
    library = "torchmath"

    @staticmethod
    def widened(code: str) -> str:
        return f"{code}.double()"

    @staticmethod
    def rounded(code: str, dtype: str) -> str:
        return f"({code}).to(torch.{dtype})"

    def literal(self, value) -> str:
        v = float(value)
        if np.isnan(v):
            return "math.nan"
        if np.isinf(v):
            return "math.inf" if v > 0 else "-math.inf"
        return str(np.float32(v)) if self.dtype == "float32" else repr(v)

    def _vmath(self, name: str, arg) -> str:
        if name == "sech":
            return f"torchmath.sech({self._print(arg)})"
        return f"torch.{name}({self._print(arg)})"

    def _print_Pow(self, expr, rational=False):
        base, e = expr.base, expr.exp
        if base is sp.E:
            return self._vmath("exp", e)
        if e.is_Integer and 0 < abs(int(e)) <= MAX_EXPANDED_POWER:
            return super()._print_Pow(expr)
        if e == sp.S.Half:
            return f"torch.sqrt({self._print(base)})"
        if e == -sp.S.Half:
            return f"torch.rsqrt({self._print(base)})"
        b = self.parenthesize(base, PRECEDENCE["Pow"])
        exponent = self.parenthesize(e, PRECEDENCE["Pow"])
        if self.dtype == "float32" and not base.is_number:
            # in float64, as the float32 kernels (see NumbaPrinter._print_Pow)
            return f"({self._print(base)}).double()**{exponent}"
        return f"{b}**{exponent}"

    def _print_Abs(self, expr):
        return f"torch.abs({self._print(expr.args[0])})"

    def _print_wide(self, expr):
        (arg,) = expr.args
        if self.dtype == "float64" or not arg.free_symbols:
            return f"({self._print(arg)})"
        names = {s: f"{self._print(s)}.double()" for s in arg.free_symbols}
        inner = TorchPrinter("float64", names, self.data, self.transcendental)
        return f"({inner.doprint(arg)}).float()"

    def _where(self, cond: str, a: str, b: str, a_expr, b_expr) -> str:
        if a_expr.is_number and b_expr.is_number:  # two constants: typed and shaped as _like
            a = f"torchmath.constant({a}, {LIKE})"
        return f"torch.where({cond}, {a}, {b})"

    def _print_Piecewise(self, expr):
        *branches, (last, cond) = expr.args
        if cond is not sp.true:
            raise ValueError(f"Piecewise without a final True branch cannot be printed: {expr}")
        text, rest = self._print(last), last
        for value, c in reversed(branches):
            text = self._where(self._print(c), self._print(value), text, value, rest)
            rest = sp.Symbol("_branch")  # a tensor from here on
        return text

    def _print_nan_in(self, expr):
        return "(" + " | ".join(f"torch.isnan({self._print(a)})" for a in expr.args) + ")"

    def _print_KroneckerDelta(self, expr):
        a, b = (self._print(x) for x in expr.args)
        return f"({a} == {b}).to({LIKE}.dtype)"

    # -- the nodes of symloss.lowering -------------------------------------------------------
    def _tests(self, expr, template: str) -> str:
        return "(" + " & ".join(template.format(self._print(a)) for a in expr.args) + ")"

    def _print_is_finite(self, expr):
        return self._tests(expr, "torch.isfinite({})")

    def _print_is_positive(self, expr):
        return self._tests(expr, "({} > 0)")

    def _print_is_minus_inf(self, expr):
        return self._tests(expr, "({} == -math.inf)")

    def _print_minus_infinity(self, expr):
        return f"({self._print(expr.args[0])} == -math.inf)"

    def _print_magnitude(self, expr):
        return f"torch.abs({self._print(expr.args[0])})"

    def _print_held(self, expr):
        return f"({self._print(expr.args[0])})"

    def _print_quotient(self, expr):
        a, b = expr.args
        return f"({self._print(a)}/{self._print(b)})"

    def _print_ordered_add(self, expr):
        a, b = expr.args
        return f"({self._print(a)} + {self._print(b)})"

    def _print_exp_of_sum(self, expr):
        return f"torchmath.dd_exp({dd_code(sp.Add(*expr.args), self, frozenset())})"

    def _print_exact_sum(self, expr):
        return f"torchmath.dd_value({dd_code(expr.args[0], self, frozenset())})"

    def _print_exact_numerator(self, expr):
        return f"torchmath.dd_value({dd_code(expr.numerator, self, expr.sums)})"

    def _print_power_times(self, expr):
        q, power, f, _ = (self._print(a) for a in expr.args)
        product = f"{power}*{as_factor(self, expr.args[2])}"
        return f"torch.where(({q} > 0) & (torch.abs({f}) == math.inf), {f}, {product})"

    def _print_zero_factor_mul(self, expr):
        f_expr, _, factors, tests = expr.args
        f = self._print(f_expr)
        zeros = " | ".join(f"(({self._print(t)}) == 0)" for t in tests)
        product = "*".join([as_factor(self, f_expr), *(f"({self._print(k)})" for k in factors)])
        return f"torch.where(({zeros}) & ({f} == {f}), 0.0, {product})"

    def _print_limit_mul(self, expr):
        k, f, _ = (self._print(a) for a in expr.args)
        product = f"({k})*{as_factor(self, expr.args[1])}"
        return f"torch.where((({k}) == 0) & ({f} == {f}), 0.0, {product})"

    def _print_logaddexp_form(self, expr):
        a, b, *_ = expr.args
        pa, pb = self._print(a), self._print(b)
        tail = self._print(log1p(sp.exp(-sp.Abs(a - b))))
        both = self._print(a + sp.log(2))
        return f"torch.where(({pa} == {pb}), {both}, torch.maximum({pa}, {pb}) + {tail})"
