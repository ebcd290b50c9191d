"""The center update of the center loss (Wen et al., 2016), a NumPy step beside the kernels."""

from __future__ import annotations

import numpy as np

from .arguments import as_real_array, class_labels, float_dtype

__all__ = ["center_update"]


def center_update(x, target, centers, alpha: float = 0.5) -> np.ndarray:
    """New centers by the paper's rule c_j ← c_j - α·Σ_{i: y_i = j} (c_j - x_i) / (1 + n_j),
    n_j the number of samples of class j in the batch; classes without samples keep their
    center. ``x`` (N, D), ``target`` integer (N,) in [0, K), ``centers`` (K, D), α in [0, 1].
    Returns a new array (float32 if x and centers are, else float64); the inputs are unchanged.
    """
    x, c = as_real_array(x, "x"), as_real_array(centers, "centers")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D), got {x.shape}")
    if c.ndim != 2 or c.shape[1] != x.shape[1]:
        raise ValueError(f"centers must have shape (K, {x.shape[1]}), got {c.shape}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
        raise TypeError(f"alpha must be a real number, got {alpha!r}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    dtype = np.result_type(float_dtype(x), float_dtype(c))
    y, counted = class_labels(target, "target", x.shape[:1], c.shape[0], ignore_index=-100)
    if not counted.all():
        raise ValueError(f"target must hold class indices in [0, {c.shape[0]}), got -100")
    count = np.bincount(y, minlength=c.shape[0]).astype(np.float64)
    moved = np.zeros(c.shape, np.float64)  # Σ_{i: y_i = j} (c_j - x_i)
    np.add.at(moved, y, c[y].astype(np.float64) - x)
    new = c.astype(np.float64) - alpha * moved / (1.0 + count)[:, None]
    return new.astype(dtype)
