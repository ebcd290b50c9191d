"""The norms (l1, l2 with axis=): L = g(S), S = Σ w·ℓ over the reduced axes, g the outer function
of the generated module; a sum that over- or underflows float64 is formed again from inputs
rescaled by a power of two per reduced slice (exact), for losses homogeneous of some degree.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .call import _Call


def _norm(k, inputs, params, weight, axis, grad: bool, hess: bool = False):
    """A norm ``k`` (a LossKernel) along ``axis``: (value,), with ``grad`` (value, gradient),
    with ``hess`` too (value, gradient, Hessian diagonal)."""
    call = k._prepare(inputs, params, weight)
    axes = _normalize_axis(axis, len(call.shape))
    kernels = k._module
    scale_exp = None
    if len(axes) == len(call.shape):  # one sum over everything: the fused kernel's
        S = np.full((1,) * len(call.shape), k._total(call), dtype=np.float64)
        elements = None
    else:
        elements = _elements(k, call, hess, grad)
        S = _sum(elements[0], call, axes)
    if k._homogeneous is not None and not np.all(((S > 2.0**-960) & (S < 2.0**960)) | np.isnan(S)):
        # The float64 sum over- or underflowed (or is 0, perhaps by underflow): rescale the
        # inputs by a power of two per reduced slice (exact), using L(c·x) = c^degree·L(x).
        scale_exp = _slice_exponents([call.inputs[nm] for nm in k.inputs], axes, call.shape)
        scaled = k._prepare(
            tuple(np.ldexp(call.inputs[nm], -scale_exp).astype(call.dtype) for nm in k.inputs),
            dict(params),
            weight,
        )
        elements = _elements(k, scaled, hess, grad)
        S = _sum(elements[0], scaled, axes)
    value = kernels.outer(S)
    degree = k._homogeneous
    if scale_exp is not None:
        value = np.ldexp(value, scale_exp * degree)
    value = np.squeeze(value, axis=axes) if axes else value
    value = _as_dtype(value, call.dtype)
    if not grad:
        return (value,)
    g1 = kernels.outer_d1(S)
    if elements is None and not hess:  # one more fused pass: grad = g'(S)·w·ℓ'
        scale = call.dtype.type(g1.reshape(-1)[0])
        if np.isfinite(scale) and scale != 0:
            gradient = np.empty(call.n, call.dtype)
            k._total_and_grad(call, scale, gradient)
            return value, gradient.reshape(call.shape)
    _, d1, d2 = elements if elements is not None else _elements(k, call, hess)
    w = 1.0 if call.weight is None else call.weight.reshape(call.shape)
    gradient = g1 * w * d1
    if scale_exp is not None:
        gradient = np.ldexp(gradient, scale_exp * (degree - 1))
    gradient = gradient.astype(call.dtype)
    if not hess:
        return value, gradient
    hessian = kernels.outer_d2(S) * (w * d1) ** 2 + g1 * w * d2
    if scale_exp is not None:
        hessian = np.ldexp(hessian, scale_exp * (degree - 2))
    return value, gradient, hessian.astype(call.dtype)


def _elements(k, call: _Call, hess: bool, grad: bool = True):
    """Per-element ℓ, ℓ' (if ``grad``) and ℓ'' (if ``hess``), shaped like the input: in
    float64 where ℓ' or ℓ'' are asked (they enter float64 products), else ℓ as the kernel
    wrote it (its sum accumulates in float64 without a float64 copy)."""
    n = call.n
    ell = np.empty(n, call.dtype)
    if not (grad or hess):
        k._kernel("value_each", call)(*call.arrays, *call.scalars, ell)
        return ell.reshape(call.shape), None, None
    d1 = np.empty(n, call.dtype)
    k._kernel("value_grad_each", call)(*call.arrays, *call.scalars, ell, d1)
    d2 = None
    if hess:
        d2 = np.empty(n, call.dtype)
        k._kernel("grad_hess", call)(*call.arrays, *call.scalars, np.empty_like(d2), d2)
        d2 = d2.reshape(call.shape).astype(np.float64, copy=False)
    return (
        ell.reshape(call.shape).astype(np.float64, copy=False),
        d1.reshape(call.shape).astype(np.float64, copy=False),
        d2,
    )


def _sum(ell: np.ndarray, call: _Call, axes: tuple) -> np.ndarray:
    if call.weight is not None:  # w·ℓ formed in float64
        ell = call.weight.reshape(call.shape).astype(np.float64) * ell
    return np.sum(ell, axis=axes or None, keepdims=True, dtype=np.float64)


def _normalize_axis(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)):
        raise TypeError(f"axis must be None, an integer or a tuple of integers, got {axis!r}")
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis must be None, an integer or a tuple of integers, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"axis must be None or integers in [-{ndim}, {ndim}), got {axis!r}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis has repeated entries: {axis!r}")
    return tuple(sorted(out))


def _slice_exponents(arrays: Iterable[np.ndarray], axes: tuple, shape: tuple) -> np.ndarray:
    """Per reduced slice, the exponent e with max|x| ≈ 2^e over all inputs (0 where all zero)."""
    m = np.zeros([1 if d in axes else s for d, s in enumerate(shape)], dtype=np.float64)
    for a in arrays:
        finite = np.where(np.isfinite(a), np.abs(a), 0.0)
        m = np.maximum(m, np.max(finite, axis=axes or None, keepdims=True, initial=0.0))
    _, e = np.frexp(m)
    return np.where(m > 0, e, 0).astype(np.int64)


def _as_dtype(value, dtype: np.dtype):
    arr = np.asarray(value, dtype=np.float64).astype(dtype)
    return dtype.type(arr) if arr.ndim == 0 else arr
