"""Sums that cancel: the terms rearranged, or the constants formed exactly, so that the result
keeps its digits (common factors out of sums, coefficients from exact data, 1 - y' as a sum of
nonnegative parts, σ(u) - y' through tanh, e^u - y through expm1, the bounds of the margin
functions' pieces)."""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.codegen.cfunctions import expm1

from ..definition.primitives import margin_intercept, margin_psi, sigmoid
from ..definition.ranges import Ranges
from ..definition.ranges import nonnegative as _nonnegative
from .common import _EMPTY, _has_primitive
from .nodes import exact_sum, magnitude


def factor_sums(expr: sp.Expr) -> sp.Expr:
    """c·x - c·t → c·(x - t) when every term has the coefficient ±c: the difference is taken
    before scaling (one rounding, no overflow of c·x). Only a common number is taken out, so
    no new constant (a 1/2 turning |r| - δ/2 into (2|r| - δ)/2) can overflow.

    Call under ``sympy.core.parameters.distribute(False)``, or SymPy distributes the number
    over the sum again.
    """

    def common(add: sp.Add) -> sp.Expr:
        coeffs = [t.as_coeff_Mul()[0] for t in add.args]
        c = abs(coeffs[0])
        if c == 1 or any(abs(k) != c for k in coeffs):
            return add
        return sp.Mul(c, sp.Add(*(t / c for t in add.args)), evaluate=False)

    return expr.replace(lambda e: e.is_Add, common)


def _split_terms(add: sp.Add, pick):
    """(u, {±1: coefficient}, constant) when every term of ``add`` is k·f(±u) for one u with
    k free of u (``pick(factor)`` returns (u, ±1) for a factor f(±u), else None), or free of
    u's symbols; else None."""
    picked, free = [], []
    for term in add.args:
        hits = [(f, pick(f)) for f in sp.Mul.make_args(term)]
        hits = [(f, h) for f, h in hits if h is not None]
        (picked if len(hits) == 1 else free).append((term, hits))
    if not picked:
        return None
    (_, ((_, (u, _)),)), *_ = picked
    symbols = u.free_symbols
    if not symbols:
        return None
    coeffs = {1: sp.S.Zero, -1: sp.S.Zero}
    for term, ((f, (v, s)),) in picked:
        k = term / f
        if v != u or k.free_symbols & symbols:
            return None
        coeffs[s] += k
    if any(t.free_symbols & symbols or h for t, h in free):
        return None
    return u, coeffs, sp.Add(*(t for t, _ in free))


def exact_constant(expr: sp.Expr, centres: Mapping[sp.Symbol, sp.Expr] = _EMPTY) -> sp.Expr:
    """A form of a coefficient computed from exact data (targets, parameters) that rounds
    little where it is near 0: factored (1 - 2y' = (1 - ε)(1 - 2y), so 1 - 2y is formed
    exactly), or else split at the parameters' ``centres`` (their defaults) as
    C = C|_{p = p0} + (C - C|_{p = p0}), each part factored: ((1 - y') - w·y')/2 is then
    (1 - 2y')/2 - (w - 1)·y'/2, exactly 0 at y' = 1/2 for w = 1, where 1 - y' - y' would round
    1 - y' for y' just below 1/2."""
    parts = _constant_parts(expr, centres)
    return parts[0] if len(parts) == 1 else sp.Add(*parts, evaluate=False)


def _constant_parts(expr: sp.Expr, centres: Mapping) -> list:
    """The terms `exact_constant` adds, in order."""
    factored = sp.factor(expr)
    if not factored.as_coeff_Mul()[1].is_Add:  # a product (a number times a sum is not)
        return [factored]
    for p, p0 in centres.items():
        at = expr.subs(p, p0)
        if at != expr:
            rest = {q: v for q, v in centres.items() if q != p}
            return [*_constant_parts(at, rest), sp.factor(expr - at)]
    return [expr]


def _nonnegative_form(p: sp.Expr, complementable: frozenset) -> sp.Expr | None:
    """``p``, a polynomial in nonnegative symbols, as sums and products of nonnegative parts
    only: numbers ≥ 0, the symbols, and 1 - s for s in ``complementable`` (a symbol in
    [0, 1]), written as a Dummy standing for it (`_complements`); None if no such form is
    found. Either a symbol is taken out (p = v·A + B, A and B such forms) or a symbol s is
    replaced by 1 - s̄ (1 - y + yε - ε/2 = ȳ(1 - ε) + ε/2)."""
    p = sp.expand(p)
    if p.is_number:
        return p if p >= 0 else None
    if all(t.as_coeff_Mul()[0] >= 0 for t in sp.Add.make_args(p)):
        return p
    for v in sorted(p.free_symbols, key=sp.default_sort_key):
        rest = p.subs(v, 0)
        if rest == 0 or sp.Poly(p, v).degree() != 1:
            continue
        taken, left = _nonnegative_form(sp.expand((p - rest) / v), complementable), None
        if taken is not None:
            left = _nonnegative_form(rest, complementable)
        if taken is not None and left is not None:
            return v * taken + left
    for s in sorted(complementable & p.free_symbols, key=sp.default_sort_key):
        form = _nonnegative_form(p.subs(s, 1 - _complement(s)), complementable - {s})
        if form is not None:
            return form
    return None


def _complement(s: sp.Symbol) -> sp.Dummy:
    """The Dummy that stands for 1 - s in `_nonnegative_form` (one per symbol)."""
    if s not in _COMPLEMENTS:
        _COMPLEMENTS[s] = sp.Dummy(f"not_{s}", nonnegative=True)
    return _COMPLEMENTS[s]


_COMPLEMENTS: dict = {}


def complement_sums(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """A sum of exact data that cancels, written with nonnegative terms only where its data
    are nonnegative and those in [0, 1] may be complemented: 1 - y' for y' = y(1 - ε) + ε/2
    (a smoothed target) becomes (1 - y)(1 - ε) + ε/2.

    1 - y' rounds y' first and then subtracts it from 1: at y = 1, ε = 0.1 the difference
    0.05 carries y'’s rounding error 19 times over. 1 - y is exact for y ≥ 1/2 (and a single
    rounding, relative to a result ≥ 1/2, below), and a sum of nonnegative terms cannot
    cancel: each rounding stays relative to the result."""
    units = frozenset(s for s, r in ranges.items() if _nonnegative(r.min, {}) and bool(r.max <= 1))

    def candidate(e: sp.Expr) -> bool:
        symbols = e.free_symbols
        return (
            e.is_Add
            and bool(symbols)
            and all(s in ranges and _nonnegative(ranges[s].min, {}) for s in symbols)
            and not _has_primitive(e)
            and e.is_polynomial(*symbols)
            and not _one_sign(e.args, ranges)
        )

    def rewrite(add: sp.Add) -> sp.Expr:
        form = _nonnegative_form(add, units & add.free_symbols)
        if form is None:
            return add
        return form.xreplace({_complement(s): 1 - s for s in units & add.free_symbols})

    return expr.replace(candidate, rewrite)


def _one_sign(terms, ranges: Ranges) -> bool:
    """True when every term is ≥ 0 over the ranges, or every one ≤ 0: their sum cannot
    cancel."""
    nonzero = [t for t in terms if t != 0]
    return all(_nonnegative(t, ranges) for t in nonzero) or all(
        _nonnegative(-t, ranges) for t in nonzero
    )


def _smaller_error(near: list, far: list) -> sp.Expr:
    """The sum of ``near`` where Σ|terms| is smaller than that of ``far``, else ``far``'s: the
    rounding error of a sum is about ε·Σ|terms|, so the form that cancels less is taken. The
    parts of a coefficient split by `exact_constant` are terms of their own (they may cancel
    too)."""

    def size(terms):
        return sp.Add(*(abs(t) if t.is_number else magnitude(t) for t in terms if t != 0))

    return sp.Piecewise(
        (sp.Add(*near, evaluate=False), sp.StrictLessThan(size(near), size(far))),
        (sp.Add(*far), True),
        evaluate=False,
    )


def _exact(term: sp.Expr) -> bool:
    """A number, a symbol, or a power of two times one: a floating-point input as it is."""
    coeff, rest = term.as_coeff_Mul()
    if not (rest == 1 or rest.is_Symbol):
        return False
    return coeff.is_Rational and (abs(coeff.p) & (abs(coeff.p) - 1)) == 0 == (
        coeff.q & (coeff.q - 1)
    )


def _rounds_relatively(expr: sp.Expr, ranges: Ranges) -> bool:
    """Whether ``expr`` computed as written has an error relative to its own value: products
    and powers of such factors, sums of terms of one sign, and a sum of two inputs (one
    rounding). Any other sum may cancel and keep its terms' errors."""
    if expr.is_Atom:
        return True
    if expr.is_Mul:
        return all(_rounds_relatively(f, ranges) for f in expr.args)
    if expr.is_Pow:
        return expr.exp.is_Integer and _rounds_relatively(expr.base, ranges)
    if expr.is_Add:
        if len(expr.args) == 2 and all(_exact(t) for t in expr.args):
            return True
        return _one_sign(expr.args, ranges) and all(
            _rounds_relatively(t, ranges) for t in expr.args
        )
    return False


def exact_constants(parts: list, ranges: Ranges) -> list:
    """The terms of a constant from exact data (`_constant_parts`), as one `exact_sum` where
    their sum computed as written would not round relatively to it (`_rounds_relatively`)."""
    total = sp.Add(*parts, evaluate=False) if len(parts) > 1 else parts[0]
    polynomial = not total.atoms(sp.Function) and total.is_polynomial(*total.free_symbols)
    if not total.free_symbols or not polynomial or _rounds_relatively(total, ranges):
        return parts
    return [exact_sum(total)]


def sigmoid_differences(
    expr: sp.Expr, ranges: Ranges = _EMPTY, centres: Mapping = _EMPTY
) -> sp.Expr:
    """a·σ(u) + b·σ(-u) + c → (a + b)/2 + c + (a - b)·tanh(u/2)/2 (a, b, c free of u) where
    that sum has the smaller magnitudes (`_smaller_error`), the sum as it stands elsewhere.

    σ(±u) = 1/2 ± tanh(u/2)/2: near u = 0 the two halves cancel (σ(x) - y' for a soft target
    y' near 1/2, the gradient of a cross entropy), and the constant they leave, (a + b)/2 + c,
    is formed from exact data (1/2 - y'), so only tanh(u/2) is rounded. Far from 0 the sum
    keeps its sigmoids: σ(-u) is then the small term that 1/2 - tanh(u/2)/2 would round away
    (σ(x) - 1 at x = 40). Sums whose terms all have one sign are left alone.
    """

    def pick(f: sp.Expr):
        if isinstance(f, sigmoid):
            (a,) = f.args
            return (-a, -1) if sp.Mul.make_args(a)[0] == -1 else (a, 1)
        return None

    def rewrite(add: sp.Add) -> sp.Expr:
        split = _split_terms(add, pick)
        if split is None:
            return shared(add)
        u, k, c = split
        if _one_sign([k[1], k[-1], c], ranges):
            return add  # e.g. y·σ(-x) + (1 - y)·σ(x), y ∈ [0, 1]: nothing cancels
        constant = _constant_parts((k[1] + k[-1]) / 2 + c, centres)  # 1/2 - y', exact data
        constant = exact_constants(constant, ranges)  # … in double-double where it cancels
        slope = exact_constant(k[1] - k[-1], centres)
        a, b = (exact_constant(k[s], centres) for s in (1, -1))  # 1 - y' at y = 1, ε > 0
        near = [*constant, slope * sp.tanh(u / 2) / 2]
        return _smaller_error(near, [a * sigmoid(u), b * sigmoid(-u), c])

    def shared(add: sp.Add) -> sp.Expr:
        """F·(a·σ(u) + b·σ(-u)) + rest, F a factor that holds u (q^γ·(σ(x) - y) beside the
        other terms of a focal gradient): the difference is rewritten inside the product."""
        groups: dict = {}
        for term in add.args:
            hits = [f for f in sp.Mul.make_args(term) if pick(f) is not None]
            if len(hits) != 1:
                continue
            cofactor = term / hits[0]
            u = pick(hits[0])[0]
            F = cofactor.as_independent(*u.free_symbols, as_Add=False)[1]
            if F != 1:
                groups.setdefault(F, []).append(term)
        for F, terms in sorted(groups.items(), key=lambda g: sp.default_sort_key(g[0])):
            if len(terms) < 2:
                continue
            inner = sp.Add(*(t / F for t in terms))
            lowered = rewrite(inner) if inner.is_Add else inner
            if lowered != inner:
                rest = [t for t in add.args if t not in terms]
                return sp.Add(sp.Mul(F, lowered), *rest)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def exp_differences(expr: sp.Expr, ranges: Ranges = _EMPTY, centres: Mapping = _EMPTY) -> sp.Expr:
    """k·e^u + c → k·expm1(u) + (k + c) (k, c free of u) where that sum has the smaller
    magnitudes (`_smaller_error`), k·expm1(u) everywhere when k + c = 0.

    e^x - y near x = 0, y = 1 (the Poisson gradient) would round e^x to 1 ± ε and lose every
    digit of the difference; expm1(x) keeps them, and 1 - y is exact there. Beyond |u| = 1 the
    sum stays as written: e^u - y for u ≪ 0 and y = 0 would round away in expm1(u) + 1.
    """

    def pick(f: sp.Expr):
        return (f.args[0], 1) if isinstance(f, sp.exp) else None

    def rewrite(add: sp.Add) -> sp.Expr:
        split = _split_terms(add, pick)
        if split is None:
            return add
        u, k, c = split
        if k[1] == 0 or c == 0 or _one_sign([k[1], c], ranges):
            return add  # e^u + y, y ≥ 0: nothing cancels
        constant = _constant_parts(k[1] + c, centres)
        if constant == [0]:
            return k[1] * expm1(u)
        return _smaller_error([*constant, k[1] * expm1(u)], [k[1] * sp.exp(u), c])

    return expr.replace(lambda e: e.is_Add, rewrite)


def margin_roots(expr: sp.Expr) -> sp.Expr:
    """ψ_m^(k)(t), k ≥ 1, and ψ_m(t) - tψ_m'(t) (L-Softmax's margin functions, t = f/n) →
    their pieces, each polynomial and each piece's bound t ≥ cos(jπ/m) evaluated by
    `exact_sum` from f and n: ψ_m' vanishes at the bounds, and t rounded first would leave
    it with t's rounding error, relative to t rather than to t - cos(jπ/m) (the wrong sign
    where the rounding crosses the bound)."""

    def exact(e: sp.Expr) -> sp.Expr:
        return exact_sum(e) if e.free_symbols else e

    def pieces(f: sp.Expr) -> sp.Expr:
        out = f.rewrite("stable")  # in held(t): powers of the quotient, not of f and n
        if not isinstance(out, sp.Piecewise):
            return exact(out)
        args = []
        for body, cond in out.args:
            if isinstance(cond, sp.core.relational.Relational):
                cond = cond.func(exact(cond.lhs - cond.rhs), 0)
            args.append((exact(body), cond))
        return sp.Piecewise(*args, evaluate=False)

    def derivative(e: sp.Expr) -> bool:
        return isinstance(e, margin_intercept) or (isinstance(e, margin_psi) and e.args[2] >= 1)

    return expr.replace(derivative, pieces)
