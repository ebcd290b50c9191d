"""Candidate gradients of class-axis losses against the definition's sums written out for
C = CLASS_COUNT and differentiated term by term (`reference.ClassReference`), in mpmath:

* a formula is the component ∂ℓ/∂v_j of one sample, in ``j``, ``c``, the label and the
  vectors; it is written out for each label y and component j and compared at 60 random
  samples per combination of the static parameters;
* a callable takes one batch (N, C) and returns the gradient of the sum over samples,
  compared component by component (|f - ∂ℓ| ≤ rtol·|∂ℓ| + atol).
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import sympy as sp

from ..definition.axes import C
from ..definition.spec import Loss
from .gradcheck_points import (
    DIGITS,
    as_float,
    callable_error,
    evaluate,
    mp,
    param_point,
    relative,
    sample,
)
from .gradcheck_report import GradientReport
from .gradcheck_truth import j
from .reference import CLASS_COUNT, ClassReference

__all__ = ["formula_classes", "callable_classes"]


def _class_setups(spec: Loss, wrt: str, callable_candidate: bool):
    """[(static values, ClassReference, offset of wrt's components in its gradient)], one
    per combination of the static parameters."""
    if callable_candidate and (spec.frontend is not None or any(i.by_label for i in spec.inputs)):
        raise NotImplementedError(
            f"verify_gradient takes formulas for {spec.name} (its kernels take other inputs "
            "than its definition: a linear front end or a table indexed by label); "
            "`symloss verify` checks its kernels"
        )
    start = 0
    for nm in (i.name for i in spec.inputs if i.differentiable):
        if nm == wrt:
            break
        start += CLASS_COUNT if isinstance(spec.symbol(nm), sp.IndexedBase) else 1
    statics = [k for k, p in spec.parameters.items() if p.static]
    out = []
    for values in itertools.product(*(spec.parameters[k].values for k in statics)):
        static = {spec.symbol(k): int(v) for k, v in zip(statics, values)}
        out.append((static, ClassReference(spec, static=static), start))
    return out


def _class_arguments(spec: Loss, ref, rng) -> tuple[list, int, dict]:
    """One random sample: (arguments of ref, label, named values)."""
    n = ref.n
    first = spec.inputs[0].domain
    if first == sp.S.Reals:
        z = rng.normal(0, 3, n) * (10.0 if rng.random() < 0.2 else 1.0)
    else:
        z = np.array([sample(first, rng) for _ in range(n)])
    named = {spec.inputs[0].name: z}
    args = list(z)
    for nm in ref.data:
        dom = next(i.domain for i in spec.inputs if i.name == nm)
        v = np.array([sample(dom, rng) for _ in range(n)])
        if dom.is_subset(sp.Interval(0, 1)):
            v = v / v.sum()
        named[nm] = v
        args += list(v)
    for nm in ref.per_sample:
        if nm == spec.inputs[0].name:
            continue
        dom = next(i.domain for i in spec.inputs if i.name == nm)
        named[nm] = sample(dom, rng)
        args.append(named[nm])
    for nm in ref.vectors:
        v = rng.uniform(0.1, 3.0, n)
        named[nm] = v
        args += list(v)
    params = param_point(spec, rng)
    for s in ref.scalars:
        args.append(params[s.name])
        named[s.name] = params[s.name]
    y = int(rng.integers(n)) if ref.labelled else 0
    if spec.frontend == "linear":  # ‖x‖ and ‖W_y‖ that a linear layer could give with f = z
        cos = float(np.sign(z[y]) or 1.0) * rng.uniform(0.05, 1.0)
        norm = math.sqrt(abs(z[y] / cos)) if z[y] else 1.0
        k = len(z) + sum(len(named[nm]) for nm in ref.data)
        for nm in ref.per_sample:
            named[nm] = norm
            args[k] = norm
            k += 1
    return args, y, named


def formula_classes(spec: Loss, wrt, candidate, rng, n_points: int):
    """As `gradcheck_elementwise.formula_elementwise`, component by component with
    C = CLASS_COUNT (60 samples per static variant; ``n_points`` is for the elementwise
    form)."""
    label = next((i.name for i in spec.inputs if i.labels == "classes"), None)
    vector = isinstance(spec.symbol(wrt), sp.IndexedBase)
    worst, worst_at, used = 0.0, None, 0
    for static, ref, start in _class_setups(spec, wrt, callable_candidate=False):
        n = ref.n
        plain = {}
        z = spec.symbol(spec.inputs[0].name)
        for k in range(n):
            plain[z[k]] = ref.zs[k]
        for nm, ws in ref.ws.items():
            plain.update({spec.symbol(nm)[k]: ws[k] for k in range(n)})
        funcs = {}
        for y in range(n if ref.labelled else 1):
            for k in range(n if vector else 1):
                subs = {C: n, j: k, **static}
                if label is not None:
                    subs[spec.symbol(label)] = y
                e = candidate.subs(subs).doit().xreplace(plain)
                funcs[(y, k)] = mp(ref.args, e)
        with mpmath.workdps(DIGITS):
            for _ in range(60):
                args, y, named = _class_arguments(spec, ref, rng)
                at = [mpmath.mpf(float(a)) for a in args]
                for k in range(n if vector else 1):
                    t = evaluate(ref.functions("grad", y)[0][start + k], at)
                    if t is None:
                        continue
                    cnd = evaluate(funcs[(y, k)], at)
                    used += 1
                    err = math.inf if cnd is None else relative(cnd, t)
                    if err > worst:
                        worst = err
                        worst_at = {
                            **{a: np.asarray(v).tolist() for a, v in named.items()},
                            **{str(sym): v for sym, v in static.items()},
                            **({label: y} if label else {}),
                            "j": k,
                            "truth": float(t),
                            "candidate": as_float(cnd),
                        }
    how = (
        f"compared in mpmath at {DIGITS} digits with the definition's sums written out for "
        f"C = {CLASS_COUNT} and differentiated term by term, {used} components"
    )
    return worst, worst_at, used, how


def callable_classes(spec: Loss, wrt, f, rng, rtol, atol):
    setups = _class_setups(spec, wrt, callable_candidate=True)
    if len(setups) > 1:
        raise NotImplementedError(
            f"verify_gradient takes formulas for {spec.name} (a loss with static parameters)"
        )
    ((_, ref, start),) = setups
    n = ref.n
    label = next((i.name for i in spec.inputs if i.labels == "classes"), None)
    vector = isinstance(spec.symbol(wrt), sp.IndexedBase)
    samples = [_class_arguments(spec, ref, rng) for _ in range(40)]
    # one batch: scalar parameters shared, so take the first sample's
    args0, _, named0 = samples[0]
    shared = {s.name: named0[s.name] for s in ref.scalars}
    batch = {}
    for i in spec.inputs:
        if i.labels == "classes":
            batch[i.name] = np.array([y for _, y, _ in samples])
        else:
            batch[i.name] = np.array([named[i.name] for _, _, named in samples])
    kwargs = dict(shared)
    kwargs.update({nm: named0[nm] for nm in ref.vectors})
    try:
        got = np.asarray(f(*(batch[i.name] for i in spec.inputs), **kwargs), dtype=np.float64)
    except Exception as exc:
        return GradientReport(
            spec.name, wrt, False, "callable", f"the candidate raised {type(exc).__name__}: {exc}"
        )
    want = (len(samples), n) if vector else (len(samples),)
    if got.shape != want:
        return GradientReport(
            spec.name,
            wrt,
            False,
            "callable",
            f"the candidate returned shape {got.shape}, not {want}",
        )
    worst, worst_at, used = 0.0, None, 0
    with mpmath.workdps(DIGITS):
        for r, (args, y, named) in enumerate(samples):
            args = list(args)
            # shared parameters: replace this sample's scalars and per-class vectors
            tail = [w for nm in ref.vectors for w in named0[nm]] + [
                shared[s.name] for s in ref.scalars
            ]
            args[len(args) - len(tail) :] = tail
            at = [mpmath.mpf(float(a)) for a in args]
            for k in range(n if vector else 1):
                t = evaluate(ref.functions("grad", y)[0][start + k], at)
                if t is None:
                    continue
                g = float(got[r, k] if vector else got[r])
                used += 1
                err = callable_error(g, t, rtol, atol)
                if err > worst:
                    worst = err
                    worst_at = {
                        "row": r,
                        **{a: np.asarray(v).tolist() for a, v in named.items()},
                        **({label: y} if label else {}),
                        "j": k,
                        "truth": float(t),
                        "candidate": g,
                    }
    ok = worst <= 1.0
    detail = (
        f"one batch of {len(samples)} samples (C = {n}) against the definition differentiated "
        f"term by term in mpmath, {used} components: worst |f - ∂ℓ| / (rtol·|∂ℓ| + atol) = "
        f"{worst:.3g} (rtol={rtol:g}, atol={atol:g})"
    )
    return GradientReport(
        spec.name,
        wrt,
        ok,
        "callable",
        detail,
        points=used,
        worst_error=worst,
        counterexample=None if ok else worst_at,
    )
