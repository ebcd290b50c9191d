"""Argument checking shared by the runtime's front ends (elementwise, classes, sequences).

No SymPy and no Numba: plain NumPy checks whose errors name the argument and what was expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["REDUCTIONS", "as_real_array", "float_dtype", "class_labels"]

REDUCTIONS = ("mean", "sum", "none")


def as_real_array(value: Any, what: str) -> np.ndarray:
    """value as a real numeric array (bool, integer or float); what names it in errors."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{what} must be a real numeric array, got {type(value).__name__}") from exc
    if arr.dtype.kind == "c":
        raise TypeError(f"{what} must be real, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def float_dtype(arr: np.ndarray) -> np.dtype:
    """The kernel dtype for an array: its own when float32 or float64, else float64."""
    return arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def class_labels(value, what: str, shape: tuple, n_classes: int, ignore_index):
    """Flat int64 labels (ignored ones replaced by 0) and the mask of rows that count."""
    t = np.asarray(value)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{what} must hold integer class indices (or, where the loss has a probability "
            f"form, probabilities shaped like the logits), got dtype {t.dtype} and shape {t.shape}"
        )
    if t.shape != shape:
        raise ValueError(f"{what} has shape {t.shape}; expected {shape}")
    t = t.reshape(-1).astype(np.int64)
    if not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool):
        raise TypeError(f"ignore_index must be an integer, got {ignore_index!r}")
    ignored = t == ignore_index
    bad = ~ignored & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise ValueError(
            f"{what} must hold class indices in [0, {n_classes}) or ignore_index="
            f"{ignore_index}, got {int(t[bad][0])}"
        )
    return np.where(ignored, 0, t), ~ignored
