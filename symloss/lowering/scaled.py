"""Quotients by a scale and powers of 1 + x² (the Cauchy, Barron and Lorentz forms): computed
without the intermediates that over- or underflow (v², u/v, x², (1 + x²)^k) where the result
does not."""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..definition.primitives import held, log1p_square, lorentz_ratio, lorentz_slope
from .branches import _select
from .nodes import is_finite


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
