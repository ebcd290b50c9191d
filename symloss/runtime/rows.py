"""The class-axis front end: logits (N, C), (N, C, d1, …) or (C,) as rows of C scores, one per
sample, under PyTorch's cross_entropy conventions.

A call goes through named steps: `_form` (the loss's own form, another ``kind=``, or its
``_probabilities`` form for probability targets), `_check_arguments`, `_RowCall` (the inputs
checked and laid out as rows), `_row_params`, then the kernels; "mean" divides by
`_total_weight`. `_RowForm` is a loss on the inputs of its definition (``rowwise``).

The kernel object is passed in (``k``, a `LossKernel`); kernel.py imports this module, so the
loss's other forms come from ``k._builtin``, which is ``loss(name)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arguments import as_real_array, class_labels, float_dtype
from ..variants import static_parts, variant_key
from .parameters import _check_array_param, _scalar_param, _switch
from .registry import names


def _rows(
    k,
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
    has_labels = any(i["labels"] == "classes" for i in k._inputs)
    form = _form(k, args, params, has_labels)
    if form is not k:
        return _rows(form, args, params, reduction, grad, hess=hess)
    ignore_index = _check_arguments(k, params, has_labels)
    call = _RowCall(k, args, ignore_index, gathered)
    data, labels, keep, dtype = call.data, call.labels, call.keep, call.dtype
    rows = data[0]
    vectors, scalars, key = _row_params(k, params, call.n_classes, dtype)
    kernels = {
        kind: f for (kind, v, dt), f in k._module.KERNELS.items() if v == key and dt == dtype.name
    }
    n = rows.shape[0]
    out_shape = call.out_shape

    wrt = [nm for nm in names if call.specs[nm]["differentiable"]]
    grads = [np.empty_like(data[names.index(nm)]) for nm in wrt]

    def gradients():
        out = tuple(call.back(nm, g) for nm, g in zip(wrt, grads))
        return out[0] if len(out) == 1 else out

    if hess:
        if "grad_hess" not in kernels:
            raise TypeError(f"{k.name} has no Hessian kernel (no closed-form Hessian diagonal)")
        g, h = np.empty_like(rows), np.empty_like(rows)
        kernels["grad_hess"](*data, *vectors, *scalars, g, h)
        g *= keep[:, None]
        h *= keep[:, None]
        return call.back(names[0], g), call.back(names[0], h)
    if reduction == "none":
        value = np.empty(n, dtype)
        if not grad:
            kernels["value_each"](*data, *vectors, *scalars, value)
            return (value * keep).reshape(out_shape)
        kernels["value_grad_each"](*data, *vectors, *scalars, value, *grads)
        for g in grads:
            g *= keep[:, None] if g.ndim == 2 else keep
        return (value * keep).reshape(out_shape), gradients()
    total_weight = _total_weight(k, labels, keep, vectors, n)
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


# -- the steps of a call, in order ------------------------------------------------------------


def _form(k, args: tuple, params: dict, has_labels: bool):
    """The form of the loss that takes this call: ``k`` itself, the form of the ``kind`` asked,
    or, for probability targets, the ``_probabilities`` form. Pops ``kind`` from ``params``
    (and ``ignore_index``, which only class-index targets take, for probability targets)."""
    kind = params.pop("kind", None)  # None: the loss's own form
    if kind is not None and k._kind is None:
        raise TypeError(f"{k.name}() has no kind parameter")
    if k._kind is not None and kind not in (None, k._kind):
        return _form_of_kind(k, kind)
    if has_labels and _probability_form(k, args):
        if params.pop("ignore_index", -100) != -100:
            raise TypeError("ignore_index applies to class-index targets only")
        return k._builtin(f"{k.name}_probabilities")
    return k


def _form_of_kind(k, kind):
    """The form ``<name>_<kind>`` of a loss with several kinds, or a ValueError naming them."""
    forms = {k._kind: k}
    for n in names():
        if n.startswith(k.name + "_") and k._builtin(n)._kind is not None:
            forms[k._builtin(n)._kind] = k._builtin(n)
    if kind not in forms:
        raise ValueError(f"kind must be one of {', '.join(map(repr, forms))}, got {kind!r}")
    return forms[kind]


def _probability_form(k, args: tuple) -> bool:
    """True when the target is a float array shaped like the logits (class probabilities)."""
    t, z = np.asarray(args[1]), np.asarray(args[0])
    if t.dtype.kind != "f" or t.shape != z.shape or z.ndim == 0:
        return False
    if f"{k.name}_probabilities" not in names():
        raise TypeError(f"{k.name} takes integer class indices as target, not probabilities")
    return True


def _check_arguments(k, params: dict, has_labels: bool):
    """``ignore_index`` (popped from ``params``; None without class labels), after a TypeError
    for any argument the loss does not take."""
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
    return ignore_index


class _RowCall:
    """The inputs of a class-axis call, checked against the logits' shape and laid out as its
    kernels take them: one row per sample, by_label tables gathered per sample (unless
    ``gathered`` already). (A plain class: a dataclass would cost ``import symloss`` its
    generated methods.)"""

    def __init__(self, k, args: tuple, ignore_index, gathered: bool):
        names = k.inputs
        specs = {i["name"]: i for i in k._inputs}
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

        self.specs: dict[str, dict] = specs  # the loss's inputs, by name
        self.over: str = k._over  # "classes" (on axis 1) or "sample" (all non-batch axes)
        self.dtype: np.dtype = dtype
        self.shape: tuple = z.shape  # of the logits, with a batch axis of 1 for logits (C,)
        self.single: bool = single  # logits (C,): one sample, results without a batch axis
        self.n_classes: int = n_classes
        self.label_shape: tuple = label_shape  # the logits' shape without the class axis
        self.tables: dict[str, np.ndarray] = table  # the by_label inputs, (K, C) each
        # per input: rows (n, C), class labels (n,) or one number per sample (n,)
        self.data: list[np.ndarray] = data
        self.labels: np.ndarray | None = labels  # the class labels, if the loss takes them
        self.keep: np.ndarray = keep  # per sample: 1, or 0 where the label is ignore_index

    @property
    def out_shape(self) -> tuple:
        return () if self.single else self.label_shape

    def back(self, nm: str, g: np.ndarray):
        """A kernel's gradient array in the shape of input ``nm``."""
        if nm in self.tables:  # Σ over the samples of each class
            total = np.zeros(self.tables[nm].shape, self.dtype)
            np.add.at(total, self.labels, g)
            return total
        if not self.specs[nm]["classes"]:
            return g.reshape(self.out_shape)
        if self.over == "sample":
            g = g.reshape(self.shape)
        else:
            g = np.moveaxis(g.reshape(*self.label_shape, self.n_classes), -1, 1)
        return g[0] if self.single else g


def _row_params(k, params: dict, n_classes: int, dtype: np.dtype) -> tuple:
    """(per-class parameters as vectors of ``n_classes``, scalar parameters, the variant key of
    the static ones), each checked to lie in its range in ``dtype``."""
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
    return vectors, scalars, variant_key(static_on, ())


def _total_weight(k, labels: np.ndarray | None, keep: np.ndarray, vectors: list, n: int) -> float:
    """What "mean" divides Σ w·ℓ by. PyTorch: with class labels, Σ weight[target] over the rows
    not ignored; with probability targets, the number of rows."""
    if labels is None:
        return float(n)
    # (PyTorch's weight= only: other per-class parameters, like focal's alpha, do not)
    per_class = [nm for nm, p in k._params.items() if p["per_class"]]
    if "weight" in per_class:
        return float(np.sum(vectors[per_class.index("weight")][labels] * keep, dtype=np.float64))
    return float(np.sum(keep, dtype=np.float64))


@dataclass(frozen=True)
class _RowForm:
    kernel: Any  # a LossKernel

    def __call__(self, *inputs, reduction: str = "mean", weight=None, **params):
        params = dict(params, weight=weight)
        return _rows(self.kernel, inputs, params, reduction, grad=False, gathered=True)

    def value_and_grad(self, *inputs, reduction: str = "mean", weight=None, **params):
        params = dict(params, weight=weight)
        return _rows(self.kernel, inputs, params, reduction, grad=True, gathered=True)

    def grad_hess(self, *inputs, weight=None, **params):
        params = dict(params, weight=weight)
        return _rows(self.kernel, inputs, params, "none", grad=True, gathered=True, hess=True)
