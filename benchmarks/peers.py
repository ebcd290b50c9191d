"""What users would run instead of symloss, for the same loss, value and gradient.

Each function takes the inputs as NumPy arrays and returns a zero-argument callable that does
the work once (the timed unit), or None where the peer lacks the loss or is not installed.
Formulas are written at the default parameters of symloss's losses (δ = β = 1, γ = 2,
α = 0.25) with reduction "mean"; the gradient is that of the mean.
"""

from __future__ import annotations

import importlib.util

import numpy as np


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- NumPy: the formula as a NumPy user writes it, value and gradient ----------------------------


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


NUMPY = {  # name → (value(p, t), gradient(p, t) of the mean)
    "mse": (lambda p, t: np.mean((p - t) ** 2), lambda p, t: 2 * (p - t) / p.size),
    "mae": (lambda p, t: np.mean(np.abs(p - t)), lambda p, t: np.sign(p - t) / p.size),
    "l1": (lambda p, t: np.sum(np.abs(p - t)), lambda p, t: np.sign(p - t)),
    "l2": (
        lambda p, t: np.linalg.norm(p - t),
        lambda p, t: (p - t) / np.linalg.norm(p - t),
    ),
    "huber": (
        lambda p, t: np.mean(np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2, np.abs(p - t) - 0.5)),
        lambda p, t: np.clip(p - t, -1, 1) / p.size,
    ),
    "smooth_l1": (
        lambda p, t: np.mean(np.where(np.abs(p - t) < 1, 0.5 * (p - t) ** 2, np.abs(p - t) - 0.5)),
        lambda p, t: np.clip(p - t, -1, 1) / p.size,
    ),
    "log_cosh": (
        lambda p, t: np.mean(
            np.abs(p - t) + np.log1p(np.exp(-2 * np.abs(p - t))) - np.log(2.0).astype(p.dtype)
        ),
        lambda p, t: np.tanh(p - t) / p.size,
    ),
    "sigmoid_cross_entropy": (
        lambda x, y: np.mean(_softplus(x) - x * y),
        lambda x, y: (_sigmoid(x) - y) / x.size,
    ),
    "hinge": (
        lambda f, y: np.mean(np.maximum(0, 1 - y * f)),
        lambda f, y: np.where(y * f < 1, -y, 0) / f.size,
    ),
}


def numpy_value(name, *arrays):
    if name not in NUMPY:
        return None
    f = NUMPY[name][0]
    return lambda: f(*arrays)


def numpy_value_and_grad(name, *arrays):
    if name not in NUMPY:
        return None
    f, g = NUMPY[name]
    return lambda: (f(*arrays), g(*arrays))


# -- sympy.lambdify of the definition: what a SymPy user gets without symloss ------------------


def lambdify_value_and_grad(spec, *arrays, grad: bool = True):
    """The definition's ℓ and ∂ℓ/∂(first input), lambdified to NumPy at the default
    parameters; mean and its gradient."""
    import sympy as sp

    if spec.family != "elementwise" or any(p.default is None for p in spec.parameters.values()):
        return None
    symbols = [spec.symbol(i.name) for i in spec.inputs]
    defaults = {spec.symbol(k): p.default for k, p in spec.parameters.items()}
    element = spec.element.subs(defaults).rewrite("math")
    f = sp.lambdify(symbols, element, "numpy")
    if not grad:
        return lambda: np.mean(f(*arrays))
    d = sp.lambdify(symbols, sp.diff(element, symbols[0]), "numpy")
    n = arrays[0].size
    return lambda: (np.mean(f(*arrays)), d(*arrays) / n)


# -- PyTorch eager: forward (and backward) -------------------------------------------------------


def _torch_elementwise(name):
    import torch
    import torch.nn.functional as F

    def focal(x, y):
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        a_t = 0.25 * y + 0.75 * (1 - y)
        return (a_t * (1 - p_t) ** 2 * ce).mean()

    return {
        "mse": F.mse_loss,
        "mae": F.l1_loss,
        "l1": lambda p, t: (p - t).abs().sum(),
        "l2": lambda p, t: torch.linalg.vector_norm(p - t),
        "huber": F.huber_loss,
        "smooth_l1": F.smooth_l1_loss,
        "log_cosh": lambda p, t: (
            (p - t).abs() + torch.log1p(torch.exp(-2 * (p - t).abs())) - np.log(2.0)
        ).mean(),
        "sigmoid_cross_entropy": F.binary_cross_entropy_with_logits,
        "sigmoid_focal": focal,
        "hinge": lambda f, y: torch.clamp(1 - y * f, min=0).mean(),
    }.get(name)


def torch_call(name, *arrays, grad: bool = True):
    if not installed("torch"):
        return None
    import torch

    torch.set_num_threads(2)
    f = _torch_elementwise(name)
    if f is None:
        return None
    ts = [torch.from_numpy(a) for a in arrays]
    return _torch_runner(lambda x: f(x, *ts[1:]), ts[0], grad)


def _torch_runner(f, x, grad: bool):
    import torch

    if not grad:

        def run():
            with torch.no_grad():
                return f(x)

        return run

    def run_grad():
        leaf = x.detach().requires_grad_(True)
        value = f(leaf)
        value.backward()
        return value, leaf.grad

    return run_grad


# -- JAX: jax.jit of the function, or of jax.value_and_grad -------------------------------------


def _jax_elementwise(name):
    import jax.numpy as jnp
    import optax

    return {
        "mse": lambda p, t: jnp.mean((p - t) ** 2),
        "mae": lambda p, t: jnp.mean(jnp.abs(p - t)),
        "l1": lambda p, t: jnp.sum(jnp.abs(p - t)),
        "l2": lambda p, t: jnp.linalg.norm(p - t),
        "huber": lambda p, t: jnp.mean(optax.huber_loss(p, t, delta=1.0)),
        "smooth_l1": lambda p, t: jnp.mean(optax.huber_loss(p, t, delta=1.0)),
        "log_cosh": lambda p, t: jnp.mean(optax.log_cosh(p, t)),
        "sigmoid_cross_entropy": lambda x, y: jnp.mean(optax.sigmoid_binary_cross_entropy(x, y)),
        "sigmoid_focal": lambda x, y: jnp.mean(optax.sigmoid_focal_loss(x, y, alpha=0.25)),
        "hinge": lambda f, y: jnp.mean(optax.hinge_loss(f, y)),
    }.get(name)


def jax_call(name, *arrays, grad: bool = True):
    if not (installed("jax") and installed("optax")):
        return None
    f = _jax_elementwise(name)
    return None if f is None else jax_runner(f, arrays, grad)


def jax_runner(f, arrays, grad: bool = True, argnums=0):
    """jax.jit of f (or of its value_and_grad) on device copies of ``arrays``; float64 is
    enabled for float64 inputs. The callable blocks until the result is ready."""
    import jax

    if any(a.dtype == np.float64 for a in arrays):
        jax.config.update("jax_enable_x64", True)
    xs = [jax.device_put(a) for a in arrays]
    fn = jax.jit(jax.value_and_grad(f, argnums=argnums) if grad else f)
    return lambda: jax.block_until_ready(fn(*xs))
