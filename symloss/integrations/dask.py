"""Values and gradients of symloss losses over Dask arrays, block by block.

    import dask.array as da
    from symloss.integrations.dask import function

    huber = function("huber", delta=0.5)
    value, grad = huber.value_and_grad(pred, target)   # lazy: a Dask scalar and array
    value, grad = dask.compute(value, grad)

Each block runs the generated kernels once (value and gradient in one pass) and returns its
partial sums in float64: Σ w·ℓ and the mean's denominator (n, Σ w, or Σ weight[y] over the
samples not ignored for class labels). ``"sum"`` and ``"mean"`` combine them with
``math.fsum`` (correctly rounded), so the result does not depend on the chunking beyond the
float64 rounding of each block's sum; the mean's gradient is the block's gradient of its sum
times 1/denominator. Works on any scheduler (threads, processes, ``distributed``): tasks
carry the loss's name and parameters, and each worker loads the kernels (from Numba's cache
after the first compile).

Elementwise losses: any chunking; target, weight and array parameters broadcast to pred
and follow its chunks. Class-axis losses (logits (N, C, …)): blocks along the sample axis
0, the other axes whole (rechunked if needed); labels follow axis 0.
"""

from __future__ import annotations

import math

import dask
import dask.array as da
import numpy as np

from ..arguments import float_dtype
from ..runtime import loss as _loss
from .common import REDUCTIONS, kernel_for

__all__ = ["function", "DaskLoss"]


def _block_parts(name, params, grad, pred, *others):
    """(Σ w·ℓ, denominator[, gradient of the sum]) of one block."""
    return _loss(name).partial_sums(pred, *others, grad=grad, **params)


def _block_none(name, params, grad, pred, *others):
    """(ℓ[, ℓ']) per element (per sample for class-axis losses) of one block."""
    k = _loss(name)
    if grad:
        return k.value_and_grad(pred, *others, reduction="none", **params)
    return (k(pred, *others, reduction="none", **params),)


def _combine(parts, reduction, dtype):
    total = math.fsum(p[0] for p in parts)
    if reduction == "sum":
        return np.dtype(dtype).type(total)
    count = math.fsum(p[1] for p in parts)
    return np.dtype(dtype).type(total / count if count else math.nan)


def _scale(parts):
    count = math.fsum(p[1] for p in parts)
    return 1.0 / count if count else math.nan


class DaskLoss:
    """A loss over Dask arrays: ``f(pred, target, …, reduction=, weight=)`` and
    ``f.value_and_grad(...)``, both lazy."""

    def __init__(self, name: str, **params):
        kernel = kernel_for(name, params, "the Dask functions")
        self.name, self.params, self.kernel = name, params, kernel
        self.classes = kernel.family == "classes"

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"DaskLoss({self.name!r}{extra})"

    def __call__(self, pred, *others, reduction: str = "mean", weight=None):
        return self._run(pred, others, reduction, weight, grad=False)

    def value_and_grad(self, pred, *others, reduction: str = "mean", weight=None):
        """(value, ∂value/∂pred) as Dask objects: a 0-d array (or the per-element array with
        ``reduction="none"``) and an array chunked like ``pred``."""
        return self._run(pred, others, reduction, weight, grad=True)

    def _blocks(self, pred, others, weight):
        """pred as a Dask array, and the block grids of every input (aligned)."""
        names = self.kernel.inputs
        if len(others) != len(names) - 1:
            raise TypeError(
                f"{self.name}() takes inputs ({', '.join(names)}), got {1 + len(others)}"
            )
        pred = da.asarray(pred)
        if pred.dtype.kind not in "biuf":
            raise TypeError(f"{names[0]} must be a real numeric array, got dtype {pred.dtype}")
        if self.classes:
            if pred.ndim < 1:
                raise ValueError(f"{names[0]} must have a class axis, got shape {pred.shape}")
            if pred.ndim == 1:
                pred = pred[None]
                others = tuple(da.asarray(o)[None] for o in others)
            pred = pred.rechunk({a: -1 for a in range(1, pred.ndim)})
            rows = pred.chunks[0]
            grids = []
            for nm, o in zip(names[1:], others):
                o = da.asarray(o)
                if o.ndim == 0 or o.shape[0] != pred.shape[0]:
                    raise ValueError(
                        f"{nm} has shape {o.shape}: expected {pred.shape[0]} "
                        f"samples along axis 0, as {names[0]} {pred.shape}"
                    )
                o = o.rechunk({0: rows, **{a: -1 for a in range(1, o.ndim)}})
                grids.append(o.to_delayed().reshape(len(rows), -1)[:, 0])
            w = None if weight is None else np.asarray(weight)  # per class: every block's
            return pred, pred.to_delayed().reshape(len(rows), -1)[:, 0], grids, [w] * len(rows)
        grids = []
        for nm, o in zip(names[1:], others):
            try:
                o = da.broadcast_to(da.asarray(o), pred.shape).rechunk(pred.chunks)
            except ValueError:
                raise ValueError(
                    f"{nm} has shape {np.shape(o)}, which does not broadcast to "
                    f"{names[0]}'s shape {pred.shape}"
                ) from None
            grids.append(o.to_delayed().ravel())
        ws = [None] * pred.npartitions
        if weight is not None:
            w = da.broadcast_to(da.asarray(weight), pred.shape).rechunk(pred.chunks)
            ws = list(w.to_delayed().ravel())
        return pred, pred.to_delayed().ravel(), grids, ws

    def _run(self, pred, others, reduction, weight, grad):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        single = self.classes and np.ndim(pred) == 1  # one sample (C,): shapes as in memory
        pred, blocks, grids, ws = self._blocks(pred, others, weight)
        dtype = float_dtype(pred)
        shapes = [tuple(c[i] for c, i in zip(pred.chunks, at)) for at in np.ndindex(pred.numblocks)]
        fn = _block_none if reduction == "none" else _block_parts
        calls = [
            dask.delayed(fn, pure=True)(
                self.name, {**self.params, "weight": ws[i]}, grad, b, *(g[i] for g in grids)
            )
            for i, b in enumerate(blocks)
        ]
        grads = None
        if reduction == "none":
            vshapes = [s[:1] + s[2:] if self.classes else s for s in shapes]
            values = [da.from_delayed(c[0], s, dtype=dtype) for c, s in zip(calls, vshapes)]
            value = _assemble(values, pred, self.classes)
            value = value[0] if single else value
            if grad:
                grads = [da.from_delayed(c[1], s, dtype=dtype) for c, s in zip(calls, shapes)]
        else:
            value = da.from_delayed(dask.delayed(_combine)(calls, reduction, dtype), (), dtype)
            if grad:
                scale = dask.delayed(_scale)(calls) if reduction == "mean" else 1.0
                grads = [
                    da.from_delayed(dask.delayed(_times)(c[2], scale), s, dtype=dtype)
                    for c, s in zip(calls, shapes)
                ]
        if not grad:
            return value
        grad = _assemble(grads, pred, self.classes)
        return value, grad[0] if single else grad


def _times(g, s):
    return g * g.dtype.type(s)


def _assemble(pieces, pred, classes):
    """Blocks back into one array with pred's block grid."""
    if classes:
        return da.concatenate(pieces, axis=0)
    grid = np.empty(pred.numblocks, dtype=object)
    for i, p in zip(np.ndindex(*pred.numblocks), pieces):
        grid[i] = p
    return da.block(grid.tolist()) if pred.ndim else pieces[0]


def function(name: str, **params) -> DaskLoss:
    """Loss ``name`` with its parameters over Dask arrays."""
    return DaskLoss(name, **params)
