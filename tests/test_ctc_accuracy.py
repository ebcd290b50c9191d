"""CTC near P = 1 and with NaN logits, against the sum over all alignments in mpmath
(benchmarks/ctc_accuracy.py: every path enumerated at 60 and 120 digits, independent of the
kernel)."""

import importlib.util
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
