"""The Numba backend's printer: lowered expressions as Numba-compilable Python in float32 or
float64.

It subclasses SymPy's PythonCodePrinter (whose output Numba compiles), prints every numeric
literal in the kernel's dtype (a bare Python literal would promote float32 arithmetic to
float64), prints Piecewise branch-free through ``select``, which compiles to LLVM ``select``,
and exp/expm1/log/log1p/tanh/sech as symloss.vmath's straight-line versions, so that loops of
them vectorize.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

__all__ = ["NumbaPrinter"]

MAX_EXPANDED_POWER = 8  # x^k for |k| ≤ this is printed as a product


class NumbaPrinter(PythonCodePrinter):
    """Print lowered expressions as Numba-compilable Python in float32 or float64."""

    printmethod = "_numbacode"
    library = "vmath"  # the module of the double-double functions the code calls

    def __init__(
        self,
        dtype: str,
        names: Mapping[sp.Symbol, str] | None = None,
        data: frozenset = frozenset(),
        transcendental: frozenset = frozenset(),
        vector_math: bool = True,
    ):
        super().__init__({"fully_qualified_modules": True, "strict": True, "order": "none"})
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.dtype = dtype
        self.names = dict(names or {})
        self.data = data
        self.transcendental = transcendental
        self.vector_math = vector_math  # False: libm's, for loops that cannot vectorize
        self.typed = False  # float64 literals as numba.float64(…) (inside a float32 kernel)

    # -- a float32 kernel's statements computed in float64 ----------------------------------
    @staticmethod
    def widened(code: str) -> str:
        """The value of ``code`` as a float64 (for statements a float32 kernel widens)."""
        return f"numba.float64({code})"

    @staticmethod
    def rounded(code: str, dtype: str) -> str:
        """The value of ``code`` rounded once to the kernel's ``dtype``."""
        return f"{dtype}({code})"

    # -- literals in the kernel's dtype ----------------------------------------------------
    def literal(self, value) -> str:
        v = float(value)
        if np.isnan(v):
            text = "math.nan"
        elif np.isinf(v):
            text = "math.inf" if v > 0 else "-math.inf"
        elif self.dtype == "float32":
            text = str(np.float32(v))
        else:
            text = repr(v)
        if self.dtype == "float32":
            return f"float32({text})"
        return f"numba.float64({text})" if self.typed else text

    def _print(self, expr, **kwargs):
        if isinstance(expr, sp.Expr) and expr.is_number and not isinstance(expr, sp.Piecewise):
            value = sp.N(expr, 30)
            if not (value.is_extended_real or value is sp.nan):
                raise ValueError(f"non-real constant {expr} cannot be printed")
            return self.literal(value)
        return super()._print(expr, **kwargs)

    def _print_Symbol(self, expr):
        return self.names.get(expr, super()._print_Symbol(expr))

    # -- exp, expm1, log, log1p, tanh, sech: symloss.vmath's, which LLVM can vectorize -----
    def _vmath(self, name: str, arg) -> str:
        if self.vector_math:
            return f"vmath.{name}({self._print(arg)})"
        if name == "sech":
            return f"({self.literal(1)}/math.cosh({self._print(arg)}))"
        return f"math.{name}({self._print(arg)})"

    def _print_exp(self, expr):
        return self._vmath("exp", expr.args[0])

    def _print_expm1(self, expr):
        return self._vmath("expm1", expr.args[0])

    def _print_log(self, expr):
        return self._vmath("log", expr.args[0])

    def _print_log1p(self, expr):
        return self._vmath("log1p", expr.args[0])

    # -- operators -------------------------------------------------------------------------
    def _print_Pow(self, expr, rational=False):
        base, e = expr.base, expr.exp
        if base is sp.E:
            return self._vmath("exp", e)
        if e.is_Integer and 0 < abs(int(e)) <= MAX_EXPANDED_POWER:
            b = self.parenthesize(base, PRECEDENCE["Mul"])
            # parenthesised: the product may stand in a denominator, a/(x*x), not a/x*x
            product = "(" + "*".join([b] * abs(int(e))) + ")" if abs(int(e)) > 1 else b
            return product if e > 0 else f"{self.literal(1)}/{product}"
        if e == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        if e == -sp.S.Half:
            return f"{self.literal(1)}/math.sqrt({self._print(base)})"
        b = self.parenthesize(base, PRECEDENCE["Pow"])
        if self.dtype == "float32":
            # in float64, and left there: q^γ of a float32 q < 1 underflows to a subnormal
            # (q = 1e-8, γ = 5) where q^γ·F is a normal number, and the product would keep
            # the subnormal's few digits; the expression rounds to float32 where it is stored
            return f"vmath.wide({self._print(base)})**{self.parenthesize(e, PRECEDENCE['Pow'])}"
        return f"{b}**{self.parenthesize(e, PRECEDENCE['Pow'])}"

    @staticmethod
    def is_transcendental(expr: sp.Expr) -> bool:
        return expr.has(sp.Function, sp.Piecewise) or any(
            not p.exp.is_Integer for p in expr.atoms(sp.Pow)
        )

    def _factor_rank(self, factor: sp.Expr) -> int:
        """Transcendental factors first, then data, then parameters: y·softplus(-x) is formed
        before w·y can underflow to 0 (and 0·inf become NaN) for a subnormal y."""
        if self.is_transcendental(factor) or factor.free_symbols & self.transcendental:
            return 0
        return 1 if factor.free_symbols & self.data else 2

    def _print_Mul(self, expr):
        coeff, rest = expr.as_coeff_Mul()
        factors = sorted(sp.Mul.make_args(rest), key=self._factor_rank)  # stable: keeps ties
        if coeff != 1:
            factors.insert(0, coeff)
        return super()._print_Mul(sp.Mul(*factors, evaluate=False))

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_wide(self, expr):
        (arg,) = expr.args
        if self.dtype == "float64":
            return f"({self._print(arg)})"
        names = {s: f"numba.float64({self._print(s)})" for s in arg.free_symbols}
        inner = NumbaPrinter("float64", names, self.data, self.transcendental, self.vector_math)
        inner.typed = True  # literals as numba.float64(…): deliberate, not a float32 slip
        return f"float32({inner.doprint(arg)})"

    def _print_tanh(self, expr):
        return self._vmath("tanh", expr.args[0])

    def _print_sech(self, expr):
        return self._vmath("sech", expr.args[0])

    def _print_Piecewise(self, expr):
        *branches, (last, cond) = expr.args
        if cond is not sp.true:
            raise ValueError(f"Piecewise without a final True branch cannot be printed: {expr}")
        text = self._print(last)
        for value, c in reversed(branches):
            text = f"select({self._print(c)}, {self._print(value)}, {text})"
        return text

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " & ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " | ".join(self._print(a) for a in expr.args) + ")"

    def _print_nan_in(self, expr):
        return "(" + " | ".join(f"math.isnan({self._print(a)})" for a in expr.args) + ")"

    # -- the class axis: logits[i, c], weight[c], δ_{j,y} ----------------------------------
    def _print_Indexed(self, expr):
        (index,) = expr.indices
        layout = self.names.get(expr.base, None)
        if layout is None:
            raise ValueError(f"no array layout given for {expr.base}")
        return layout.format(self._print(index))

    def _print_KroneckerDelta(self, expr):
        a, b = (self._print(x) for x in expr.args)
        return f"select(({a} == {b}), {self.literal(1)}, {self.literal(0)})"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"
