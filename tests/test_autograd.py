"""symloss inside PyTorch and JAX autograd: gradcheck/gradgradcheck, a training loop, and
values and gradients under jax.jit equal to the kernels'. Skipped without the library."""

import numpy as np
import pytest

import symloss

ELEMENTWISE = [
    ("huber", dict(delta=0.5)),
    ("log_cosh", {}),
    ("sigmoid_cross_entropy", dict(label_smoothing=0.1)),
    ("sigmoid_focal", dict(gamma=2.0)),
    ("cauchy", dict(c=2.0)),
]


def _target(name, rng, n):
    classification = name.startswith("sigmoid")
    return (rng.random(n) > 0.5).astype(float) if classification else rng.normal(size=n)


# -- PyTorch ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name, params", ELEMENTWISE)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_gradcheck_and_gradgradcheck(torch, rng, name, params, reduction):
    from symloss.integrations.torch import function

    f = function(name, reduction=reduction, **params)
    x = torch.tensor(rng.normal(0, 2, 12), requires_grad=True)
    y = torch.tensor(_target(name, rng, 12))
    w = torch.tensor(rng.uniform(0.5, 2, 12))
    assert torch.autograd.gradcheck(lambda a: f(a, y), (x,))
    assert torch.autograd.gradgradcheck(lambda a: f(a, y), (x,))  # through the Hessian kernel
    assert torch.autograd.gradgradcheck(lambda a: f(a, y, weight=w), (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_class_losses_match_cross_entropy(torch, rng, reduction):
    from symloss.integrations.torch import function

    F = torch.nn.functional
    z = torch.tensor(rng.normal(size=(8, 5)), requires_grad=True)
    y = torch.tensor(rng.integers(0, 5, 8))
    y[2] = -100
    w = torch.tensor(rng.uniform(0.5, 2, 5))
    f = function("softmax_cross_entropy", reduction=reduction, label_smoothing=0.1)
    assert torch.autograd.gradcheck(lambda a: f(a, y, weight=w), (z,))
    assert torch.autograd.gradcheck(lambda a: function("softmax_focal")(a, y), (z,))
    ours, theirs = (
        f(z, y, weight=w),
        F.cross_entropy(z, y, weight=w, reduction=reduction, label_smoothing=0.1),
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-15)
    up = torch.rand_like(theirs)
    (g1,) = torch.autograd.grad(ours, z, up)
    (g2,) = torch.autograd.grad(theirs, z, up)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-15)


def test_torch_matches_functional_losses(torch, rng):
    from symloss.integrations.torch import function

    F = torch.nn.functional
    x = torch.tensor(rng.normal(0, 3, 50), requires_grad=True)
    y = torch.tensor(rng.normal(size=50))
    for ours, theirs in [
        (function("huber", delta=0.7)(x, y), F.huber_loss(x, y, delta=0.7)),
        (function("smooth_l1", beta=0.5)(x, y), F.smooth_l1_loss(x, y, beta=0.5)),
        (
            function("sigmoid_cross_entropy")(x, (y > 0).double()),
            F.binary_cross_entropy_with_logits(x, (y > 0).double()),
        ),
    ]:
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=0)
        (g1,) = torch.autograd.grad(ours, x)
        (g2,) = torch.autograd.grad(theirs, x)
        torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-16)


def test_torch_training_loop_with_a_linear_model(torch, rng):
    """SGD on nn.Linear with symloss's Huber follows SGD with torch's own huber_loss."""
    from symloss.integrations.torch import function

    X = torch.tensor(rng.normal(size=(256, 4)))
    y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + torch.tensor(
        rng.standard_t(2, 256)
    )
    huber = function("huber", delta=1.0)
    models, losses = [], []
    for loss_fn in (huber, lambda p, t: torch.nn.functional.huber_loss(p, t, delta=1.0)):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        history = []
        for _ in range(60):
            opt.zero_grad()
            loss = loss_fn(model(X).squeeze(1), y)
            loss.backward()
            opt.step()
            history.append(loss.item())
        models.append(model)
        losses.append(history)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert losses[0][-1] < 0.5 * losses[0][0]


def test_torch_dtypes_and_errors(torch, rng):
    from symloss.integrations.torch import Loss, function

    x32 = torch.tensor(rng.normal(size=10), dtype=torch.float32, requires_grad=True)
    v = function("log_cosh")(x32, torch.zeros(10))
    (g,) = torch.autograd.grad(v, x32)
    assert v.dtype == g.dtype == torch.float32
    with pytest.raises(ValueError, match="target requires a gradient"):
        function("mse")(x32, torch.zeros(10, requires_grad=True))
    with pytest.raises(ValueError, match="reduction must be"):
        function("mse", reduction="avg")
    with pytest.raises(ValueError, match="sequence loss"):
        function("ctc")
    with pytest.raises(ValueError, match="delta must be"):
        function("huber", delta=-1.0)
    z = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(
        function("softmax_cross_entropy")(z, torch.tensor([0, 1, 2])), z, create_graph=True
    )
    with pytest.raises(RuntimeError):  # class-axis losses: one backward only
        torch.autograd.grad(g.sum(), z)
    assert "huber" in repr(Loss("huber", delta=0.5))


# -- JAX --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("name, params", ELEMENTWISE)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_jax_jit_value_and_grad_equal_the_kernels(jax, rng, name, params, reduction):
    from symloss.integrations.jax import function

    p, t, w = rng.normal(0, 2, 40), _target(name, rng, 40), rng.uniform(0.5, 2, 40)
    f = function(name, reduction=reduction, **params)
    value, grad = jax.jit(jax.value_and_grad(lambda a, b, c: f(a, b, weight=c)))(p, t, w)
    want_v, want_g = symloss.loss(name).value_and_grad(
        p, t, reduction=reduction, weight=w, **params
    )
    assert float(value) == want_v
    np.testing.assert_array_equal(np.asarray(grad), want_g)


def test_jax_none_reduction_class_losses_and_float32(jax, rng):
    import jax.numpy as jnp

    from symloss.integrations.jax import function

    p, t = rng.normal(size=30), rng.normal(size=30)
    f = jax.jit(function("huber", reduction="none"))
    values, vjp = jax.vjp(lambda a: f(a, t), p)
    up = rng.random(30)
    want_v, want_g = symloss.huber.value_and_grad(p, t, reduction="none")
    np.testing.assert_array_equal(np.asarray(values), want_v)
    np.testing.assert_array_equal(np.asarray(vjp(jnp.asarray(up))[0]), up * want_g)
    z, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    for reduction in ("mean", "none"):
        g_fn = function("softmax_cross_entropy", reduction=reduction, label_smoothing=0.2)
        value, vjp = jax.vjp(jax.jit(lambda a, g_fn=g_fn: g_fn(a, y)), z)
        want_v, want_g = symloss.softmax_cross_entropy.value_and_grad(
            z, y, reduction=reduction, label_smoothing=0.2
        )
        np.testing.assert_array_equal(np.asarray(value), want_v)
        up = np.ones_like(want_v)
        np.testing.assert_allclose(np.asarray(vjp(jnp.asarray(up))[0]), want_g, rtol=1e-15)
    v32, g32 = jax.value_and_grad(function("log_cosh"))(p.astype(np.float32), t.astype(np.float32))
    assert v32.dtype == g32.dtype == jnp.float32
    # no gradient for the target: NaN says so
    assert np.all(np.isnan(jax.grad(lambda b: function("mse")(p, b))(t)))
    with pytest.raises(ValueError, match="reduction must be"):
        function("mse", reduction="avg")
    with pytest.raises(TypeError, match=r"takes inputs \(pred, target\)"):
        function("mse")(p)
