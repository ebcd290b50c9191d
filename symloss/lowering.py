"""From mathematical expressions to the forms kernels compute: a pipeline of named passes.

Each pass maps expressions to equal expressions (equal as real functions, with the kink policy of
`derive`); `lower` runs them in order. The derivatives are taken on the mathematical form first,
so every pass here only changes how a value is computed, never which value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.core.parameters import distribute
from sympy.logic.boolalg import BooleanFunction

from .definition.axes import c, class_argmax, class_max
from .definition.primitives import (
    PRIMITIVES,
    _as_written,
    held,
    log1p_square,
    log_sigmoid,
    logaddexp,
    lorentz_ratio,
    lorentz_slope,
    margin_intercept,
    margin_psi,
    sigmoid,
    wide,
)
from .definition.ranges import Ranges, ranges_of
from .definition.ranges import lower_bound as _lower_bound
from .definition.ranges import nonnegative as _nonnegative
from .definition.ranges import upper_bound as _upper_bound

__all__ = ["nan_in", "ranges_of", "lower"]

_EMPTY: Mapping = MappingProxyType({})


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


def _has_primitive(expr: sp.Expr) -> bool:
    return expr.has(*PRIMITIVES, sp.exp)


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


class exact_sum(_as_written):
    """Its argument, a rational function of the inputs whose terms cancel, evaluated in
    double-double arithmetic (`dd_code`) from the inputs as given and rounded once:
    (1 - y')/2 - w·y'/2 is 0 where (1 + w)·y' = 1, and formed in the kernel's dtype it would
    keep the roundings of y' and of the products, each relative to the terms, not the result.
    Kept out of the CSE by codegen (which would share its parts as plain temporaries)."""

    _latex = wide._latex

    def _numbacode(self, printer):
        return f"vmath.dd_value({dd_code(self.args[0], printer, frozenset())})"


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


class scaled_log1p_square(sp.Function):
    """v²·log(1 + (u/v)²), computed without forming v² or u/v where they over- or underflow:
    u·(u·log1p(x²)/x²) for |u| ≤ |v| (x = u/v; = u² where x² underflows) and
    v·(v·(2 log|x| + log1p(x⁻²))) beyond, log|x| as log|u| - log|v| where x overflows. Each
    product is of a factor ≤ 1 in size and the result, so none overflows unless the result
    does."""

    nargs = 2

    def _eval_rewrite_as_math(self, u, v, **kwargs):
        return v**2 * log1p(u**2 / v**2)

    def _eval_rewrite_as_stable(self, u, v, **kwargs):
        x = held(u / v)
        t = x**2
        a = sp.Abs(x)
        ratio = _select((sp.S.One, sp.Eq(t, 0)), (log1p(t) / t, True))
        log_a = _select((sp.log(a), is_finite(a)), (sp.log(sp.Abs(u)) - sp.log(sp.Abs(v)), True))
        near = u * held(u * ratio)
        far = v * held(v * (2 * log_a + log1p(a**-2)))
        return _select((near, sp.LessThan(sp.Abs(u), sp.Abs(v))), (far, True))


class scaled_lorentz_ratio(sp.Function):
    """v·(u/v)/(1 + (u/v)²) = u/(1 + x²), x = u/v, and (w·v)/(1 + w²) with w = v/u for
    |u| > |v|: no x that underflows (u/v subnormal times v loses its digits) or overflows."""

    nargs = 2

    def _eval_rewrite_as_math(self, u, v, **kwargs):
        return u / (1 + u**2 / v**2)

    def _eval_rewrite_as_stable(self, u, v, **kwargs):
        x, w = held(u / v), held(v / u)
        near = u / (1 + x**2)
        far = held(w * v) / (1 + w**2)
        return _select((near, sp.LessThan(sp.Abs(u), sp.Abs(v))), (far, True))


class scaled_lorentz_slope(sp.Function):
    """(1 - x²)/(1 + x²)² at x = u/v, with 1 - x² as ((|v| - |u|)/|v|)·(1 + |x|) up to
    |x| = 2: |v| - |u| is exact where it cancels (Sterbenz), where 1 - |x| would carry the
    rounding of x = u/v, amplified by 1/|1 - |x||; divided through by x⁴ beyond."""

    nargs = 2

    def _eval_rewrite_as_math(self, u, v, **kwargs):
        return (1 - u**2 / v**2) / (1 + u**2 / v**2) ** 2

    def _eval_rewrite_as_stable(self, u, v, **kwargs):
        x = held(u / v)
        a, au, av = sp.Abs(x), sp.Abs(u), sp.Abs(v)
        near = held((av - au) / av) * (1 + a) / (1 + x**2) ** 2
        far = (x**-2 - 1) * x**-2 / (1 + x**-2) ** 2
        return _select((near, sp.LessThan(au, 2 * av)), (far, True))


class lorentz_blend(sp.Function):
    """(b + a·x²)/(1 + x²)², what k·(x/(1 + x²))² + m·(1 - x²)/(1 + x²)² is with a = k - m,
    b = m: Barron's Hessian α·ρ'² + ρ'' at α = 1, whose two terms are ±1/x² for large x and
    cancel to O(1/x⁴). Divided through by x⁴ beyond |x| = 1, with no x² to overflow."""

    nargs = 3

    def _eval_rewrite_as_math(self, a, b, x, **kwargs):
        return (b + a * x**2) / (1 + x**2) ** 2

    def _eval_rewrite_as_stable(self, a, b, x, **kwargs):
        x = x if x.is_Atom else held(x)
        w = x**-2
        near = (b + a * x**2) / (1 + x**2) ** 2
        far = (b * w + a) * w / (1 + w) ** 2
        return _select((near, sp.LessThan(sp.Abs(x), 1)), (far, True))


class lorentz_fraction(sp.Function):
    """(b + a·x²)/(1 + x²); beyond |x| = 1 as (b·x⁻² + a)/(1 + x⁻²), with no x² to
    overflow."""

    nargs = 3

    def _eval_rewrite_as_math(self, a, b, x, **kwargs):
        return (b + a * x**2) / (1 + x**2)

    def _eval_rewrite_as_stable(self, a, b, x, **kwargs):
        x = x if x.is_Atom else held(x)
        w = x**-2
        near = (b + a * x**2) / (1 + x**2)
        far = (b * w + a) / (1 + w)
        return _select((near, sp.LessThan(sp.Abs(x), 1)), (far, True))


def blend_powers(expr: sp.Expr) -> sp.Expr:
    """e^{k·log(1 + x²)}·lorentz_blend(a, b, x) → e^{(k-1)·log(1 + x²)}·lorentz_fraction(a, b, x):
    one power of 1 + x² less on each side, so the product is not formed from a blend that
    underflows (≈ x⁻⁴, below float32's range at |x| = 1e11) where the product does not
    (Barron's Hessian at α = 1: x⁻⁴·|x|)."""

    def match(mul: sp.Expr):
        if not mul.is_Mul:
            return None
        blends = [f for f in mul.args if isinstance(f, lorentz_blend)]
        for f in mul.args:
            if not isinstance(f, sp.exp):
                continue
            k, g = f.args[0].as_independent(log1p_square, as_Add=False)
            if not isinstance(g, log1p_square):
                continue
            for b in blends:
                if b.args[2] == g.args[0]:
                    return f, b, k, g
        return None

    def rewrite(mul: sp.Mul) -> sp.Expr:
        f, b, k, g = match(mul)
        rest = mul / (f * b)
        return rest * sp.exp((k - 1) * g) * lorentz_fraction(*b.args)

    return expr.replace(lambda e: match(e) is not None, rewrite)


def lorentz_combinations(expr: sp.Expr) -> sp.Expr:
    """k·lorentz_ratio(x)² + m·lorentz_slope(x) + rest → lorentz_blend(k - m, m, x) + rest
    (an identity for any k, m): one fraction, whose numerator m + (k - m)·x² is formed from
    the coefficients, not as the difference of two rounded ±m/x²."""

    def rewrite(add: sp.Add) -> sp.Expr:
        slopes = {}
        squares = {}
        for t in add.args:
            coeff, rest = t.as_independent(lorentz_ratio, lorentz_slope, as_Add=False)
            if isinstance(rest, lorentz_slope):
                slopes[rest.args[0]] = (t, coeff)
            elif rest.is_Pow and rest.exp == 2 and isinstance(rest.base, lorentz_ratio):
                squares[rest.base.args[0]] = (t, coeff)
        for x, (t_s, m) in slopes.items():
            if x not in squares:
                continue
            t_r, k = squares[x]
            others = [t for t in add.args if t is not t_s and t is not t_r]
            return sp.Add(lorentz_blend(sp.factor(k - m), m, x), *others)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


_SCALED = {
    log1p_square: (2, scaled_log1p_square),
    lorentz_ratio: (1, scaled_lorentz_ratio),
    lorentz_slope: (0, scaled_lorentz_slope),
}


def scaled_quotients(expr: sp.Expr) -> sp.Expr:
    """v^n·F(u/v) → one function of (u, v) for F(x) that grows no faster than x^n
    (log(1 + x²) with n = 2, x/(1 + x²) with n = 1, (1 - x²)/(1 + x²)² with n = 0): the
    Cauchy loss c²/2·log(1 + (r/c)²) and its derivatives. As written, a tiny c makes c²
    underflow where r/c overflows (0·∞) and a huge c makes c² overflow where (r/c)²
    underflows (∞·0), though the product is finite (≈ r² near 0), and 1 - (r/c)² carries
    the rounding of r/c where it cancels; the forms of `scaled_log1p_square`,
    `scaled_lorentz_ratio` and `scaled_lorentz_slope` avoid those intermediates."""

    def split(mul: sp.Mul):
        for f in mul.args:
            if type(f) not in _SCALED:
                continue
            n, form = _SCALED[type(f)]
            u, v = f.args[0].as_numer_denom()
            if v.is_number or u.is_number:
                continue
            power = sp.S.Zero
            for g in mul.args:
                if g == v:
                    power += 1
                elif g.is_Pow and g.base == v and g.exp.is_Integer:
                    power += g.exp
            if power >= n:
                return f, n, form, u, v
        return None

    def rewrite(mul: sp.Mul) -> sp.Expr:
        found = split(mul)
        if found is None:
            return mul
        f, n, form, u, v = found
        rest = mul / (f * v**n)
        return rest * form(u, v)

    def bare(f: sp.Expr) -> sp.Expr:  # n = 0: no factor to take in
        u, v = f.args[0].as_numer_denom()
        return f if v.is_number or u.is_number else _SCALED[type(f)][1](u, v)

    expr = expr.replace(lambda e: e.is_Mul and split(e) is not None, rewrite)
    unscaled = tuple(F for F, (n, _) in _SCALED.items() if n == 0)
    return expr.replace(lambda e: isinstance(e, unscaled), bare)


def power_forms(expr: sp.Expr) -> sp.Expr:
    """exp(k·log(1 + x²)) → |x|^{2k}·exp(k·log1p(x⁻²)) beyond |x| = 1 (and expm1 of it, minus
    1, where the power is outside [1/2, 2]): e^y carries the rounding of y amplified by |y|
    (about 200 ULP at y = -192, Barron's gradient at α = -5.7, r = 1e15), a power only that of
    x, by |2k|, and exp of the small rest."""

    def split(e: sp.Expr):
        k, f = e.args[0].as_independent(log1p_square, as_Add=False)
        if not isinstance(f, log1p_square):
            return None
        x = f.args[0]
        hx = x if x.is_Atom else held(x)
        # |u/(v·√w)|^{2k} as |u/v|^{2k}·w^{-k}: a radical in x's denominator is not rounded
        # first and then raised to 2k (which amplifies its rounding by |2k|)
        num, den = x.as_numer_denom()
        radicals = [g for g in sp.Mul.make_args(den) if g.is_Pow and not g.exp.is_Integer]
        if radicals and not x.is_Atom:
            rest = held(num / (den / sp.Mul(*radicals)))
            roots = [sp.Pow(g.base, -2 * k * g.exp) for g in radicals]
            power = sp.Mul(sp.Abs(rest) ** (2 * k), *roots)
        else:
            power = sp.Abs(hx) ** (2 * k)
        return k, hx, power * sp.exp(k * log1p(hx**-2))

    def power(e: sp.exp) -> sp.Expr:
        found = split(e)
        if found is None:
            return e
        _, hx, p = found
        return _select((e, sp.LessThan(sp.Abs(hx), 1)), (p, True))

    def power_minus_one(e: expm1) -> sp.Expr:
        found = split(e)
        if found is None:
            return e
        k, hx, p = found
        # |k·log(1 + x²)| < log 2, through log1p(x²): finite at x = 0, where log|x| is not
        near = sp.StrictLessThan(sp.Abs(k) * log1p(hx**2), sp.log(2))
        small = sp.Or(sp.LessThan(sp.Abs(hx), 1), near)
        return _select((e, small), (p - 1, True))

    expr = expr.replace(lambda e: isinstance(e, expm1) and split(e) is not None, power_minus_one)
    return expr.replace(lambda e: isinstance(e, sp.exp) and split(e) is not None, power)


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
        return f"select(({q} > {zero}) & (abs({f}) == math.inf), {f}, {power}*{f})"

    def _latex(self, printer, exp=None):
        return printer._print(self.rewrite(sp.Mul))


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
        product = "*".join([f, *(f"({printer._print(k)})" for k in factors)])
        return f"select(({zeros}) & ({f} == {f}), {zero}, {product})"

    def _eval_rewrite_as_Mul(self, f, _, factors, tests, **kwargs):
        return f * sp.Mul(*factors)

    def _eval_rewrite_as_math(self, f, _, factors, tests, **kwargs):
        return f * sp.Mul(*factors)


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


def stable_primitives(expr: sp.Expr) -> sp.Expr:
    """Replace each primitive by its stable computational form (inner ones first)."""
    return expr.rewrite("stable")


def c99_functions(expr: sp.Expr) -> sp.Expr:
    """log(1 + u) → log1p(u), k·e^u - k → k·expm1(u) (1 - e^u → -expm1(u) too) and
    k·e^u - k·e^{2u} → -k·e^u·expm1(u) (`exp_square_differences`), by exact pattern only.

    (sympy.codegen.rewriting's log1p_opt and expm1_opt factor and expand their input, which
    turns β·y + (1 - β)(1 - y) into 2βy - β - y + 1 and loses every digit when β = 1; and
    expm1_opt does not match 1 - e^u, the form Welsch's loss is written in.)
    """

    def log1p_of(e: sp.log) -> sp.Expr:
        return log1p(e.args[0] - 1)

    def expm1_pair(add: sp.Add):
        """(term k·e^u, term -k) of the sum, the first such pair in a fixed order, or None."""
        terms = sorted(add.args, key=sp.default_sort_key)
        for t in terms:
            k, e = t.as_independent(sp.exp, as_Add=False)
            if isinstance(e, sp.exp) and -k in terms:
                return t, -k
        return None

    def expm1_of(add: sp.Add) -> sp.Expr:
        t, minus_k = expm1_pair(add)
        k, e = t.as_independent(sp.exp, as_Add=False)
        rest = list(add.args)
        rest.remove(t)
        rest.remove(minus_k)
        return sp.Add(k * expm1(e.args[0]), *rest)

    expr = expr.replace(
        lambda e: isinstance(e, sp.log) and e.args[0].is_Add and sp.S.One in e.args[0].args,
        log1p_of,
    )
    expr = expr.replace(lambda e: e.is_Add and expm1_pair(e) is not None, expm1_of)
    return exp_square_differences(expr)


def _select(*pairs) -> sp.Piecewise:
    return sp.Piecewise(*pairs, evaluate=False)


def _max(*args) -> sp.Expr:
    out = args[0]
    for b in args[1:]:
        out = _select((out, sp.GreaterThan(out, b, evaluate=False)), (b, True))
    return out


def _min(*args) -> sp.Expr:
    out = args[0]
    for b in args[1:]:
        out = _select((out, sp.LessThan(out, b, evaluate=False)), (b, True))
    return out


def _heaviside(x, h0=sp.S.Zero) -> sp.Expr:
    if h0 == 0:
        return _select((sp.S.One, sp.StrictGreaterThan(x, 0)), (sp.S.Zero, True))
    return _select((sp.S.One, sp.StrictGreaterThan(x, 0)), (h0, sp.Eq(x, 0)), (sp.S.Zero, True))


def _sign(x) -> sp.Expr:
    return _select(
        (sp.S.One, sp.StrictGreaterThan(x, 0)),
        (sp.S.NegativeOne, sp.StrictLessThan(x, 0)),
        (sp.S.Zero, True),
    )


def piecewise_forms(expr: sp.Expr) -> sp.Expr:
    """Max, Min, Heaviside and sign as Piecewise, which the printer emits branch-free.

    Node by node, leaving the arguments alone: SymPy's own rewrite(Piecewise) splits cases
    through the arguments (|x| → x under x ≥ 0) and so produces exp(x) where exp(-|x|) stood.
    """
    return expr.replace(  # bottom-up: arguments are converted before the node that holds them
        lambda e: type(e) in _FORMS, _piecewise_form
    )


_FORMS = {sp.Max: _max, sp.Min: _min, sp.Heaviside: _heaviside, sp.sign: _sign}


@lru_cache(maxsize=4096)
def _piecewise_form(e: sp.Expr) -> sp.Expr:
    """One node as Piecewise, remembered: the same Max(0, x) recurs across the value and its
    derivatives, and building a Piecewise is SymPy's slowest step here."""
    return _FORMS[type(e)](*e.args)


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


def branch_quotients(expr: sp.Expr) -> sp.Expr:
    """u·Piecewise((1/a, c), (1/b, True)) → Piecewise((u/a, c), (u/b, True)) for a component or
    symbol u: one rounding, not two (u·fl(1/a) is not 1 at u = a, so cosine_distance's
    ½Σ(x/‖x‖ - y/‖y‖)² was 6e-33, not 0, at x = (1.8e307, 0, …), y = (1, 0, …))."""

    def reciprocal(v: sp.Expr) -> bool:
        return v is sp.nan or (v.is_Pow and v.exp == -1)

    def rewrite(mul: sp.Mul) -> sp.Expr:
        pws = [f for f in mul.args if isinstance(f, sp.Piecewise)]
        atoms = [f for f in mul.args if isinstance(f, (sp.Indexed, sp.Symbol))]
        if len(pws) != 1 or len(atoms) != 1 or not all(reciprocal(v) for v, _ in pws[0].args):
            return mul
        (pw,), (u,) = pws, atoms
        rest = [f for f in mul.args if f is not pw and f is not u]
        branches = [(v if v is sp.nan else quotient(u, v.base), cond) for v, cond in pw.args]
        return sp.Mul(_select(*branches), *rest)

    return expr.replace(lambda e: e.is_Mul, rewrite)


def indicator_products(expr: sp.Expr) -> sp.Expr:
    """[c]·B → Piecewise((B, c), (0, True)) for a Piecewise whose values are 0 and 1: B is not
    evaluated where c fails, so a B that is infinite there (1/‖x‖ at x = 0, behind [‖x‖ > ε])
    gives 0, not 0·∞ = NaN."""

    def is_indicator(e: sp.Expr) -> bool:
        return isinstance(e, sp.Piecewise) and all(v in (0, 1) for v, _ in e.args)

    def fold(mul: sp.Mul) -> sp.Expr:
        (indicator, *_) = [f for f in mul.args if is_indicator(f)]
        rest = mul.func(*(f for f in mul.args if f is not indicator))
        return sp.Piecewise(*((rest if v == 1 else sp.S.Zero, c) for v, c in indicator.args))

    for _ in range(8):  # a branch may hold another indicator product
        folded = expr.replace(lambda e: e.is_Mul and any(map(is_indicator, e.args)), fold)
        if folded == expr:
            break
        expr = folded
    return expr


def nan_guards(expr: sp.Expr, data: frozenset) -> sp.Expr:
    """Piecewise((a, c), …) → Piecewise((nan, nan_in(operands of c)), (a, c), …).

    A comparison with NaN is False, so without the guard a NaN input would select a branch and
    could return a finite number (a Hessian of 0, say). ``data``: the per-element symbols. A
    `held` quantity (cos θ = f/(‖x‖‖W‖)) is guarded by the data it is computed from: it may be
    0/0 where an enclosing branch does not use it, and NaN only in the data counts.
    """

    def data_of(operand: sp.Expr) -> list:
        if isinstance(operand, held):
            vectors = [a for a in operand.atoms(sp.Indexed) if a.base.label in data]
            labels = {a.base.label for a in vectors}
            return vectors + [a for a in operand.free_symbols & data if a not in labels]
        return [operand]

    def guard(pw: sp.Piecewise) -> sp.Expr:
        operands = []
        for _, cond in pw.args:
            for rel in cond.atoms(sp.core.relational.Relational):
                for s in (rel.lhs, rel.rhs):
                    operands += [a for a in data_of(s) if a.free_symbols & data]
        if not operands:
            return pw
        unique = sorted(set(operands), key=sp.default_sort_key)
        return sp.Piecewise((sp.nan, nan_in(*unique)), *pw.args)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), guard)


def nan_constants(expr: sp.Expr, data: frozenset, covered: frozenset = frozenset()) -> sp.Expr:
    """An output that does not depend on some of the data (the Hessian 2 of MSE, e^x of the
    Poisson loss, which has no target) is still NaN for NaN in those inputs, like every other
    output."""
    if isinstance(expr, sp.Piecewise):  # each branch on its own: the one selected counts
        (first, cond), *_ = expr.args
        if first is sp.nan and isinstance(cond, nan_in):  # a guard (nan_guards) covers these
            covered = covered | (cond.free_symbols & data)
        return sp.Piecewise(*((nan_constants(e, data, covered), c) for e, c in expr.args))
    missing = data - expr.free_symbols - covered
    if not missing or expr is sp.nan:
        return expr
    return sp.Piecewise((sp.nan, nan_in(*sorted(missing, key=sp.default_sort_key))), (expr, True))


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


def lower(
    expr: sp.Expr,
    ranges: Ranges,
    data: frozenset,
    centres: Mapping = _EMPTY,
    varying: frozenset = frozenset(),
    nonzero: frozenset = frozenset(),
) -> sp.Expr:
    """Run the passes in order (call under ``distribute(False)``, see `factor_sums`).
    ``centres``: parameter symbols → their default values (see `exact_constant`);
    ``varying``: the differentiable inputs (the rest is exact data)."""
    expr = factor_sums(expr)  # common factors out of sums
    expr = logspace_products(expr, ranges)  # no inf·0 where factors underflow
    expr = sigmoid_differences(expr, ranges, centres)  # σ(u) - y' near u = 0 through tanh(u/2)
    expr = exp_differences(expr, ranges, centres)  # e^u - y near u = 0 through expm1(u)
    expr = overflow_differences(expr, ranges)  # no inf - inf where e^u - y is -inf
    expr = complement_sums(expr, ranges)  # 1 - y' as (1 - y)(1 - ε) + ε/2
    expr = underflow_products(expr, ranges)  # no inf·0 where P·e^u is finite
    expr = lorentz_combinations(expr)  # k·ρ'² + ρ'' as one fraction
    expr = blend_powers(expr)  # … times (1 + x²)^k, with one power less on each side
    expr = scaled_quotients(expr)  # v²·log1p_square(u/v) without v² or u/v
    expr = power_forms(expr)  # (1 + x²)^k as |x|^{2k}·(1 + x⁻²)^k for large |x|
    expr = power_limits(expr, ranges)  # q^γ·F = F where F = ±∞, also where q^γ underflows
    expr = data_coefficient_limits(expr, ranges, varying, nonzero)  # k·F = 0 at k = 0, F = ±∞
    expr = stable_primitives(expr)  # softplus, σ, log σ, log cosh, logaddexp
    expr = c99_functions(expr)  # log1p / expm1 where plain log / exp lose digits
    expr = exponent_terms(expr)  # a log-space product's exponent as terms, summed exactly
    expr = piecewise_forms(expr)  # Max/Min/Heaviside/sign → Piecewise
    expr = nan_guards(expr, data)  # NaN in → NaN out through every branch
    return nan_constants(expr, data)  # … and through outputs that ignore the data


# -- the class axis -------------------------------------------------------------------------


class Reduction:
    """A per-row quantity over the class axis: ``kind`` "sum" (Σ_c body), "norm" (√Σ_c body,
    accumulated from float64 terms and kept in float64, so that a float32 Σx² beyond float32's
    range, or ‖x‖³ in a gradient, stays finite; in a float64 kernel a norm of u² sums
    (u·2^-e)², see codegen's `_norm_form`, and `norm_quotients` keeps ‖x‖^k out of gradients)
    or "logsumexp"
    (log Σ_c exp(body), computed as m + log1p(Σ_{c≠k} exp(body_c - m)) with m = body_k the
    largest term, which is exact in the limit where one class dominates). ``exclude``: a
    class (the label) the log-sum-exp leaves out, as in 1 - p_y = Σ_{c≠y} p_c."""

    def __init__(self, symbol: sp.Symbol, kind: str, body: sp.Expr, index: sp.Symbol, exclude=None):
        self.symbol, self.kind, self.body, self.index = symbol, kind, body, index
        self.exclude = exclude  # a class the reduction leaves out (c ≠ y), or None

    @property
    def outputs(self) -> tuple[sp.Symbol, ...]:
        """The symbols the kernel defines: r_k, (lse_k_max, lse_k_log1p) of a log-sum-exp, or
        (mx_k, mx_k_arg) of a maximum and the first class attaining it."""
        if self.kind == "logsumexp":
            return tuple(sp.Symbol(f"{self.symbol}_{part}", real=True) for part in ("max", "log1p"))
        if self.kind == "max":
            return (self.symbol, argmax_symbol(self.symbol))
        return (self.symbol,)

    def __repr__(self) -> str:
        return f"Reduction({self.symbol} = {self.kind}_{self.index} {self.body})"


def argmax_symbol(symbol: sp.Symbol) -> sp.Symbol:
    """The class index that attains the maximum ``symbol`` (the first one, on ties)."""
    return sp.Symbol(f"{symbol}_arg", integer=True)


def _excluding(body: sp.Expr, index: sp.Symbol):
    """(y, exp(b)) when ``body`` is Piecewise((0, Eq(c, y)), (exp(b), True)), else None."""
    if not isinstance(body, sp.Piecewise) or len(body.args) != 2:
        return None
    (zero, cond), (inner, last) = body.args
    if zero != 0 or last is not sp.true or not isinstance(inner, sp.exp):
        return None
    if isinstance(cond, sp.Eq) and index in cond.args:
        (label,) = [a for a in cond.args if a != index]
        return label, inner
    return None


def row_reductions(exprs: list[sp.Expr]) -> tuple[list[Reduction], list[sp.Expr]]:
    """Replace every sum over the class axis by a per-row symbol, innermost first.

    log Σ_c exp(b) → lse_k; Σ_c exp(b) → exp(lse_k) (so softmax e^{z_j}/Σ e^{z_c} becomes
    exp(z_j - lse), which cannot overflow); (Σ_c b)^{k/2} → nrm_k^k (a norm, k odd); any other
    Σ_c b → r_k. Equal sums share a symbol.
    """
    reductions: list[Reduction] = []
    by_key: dict = {}

    def symbol_for(kind: str, body: sp.Expr, index: sp.Symbol, exclude=None) -> sp.Symbol:
        key = (kind, body, exclude)
        if key not in by_key:
            name = {"logsumexp": "lse", "max": "mx", "norm": "nrm"}.get(kind, "r")
            count = sum(r.kind == kind for r in reductions)
            by_key[key] = sp.Symbol(f"{name}{count}", real=True)
            reductions.append(Reduction(by_key[key], kind, body, index, exclude))
        return by_key[key]

    def innermost(e: sp.Expr) -> bool:
        return isinstance(e, sp.Sum) and not e.function.has(sp.Sum)

    def replace(e: sp.Expr) -> sp.Expr:
        (index, *_), *_ = e.limits
        body = e.function
        if isinstance(body, sp.exp):
            return sp.exp(symbol_for("logsumexp", body.args[0], index))
        excluded = _excluding(body, index)
        if excluded is not None:  # Σ_{c≠y} exp(b): a log-sum-exp that skips class y
            label, inner = excluded
            return sp.exp(symbol_for("logsumexp", inner.args[0], index, label))
        return symbol_for("sum", body, index)

    def is_norm(e: sp.Expr) -> bool:  # (Σ_c b)^{k/2}, k odd
        return (
            isinstance(e, sp.Pow)
            and innermost(e.base)
            and e.exp.is_Rational
            and e.exp.q == 2
            and not isinstance(e.base.function, sp.exp)
        )

    def norm(e: sp.Pow) -> sp.Expr:
        (index, *_), *_ = e.base.limits
        return symbol_for("norm", e.base.function, index) ** (2 * e.exp)

    def maximum(e: sp.Expr) -> sp.Expr:  # max_c body → mx_k, its first maximiser → mx_k_arg
        symbol = symbol_for("max", e.args[0], c)
        return symbol if isinstance(e, class_max) else argmax_symbol(symbol)

    out = list(exprs)
    while any(e.has(sp.Sum, class_max, class_argmax) for e in out):
        out = [e.replace(lambda e: isinstance(e, (class_max, class_argmax)), maximum) for e in out]
        out = [e.replace(is_norm, norm) for e in out]
        out = [e.replace(innermost, replace) for e in out]
    # log(exp(lse)) → lse and exp(z)·exp(-lse) → exp(z - lse), also inside Piecewise branches
    out = [_combine_exp(sp.expand_log(e, force=True)) for e in out]
    return reductions, out


def clamped_maxima(expr: sp.Expr) -> sp.Expr:
    """H(a - b)·Max(a, b)^k → H(a - b)·a^k: where the step is not 0, a ≥ b (the derivative of
    1/max(‖x‖, ε) is -H(‖x‖ - ε)/‖x‖²·∂‖x‖, so that `norm_quotients` sees the norm's powers)."""

    def rewrite(mul: sp.Mul) -> sp.Expr:
        steps = [f.args[0] for f in mul.args if isinstance(f, sp.Heaviside)]
        if not steps:
            return mul

        def chosen(m: sp.Expr) -> bool:
            return isinstance(m, sp.Max) and len(m.args) == 2

        def pick(m: sp.Max) -> sp.Expr:
            a, b = m.args
            for x, other in ((a, b), (b, a)):
                if any(sp.expand(s - (x - other)) == 0 for s in steps):
                    return x
            return m

        factors = [f if isinstance(f, sp.Heaviside) else f.replace(chosen, pick) for f in mul.args]
        return sp.Mul(*factors)

    return expr.replace(lambda e: e.is_Mul, rewrite)


def norm_quotients(expr: sp.Expr, reductions: list[Reduction]) -> sp.Expr:
    """u_j·r·‖u‖^{-k} (k ≥ 2) → held(u_j/‖u‖)·held(r/‖u‖)·‖u‖^{2-k}: each factor that grows like
    the norm (a component u_j, or a row sum Σ_c b·u_c) is divided by it first, so that no
    ‖u‖^{-k} is formed, which over- or underflows where ‖u‖ is beyond √max or below √tiny
    (cosine_distance's gradient at rows of 1e300) although the product is ordinary."""
    norms = {}
    for r in reductions:
        body = r.body
        if r.kind == "norm" and body.is_Pow and body.exp == 2 and isinstance(body.base, sp.Indexed):
            norms[r.symbol] = body.base.base
    linear = {  # sum symbol → the vector whose component c multiplies its body
        r.symbol: f.base
        for r in reductions
        if r.kind == "sum"
        for f in sp.Mul.make_args(r.body)
        if isinstance(f, sp.Indexed) and f.indices == (r.index,)
    }
    if not norms:
        return expr

    def rewrite(mul: sp.Mul) -> sp.Expr:
        factors = list(mul.args)
        for k, f in enumerate(factors):
            if not (f.is_Pow and f.base in norms and f.exp.is_Integer and f.exp <= -2):
                continue
            nrm, vector, power = f.base, norms[f.base], -int(f.exp)
            held_parts = []
            for m, g in enumerate(factors):
                if power < 2:
                    break
                grows = (isinstance(g, sp.Indexed) and g.base == vector) or linear.get(g) == vector
                if m != k and grows:
                    held_parts.append(m)
                    factors[m] = held(g / nrm)
                    power -= 1
            if held_parts:
                factors[k] = nrm ** (-power)
                return sp.Mul(*factors)
        return mul

    return expr.replace(lambda e: e.is_Mul, rewrite)


def _combine_exp(expr: sp.Expr) -> sp.Expr:
    """exp(a)·exp(b) → exp(a + b) at any depth (inside powers of sums too), also where the
    exponentials multiply a Piecewise whose branches are 0 or exponentials (the factors move
    into the branches)."""

    def fold(mul: sp.Mul) -> sp.Expr:
        pws = [f for f in mul.args if isinstance(f, sp.Piecewise)]
        exps = [f for f in mul.args if isinstance(f, sp.exp)]
        if len(pws) != 1 or not exps:
            return mul
        (pw,) = pws
        if not all(v == 0 or isinstance(v, sp.exp) for v, _ in pw.args):
            return mul
        rest = [f for f in mul.args if f is not pw and not isinstance(f, sp.exp)]
        factor = sp.Mul(*exps)
        inner = sp.Piecewise(*((sp.powsimp(v * factor, combine="exp"), c) for v, c in pw.args))
        return sp.Mul(inner, *rest)

    return sp.powsimp(expr, deep=True, combine="exp").replace(lambda e: e.is_Mul, fold)


def masked_softmax_differences(expr: sp.Expr, reductions: list) -> sp.Expr:
    """[j ≠ y]·e^{a - L'} - e^{a - L} → e^{a + b_y - L' - L} where j ≠ y (and -e^{a - L}
    where j = y), with L' = log Σ_{c≠y} e^{b_c} and L = log Σ_c e^{b_c}: since
    1/Σ_{c≠y} - 1/Σ_c = e^{b_y}/(Σ_{c≠y}·Σ_c), the difference needs no subtraction, which
    would cancel when class y is unlikely (the focal loss's gradient)."""
    full = {
        (r.body, r.index): r.symbol
        for r in reductions
        if r.kind == "logsumexp" and r.exclude is None
    }
    masked = {
        r.symbol: (r.exclude, r.body.subs(r.index, r.exclude), full.get((r.body, r.index)))
        for r in reductions
        if r.kind == "logsumexp" and r.exclude is not None
    }

    def rewrite(add: sp.Add) -> sp.Expr:
        for pw in [t for t in add.args if isinstance(t, sp.Piecewise) and len(t.args) == 2]:
            (zero, cond), (e1, last) = pw.args
            if zero != 0 or last is not sp.true or not isinstance(e1, sp.exp):
                continue
            for lse_m, (label, b_y, lse_f) in masked.items():
                a = e1.args[0] + lse_m
                if lse_f is None or a.has(lse_m) or label not in cond.args:
                    continue
                partner = -sp.exp(a - lse_f)
                if partner in add.args:
                    exact = sp.exp(a + b_y - lse_m - lse_f)
                    chosen = sp.Piecewise((partner, cond), (exact, True))
                    rest = [t for t in add.args if t is not pw and t != partner]
                    return sp.Add(chosen, *rest)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


class ordered_add(sp.Function):
    """a + b, computed as written: a first. Keeps m - z of a max shift exact before the small
    log1p term of a log-sum-exp is added (m + log1p(s) - z would round the large sum first)."""

    nargs = 2

    def _numbacode(self, printer):
        a, b = self.args
        return f"({printer._print(a)} + {printer._print(b)})"

    def _eval_rewrite_as_Add(self, a, b, **kwargs):
        return a + b


def split_logsumexp(exprs: list[sp.Expr], reductions: list[Reduction]) -> list[sp.Expr]:
    """lse_k → (lse_k_max + lse_k_log1p) grouped so that the max meets the data first:
    (m - z_y) + log1p(s) for the value, exp((z_j - m) - log1p(s)) for the softmax."""
    pairs = {r.symbol: r.outputs for r in reductions if r.kind == "logsumexp"}

    def group(add: sp.Expr) -> sp.Expr:
        if not add.is_Add:
            return add
        for m, lg in pairs.values():
            coeff_m, coeff_l = add.coeff(m), add.coeff(lg)
            if coeff_m != 0 and coeff_m == coeff_l:
                return ordered_add(group(add - coeff_l * lg), coeff_l * lg)
        return add

    split = {lse: m + lg for lse, (m, lg) in pairs.items()}
    return [e.xreplace(split).replace(lambda x: x.is_Add, group) for e in exprs]


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
        return f"select((({k}) == {zero}) & ({f} == {f}), {zero}, ({k})*{f})"

    def _eval_rewrite_as_Mul(self, k, f, _, **kwargs):
        return k * f

    def _eval_rewrite_as_math(self, k, f, _, **kwargs):
        return k * f


def unbounded_reductions(reductions: list[Reduction]) -> set:
    """The row symbols that are infinite at infinite logits outside an exponential: the two
    parts of every log-sum-exp (log Σ e^{z_c} = -∞ for an empty or all -∞ sum, +∞ at a +∞
    logit) and the sums over classes whose terms hold one (Σ_c w_c·(-log p_c))."""
    unbounded: set = set()
    for r in reductions:  # innermost first: a sum's body sees the reductions before it
        if r.kind == "logsumexp":
            unbounded |= {r.symbol, *r.outputs}
        elif r.kind == "sum" and holds_unbounded(r.body, unbounded):
            unbounded.add(r.symbol)
    return unbounded


def holds_unbounded(expr: sp.Expr, unbounded: set) -> bool:
    """Whether ``expr`` uses one of ``unbounded`` outside the argument of an exponential (inside
    one, -∞ gives a probability 0: bounded; so in a sigmoid)."""
    if isinstance(expr, (sp.exp, expm1, sigmoid)):
        return False
    if expr in unbounded:
        return True
    return any(holds_unbounded(a, unbounded) for a in expr.args)


def zero_coefficient_products(expr: sp.Expr, unbounded: set, varying: set) -> sp.Expr:
    """k·F → limit_mul(k, F) where F may be infinite (`holds_unbounded`) and the coefficient k
    is exact data: no symbol of ``varying`` (the differentiable inputs and every per-row
    reduction) and not a plain number. Cross entropy with label smoothing 0 (0·Σ_c w_c(-log
    p_c)), a probability target 0 at a class of logit -∞ (0·(-log p_c)) and the focal
    loss's γ = 0 in q^γ = exp(γ·log q) with q = 0 are then their limits, not NaN."""

    def is_data(f: sp.Expr) -> bool:
        names = {a.base.label if isinstance(a, sp.Indexed) else a for a in f.atoms(sp.Indexed)}
        return not (f.free_symbols | names) & varying

    def wrap(mul: sp.Mul) -> sp.Expr:
        k = [f for f in mul.args if is_data(f)]
        rest = [f for f in mul.args if not is_data(f)]
        coeff = sp.Mul(*k)
        if not rest or coeff.is_number or not holds_unbounded(sp.Mul(*rest), unbounded):
            return mul
        return limit_mul(coeff, sp.Mul(*rest), sp.Mul(*rest))

    return expr.replace(lambda e: e.is_Mul, wrap)


class minus_infinity(BooleanFunction):
    """True where the argument is -∞ (SymPy would decide Eq(x, -oo) False for a real x)."""

    nargs = 1

    def _numbacode(self, printer):
        return f"({printer._print(self.args[0])} == -math.inf)"


def absent_classes(expr: sp.Expr, reductions: list[Reduction], component: sp.Expr) -> sp.Expr:
    """e^{k·z_j - k·L'} → 0 where z_j = -∞ (k > 0), L' = log Σ_{c≠y} e^{z_c} a log-sum-exp
    that leaves the label out: the ratio (e^{z_j}/Σ_{c≠y} e^{z_c})^k of a class of logit -∞ is
    0, also where every class but the label is -∞ and the sum is 0 too (e^{-∞ + ∞} = NaN
    otherwise). The class is then absent, as for any other sum over the classes; the focal
    loss multiplies these ratios by (1 - p_y)^γ = 0 there. ``component``: the logit z_j."""
    masked = [r.outputs[0] for r in reductions if r.kind == "logsumexp" and r.exclude is not None]
    if not masked:
        return expr

    def plain(e: sp.Expr) -> sp.Expr:
        return sp.expand(e.replace(ordered_add, lambda a, b: a + b))

    def is_ratio(e: sp.Expr) -> bool:
        if not isinstance(e, sp.exp):
            return False
        u = plain(e.args[0])
        k = u.coeff(component)
        return k.is_positive is True and any(u.coeff(m) == -k for m in masked)

    def guard(e: sp.exp) -> sp.Expr:
        return sp.Piecewise((sp.S.Zero, minus_infinity(component)), (e, True), evaluate=False)

    return expr.replace(is_ratio, guard)


def softmax_complements(expr: sp.Expr, reductions: list[Reduction]) -> sp.Expr:
    """p·R + T → p·(R + T) - T·expm1(u), p = exp(u) a softmax and R a per-row sum.

    The gradient of a cross entropy against a distribution, p_j·Σ_c t_c - t_j, cancels when
    p_j → 1 and t is concentrated on j; written as p_j·Σ_{c≠j} t_c + t_j·(p_j - 1), with
    p_j - 1 = expm1(u), it keeps its digits (R + T is then the exact difference of the sum
    and its own j-th term)."""
    sums = {r.symbol for r in reductions if r.kind == "sum"}

    def rewrite(add: sp.Add) -> sp.Expr:
        if len(add.args) != 2:
            return add
        for p_r, t in (add.args, add.args[::-1]):
            factors = sp.Mul.make_args(p_r)
            exps = [f for f in factors if isinstance(f, sp.exp)]
            rs = [f for f in factors if f in sums]
            if len(factors) == 2 and len(exps) == 1 and len(rs) == 1 and not t.has(sp.exp):
                (p,), (r,) = exps, rs
                return p * sp.Add(r, t, evaluate=False) - t * expm1(p.args[0])
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def component_differences(expr: sp.Expr) -> sp.Expr:
    """v[a] - v[b] + rest → ordered_add(v[a] - v[b], rest): the difference of two components
    of one vector is formed first, exactly when they are close, and is exactly 0 when a = b
    (m - s_y + s_c would round m away when s_y is large, even at c = y)."""

    def rewrite(add: sp.Add) -> sp.Expr:
        if isinstance(add, ordered_add):
            return add
        plus = [t for t in add.args if isinstance(t, sp.Indexed)]
        minus = [
            -t for t in add.args if isinstance(-t, sp.Indexed) and not isinstance(t, sp.Indexed)
        ]
        for a in plus:
            for b in minus:
                if a.base == b.base and len(add.args) > 2:
                    rest = add - a + b
                    return ordered_add(sp.Add(a, -b, evaluate=False), rest)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def one_hot_differences(expr: sp.Expr, label: sp.Symbol, component: sp.Symbol) -> sp.Expr:
    """exp(u) - δ_{j,y} → expm1(u) where j = y, else exp(u): softmax minus one-hot without
    the cancellation of p_y - 1 when p_y is close to 1."""

    def rewrite(add: sp.Add) -> sp.Expr:
        delta = sp.KroneckerDelta(component, label)
        for sign in (1, -1):  # exp(u) - δ, or δ - exp(u)
            if -sign * delta not in add.args:
                continue
            exps = [t for t in add.args if isinstance(sign * t, sp.exp)]
            if len(exps) != 1:
                return add
            (e,) = exps
            rest = [t for t in add.args if t is not e and t != -sign * delta]
            u = (sign * e).args[0]
            chosen = sp.Piecewise(
                (expm1(u), sp.Eq(component, label)), (sp.exp(u), True), evaluate=False
            )
            return sp.Add(sign * chosen, *rest)
        return add

    return expr.replace(lambda e: e.is_Add, rewrite)


def exp_square_differences(expr: sp.Expr) -> sp.Expr:
    """k·e^u - k·e^{2u} → -k·e^u·expm1(u): p - p² = p(1 - p) for p = e^u ≤ 1 (a softmax
    probability), which keeps its digits where p rounds to 1 (the Hessian diagonal of a
    softmax loss)."""

    def plain(e: sp.Expr) -> sp.Expr:
        return e.replace(ordered_add, lambda *a: sp.Add(*a))

    def pair(add: sp.Add) -> sp.Expr:
        terms = list(add.args)
        for t in terms:
            k, e = t.as_independent(sp.exp, as_Add=False)
            if not isinstance(e, sp.exp):
                continue
            u = e.args[0]
            for s in terms:
                k2, e2 = s.as_independent(sp.exp, as_Add=False)
                twice = isinstance(e2, sp.exp) and sp.expand(plain(e2.args[0] - 2 * u)) == 0
                if twice and k2 == -k:
                    terms.remove(t)
                    terms.remove(s)
                    return pair(sp.Add(*terms, -k * e * expm1(u)))
        return add

    return expr.replace(lambda e: e.is_Add, pair)


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
                out = f"vmath.dd_add({out}, {code(a)})"
            return out
        if isinstance(e, held):
            return code(e.args[0])
        if isinstance(e, sp.Mul):
            num, den = e.as_numer_denom()
            if den.free_symbols:  # a quotient of inputs (a number's inverse stays a factor)
                return f"vmath.dd_div({code(num)}, {code(den)})"
            coeff, rest = e.as_coeff_Mul()
            if coeff == -1:
                return f"vmath.dd_neg({code(rest)})"
            out = code(e.args[0])
            for a in e.args[1:]:
                out = f"vmath.dd_mul({out}, {code(a)})"
            return out
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp < 0:
            return f"vmath.dd_div((1.0, 0.0), {code(e.base**-e.exp)})"
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            base = code(e.base)
            out = base
            for _ in range(int(e.exp) - 1):
                out = f"vmath.dd_mul({out}, {base})"
            return out
        return f"vmath.dd({printer.doprint(e)})"

    return code(expr)
