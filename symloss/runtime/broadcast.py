"""Inputs as the kernels take them: broadcast to the first input's shape, flat and contiguous,
or (large and broadcast, like a scalar target) copied a block at a time as the kernel reaches it.
"""

from __future__ import annotations

import numpy as np


def _broadcast(arr: np.ndarray, shape: tuple, what: str, first: str) -> np.ndarray:
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"{what} has shape {arr.shape}, which does not broadcast to {first}'s shape {shape}"
        ) from None


def _flat(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A contiguous 1-D array of ``dtype`` (no copy when ``arr`` already is one)."""
    return np.ascontiguousarray(arr, dtype=dtype).reshape(-1)


BLOCK = 1 << 20  # elements of a broadcast input copied per kernel call (8 MB in float64)


class _Broadcast:
    """An input broadcast to the call's shape (a scalar target, a row of per-column values),
    copied a block at a time as the kernel reaches it: never a full-size copy."""

    def __init__(self, view: np.ndarray):
        self.view = view  # read-only, zero strides where broadcast

    def block(self, start: int, stop: int) -> np.ndarray:
        return np.ascontiguousarray(self.view.flat[start:stop])


def _flat_input(arr: np.ndarray, dtype: np.dtype):
    """`_flat`, except that a large broadcast array stays a `_Broadcast`."""
    arr = arr.astype(dtype, copy=False)
    if arr.size > BLOCK and 0 in arr.strides and not arr.flags.c_contiguous:
        return _Broadcast(arr)
    return _flat(arr, dtype)


def _blockwise(kernel, n: int):
    """``kernel`` run on blocks of BLOCK elements where an argument is a `_Broadcast`: every
    per-element argument (an array of n elements, a broadcast input) sliced alike, results
    (float64 sums) added."""

    def run(*args):
        total = None
        for start in range(0, n, BLOCK):
            stop = min(n, start + BLOCK)
            part = [
                a.block(start, stop)
                if isinstance(a, _Broadcast)
                else a[start:stop]
                if isinstance(a, np.ndarray) and a.shape == (n,)
                else a
                for a in args
            ]
            r = kernel(*part)
            del part  # one block alive at a time
            if r is not None:
                total = r if total is None else total + r
        return total

    return run
