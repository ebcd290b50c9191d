"""Class-axis losses (and the vector losses built the same way): each sample's value, every
gradient component and the Hessian diagonal against `ClassReference`, and the sum over
samples, judged by the error model."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import sympy as sp

from ..definition.spec import Loss
from .elementwise import fsum, row_of
from .model import BOUNDS, assess, perturbation_search, underflow_measure
from .reference import ClassReference
from .sampling import class_rows, linear_norms, param_sets, per_sample_values
from .ulp import step, ulp_error

__all__ = ["verify_classes", "class_reference"]


@functools.cache
def class_reference(loss: Loss, static: tuple) -> ClassReference:
    return ClassReference(loss, static={loss.symbol(k): int(v) for k, v in static})


def verify_classes(
    loss: Loss, source, dtypes=("float32", "float64"), seed: int = 0, huge: bool = True
):
    """``huge``: float64 rows at √max and max/2n too (their references need 200 to 370 digits)."""
    rng = np.random.default_rng(seed)
    rows: dict = {}
    statics = [k for k, p in loss.parameters.items() if p.static]
    for values in itertools.product(*(loss.parameters[k].values for k in statics)):
        static = dict(zip(statics, values))
        ref = class_reference(loss, tuple(sorted(static.items())))
        _verify_variant(loss, source, ref, static, dtypes, rng, rows, huge)
    return list(rows.values())


def _flatten(args) -> list[float]:
    return [float(v) for a in args for v in np.ravel(a)]


def _smoothing_scale(loss: Loss, params: dict, vec_values: list, n: int) -> float:
    eps = float(params.get("label_smoothing", 0.0)) if "label_smoothing" in loss.parameters else 0
    top = max((float(np.max(v)) for v in vec_values), default=1.0)
    return eps * top / n


def _perturbation_error(ref, q, got: float, args: list, y: int, dtype, component: int):
    """The error model's search (``model.perturbation_search``) for one component."""

    def line(direction: dict[int, int]):
        def point(k: int) -> tuple:
            moved = list(args)
            for pos, s in direction.items():
                moved[pos] = step(args[pos], k * s, dtype)
            r = ref.evaluate(q, moved, y, dtype)
            return (None if r is None else float(r[component])), ref.branch(q, moved, y)

        return point

    return perturbation_search(got, line, ref.perturbable, BOUNDS[q], dtype)


def _verify_variant(loss, source, ref, static: dict, dtypes, rng, rows: dict, huge) -> None:
    n = ref.n
    # defaults, each parameter at the ends of its range and inside (per-class ones as one
    # value for all classes), then each per-class parameter as a random vector
    sets = param_sets(loss, rng)
    for name in ref.vectors:
        sets.append({**sets[0], name: rng.uniform(0.1, 3.0, n)})
    for dtype in dtypes:
        dt = np.dtype(dtype).type
        probabilities = loss.inputs[0].domain.is_subset(sp.Interval(0, sp.oo))
        labelled = any(i.labels == "classes" for i in loss.inputs)
        masked = labelled and loss.frontend is None and not any(i.by_label for i in loss.inputs)
        z, y = class_rows(dt, rng, probabilities, masked=masked, huge=huge)
        # vector targets: random distributions for the random rows, one-hot at y for the
        # extreme rows (which then test p_y → 1 and → 0)
        data = [
            np.where(
                np.arange(len(z))[:, None] < 24, rng.dirichlet(np.ones(n), len(z)), np.eye(n)[y]
            ).astype(dt)
            for _ in ref.data
        ]
        if loss.frontend == "linear":  # norms consistent with the logits: |z_y| ≤ ‖x‖‖W_y‖
            per_sample = linear_norms(z, y, static.get("m", 1), dt, rng)
        else:
            per_sample = [per_sample_values(loss, nm, dt, rng, len(z)) for nm in ref.per_sample]
        by_name = dict(zip(ref.data, data)) | dict(zip(ref.per_sample, per_sample))
        inputs = [z] + [y if i.labels == "classes" else by_name[i.name] for i in loss.inputs[1:]]
        nan_rows = np.zeros(len(z), bool)
        for a in [z, *data, *per_sample]:
            nan_rows |= np.isnan(np.reshape(a, (len(z), -1))).any(axis=1)
        labels = y if ref.labelled else np.zeros_like(y)  # one reference without labels
        for params in sets:
            call = {k: (np.asarray(v, dt) if np.ndim(v) else v) for k, v in params.items()}
            call.update(static)
            vec = [
                np.asarray(call.get(k, loss.parameters[k].default), dt) * np.ones(n, dt)
                for k in ref.vectors
            ]
            # as the kernel receives them: in the dtype (0.3 is 0.30000001 in float32)
            scal = [
                float(dt(call.get(s.name, loss.parameters[s.name].default))) for s in ref.scalars
            ]
            try:
                got = source.class_outputs(inputs, call)
            except NotImplementedError:
                for q in source.quantities:
                    row_of(rows, loss.name, q, dt).drop("declined", len(z))
                continue
            args = [
                _flatten([z[i], *(d[i] for d in data), *(p[i] for p in per_sample), *vec, scal])
                for i in range(len(z))
            ]
            floor = _smoothing_scale(loss, params, vec, n)
            for q, outs in got.items():
                if q == "sum":
                    continue
                row = row_of(rows, loss.name, q, dt)
                refs = [ref.evaluate(q, args[i], int(labels[i]), dt) for i in range(len(z))]
                ok = np.array([r is not None for r in refs])
                row.drop("unconverged", int((~ok).sum()))
                for out in outs:
                    parts = out if isinstance(out, list) else [out]
                    g = np.concatenate(
                        [np.reshape(np.asarray(p, dt), (len(z), -1)) for p in parts], axis=1
                    )
                    _judge(
                        loss, ref, row, q, g, refs, ok, args, labels, nan_rows, floor, dt, params
                    )
            if "sum" in got:
                _check_sum(loss, got["sum"], ref, args, labels, inputs, call, dt, rows)


def _judge(loss, ref, row, q, g, refs, ok, args, labels, nan_rows, floor, dt, params):
    keep = np.flatnonzero(ok)
    if not keep.size:
        return
    k = g.shape[1]
    want = np.stack([refs[i] for i in keep]).astype(dt).reshape(len(keep), k)
    got = g[keep]
    flat_got, flat_want = got.ravel(), want.ravel()

    def locate(idx):
        return int(keep[idx // k]), idx % k

    def perturbed(idx):
        i, c = locate(idx)
        return _perturbation_error(ref, q, float(flat_got[idx]), args[i], int(labels[i]), dt, c)

    def nan_row(idx):
        i, c = locate(idx)
        v = flat_got[idx]
        if q == "value" or not nan_rows[i]:
            return None
        if math.isnan(v) or v == 0:
            return 0.0
        # a component the NaN does not enter (the gradient -t of a loss linear in the NaN
        # input): the exact component is the same at any finite stand-in for the NaN
        stand_ins = []
        for fill in (0.5, 2.0):
            at = [fill if isinstance(a, float) and math.isnan(a) else a for a in args[i]]
            r = ref.evaluate(q, at, int(labels[i]), dt)
            stand_ins.append(None if r is None else float(np.ravel(r)[c]))
        if None in stand_ins or stand_ins[0] != stand_ins[1] or not math.isfinite(stand_ins[0]):
            return None
        return float(ulp_error(np.array([v], dt), np.array([stand_ins[0]], dt))[0])

    def term_sums(idx):
        i, c = locate(idx)
        scale = float(ref.term_scale(q, args[i], int(labels[i]))[c])
        diff = abs(float(flat_got[idx]) - float(flat_want[idx]))
        return diff / (scale * float(np.finfo(dt).eps)) if scale > 0 else None

    def smoothing(idx):
        diff = abs(float(flat_got[idx]) - float(flat_want[idx]))
        return diff / float(np.spacing(dt(floor))) if math.isfinite(diff) else None

    exceptions = [("underflow", underflow_measure(flat_got, flat_want))]
    exceptions.append(("NaN row", nan_row))
    if loss.accuracy == "terms":
        exceptions.append(("term sums", term_sums))
    elif q == "hess" and loss.name == "softmax_focal":
        exceptions.append(("Hessian term sums", term_sums))
    if q == "grad" and floor:
        exceptions.append(("smoothing floor", smoothing))

    def where(idx):
        i, c = locate(idx)
        n, a = ref.n, args[i]
        data = {nm: a[n * (j + 1) : n * (j + 2)] for j, nm in enumerate(ref.data)}
        start = n * (len(ref.data) + 1)
        per_sample = {nm: a[start + j] for j, nm in enumerate(ref.per_sample)}
        return {
            "row": np.asarray(a[:n]).tolist(),
            **data,
            **per_sample,
            "label": int(labels[i]),
            "component": c,
            "got": float(flat_got[idx]),
            "ref": float(flat_want[idx]),
            **{kk: (v.tolist() if isinstance(v, np.ndarray) else v) for kk, v in params.items()},
        }

    assess(row, ulp_error(flat_got, flat_want), where, perturbed=perturbed, exceptions=exceptions)


def _check_sum(loss, reduce, ref, args, labels, inputs, call, dt, rows):
    """The kernel's sum over rows against the correctly rounded sum of the exact values."""
    values = [ref.evaluate("value", args[i], int(labels[i]), dt) for i in range(len(args))]
    v = np.array([math.nan if r is None else float(r[0]) for r in values])
    finite = np.isfinite(v)
    if finite.sum() < 2:
        return
    exact = fsum(v[finite])
    got = reduce([a[finite] for a in inputs], call)
    slack = finite.sum() * np.finfo(dt).eps * fsum(abs(x) for x in v[finite])
    diff = abs(float(got) - exact)
    assess(
        row_of(rows, loss.name, "sum", dt),
        ulp_error(np.asarray([got], dt), np.asarray([exact], dt)),
        lambda i: {"got": float(got), "ref": exact},
        exceptions=[("summation", lambda i: 0.0 if diff <= slack else None)],
    )
