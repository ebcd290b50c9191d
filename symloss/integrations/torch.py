"""symloss losses as PyTorch autograd functions, on any device.

    from symloss.integrations.torch import function

    huber = function("huber", delta=0.5)
    loss = huber(model(x), y)          # a 0-d tensor (reduction="mean")
    loss.backward()

Elementwise losses run the generated PyTorch code (`symloss.generated.torch`): plain torch
operations, so they run on CPU, CUDA or any device torch has, without a host round trip, and
trace whole under ``torch.compile(fullgraph=True)`` and ``torch.func`` (grad, vmap). The forward
pass computes ℓ, and ℓ' with it when the input requires a gradient; the backward pass
multiplies ℓ' by the incoming gradient, and is itself differentiable through the generated
Hessian ℓ'' (``create_graph=True``, `gradgradcheck`). Reductions and weights are torch
operations on ℓ. float32 and float64 are computed as such; float16 and bfloat16 in float32,
rounded back.

Class-axis losses still run the Numba kernels on CPU tensors (zero-copy NumPy views): their
backward pass is not differentiable again, and other devices are an error.

Gradients flow to the first input (predictions, logits); a target that requires a gradient is
an error rather than a silently missing gradient. Values of labels and parameters given as
tensors are checked where that needs no device synchronisation (on the CPU).
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

from ..runtime.parameters import array_in_domain, signs
from ..variants import static_parts, variant_key
from .common import kernel_for, scalar_params

__all__ = ["function", "Loss"]

_LOW = (torch.float16, torch.bfloat16)


def _array(t, what: str) -> np.ndarray:
    if not isinstance(t, torch.Tensor):
        return np.asarray(t)
    if t.device.type != "cpu":
        raise ValueError(f"{what} is on {t.device}: class-axis losses run on CPU tensors")
    if t.is_complex():
        raise TypeError(f"{what} must be real, got {t.dtype}")
    return t.detach().numpy()  # shares memory (no copy) for a CPU tensor


# -- elementwise losses: the generated torch code ------------------------------------------


def generated(name: str):
    """The generated PyTorch module of loss ``name`` (None if the backend does not cover it)."""
    index = importlib.import_module("symloss.generated.torch")
    if name not in index.NAMES:
        return None
    return importlib.import_module(f"symloss.generated.torch.{name}")


class _Derivative(torch.autograd.Function):
    """ℓ'(x), computed already, whose derivative is ℓ''(x) (the generated Hessian): in the
    backward pass ℓ''·upstream, in forward mode ℓ''·ẋ. Never traced by torch.compile (whose
    tracer takes no custom jvp): a compiled backward uses the saved ℓ' as it is."""

    generate_vmap_rule = True

    @staticmethod
    def forward(grad_hess, x, grad, *data):
        return grad.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        grad_hess, x, _, *data = inputs
        ctx.save_for_backward(x, *data)
        ctx.save_for_forward(x, *data)
        ctx.grad_hess = grad_hess

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, upstream):
        x, *data = ctx.saved_tensors
        _, h = ctx.grad_hess(x, *data)
        return None, upstream * h, None, *(None for _ in data)

    @staticmethod
    def jvp(ctx, _, x_dot, *__):
        x, *data = ctx.saved_tensors
        return ctx.grad_hess(x, *data)[1] * x_dot


class _Value(torch.autograd.Function):
    """ℓ(x) per element; ℓ'(x) formed in the same pass, for the backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(value_grad, grad_hess, x, *data):
        return value_grad(x, *data)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, grad_hess, x, *data = inputs
        _, grad = output
        ctx.mark_non_differentiable(grad)
        ctx.save_for_backward(x, grad, *data)
        ctx.save_for_forward(x, grad, *data)
        ctx.grad_hess = grad_hess

    @staticmethod
    def backward(ctx, upstream, _):
        x, grad, *data = ctx.saved_tensors
        if torch.compiler.is_compiling():
            # a compiled backward is not differentiated again: the saved ℓ' as it is. (With
            # the nested _Derivative, torch 2.13's tracer gave wrong gradients for losses with
            # a parameter tensor, Huber's ℓ' = r unclipped; not analysed further.)
            return None, None, upstream * grad, *(None for _ in data)
        d = _Derivative.apply(ctx.grad_hess, x, grad, *data)
        return None, None, upstream * d, *(None for _ in data)


class _ValueForward(_Value):
    """_Value with forward mode too (jacfwd, hessian): ℓ'(x)·ẋ, differentiable again."""

    @staticmethod
    def jvp(ctx, _, __, x_dot, *___):
        x, grad, *data = ctx.saved_tensors
        return _Derivative.apply(ctx.grad_hess, x, grad, *data) * x_dot, None


def _broadcast_check(t: torch.Tensor, nm: str, shape: torch.Size, to: str) -> None:
    """A ValueError unless ``t`` broadcasts to ``shape`` (the shape of ``to``) as it is."""
    try:
        ok = torch.broadcast_shapes(t.shape, shape) == shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{nm} of shape {tuple(t.shape)} does not broadcast to {to}'s shape {tuple(shape)}"
        )


class _Elementwise:
    """The call of a generated elementwise loss: inputs checked and placed, parameters as
    tensors of the input's dtype, the variant and dtype's functions looked up."""

    def __init__(self, name: str, module, kernel, params: dict):
        self.name, self.module, self.kernel = name, module, kernel
        self.inputs = [i["name"] for i in module.LOSS["inputs"]]
        self.labels = {i["name"]: i["labels"] for i in module.LOSS["inputs"]}
        self.specs = {p["name"]: p for p in module.LOSS["params"]}
        self.params = params
        self.static = [
            part
            for k, p in self.specs.items()
            if p["static"]
            for part in static_parts({k: params.get(k, p["default"])})
        ]
        # kernel_for checked the parameters in float64; float32 is checked here too, and its
        # error kept for a float32 call (1e-300 is a valid ε in float64, 0 in float32)
        self.float32_error = None
        try:
            self.kernel(*(np.zeros(1, np.float32) for _ in self.inputs), **scalar_params(params))
        except (ValueError, TypeError) as error:
            self.float32_error = error

    def _tensor(self, t, nm: str, like: torch.Tensor) -> torch.Tensor:
        if isinstance(t, torch.Tensor):
            if t.device != like.device:
                raise ValueError(
                    f"{nm} is on {t.device} but {self.inputs[0]} on {like.device}: "
                    "give the inputs on one device"
                )
            if t.is_complex():
                raise TypeError(f"{nm} must be real, got {t.dtype}")
            if t.requires_grad:
                raise ValueError(
                    f"{nm} requires a gradient, which symloss does not provide: gradients "
                    f"flow to {self.inputs[0]} only (detach {nm})"
                )
            t = t.to(like.dtype)
        else:
            t = torch.as_tensor(np.asarray(t, dtype=float), dtype=like.dtype, device=like.device)
        _broadcast_check(t, nm, like.shape, self.inputs[0])
        return t

    def _signs(self, t: torch.Tensor, nm: str) -> torch.Tensor:
        """Labels in {-1, +1} as given, or all in {0, 1} as 2y - 1 (TensorFlow's hinge)."""
        if t.device.type == "cpu":  # checked where it costs no device synchronisation
            signs(t.detach().numpy(), f"{nm} of {self.name}")  # the kernels' check
        return torch.where((t == 0).any(), 2 * t - 1, t)

    def _parameters(self, x: torch.Tensor, data: dict) -> tuple[list, list]:
        arrays, scalars = [], []
        for k, p in self.specs.items():
            if p["static"]:
                continue
            value = self.params.get(k)
            if value is None and p["estimate"] == "negative_fraction":
                # HED's β = |Y-|/|Y|, the mean of 1 - target, as a tensor (no host round trip)
                target = data["target"]
                beta = (1 - target.double()).mean() if target.numel() else 0.5
                scalars.append(torch.as_tensor(beta, device=x.device).to(x.dtype))
                continue
            if value is None:
                value = p["default"]
            if p["broadcast"] and (isinstance(value, torch.Tensor) or np.ndim(value) > 0):
                t = self._tensor(value, k, x)
                if t.device.type == "cpu" and not array_in_domain(t.numpy(), p["domain"]).all():
                    raise ValueError(f"{k} must be in {p['domain_text']} among its values")
                arrays.append((k, t))
                continue
            if isinstance(value, torch.Tensor):
                value = value.item()  # a scalar parameter: a number
            scalars.append(torch.full((), float(value), dtype=x.dtype, device=x.device))
        return arrays, scalars

    def __call__(self, x, others, weight, reduction):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self.inputs[0]} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{self.inputs[0]} must be a floating-point tensor, got {x.dtype}")
        if len(others) != len(self.inputs) - 1:
            raise TypeError(
                f"{self.name} takes {len(self.inputs)} inputs ({', '.join(self.inputs)}), "
                f"got {1 + len(others)}"
            )
        dtype = x.dtype
        x = x.float() if dtype in _LOW else x
        name = "float32" if x.dtype == torch.float32 else "float64"
        if name == "float32" and self.float32_error is not None:
            raise self.float32_error
        data = {}
        for nm, t in zip(self.inputs[1:], others):
            t = self._tensor(t, nm, x)
            data[nm] = self._signs(t, nm) if self.labels[nm] == "signs" else t
        arrays, scalars = self._parameters(x, data)
        key = variant_key(self.static, [k for k, _ in arrays])
        functions = self.module.FUNCTIONS
        tensors = (*data.values(), *(t for _, t in arrays), *scalars)
        grad_hess = functions[("grad_hess", key, name)]
        if torch.is_grad_enabled() and x.requires_grad:
            value_fn = _Value if torch.compiler.is_compiling() else _ValueForward
            value, _ = value_fn.apply(functions[("value_grad", key, name)], grad_hess, x, *tensors)
        else:
            value = functions[("value", key, name)](x, *tensors)
        return _reduced(value, weight, reduction).to(dtype)


def _reduced(value: torch.Tensor, weight, reduction: str) -> torch.Tensor:
    """Σ w·ℓ, its mean (over the elements, or Σ w with weights), or ℓ per element."""
    if weight is not None:
        if not isinstance(weight, torch.Tensor):
            weight = torch.as_tensor(np.asarray(weight, dtype=float), device=value.device)
        if weight.device != value.device:
            raise ValueError(f"weight is on {weight.device} but the input on {value.device}")
        weight = weight.to(value.dtype)
        _broadcast_check(weight, "weight", value.shape, "the input")
        value = value * weight
    if reduction == "none":
        return value
    if reduction == "sum":
        return value.sum()
    if weight is None:
        return value.mean()
    return value.sum() / weight.expand(value.shape).sum()


# -- class-axis losses: the Numba kernels on CPU tensors -----------------------------------


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
        module = generated(name) if kernel.family == "elementwise" else None
        self._generated = None if module is None else _Elementwise(name, module, kernel, params)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.name!r}, reduction={self.reduction!r}{extra}"

    def forward(self, pred, *others, weight=None):
        if self._generated is not None:
            return self._generated(pred, others, weight, self.reduction)
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
        params = dict(self.params)
        if weight is not None:  # the per-class weight, as torch's cross_entropy
            params["weight"] = _array(weight, "weight")
        return _Rows.apply(pred, self.kernel, arrays, params, self.reduction)


def function(name: str, reduction: str = "mean", **params) -> Loss:
    """Loss ``name`` with its parameters as a differentiable function of tensors,
    ``f(pred, target, weight=None)``."""
    return Loss(name, reduction=reduction, **params)
