"""Products in log space: exp(Σ log f) where a factor's power would be inf·0, and what
float32 kernels compute in float64 because of it (`float64_in_float32`)."""

from __future__ import annotations

import sympy as sp
from sympy.core.parameters import distribute

from ..definition.primitives import PRIMITIVES, log_sigmoid, logaddexp, sigmoid
from ..definition.ranges import Ranges
from ..definition.ranges import lower_bound as _lower_bound
from ..definition.ranges import nonnegative as _nonnegative
from .cancellation import factor_sums
from .common import _has_primitive
from .nodes import exp_of_sum


def _log_of(expr: sp.Expr, ranges: Ranges):
    """A stable expression for log(expr), or None when expr is not a known positive form."""
    if isinstance(expr, sigmoid):
        return log_sigmoid(expr.args[0])
    if isinstance(expr, sp.exp):
        return expr.args[0]
    if expr.is_Pow:
        inner = _log_of(expr.base, ranges)
        return None if inner is None else expr.exp * inner
    if expr.is_Mul:
        logs = [_log_of(f, ranges) for f in expr.args]
        return None if any(lg is None for lg in logs) else sp.Add(*logs)
    if expr.is_Add:
        # A sum of c_k·P_k with c_k ≥ 0 over the domain: logaddexp of log c_k + log P_k.
        terms = []
        for term in expr.args:
            coeff, product = term.as_independent(*PRIMITIVES, sp.exp, as_Add=False)
            if product == 1 or not _nonnegative(coeff, ranges):
                return None
            log_product = _log_of(product, ranges)
            if log_product is None:
                return None
            terms.append(sp.log(coeff) + log_product)
        folded = terms[0]
        for t in terms[1:]:
            folded = logaddexp(folded, t)
        return folded
    return None


def exponent_terms(expr: sp.Expr) -> sp.Expr:
    """Each exp_of_sum(u) → exp_of_sum(u_1, …, u_n), the additive terms of u (a number times
    a sum distributed, functions left whole), after the stable forms are in. A symbolic
    coefficient stays on its term: (γ - 1)·log q split into γ·log q - log q would be ∞ - ∞
    where q = 0, and exp((γ - 1)·log q) = 0 there (γ > 1)."""

    def split(e: sp.Expr) -> sp.Expr:
        terms = []
        for t in sp.Add.make_args(sp.Add(*e.args)):
            c, rest = t.as_coeff_Mul()
            terms += [c * a for a in rest.args] if rest.is_Add and c != 1 else [t]
        return exp_of_sum(*terms)

    return expr.replace(lambda e: isinstance(e, exp_of_sum), split)


def _log_sum(factors: list, logs: dict, ranges: Ranges) -> sp.Expr:
    """Σ log f over positive factors, the powers of one base taken together: q^γ·q^(-1) gives
    (γ - 1)·log q, not γ·log q - log q, which is ∞ - ∞ where q = 0."""
    powers: dict = {}
    for f in factors:
        base, e = (f.base, f.exp) if f.is_Pow else (f, sp.S.One)
        powers.setdefault(base, []).append((f, e))
    terms = []
    for base, group in powers.items():
        log_base = _log_of(base, ranges) if len(group) > 1 else None
        if log_base is None:
            terms += [logs[f] for f, _ in group]
        else:
            terms.append(sp.Add(*(e for _, e in group)) * log_base)
    return sp.Add(*terms)


def logspace_products(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """Compute a product with a possibly negative power, q^(γ-1)·σ(x)…, as exp(Σ log factors).

    Where q underflows to 0 the product is a finite limit, but q^(γ-1)·σ(x) would be inf·0 = NaN;
    in log space it is exp(finite) instead. Positive factors outside a sum whose terms hold such
    a power are first distributed into the sum (q^γ·(a/q + b) → q^γ·a/q + q^γ·b), so that every
    power meets its partners in one product; multiplying each term by the same positive number
    adds no cancellation.
    """

    def risky(f: sp.Expr) -> bool:
        # q^e with e possibly negative: inf when q underflows to 0.
        return f.is_Pow and _has_primitive(f.base) and not _nonnegative(f.exp, ranges)

    def holds_risky(e: sp.Expr) -> bool:
        return any(risky(p) for p in e.atoms(sp.Pow))

    def positive_log(f: sp.Expr):
        return _log_of(f, ranges) if _has_primitive(f) else None

    def visit(e: sp.Expr) -> sp.Expr:
        if not holds_risky(e):
            return e
        if e.is_Add:
            return sp.Add(*(visit(t) for t in e.args))
        if e.is_Mul:
            logs = {f: positive_log(f) for f in e.args}
            positive = [f for f in e.args if logs[f] is not None]
            sums = [f for f in e.args if f.is_Add and holds_risky(f)]
            if sums and positive:
                inner = sums[0]
                rest = [f for f in e.args if f is not inner and logs[f] is None]
                spread = sp.Add(*(sp.Mul(*positive, t) for t in inner.args))
                return sp.Mul(*rest) * visit(spread)
            if any(risky(f) for f in e.args) and positive:
                rest = [visit(f) for f in e.args if logs[f] is None]
                return sp.Mul(*rest) * exp_of_sum(_log_sum(positive, logs, ranges))
            return sp.Mul(*(visit(f) for f in e.args))
        if e.args:
            return e.func(*(visit(a) for a in e.args))
        return e

    return visit(expr)


def float64_in_float32(expr: sp.Expr, ranges: Ranges) -> bool:
    """Whether float32 kernels compute ``expr`` (a derivative, before `lower`) in float64, its
    inputs widened and its result rounded once, the way they take non-integer powers.

    That is where `logspace_products` takes a product as exp(Σ log f): the rounding of the
    exponent, |Σ log f|·ε, becomes a relative error of the product, and the terms that hold
    such products are the derivatives of q^γ·F, which cancel (1 against γ(1 - 2y)·F·σ(-x)/q
    in the second derivative, the first derivative's two terms near its root). In float32
    that leaves hundreds of ULP after the cancellation; in float64, a few float32 ULP.

    And where a quotient by a scale (a symbol whose range reaches down to 0) is raised to a
    non-integer power, ((r/c)²/|α-2| + 1)^{α/2}: r/c overflows float32 (|r| = 1e9 at c = 1e-30)
    where the result, ≈ |r/c|^α, or the gradient, ≈ |r/c|^(α-1)/c, need not; float64 holds
    r/c for every float32 r and c.
    """
    if _scaled_power(expr, ranges):
        return True
    with distribute(False):
        e = factor_sums(expr)
        return logspace_products(e, ranges) != e


def _scaled_power(expr: sp.Expr, ranges: Ranges) -> bool:
    """Whether ``expr`` takes a non-integer power, an exponential, a logarithm or a primitive
    of something that divides by a symbol whose range reaches down to 0 (see
    `float64_in_float32`)."""
    for f in expr.atoms(sp.Pow, sp.exp, sp.log, *PRIMITIVES):
        if f.is_Pow and f.exp.is_Integer:
            continue
        base = f.base if f.is_Pow else sp.Tuple(*f.args)
        for q in base.atoms(sp.Pow):
            if q.exp.is_negative and q.base.is_Symbol and _lower_bound(q.base, ranges) == 0:
                return True
    return False
