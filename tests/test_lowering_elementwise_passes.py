"""The elementwise lowering passes one by one: each keeps the value (its input and output agree
in mpmath at 50 digits, the lowering's nodes read as what they mean) and has the form it exists
for, and in float64 (or float32) the form it writes keeps digits the form it replaces loses.

(Passes with a test of their own in test_lowering.py are not repeated here.)
"""

import math
import types
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.core.parameters import distribute
from sympy.printing.pycode import MpmathPrinter

import symloss.lowering as L
from symloss.backends.numba.printer import NumbaPrinter
from symloss.definition.primitives import (
    held,
    log1p_square,
    log_cosh,
    log_sigmoid,
    logaddexp,
    logaddexp_form,
    lorentz_ratio,
    lorentz_slope,
    margin_intercept,
    margin_psi,
    sigmoid,
    softplus,
)

x, t, y, g, k, m, a, b, w = sp.symbols("x t y gamma k m a b w", real=True)


@pytest.fixture(autouse=True)
def _fifty_digits():
    with mpmath.workdps(50):
        yield


# -- what the lowering's nodes mean, in mpmath ---------------------------------------------


def meaning(expr: sp.Expr) -> sp.Expr:
    """``expr`` with each of the lowering's nodes as the value it stands for: a double-double
    numerator as its expression, logaddexp_form as the Piecewise kernels compute, an ordered
    sum as a sum, |·| as Abs, the rest by their own rewrite("math") (held, exact_sum,
    exp_of_sum, the scaled and Lorentz forms, zero_factor_mul, quotient, the primitives)."""
    e = expr.replace(lambda n: isinstance(n, L.exact_numerator), lambda n: n.numerator)
    e = e.replace(lambda n: isinstance(n, logaddexp_form), lambda n: n.rewrite(sp.Piecewise))
    e = e.replace(lambda n: isinstance(n, L.ordered_add), lambda n: sp.Add(*n.args))
    e = e.replace(lambda n: isinstance(n, L.power_times), lambda n: n.args[1] * n.args[2])
    e = e.replace(lambda n: isinstance(n, L.magnitude), lambda n: sp.Abs(n.args[0]))
    return e.rewrite("math")


class _Mpmath(MpmathPrinter):
    """mpmath code, with the lowering's floating-point tests read in extended arithmetic."""

    def _each(self, e, template, joiner=" and "):
        return "(" + joiner.join(template.format(self._print(v)) for v in e.args) + ")"

    def _print_is_finite(self, e):
        return self._each(e, "mpmath.isfinite({})")

    def _print_is_positive(self, e):
        return self._each(e, "({} > 0)")

    def _print_is_minus_inf(self, e):
        return self._each(e, "({} == -mpmath.inf)")

    def _print_nan_in(self, e):
        return self._each(e, "mpmath.isnan({})", " or ")


def exact(expr: sp.Expr, *args):
    """The meaning of ``expr`` as an mpmath function of ``args`` (floats are taken exactly)."""
    f = sp.lambdify(args, meaning(expr), modules=[{"mpmath": mpmath}, "mpmath"], printer=_Mpmath)
    return lambda *v: f(*(mpmath.mpf(u) for u in v))


def assert_same_value(before, after, *args, at, rel=1e-30):
    """``before`` and ``after`` agree in mpmath at each point of ``at``."""
    f, h = exact(before, *args), exact(after, *args)
    for point in at:
        p, q = f(*point), h(*point)
        assert abs(p - q) <= rel * abs(p) or (p == q), (point, p, q)


# -- what a kernel computes: the printed code, evaluated with numpy scalars ----------------

_NP_MATH = types.SimpleNamespace(
    inf=math.inf, nan=math.nan, pi=math.pi, isfinite=np.isfinite, isnan=np.isnan, sqrt=np.sqrt
)
_NP_VMATH = types.SimpleNamespace(
    exp=np.exp, expm1=np.expm1, log=np.log, log1p=np.log1p, tanh=np.tanh
)


def computed(expr: sp.Expr, *args, dtype="float64"):
    """``expr`` as the Numba printer prints it after a CSE (as codegen does), run in numpy
    ``dtype`` scalars: overflow to ±inf and 0·inf = NaN as in a kernel, no Numba compilation
    (vmath's functions are numpy's). The CSE matters: zero_factor_mul, power_times and
    limit_mul print their factor F unparenthesized, right only where F is a temporary."""
    with distribute(False):
        temps, (result,) = sp.cse([expr], symbols=sp.numbered_symbols("_t"), order="canonical")
    printer = NumbaPrinter(dtype)
    body = [f"    {s} = {printer.doprint(e)}" for s, e in temps]
    body.append(f"    return {printer.doprint(result)}")
    source = f"def f({', '.join(v.name for v in args)}):\n" + "\n".join(body)
    scope = {
        "math": _NP_MATH,
        "vmath": _NP_VMATH,
        "float32": np.float32,
        "select": lambda c, p, q: p if c else q,
    }
    exec(source, scope)
    cast = getattr(np, dtype)

    def f(*v):
        with np.errstate(all="ignore"):
            return scope["f"](*(cast(u) for u in v))

    return f


def ulps(got, truth) -> float:
    """|got - truth| in units of the last place of float64 at truth."""
    return float(abs(mpmath.mpf(float(got)) - truth) / mpmath.mpf(np.spacing(abs(float(truth)))))


# -- exp_differences -----------------------------------------------------------------------


def test_exp_differences_take_expm1_near_the_root_and_keep_exp_far_from_it():
    ranges = L.ranges_of({"y": y}, {"y": sp.Interval(0, sp.oo)})
    grad = sp.exp(x) - y  # the Poisson gradient
    with distribute(False):
        out = L.exp_differences(grad, ranges)
        assert L.exp_differences(2 * sp.exp(x) - 2, ranges) == 2 * expm1(x)  # k + c = 0
        assert L.exp_differences(sp.exp(x) + y, ranges) == sp.exp(x) + y  # one sign
    (near, smaller), (far, _) = out.args
    assert near.has(expm1(x)) and (1 - y) in sp.Add.make_args(near) and far == grad
    assert isinstance(smaller, sp.StrictLessThan) and smaller.has(L.magnitude)
    points = [(1e-10, 1.0), (-30.0, 0.0), (0.3, 0.5), (2.0, 1.0), (-1e-8, 1.0 + 2**-40)]
    for branch in (near, far, out):
        assert_same_value(grad, branch, x, y, at=points)
    # in float64 the selected branch is the accurate one, the other loses the digits
    f, f_near, f_far, truth = (
        computed(out, x, y),
        computed(near, x, y),
        computed(far, x, y),
        exact(grad, x, y),
    )
    assert ulps(f(1e-10, 1.0), truth(1e-10, 1.0)) <= 1
    assert ulps(f_far(1e-10, 1.0), truth(1e-10, 1.0)) > 1e5  # e^x rounds to 1 + ε
    assert ulps(f(-30.0, 0.0), truth(-30.0, 0.0)) <= 1
    assert ulps(f_near(-30.0, 0.0), truth(-30.0, 0.0)) > 1e2  # 1 + expm1(-30) rounds e^-30


# -- overflow_differences ------------------------------------------------------------------


def test_overflow_differences_scale_by_the_exponential_where_it_overflows():
    grad = sp.exp(x) - y
    with distribute(False):
        out = L.overflow_differences(grad, {})
        bounded = L.ranges_of({"y": y}, {"y": sp.Interval(0, 1)})
        assert L.overflow_differences(grad, bounded) == grad  # ∞ - y is right for finite y
        below = L.ranges_of({"x": x}, {"x": sp.Interval(-sp.oo, 0)})
        assert L.overflow_differences(grad, below) == grad  # e^x cannot overflow
        composed = L.underflow_products(out, {})  # as lower() runs them
    (as_written, finite), (scaled, _) = out.args
    assert as_written == grad and finite == L.is_finite(sp.exp(x))
    assert scaled == sp.exp(x) * (1 - y * sp.exp(-x))
    points = [(2.0, 3.0), (-1.0, 0.5), (50.0, 1e30), (800.0, 1e300), (1000.0, -1e300)]
    assert_same_value(grad, scaled, x, y, at=points)
    # e^1000 - ∞ is -∞, not ∞ - ∞ = NaN; finite where e^x is, as written there
    naive, f, lowered = computed(grad, x, y), computed(out, x, y), computed(composed, x, y)
    assert math.isnan(naive(1000.0, math.inf))
    assert f(710.0, math.inf) == -math.inf  # e^-710 is still a subnormal
    assert lowered(1000.0, math.inf) == -math.inf  # … and beyond, through underflow_products
    assert lowered(1000.0, -math.inf) == math.inf
    assert lowered(2.0, 3.0) == naive(2.0, 3.0)


# -- lorentz_combinations, blend_powers, scaled_quotients, power_forms ----------------------


def test_lorentz_combinations_write_k_ratio_squared_plus_m_slope_as_one_fraction():
    hess = k * lorentz_ratio(x) ** 2 + m * lorentz_slope(x) + t  # Barron's α·ρ'² + ρ''
    with distribute(False):
        out = L.lorentz_combinations(hess)
        assert L.lorentz_combinations(lorentz_slope(x) + t) == lorentz_slope(x) + t
    assert out == L.lorentz_blend(k - m, m, x) + t
    points = [(0.5, 2.0, 3.0, 1.0), (1e8, 1.0, 1.0, 0.0), (-7.0, -1.0, 0.25, 0.0)]
    assert_same_value(hess, out, x, k, m, t, at=points)
    # at k = m the two terms are ±1/x² and cancel to 1/(1 + x²)²
    point, truth = (1e4, 1.0, 1.0, 0.0), exact(hess, x, k, m, t)(1e4, 1.0, 1.0, 0.0)
    naive = computed(L.stable_primitives(hess), x, k, m, t)(*point)
    lowered = computed(L.stable_primitives(out), x, k, m, t)(*point)
    assert ulps(lowered, truth) <= 4 and ulps(naive, truth) > 1e6


def test_blend_powers_take_one_power_of_one_plus_x_squared_into_the_blend():
    hess = sp.exp(k * log1p_square(x)) * L.lorentz_blend(a, b, x) * t
    with distribute(False):
        out = L.blend_powers(hess)
        other = sp.exp(k * log1p_square(y)) * L.lorentz_blend(a, b, x)
        assert L.blend_powers(other) == other  # a power of another 1 + y²
    assert out == t * sp.exp((k - 1) * log1p_square(x)) * L.lorentz_fraction(a, b, x)
    points = [(0.5, 2.0, 3.0, 1.0, 2.0), (1e12, 0.5, 0.0, 1.0, 1.0), (-7.0, -1.0, 0.25, 0.0, 3.0)]
    assert_same_value(hess, out, x, k, a, b, t, at=points)
    # float32 at |x| = 1e12: the blend ≈ x⁻⁴ underflows, the product ≈ |x|⁻³ does not
    point, truth = (1e12, 0.5, 0.0, 1.0, 1.0), exact(hess, x, k, a, b, t)(1e12, 0.5, 0.0, 1.0, 1.0)
    naive = computed(L.stable_primitives(hess), x, k, a, b, t, dtype="float32")(*point)
    lowered = computed(L.stable_primitives(out), x, k, a, b, t, dtype="float32")(*point)
    assert naive == 0 and abs(lowered / float(truth) - 1) < 1e-6


def test_scaled_quotients_compute_the_cauchy_forms_from_r_and_c():
    r, c = sp.symbols("r c", real=True)
    expr = c**2 / 2 * log1p_square(r / c) + c * lorentz_ratio(r / c) * t + lorentz_slope(r / c)
    with distribute(False):
        out = L.scaled_quotients(expr)
        assert L.scaled_quotients(c * log1p_square(r / c)) == c * log1p_square(r / c)  # c¹ < c²
        assert L.scaled_quotients(log1p_square(r / 2)) == log1p_square(r / 2)  # a number
    assert out == (
        L.scaled_log1p_square(r, c) / 2
        + t * L.scaled_lorentz_ratio(r, c)
        + L.scaled_lorentz_slope(r, c)
    )
    points = [(1.0, 2.0, 3.0), (1e10, 1e200, 1.0), (1.0, 1e-100, 2.0), (-3.0, 0.5, 1.0)]
    assert_same_value(expr, out, r, c, t, at=points)
    assert_same_value(expr, L.stable_primitives(out), r, c, t, at=points)  # as computed
    # c = 1e200: c² overflows where (r/c)² underflows, ∞·0; the product is ≈ r²/2
    truth = exact(expr, r, c, t)(1e10, 1e200, 1.0)
    naive = computed(L.stable_primitives(expr), r, c, t)(1e10, 1e200, 1.0)
    lowered = computed(L.stable_primitives(out), r, c, t)(1e10, 1e200, 1.0)
    assert math.isnan(naive) and ulps(lowered, truth) <= 2


def test_power_forms_raise_x_itself_beyond_one():
    kk = sp.Rational(-11, 4)  # Barron's gradient: (1 + x²)^k with k = α/2 - 1, α = -3.5
    power = sp.exp(kk * log1p_square(x))
    with distribute(False):
        out = L.power_forms(power)
        minus_one = L.power_forms(expm1(kk * log1p_square(x)))
        u, v = sp.symbols("u v", positive=True)
        radical = L.power_forms(sp.exp(kk * log1p_square(u / (v * sp.sqrt(w)))))
    (inner, small), (far, _) = out.args
    assert inner == power and small == (sp.Abs(x) <= 1)
    assert far == sp.Abs(x) ** (2 * kk) * sp.exp(kk * log1p(x**-2))
    assert_same_value(power, inner, x, at=[(0.5,), (-1.0,), (3.0,)])
    assert_same_value(power, far, x, at=[(1.5,), (-3.0,), (1e15,), (1e200,)])
    assert_same_value(expm1(kk * log1p_square(x)), minus_one, x, at=[(0.3,), (1.2,), (1e15,)])
    assert_same_value(
        sp.exp(kk * log1p_square(u / (v * sp.sqrt(w)))),
        radical.args[1][0],
        u,
        v,
        w,
        at=[(3.0, 0.5, 2.0), (1e10, 1e-3, 7.0)],
    )
    # e^y carries the rounding of y = k·log(1 + x²) ≈ -190 amplified by |y|; |x|^{2k} does not
    naive, lowered = computed(L.stable_primitives(power), x), computed(L.stable_primitives(out), x)
    truth = exact(power, x)
    assert ulps(naive(1e15), truth(1e15)) > 8
    for xv in (1e15, 3e14, 7.7e13, 2.5e15, 1e20, 2.0):
        assert ulps(lowered(xv), truth(xv)) <= 1, xv


# -- margin_roots --------------------------------------------------------------------------


def test_margin_roots_write_psi_prime_piecewise_with_exact_bodies_and_bounds():
    f, n = sp.symbols("f n", real=True)
    q = f / n
    expr = margin_psi(3, q, 1) * t + margin_intercept(3, q) + margin_psi(3, q, 0)
    out = L.margin_roots(expr)
    assert not out.has(margin_intercept) and out.atoms(margin_psi) == {margin_psi(3, q, 0)}
    bounds = set()
    for pw in out.atoms(sp.Piecewise):
        for body, cond in pw.args:
            assert isinstance(body, L.exact_sum), body  # from f and n, rounded once
            if cond is not sp.true:
                assert isinstance(cond, sp.GreaterThan) and cond.rhs == 0
                assert isinstance(cond.lhs, L.exact_sum) and cond.lhs.has(held(q))
                bounds.add(held(q) - cond.lhs.args[0])
    assert bounds == {sp.cos(sp.pi / 3), sp.cos(2 * sp.pi / 3)}  # t ≥ cos(jπ/m)
    points = [(0.3, 1.0, 2.0), (0.5, 1.0, 1.0), (-0.5, 1.0, 1.0), (-0.7, 2.0, 1.0)]
    points += [(0.999, 1.0, 3.0), (-2.9, 3.0, 1.0), (0.05, 0.1, 1.0)]
    assert_same_value(expr, out, f, n, t, at=points)
    # ψ₃' = 12t² - 3 vanishes at t = 1/2: just above it, t = f/n rounded first leaves 40% error
    # in 12t² - 3; the pieces are functions of f and n (exact_sum(held(f/n)))
    f0, n0 = 0.35000000000000003, 0.7
    truth = 12 * (Fraction(f0) / Fraction(n0)) ** 2 - 3
    assert abs((12 * (f0 / n0) ** 2 - 3) / truth - 1) > 0.3
    slope = exact(L.margin_roots(margin_psi(3, q, 1)), f, n)(f0, n0)
    assert abs(slope / (mpmath.mpf(truth.numerator) / truth.denominator) - 1) < 1e-30


# -- data_coefficient_limits, power_limits --------------------------------------------------


def test_data_coefficient_limits_make_a_zero_data_coefficient_times_infinity_zero():
    s = sp.Symbol("s", real=True)
    ranges = L.ranges_of(
        {"x": x, "y": y, "s": s, "t": t},
        {"x": sp.Reals, "y": sp.Interval(0, 1), "s": sp.FiniteSet(-1, 1), "t": sp.Interval(-5, 5)},
    )
    varying = frozenset({x})
    ce = (1 - y) * softplus(x) + y**2 * softplus(-x)
    with distribute(False):
        out = L.data_coefficient_limits(ce, ranges, varying)
        poisson = L.data_coefficient_limits(-y * x, ranges, varying)
        for kept in ((1 - y) * sigmoid(x), 2 * softplus(x), (1 - y) * sp.exp(t)):
            assert L.data_coefficient_limits(kept, ranges, frozenset({x, t})) == kept
        assert L.data_coefficient_limits(s * softplus(x), ranges, varying, frozenset({s})) == (
            s * softplus(x)
        )
    assert set(out.args) == {
        L.zero_factor_mul(softplus(x), softplus(x), sp.Tuple(1 - y), sp.Tuple(1 - y)),
        L.zero_factor_mul(softplus(-x), softplus(-x), sp.Tuple(y**2), sp.Tuple(y)),
    }
    assert poisson == L.zero_factor_mul(x, x, sp.Tuple(-1, y), sp.Tuple(y))
    assert_same_value(ce, out, x, y, at=[(3.0, 0.25), (-40.0, 1.0), (0.0, 0.0)])
    naive = computed(L.stable_primitives(ce), x, y)
    lowered = computed(L.stable_primitives(out), x, y)
    assert math.isnan(naive(math.inf, 1.0)) and lowered(math.inf, 1.0) == 0
    assert math.isnan(naive(-math.inf, 0.0)) and lowered(-math.inf, 0.0) == 0
    assert math.isnan(lowered(math.nan, 1.0))  # NaN in, NaN out
    assert lowered(3.0, 0.25) == naive(3.0, 0.25)
    assert computed(poisson, x, y)(-math.inf, 0.0) == 0


def test_power_limits_keep_the_infinity_where_the_power_underflows():
    ranges = L.ranges_of(
        {"x": x, "t": t, "gamma": g},
        {"x": sp.Reals, "t": sp.Reals, "gamma": sp.Interval(0, sp.oo)},
    )
    expr = sigmoid(t) ** g * softplus(x)
    with distribute(False):
        out = L.power_limits(expr, ranges)
        for kept in (sigmoid(t) ** -2 * softplus(x), sigmoid(t) ** g * y, y**g * softplus(x)):
            assert L.power_limits(kept, ranges) == kept
    assert out == L.power_times(sigmoid(t), sigmoid(t) ** g, softplus(x), softplus(x))
    assert_same_value(expr, out, x, t, g, at=[(3.0, -700.0, 2.0), (-2.0, 1.5, 0.5), (1.0, 0, 0)])
    # σ(-700)² ≈ 1e-608 underflows to 0 though it is > 0: the product at x = ∞ is ∞
    naive = computed(L.stable_primitives(expr), x, t, g)
    lowered = computed(L.stable_primitives(out), x, t, g)
    assert math.isnan(naive(math.inf, -700.0, 2.0))
    assert lowered(math.inf, -700.0, 2.0) == math.inf
    assert lowered(3.0, -700.0, 2.0) == 0  # ≈ 3e-608: the product underflows too
    assert lowered(-2.0, 1.5, 0.5) == naive(-2.0, 1.5, 0.5)


# -- stable_primitives ---------------------------------------------------------------------

# (primitive, its definition in floating point, points where that fails, and others)
_STABLE = [
    (softplus(x), lambda v: np.log1p(np.exp(v)), [800.0], [-800.0, -3.0]),
    (sigmoid(x), lambda v: 1 / (1 + np.exp(-v)), [], [-800.0, -30.0, 40.0]),
    (log_sigmoid(x), lambda v: -np.log1p(np.exp(-v)), [-800.0], [800.0, 3.0]),
    (log_cosh(x), lambda v: np.log(np.cosh(v)), [800.0, 1e-9], [-0.5, 3.0]),
    (log1p_square(x), lambda v: np.log1p(v * v), [1e200], [1e-200, 0.5]),
    (lorentz_ratio(x), lambda v: v / (1 + v * v), [1e200], [-0.5, 1e-300]),
    (lorentz_slope(x), lambda v: (1 - v * v) / (1 + v * v) ** 2, [1e100, 1 + 2**-30], [0.25]),
]


@pytest.mark.parametrize(
    "primitive, plain, fails, ordinary", _STABLE, ids=[str(p[0]) for p in _STABLE]
)
def test_stable_primitives_compute_each_primitive_where_its_definition_fails(
    primitive, plain, fails, ordinary
):
    out = L.stable_primitives(t * primitive + 1)
    assert not out.has(type(primitive))
    points = [(v, 2.0) for v in (-800.0, -3.0, -1e-8, 0.0, 0.5, 1.5, 2.5, 800.0)]
    assert_same_value(t * primitive + 1, out, x, t, at=points)
    stable, truth = computed(L.stable_primitives(primitive), x), exact(primitive, x)
    for v in fails + ordinary:
        assert ulps(stable(v), truth(v)) <= 2, v
    with np.errstate(all="ignore"):
        assert all(not ulps(plain(np.float64(v)), truth(v)) <= 2 for v in fails)


def test_stable_primitives_write_logaddexp_as_max_plus_log1p():
    out = L.stable_primitives(logaddexp(x, t))
    assert out == logaddexp_form(x, t, x, t)
    points = [(800.0, 800.0), (800.0, -800.0), (-3.0, 2.0), (0.0, 1e-20), (-800.0, -801.0)]
    assert_same_value(logaddexp(x, t), out, x, t, at=points)
    f, truth = computed(out, x, t), exact(logaddexp(x, t), x, t)
    with np.errstate(all="ignore"):
        assert np.log(np.exp(800.0) + np.exp(800.0)) == math.inf  # as defined: overflows
    assert ulps(f(800.0, 800.0), truth(800.0, 800.0)) <= 1
    assert ulps(f(-800.0, -801.0), truth(-800.0, -801.0)) <= 1
    assert f(-math.inf, 2.0) == 2.0 and f(math.inf, math.inf) == math.inf


# -- branch_quotients, exact_constants, exponent_terms -------------------------------------


def test_branch_quotients_divide_in_each_branch():
    u = sp.Symbol("u", real=True)
    v = sp.IndexedBase("v")[sp.Symbol("j", integer=True)]
    step = sp.Piecewise((1 / a, a > b), (1 / b, True))
    expr = u * step * sp.exp(x)
    out = L.branch_quotients(expr)
    assert out == sp.Piecewise((L.quotient(u, a), a > b), (L.quotient(u, b), True)) * sp.exp(x)
    guarded = L.branch_quotients(v * sp.Piecewise((sp.nan, L.nan_in(a, b)), *step.args))
    assert guarded.args[0] == (sp.nan, L.nan_in(a, b))
    assert guarded.args[1][0] == L.quotient(v, a)
    for kept in (u * t * step, v * sp.Piecewise((a, a > b), (1 / b, True))):
        assert L.branch_quotients(kept) == kept  # two atoms; a branch not a reciprocal
    assert_same_value(expr, out, u, a, b, x, at=[(3.0, 2.0, 1.0, 0.5), (1.0, -1.0, 7.0, -2.0)])
    # u·fl(1/a) is not 1 at u = a = 49; u/a is
    naive, lowered = computed(expr, u, a, b, x), computed(out, u, a, b, x)
    assert naive(49.0, 49.0, 1.0, 0.0) == 1 - 2**-53 and lowered(49.0, 49.0, 1.0, 0.0) == 1


def test_exact_constants_hold_a_constant_that_cancels_in_one_exact_sum():
    ranges = L.ranges_of({"y": y, "w": w}, {"y": sp.Interval(0, 1), "w": sp.Interval(0, sp.oo)})
    parts = [sp.S.Half - y, -(w - 1) * y / 2]  # exact_constant's split of ((1 - y) - w·y)/2
    (out,) = L.exact_constants(parts, ranges)
    assert isinstance(out, L.exact_sum)
    assert sp.expand(meaning(out) - sum(parts)) == 0
    assert L.exact_constants([1 - 3 * y], ranges) == [L.exact_sum(1 - 3 * y)]  # 3y rounds
    for kept in (
        [sp.S.Half - y],  # two inputs: one rounding
        [y / 2 + w],  # one sign
        [(1 - 2 * y) * (1 - w)],  # a product of such sums
        [sp.S.Half],  # a number
        [sp.exp(y) - 1],  # not a polynomial
    ):
        assert L.exact_constants(kept, ranges) == kept


def test_exponent_terms_make_each_term_of_a_log_space_exponent_an_argument():
    q = sp.Symbol("q", positive=True)
    with distribute(False):
        exponent = (g - 1) * sp.log(q) + 2 * (a + b) + x
        out = L.exponent_terms(t * L.exp_of_sum(exponent) + 1)
    (node,) = out.atoms(L.exp_of_sum)
    # 2·(a + b) is distributed; (γ - 1)·log q stays whole (γ·log q - log q is ∞ - ∞ at q = 0)
    assert set(node.args) == {x, 2 * a, 2 * b, (g - 1) * sp.log(q)}
    value = t * sp.exp(exponent) + 1
    assert_same_value(value, out, q, g, a, b, x, t, at=[(0.25, 3.0, 1.0, -2.0, 0.5, 2.0)])


@pytest.mark.parametrize(
    "node",
    [
        lambda f, y: L.zero_factor_mul(f, f, sp.Tuple(y), sp.Tuple(y)),
        lambda f, y: L.limit_mul(y, f, f),
        lambda f, y: L.power_times(y, y**2, f, f),
    ],
    ids=["zero_factor_mul", "limit_mul", "power_times"],
)
def test_a_sum_held_as_a_factor_is_printed_in_brackets(node):
    """F = x + t as the factor of one of the limit products: the printed product is y·(x + t),
    not y·x + t (the bug when F reached the printer as a sum, not a CSE temporary)."""
    x, t, y = sp.symbols("x t y", real=True)
    code = NumbaPrinter("float64", {x: "x", t: "t", y: "y"}).doprint(node(x + t, y))
    at = {"x": 3.0, "t": 0.5, "y": 0.25, "math": math}
    got = eval(code, {"select": lambda c, a, b: a if c else b, **at})
    expected = node(x + t, y).rewrite(sp.Mul).subs({x: 3.0, t: 0.5, y: 0.25})
    assert got == pytest.approx(float(expected), rel=1e-15)
