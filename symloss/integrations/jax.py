"""symloss losses as JAX functions with custom derivatives, usable under ``jax.jit``.

    import jax
    from symloss.integrations.jax import function

    huber = function("huber", delta=0.5)
    value, grad = jax.jit(jax.value_and_grad(huber))(pred, target)

The kernels run on the host through ``jax.pure_callback`` (CPU NumPy arrays in and out); the
function is a ``jax.custom_vjp`` whose backward pass is the generated gradient, computed in
the same kernel call as the value. Gradients are with respect to the first input; the
cotangent of the other inputs is NaN (symloss does not derive it, and a NaN says so where a
zero would be a silently wrong gradient). float32 stays float32 (float64 needs
``jax.config.update("jax_enable_x64", True)``, as everywhere in JAX). Not differentiable a
second time; ``vmap`` runs the callback once per batch element (``vmap_method="sequential"``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .common import kernel_for

__all__ = ["function"]


def function(name: str, reduction: str = "mean", **params):
    """Loss ``name`` with its parameters as ``f(pred, target, weight=None)`` on JAX arrays.
    Elementwise and class-axis losses (for these, ``weight`` is the per-class weight)."""
    kernel = kernel_for(name, params, "the JAX function", reduction)
    classes = kernel.family == "classes"

    def host(pred, *others):
        *arrays, weight = others
        weight = None if np.size(weight) == 0 else np.asarray(weight)
        value, grad = kernel.value_and_grad(
            np.asarray(pred),
            *map(np.asarray, arrays),
            reduction=reduction,
            weight=weight,
            **params,
        )
        return np.asarray(value, pred.dtype), np.asarray(grad, pred.dtype)

    def shapes(pred):
        if reduction == "none":
            vshape = pred.shape[:1] + pred.shape[2:] if classes and pred.ndim > 1 else pred.shape
            vshape = () if classes and pred.ndim == 1 else vshape
        else:
            vshape = ()
        return (
            jax.ShapeDtypeStruct(vshape, pred.dtype),
            jax.ShapeDtypeStruct(pred.shape, pred.dtype),
        )

    def call(pred, others):
        return jax.pure_callback(host, shapes(pred), pred, *others, vmap_method="sequential")

    @jax.custom_vjp
    def f(pred, others):
        return call(pred, others)[0]

    def fwd(pred, others):
        value, grad = call(pred, others)
        return value, (grad, others)

    def bwd(res, upstream):
        grad, others = res
        if reduction == "none" and classes and grad.ndim > 1:
            upstream = jnp.expand_dims(upstream, 1)
        nan = jax.tree_util.tree_map(
            lambda a: jnp.full(jnp.shape(a), jnp.nan, jnp.result_type(a, jnp.float32)), others
        )
        return upstream * grad, nan

    f.defvjp(fwd, bwd)

    @functools.wraps(f)
    def loss_fn(pred, *others, weight=None):
        names = kernel.inputs
        if len(others) != len(names) - 1:
            raise TypeError(f"{name}() takes inputs ({', '.join(names)}), got {1 + len(others)}")
        pred = jnp.asarray(pred)
        if not jnp.issubdtype(pred.dtype, jnp.floating):
            pred = pred.astype(jnp.float32)
        others = tuple(map(jnp.asarray, others))
        w = jnp.zeros((0,), pred.dtype) if weight is None else jnp.asarray(weight, pred.dtype)
        _check_shapes(kernel, pred, others, None if weight is None else w)
        if not any(isinstance(a, jax.core.Tracer) for a in (pred, *others, w)):
            # Not traced: run the kernel here, so that a bad value raises symloss's own error
            # (inside a callback JAX reports every error as JaxRuntimeError INTERNAL).
            value = kernel(
                np.asarray(pred),
                *map(np.asarray, others),
                reduction=reduction,
                weight=None if weight is None else np.asarray(w),
                **params,
            )
            return jnp.asarray(value, pred.dtype)
        return f(pred, (*others, w))

    loss_fn.__name__ = name
    loss_fn.__doc__ = f"symloss {name} (reduction={reduction!r}): {kernel.formula}"
    return loss_fn


def _check_shapes(kernel, pred, others: tuple, weight) -> None:
    """The shape errors the kernel would raise, raised while tracing: inside the callback
    they would surface as JaxRuntimeError INTERNAL."""
    names = kernel.inputs
    if kernel.family == "elementwise":
        given = dict(zip(names[1:], others), **({} if weight is None else {"weight": weight}))
        for what, a in given.items():
            try:
                ok = np.broadcast_shapes(a.shape, pred.shape) == pred.shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"{what} has shape {a.shape}, which does not broadcast to {names[0]}'s shape "
                    f"{pred.shape}"
                )
        return
    if pred.ndim == 0:
        raise ValueError(f"{names[0]} must have a class axis: shape (C,), (N, C) or (N, C, ...)")
    samples = pred.shape[:1] + pred.shape[2:] if pred.ndim > 1 else ()
    target = others[0]
    if target.shape not in (samples, pred.shape):
        raise ValueError(
            f"{names[1]} must have shape {samples} (class indices) or {pred.shape} "
            f"(probabilities), got {target.shape}"
        )
