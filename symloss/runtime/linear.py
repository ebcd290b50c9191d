"""The linear front end: a class-axis loss called on a linear layer's input and weights,
(x (N, D), weight (D, C), target), whose kernels take the logits x·W and the norms ‖x_i‖ and
‖W_{y_i}‖ (large_margin_softmax); the gradient goes back through them to x and W.
"""

from __future__ import annotations

import numpy as np

from ..arguments import as_real_array, class_labels, float_dtype
from .rows import _rows


def _linear(k, args: tuple, params: dict, reduction: str, grad: bool):
    """A loss on the logits of a linear layer, called as (x (N, D), weight (D, C), target):
    its kernels take f = x·W, ‖x_i‖ and ‖W_{y_i}‖, and the gradient goes back through them,
    ∂L/∂x = G·Wᵀ + (∂L/∂‖x‖ / ‖x‖)·x and ∂L/∂W = xᵀ·G + W·diag(Σ_{i: y_i = j} ∂L/∂‖W_j‖ / ‖W_j‖),
    G = ∂L/∂f (a norm's term is 0 where the norm is 0: the definition does not use it there)."""
    if len(args) != 3:
        raise TypeError(f"{k.name}() takes inputs (x, weight, target), got {len(args)}")
    x, w = as_real_array(args[0], "x"), as_real_array(args[1], "weight")
    dtype = np.result_type(float_dtype(x), float_dtype(w))
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D), got {x.shape}")
    if w.ndim != 2 or w.shape[0] != x.shape[1]:
        raise ValueError(f"weight must have shape (D, C) = ({x.shape[1]}, C), got {w.shape}")
    if w.shape[1] == 0:
        raise ValueError("weight has no classes (shape (D, 0))")
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    ignore_index = params.get("ignore_index", -100)
    labels, _ = class_labels(args[2], "target", x.shape[:1], w.shape[1], ignore_index)
    x_norm = np.linalg.norm(x, axis=1)
    w_norm = np.linalg.norm(w, axis=0)
    inputs = (x @ w, args[2], x_norm, w_norm[labels])
    out = _rows(k, inputs, params, reduction, grad)
    if not grad:
        return out
    value, (g_logits, g_x_norm, g_w_norm) = out
    with np.errstate(divide="ignore", invalid="ignore"):
        along_x = np.where(x_norm > 0, g_x_norm / x_norm, 0).astype(dtype)
        per_sample = np.where(w_norm[labels] > 0, g_w_norm / w_norm[labels], 0)
    along_w = np.bincount(labels, weights=per_sample, minlength=w.shape[1]).astype(dtype)
    g_x = g_logits @ w.T + along_x[:, None] * x
    g_w = x.T @ g_logits + w * along_w[None, :]
    return value, (g_x, g_w)
