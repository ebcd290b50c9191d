"""The generated PyTorch code, seen as the verification sees any implementation: ℓ, ℓ' and ℓ''
at the sampled points, through `symloss.integrations.torch` as a user calls it (the forward
pass without and with a gradient, the backward pass, the backward pass differentiated again,
a weighted sum's backward pass), which calls each generated function; plus its sum and mean.
The mpmath references are the ones every backend shares
(`symloss.verify.elementwise.reference`)."""

from __future__ import annotations

import numpy as np

__all__ = ["TorchSource"]


class TorchSource:
    """Loss ``name`` in the generated PyTorch code, on CPU tensors of the checked dtype."""

    quantities = ("value", "grad", "hess")

    def __init__(self, name: str):
        from ..integrations.torch import generated

        if generated(name) is None:
            raise ValueError(f"{name}: the torch backend does not generate this loss")
        self.name = name

    def outputs(self, inputs, params, dtype, rng) -> dict:
        import torch

        from ..integrations.torch import function

        def tensors(arrays):
            return [torch.from_numpy(np.array(a, dtype, copy=True)) for a in arrays]

        def parameters(ps):
            return {
                k: torch.from_numpy(np.array(v, dtype)) if isinstance(v, np.ndarray) else v
                for k, v in ps.items()
            }

        each = function(self.name, reduction="none", **parameters(params))
        x, *others = tensors(inputs)
        with torch.no_grad():
            v_plain = each(x, *others)
        x.requires_grad_(True)
        v_fused = each(x, *others)
        (g,) = torch.autograd.grad(v_fused.sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), x)
        w = np.asarray(rng.choice([0.5, 1.0, 2.0, 4.0], len(inputs[0])), dtype)  # exact
        summed = function(self.name, reduction="sum", **parameters(params))
        (g_w,) = torch.autograd.grad(summed(x, *others, weight=torch.from_numpy(w)), x)

        def reduce(sub_inputs, sub_params, weight):
            sub = parameters(sub_params)
            total = function(self.name, reduction="sum", **sub)
            mean = function(self.name, reduction="mean", **sub)
            with torch.no_grad():
                a = tensors(sub_inputs)
                return float(total(*a, weight=torch.from_numpy(weight))), float(mean(*a))

        def numpy(t):
            return t.detach().numpy()

        return {
            "value": [numpy(v_plain), numpy(v_fused)],
            "grad": [numpy(g), numpy(g_w) / w],
            "hess": [numpy(h)],
            "sum": reduce,
        }
