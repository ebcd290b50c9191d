"""Inputs that gave a bare or misleading error, or a raise where the README promises a NaN:
each now gives the right answer or an error naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import symloss


def test_balanced_cross_entropy_estimates_no_beta_from_nothing():
    empty = np.zeros(0)
    assert np.isnan(symloss.balanced_sigmoid_cross_entropy(empty, empty))  # 0/0, as NumPy's mean
    assert symloss.balanced_sigmoid_cross_entropy(empty, empty, reduction="sum") == 0.0


def test_balanced_cross_entropy_with_a_nan_target_is_nan_everywhere():
    # β = mean(1 - target) is NaN, and every element's value depends on β.
    value, grad = symloss.loss("balanced_sigmoid_cross_entropy").value_and_grad(
        np.zeros(3), np.array([0.0, np.nan, 1.0]), reduction="none"
    )
    assert np.isnan(value).all() and np.isnan(grad).all()


@pytest.mark.parametrize(
    "formula, match",
    [
        ("-" * 5000 + "pred", "nested too deeply"),
        ("(" * 3000 + "pred" + ")" * 3000, "nested"),
        ("inf - inf + pred", "undefined"),
        ("0*inf + pred", "undefined"),
        ("Piecewise((pred, pred > 0))", r"last piece \(value, True\)"),
    ],
)
def test_formulas_that_define_no_loss_are_refused_when_defined(formula, match):
    with pytest.raises(ValueError, match=match):
        symloss.define("bad_formula", formula)


def test_multiclass_hinge_kind_none_is_its_default_form():
    scores, target = np.array([[1.0, 2.0, 3.0], [0.5, 1.0, 0.0]]), np.array([0, 1])
    # Weston-Watkins by brute force: Σ_{c≠y} max(0, 1 - s_y + s_c), averaged over samples.
    expected = np.mean(
        [sum(max(0.0, 1 - s[y] + s[c]) for c in range(3) if c != y) for s, y in zip(scores, target)]
    )
    assert symloss.multiclass_hinge(scores, target, kind=None) == pytest.approx(expected, rel=1e-15)
    with pytest.raises(TypeError, match="no kind parameter"):
        symloss.softmax_cross_entropy(scores, target, kind="weston_watkins")


def test_edit_distance_of_two_empty_sequences_is_zero():
    assert symloss.edit_distance([], []) == 0.0
    assert symloss.edit_distance([], "ab") == 2.0


@pytest.mark.parametrize(
    "hypothesis, truth, match",
    [
        ("abc", None, "^truth must be"),
        (None, "abc", "^hypothesis must be"),
        ("abc", ["abc"], "hypothesis is one sequence but truth is a batch"),
        (np.zeros((2, 2, 2), np.int64), [[1]], r"hypothesis .* of shape \(2, 2, 2\)"),
    ],
)
def test_edit_distance_blames_the_argument_that_is_wrong(hypothesis, truth, match):
    with pytest.raises(TypeError, match=match):
        symloss.edit_distance(hypothesis, truth)


def test_edit_distance_costs_that_are_not_numbers_are_a_type_error():
    with pytest.raises(TypeError, match="costs must be three numbers"):
        symloss.edit_distance("abc", "abd", costs=("a", "b", "c"))


@pytest.mark.parametrize("axis", [1.0, "1", True, (0, 1.0)])
def test_axis_that_is_not_an_integer_is_a_type_error(axis):
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match="axis must be None, an integer or a tuple of integers"):
        symloss.l1(x, x, axis=axis)


def test_jax_shape_errors_are_raised_while_tracing():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from symloss.integrations.jax import function

    mse, ce = function("mse"), function("softmax_cross_entropy")
    with pytest.raises(ValueError, match=r"target has shape \(4,\), which does not broadcast"):
        jax.jit(mse)(jnp.zeros((2, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        jax.grad(ce)(jnp.zeros((2, 3)), jnp.array([0, 1, 1]))
    # Outside a transformation the kernel runs directly: a bad label is symloss's ValueError.
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        ce(jnp.zeros((2, 3)), jnp.array([0, 5]))


def test_center_loss_without_centers_says_so():
    with pytest.raises(ValueError, match="centers has no rows"):
        symloss.center_loss(np.zeros((2, 3)), np.array([0, 1]), np.zeros((0, 3)))
