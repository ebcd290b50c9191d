"""Check generated kernels against their symbolic definition evaluated in high precision.

The reference for a quantity (value, gradient, Hessian) at a point is the definition rewritten to
plain mathematics, evaluated by mpmath at 60 and 120 digits (and more, up to 960, until the two
agree) and rounded to the kernel's dtype. The error of a kernel output is its distance to that
reference in units in the last place (ULP) of the dtype, counted between float ordinals, so that
a subnormal result is compared at the subnormal spacing (an absolute floor of 2^-1074 or 2^-149).
A NaN or infinity where the reference is finite is an infinite error.

Points: a grid of extreme values (0, subnormals, 1e-300 … 1e300, ±inf, NaN) crossed with the
targets the input domain allows, the exact kinks of the definition, and random values; each
parameter at its default, the ends of its range and a random interior value; both dtypes.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache

import mpmath
import numpy as np
import sympy as sp

from . import derive
from .lowering import nan_constants, nan_guards, piecewise_forms
from .spec import Loss

__all__ = [
    "BOUNDS",
    "Row",
    "ulp_error",
    "Reference",
    "verify_loss",
    "check_derivatives",
]

# Worst error allowed, in ULP of the kernel's dtype, per quantity.
BOUNDS = {"value": 8.0, "grad": 8.0, "hess": 16.0, "sum": 8.0}
QUANTITIES = ("value", "grad", "hess")
PRECISIONS = (60, 120, 240, 480, 960, 1920)
FD_TOLERANCE = 1e-20  # relative, derived derivative vs mpmath finite differences at 50 digits


# -- ULP arithmetic ---------------------------------------------------------------------------


def _ordinal(x: np.ndarray) -> np.ndarray:
    """Map floats to integers that are consecutive for consecutive floats (-0 and +0 coincide)."""
    itype = np.int64 if x.dtype == np.float64 else np.int32
    i = x.view(itype).astype(np.int64)
    magnitude = i & np.int64((1 << (63 if x.dtype == np.float64 else 31)) - 1)
    return np.where(i < 0, -magnitude, magnitude)


def ulp_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in ULP of their dtype; inf where exactly one is non-finite or they differ
    in non-finite class; 0 where both are the same infinity or both NaN.

    Below tiny/ε (1e-31 in float32, 1e-292 in float64), where intermediate results lose
    digits to gradual underflow, the error is at most |got - ref| / tiny: an absolute floor of
    the smallest normal number.
    """
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=got.dtype)
    info = np.finfo(got.dtype)
    err = np.abs(_ordinal(got) - _ordinal(ref)).astype(np.float64)
    g64, r64 = got.astype(np.float64), ref.astype(np.float64)
    floor = float(info.tiny) / float(info.eps)
    with np.errstate(invalid="ignore"):  # inf - inf where both are infinite: masked below
        tiny_zone = np.maximum(np.abs(g64), np.abs(r64)) < floor
        err = np.where(tiny_zone, np.minimum(err, np.abs(g64 - r64) / float(info.tiny)), err)
    finite = np.isfinite(got) & np.isfinite(ref)
    same_special = (np.isnan(got) & np.isnan(ref)) | (np.isinf(got) & (got == ref))
    return np.where(finite, err, np.where(same_special, 0.0, np.inf))


# -- the reference ----------------------------------------------------------------------------


def _plain(expr: sp.Expr, data: frozenset = frozenset()) -> sp.Expr:
    """The definition in plain mathematics, with the kernels' NaN policy (NaN in, NaN out)."""
    return nan_constants(nan_guards(piecewise_forms(expr.rewrite("math")), data), data)


def _mp_nan_in(*args) -> bool:
    return any(mpmath.isnan(a) for a in args)


def _mp_function(symbols: list, expr: sp.Expr) -> Callable:
    return sp.lambdify(symbols, expr, modules=[{"nan_in": _mp_nan_in}, "mpmath"])


@dataclass
class Reference:
    """mpmath functions of a loss's value, gradient and Hessian for one set of static switches."""

    loss: Loss
    static: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self):
        loss = self.loss
        subs = {loss.symbol(k): int(v) for k, v in self.static.items()}
        x = loss.symbol(loss.differentiable[0])
        exprs = {
            "value": loss.element,
            "grad": derive.derivative(loss.element, x, 1),
            "hess": derive.derivative(loss.element, x, 2),
        }
        self.args = [i.name for i in loss.inputs] + [
            k for k, p in loss.parameters.items() if not p.static
        ]
        self.symbols = [loss.symbol(a) for a in self.args]
        self.data = frozenset(loss.symbol(i.name) for i in loss.inputs)
        self.exprs = {q: e.subs(subs) for q, e in exprs.items()}
        self.functions: dict[str, Callable] = {
            q: _mp_function(self.symbols, _plain(e, self.data)) for q, e in self.exprs.items()
        }
        self._partials: dict[str, list[Callable]] = {}
        self._memo: dict = {}  # (what, quantity, point[, dtype]) → result

    def sensitivity(self, quantity: str, values: dict[str, float]) -> float:
        """Σ_v |v·∂f/∂v| over every input and parameter v: how much f moves, absolutely, when
        each argument is perturbed by one part in 1 (so ε times this is the error a backward
        stable computation may make). inf where it cannot be evaluated."""
        key = ("sensitivity", quantity, *(values[a] for a in self.args))
        if key not in self._memo:
            self._memo[key] = self._sensitivity(quantity, values)
        return self._memo[key]

    def _sensitivity(self, quantity: str, values: dict[str, float]) -> float:
        if quantity not in self._partials:
            e = self.exprs[quantity]
            self._partials[quantity] = [
                _mp_function(self.symbols, _plain(derive.derivative(e, v, 1), self.data))
                for v in self.symbols
            ]
        at = [mpmath.mpf(values[a]) for a in self.args]
        total = mpmath.mpf(0)
        with mpmath.workdps(40):
            for v, partial in zip(at, self._partials[quantity]):
                if v == 0:
                    continue
                try:
                    d = partial(*at)
                except (ZeroDivisionError, ValueError, OverflowError):
                    return math.inf
                if not mpmath.isfinite(d):
                    return math.inf
                total += abs(v * d)
        return float(total)

    def evaluate(self, quantity: str, values: dict[str, float], dtype) -> float | None:
        """The quantity rounded to ``dtype``; NaN if any input is NaN; None if undetermined."""
        if any(math.isnan(values[a]) for a in self.args):
            return math.nan
        # the relaxations ask again for the same points (one per kernel output)
        key = ("value", quantity, np.dtype(dtype).name, *(values[a] for a in self.args))
        if key not in self._memo:
            self._memo[key] = self._evaluate(quantity, values, dtype)
        return self._memo[key]

    def _evaluate(self, quantity: str, values: dict[str, float], dtype) -> float | None:
        f = self.functions[quantity]
        previous = None
        for dps in PRECISIONS:
            with mpmath.workdps(dps):
                try:
                    v = f(*(mpmath.mpf(values[a]) for a in self.args))
                    rounded = _round(v, dtype)
                except (ZeroDivisionError, ValueError, OverflowError):
                    rounded = math.nan
            if previous is not None and _same(previous, rounded):
                return rounded
            previous = rounded
        return None


def _round(v, dtype) -> float:
    if isinstance(v, mpmath.mpc) or (hasattr(v, "imag") and v.imag != 0):
        return math.nan
    if mpmath.isnan(v):
        return math.nan
    return float(np.asarray(float(v)).astype(dtype))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# -- sampling points ----------------------------------------------------------------------------


def _extremes(dtype) -> list[float]:
    info = np.finfo(dtype)
    mags = [
        float(info.smallest_subnormal),
        float(info.tiny),
        1e-300,
        1e-30,
        1e-8,
        0.25,
        0.5,
        1.0,
        2.0,
        10.0,
        30.0,
        100.0,
        1e3,
        1e4,
        1e10,
        1e30,
        1e300,
    ]
    mags = [m for m in mags if m <= float(info.max) and m >= float(info.smallest_subnormal)]
    values = [0.0] + [s * m for m in mags for s in (1.0, -1.0)] + [math.inf, -math.inf, math.nan]
    return sorted(set(np.asarray(values, dtype=dtype).tolist()), key=lambda v: (math.isnan(v), v))


def _domain_samples(domain: sp.Set, dtype, rng: np.random.Generator, k: int) -> list[float]:
    """Curated and random values inside a domain."""
    if isinstance(domain, sp.FiniteSet):
        return [float(v) for v in domain.args]
    lo, hi = float(domain.inf), float(domain.sup)
    if lo == -math.inf and hi == math.inf:
        curated = _extremes(dtype)
        scale = 10.0 ** rng.uniform(-8, 4, k) * rng.choice([-1.0, 1.0], k)
        return curated + scale.tolist() + rng.normal(0, 3, k).tolist()
    curated = [v for v in _extremes(dtype) if lo <= v <= hi or math.isnan(v)]
    if hi < math.inf:
        curated += [hi, (lo + hi) / 2, lo + (hi - lo) * 0.3, hi - (hi - lo) * 1e-8]
    width = (hi - lo) if hi < math.inf else 100.0
    curated += (lo + width * rng.random(k)).tolist()
    return sorted(set(np.asarray(curated, dtype=dtype).tolist()), key=lambda v: (math.isnan(v), v))


def _kinks(loss: Loss, params: dict[str, float], targets: Iterable[float]) -> list[float]:
    """Values of the first input where a condition of the definition switches, for each target."""
    x = loss.symbol(loss.differentiable[0])
    expr = piecewise_forms(loss.element.replace(sp.Abs, lambda u: sp.Max(u, -u)))
    subs = {loss.symbol(k): v for k, v in params.items() if v is not None}
    relations = {r for r in expr.atoms(sp.core.relational.Relational) if r.has(x)}
    out = []
    others = [i.name for i in loss.inputs[1:]]
    for t in targets:
        point = dict(subs)
        point.update({loss.symbol(o): t for o in others})
        for rel in sorted(relations, key=sp.default_sort_key):
            try:
                roots = sp.solve(sp.Eq(rel.lhs, rel.rhs).subs(point), x)
            except (NotImplementedError, TypeError):
                continue
            out += [float(r) for r in roots if r.is_real]
    return out


@dataclass
class Row:
    """One line of the verification table."""

    loss: str
    quantity: str
    dtype: str
    worst_ulp: float
    bound: float
    points: int
    worst_at: dict = field(default_factory=dict)
    relaxed: int = 0  # points measured against conditioning or a 4-ULP input perturbation
    raw_ulp: float | None = None  # worst error before that allowance (None: no allowance made)

    @property
    def passed(self) -> bool:
        return self.worst_ulp <= self.bound

    def __str__(self) -> str:
        status = "pass" if self.passed else "FAIL"
        raw = self.worst_ulp if self.raw_ulp is None else self.raw_ulp
        return (
            f"{self.loss:32s} {self.quantity:6s} {self.dtype:8s} {self.worst_ulp:10.3g} "
            f"{self.bound:6g} {self.points:7d} {self.relaxed:7d} {raw:9.3g}  {status}"
        )


def _param_sets(loss: Loss, rng: np.random.Generator) -> list[dict]:
    """Defaults, then each parameter at the ends of its range and at a random inner value."""
    base = {k: p.default for k, p in loss.parameters.items() if not p.static}
    sets = [dict(base)]
    for k, p in loss.parameters.items():
        if p.static:
            continue
        dom = p.domain
        lo, hi = float(dom.inf), float(dom.sup)
        choices = [lo] if dom.contains(dom.inf) is sp.true else []
        if hi < math.inf and dom.contains(dom.sup) is sp.true:
            choices.append(hi)
        if lo == -math.inf:  # unbounded below: values of both signs around the default
            centre = float(p.default or 0.0) if hi == math.inf else hi - 1.0
            inner = [centre - 10.0 * rng.uniform(0.1, 1.0), centre + rng.uniform(0.1, 1.0)]
            choices += [v for v in inner if dom.contains(v) is sp.true]
        else:
            inner_hi = hi if hi < math.inf else lo + 10.0
            choices.append(float(lo + (inner_hi - lo) * rng.uniform(0.1, 0.9)))
            if p.default is None:  # an estimated parameter: check explicit values
                choices.append(float(lo + (inner_hi - lo) * 0.25))
        for c in choices:
            sets.append({**base, k: c})
    return sets


# -- the check ---------------------------------------------------------------------------------


def _points(loss: Loss, params: dict, dtype, rng) -> dict[str, np.ndarray]:
    first, *rest = loss.inputs
    firsts = _domain_samples(first.domain, dtype, rng, 40)
    if not rest:
        return {first.name: np.asarray(firsts, dtype)}
    seconds = [_domain_samples(i.domain, dtype, rng, 8) for i in rest]
    if len(rest) == 1:
        grid = list(itertools.product(firsts, *seconds))
    else:  # every pair (first input, another) in full, the others drawn at random
        grid = []
        for k, values in enumerate(seconds):
            for x, v in itertools.product(firsts, values):
                row = [x] + [float(rng.choice(other)) for other in seconds]
                row[1 + k] = v
                grid.append(tuple(row))
    kink_targets = [v for v in seconds[0] if math.isfinite(v)][:12]
    kinks = _kinks(loss, params, kink_targets) if len(rest) == 1 else []
    for t in kink_targets:
        for k in kinks:
            kx = np.asarray(k, dtype)
            for v in (kx, np.nextafter(kx, dtype(np.inf)), np.nextafter(kx, dtype(-np.inf))):
                grid.append((float(v), t))
    cols = list(zip(*grid))
    return {i.name: np.asarray(c, dtype) for i, c in zip(loss.inputs, cols)}


def _check_points(loss, kernel, ref: Reference, params, static, dtype, points, rows, rng):
    n = len(next(iter(points.values())))
    call_params = {**params, **static}
    # Array-valued broadcast parameters: half the calls read them per element.
    args = [points[i.name] for i in loss.inputs]
    values = {k: np.full(n, v, dtype) for k, v in params.items() if v is not None}
    for k, p in loss.parameters.items():
        if p.broadcast and rng.random() < 0.5:
            lo, hi = float(p.domain.inf), float(p.domain.sup)
            hi = hi if hi < math.inf else lo + 4.0
            arr = np.asarray(lo + (hi - lo) * rng.random(n), dtype)
            values[k] = arr
            call_params[k] = arr
    if any(p.default is None and params.get(k) is None for k, p in loss.parameters.items()):
        return  # estimated parameters are checked through explicit values
    v_none = kernel(*args, reduction="none", **call_params)
    v_fused, g_fused = kernel.value_and_grad(*args, reduction="none", **call_params)
    g, h = kernel.grad_hess(*args, **call_params)
    _, g_sum = kernel.value_and_grad(*args, reduction="sum", **call_params)
    w = np.asarray(rng.choice([0.5, 1.0, 2.0, 4.0], n), dtype)  # exact scalings
    _, g_w = kernel.value_and_grad(*args, reduction="sum", weight=w, **call_params)
    got = {
        "value": [v_none, v_fused],
        "grad": [g_fused, g, g_sum, g_w / w],
        "hess": [h],
    }
    names = [i.name for i in loss.inputs] + [k for k in params]
    refs = {q: np.empty(n, dtype) for q in QUANTITIES}
    known = np.ones(n, bool)
    for j in range(n):
        at = {nm: float(points[nm][j]) if nm in points else float(values[nm][j]) for nm in names}
        for q in QUANTITIES:
            r = ref.evaluate(q, at, dtype)
            if r is None:
                known[j] = False
                r = math.nan
            refs[q][j] = r
    infinite_input = _any_inf(args, values)
    for q in QUANTITIES:
        # Where the definition itself is undefined (0·∞ at infinite inputs), skip the point.
        defined = known & ~(np.isnan(refs[q]) & ~_any_nan(args, values))
        for out in got[q]:
            err = ulp_error(np.asarray(out), refs[q])
            # At an infinite input whose limit is infinite, NaN is accepted (q^γ·ce with q
            # underflowed to 0 and ce = inf is 0·inf there).
            err[infinite_input & np.isinf(refs[q]) & np.isnan(out)] = 0.0
            over = np.flatnonzero(defined & (err > BOUNDS[q]) & np.isfinite(err))
            raw = float(err[defined].max()) if defined.any() else 0.0
            for j in over:
                at = {
                    nm: float(points[nm][j]) if nm in points else float(values[nm][j])
                    for nm in names
                }
                err[j] = _relaxed(err[j], float(out[j]), float(refs[q][j]), ref, q, at, dtype)
            row = _record(
                rows,
                loss.name,
                q,
                dtype,
                err[defined],
                points,
                values,
                defined,
                out,
                refs[q],
                static,
            )
            row.relaxed += len(over)
            row.raw_ulp = max(row.raw_ulp or 0.0, raw)
    # Reductions: Σ w·ℓ over the points where every value is finite, against math.fsum.
    ok = known & np.isfinite(refs["value"])
    if ok.sum() > 1:
        sub_args = [a[ok] for a in args]
        sub_params = {
            k: (v[ok] if isinstance(v, np.ndarray) else v) for k, v in call_params.items()
        }
        exact = _fsum(float(wi) * float(ri) for wi, ri in zip(w[ok], refs["value"][ok]))
        got_sum = kernel(*sub_args, reduction="sum", weight=w[ok], **sub_params)
        got_vg, _ = kernel.value_and_grad(*sub_args, reduction="mean", **sub_params)
        exact_mean = _fsum(float(r) for r in refs["value"][ok]) / ok.sum()
        for value, target in ((got_sum, exact), (got_vg, exact_mean)):
            # A float64 sum of m terms may drift by m·ε of Σ|terms| before the final rounding.
            e = ulp_error(np.asarray([value], dtype), np.asarray([target], dtype))
            slack = ok.sum() * np.finfo(np.float64).eps * _fsum(abs(x) for x in refs["value"][ok])
            if abs(float(value) - target) <= slack:
                e = np.minimum(e, 1.0)
            _record_scalar(rows, loss.name, "sum", dtype, float(e[0]), static)


PERTURBATION_ULP = 4


def _relaxed(err: float, got: float, ref_value: float, ref: Reference, q, at, dtype) -> float:
    """For a point over the bound, the smaller of two standard allowances for the inputs
    being given to the last bit only:

    * conditioning: |got - ref| in units of ε·Σ_v |v·∂f/∂v| (what rounding every argument by
      one part in 1/ε moves f by), when that exceeds one ULP of the result;
    * backward error: the ULP error against the reference at inputs moved by 0 or ±4 ULP each
      (a kernel exactly right for a neighbouring input; covers points next to a kink),
      searched only while the error is still over the bound.
    """
    scale = float(np.finfo(dtype).eps) * ref.sensitivity(q, at)
    if scale > 0 and math.isfinite(scale):
        err = min(err, abs(got - ref_value) / scale)
    inputs = [i.name for i in ref.loss.inputs]
    for steps in itertools.product((-PERTURBATION_ULP, 0, PERTURBATION_ULP), repeat=len(inputs)):
        if err <= BOUNDS[q]:  # within the bound: the search only rescues points beyond it
            break
        if not any(steps):
            continue
        moved = dict(at)
        for name, k in zip(inputs, steps):
            moved[name] = _step(at[name], k, dtype)
        r = ref.evaluate(q, moved, dtype)
        if r is not None:
            err = min(err, float(ulp_error(np.asarray([got], dtype), np.asarray([r], dtype))[0]))
    return err


def _step(x: float, k: int, dtype) -> float:
    """x moved by k ULP of ``dtype`` (towards ±inf)."""
    v = np.asarray(x, dtype)
    for _ in range(abs(k)):
        v = np.nextafter(v, dtype(math.copysign(math.inf, k)))
    return float(v)


def _fsum(xs: Iterable[float]) -> float:
    """Correctly rounded sum; ±inf when it overflows (mpmath carries the exact sum)."""
    xs = list(xs)
    try:
        return math.fsum(xs)
    except OverflowError:
        return float(mpmath.fsum(mpmath.mpf(x) for x in xs))


def _any_inf(args, values) -> np.ndarray:
    mask = np.zeros(len(args[0]), bool)
    for a in [*args, *values.values()]:
        mask |= np.isinf(a)
    return mask


def _any_nan(args, values) -> np.ndarray:
    mask = np.zeros(len(args[0]), bool)
    for a in [*args, *values.values()]:
        mask |= np.isnan(a)
    return mask


def _key(loss, q, dtype):
    return (loss, q, np.dtype(dtype).name)


def _record(rows, loss, q, dtype, err, points, values, mask, out, ref, static):
    row = rows.setdefault(
        _key(loss, q, dtype), Row(loss, q, np.dtype(dtype).name, 0.0, BOUNDS[q], 0)
    )
    row.points += int(err.size)
    if err.size and err.max() > row.worst_ulp:
        j = int(np.argmax(err))
        idx = np.flatnonzero(mask)[j]
        row.worst_ulp = float(err.max())
        at = {k: float(v[idx]) for k, v in {**points, **values}.items()}
        row.worst_at = {**at, **static, "got": float(np.asarray(out)[idx]), "ref": float(ref[idx])}
    return row


def _record_scalar(rows, loss, q, dtype, err, static):
    row = rows.setdefault(
        _key(loss, q, dtype), Row(loss, q, np.dtype(dtype).name, 0.0, BOUNDS[q], 0)
    )
    row.points += 1
    if err > row.worst_ulp:
        row.worst_ulp = err
        row.worst_at = dict(static)


def verify_loss(loss: Loss, kernel, dtypes=("float32", "float64"), seed: int = 0) -> list[Row]:
    """Every kernel of ``loss`` against its definition: value, gradient, Hessian, reductions."""
    with np.errstate(all="ignore"):
        if loss.family == "norm":
            return verify_norm(loss, kernel, dtypes, seed)
        if loss.family == "classes":
            return verify_classes(loss, kernel, dtypes, seed)
        return _verify_elementwise(loss, kernel, dtypes, seed)


def _verify_elementwise(loss: Loss, kernel, dtypes, seed: int) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows: dict = {}
    statics = [k for k, p in loss.parameters.items() if p.static]
    for values in itertools.product(*(loss.parameters[k].values for k in statics)):
        static = dict(zip(statics, values))
        ref = _reference(loss, tuple(sorted(static.items())))
        for params in _param_sets(loss, rng):
            for dtype in dtypes:
                dt = np.dtype(dtype).type
                points = _points(loss, params, dt, rng)
                _check_points(loss, kernel, ref, params, static, dt, points, rows, rng)
    return list(rows.values())


@cache
def _reference(loss: Loss, static: tuple) -> Reference:
    return Reference(loss, dict(static))


# -- norms: L = g(Σ w·ℓ) ---------------------------------------------------------------------------


def _norm_cases(dtype, rng) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None, object]]:
    """(label, pred, target, weight, axis) covering scales where Σℓ over- or underflows."""
    big = 1e200 if dtype == np.float64 else 1e30
    small = 1e-200 if dtype == np.float64 else 1e-30
    p, t = rng.normal(size=40), rng.normal(size=40)
    p2, t2 = rng.normal(size=(4, 9)), rng.normal(size=(4, 9))
    w = rng.choice([0.5, 1.0, 2.0], 40)
    cases = [
        ("random", p, t, None, None),
        ("weighted", p, t, w, None),
        ("huge", p * big, t * big, None, None),
        ("tiny", p * small, t * small, None, None),
        ("zero residual", p, p, None, None),
        ("one element", p[:1], t[:1], None, None),
        ("axis 0", p2, t2, None, 0),
        ("axis 1", p2, t2, None, 1),
        ("axis -1, mixed scales", p2 * np.array([[big], [1], [small], [0]]), t2 * 0, None, -1),
        ("nan", np.where(np.arange(40) == 3, np.nan, p), t, None, None),
    ]
    return [(lbl, np.asarray(a, dtype), np.asarray(b, dtype), c, ax) for lbl, a, b, c, ax in cases]


def verify_norm(loss: Loss, kernel, dtypes=("float32", "float64"), seed: int = 0) -> list[Row]:
    """Norm kernels (value, gradient, Hessian diagonal) against g(S), g'(S)·w·ℓ', … in mpmath."""
    rng = np.random.default_rng(seed)
    ref = _reference(loss, ())
    outer = [
        sp.lambdify(
            [derive.S],
            _plain(loss.outer if k == 0 else derive.outer_derivative(loss.outer, k)),
            modules="mpmath",
        )
        for k in range(3)
    ]
    rows: dict = {}
    for dtype in dtypes:
        dt = np.dtype(dtype).type
        for label, p, t, w, axis in _norm_cases(dt, rng):
            value, grad, hess, hess_terms = _norm_reference(ref, outer, p, t, w, axis, dt)
            got_v, got_g = kernel.value_and_grad(p, t, weight=w, axis=axis)
            got_v2 = kernel(p, t, weight=w, axis=axis)
            _, got_h = kernel.grad_hess(p, t) if w is None and axis is None else (None, None)
            case = {"case": label}
            for q, outs, r in (
                ("value", [got_v, got_v2], value),
                ("grad", [got_g], grad),
                ("hess", [got_h] if got_h is not None else [], hess),
            ):
                for out in outs:
                    err = ulp_error(np.asarray(out, dt).ravel(), np.asarray(r, dt).ravel())
                    if q == "hess":
                        # The diagonal is a sum of two terms that can cancel (to 0 for one
                        # element): count the error in units of ε·(|term 1| + |term 2|).
                        diff = np.abs(np.asarray(out, np.float64) - np.asarray(r, np.float64))
                        scaled = diff.ravel() / (float(np.finfo(dt).eps) * hess_terms.ravel())
                        err = np.where(np.isfinite(scaled), np.minimum(err, scaled), err)
                    row = rows.setdefault(
                        _key(loss.name, q, dt),
                        Row(loss.name, q, np.dtype(dt).name, 0.0, BOUNDS[q], 0),
                    )
                    row.points += err.size
                    if err.size and err.max() > row.worst_ulp:
                        row.worst_ulp, row.worst_at = float(err.max()), case
    return list(rows.values())


def _norm_reference(ref, outer, p, t, w, axis, dtype):
    """Exact S per reduced slice (mpmath fsum at 120 digits), then g, g'·w·ℓ' and the diagonal
    g''·(w·ℓ')² + g'·w·ℓ'', rounded to ``dtype``."""
    t = np.broadcast_to(t, p.shape)
    w = np.ones(p.shape) if w is None else np.broadcast_to(w, p.shape)
    ax = None if axis is None else axis % p.ndim
    last = p.shape if ax is None else np.moveaxis(p, ax, -1).shape

    def slices(a):
        return a.reshape(1, -1) if ax is None else np.moveaxis(a, ax, -1).reshape(-1, last[-1])

    def back(a):
        return a.reshape(p.shape) if ax is None else np.moveaxis(a.reshape(last), -1, ax)

    P, T, W = slices(p), slices(t), slices(w)
    values, G, H = np.empty(len(P)), np.empty(P.shape), np.empty(P.shape)
    Hmag = np.empty(P.shape)
    f = ref.functions
    with mpmath.workdps(120):
        for j, (pj, tj, wj) in enumerate(zip(P, T, W)):
            args = [(mpmath.mpf(float(a)), mpmath.mpf(float(b))) for a, b in zip(pj, tj)]
            ws = [mpmath.mpf(float(x)) for x in wj]
            S = mpmath.fsum(wi * f["value"](*ab) for wi, ab in zip(ws, args))
            g0, g1, g2 = (o(S) for o in outer)
            values[j] = _round(g0, dtype)
            for i, (wi, ab) in enumerate(zip(ws, args)):
                wd = wi * f["grad"](*ab)
                G[j, i] = _round(g1 * wd, dtype)
                a, b = g2 * wd**2, g1 * wi * f["hess"](*ab)
                H[j, i] = _round(a + b, dtype)
                Hmag[j, i] = float(abs(a) + abs(b))
    value = values[0] if ax is None else values.reshape(last[:-1])
    return value, back(G), back(H), back(Hmag)


# -- symbolic derivatives against finite differences of the definition ----------------------------


def check_derivatives(loss: Loss, points: int = 8, seed: int = 0) -> float:
    """Largest relative difference between the derived derivatives and mpmath finite
    differences of the definition (at 50 digits), at random points away from kinks."""
    rng = np.random.default_rng(seed)
    if loss.family == "classes":
        return _check_class_derivatives(loss, rng)
    x = loss.symbol(loss.differentiable[0])
    statics = {loss.symbol(k): int(p.default) for k, p in loss.parameters.items() if p.static}
    element = loss.element.subs(statics)
    others = [s for s in element.free_symbols if s != x]
    f = sp.lambdify([x, *others], _plain(element), modules="mpmath")
    d = [
        sp.lambdify([x, *others], _plain(derive.derivative(element, x, k)), modules="mpmath")
        for k in (1, 2)
    ]
    worst = 0.0
    with mpmath.workdps(50):
        for _ in range(points):
            at = [mpmath.mpf(float(rng.uniform(0.1, 0.9))) for _ in others]
            x0 = mpmath.mpf(float(rng.normal(0, 2)))
            for k in (1, 2):
                fd = mpmath.diff(lambda t, at=at: f(t, *at), x0, k)
                exact = d[k - 1](x0, *at)
                scale = max(abs(exact), mpmath.mpf(1e-30))
                worst = max(worst, float(abs(fd - exact) / scale))
    return worst


# -- class-axis losses --------------------------------------------------------------------------

CLASS_COUNT = 5  # the sums over classes are written out for this many classes


def _class_plain(expr: sp.Expr, data: frozenset) -> sp.Expr:
    """A written-out class-axis expression for mpmath: the kink policy, Max/Heaviside as
    Piecewise, NaN in the inputs (``data``) gives NaN (the kernels' policy)."""
    return nan_guards(piecewise_forms(derive._kink_policy(expr)), data)


class ClassReference:
    """mpmath value and gradient of a class-axis loss for C = CLASS_COUNT (and each label, if
    it has one), from the definition with its sums written out: the gradient is
    differentiated here, term by term, independently of the derived closed form the kernels
    use. Arguments: the logits, the other vector inputs (``data``), the per-class parameters
    (``vectors``), the scalar parameters."""

    def __init__(self, loss: Loss, n: int = CLASS_COUNT, static: dict | None = None):
        from .spec import C

        self.loss, self.n = loss, n
        z = loss.symbol(loss.differentiable[0])
        self.zs = sp.symbols(f"z0:{n}", real=True)
        self.data = [i.name for i in loss.inputs[1:] if i.classes]
        # inputs with one number per sample (neither vectors nor labels)
        self.per_sample = [i.name for i in loss.inputs if not i.classes and i.labels is None]
        self.vectors = [k for k, p in loss.parameters.items() if p.per_class]
        self.ws = {k: sp.symbols(f"{k}0:{n}", real=True) for k in (*self.data, *self.vectors)}
        self.scalars = [
            loss.symbol(k) for k, p in loss.parameters.items() if not (p.per_class or p.static)
        ]
        element = loss.element.subs(static or {})
        label = next((i.name for i in loss.inputs if i.labels == "classes"), None)
        if label is not None and not element.has(loss.symbol(label)):
            label = None  # labels only pick table rows (center loss): one reference
        self.labelled = label is not None
        plain = {z[k]: self.zs[k] for k in range(n)}
        for name, ws in self.ws.items():
            plain.update({loss.symbol(name)[k]: ws[k] for k in range(n)})
        # inputs (rounded to the dtype, so they count for conditioning), then parameters
        self.inputs = [
            *self.zs,
            *(w for k in self.data for w in self.ws[k]),
            *(loss.symbol(k) for k in self.per_sample),
        ]
        self.args = [*self.inputs, *(w for k in self.vectors for w in self.ws[k]), *self.scalars]
        # the gradient: every component of every differentiable input, in argument order
        self.wrt = [
            a
            for i in loss.inputs
            if i.differentiable
            for a in (
                (self.zs if i.name == loss.inputs[0].name else self.ws[i.name])
                if i.classes
                else (loss.symbol(i.name),)
            )
        ]
        self.value, self.grad, self.exprs, self._derivatives = [], [], [], {}
        self._hess: dict = {}  # label → ∂²ℓ/∂z_k² of each logit, made on first use
        self._scales: dict = {}
        data = frozenset(self.inputs)
        for y in range(n if label else 1):
            # the label first: a maximum over the classes then writes out only finite terms
            e = element.subs({C: n, **({loss.symbol(label): y} if label else {})}).doit()
            e = e.xreplace(plain).rewrite("math")
            self.exprs.append(e)
            self.value.append(_mp_function(self.args, _class_plain(e, data)))
            self.grad.append(
                [_mp_function(self.args, _class_plain(sp.diff(e, a), data)) for a in self.wrt]
            )

    def _d(self, y: int, f: sp.Expr, key) -> list:
        if (y, key) not in self._derivatives:
            self._derivatives[(y, key)] = [  # every input and parameter, as for elementwise
                _mp_function(self.args, _class_plain(sp.diff(f, a), frozenset(self.inputs)))
                for a in self.args
            ]
        return self._derivatives[(y, key)]

    def _targets(self, q: str, y: int) -> list:
        """The value, each gradient component, or each diagonal Hessian entry ∂²ℓ/∂z_k²."""
        e = self.exprs[y]
        if q == "hess":
            return [sp.diff(e, z, 2) for z in self.zs]
        return [e] if q == "value" else [sp.diff(e, a) for a in self.wrt]

    def sensitivity(self, q: str, args: list, y: int) -> np.ndarray:
        """Σ_a |a·∂f/∂a| over the inputs and parameters a, for the value or each gradient
        component (at 60 digits): how much rounding them moves the result, in units of ε."""
        targets = self._targets(q, y)
        out = []
        with mpmath.workdps(60):
            at = [mpmath.mpf(float(v)) for v in args]
            for k, f in enumerate(targets):
                ds = self._d(y, f, (q, k))
                out.append(float(sum(_sensitivity_term(a, d, at) for a, d in zip(at, ds))))
        return np.array(out)

    def term_scale(self, q: str, args: list, y: int) -> np.ndarray:
        """`_term_scale` of the value or of each gradient component, at 60 digits."""
        key = (q, y)
        if key not in self._scales:
            targets = self._targets(q, y)
            data = frozenset(self.inputs)
            self._scales[key] = [
                _mp_function(self.args, _term_scale(_class_plain(f, data))) for f in targets
            ]
        with mpmath.workdps(60):
            at = [mpmath.mpf(float(v)) for v in args]
            return np.array([float(self._at(f, at)) for f in self._scales[key]])

    def _at(self, f, at: list):
        """f(*at); where it divides by a logit (or probability) that is 0, its limit from
        above, evaluated at 1e-10000 instead of 0."""
        try:
            return f(*at)
        except ZeroDivisionError:
            tiny = mpmath.mpf(10) ** -10000
            return f(*(tiny if k < self.n and a == 0 else a for k, a in enumerate(at)))

    def evaluate(self, args: list, y: int, dtype, hess: bool = False):
        """(value, gradient) rounded to ``dtype``, at precisions raised until two agree;
        ``hess``: (value, Hessian diagonal ∂²ℓ/∂z_k²)."""
        if hess and y not in self._hess:
            data = frozenset(self.inputs)
            self._hess[y] = [
                _mp_function(self.args, _class_plain(f, data)) for f in self._targets("hess", y)
            ]
        precisions = PRECISIONS
        if hess:  # p(1 - p) with 1 - p ≈ e^{-Δz}: start with the digits that 1 - p needs
            # (beyond e^{-1600} the entry is below float64's range whatever 1 - p rounds to)
            spread = max((abs(float(v)) for v in args[: self.n] if math.isfinite(v)), default=0)
            start = PRECISIONS[0] + int(2 * min(spread, 800.0) / math.log(10))
            precisions = tuple(p for p in PRECISIONS if p > start) or (start, 2 * start)
            precisions = (start, *precisions)
        previous = None
        for dps in precisions:
            with mpmath.workdps(dps):
                at = [mpmath.mpf(float(v)) for v in args]
                fs = self._hess[y] if hess else self.grad[y]
                out = [self._at(f, at) for f in (self.value[y], *fs)]
                rounded = [_round(v, dtype) for v in out]
            if previous is not None and all(map(_same, previous, rounded)):
                return rounded[0], np.array(rounded[1:])
            previous = rounded
        return None


def _term_scale(e: sp.Expr) -> sp.Expr:
    """Σ|t| over the terms t of the sums in ``e``, through products and piecewise branches:
    the size of what an evaluation of ``e`` adds up, whose rounding ε·Σ|t| survives any
    cancellation between the terms."""
    if isinstance(e, sp.Add | sp.Mul):
        return e.func(*(_term_scale(a) for a in e.args))
    if isinstance(e, sp.Piecewise):
        return sp.Piecewise(*((_term_scale(x), cond) for x, cond in e.args))
    return sp.Abs(e)


def _sensitivity_term(a, d, at):
    """|a·∂f/∂a|: 0 where a = 0 whatever the derivative, inf where it is infinite."""
    if a == 0:
        return mpmath.mpf(0)
    try:
        return abs(a * d(*at))
    except ZeroDivisionError:
        return mpmath.inf


def _class_rows(dtype, rng, probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random rows and extreme ones: one class dominating by 1e4 (p_y → 1 and → 0), all
    equal, ±1e4 spread, tiny logits, zeros, a NaN; as probabilities (their softmax) for inputs that
    must be non-negative."""
    n = CLASS_COUNT
    rows = [rng.normal(0, 3, n) for _ in range(24)]
    big = float(np.finfo(dtype).max) ** 0.5 if dtype == np.float32 else 1e4
    for scale in (30.0, 1e3, big):
        rows += [np.r_[scale, np.zeros(n - 1)], np.r_[-scale, np.zeros(n - 1)]]
        rows += [np.full(n, scale), np.linspace(-scale, scale, n)]
    rows += [np.full(n, 1e-30), np.r_[1e-30, -1e-30, 0, 2e-30, 0][:n], rng.normal(0, 1e3, n)]
    rows += [np.zeros(n)]
    rows += [np.r_[np.nan, np.zeros(n - 1)]]
    z = np.array(rows, dtype=np.float64)
    if probabilities:  # the same rows through a softmax: exact 0s and 1s, 1e-300, ...
        with np.errstate(invalid="ignore"):
            e = np.exp(z - np.max(z, axis=1, keepdims=True))
            z = e / e.sum(axis=1, keepdims=True)
        z[-1, 0] = np.nan
    y = np.array([k % n for k in range(len(rows))], dtype=np.int64)
    y[24:36:2] = 0  # the dominant class is the label, then (next row) it is not
    return z.astype(dtype), y


def verify_classes(loss: Loss, kernel, dtypes=("float32", "float64"), seed: int = 0):
    """Value and gradient of every row, and the sum over rows, against `ClassReference`.

    A component over the bound is measured, as for elementwise losses, against its
    conditioning (Σ_a |a·∂f/∂a| over the inputs, from written-out second derivatives) and
    against the reference at logits moved by ±4 ULP; for losses declared with
    ``accuracy="terms"`` against ε·Σ|t| over the terms of the formula (`_term_scale`); with
    label smoothing also against the scale ε·max(w)/C of the smoothing term, whose closed
    form p_j·Σw - w_j cancels near uniform logits (an absolute error floor, as every softmax
    implementation has there)."""
    rng = np.random.default_rng(seed)
    rows: dict = {}
    kernel = getattr(kernel, "rowwise", kernel)  # the inputs of the definition
    statics = [k for k, p in loss.parameters.items() if p.static]
    for values in itertools.product(*(loss.parameters[k].values for k in statics)):
        static = dict(zip(statics, values))
        ref = ClassReference(loss, static={loss.symbol(k): int(v) for k, v in static.items()})
        _verify_class_variant(loss, kernel, ref, static, dtypes, rng, rows)
    return list(rows.values())


def _verify_class_variant(loss, kernel, ref, static: dict, dtypes, rng, rows: dict) -> None:
    n = ref.n
    # defaults, each parameter at the ends of its range and inside (per-class ones as one
    # value for all classes), then each per-class parameter as a random vector
    param_sets = _param_sets(loss, rng)
    for name in ref.vectors:
        param_sets.append({**param_sets[0], name: rng.uniform(0.1, 3.0, n)})
    for dtype in dtypes:
        dt = np.dtype(dtype).type
        z, y = _class_rows(dt, rng, loss.inputs[0].domain.is_subset(sp.Interval(0, sp.oo)))
        # vector targets: one-hot at y (the extreme rows then test p_y → 1 and → 0), or random
        # distributions for the random rows
        data = [
            np.where(
                np.arange(len(z))[:, None] < 24, rng.dirichlet(np.ones(n), len(z)), np.eye(n)[y]
            ).astype(dt)
            for _ in ref.data
        ]
        if loss.frontend == "linear":  # norms consistent with the logits: |z_y| ≤ ‖x‖‖W_y‖
            per_sample = _linear_norms(z, y, static.get("m", 1), dt, rng)
        else:
            per_sample = [_per_sample_values(loss, nm, dt, rng, len(z)) for nm in ref.per_sample]
        by_name = dict(zip(ref.data, data)) | dict(zip(ref.per_sample, per_sample))
        inputs = [z] + [y if i.labels == "classes" else by_name[i.name] for i in loss.inputs[1:]]
        for params in param_sets:
            call = {k: (np.asarray(v, dt) if np.ndim(v) else v) for k, v in params.items()}
            call.update(static)
            vec = [
                np.asarray(call.get(k, loss.parameters[k].default), dt) * np.ones(n, dt)
                for k in ref.vectors
            ]
            scal = [float(call.get(s.name, loss.parameters[s.name].default)) for s in ref.scalars]
            value, grad = kernel.value_and_grad(*inputs, reduction="none", **call)
            # every gradient as one row of components, in the reference's order
            grad = np.concatenate(
                [
                    np.reshape(g, (len(z), -1))
                    for g in (grad if isinstance(grad, tuple) else [grad])
                ],
                axis=1,
            )

            def args_of(i, z_row=None, z=z, data=data, vec=vec, scal=scal, ps=per_sample):
                zi = z[i] if z_row is None else z_row
                return _flatten([zi, *(d[i] for d in data), *(p[i] for p in ps), *vec, scal])

            labels = y if ref.labelled else np.zeros_like(y)  # one reference without labels
            refs_v, refs_g, ok = [], [], []
            for i in range(len(z)):
                r = ref.evaluate(args_of(i), int(labels[i]), dt)
                ok.append(r is not None)
                refs_v.append(r[0] if r else math.nan)
                refs_g.append(r[1] if r else np.full(len(ref.wrt), math.nan))
            ok = np.array(ok)
            refs_v, refs_g = np.array(refs_v), np.array(refs_g)
            checks = [("value", value, refs_v), ("grad", grad, refs_g)]
            got_h = _class_hessian(kernel, inputs, call)
            if got_h is not None:  # the Hessian diagonal, where the loss has a kernel for it
                refs_h = []
                for i in range(len(z)):
                    r = ref.evaluate(args_of(i), int(labels[i]), dt, hess=True)
                    ok[i] &= r is not None
                    refs_h.append(r[1] if r else np.full(n, math.nan))
                checks.append(("hess", got_h.reshape(len(z), -1), np.array(refs_h)))
            for q, got, want in checks:
                err = ulp_error(np.asarray(got, dt), want.astype(dt)).reshape(len(z), -1)
                if q != "value":  # a NaN in a row may make all its components NaN
                    nan_rows = np.zeros(len(z), bool)
                    for a in [z, *data, *per_sample]:
                        nan_rows |= np.isnan(np.reshape(a, (len(z), -1))).any(axis=1)
                    err[nan_rows[:, None] & np.isnan(np.asarray(got, np.float64))] = 0.0
                over = np.flatnonzero(ok & (err.max(axis=1) > BOUNDS[q]))
                raw = float(err[ok].max()) if ok.any() else 0.0
                relaxed = int((err[over] > BOUNDS[q]).sum())  # components, like points
                for i in over:
                    g_i = np.atleast_1d(np.asarray(got[i], dt))
                    w_i = np.atleast_1d(want[i])
                    diff = np.abs(g_i.astype(np.float64) - w_i)
                    moved = _class_relaxed(
                        ref, functools.partial(args_of, i), z[i], int(labels[i]), dt, q, g_i
                    )
                    sens = ref.sensitivity(q, args_of(i), int(labels[i]))
                    with np.errstate(divide="ignore", invalid="ignore"):
                        by_conditioning = np.where(
                            sens > 0, diff / (sens * np.finfo(dt).eps), np.inf
                        )
                    err[i] = np.minimum(np.minimum(err[i], moved), by_conditioning)
                    # the Hessian diagonal of a focal loss is a sum of probability products
                    # that cancel where a class other than the label has p_j → 1: judged
                    # against ε·Σ|terms| there (an absolute error, counted as relaxed)
                    if loss.accuracy == "terms" or q == "hess":
                        scale = ref.term_scale(q, args_of(i), int(labels[i]))
                        with np.errstate(divide="ignore", invalid="ignore"):
                            by_terms = np.where(
                                scale > 0, diff / (scale * np.finfo(dt).eps), np.inf
                            )
                        err[i] = np.minimum(err[i], by_terms)
                    floor = _smoothing_scale(loss, params, vec, n) if q == "grad" else 0.0
                    if floor:
                        err[i] = np.minimum(err[i], diff / float(np.spacing(dt(floor))))
                row = rows.setdefault(
                    _key(loss.name, q, dtype),
                    Row(loss.name, q, np.dtype(dtype).name, 0.0, BOUNDS[q], 0),
                )
                row.points += int(err[ok].size)
                row.relaxed += relaxed
                row.raw_ulp = max(row.raw_ulp or 0.0, raw)
                if err[ok].size and err[ok].max() > row.worst_ulp:
                    i = int(np.flatnonzero(ok)[np.argmax(err[ok].max(axis=1))])
                    row.worst_ulp = float(err[ok].max())
                    row.worst_at = {
                        "row": z[i].tolist(),
                        "label": int(labels[i]),
                        **params,
                        **static,
                    }
            # the kernel's sum over rows against the correctly rounded sum of the references
            finite = ok & np.isfinite(refs_v)
            if finite.sum() > 1:
                exact = _fsum(float(v) for v in refs_v[finite])
                got_sum = kernel(*(a[finite] for a in inputs), reduction="sum", **call)
                e = float(ulp_error(np.asarray([got_sum], dt), np.asarray([exact], dt))[0])
                slack = finite.sum() * np.finfo(dt).eps * _fsum(abs(v) for v in refs_v[finite])
                if abs(float(got_sum) - exact) <= slack:
                    e = min(e, 1.0)
                _record_scalar(rows, loss.name, "sum", dtype, e, static)


def _class_hessian(kernel, inputs: list, call: dict) -> np.ndarray | None:
    """The kernel's Hessian diagonal per row, or None where the loss has no Hessian kernel."""
    try:
        return np.asarray(kernel.grad_hess(*inputs, **call)[1])
    except (TypeError, AttributeError):
        return None


def _per_sample_values(loss: Loss, name: str, dtype, rng, rows: int) -> np.ndarray:
    """Values of an input with one number per sample: random ones inside its domain, then its
    extremes (0, subnormal, huge where the domain allows)."""
    domain = next(i.domain for i in loss.inputs if i.name == name)
    lo = max(float(domain.inf), -10.0)
    v = lo + rng.uniform(0.1, 10.0, rows)
    curated = [x for x in _domain_samples(domain, dtype, rng, 0) if math.isfinite(x)]
    v[-len(curated) :] = curated[-rows:]
    return v.astype(dtype)


def _linear_norms(z, y, m: int, dtype, rng) -> list[np.ndarray]:
    """(‖x‖, ‖W_y‖) per row for logits z that a linear layer could produce: cos θ_y = z_y /
    (‖x‖‖W_y‖) cycles through ±1, the boundaries cos(kπ/m) of ψ's pieces, small and random
    values; rows with z_y = 0 get a zero norm (x = 0, then W_y = 0) or random ones."""
    cosines = [1.0, -1.0, 1e-3, -1e-3, *(math.cos(k * math.pi / m) for k in range(1, m))]
    w_norm = 10.0 ** rng.uniform(-1, 1, len(z))
    x_norm = np.empty(len(z))
    for i, zy in enumerate(np.asarray(z, np.float64)[np.arange(len(z)), y]):
        cos = cosines[i % len(cosines)] if i % 3 else rng.uniform(-1, 1)
        if zy == 0 or not math.isfinite(zy) or abs(cos) < 1e-12:
            x_norm[i] = (0.0, rng.uniform(0.5, 2))[i % 2]
            w_norm[i] = (w_norm[i], 0.0)[i % 4 == 1]
        else:
            x_norm[i] = abs(zy) / (w_norm[i] * abs(cos))
    return [x_norm.astype(dtype), w_norm.astype(dtype)]


def _flatten(args) -> list[float]:
    return [float(v) for a in args for v in np.ravel(a)]


def _smoothing_scale(loss: Loss, params: dict, vec_values: list, n: int) -> float:
    eps = float(params.get("label_smoothing", 0.0)) if "label_smoothing" in loss.parameters else 0
    top = max((float(np.max(v)) for v in vec_values), default=1.0)
    return eps * top / n


def _class_relaxed(ref, args_at, z, y, dtype, q, got) -> np.ndarray:
    """The ULP error against the reference at the logits moved by 0 or ±4 ULP each (8 random
    patterns): the kernel's answer is exact for a neighbouring input."""
    rng = np.random.default_rng(int(y))
    best = np.full(got.shape, np.inf)
    for _ in range(8):
        steps = rng.choice([-PERTURBATION_ULP, 0, PERTURBATION_ULP], size=len(z))
        moved = [_step(float(v), int(k), dtype) for v, k in zip(z, steps)]
        r = ref.evaluate(args_at(np.array(moved)), y, dtype, hess=q == "hess")
        if r is not None:
            want = np.atleast_1d(np.asarray(r[0] if q == "value" else r[1], dtype))
            best = np.minimum(best, ulp_error(got, want))
    return best


def _check_class_derivatives(loss: Loss, rng: np.random.Generator, n: int = 4) -> float:
    """The derived closed-form gradient (∂ℓ/∂v_j of each vector input, sums collapsed, as the
    kernels use it; ∂ℓ/∂s of each per-sample input) against mpmath finite differences of the
    definition written out for C = n, every label and component."""
    from .spec import C

    static = {loss.symbol(k): int(p.default) for k, p in loss.parameters.items() if p.static}
    ref = ClassReference(loss, n, static)
    label = next((loss.symbol(i.name) for i in loss.inputs if i.labels == "classes"), None)
    plain = {loss.symbol(loss.differentiable[0])[k]: ref.zs[k] for k in range(n)}
    for name, ws in ref.ws.items():
        plain.update({loss.symbol(name)[k]: ws[k] for k in range(n)})
    components = []  # (derived expression, position of the component in ref.args)
    for name in loss.differentiable:
        gradient = loss.derivative(name).subs(static)
        if isinstance(loss.symbol(name), sp.IndexedBase):
            syms = ref.zs if name == loss.differentiable[0] else ref.ws[name]
            components += [
                (gradient.subs(derive.j, k), ref.args.index(a)) for k, a in enumerate(syms)
            ]
        else:
            components.append((gradient, ref.args.index(loss.symbol(name))))
    worst = 0.0
    with mpmath.workdps(50):
        for y in range(len(ref.value)):  # every label, or once without labels
            if loss.inputs[0].domain.is_subset(sp.Interval(0, sp.oo)):  # probabilities
                args = [mpmath.mpf(float(rng.uniform(0.05, 1))) for _ in ref.zs]
            else:
                args = [mpmath.mpf(float(rng.normal(0, 2))) for _ in ref.zs]
            args += [mpmath.mpf(float(rng.uniform(0.2, 2))) for k in ref.data for _ in ref.ws[k]]
            args += [mpmath.mpf(float(rng.uniform(0.5, 3))) for _ in ref.per_sample]
            args += [mpmath.mpf(float(rng.uniform(0.2, 2))) for k in ref.vectors for _ in ref.ws[k]]
            args += [mpmath.mpf(float(rng.uniform(0.1, 0.9))) for _ in ref.scalars]
            for derived, at in components:
                subs = {C: n, **({label: y} if ref.labelled else {})}
                derived = derived.subs(subs).doit().xreplace(plain).rewrite("math")
                exact = _mp_function(ref.args, derived)(*args)

                def f(t, at=at, y=y, args=args):
                    return ref.value[y](*args[:at], t, *args[at + 1 :])

                fd = mpmath.diff(f, args[at])
                worst = max(worst, float(abs(fd - exact) / max(abs(exact), mpmath.mpf(1e-30))))
    return worst
