"""symloss losses as PyTorch autograd functions, on CPU tensors.

    from symloss.integrations.torch import function

    huber = function("huber", delta=0.5)
    loss = huber(model(x), y)          # a 0-d tensor (reduction="mean")
    loss.backward()

The forward pass runs the generated kernels on zero-copy NumPy views of the tensors and keeps
the derived gradient; the backward pass multiplies it by the incoming gradient. For
elementwise losses the backward pass is itself differentiable, through the generated Hessian
(``torch.autograd.grad(..., create_graph=True)``, `gradgradcheck`); for class-axis losses it
is not (a second backward raises). Gradients flow to the first input (predictions, logits);
a target that requires a gradient is an error rather than a silently missing gradient.
float32 stays float32 and float64 float64; tensors must be on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from .common import kernel_for

__all__ = ["function", "Loss"]


def _array(t, what: str) -> np.ndarray:
    if not isinstance(t, torch.Tensor):
        return np.asarray(t)
    if t.device.type != "cpu":
        raise ValueError(f"{what} is on {t.device}: symloss kernels run on CPU tensors")
    if t.is_complex():
        raise TypeError(f"{what} must be real, got {t.dtype}")
    return t.detach().numpy()  # shares memory (no copy) for a CPU tensor


class _Derivative(torch.autograd.Function):
    """ℓ'(x) per element, whose backward is ℓ''(x)·upstream (the generated Hessian)."""

    @staticmethod
    def forward(ctx, x, kernel, arrays, params):
        g, h = kernel.grad_hess(_array(x, "input"), *arrays, **params)
        ctx.save_for_backward(torch.from_numpy(h))
        return torch.from_numpy(g)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, upstream):
        (h,) = ctx.saved_tensors
        return upstream * h, None, None, None


class _Elementwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel, arrays, params, reduction, weight):
        # the value only: the backward pass computes ℓ' (and ℓ'') when, and if, it runs
        value = kernel(_array(x, "input"), *arrays, reduction=reduction, weight=weight, **params)
        ctx.kernel, ctx.arrays, ctx.params, ctx.reduction = kernel, arrays, params, reduction
        ctx.weight = weight
        ctx.save_for_backward(x)
        return torch.as_tensor(value)

    @staticmethod
    def backward(ctx, upstream):
        (x,) = ctx.saved_tensors
        # ∂L/∂x = c·w·ℓ'(x): ℓ' through _Derivative, so that this is differentiable again
        d = _Derivative.apply(x, ctx.kernel, ctx.arrays, ctx.params)
        w = None if ctx.weight is None else torch.from_numpy(ctx.weight)
        if w is not None:
            d = d * w
        if ctx.reduction == "mean":
            n = x.numel() if w is None else w.sum(dtype=torch.float64).item()
            d = d / n
        return upstream * d, None, None, None, None, None


class _Rows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, kernel, arrays, params, reduction):
        value, grad = kernel.value_and_grad(
            _array(z, "logits"), *arrays, reduction=reduction, **params
        )
        ctx.save_for_backward(torch.from_numpy(np.asarray(grad)))
        ctx.reduction = reduction
        return torch.as_tensor(value)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, upstream):
        (grad,) = ctx.saved_tensors
        if ctx.reduction == "none":  # per-sample values: upstream broadcasts over the classes
            upstream = upstream.unsqueeze(1) if grad.dim() > 1 else upstream
        return upstream * grad, None, None, None, None


class Loss(torch.nn.Module):
    """A symloss loss as a module: ``Loss("huber", delta=0.5)(pred, target)``."""

    def __init__(self, name: str, reduction: str = "mean", **params):
        super().__init__()
        kernel = kernel_for(name, params, "the torch function", reduction)
        self.name, self.reduction, self.params = name, reduction, params
        self.kernel = kernel

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.name!r}, reduction={self.reduction!r}{extra}"

    def forward(self, pred, *others, weight=None):
        if not isinstance(pred, torch.Tensor):
            raise TypeError(f"pred must be a torch.Tensor, got {type(pred).__name__}")
        names = self.kernel.inputs
        for nm, t in zip(names[1:], others):
            if isinstance(t, torch.Tensor) and t.requires_grad:
                raise ValueError(
                    f"{nm} requires a gradient, which symloss does not provide: "
                    f"gradients flow to {names[0]} only (detach {nm})"
                )
        arrays = tuple(_array(t, nm) for nm, t in zip(names[1:], others))
        if self.kernel.family == "classes":
            params = dict(self.params)
            if weight is not None:  # the per-class weight, as torch's cross_entropy
                params["weight"] = _array(weight, "weight")
            return _Rows.apply(pred, self.kernel, arrays, params, self.reduction)
        w = None
        if weight is not None:
            dtype = _array(pred, "pred").dtype
            w = np.array(np.broadcast_to(_array(weight, "weight"), pred.shape), dtype=dtype)
        return _Elementwise.apply(pred, self.kernel, arrays, self.params, self.reduction, w)


def function(name: str, reduction: str = "mean", **params) -> Loss:
    """Loss ``name`` with its parameters as a differentiable function of tensors,
    ``f(pred, target, weight=None)``."""
    return Loss(name, reduction=reduction, **params)
