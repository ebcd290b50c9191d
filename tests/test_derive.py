"""Derivatives of the definitions: against finite differences, and the documented kink policy."""

import pytest
import sympy as sp

from symloss import derive, verify
from symloss.catalog import BUILTINS
from symloss.definition.spec import is_homogeneous


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_derivatives_match_high_precision_finite_differences(name):
    assert verify.check_derivatives(BUILTINS[name], points=6) < verify.FD_TOLERANCE


def _at(name, order, **values):
    loss = BUILTINS[name]
    d = loss.derivative(order=order) if loss.family == "elementwise" else None
    subs = {loss.symbol(k): v for k, v in values.items()}
    return d.subs(subs)


def test_abs_has_derivative_zero_at_zero():
    assert _at("mae", 1, pred=0.5, target=0.5) == 0
    assert _at("mae", 2, pred=0.5, target=0.5) == 0


def test_hinge_at_margin_one_has_derivative_zero():
    assert _at("hinge", 1, pred=1, target=1, squared=0) == 0
    assert _at("hinge", 1, pred=sp.Rational(1, 2), target=1, squared=0) == -1


def test_huber_hessian_at_the_kink_is_that_of_the_linear_piece():
    assert _at("huber", 2, pred=1, target=0, delta=1) == 0
    assert _at("huber", 2, pred=sp.Rational(1, 2), target=0, delta=1) == 1


def test_no_distributions_or_undefined_heaviside_left():
    for loss in BUILTINS.values():
        if loss.family != "elementwise":
            continue
        for order in (1, 2):
            d = loss.derivative(order=order)
            assert not d.has(sp.DiracDelta)
            assert all(h.args[1:] == (0,) for h in d.atoms(sp.Heaviside))


def test_log_cosh_hessian_is_sech_squared_not_one_minus_tanh_squared():
    d2 = BUILTINS["log_cosh"].derivative(order=2)
    assert d2.has(sp.sech) and not d2.has(sp.tanh)


def test_norm_gradient_is_zero_where_the_norm_is_zero():
    g1 = derive.outer_derivative(sp.sqrt(derive.S), 1)
    assert g1.subs(derive.S, 0) == 0
    assert g1.subs(derive.S, 4) == sp.Rational(1, 4)


def test_norm_derivative_is_residual_over_norm():
    l2 = BUILTINS["l2"]
    d = l2.derivative("pred")
    i = sp.Symbol("i", integer=True)
    p, t = sp.IndexedBase(l2.symbol("pred")), sp.IndexedBase(l2.symbol("target"))
    assert d.has(sp.Sum) and d.has(p[i] - t[i])


@pytest.mark.parametrize("name,degree", [("mse", 2), ("mae", 1), ("l1", 1), ("l2", 1)])
def test_declared_homogeneity_holds(name, degree):
    assert is_homogeneous(BUILTINS[name], degree)
    assert not is_homogeneous(BUILTINS[name], degree + 1)
