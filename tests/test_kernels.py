"""Every kernel against the mpmath evaluation of its definition (the heart of verification)."""

import numpy as np
import pytest

import symloss
from symloss import verify
from symloss.catalog import BUILTINS, SEQUENCES
from symloss.verify.sequences import verify_sequence

# Kernels that the sharper gate of issue 15 fails and that are not fixed yet: each an xfail
# with what fails (an XPASS in the report says the entry can go).
KNOWN_FAILURES = {
    "balanced_sigmoid_cross_entropy": "β·y·(σ - 1) + (1 - β)(1 - y)·σ cancels for soft targets "
    "(18 ULP in float32 at logit -1e-6, y = 0.74, β = 0.25)",
    "cauchy": "NaN at tiny but representable c (c² underflows while r/c overflows)",
    "dice": "gradient and Hessian components off by 61 and 113 ULP in float32 at ordinary "
    "probabilities (16 and 79 in float64)",
    "gaussian_nll": "½log v + ½r²/v cancels where log v ≈ -r²/v: only an extended-precision "
    "evaluation keeps the digits (the mixed criterion covers most, not all, such points)",
    "poisson_nll": "NaN, not -inf, at target = +inf where e^x overflows (x = 1000 in float64, "
    "100 in float32): the value's x·e^{-x}·y and the gradient's e^x - y meet 0·∞ and ∞ - ∞",
    "large_margin_softmax": "gradient components that cancel (ψ_m's terms): 1.8e9 ULP in "
    "float32 at a logit of 1.8e19, absolute errors of ~ε in float64; the old gate excused "
    "them by conditioning over every input, parameters included; and NaN in float64 at the "
    "rows of max/2n (logits ±1.8e307, label 3: value 8.99e306), 3 values and 17 gradient "
    "components",
    "tversky": "the gradient near a perfect prediction (p_y = 1 - 1e-13) is 0 in float32 and "
    "off by 5e12 ULP in float64: TP - FN-style differences cancel",
    "ctc": "a gradient component that is exactly 0 (uniform logits) comes out as ±ε·p: the "
    "softmax minus the occupancy is formed as a difference there",
    # measured by independent mpmath checks (tests/check_mutations.py --control and the
    # accuracy-fix measurements), not yet by a complete run of this gate:
    "sigmoid_cross_entropy": "the value's coefficient 1 - y' is formed by cancellation: 12 ULP "
    "at ε = 0.1, y = 1, x = 40",
    "sigmoid_focal": "45 ULP in float32 at γ = 5, where the intermediate q^γ underflows",
    "general_robust": "about 16 ULP at α = 1.5, r = 1e10",
    "soft_edit_distance": "gradient components 13 (float32) and 27 (float64) ULP off at γ = 0.1: "
    "the log-softmax inside is the naive one",
}


def _known(name):
    if name in KNOWN_FAILURES:
        return pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[name]))
    return name


@pytest.mark.parametrize("name", [_known(n) for n in sorted(BUILTINS)])
def test_kernels_match_the_definition_within_bounds(name):
    rows = verify.verify_loss(BUILTINS[name], symloss.loss(name))
    quantities = {(r.quantity, r.dtype) for r in rows}
    # class-axis losses have a vector gradient and no Hessian kernel
    checked = ("value", "grad") if BUILTINS[name].family == "classes" else ("value", "grad", "hess")
    for dtype in ("float32", "float64"):
        assert {(q, dtype) for q in checked} <= quantities
    failures = [f"{r}  worst at {r.worst_at}" for r in rows if not r.passed]
    assert not failures, "\n".join(failures)
    assert all(r.points > 0 for r in rows)


class _Perturbed:
    """A kernel whose gradient is off by a relative 1e-5: the verifier must notice."""

    def __init__(self, inner, scale):
        self.inner, self.scale = inner, scale

    def __call__(self, *a, **k):
        return self.inner(*a, **k)

    def value_and_grad(self, *a, **k):
        v, g = self.inner.value_and_grad(*a, **k)
        return v, g * g.dtype.type(self.scale)

    def grad_hess(self, *a, **k):
        return self.inner.grad_hess(*a, **k)


def test_verifier_catches_a_wrong_gradient():
    rows = verify.verify_loss(BUILTINS["mse"], _Perturbed(symloss.loss("mse"), 1 + 1e-5))
    bad = [r for r in rows if not r.passed]
    assert bad and {r.quantity for r in bad} == {"grad"}


class _SecondGradientOff:
    """center_loss with its gradient w.r.t. the centers off by a relative 1e-5."""

    def __init__(self, inner):
        self.inner = inner.rowwise
        self.rowwise = self

    def __call__(self, *a, **k):
        return self.inner(*a, **k)

    def value_and_grad(self, *a, **k):
        v, (g_x, g_centers) = self.inner.value_and_grad(*a, **k)
        return v, (g_x, g_centers * (1 + 1e-5))


def test_verifier_checks_every_gradient_of_a_loss_with_several_inputs():
    kernel = _SecondGradientOff(symloss.loss("center_loss"))
    rows = verify.verify_loss(BUILTINS["center_loss"], kernel, dtypes=("float64",))
    bad = [r for r in rows if not r.passed]
    assert bad and {r.quantity for r in bad} == {"grad"}


class _CosineGradientOff(_SecondGradientOff):
    """cosine_distance with its gradient w.r.t. x off by a relative 1e-6, or by ε·Σ|terms|
    times ``terms`` where the true gradient is 0 (parallel vectors)."""

    def __init__(self, inner, relative, terms):
        super().__init__(inner)
        self.relative, self.terms = relative, terms

    def value_and_grad(self, *a, **k):
        v, (g_x, g_y) = self.inner.value_and_grad(*a, **k)
        x, y = a[:2]
        nx = np.sqrt((x.astype(np.float64) ** 2).sum(axis=1, keepdims=True))
        floor = self.terms * np.finfo(x.dtype).eps / np.maximum(nx, 1e-300)
        return v, (g_x * (1 + self.relative) + floor.astype(x.dtype), g_y)


@pytest.mark.parametrize("relative, terms", [(1e-6, 0.0), (0.0, 100.0)])
def test_the_terms_allowance_of_distance_losses_still_catches_errors(relative, terms):
    """accuracy="terms" allows a few ε·Σ|t| (Σ|t| ≈ 2/‖x‖ for the gradient in x): a relative
    error of 1e-6, or an offset of 100 ε/‖x‖ where the gradient is 0, fails."""
    kernel = _CosineGradientOff(symloss.loss("cosine_distance"), relative, terms)
    rows = verify.verify_loss(BUILTINS["cosine_distance"], kernel, dtypes=("float64",))
    bad = [r for r in rows if not r.passed]
    assert bad and {r.quantity for r in bad} == {"grad"}


@pytest.mark.parametrize("name", [_known(n) for n in sorted(SEQUENCES)])
def test_sequence_kernels_match_their_references(name):
    rows = verify_sequence(SEQUENCES[name], symloss.loss(name))
    assert {r.quantity for r in rows} >= {"value"}
    failures = [f"{r}  worst at {r.worst_at}" for r in rows if not r.passed]
    assert not failures, "\n".join(failures)
