"""What is verified: a loss's kernels (every entry point and reduction), or any implementation
given as callables (a peer's function, a user's own kernel), seen through one interface.

``outputs(inputs, params, dtype, rng)`` returns, per quantity, the arrays to judge (each
element, or each sample of a class-axis loss); a kernel adds ``"sum"``: a function giving its
weighted sum and its mean over a subset, checked against the exact sums.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["KernelSource", "ImplementationSource"]


def _rows(grad) -> list:
    """A gradient, or a tuple of gradients (one per differentiable input)."""
    return list(grad) if isinstance(grad, tuple) else [grad]


class KernelSource:
    """A loss's generated kernels (a `symloss.LossKernel` or a compiled user loss)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.quantities = ("value", "grad", "hess")

    def outputs(self, inputs, params, dtype, rng) -> dict:
        k = self.kernel
        v_none = k(*inputs, reduction="none", **params)
        v_fused, g_fused = k.value_and_grad(*inputs, reduction="none", **params)
        g, h = k.grad_hess(*inputs, **params)
        _, g_sum = k.value_and_grad(*inputs, reduction="sum", **params)
        n = len(inputs[0])
        w = np.asarray(rng.choice([0.5, 1.0, 2.0, 4.0], n), dtype)  # exact scalings
        _, g_w = k.value_and_grad(*inputs, reduction="sum", weight=w, **params)

        def reduce(sub_inputs, sub_params, weight):
            total = k(*sub_inputs, reduction="sum", weight=weight, **sub_params)
            mean, _ = k.value_and_grad(*sub_inputs, reduction="mean", **sub_params)
            return total, mean

        return {
            "value": [v_none, v_fused],
            "grad": [g_fused, g, g_sum, g_w / w],
            "hess": [h],
            "sum": reduce,
        }

    def class_outputs(self, inputs, params) -> dict:
        k = getattr(self.kernel, "rowwise", self.kernel)  # the inputs of the definition
        value, grad = k.value_and_grad(*inputs, reduction="none", **params)
        out = {"value": [value], "grad": [_rows(grad)]}
        try:
            out["hess"] = [[np.asarray(k.grad_hess(*inputs, **params)[1])]]
        except (TypeError, AttributeError):
            pass  # the loss has no Hessian kernel

        def reduce(sub_inputs, sub_params):
            return k(*sub_inputs, reduction="sum", **sub_params)

        out["sum"] = reduce
        return out


class ImplementationSource:
    """Callables ``f(*inputs, **params)`` returning per-element (elementwise) or per-sample
    (class-axis) values; gradients and Hessians shaped like the inputs (a tuple of arrays for
    a loss with several differentiable inputs)."""

    def __init__(self, value: Callable | None, grad: Callable | None, hess: Callable | None):
        self.functions = {
            q: f for q, f in (("value", value), ("grad", grad), ("hess", hess)) if f is not None
        }
        if not self.functions:
            raise ValueError("verify_implementation: give at least one of value=, grad=, hess=")
        for q, f in self.functions.items():
            if not callable(f):
                raise TypeError(f"{q}= must be a callable f(*inputs, **params), got {f!r}")
        self.quantities = tuple(self.functions)

    def outputs(self, inputs, params, dtype, rng) -> dict:
        return {q: [self._call(f, inputs, params, dtype)] for q, f in self.functions.items()}

    def class_outputs(self, inputs, params) -> dict:
        dtype = inputs[0].dtype
        out = {}
        for q, f in self.functions.items():
            got = f(*[np.array(a, copy=True) for a in inputs], **params)
            if q == "value":
                out[q] = [np.asarray(got, dtype)]
            else:
                out[q] = [[np.asarray(g, dtype) for g in _rows(got)]]
        return out

    @staticmethod
    def _call(f, inputs, params, dtype):
        # copies: an implementation that writes into its arguments cannot spoil the next call
        got = f(*[np.array(a, copy=True) for a in inputs], **params)
        return np.asarray(got).astype(dtype, copy=False)
