"""Double-double arithmetic: sums whose terms cancel, formed to 106 bits and rounded once.

`exact_quotients` (the numerators of quotients over row sums) and `dd_differences` (the
exponents over the cells of a recurrence) wrap such sums in `exact_numerator`, an atom to the
CSE; `dd_code` prints an expression as vmath.dd_* calls, for it and for the nodes that
`symloss.lowering.nodes` evaluates the same way (`exact_sum`, `exp_of_sum`).
"""

from __future__ import annotations

import sympy as sp

from ..definition.primitives import held


class exact_numerator(sp.Symbol):
    """The numerator of a quotient over row sums, evaluated in double-double arithmetic
    (symloss.vmath.dd_*) from double-double sums: an atom to common-subexpression
    elimination, which must not pull its terms out into plain float temporaries."""

    _registry: dict[str, tuple[sp.Expr, frozenset]] = {}

    def __new__(cls, expr: sp.Expr, sums: frozenset):
        import hashlib

        name = "_num" + hashlib.sha1(sp.srepr(expr).encode()).hexdigest()[:12]
        cls._registry[name] = (expr, frozenset(sums))
        return super().__new__(cls, name, real=True)

    @property
    def numerator(self) -> sp.Expr:
        return self._registry[self.name][0]

    @property
    def sums(self) -> frozenset:
        """The row sums the numerator reads (which the kernel then keeps in double-double)."""
        return self._registry[self.name][1] & self.numerator.free_symbols

    def _numbacode(self, printer) -> str:
        return f"vmath.dd_value({dd_code(self.numerator, printer, self.sums)})"


def _rational(expr: sp.Expr) -> bool:
    """Built from symbols, components and numbers by +, · and integer powers alone."""
    if expr.is_Atom or isinstance(expr, sp.Indexed):
        return not isinstance(expr, exact_numerator)
    if isinstance(expr, sp.Pow):
        return expr.exp.is_Integer and _rational(expr.base)
    return isinstance(expr, sp.Add | sp.Mul) and all(_rational(a) for a in expr.args)


def exact_quotients(expr: sp.Expr, sums: set) -> sp.Expr:
    """A rational function of row sums N/D (a quotient rule's N'D - ND' over D², the
    Dice and Tversky gradients) → exact_numerator(N)/D: the terms of N cancel where the
    derivative is small (near a perfect prediction, or where a target component balances
    the ratio), so N is formed in double-double from double-double sums of products that
    are themselves exact; D, a product of sums, is well conditioned and stays plain."""
    sums = frozenset(sums)

    def rewrite(e: sp.Expr) -> sp.Expr:
        if isinstance(e, sp.Piecewise):
            return sp.Piecewise(*((rewrite(v), cond) for v, cond in e.args), evaluate=False)
        if not _rational(e) or not (e.free_symbols & sums):
            if isinstance(e, sp.Add | sp.Mul) and e.has(sp.Piecewise):
                return e.func(*map(rewrite, e.args))
            return e
        num, den = sp.fraction(sp.together(e))
        if not (den.free_symbols & sums) or not isinstance(sp.expand(num), sp.Add):
            return e
        return exact_numerator(num, sums) / den

    return rewrite(expr)


def dd_differences(expr: sp.Expr, dd_symbols) -> sp.Expr:
    """Every e^{a} in ``expr`` whose exponent is linear in values carried as double-doubles
    (``dd_symbols``: the cells of a DP, each read as ``<name>_dd``) → e^{c·exact_numerator(a/c)},
    c the coefficient of the first such value: the exponent's sum of cells, whose terms cancel
    (V − up − 1 in a soft-min's backward weight, with |V|, |up| ≫ |V − up − 1|), is formed in
    double-double and rounded once, so that it keeps its relative accuracy where a float64 sum
    is off by ε·|cells|; c, a parameter such as 1/γ that would multiply that error, then
    scales it in float64."""
    dd_symbols = tuple(dd_symbols)
    known = frozenset(dd_symbols)

    def rewrite(e: sp.Expr) -> sp.Expr:
        a = sp.expand(e.args[0])
        c = next((a.coeff(u) for u in dd_symbols if a.coeff(u) != 0), None)
        if c is None or c.free_symbols & known:
            return e
        w = sp.expand(a / c)
        if not all(w.coeff(u).is_Number for u in dd_symbols):
            return e
        return sp.exp(c * exact_numerator(w, known))

    return expr.replace(lambda e: isinstance(e, sp.exp) and e.has(*dd_symbols), rewrite)


def dd_code(expr: sp.Expr, printer, dd_symbols: frozenset) -> str:
    """Code of ``expr`` in double-double arithmetic: +, · and / as vmath.dd_add/dd_mul/dd_div,
    integer powers as repeated products, held(a) as a, constants to 106 bits, ``dd_symbols``
    (row sums) read as their double-double ``<name>_dd``, every other leaf (a component, a
    parameter, a transcendental) rounded as the printer computes it and then carried exactly."""

    lib = getattr(printer, "library", "vmath")  # the backend's library of dd_* functions

    def code(e: sp.Expr) -> str:
        if e in dd_symbols:
            return f"{printer.doprint(e)}_dd"
        if e.is_number:  # a constant (√2/2 included) to 106 bits
            hi = float(e)
            lo = float(sp.N(e - sp.Float(hi, 60), 30))
            return f"({hi!r}, {lo!r})"
        if isinstance(e, sp.Add):
            out = code(e.args[0])
            for a in e.args[1:]:
                out = f"{lib}.dd_add({out}, {code(a)})"
            return out
        if isinstance(e, held):
            return code(e.args[0])
        if isinstance(e, sp.Mul):
            num, den = e.as_numer_denom()
            if den.free_symbols:  # a quotient of inputs (a number's inverse stays a factor)
                return f"{lib}.dd_div({code(num)}, {code(den)})"
            coeff, rest = e.as_coeff_Mul()
            if coeff == -1:
                return f"{lib}.dd_neg({code(rest)})"
            out = code(e.args[0])
            for a in e.args[1:]:
                out = f"{lib}.dd_mul({out}, {code(a)})"
            return out
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp < 0:
            return f"{lib}.dd_div((1.0, 0.0), {code(e.base**-e.exp)})"
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            base = code(e.base)
            out = base
            for _ in range(int(e.exp) - 1):
                out = f"{lib}.dd_mul({out}, {base})"
            return out
        return f"{lib}.dd({printer.doprint(e)})"

    return code(expr)
