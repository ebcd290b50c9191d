"""Each lowering pass and printer rule on small expressions (string and numeric checks)."""

import math

import mpmath
import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.core.parameters import distribute

from symloss import lowering as L
from symloss import vmath
from symloss.definition.primitives import sigmoid, softplus
from symloss.printing import NumbaPrinter

x, t, d, g, y = sp.symbols("x t delta gamma y", real=True)
DATA = frozenset({x, t, y})


def test_factor_sums_takes_a_common_number_out():
    with distribute(False):
        out = L.factor_sums(2 * x - 2 * t)
    assert out.args[0] == 2 and sp.expand(out) == 2 * x - 2 * t
    assert sp.Add(*out.args[1].args) == x - t


def test_factor_sums_leaves_mixed_coefficients():
    expr = d * (sp.Abs(x) - d / 2)
    with distribute(False):
        assert L.factor_sums(expr) == expr


def test_c99_functions_by_exact_pattern_only():
    assert L.c99_functions(sp.log(1 + sp.exp(-x))) == log1p(sp.exp(-x))
    assert L.c99_functions(sp.exp(x) - 1 + t) == expm1(x) + t
    coeff = d * t + (1 - d) * (1 - t)
    assert L.c99_functions(coeff) == coeff  # no expansion into 2dt - d - t + 1


def test_piecewise_forms_node_by_node():
    out = L.piecewise_forms(sp.Max(x, 0))
    assert isinstance(out, sp.Piecewise)
    out = L.piecewise_forms(sp.Max(-sp.Abs(x) + t, 0))
    assert out.has(sp.Abs(x)), "the arguments keep |x| (no case split into exp(x) forms)"


def test_nan_guard_added_for_data_conditions_only():
    pw = sp.Piecewise((1, sp.Abs(x - t) < d), (0, True))
    guarded = L.nan_guards(pw, DATA)
    assert guarded.args[0][0] is sp.nan and isinstance(guarded.args[0][1], L.nan_in)
    on_param = sp.Piecewise((1, d < 0), (x, True))
    assert L.nan_guards(on_param, DATA) == on_param


def test_nan_constants_guards_outputs_that_ignore_the_data():
    assert isinstance(L.nan_constants(sp.Integer(2), DATA), sp.Piecewise)
    assert L.nan_constants(2 * (x - t) * y, DATA) == 2 * (x - t) * y
    # an output that ignores some inputs is still NaN where they are (e^x of the Poisson loss)
    (first, cond), _ = L.nan_constants(2 * x, DATA).args
    assert first is sp.nan and cond == L.nan_in(t, y)


def test_logspace_products_removes_the_power_of_an_underflowing_base():
    q = y * sigmoid(-x) + (1 - y) * sigmoid(x)
    expr = g * q ** (g - 1) * sigmoid(x) * sigmoid(-x) * softplus(x)
    ranges = L.ranges_of(
        {"y": y, "gamma": g, "x": x},
        {
            "y": sp.Interval(0, 1),
            "gamma": sp.Interval(0, sp.oo),
            "x": sp.S.Reals,
        },
    )
    out = L.logspace_products(expr, ranges)
    assert not any(p.base == q for p in out.atoms(sp.Pow)), out
    # Same function: compare in mpmath at a point where nothing underflows.
    f = sp.lambdify([x, y, g], (expr - out).rewrite("math"), "mpmath")
    assert abs(f(0.7, 0.3, 0.5)) < 1e-12


def _compiled(exprs_code: str, **env):
    scope = {"math": math, "float32": np.float32, "select": lambda c, a, b: a if c else b}
    scope.update(env)
    return eval(exprs_code, scope)


def test_printer_types_every_literal_in_float32():
    p = NumbaPrinter("float32", {x: "x_i"}, DATA)
    code = p.doprint(x / 2 + 3 + sp.log(2))
    assert "float32(0.5)" in code and "float32(3.0)" in code
    assert "0.6931472" in code
    assert "float32(math" not in code.replace("float32(math.nan)", "")


def test_printer_expands_small_integer_powers():
    p = NumbaPrinter("float64", {x: "x", t: "t"})
    assert p.doprint(x**3) == "(x*x*x)"
    assert p.doprint(x**-2) == "1.0/(x*x)"
    assert p.doprint(sp.sqrt(x)) == "math.sqrt(x)"
    # in a denominator the expanded product keeps its parentheses: t/(x*x), not t/x*x
    assert eval(p.doprint(t / x**2), {"x": 2.0, "t": 8.0}) == 2.0


def test_printer_emits_piecewise_as_select():
    p = NumbaPrinter("float64", {x: "x"})
    code = p.doprint(sp.Piecewise((x, x > 0), (0, True)))
    assert code == "select((x > 0.0), x, 0.0)"
    assert _compiled(code, x=-2.0) == 0.0 and _compiled(code, x=3.0) == 3.0


def test_printer_orders_products_transcendental_then_data_then_parameters():
    p = NumbaPrinter("float64", {x: "x", t: "t"}, frozenset({x, t}))
    code = p.doprint(d * t * sp.exp(x))
    assert code == "vmath.exp(x)*t*delta"


def test_printer_refuses_unknown_functions():
    f = sp.Function("mystery")
    try:
        NumbaPrinter("float64").doprint(f(x))
    except Exception as exc:  # strict printer: fail at generation, not in the kernel
        assert "mystery" in str(exc)
    else:
        raise AssertionError("unknown function printed")


def test_indicator_products_do_not_evaluate_the_factor_where_the_indicator_is_zero():
    """[x > 1]·(1/x) at x = 0 is 0 (a select), not 0·∞; the value elsewhere is unchanged."""
    e = L.indicator_products(L.piecewise_forms(sp.Heaviside(x - 1, 0) / x * t))
    assert isinstance(e, sp.Piecewise)
    f = sp.lambdify([x, t], e, "mpmath")
    assert f(0, 2.0) == 0 and f(4, 2.0) == 0.5 and f(1, 2.0) == 0


def test_row_reductions_turn_the_root_of_a_sum_into_a_norm():
    from symloss.definition.spec import C, c

    v = sp.IndexedBase("v")
    s = sp.Sum(v[c] ** 2, (c, 0, C - 1))
    reductions, (out,) = L.row_reductions([v[c] / sp.sqrt(s) + s ** sp.Rational(3, 2) + s])
    kinds = sorted(r.kind for r in reductions)
    assert kinds == ["norm", "sum"]  # √Σ and Σ^{3/2} share one norm; the bare Σ is a sum
    (norm,) = [r.symbol for r in reductions if r.kind == "norm"]
    (total,) = [r.symbol for r in reductions if r.kind == "sum"]
    assert out == v[c] / norm + norm**3 + total


def test_norm_quotients_divide_the_factors_that_grow_with_the_norm_first():
    """cosine_distance's r·x_j/‖x‖³ (r = Σ_c b_c·x_c) at ‖x‖ = 1e300: ‖x‖³ overflows although
    the product is 1e-300; as (r/‖x‖)·(x_j/‖x‖)/‖x‖ every factor is ordinary. The step's
    Max(ε, ‖x‖) is ‖x‖ where the step is not 0."""
    from symloss.definition.primitives import held
    from symloss.definition.spec import C, c
    from symloss.derive import j

    v, b = sp.IndexedBase("v"), sp.IndexedBase("b")
    norm = sp.sqrt(sp.Sum(v[c] ** 2, (c, 0, C - 1)))
    total = sp.Sum(b[c] * v[c], (c, 0, C - 1))
    expr = total * sp.Heaviside(norm - d, 0) * v[j] / (norm * sp.Max(d, norm) ** 2)
    with distribute(False):
        reductions, (out,) = L.row_reductions([expr])
        out = L.norm_quotients(L.clamped_maxima(out), reductions)
    (nrm,) = [r.symbol for r in reductions if r.kind == "norm"]
    (r,) = [r.symbol for r in reductions if r.kind == "sum"]
    assert out == held(r / nrm) * held(v[j] / nrm) * sp.Heaviside(nrm - d, 0) / nrm
    f = _function(out.subs({sp.Heaviside(nrm - d, 0): 1, v[j]: y}), nrm, r, y)
    assert math.isclose(f(1e300, 2e300, 3e300), 6e-300, rel_tol=1e-15)


def test_c99_functions_turns_one_minus_exp_into_expm1():
    assert L.c99_functions(1 - sp.exp(-(x**2) / 2)) == -expm1(-(x**2) / 2)
    assert L.c99_functions(d * sp.exp(x) - d + t) == d * expm1(x) + t


def _function(expr, *args):
    """The printed float64 form of expr as a Python function of args (by name)."""
    code = NumbaPrinter("float64", {a: a.name for a in args}).doprint(expr)
    names = ", ".join(a.name for a in args)
    return _compiled(f"lambda {names}: {code}", vmath=vmath, abs=abs)


def _lowered_numpy(expr):
    ranges = L.ranges_of({"x": x, "y": y}, {"x": sp.Reals, "y": sp.Interval(0, 1)})
    with distribute(False):
        out = L.lower(expr, ranges, frozenset({x, y}))
    return _function(out, x, y)


def _mp_sigmoid(v):
    return 1 / (1 + mpmath.exp(-v))


def test_sigmoid_differences_keep_the_digits_of_sigma_minus_a_soft_target():
    grad = -y * sigmoid(-x) + (1 - y) * sigmoid(x)  # σ(x) - y, as derived from the CE
    with distribute(False):
        out = L.sigmoid_differences(grad, L.ranges_of({"y": y}, {"y": sp.Interval(0, 1)}))
    assert out.has(sp.tanh)
    f = _lowered_numpy(grad)
    for xv, yv in [(1e-8, 0.5), (1e-30, 0.5), (-1e-8, 0.5 - 2**-30), (40.0, 1.0), (-3.0, 0.3)]:
        with mpmath.workdps(100):
            ref = float(_mp_sigmoid(mpmath.mpf(xv)) - mpmath.mpf(yv))
        got = f(x=xv, y=yv)
        assert abs(got - ref) <= 4 * np.spacing(abs(ref)), (xv, yv, got, ref)


def test_sigmoid_differences_leave_sums_of_one_sign_alone():
    p_t = y * sigmoid(-x) + (1 - y) * sigmoid(x)  # the focal loss's 1 - p_t: no cancellation
    with distribute(False):
        ranges = L.ranges_of({"y": y}, {"y": sp.Interval(0, 1)})
        assert L.sigmoid_differences(p_t, ranges) == p_t


def test_exp_differences_keep_the_digits_of_exp_minus_a_count():
    f = _lowered_numpy(sp.exp(x) - y)
    for xv, yv in [(-4.4e-134, 1.0), (1e-8, 1.0), (-30.0, 0.0), (0.3, 0.5 + 2**-40), (2.0, 1.0)]:
        with mpmath.workdps(400):
            ref = float(mpmath.exp(mpmath.mpf(xv)) - mpmath.mpf(yv))
        got = f(x=xv, y=yv)
        assert abs(got - ref) <= 4 * np.spacing(abs(ref)), (xv, yv, got, ref)


def test_exact_constant_is_exact_at_the_parameters_centre():
    w = sp.Symbol("w", real=True)
    out = L.exact_constant(((1 - y) - w * y) / 2, {w: 1})
    f = _function(out, y, w)
    yv = 0.5 - 2**-30 + 2**-54  # 1 - y would round; 1/2 - y is exact
    assert f(y=yv, w=1.0) == 0.5 - yv


def test_underflow_products_give_the_finite_limit_not_inf_times_0():
    r = x - y
    ranges = L.ranges_of({"x": x, "y": y}, {"x": sp.Reals, "y": sp.Reals})
    with distribute(False):
        out = L.lower((1 - r**2) * sp.exp(-(r**2) / 2), ranges, frozenset({x, y}))
    f = _function(out, x, y)
    for xv in (1e154, 1e200, 1e300, math.inf, -math.inf):
        assert f(x=xv, y=0.0) == 0.0
    assert math.isnan(f(x=math.nan, y=0.0))
    # where P·e^u is representable but e^u underflows: exp(log|P| + u)
    out = L.underflow_products(x**2 * sp.exp(-y), ranges)
    f = _function(out, x, y)
    with mpmath.workdps(50):
        ref = float(mpmath.mpf(1e160) ** 2 * mpmath.exp(-800))
    assert abs(f(x=1e160, y=800.0) - ref) <= 1e-10 * ref


def test_exact_quotients_form_a_quotient_rule_numerator_in_double_double():
    r0, r1, s = sp.symbols("r0 r1 s", real=True)
    g = sp.IndexedBase("g")[sp.Symbol("j", integer=True)]
    d = r0 + s
    grad = (s + 2 * r1) / d**2 - 2 * g / d  # Dice's (N/D)' with D = r0 + s
    out = L.exact_quotients(sp.Piecewise((0, sp.Eq(d, 0)), (grad, True)), {r0, r1})
    (num,) = out.atoms(L.exact_numerator)
    assert sp.simplify(num.numerator / d**2 - grad) == 0
    assert num.sums == {r0, r1}
    # no row sum in a denominator, or not rational: left as it is
    assert L.exact_quotients(g / s - 1, {r0}) == g / s - 1
    assert L.exact_quotients(sp.exp(r0) / r0 - g, {r0}) == sp.exp(r0) / r0 - g


def test_double_double_keeps_what_float64_cancels():
    from numba import njit

    @njit
    def square_minus_one(a):
        x = vmath.dd_mul(vmath.dd(a), vmath.dd(a))
        return vmath.dd_value(vmath.dd_add(x, vmath.dd_neg(vmath.dd(1.0))))

    a = 1 + 2.0**-30
    assert a * a - 1 == 2.0**-29  # float64 loses the 2^-60
    assert square_minus_one(a) == 2.0**-29 + 2.0**-60
    assert math.isinf(square_minus_one(1e200))  # overflow falls back to the plain product


def test_double_double_quotient_keeps_what_a_rounded_quotient_loses():
    """t = f/(x·w) in double-double, then t - 1/2: where t rounds to 1/2 in float64 the
    difference is 0; the exact one is what mpmath gives."""
    import mpmath
    from numba import njit

    @njit
    def minus_half(f, x, w):
        t = vmath.dd_div(vmath.dd(f), vmath.dd_mul(vmath.dd(x), vmath.dd(w)))
        return vmath.dd_value(vmath.dd_add(t, (-0.5, 0.0))), vmath.dd_value(t)

    rng = np.random.default_rng(3)
    for _ in range(200):
        x, w = rng.uniform(0.5, 4.0, 2)
        f = 0.5 * x * w  # rounded: f/(x·w) is 1/2 within an ULP
        with mpmath.workdps(50):
            exact = mpmath.mpf(f) / (mpmath.mpf(x) * mpmath.mpf(w))
            want = float(exact - mpmath.mpf(0.5))
        got, t = minus_half(f, x, w)
        assert t == float(exact)
        assert abs(got - want) <= 2 * np.spacing(abs(want)), (f, x, w, got, want)
    assert math.isnan(minus_half(math.nan, 1.0, 1.0)[0])
    assert minus_half(1.0, 1e200, 1e200)[1] == 0.0  # x·w overflows: the plain quotient


def test_complement_sums_writes_one_minus_a_smoothed_target_without_cancellation():
    from sympy.calculus.accumulationbounds import AccumBounds

    y, e = sp.symbols("y e", real=True)
    ranges = {y: AccumBounds(0, 1), e: AccumBounds(0, 1)}
    with distribute(False):
        out = L.complement_sums(1 - (y * (1 - e) + e / 2), ranges)
    assert out == (1 - y) * (1 - e) + e / 2
    # in float64 at y = 1, ε = 0.1: exactly the mpmath value of 1 - (y(1 - ε) + ε/2), rounded
    f = sp.lambdify((y, e), out)
    with mpmath.workdps(50):
        exact = float(1 - (1 - mpmath.mpf(0.1)) - mpmath.mpf(0.1) / 2)
    assert f(1.0, 0.1) == exact
