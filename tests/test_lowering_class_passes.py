"""The class-axis lowering passes one by one, on small rows built by hand as codegen's
`_class_quantities` builds them: each keeps the value (mpmath at 50 digits, every per-row
reduction computed from its definition over three classes) and has the form it exists for,
and in float64 the form it writes keeps what the form it replaces loses.

(row_reductions' norms, norm_quotients and exact_quotients have tests in test_lowering.py.)
"""

import math
import types

import mpmath
import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1
from sympy.core.parameters import distribute
from sympy.printing.pycode import MpmathPrinter

import symloss.lowering as L
from symloss.backends.numba.printer import NumbaPrinter
from symloss.definition.axes import C, c, class_maximum, class_sum
from symloss.definition.primitives import sigmoid
from symloss.derive import j

z, t, w, s = (sp.IndexedBase(n) for n in ("z", "t", "w", "s"))  # logits, targets, weights
label = sp.Symbol("y", integer=True, nonnegative=True)
eps, gam = sp.symbols("epsilon gamma", real=True)
CLASSES = 3


@pytest.fixture(autouse=True)
def _fifty_digits():
    with mpmath.workdps(50):
        yield


def _softmax_rows():
    """Σ_c e^{z_c} and Σ_{c≠y} e^{z_c}, as the definitions write them."""
    full = class_sum(sp.exp(z[c]))
    masked = class_sum(sp.Piecewise((0, sp.Eq(c, label)), (sp.exp(z[c]), True)))
    return full, masked


# -- a row in mpmath and in float64 --------------------------------------------------------


def meaning(expr: sp.Expr) -> sp.Expr:
    """The lowering's nodes as the values they stand for (see the elementwise test module)."""
    e = expr.replace(lambda n: isinstance(n, L.exact_numerator), lambda n: n.numerator)
    e = e.replace(lambda n: isinstance(n, L.ordered_add), lambda n: sp.Add(*n.args))
    return e.rewrite("math")


class _Mpmath(MpmathPrinter):
    def _print_minus_infinity(self, e):
        return f"({self._print(e.args[0])} == -mpmath.inf)"


def on_row(expr: sp.Expr, at: dict) -> sp.Expr:
    """``expr`` at the integers of ``at`` (j, y), each component v[k] as a symbol v_k."""
    e = expr.subs({s_: v for s_, v in at.items() if isinstance(v, int)})
    return e.replace(
        lambda n: isinstance(n, sp.Indexed),
        lambda n: sp.Symbol(f"{n.base}_{n.indices[0]}", real=True),
    )


def exact(expr: sp.Expr, at: dict):
    """``expr`` in mpmath at ``at``: symbols and vectors (lists) → values, j, y → ints."""
    e = on_row(meaning(expr), at)
    values = {}
    for key, v in at.items():
        if isinstance(v, list):
            values.update({f"{key}_{i}": mpmath.mpf(u) for i, u in enumerate(v)})
        elif not isinstance(v, int):
            values[str(key)] = mpmath.mpf(v)
    args = sorted(e.free_symbols, key=str)
    f = sp.lambdify(args, e, modules=[{"mpmath": mpmath}, "mpmath"], printer=_Mpmath)
    return f(*(values[str(a)] for a in args))


def row(reductions, at: dict) -> dict:
    """``at`` with each reduction's symbol and outputs from its definition, in mpmath: a
    log-sum-exp L over the classes kept, its max m and L - m; a sum; a max and its argmax."""
    at = dict(at)
    for r in reductions:
        skip = at.get(r.exclude, r.exclude) if r.exclude is not None else None
        terms = [exact(r.body.subs(r.index, q), at) for q in range(CLASSES) if q != skip]
        if r.kind == "logsumexp":
            total = mpmath.log(sum(mpmath.exp(u) for u in terms))
            top = max(terms)
            at[r.symbol], at[r.outputs[0]] = total, top
            at[r.outputs[1]] = total - top if mpmath.isfinite(top) else mpmath.mpf(0)
        elif r.kind == "max":
            at[r.symbol], at[r.outputs[1]] = max(terms), terms.index(max(terms))
        else:
            at[r.symbol] = sum(terms)
    return at


def floats(reductions, at: dict) -> dict:
    """``at`` with each reduction in float64 the way a kernel computes it (a log-sum-exp as
    m + log1p(Σ_{c≠k} e^{z_c - m}), m = z_k the largest term)."""
    at = dict(at)
    for r in reductions:
        skip = at.get(r.exclude, r.exclude) if r.exclude is not None else None
        terms = [float(exact(r.body.subs(r.index, q), at)) for q in range(CLASSES) if q != skip]
        if r.kind == "logsumexp":
            top = max(terms)
            rest = sum(math.exp(u - top) for q, u in enumerate(terms) if q != terms.index(top))
            at[r.outputs[0]], at[r.outputs[1]] = top, math.log1p(rest)
            at[r.symbol] = top + math.log1p(rest)
        else:
            at[r.symbol] = sum(terms)
    return at


_NP_MATH = types.SimpleNamespace(inf=math.inf, nan=math.nan, isfinite=np.isfinite)
_NP_VMATH = types.SimpleNamespace(exp=np.exp, expm1=np.expm1, log=np.log, log1p=np.log1p)


def computed(expr: sp.Expr, at: dict) -> float:
    """``expr`` as the Numba printer prints it, run in numpy float64 at ``at`` (from
    `floats`): the kernel's arithmetic, including the order of `ordered_add`."""
    e = on_row(expr, at)
    values = {}
    for key, v in at.items():
        if isinstance(v, list):
            values.update({f"{key}_{i}": u for i, u in enumerate(v)})
        elif not isinstance(v, int):
            values[str(key)] = v
    args = sorted(e.free_symbols, key=str)
    code = NumbaPrinter("float64").doprint(e)
    scope = {"math": _NP_MATH, "vmath": _NP_VMATH, "select": lambda q, p, r: p if q else r}
    f = eval(f"lambda {', '.join(map(str, args))}: {code}", scope)
    with np.errstate(all="ignore"):
        return float(f(*(np.float64(values[str(a)]) for a in args)))


def close(p, q, rel=1e-30) -> bool:
    return p == q or abs(p - q) <= rel * abs(q)


# -- row_reductions (log-sum-exps and maxima), clamped_maxima -------------------------------


def test_row_reductions_turn_sums_of_exponentials_into_log_sum_exps():
    full, masked = _softmax_rows()
    ce = sp.log(full) - z[label]
    softmax = sp.exp(z[j]) / full
    ratio = sp.Piecewise((0, sp.Eq(j, label)), (sp.exp(z[j]) / masked, True))
    with distribute(False):
        reductions, out = L.row_reductions([ce, softmax, ratio, class_maximum(z[c])])
    (mx,) = [r for r in reductions if r.kind == "max"]
    lse, lse_masked = sorted(
        (r for r in reductions if r.kind == "logsumexp"), key=lambda r: r.exclude is not None
    )
    assert (lse.body, lse.exclude, lse_masked.body, lse_masked.exclude) == (z[c], None, z[c], label)
    assert out == [
        lse.symbol - z[label],
        sp.exp(z[j] - lse.symbol),  # cannot overflow
        sp.Piecewise((0, sp.Eq(j, label)), (sp.exp(z[j] - lse_masked.symbol), True)),
        mx.symbol,
    ]
    for logits in ([0.5, -2.0, 3.0], [-700.0, 0.0, 700.0]):
        for at in ({z: logits, label: 1, j: 0}, {z: logits, label: 2, j: 2}):
            values = row(reductions, at)
            for before, after in zip([ce, softmax, ratio, class_maximum(z[c])], out):
                written_out = before.subs(C, CLASSES).doit()
                assert close(exact(after, values), exact(written_out, at)), (before, at)
    # float64 at a logit of 1000: e^1000/Σ e^{z_c} is ∞/∞; e^{z_j - lse} is 1
    at = {z: [1000.0, 0.0, -1000.0], label: 1, j: 0}
    assert math.isnan(computed(softmax.subs(C, CLASSES).doit(), at))
    assert computed(out[1], floats(reductions, at)) == 1.0


def test_clamped_maxima_take_the_larger_argument_where_the_step_is_one():
    a, b, x = sp.symbols("a b x", real=True)
    assert L.clamped_maxima(sp.Heaviside(a - b) * sp.Max(a, b) ** -2 * x) == (
        sp.Heaviside(a - b) * x / a**2
    )
    assert L.clamped_maxima(sp.Heaviside(b - a, 0) / sp.Max(a, b)) == sp.Heaviside(b - a, 0) / b
    for kept in (sp.Max(a, b) ** -2, sp.Heaviside(a - x) / sp.Max(a, b), sp.Max(a, b, x)):
        assert L.clamped_maxima(kept) == kept  # no step, another step, three arguments
    # equal where the step is 1 (a > b), and both 0 elsewhere
    expr = sp.Heaviside(a - b, 0) * sp.Max(a, b) ** -3
    out = L.clamped_maxima(expr)
    for av, bv in ((2.0, 1.0), (1e-3, -5.0), (1.0, 2.0), (-1.0, 0.5)):
        p, q = (sp.N(e.subs({a: av, b: bv}), 50) for e in (expr, out))
        assert p == q


# -- masked_softmax_differences, split_logsumexp --------------------------------------------


def _masked_gradient():
    """[j ≠ y]·e^{z_j}/Σ_{c≠y} e^{z_c} - e^{z_j}/Σ_c e^{z_c}, reduced (the focal loss's)."""
    full, masked = _softmax_rows()
    grad = sp.Piecewise((0, sp.Eq(j, label)), (sp.exp(z[j]) / masked, True)) - sp.exp(z[j]) / full
    with distribute(False):
        reductions, (out,) = L.row_reductions([grad])
    return reductions, out


def test_masked_softmax_differences_write_the_difference_as_one_exponential():
    reductions, grad = _masked_gradient()
    lse, lse_masked = (r.symbol for r in reductions)
    with distribute(False):
        out = L.masked_softmax_differences(grad, reductions)
        assert L.masked_softmax_differences(sp.exp(z[j] - lse), reductions) == sp.exp(z[j] - lse)
    assert out == sp.Piecewise(
        (-sp.exp(z[j] - lse), sp.Eq(j, label)),
        (sp.exp(z[j] + z[label] - lse_masked - lse), True),  # no subtraction
    )
    for logits in ([0.5, -2.0, 3.0], [0.0, -40.0, 0.0], [30.0, 1.0, -700.0]):
        for jv in range(CLASSES):
            values = row(reductions, {z: logits, label: 1, j: jv})
            assert close(exact(out, values), exact(grad, values), rel=1e-25), (logits, jv)
    # class y unlikely (z_y = -40): 1/Σ_{c≠y} - 1/Σ_c cancels in float64, e^{z_y}/(Σ'Σ) does not
    at = {z: [0.0, -40.0, 0.0], label: 1, j: 0}
    truth, f = exact(grad, row(reductions, at)), floats(reductions, at)
    assert abs(computed(grad, f) / float(truth) - 1) > 0.5
    assert abs(computed(out, f) / float(truth) - 1) < 1e-14


def test_split_logsumexp_meets_the_max_with_the_data_first():
    full, _ = _softmax_rows()
    with distribute(False):
        reductions, exprs = L.row_reductions([sp.log(full) - z[label], sp.exp(z[j]) / full])
    ((lse, top, spread),) = [(r.symbol, *r.outputs) for r in reductions]
    value, softmax = L.split_logsumexp(exprs, reductions)
    assert value == L.ordered_add(top - z[label], spread)
    assert softmax == sp.exp(L.ordered_add(z[j] - top, -spread))
    for logits in ([0.5, -2.0, 3.0], [1e16, 1e16 - 2, 1e16 - 4]):
        values = row(reductions, {z: logits, label: 1, j: 0})
        assert close(exact(value, values), exact(exprs[0], values))
        assert close(exact(softmax, values), exact(exprs[1], values))
    # z_y = m = 1e16: (m + log1p(s)) - z_y rounds log1p(s) away, (m - z_y) + log1p(s) keeps it
    at = {z: [1e16 - 2, 1e16, 1e16 - 4], label: 1, j: 0}
    truth, f = exact(exprs[0], row(reductions, at)), floats(reductions, at)
    assert computed(exprs[0], f) == 0.0
    assert abs(computed(value, f) / float(truth) - 1) < 1e-15


# -- unbounded_reductions, zero_coefficient_products, absent_classes ------------------------


def _weighted_rows():
    full, _ = _softmax_rows()
    with distribute(False):
        return L.row_reductions(
            [
                class_sum(w[c] * (sp.log(full) - z[c])),  # Σ_c w_c·(-log p_c)
                class_sum(sp.exp(z[c]) * w[c]),
                class_sum(w[c]),
                class_sum(sp.exp(z[c] - sp.log(full))),  # Σ_c p_c
            ]
        )


def test_unbounded_reductions_are_those_infinite_at_a_logit_of_minus_infinity():
    reductions, _ = _weighted_rows()
    lse, *sums = reductions
    r0 = sums[0].symbol
    nested = L.Reduction(sp.Symbol("r9", real=True), "sum", w[c] * r0, c)
    unbounded = L.unbounded_reductions([*reductions, nested])
    assert unbounded == {lse.symbol, *lse.outputs, r0, nested.symbol}
    # the sums that are infinite where one class is masked (-∞), the log-sum-exp where all are
    values = row(reductions, {z: [0.0, -math.inf, 1.0], w: [1.0, 1.0, 1.0]})
    infinite = {r.symbol for r in sums if mpmath.isinf(values[r.symbol])}
    assert infinite == {r0}
    assert row(reductions[:1], {z: [-math.inf] * CLASSES})[lse.symbol] == -mpmath.inf
    assert not L.holds_unbounded(sp.exp(-r0) + sigmoid(r0) + expm1(r0), unbounded)


def test_zero_coefficient_products_are_zero_where_the_coefficient_is_zero():
    reductions, (r0, r1, _, _) = _weighted_rows()
    lse = reductions[0].symbol
    unbounded = L.unbounded_reductions(reductions)
    varying = {z} | {o for r in reductions for o in (r.symbol, *r.outputs)}
    nll = lse - z[j]
    expr = eps * r0 + t[j] * nll + 2 * r0 + eps * r1
    out = L.zero_coefficient_products(expr, unbounded, varying)
    assert set(out.args) == {
        L.limit_mul(eps, r0, r0),  # label smoothing ε = 0 times Σ_c w_c(-log p_c)
        L.limit_mul(t[j], nll, nll),  # a target 0 at a class of logit -∞
        2 * r0,  # a number
        eps * r1,  # bounded
    }
    at = {z: [0.5, -2.0, 3.0], w: [1.0, 0.5, 2.0], t: [0.2, 0.0, 0.8], eps: 0.1, j: 1}
    values = row(reductions, at)
    assert close(exact(out, values), exact(expr, values))
    # ε = 0 and t_j = 0 at z_j = -∞: the limit 0, not 0·∞ = NaN
    at = {z: [0.5, -math.inf, 3.0], w: [1.0, 1.0, 1.0], t: [0.2, 0.0, 0.8], eps: 0.0, j: 1}
    f = floats(reductions, at)
    assert math.isnan(computed(expr - 2 * r0 - eps * r1, f))
    assert computed(out - 2 * r0 - eps * r1, f) == 0.0
    at[eps] = math.nan
    assert math.isnan(computed(out - 2 * r0 - eps * r1, floats(reductions, at)))


def test_absent_classes_are_zero_where_their_logit_is_minus_infinity():
    reductions, grad = _masked_gradient()
    with distribute(False):
        grad = L.masked_softmax_differences(grad, reductions)
    lse_masked = reductions[1].symbol
    ratios = [
        sp.exp(z[j] - lse_masked),  # e^{z_j}/Σ_{c≠y} e^{z_c}
        sp.exp(2 * z[j] - 2 * lse_masked),  # its square
        grad,
    ]
    kept = [
        sp.exp(z[j] - reductions[0].symbol),  # over all classes
        sp.exp(lse_masked - z[j]),  # k < 0
    ]
    split = L.split_logsumexp(ratios + kept, reductions)
    out = [L.absent_classes(e, reductions, z[j]) for e in split]
    assert out[3:] == split[3:]
    for guarded, before in zip(out[:2], split[:2]):
        assert guarded == sp.Piecewise((0, L.minus_infinity(z[j])), (before, True))
    assert out[2].has(L.minus_infinity(z[j]))
    for logits, jv in (([0.5, -2.0, 3.0], 0), ([-math.inf, 0.0, 2.0], 0), ([3.0, 1.0, 0.0], 2)):
        values = row(reductions, {z: logits, label: 1, j: jv})
        for before, after in zip(split, out):
            assert close(exact(after, values), exact(before, values)), (logits, jv)
    # every class but the label absent: Σ_{c≠y} = 0 as well, e^{-∞ + ∞} = NaN; the class is 0
    values = row(reductions, {z: [-math.inf, 0.0, -math.inf], label: 1, j: 0})
    assert all(mpmath.isnan(exact(e, values)) for e in split[:2])
    assert all(exact(e, values) == 0 for e in out[:2])


# -- softmax_complements, component_differences, one_hot_differences, exp_square_differences -


def test_softmax_complements_write_p_times_a_sum_minus_a_target_without_cancelling():
    full, _ = _softmax_rows()
    with distribute(False):
        reductions, (grad,) = L.row_reductions([sp.exp(z[j]) / full * class_sum(t[c]) - t[j]])
        out = L.softmax_complements(grad, reductions)
        assert L.softmax_complements(sp.exp(z[j]) - t[j], reductions) == sp.exp(z[j]) - t[j]
    lse, total = (r.symbol for r in reductions)
    p = sp.exp(z[j] - lse)
    assert out == p * (total - t[j]) + t[j] * expm1(z[j] - lse)
    for logits, targets in (([0.5, -2.0, 3.0], [0.2, 0.3, 0.5]), ([0.0, -40.0, -40.0], [1, 0, 0])):
        values = row(reductions, {z: logits, t: targets, j: 0})
        assert close(exact(out, values), exact(grad, values), rel=1e-25)
    # p_j = 1 - 8e-18 and t = e_j: p_j·1 - 1 is 0 in float64, p_j - 1 = expm1(z_j - lse) is not
    at = {z: [0.0, -40.0, -40.0], t: [1.0, 0.0, 0.0], j: 0}
    truth, f = exact(grad, row(reductions, at)), floats(reductions, at)
    assert computed(grad, f) == 0.0
    assert abs(computed(out, f) / float(truth) - 1) < 1e-15


def test_component_differences_subtract_two_components_of_one_vector_first():
    margin = sp.Symbol("m", real=True)
    hinge = margin - s[label] + s[j]  # Crammer–Singer's m - s_y + s_j
    with distribute(False):
        out = L.component_differences(hinge)
        clamped = L.component_differences(sp.Max(0, hinge))
        for kept in (s[j] - s[label], margin + s[j] - z[label]):
            assert L.component_differences(kept) == kept  # nothing else; two vectors
    difference, rest = out.args
    assert isinstance(out, L.ordered_add) and rest == margin
    assert sp.Add(*difference.args) == s[j] - s[label]
    assert clamped == sp.Max(0, out)
    for scores, jv in (([0.5, -2.0, 3.0], 0), ([1e17, 1e17, 1e17 + 64], 2)):
        at = {s: scores, margin: 1.0, label: 1, j: jv}
        assert exact(out, at) == exact(hinge, at)
    # at j = y the difference is exactly 0 and the result the margin; m - s_y + s_j rounds m away
    at = {s: [0.0, 1e17, 0.0], margin: 1.0, label: 1, j: 1}
    assert (1.0 - 1e17) + 1e17 == 0.0 and computed(out, at) == 1.0


def test_one_hot_differences_take_expm1_at_the_label():
    lse = sp.Symbol("lse0", real=True)
    u = z[j] - lse
    grad = sp.exp(u) - sp.KroneckerDelta(j, label)  # softmax minus one-hot
    with distribute(False):
        out = L.one_hot_differences(grad, label, j)
        flipped = L.one_hot_differences(eps * (sp.KroneckerDelta(j, label) - sp.exp(u)), label, j)
        assert L.one_hot_differences(sp.exp(u) - t[j], label, j) == sp.exp(u) - t[j]
    chosen = sp.Piecewise((expm1(u), sp.Eq(j, label)), (sp.exp(u), True))
    assert out == chosen and flipped == -eps * chosen
    for jv in range(CLASSES):
        at = {z: [0.5, -2.0, -1e-20], lse: 0.25, eps: 3.0, label: 2, j: jv}
        assert close(exact(out, at), exact(grad, at))
        assert close(exact(flipped, at), exact(eps * (sp.KroneckerDelta(j, label) - sp.exp(u)), at))
    # p_y = e^{-1e-20}: p_y - 1 is 0 in float64, expm1 keeps -1e-20
    at = {z: [0.0, 0.0, -1e-20], lse: 0.0, label: 2, j: 2}
    assert computed(grad, at) == 0.0 and computed(out, at) == -1e-20


def test_exp_square_differences_write_p_minus_p_squared_as_minus_p_expm1():
    lse = sp.Symbol("lse0", real=True)
    u = z[j] - lse
    hess = gam * sp.exp(u) - gam * sp.exp(2 * u) + t[j]  # the Hessian diagonal, p - p²
    with distribute(False):
        out = L.exp_square_differences(hess)
        shifted = L.ordered_add(z[j] - lse, -eps)
        grouped = L.exp_square_differences(sp.exp(shifted) - sp.exp(2 * z[j] - 2 * lse - 2 * eps))
        assert L.exp_square_differences(sp.exp(u) - 2 * sp.exp(2 * u)) == (
            sp.exp(u) - 2 * sp.exp(2 * u)
        )
    assert out == -gam * sp.exp(u) * expm1(u) + t[j]
    assert grouped == -sp.exp(shifted) * expm1(shifted)  # through ordered_add
    for zv in (0.5, -3.0, -1e-20):
        at = {z: [zv, 0.0, 0.0], lse: 0.0, gam: 2.0, t: [0.25, 0, 0], j: 0}
        assert close(exact(out, at), exact(hess, at), rel=1e-25)
    # p = e^{-1e-20} rounds to 1: p - p² is 0 in float64, -p·expm1(u) keeps 1e-20
    at = {z: [-1e-20, 0.0, 0.0], lse: 0.0, gam: 1.0, t: [0.0, 0, 0], j: 0}
    assert computed(hess, at) == 0.0 and computed(out, at) == 1e-20


# -- dd_differences ------------------------------------------------------------------------


def test_dd_differences_form_an_exponent_of_cells_in_double_double():
    V, up, left = sp.symbols("V up left", real=True)  # cells of a soft-min DP
    x = sp.Symbol("x", real=True)
    weight = sp.exp((V - up - 1) / gam) * eps + sp.exp(x)
    out = L.dd_differences(weight, (V, up, left))
    (num,) = out.atoms(L.exact_numerator)
    assert out == sp.exp(num / gam) * eps + sp.exp(x)  # 1/γ scales the exact sum, in float64
    assert num.numerator == V - up - 1 and num.sums == {V, up}
    for kept in (sp.exp(V / gam - up), sp.exp(V * up)):  # coefficients not in ratio; a product
        assert L.dd_differences(kept, (V, up)) == kept
    at = {V: 1e10 + 1.5, up: 1e10, gam: 0.1, eps: 2.0, x: -1.0}
    assert close(exact(out, at), exact(weight, at))
    # the cells are read as double-doubles and summed exactly (printed, not run: that is Numba)
    code = NumbaPrinter("float64", {V: "V", up: "up", gam: "gamma", eps: "e", x: "x"}).doprint(out)
    assert "V_dd" in code and "up_dd" in code and "vmath.dd_add" in code
