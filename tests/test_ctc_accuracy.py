"""CTC near P = 1 and with NaN logits, against the sum over all alignments in mpmath
(benchmarks/ctc_accuracy.py: every path enumerated at 60 and 120 digits, independent of the
kernel)."""

import importlib.util
import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import symloss

_spec = importlib.util.spec_from_file_location(
    "ctc_accuracy", Path(__file__).resolve().parents[1] / "benchmarks" / "ctc_accuracy.py"
)
acc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(acc)


def _confident(seed, n_time, n_classes, target, margin):
    return acc.confident_logits(np.random.default_rng(seed), n_time, n_classes, target, margin)


CONFIDENT = [
    (0, 3, 3, [1], 30.0),
    (1, 4, 3, [2, 1], 16.0),
    (2, 4, 3, [1, 1], 60.0),
    (3, 5, 3, [2], 100.0),
    (4, 4, 4, [3, 2], 8.0),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed,n_time,n_classes,target,margin", CONFIDENT)
def test_confident_loss_is_not_negative_and_accurate(
    dtype, seed, n_time, n_classes, target, margin
):
    # on main: float32 losses of -4.8e-10 and errors of 1e5 ULP (float64: 1e11) here
    z = _confident(seed, n_time, n_classes, target, margin).astype(dtype)
    want, want_g = acc.reference(z.astype(np.float64), target, dtype)
    v = symloss.ctc(z, np.array(target), n_time, len(target), reduction="sum")
    assert v >= 0
    err = acc.ulps(np.asarray(v, dtype), want)
    if err > 8:  # float64 at |z| = 100: -log P ≈ Σ e^{z_c - m} moves by |z|·ε when z does
        moved = 4 * float(np.sum(np.spacing(np.abs(z)) * np.abs(want_g)))  # ±4 ULP, first order
        err = max(0.0, abs(float(v) - float(want)) - moved) / float(np.spacing(want))
    assert err <= 8


@pytest.mark.parametrize("seed,n_time,n_classes,target,margin", CONFIDENT)
def test_confident_float32_gradient_is_accurate(seed, n_time, n_classes, target, margin):
    # tiny components (1e-43 …) carried absolute ε-sized errors on main: 1e9 ULP
    z = _confident(seed, n_time, n_classes, target, margin).astype(np.float32)
    _, want = acc.reference(z.astype(np.float64), target, "float32")
    _, g = symloss.ctc.value_and_grad(z, np.array(target), n_time, len(target), reduction="sum")
    err = acc.ulps(g, want)
    if (err > 8).any():  # only where the gradient is ill-conditioned in the logits
        err = acc.mixed_error(g, want, acc.logit_sensitivity(z, target))
    assert err.max() <= 8


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_nan_logit_gives_nan(dtype, zero_infinity):
    # on main: +inf (0 with zero_infinity) and a NaN-free gradient
    z = np.random.default_rng(7).normal(size=(5, 2, 4)).astype(dtype)
    z[2, 0, 3] = np.nan  # sample 0, inside its input length
    z[4, 1, 0] = np.nan  # sample 1, after its input length of 4: not read
    targets, il, tl = np.array([[1, 2], [2, 3]]), np.array([5, 4]), np.array([2, 2])
    v, g = symloss.ctc.value_and_grad(
        z, targets, il, tl, reduction="none", zero_infinity=zero_infinity
    )
    assert np.isnan(v[0]) and np.isfinite(v[1])
    assert np.isnan(g[:, 0]).all() and np.isfinite(g[:, 1]).all()
    assert np.isnan(symloss.ctc(z, targets, il, tl, zero_infinity=zero_infinity))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ordinary_inputs_match_pytorch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    z = rng.normal(0, 2, (20, 4, 6)).astype(dtype)
    targets, il, tl = rng.integers(1, 6, (4, 5)), np.array([20, 15, 12, 20]), np.array([5, 3, 4, 1])
    zt = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(
        zt.log_softmax(2),
        torch.tensor(targets),
        torch.tensor(il),
        torch.tensor(tl),
        reduction="none",
    )
    (want_g,) = torch.autograd.grad(loss.sum(), zt)
    v, g = symloss.ctc.value_and_grad(z, targets, il, tl, reduction="none")
    tol = 1e-5 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(v, loss.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(g, want_g.numpy(), rtol=tol, atol=tol)


def _exact_equal_logit_gradient(n_time, n_classes, target, blank=0):
    """∂(-log P)/∂z at equal logits, in exact rationals: every class has p = 1/C and every
    alignment the same probability, so the occupancy is a ratio of path counts."""
    at = np.zeros((n_time, n_classes), dtype=object)
    total = 0
    for path in itertools.product(range(n_classes), repeat=n_time):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
        if collapsed == list(target):
            total += 1
            for t, k in enumerate(path):
                at[t, k] += 1
    return [
        [Fraction(1, n_classes) - Fraction(at[t, k], total) for k in range(n_classes)]
        for t in range(n_time)
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shift", [0.0, 1.5])
def test_equal_logits_gradient_is_exact(dtype, shift):
    # on main: 5.6e-17 where the gradient is 0 (t = 3, blank: 5 of the 15 alignments end in a
    # blank, p = 1/3): 6e8 ULP in float32, 4e18 in float64; p - γ was formed as a difference
    z = np.full((4, 3), shift, dtype=dtype)
    want = _exact_equal_logit_gradient(4, 3, [2, 1])
    _, g = symloss.ctc.value_and_grad(z, np.array([2, 1]), 4, 2, reduction="sum")
    want = np.array([[float(x) for x in row] for row in want]).astype(dtype)
    assert (g[want == 0] == 0).all()
    assert acc.ulps(g, want).max() <= 8


# logits of `symloss verify ctc` (scale 30): [1, 2, 2] in T = 4 has one alignment, 1 2 b 2,
# so frame 2 is forced through the blank: its gradient there is p - 1 = -(p_1 + p_2) ≈ -4e-33;
# and [2, 3], where a state pair shares its predecessors and its likely successor
FORCED = [
    [19.000578684747456, -66.10529641939952, 1.5608692277965952],
    [20.510585723296035, 30.11884727526509, -18.537211341228026],
    [54.6603408998497, -39.6129291003988, -19.845840654456573],
    [28.051499643420662, 1.4716384147593498, 60.07177750935766],
]
SHARED = [
    [-19.45801823710004, 20.341191813719913, -15.000252995542446, 40.81338607455773],
    [30.071948185318732, -4.570159074727074, -14.1664782832813, -30.144030210830895],
    [-20.99899626939974, -44.19429223996875, 36.13188874599253, 47.72102361378186],
    [-37.68414209183199, -35.4504892705939, -53.05535571260751, -28.91562692196522],
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("logits,target", [(FORCED, [1, 2, 2]), (SHARED, [2, 3])])
def test_cancelling_occupancy_gradient_is_accurate(dtype, logits, target):
    # on main: float32 gave 0 for -4.4e-33 (forced), float64 7.575042770992e-34 for
    # 7.575042775082e-34 (shared: 4.8e6 ULP, also at logits ±4 ULP away)
    z = np.array(logits, dtype=dtype)
    _, want = acc.reference(z.astype(np.float64), target, dtype)
    _, g = symloss.ctc.value_and_grad(z, np.array(target), len(z), len(target), reduction="sum")
    err = acc.ulps(g, want)
    if (err > 8).any():  # only where the gradient is ill-conditioned in the logits
        err = acc.mixed_error(g, want, acc.logit_sensitivity(z, target))
    assert err.max() <= 8
