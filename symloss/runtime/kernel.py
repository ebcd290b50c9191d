"""`LossKernel`, the callable kernel object of one loss, and `loss(name)`, those of the built-ins.

A call is checked (`LossKernel._prepare`: inputs, parameters, weights, the kernel variant) and
runs the elementwise kernels here; the other families go to their front ends: norms.py,
rows.py (the class axis) and linear.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..arguments import REDUCTIONS, as_real_array, float_dtype
from ..variants import static_parts, variant_key
from .broadcast import _blockwise, _Broadcast, _broadcast, _flat, _flat_input
from .call import _Call, _check_overlap, _out_buffer, _pair, _shaped
from .linear import _linear
from .norms import _norm
from .parameters import _check_array_param, _estimate, _scalar_param, _switch, signs
from .registry import _module
from .rows import _RowForm, _rows

_CACHE: dict[str, LossKernel] = {}


def loss(name: str) -> LossKernel:
    """The kernel object of a built-in loss (also ``symloss.<name>``)."""
    if name not in _CACHE:
        module = _module(name)
        if hasattr(module, "RECURRENCE"):  # a sequence loss: its own front end
            from ..sequences import FRONTENDS

            _CACHE[name] = FRONTENDS[module.RECURRENCE["kind"]](module)
        else:
            _CACHE[name] = LossKernel(module)
    return _CACHE[name]


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

    @staticmethod
    def _builtin(name: str) -> LossKernel:
        """``loss(name)``: the class-axis front end (rows.py) finds a loss's other forms (its
        kinds, its ``_probabilities`` form) among the built-ins through this, as it cannot
        import this module, which imports it."""
        return loss(name)

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
                arr = signs(arr, f"{nm} of {self.name}")
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
            return _norm(self, inputs, params, weight, axis, grad=False)[0]
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
            return _norm(self, inputs, params, weight, axis, grad=True)
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
            return _norm(self, inputs, params, None, None, grad=True, hess=True)[1:]
        call = self._prepare(inputs, params, None)
        out_g, out_h = _pair(out, "out")
        _check_overlap(call, ("out[0]", out_g), ("out[1]", out_h))
        g = _out_buffer(out_g, call, "out[0]")
        h = _out_buffer(out_h, call, "out[1]")
        self._kernel("grad_hess", call)(*call.arrays, *call.scalars, g, h)
        return _shaped(g, out_g, call), _shaped(h, out_h, call)
