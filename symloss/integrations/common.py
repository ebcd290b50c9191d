"""What every integration checks before handing a loss to another library."""

from __future__ import annotations

import numpy as np

from ..runtime import LossKernel
from ..runtime import loss as _loss

REDUCTIONS = ("mean", "sum", "none")


def kernel_for(name: str, params: dict, what: str, reduction: str = "mean") -> LossKernel:
    """The kernel of an elementwise or class-axis loss, its parameters and ``reduction``
    checked now (on a one-sample call) rather than inside the other library's loop."""
    kernel = _loss(name)
    if kernel.family not in ("elementwise", "classes") or kernel._frontend:
        raise ValueError(
            f"{name} is a {kernel.family} loss: {what} takes elementwise and class-axis losses"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if kernel.family == "classes":
        probe = (np.zeros((1, 2)), np.zeros(1, np.int64))
    else:
        probe = tuple(np.zeros(1) for _ in kernel.inputs)
    kernel(*probe, **scalar_params(params))
    return kernel


def scalar_params(params: dict) -> dict:
    """The parameters a one-sample probe can take: those given as arrays (or tensors) are
    checked against the inputs they broadcast with, at the call."""
    return {k: v for k, v in params.items() if np.ndim(v) == 0}
