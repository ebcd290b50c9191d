"""The Hessian diagonal of class-axis losses (``grad_hess``) against PyTorch's autograd on the
peer's formula, float64; and the parts of the mean (``partial_sums``) against the mean."""

import numpy as np
import pytest

import symloss

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _diag_hessians(fn, z, y):
    """Per row: the gradient and the diagonal of the Hessian of fn(z_row, y_row), by autograd."""
    grads, diags = [], []
    for row, label in zip(z, y):
        r = torch.tensor(row, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(fn(r, int(label)), r, create_graph=True)
        d = [torch.autograd.grad(g[j], r, retain_graph=True)[0][j] for j in range(len(row))]
        grads.append(g.detach().numpy())
        diags.append(torch.stack(d).detach().numpy())
    return np.array(grads), np.array(diags)


def _softmax_ce(weight, eps):
    w = torch.tensor(weight, dtype=torch.float64)

    def fn(r, label):
        return F.cross_entropy(
            r[None], torch.tensor([label]), weight=w, label_smoothing=eps, reduction="sum"
        )

    return fn


def _focal(alpha, gamma):
    def fn(r, label):
        logp = torch.log_softmax(r, 0)[label]
        return -alpha * (1 - torch.exp(logp)) ** gamma * logp

    return fn


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_softmax_cross_entropy_hessian_diagonal_matches_autograd(rng, eps):
    z = rng.normal(0, 3, (12, 6))
    z[0] = [30.0, 0, 0, 0, 0, -30.0]  # p → 1 and p → 0
    y = rng.integers(0, 6, 12)
    weight = rng.uniform(0.5, 2.0, 6)
    g, h = symloss.softmax_cross_entropy.grad_hess(z, y, weight=weight, label_smoothing=eps)
    want_g, want_h = _diag_hessians(_softmax_ce(weight, eps), z, y)
    np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h, want_h, rtol=1e-10, atol=1e-15)
    assert np.all(h >= 0)  # convex in the logits


def test_softmax_focal_hessian_diagonal_matches_autograd(rng):
    z = rng.normal(0, 2, (12, 5))
    y = rng.integers(0, 5, 12)
    g, h = symloss.softmax_focal.grad_hess(z, y, alpha=0.5, gamma=2.0)
    want_g, want_h = _diag_hessians(_focal(0.5, 2.0), z, y)
    np.testing.assert_allclose(g, want_g, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(h, want_h, rtol=1e-9, atol=1e-14)
    assert np.any(h < 0)  # not convex: what the boosting objectives' floor is for


def test_hessian_layout_ignore_index_and_float32(rng):
    z = rng.normal(size=(4, 3, 2))  # (N, C, d1): the class axis is 1
    y = np.array([[0, 1], [2, -100], [1, 1], [0, 2]])
    g, h = symloss.softmax_cross_entropy.grad_hess(z, y)
    assert g.shape == h.shape == z.shape
    assert np.all(h[1, :, 1] == 0) and np.all(g[1, :, 1] == 0)  # the ignored sample
    rows = np.moveaxis(z, 1, -1).reshape(-1, 3)
    p = np.exp(rows - rows.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = np.moveaxis((p * (1 - p)).reshape(4, 2, 3), -1, 1)
    want[1, :, 1] = 0
    np.testing.assert_allclose(h, want, rtol=1e-13)
    g32, h32 = symloss.softmax_cross_entropy.grad_hess(z.astype(np.float32), y)
    assert h32.dtype == np.float32
    np.testing.assert_allclose(h32, want, rtol=1e-5, atol=1e-7)


def test_hessian_keeps_its_digits_where_p_rounds_to_one():
    # p(1 - p) with 1 - p = e^{-40}·(1 + …): computed as -p·expm1(log p), not p - p²
    g, h = symloss.softmax_cross_entropy.grad_hess(np.array([[40.0, 0.0]]), np.array([0]))
    want = np.exp(-40.0) / (1 + np.exp(-40.0)) ** 2
    np.testing.assert_allclose(h, [[want, want]], rtol=1e-14)


@pytest.mark.parametrize("name", ["huber", "sigmoid_cross_entropy"])
def test_partial_sums_are_the_parts_of_the_mean(rng, name):
    k = symloss.loss(name)
    p, t, w = rng.normal(size=50), (rng.random(50) > 0.5).astype(float), rng.random(50)
    total, count, g = k.partial_sums(p, t, weight=w, grad=True)
    value, grad = k.value_and_grad(p, t, weight=w)
    assert count == pytest.approx(w.sum(), rel=1e-15)
    assert total / count == pytest.approx(value, rel=1e-14)
    np.testing.assert_allclose(g / count, grad, rtol=1e-14)
    assert k.partial_sums(p, t)[1] == 50


def test_partial_sums_of_class_labels_count_the_weights_of_kept_labels(rng):
    z, y = rng.normal(size=(10, 4)), rng.integers(0, 4, 10)
    y[3] = -100
    weight = rng.uniform(0.5, 2, 4)
    total, count = symloss.softmax_cross_entropy.partial_sums(z, y, weight=weight)
    assert count == pytest.approx(weight[y[y >= 0]].sum(), rel=1e-15)
    want = F.cross_entropy(torch.tensor(z), torch.tensor(y), weight=torch.tensor(weight))
    assert total / count == pytest.approx(float(want), rel=1e-13)
