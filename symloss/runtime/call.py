"""A validated call (`_Call`: flat arrays, scalar parameters, kernel variant) and the output
arrays its kernels write: given ``out=`` buffers checked, never sharing memory with what the kernel
reads, and the results in the first input's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Call:
    """A validated call: flat arrays, scalar parameters and the kernel variant to use."""

    shape: tuple
    dtype: np.dtype
    arrays: list[np.ndarray]  # inputs, then array parameters, flat and contiguous
    inputs: dict[str, np.ndarray]  # same, by name, in the original shape
    scalars: list[Any]
    weight: np.ndarray | None
    key: tuple[str, ...]

    @property
    def n(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _out_buffer(out: Any, call: _Call, what: str) -> np.ndarray:
    """A given output array, flat: it must be a C-contiguous ndarray with the first input's
    shape and dtype (the kernel writes into it; nothing is converted)."""
    if out is None:
        return np.empty(call.n, dtype=call.dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{what} must be a NumPy array, got {type(out).__name__}")
    if out.shape != call.shape or out.dtype != call.dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"{what} must be a C-contiguous {call.dtype} array of shape {call.shape}, got "
            f"{'a non-contiguous ' if not out.flags.c_contiguous else ''}{out.dtype} array of "
            f"shape {out.shape}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{what} is read-only")
    return out.reshape(-1)


def _check_overlap(call: _Call, *outs: tuple[str, Any]) -> None:
    """Output arrays, (name, array or None) pairs, must not share memory with an input, the
    weights or each other: the kernel writes each element while reading the others
    (mse(..., weight=w, out=w) returned ℓ instead of w·ℓ)."""
    given = [(what, o) for what, o in outs if o is not None]
    reads = list(call.inputs.items())
    if call.weight is not None:
        reads.append(("weight", call.weight))
    for k, (what, o) in enumerate(given):
        for name, a in reads + given[:k]:
            if np.shares_memory(o, a):
                raise ValueError(
                    f"{what} shares memory with {name}: the kernel would overwrite one while "
                    "reading the other; pass a separate array"
                )


def _shaped(flat: np.ndarray, given, call: _Call) -> np.ndarray:
    """The given output array itself, or the new one in the input's shape."""
    return given if given is not None else flat.reshape(call.shape)


def _pair(out: Any, what: str) -> tuple:
    if out is None:
        return None, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{what} must be a pair of arrays (or None)")
    return out
