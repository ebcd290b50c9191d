"""Infinities: differences and products that are finite, or a limit, where a factor
over- or underflows (no ∞ - ∞, no 0·∞ = NaN)."""

from __future__ import annotations

import sympy as sp
from sympy.core.parameters import distribute

from ..definition.primitives import PRIMITIVES, held, sigmoid
from ..definition.ranges import Ranges
from ..definition.ranges import lower_bound as _lower_bound
from ..definition.ranges import upper_bound as _upper_bound
from .branches import _sign
from .cancellation import _one_sign
from .common import _EMPTY, _has_primitive
from .logspace import _log_of
from .nodes import is_finite, is_minus_inf, is_positive, nan_in, power_times, zero_factor_mul


def overflow_differences(expr: sp.Expr, ranges: Ranges = _EMPTY) -> sp.Expr:
    """k·e^u + c → e^u·(k + c·e^{-u}) where e^u overflows (k, c free of u, c unbounded over
    the ranges), the sum as written elsewhere.

    e^x - y at x = 1000 and y = +∞ is ∞ - ∞ = NaN, though e^x is finite and the difference
    -∞; scaled by e^u, the term c·e^{-u} is a product that `underflow_products` keeps
    infinite where e^{-u} underflows (-∞ there), and k·∞ stays right for finite c. Only
    where e^u is not finite: elsewhere the sum keeps its one rounding."""

    def split(add: sp.Add):
        """(u, k, c) when add = k·e^u + c, k free of u and c free of exponentials (c may hold
        u's symbols: e^x - y·x), else None."""
        exps = [t for t in add.args if any(isinstance(f, sp.exp) for f in sp.Mul.make_args(t))]
        if len(exps) != 1:
            return None
        (term,) = exps
        (e,) = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.exp)] or [None]
        if e is None or (term / e).has(sp.exp) or (term / e).free_symbols & e.free_symbols:
            return None
        c = sp.Add(*(t for t in add.args if t is not term))
        if c.has(sp.exp) or not e.free_symbols:
            return None
        return e.args[0], {1: term / e}, c

    def rewrite(add: sp.Add) -> sp.Expr:
        parts = split(add)
        if parts is None:
            return add
        u, k, c = parts
        if k[1] == 0 or c == 0 or c.is_number or _one_sign([k[1], c], ranges):
            return add
        hi = _upper_bound(u, ranges)
        if hi is not None and hi.is_finite:
            return add  # e^u cannot overflow
        lo_c, hi_c = _lower_bound(c, ranges), _upper_bound(c, ranges)
        if lo_c is not None and hi_c is not None and lo_c.is_finite and hi_c.is_finite:
            return add  # c cannot be infinite: ∞ + c is right
        e = sp.exp(u)
        scaled = e * sp.Add(k[1], sp.Mul(c, sp.exp(-u)))
        return sp.Piecewise((add, is_finite(e)), (scaled, True), evaluate=False)

    return expr.replace(lambda e: e.is_Add, rewrite)


def underflow_products(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """P·e^u, P a polynomial in the data and u unbounded below, computed as
    sign(P)·exp(u + log|P|) where P overflows or e^u underflows, and as 0 where u is -inf.

    The product is finite where its factors are not: (1 - r²)·e^{-r²/2} at |r| = 1e200 is
    (-inf)·0 = NaN in floating point, the truth a number below the smallest subnormal, and at
    r = ±inf the limit 0 (u → -∞ faster than log|P| grows), NaN for NaN in P's other data
    (y·x·e^{-x} at x = ∞, y = NaN). log|P| is the sum of the logs of
    P's factors (1 - r² = -(r - 1)(r + 1)), each finite where P overflows. Where neither
    overflows nor underflows the product is computed as written, without the rounding of
    exp(u + log|P|).
    """

    def rewrite(mul: sp.Mul) -> sp.Expr:
        exps = [f for f in mul.args if isinstance(f, sp.exp)]
        if len(exps) != 1:
            return mul
        (e,) = exps
        u = e.args[0]
        P = mul / e
        symbols = P.free_symbols | u.free_symbols
        if not P.free_symbols or not all(
            f.is_polynomial(*symbols) and not f.has(sp.exp, *PRIMITIVES) for f in (P, u)
        ):
            return mul
        lo = _lower_bound(u, ranges)
        if lo is not None and lo.is_finite:
            return mul
        with distribute(True):  # Abs(-(r - 1)) recurses in SymPy's signsimp otherwise
            coeff, factors = sp.factor_list(P)
            sign = sp.sign(coeff) * sp.Mul(*(_sign(f) for f, m in factors if m % 2))
            logs = sp.Add(sp.log(abs(coeff)), *(m * sp.log(sp.Abs(f)) for f, m in factors))
        scaled = sign * sp.exp(held(sp.Add(u, logs)))  # held: SymPy would split exp(log …)
        others = sorted(P.free_symbols - u.free_symbols, key=sp.default_sort_key)
        return sp.Piecewise(
            *([(sp.nan, nan_in(*others))] if others else []),
            (sp.S.Zero, is_minus_inf(u)),
            (mul, sp.And(is_finite(P), is_positive(e))),
            (scaled, True),
            evaluate=False,
        )

    return expr.replace(lambda e: e.is_Mul, rewrite)


def _has_unbounded_argument(f: sp.Expr, ranges: Ranges) -> bool:
    """Whether ``f`` holds a primitive, exponential or logarithm of an unbounded argument."""
    for g in f.atoms(*PRIMITIVES, sp.exp, sp.log):
        for a in g.args:
            if _lower_bound(a, ranges) == -sp.oo or _upper_bound(a, ranges) == sp.oo:
                return True
    return False


def _positive(expr: sp.Expr, ranges: Ranges) -> bool:
    lo = _lower_bound(expr, ranges)
    return lo is not None and bool(lo > 0)


def _may_be_infinite(f: sp.Expr, ranges: Ranges) -> bool:
    """Whether ``f`` may be ±∞ over the ranges (an input that may be, or a function of one that
    does not bound it: not σ or tanh, not e^u for u bounded above). Errs towards True."""
    if f.is_number:
        return not f.is_finite
    if f.is_Symbol or isinstance(f, sp.Indexed):
        lo, hi = _lower_bound(f, ranges), _upper_bound(f, ranges)
        return lo is None or hi is None or lo == -sp.oo or hi == sp.oo
    if isinstance(f, (sigmoid, sp.tanh)):
        return False
    if isinstance(f, sp.exp):
        hi = _upper_bound(f.args[0], ranges)
        return hi is None or hi == sp.oo
    if isinstance(f, sp.log) and not _positive(f.args[0], ranges):
        return True
    if f.is_Pow and not (f.exp.is_nonnegative or _positive(f.base, ranges)):
        return True
    if isinstance(f, sp.Piecewise):
        return any(_may_be_infinite(e, ranges) for e, _ in f.args)
    return any(_may_be_infinite(a, ranges) for a in f.args if isinstance(a, sp.Expr))


def data_coefficient_limits(
    expr: sp.Expr, ranges: Ranges, varying: frozenset, nonzero: frozenset = frozenset()
) -> sp.Expr:
    """k·F → zero_factor_mul(F, F, k, tests) where the coefficient k is exact data (no symbol
    of ``varying``, the differentiable inputs; not a plain number) and F may be infinite: the
    product is 0 for every finite F where k = 0, so 0 is its limit. (1 - y)·softplus(x) at a
    label y = 1 and a logit x = +∞ is then 0, not 0·∞ = NaN; so is -y·x in the Poisson loss
    at y = 0, x = -∞. Factors made only of ``nonzero`` symbols (whose domains exclude 0, as
    labels in {-1, +1}) are not tested."""

    def zero_test(f: sp.Expr):
        """What is 0 exactly where the data factor f is (f rounded may underflow to 0)."""
        if f.is_Pow and f.exp.is_number and f.exp.is_positive:
            return f.base
        return None if f.is_Pow else f

    def wrap(mul: sp.Mul) -> sp.Expr:
        factors = [f for f in mul.args if not f.free_symbols & varying]  # numbers too
        rest = sp.Mul(*(f for f in mul.args if f.free_symbols & varying))
        tests = [
            t
            for t in (zero_test(f) for f in factors if not f.is_number)
            if t is not None and not t.free_symbols <= nonzero
        ]
        if not tests or rest == 1 or not _may_be_infinite(rest, ranges):
            return mul
        return zero_factor_mul(rest, rest, sp.Tuple(*factors), sp.Tuple(*tests))

    return expr.replace(lambda e: e.is_Mul, wrap)


def power_limits(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """q^γ·F → power_times(q, q^γ, F, F) where q is a positive form (`_log_of` knows its log), γ
    is not a negative number, and F holds a function of an unbounded argument (it may be
    infinite)."""

    def rewrite(mul: sp.Mul) -> sp.Expr:
        for f in mul.args:
            if not (f.is_Pow and _has_primitive(f.base) and not f.exp.is_negative):
                continue
            rest = mul / f
            if rest.is_Mul or rest.is_Add or rest.is_Function:
                if _has_unbounded_argument(rest, ranges) and _log_of(f.base, ranges) is not None:
                    return power_times(f.base, f, rest, rest)
        return mul

    return expr.replace(lambda e: e.is_Mul, rewrite)
