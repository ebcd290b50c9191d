"""The runtime users call: argument checking, dtype and reduction dispatch, lazy kernel loading.

It imports NumPy and, on a loss's first use, that loss's generated module (Numba kernels,
compiled or loaded from Numba's cache on first call). It never imports SymPy.

Conventions (the contract of ``symloss.loss(name)``):

* float32 stays float32, float64 stays float64, other real input (ints, bools, float16)
  becomes float64; target, weight and array parameters are cast to that dtype and broadcast to
  the shape of the first input;
* ``reduction="mean"`` is Σ w·ℓ / Σ w (Σ ℓ / n without weights), ``"sum"`` is Σ w·ℓ, ``"none"``
  the array w·ℓ; sums accumulate in float64 and are returned as a scalar of the input dtype;
* empty input: ``"sum"`` is 0, ``"mean"`` is NaN (0/0, as NumPy and PyTorch), ``"none"`` and
  the gradients are empty arrays; a norm of nothing is 0;
* NaN anywhere in an element's inputs gives NaN for that element (value, gradient, Hessian).
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arguments import REDUCTIONS, as_real_array, class_labels, float_dtype
from .variants import static_parts, variant_key

__all__ = ["names", "loss", "LossKernel", "variant_key", "static_parts", "REDUCTIONS"]

_LOSS_MODULES = "symloss.generated.kernels"


def names() -> list[str]:
    """Sorted names of the built-in losses."""
    from symloss.generated import kernels

    return sorted(getattr(kernels, "NAMES", ()))  # empty only before the first generate


_CACHE: dict[str, LossKernel] = {}


def loss(name: str) -> LossKernel:
    """The kernel object of a built-in loss (also ``symloss.<name>``)."""
    if name not in _CACHE:
        known = names()
        if not isinstance(name, str) or name not in known:
            close = difflib.get_close_matches(str(name), known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown loss {name!r}: expected one of {', '.join(known)}{hint}")
        module = importlib.import_module(f"{_LOSS_MODULES}.{name}")
        if hasattr(module, "RECURRENCE"):  # a sequence loss: its own front end
            from .sequences import FRONTENDS

            _CACHE[name] = FRONTENDS[module.RECURRENCE["kind"]](module)
        else:
            _CACHE[name] = LossKernel(module)
    return _CACHE[name]


# -- argument checking ------------------------------------------------------------------------


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


def _in_domain(x: float, pieces: tuple) -> bool:
    for p in pieces:
        if len(p) == 1:
            if x == p[0]:
                return True
            continue
        lo, hi, lc, hc = p
        if (lo < x or (lc and x == lo)) and (x < hi or (hc and x == hi)):
            return True
    return False


def _array_in_domain(a: np.ndarray, pieces: tuple) -> np.ndarray:
    ok = np.zeros(a.shape, dtype=bool)
    for p in pieces:
        if len(p) == 1:
            ok |= a == p[0]
        else:
            lo, hi, lc, hc = p
            ok |= ((a > lo) | ((a == lo) & lc)) & ((a < hi) | ((a == hi) & hc))
    return ok


def _estimate(kind: str, inputs: dict[str, np.ndarray]) -> float:
    if kind == "negative_fraction":  # HED: β = |Y-| / |Y|, the mean of 1 - target
        target = inputs["target"]
        # No targets: no element uses β, and 1/2 lies in its range.
        return float(np.mean(1.0 - target, dtype=np.float64)) if target.size else 0.5
    raise AssertionError(kind)


def _rounded(value, dtype: np.dtype):
    """``value`` (a number or an array) in the kernel's ``dtype``, as the kernel will use it."""
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(value).astype(dtype) if np.ndim(value) else dtype.type(value)


def _out_of_range(name: str, p: dict, given: float, used: float, dtype: np.dtype) -> ValueError:
    """The error for a parameter outside its range: as given, or once rounded to ``dtype``."""
    origin = f" (estimated by {p['estimate']})" if p["estimate"] else ""
    if _in_domain(given, p["domain"]):  # in range as given, not in the kernel's dtype
        return ValueError(
            f"{name} must be in {p['domain_text']}; {given!r}{origin} rounds to {used!r} in "
            f"{dtype.name}"
        )
    return ValueError(f"{name} must be in {p['domain_text']}, got {given!r}{origin}")


def _check_array_param(name: str, p: dict, given: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``given`` in ``dtype`` if every value lies in the parameter's range there, else a
    ValueError naming one."""
    arr = _rounded(given, dtype)
    bad = ~(_array_in_domain(given, p["domain"]) & _array_in_domain(arr, p["domain"]))
    if bad.any():
        first = np.flatnonzero(bad.ravel())[0]
        used, value = float(arr.flat[first]), float(np.broadcast_to(given, arr.shape).flat[first])
        err = _out_of_range(name, p, value, used, dtype)
        raise ValueError(f"{err} among its values")
    return arr


def _scalar_param(name: str, p: dict, value, dtype: np.dtype):
    """A scalar parameter's value in the kernel's ``dtype``, checked to be a real number in its
    range as the kernel will use it (1e-300 is 0 in float32)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        if np.ndim(value) == 0 and isinstance(value, np.ndarray):
            value = value.item()
        else:
            kind = "a number or an array" if p["broadcast"] else "a real number"
            raise TypeError(f"{name} must be {kind}, got {value!r}")
    value = float(value)
    used = _rounded(value, dtype)
    if not (_in_domain(value, p["domain"]) and _in_domain(float(used), p["domain"])):
        raise _out_of_range(name, p, value, float(used), dtype)
    return used


def _switch(name: str, p: dict, value) -> bool | int:
    """A static parameter's value (the default when None): False or True for a switch, one of
    the integers its kernels were generated for otherwise."""
    value = p["default"] if value is None else value
    if not isinstance(p["default"], bool):
        allowed = [int(v) for (v,) in p["domain"]]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, one of {allowed}, got {value!r}")
        if int(value) not in allowed:
            raise ValueError(
                f"{name} must be one of {allowed} (the values with generated kernels), "
                f"got {value!r}"
            )
        return int(value)
    if value not in (False, True, 0, 1) or isinstance(value, float):
        raise ValueError(f"{name} must be False or True, got {value!r}")
    return bool(value)


def _signs(target: np.ndarray, what: str) -> np.ndarray:
    """Labels in {-1, +1} as given; all in {0, 1}: 2y - 1 (TensorFlow's hinge); else an error."""
    from .checks import label_counts  # Numba: imported on first need

    minus, zero, one, nan = label_counts(target)
    if minus + one + nan == target.size:
        return target
    if zero + one + nan == target.size:
        return 2 * target - 1
    finite = target[~np.isnan(target)]
    bad = finite[~((finite == -1) | (finite == 0) | (finite == 1))]
    example = bad[0] if bad.size else "both 0 and -1"
    raise ValueError(
        f"{what} must hold labels in {{-1, +1}} or in {{0, 1}}, got {example!r} among them"
    )


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


class LossKernel:
    """The callable kernel object of one loss, backed by its generated module."""

    def __init__(self, module):
        self._module = module
        meta = module.LOSS
        self.name: str = meta["name"]
        self.family: str = meta["family"]
        self.formula: str = meta["formula"]
        self.__doc__ = f"{meta['doc']}\n\nFormula: {meta['formula']}"
        self._inputs = meta["inputs"]
        self._params = {p["name"]: p for p in meta["params"]}
        self._homogeneous = meta["homogeneous"]
        # ℓ depends on (x, y) only through r = x - y (regression losses)
        self.residual: bool = meta.get("residual", False)
        self._over = meta.get("over", "classes")
        self._frontend = meta.get("frontend")
        self._kind = meta.get("kind")
        self.inputs: tuple[str, ...] = tuple(i["name"] for i in self._inputs)
        self.params: dict[str, Any] = {k: p["default"] for k, p in self._params.items()}

    @property
    def rowwise(self) -> _RowForm:
        """The loss on the inputs of its definition, one row per sample: for a linear front
        end (logits, target, ‖x‖, ‖W_y‖), for a ``by_label`` table its row for each sample.
        What `symloss.verify` checks against the definition."""
        return _RowForm(self)

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<symloss kernel {self.name}({', '.join(self.inputs)}{', ' if ps else ''}{ps})>"

    # -- validation ---------------------------------------------------------------------------
    def _prepare(self, args: tuple, kwargs: dict, weight: Any) -> _Call:
        given = dict(zip(self.inputs, args))
        if len(args) > len(self.inputs):
            raise TypeError(
                f"{self.name}() takes {len(self.inputs)} positional inputs "
                f"({', '.join(self.inputs)}), got {len(args)}"
            )
        for nm in self.inputs[len(args) :]:
            if nm not in kwargs:
                raise TypeError(f"{self.name}() missing input {nm!r}")
            given[nm] = kwargs.pop(nm)
        unknown = sorted(set(kwargs) - set(self._params))
        if unknown:
            expected = ", ".join(self._params) or "none"
            raise TypeError(
                f"{self.name}() got unexpected argument(s) {', '.join(map(repr, unknown))}; "
                f"its parameters are: {expected}"
            )

        first_name = self.inputs[0]
        first = as_real_array(given[first_name], first_name)
        dtype = float_dtype(first)
        shape = first.shape
        inputs = {first_name: first.astype(dtype, copy=False)}
        for spec in self._inputs[1:]:
            nm = spec["name"]
            arr = as_real_array(given[nm], nm)
            arr = _broadcast(arr.astype(dtype, copy=False), shape, nm, first_name)
            if spec["labels"] == "signs":
                arr = _signs(arr, f"{nm} of {self.name}")
            inputs[nm] = arr

        static_on, array_params, scalars, array_values = [], [], [], []
        for nm, p in self._params.items():
            value = kwargs.get(nm, None)
            if p["static"]:
                static_on += static_parts({nm: _switch(nm, p, value)})
                continue
            if value is None and p["estimate"] is not None:
                value = _estimate(p["estimate"], inputs)
                if math.isnan(value):  # a NaN target: every element depends on it
                    scalars.append(dtype.type(value))
                    continue
            elif value is None:
                value = p["default"]
            if p["broadcast"] and np.ndim(value) > 0:
                arr = _check_array_param(nm, p, as_real_array(value, nm), dtype)
                arr = _broadcast(arr, shape, nm, first_name)
                array_params.append(nm)
                array_values.append(arr)
                continue
            scalars.append(_scalar_param(nm, p, value, dtype))

        w = None
        if weight is not None:
            w = _broadcast(
                as_real_array(weight, "weight").astype(dtype, copy=False),
                shape,
                "weight",
                first_name,
            )
        ordered = list(inputs.values()) + array_values
        return _Call(
            shape=shape,
            dtype=dtype,
            arrays=[_flat_input(a, dtype) for a in ordered],
            inputs=dict(zip([*self.inputs, *array_params], ordered)),
            scalars=scalars,
            weight=None if w is None else _flat(w, dtype),
            key=variant_key(static_on, array_params),
        )

    def _kernel(self, kind: str, call: _Call):
        kernel = self._module.KERNELS[(kind, call.key, call.dtype.name)]
        if any(isinstance(a, _Broadcast) for a in call.arrays):
            return _blockwise(kernel, call.n)
        return kernel

    def _total(self, call: _Call) -> float:
        """Σ w·ℓ (Σ ℓ without weights) in float64, by the fused kernel."""
        if call.weight is None:
            return self._kernel("value_sum", call)(*call.arrays, *call.scalars)
        return self._kernel("value_sum_w", call)(*call.arrays, call.weight, *call.scalars)

    def _total_and_grad(self, call: _Call, scale, grad: np.ndarray) -> float:
        """Σ w·ℓ as _total, writing grad = scale·w·ℓ' in the same pass."""
        if call.weight is None:
            kernel = self._kernel("value_grad_sum", call)
            return kernel(*call.arrays, *call.scalars, scale, grad)
        kernel = self._kernel("value_grad_sum_w", call)
        return kernel(*call.arrays, call.weight, *call.scalars, scale, grad)

    def _check_reduction(self, reduction: str | None, axis) -> str | None:
        """Elementwise losses take reduction= (default "mean"); norms take axis= instead."""
        if self.family == "classes" and axis is not None:
            raise TypeError(f"{self.name} reduces over axis 1 (the classes); it takes no axis=")
        if self.family == "norm":
            if reduction is not None:
                raise TypeError(f"{self.name} is a norm: it takes axis=, not reduction=")
            return None
        if axis is not None:
            raise TypeError(f"{self.name} takes reduction=, not axis= (only l1 and l2 take axis)")
        reduction = "mean" if reduction is None else reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        return reduction

    # -- elementwise losses -------------------------------------------------------------------
    @staticmethod
    def _mean_denominator(call: _Call) -> float:
        """n, or Σ w with weights: what "mean" divides Σ w·ℓ by."""
        if call.weight is None:
            return float(call.n)
        return float(np.sum(call.weight, dtype=np.float64))

    def _weighted_mean_scale(self, call: _Call) -> float:
        total = self._mean_denominator(call)
        return 1.0 / total if total != 0 else math.nan

    def _check_out(self, out, reduction, values: bool = False) -> None:
        """out= is for elementwise losses; for the values themselves, with reduction='none'."""
        if out is None:
            return
        if self.family != "elementwise":
            raise TypeError(f"{self.name}: out= is for elementwise losses")
        if values and reduction != "none":
            raise TypeError("out= receives the element losses: it needs reduction='none'")

    def __call__(
        self, *inputs, reduction: str | None = None, weight=None, axis=None, out=None, **params
    ):
        """The loss of ``inputs``: reduced by ``reduction`` (or, for a norm, along ``axis``).
        ``out``: with reduction="none" (elementwise losses), the array to write the element
        losses into (shape and dtype of the first input), returned."""
        reduction = self._check_reduction(reduction, axis)
        self._check_out(out, reduction, values=True)
        if self.family == "norm":
            return self._norm(inputs, params, weight, axis, grad=False)[0]
        if self.family == "classes":
            front = _linear if self._frontend == "linear" else _rows
            return front(self, inputs, dict(params, weight=weight), reduction, grad=False)
        call = self._prepare(inputs, params, weight)
        if reduction == "none":
            _check_overlap(call, ("out", out))
            flat = _out_buffer(out, call, "out")
            self._kernel("value_each", call)(*call.arrays, *call.scalars, flat)
            if call.weight is not None:
                flat *= call.weight
            return _shaped(flat, out, call)
        total = self._total(call)
        if reduction == "mean":
            total = total * self._weighted_mean_scale(call) if call.n else math.nan
        return call.dtype.type(total)

    def value_and_grad(
        self, *inputs, reduction: str | None = None, weight=None, axis=None, out=None, **params
    ):
        """(value, ∂value/∂first input), the gradient shaped and typed like the first input;
        for a loss with several differentiable inputs (center_loss: x and centers;
        large_margin_softmax: x and weight), a tuple of gradients in argument order.

        With ``reduction="none"`` the value is the array of element losses and the gradient is
        that of their sum (each element's derivative).

        ``out`` (elementwise losses): the array to write the gradient into, C-contiguous with
        the first input's shape and dtype; with reduction="none" a pair (values, gradient).
        Reusing buffers saves the allocation and the page faults of a fresh array each call.
        """
        reduction = self._check_reduction(reduction, axis)
        self._check_out(out, reduction)
        if self.family == "norm":
            return self._norm(inputs, params, weight, axis, grad=True)
        if self.family == "classes":
            front = _linear if self._frontend == "linear" else _rows
            return front(self, inputs, dict(params, weight=weight), reduction, grad=True)
        call = self._prepare(inputs, params, weight)
        if reduction == "none":
            out_v, out_g = _pair(out, "out")
            _check_overlap(call, ("out[0]", out_v), ("out[1]", out_g))
            value = _out_buffer(out_v, call, "out[0]")
            grad = _out_buffer(out_g, call, "out[1]")
            self._kernel("value_grad_each", call)(*call.arrays, *call.scalars, value, grad)
            if call.weight is not None:
                value *= call.weight
                grad *= call.weight
            return _shaped(value, out_v, call), _shaped(grad, out_g, call)
        _check_overlap(call, ("out", out))
        grad = _out_buffer(out, call, "out")
        scale = self._weighted_mean_scale(call) if reduction == "mean" else 1.0
        total = self._total_and_grad(call, call.dtype.type(scale), grad)
        if reduction == "mean":
            total = total * scale if call.n else math.nan
        return call.dtype.type(total), _shaped(grad, out, call)

    def partial_sums(self, *inputs, weight=None, grad: bool = False, **params):
        """(Σ w·ℓ, D) or (Σ w·ℓ, D, ∂Σ/∂first input), as float64 numbers: the parts of
        ``"mean"`` = Σ/D, with D its denominator (n, Σ w, or for class labels Σ weight[y] over
        the samples not ignored). Sums of parts over blocks of data give the mean of the whole
        (``symloss.integrations.dask``). Elementwise and class-axis losses."""
        if self.family == "classes" and self._frontend is None:
            front = dict(params, weight=weight)
            return _rows(self, inputs, front, "parts", grad)
        if self.family != "elementwise":
            raise TypeError(
                f"{self.name} is a {self.family} loss: partial_sums is for elementwise "
                "and class-axis losses"
            )
        call = self._prepare(inputs, params, weight)
        count = self._mean_denominator(call)
        if not grad:
            return self._total(call), count
        g = np.empty(call.n, call.dtype)
        total = self._total_and_grad(call, call.dtype.type(1.0), g)
        return total, count, g.reshape(call.shape)

    def grad_hess(self, *inputs, out=None, **params):
        """Per-element (∂ℓ/∂x, ∂²ℓ/∂x²) w.r.t. the first input; for a norm, the Hessian diagonal.
        ``out``: a pair of arrays to write them into (elementwise losses).

        Class-axis losses: per sample, (∂ℓ_i/∂z_ij, ∂²ℓ_i/∂z_ij²) shaped like the logits, the
        gradient and the diagonal of each sample's Hessian (what a gradient-boosting objective
        takes); ignored samples get zeros. Losses without a closed-form Hessian (Crammer–Singer,
        several differentiable inputs) raise TypeError."""
        if self.family == "classes":
            if out is not None:
                raise TypeError("out= is for elementwise losses")
            if self._frontend == "linear":
                raise TypeError(f"{self.name} has no Hessian kernel (a linear front end)")
            return _rows(self, inputs, dict(params), "none", grad=True, hess=True)
        self._check_out(out, None)
        if self.family == "norm":
            return self._norm(inputs, params, None, None, grad=True, hess=True)[1:]
        call = self._prepare(inputs, params, None)
        out_g, out_h = _pair(out, "out")
        _check_overlap(call, ("out[0]", out_g), ("out[1]", out_h))
        g = _out_buffer(out_g, call, "out[0]")
        h = _out_buffer(out_h, call, "out[1]")
        self._kernel("grad_hess", call)(*call.arrays, *call.scalars, g, h)
        return _shaped(g, out_g, call), _shaped(h, out_h, call)

    # -- norms: L = g(S), S = Σ w·ℓ over the reduced axes --------------------------------------
    def _norm(self, inputs, params, weight, axis, grad: bool, hess: bool = False):
        call = self._prepare(inputs, params, weight)
        axes = _normalize_axis(axis, len(call.shape))
        kernels = self._module
        scale_exp = None
        if len(axes) == len(call.shape):  # one sum over everything: the fused kernel's
            S = np.full((1,) * len(call.shape), self._total(call), dtype=np.float64)
            elements = None
        else:
            elements = self._elements(call, hess, grad)
            S = self._sum(elements[0], call, axes)
        if self._homogeneous is not None and not np.all(
            ((S > 2.0**-960) & (S < 2.0**960)) | np.isnan(S)
        ):
            # The float64 sum over- or underflowed (or is 0, perhaps by underflow): rescale the
            # inputs by a power of two per reduced slice (exact), using L(c·x) = c^k·L(x).
            scale_exp = _slice_exponents([call.inputs[nm] for nm in self.inputs], axes, call.shape)
            scaled = self._prepare(
                tuple(
                    np.ldexp(call.inputs[nm], -scale_exp).astype(call.dtype) for nm in self.inputs
                ),
                dict(params),
                weight,
            )
            elements = self._elements(scaled, hess, grad)
            S = self._sum(elements[0], scaled, axes)
        value = kernels.outer(S)
        k = self._homogeneous
        if scale_exp is not None:
            value = np.ldexp(value, scale_exp * k)
        value = np.squeeze(value, axis=axes) if axes else value
        value = _as_dtype(value, call.dtype)
        if not grad:
            return (value,)
        g1 = kernels.outer_d1(S)
        if elements is None and not hess:  # one more fused pass: grad = g'(S)·w·ℓ'
            scale = call.dtype.type(g1.reshape(-1)[0])
            if np.isfinite(scale) and scale != 0:
                gradient = np.empty(call.n, call.dtype)
                self._total_and_grad(call, scale, gradient)
                return value, gradient.reshape(call.shape)
        _, d1, d2 = elements if elements is not None else self._elements(call, hess)
        w = 1.0 if call.weight is None else call.weight.reshape(call.shape)
        gradient = g1 * w * d1
        if scale_exp is not None:
            gradient = np.ldexp(gradient, scale_exp * (k - 1))
        gradient = gradient.astype(call.dtype)
        if not hess:
            return value, gradient
        hessian = kernels.outer_d2(S) * (w * d1) ** 2 + g1 * w * d2
        if scale_exp is not None:
            hessian = np.ldexp(hessian, scale_exp * (k - 2))
        return value, gradient, hessian.astype(call.dtype)

    def _elements(self, call: _Call, hess: bool, grad: bool = True):
        """Per-element ℓ, ℓ' (if ``grad``) and ℓ'' (if ``hess``), shaped like the input: in
        float64 where ℓ' or ℓ'' are asked (they enter float64 products), else ℓ as the kernel
        wrote it (its sum accumulates in float64 without a float64 copy)."""
        n = call.n
        ell = np.empty(n, call.dtype)
        if not (grad or hess):
            self._kernel("value_each", call)(*call.arrays, *call.scalars, ell)
            return ell.reshape(call.shape), None, None
        d1 = np.empty(n, call.dtype)
        self._kernel("value_grad_each", call)(*call.arrays, *call.scalars, ell, d1)
        d2 = None
        if hess:
            d2 = np.empty(n, call.dtype)
            self._kernel("grad_hess", call)(*call.arrays, *call.scalars, np.empty_like(d2), d2)
            d2 = d2.reshape(call.shape).astype(np.float64, copy=False)
        return (
            ell.reshape(call.shape).astype(np.float64, copy=False),
            d1.reshape(call.shape).astype(np.float64, copy=False),
            d2,
        )

    @staticmethod
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


# -- class-axis losses: rows of C scores, PyTorch cross_entropy conventions ------------------


def _rows(
    k: LossKernel,
    args: tuple,
    params: dict,
    reduction: str,
    grad: bool,
    gathered=False,
    hess: bool = False,
):
    """A class-axis loss on logits (N, C), (N, C, d1, …) or (C,). Integer targets are shaped
    like the logits without the class axis (``ignore_index`` rows count for nothing);
    probability targets are shaped like the logits and go to the loss's ``_probabilities``
    form when it has one (as PyTorch's cross_entropy decides by the target). A ``by_label``
    input is a table (K, D) whose row y_i sample i uses (``gathered``: already one row per
    sample); its gradient is summed back into the table. Other non-vector inputs hold one
    number per sample."""
    names = k.inputs
    if len(args) != len(names):
        raise TypeError(f"{k.name}() takes inputs ({', '.join(names)}), got {len(args)}")
    specs = {i["name"]: i for i in k._inputs}
    has_labels = any(i["labels"] == "classes" for i in k._inputs)
    kind = params.pop("kind", None)  # None: the loss's own form
    if kind is not None and k._kind is None:
        raise TypeError(f"{k.name}() has no kind parameter")
    if k._kind is not None and kind not in (None, k._kind):
        form = _form_of_kind(k, kind)
        return _rows(form, args, params, reduction, grad, hess=hess)
    if has_labels and _probability_form(k, args):
        if params.pop("ignore_index", -100) != -100:
            raise TypeError("ignore_index applies to class-index targets only")
        form = loss(f"{k.name}_probabilities")
        return _rows(form, args, params, reduction, grad, hess=hess)
    ignore_index = params.pop("ignore_index", -100) if has_labels else None
    if "weight" not in k._params and params.get("weight", None) is None:
        params.pop("weight", None)  # weight=None is every call's default
    unknown = sorted(set(params) - set(k._params))
    if unknown:
        extra = ", ignore_index" if has_labels else ""
        raise TypeError(
            f"{k.name}() got unexpected argument(s) {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(k._params)}{extra}"
        )
    z = as_real_array(args[0], names[0])
    dtype = float_dtype(z)
    tables = [nm for nm in names if specs[nm].get("by_label") and not gathered]
    if z.ndim == 0 or (tables and z.ndim != 2):
        shapes = "(N, D)" if tables else "(C,), (N, C) or (N, C, d1, ...)"
        raise ValueError(f"{names[0]} must have a class axis: shape {shapes}, got {z.shape}")
    single = z.ndim == 1
    z = z[None] if single else z
    if k._over == "sample":  # each sample's non-batch axes are one vector
        n_classes = int(np.prod(z.shape[1:], dtype=np.int64))
        label_shape = z.shape[:1]
    else:
        n_classes = z.shape[1]
        label_shape = z.shape[:1] + z.shape[2:]
    if n_classes == 0:
        what = "elements per sample" if k._over == "sample" else "classes (axis 1 is empty)"
        raise ValueError(f"{names[0]} has no {what}")

    def as_rows(a: np.ndarray) -> np.ndarray:
        if k._over == "sample":
            return np.ascontiguousarray(a, dtype=dtype).reshape(a.shape[0], n_classes)
        return np.ascontiguousarray(np.moveaxis(a, 1, -1), dtype=dtype).reshape(-1, n_classes)

    table = {}
    for nm in tables:
        t = as_real_array(args[names.index(nm)], nm)
        if t.ndim != 2 or t.shape[1] != n_classes:
            raise ValueError(
                f"{nm} must have shape (K, {n_classes}) (one row per class), got {t.shape}"
            )
        if t.shape[0] == 0:
            raise ValueError(f"{nm} has no rows: it needs one per class a target may name")
        table[nm] = np.ascontiguousarray(t, dtype=dtype)
    data, labels = [as_rows(z)], None
    keep = np.ones(data[0].shape[0], dtype)
    for nm in names[1:]:
        spec, a = specs[nm], args[names.index(nm)]
        if spec["labels"] == "classes":
            n_labels = next(iter(table.values())).shape[0] if table else n_classes
            labels, keep = class_labels(
                a, nm, () if single else label_shape, n_labels, ignore_index
            )
            keep = keep.astype(dtype)
            data.append(labels)
        elif nm in table:
            data.append(None)  # gathered below, once the labels are known
        elif spec["classes"]:
            a = as_real_array(a, nm)
            if a.shape != (z.shape[1:] if single else z.shape):
                raise ValueError(
                    f"{nm} has shape {a.shape}; expected the shape of {names[0]}, "
                    f"{z.shape[1:] if single else z.shape}"
                )
            data.append(as_rows(a[None] if single else a))
        else:  # one number per sample
            a = as_real_array(a, nm)
            if a.shape != (() if single else label_shape):
                raise ValueError(f"{nm} has shape {a.shape}; expected {label_shape}")
            data.append(np.ascontiguousarray(a, dtype=dtype).reshape(-1))
    for nm in table:
        data[names.index(nm)] = np.ascontiguousarray(table[nm][labels])
    rows = data[0]
    vectors, scalars, static_on = [], [], []
    for nm, p in k._params.items():
        value = params.get(nm)
        if p["static"]:
            static_on += static_parts({nm: _switch(nm, p, value)})
            continue
        if p["per_class"]:
            value = p["default"] if value is None else value
            arr = as_real_array(value, nm)
            if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != n_classes):
                raise ValueError(
                    f"{nm} must be a scalar or have shape ({n_classes},), got {arr.shape}"
                )
            arr = np.broadcast_to(arr, (n_classes,))
            vectors.append(np.ascontiguousarray(_check_array_param(nm, p, arr, dtype)))
            continue
        value = p["default"] if value is None else value
        scalars.append(_scalar_param(nm, p, value, dtype))

    key = variant_key(static_on, ())
    kernels = {
        kind: f for (kind, v, dt), f in k._module.KERNELS.items() if v == key and dt == dtype.name
    }
    n = rows.shape[0]
    out_shape = () if single else label_shape

    def back(nm: str, g: np.ndarray):
        """A kernel's gradient array in the shape of input ``nm``."""
        if nm in table:  # Σ over the samples of each class
            total = np.zeros(table[nm].shape, dtype)
            np.add.at(total, labels, g)
            return total
        if not specs[nm]["classes"]:
            return g.reshape(out_shape)
        if k._over == "sample":
            g = g.reshape(z.shape)
        else:
            g = np.moveaxis(g.reshape(*label_shape, n_classes), -1, 1)
        return g[0] if single else g

    wrt = [nm for nm in names if specs[nm]["differentiable"]]
    grads = [np.empty_like(data[names.index(nm)]) for nm in wrt]

    def gradients():
        out = tuple(back(nm, g) for nm, g in zip(wrt, grads))
        return out[0] if len(out) == 1 else out

    if hess:
        if "grad_hess" not in kernels:
            raise TypeError(f"{k.name} has no Hessian kernel (no closed-form Hessian diagonal)")
        g, h = np.empty_like(rows), np.empty_like(rows)
        kernels["grad_hess"](*data, *vectors, *scalars, g, h)
        g *= keep[:, None]
        h *= keep[:, None]
        return back(names[0], g), back(names[0], h)
    if reduction == "none":
        value = np.empty(n, dtype)
        if not grad:
            kernels["value_each"](*data, *vectors, *scalars, value)
            return (value * keep).reshape(out_shape)
        kernels["value_grad_each"](*data, *vectors, *scalars, value, *grads)
        for g in grads:
            g *= keep[:, None] if g.ndim == 2 else keep
        return (value * keep).reshape(out_shape), gradients()
    # PyTorch: with class labels the mean divides by Σ weight[target] over the rows not
    # ignored; with probability targets by the number of rows.
    if labels is None:
        total_weight = float(n)
    else:
        # (PyTorch's weight= only: other per-class parameters, like focal's alpha, do not)
        per_class = [nm for nm, p in k._params.items() if p["per_class"]]
        if "weight" in per_class:
            total_weight = float(
                np.sum(vectors[per_class.index("weight")][labels] * keep, dtype=np.float64)
            )
        else:
            total_weight = float(np.sum(keep, dtype=np.float64))
    scale = (1.0 / total_weight if total_weight else math.nan) if reduction == "mean" else 1.0
    if not grad:
        total = kernels["value_sum_w"](*data, *vectors, keep, *scalars)
    else:
        total = kernels["value_grad_sum_w"](
            *data, *vectors, keep, *scalars, dtype.type(scale), *grads
        )
    if reduction == "parts":  # (Σ w·ℓ, the mean's denominator[, ∂Σ/∂inputs]), in float64
        return (float(total), total_weight, *([gradients()] if grad else []))
    if reduction == "mean":
        total = total * scale if n else math.nan
    value = dtype.type(total)
    return (value, gradients()) if grad else value


@dataclass(frozen=True)
class _RowForm:
    kernel: LossKernel

    def __call__(self, *inputs, reduction: str = "mean", weight=None, **params):
        params = dict(params, weight=weight)
        return _rows(self.kernel, inputs, params, reduction, grad=False, gathered=True)

    def value_and_grad(self, *inputs, reduction: str = "mean", weight=None, **params):
        params = dict(params, weight=weight)
        return _rows(self.kernel, inputs, params, reduction, grad=True, gathered=True)

    def grad_hess(self, *inputs, weight=None, **params):
        params = dict(params, weight=weight)
        return _rows(self.kernel, inputs, params, "none", grad=True, gathered=True, hess=True)


def _linear(k: LossKernel, args: tuple, params: dict, reduction: str, grad: bool):
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


def _form_of_kind(k: LossKernel, kind) -> LossKernel:
    """The form ``<name>_<kind>`` of a loss with several kinds, or a ValueError naming them."""
    forms = {k._kind: k}
    for n in names():
        if n.startswith(k.name + "_") and loss(n)._kind is not None:
            forms[loss(n)._kind] = loss(n)
    if kind not in forms:
        raise ValueError(f"kind must be one of {', '.join(map(repr, forms))}, got {kind!r}")
    return forms[kind]


def _probability_form(k: LossKernel, args: tuple) -> bool:
    """True when the target is a float array shaped like the logits (class probabilities)."""
    t, z = np.asarray(args[1]), np.asarray(args[0])
    if t.dtype.kind != "f" or t.shape != z.shape or z.ndim == 0:
        return False
    if f"{k.name}_probabilities" not in names():
        raise TypeError(f"{k.name} takes integer class indices as target, not probabilities")
    return True
