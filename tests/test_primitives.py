"""Stable primitives: derivative rules, stable forms and LaTeX agree with the plain definition."""

import mpmath
import pytest
import sympy as sp

from symloss.definition.primitives import (
    PRIMITIVES,
    log_cosh,
    log_sigmoid,
    logaddexp,
    sigmoid,
    softplus,
)

x, y = sp.symbols("x y", real=True)
UNARY = [p for p in PRIMITIVES if p.nargs == {1}]
POINTS = [-700.0, -30.0, -2.5, -1e-6, 0.0, 1e-6, 0.7, 3.0, 40.0, 700.0]


def _mp(expr, *symbols):
    return sp.lambdify(symbols, expr, modules="mpmath")


@pytest.mark.parametrize("prim", UNARY, ids=lambda p: p.__name__)
def test_fdiff_matches_derivative_of_plain_definition(prim):
    derived = _mp(sp.diff(prim(x), x).rewrite("math"), x)
    plain = _mp(prim(x).rewrite("math"), x)
    with mpmath.workdps(60):
        for v in POINTS:
            exact = mpmath.diff(plain, mpmath.mpf(v))
            assert abs(derived(mpmath.mpf(v)) - exact) <= mpmath.mpf(10) ** -40 * max(1, abs(exact))


@pytest.mark.parametrize("prim", UNARY, ids=lambda p: p.__name__)
def test_stable_form_equals_plain_definition(prim):
    stable = _mp(prim(x).rewrite("stable"), x)
    plain = _mp(prim(x).rewrite("math"), x)
    with mpmath.workdps(80):
        for v in POINTS:
            a, b = stable(mpmath.mpf(v)), plain(mpmath.mpf(v))
            assert abs(a - b) <= mpmath.mpf(10) ** -60 * max(1, abs(b)), (prim, v)


def test_logaddexp_two_arguments():
    f = logaddexp(x, y)
    assert sp.simplify(sp.diff(f, x).rewrite("math") - sp.exp(x) / (sp.exp(x) + sp.exp(y))) == 0
    stable = _mp(f.rewrite("stable").rewrite(sp.Piecewise), x, y)  # the kernel's form
    with mpmath.workdps(50):
        for a, b in [(-800, 3), (5, 5), (1e3, -1e3), (0.1, 0.2)]:
            exact = mpmath.log(mpmath.exp(a) + mpmath.exp(b))
            assert abs(stable(mpmath.mpf(a), mpmath.mpf(b)) - exact) < mpmath.mpf(10) ** -40


def test_logaddexp_with_a_minus_infinite_argument_is_the_other():
    stable = _mp(logaddexp(x, y).rewrite("stable").rewrite(sp.Piecewise), x, y)
    assert stable(mpmath.mpf("-inf"), mpmath.mpf(2)) == 2


def test_logaddexp_of_two_equal_infinities_is_that_infinity():
    # Max(a, b) + log1p(e^-|a - b|) is NaN there (∞ - ∞); log(e^a + e^b) is a (NumPy's too).
    stable = _mp(logaddexp(x, y).rewrite("stable").rewrite(sp.Piecewise), x, y)
    for v in ("-inf", "inf"):
        assert stable(mpmath.mpf(v), mpmath.mpf(v)) == mpmath.mpf(v)


def test_derivatives_stay_in_primitives():
    assert sp.diff(softplus(x), x) == sigmoid(x)
    assert sp.diff(sigmoid(x), x) == sigmoid(x) * sigmoid(-x)
    assert sp.diff(log_sigmoid(x), x) == sigmoid(-x)
    assert sp.diff(log_cosh(x), x) == sp.tanh(x)


def test_latex_uses_conventional_names():
    assert sp.latex(sigmoid(x)) == r"\sigma\left(x\right)"
    assert sp.latex(log_cosh(x)) == r"\log\cosh\left(x\right)"
    assert sp.latex(softplus(x) ** 2) == r"\operatorname{softplus}\left(x\right)^{2}"


def test_known_values():
    assert sigmoid(0) == sp.S.Half
    assert softplus(0) == sp.log(2)
    assert log_cosh(0) == 0
