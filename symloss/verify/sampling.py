"""Where kernels are checked: extreme and random inputs inside each input's domain, the kinks
of the definition, each parameter at its default, the ends of its range and inside it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np
import sympy as sp

from ..definition.spec import Loss
from .reference import CLASS_COUNT, plain


def extremes(dtype) -> list[float]:
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


def domain_samples(domain: sp.Set, dtype, rng: np.random.Generator, k: int) -> list[float]:
    """Curated and random values inside a domain."""
    if isinstance(domain, sp.FiniteSet):
        return [float(v) for v in domain.args]
    lo, hi = float(domain.inf), float(domain.sup)
    if lo == -math.inf and hi == math.inf:
        curated = extremes(dtype)
        scale = 10.0 ** rng.uniform(-8, 4, k) * rng.choice([-1.0, 1.0], k)
        return curated + scale.tolist() + rng.normal(0, 3, k).tolist()
    curated = [v for v in extremes(dtype) if lo <= v <= hi or math.isnan(v)]
    if hi < math.inf:
        curated += [hi, (lo + hi) / 2, lo + (hi - lo) * 0.3, hi - (hi - lo) * 1e-8]
    width = (hi - lo) if hi < math.inf else 100.0
    curated += (lo + width * rng.random(k)).tolist()
    return sorted(set(np.asarray(curated, dtype=dtype).tolist()), key=lambda v: (math.isnan(v), v))


def kinks(loss: Loss, params: dict[str, float], targets: Iterable[float]) -> list[float]:
    """Values of the first input where a condition of the definition switches, for each target."""
    x = loss.symbol(loss.differentiable[0])
    expr = plain(loss.element)
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


def param_sets(loss: Loss, rng: np.random.Generator) -> list[dict]:
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


def points(loss: Loss, params: dict, dtype, rng, samples: int = 40) -> dict[str, np.ndarray]:
    """The curated extremes of every input, crossed, with ``samples`` random values of the first
    input (and a fifth as many of each other), and the kinks of the definition."""
    first, *rest = loss.inputs
    firsts = domain_samples(first.domain, dtype, rng, samples)
    if not rest:
        return {first.name: np.asarray(firsts, dtype)}
    seconds = [domain_samples(i.domain, dtype, rng, max(1, samples // 5)) for i in rest]
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
    at_kinks = kinks(loss, params, kink_targets) if len(rest) == 1 else []
    for t in kink_targets:
        for k in at_kinks:
            kx = np.asarray(k, dtype)
            for v in (kx, np.nextafter(kx, dtype(np.inf)), np.nextafter(kx, dtype(-np.inf))):
                grid.append((float(v), t))
    cols = list(zip(*grid))
    return {i.name: np.asarray(c, dtype) for i, c in zip(loss.inputs, cols)}


def norm_cases(dtype, rng) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None, object]]:
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


def class_rows(
    dtype, rng, probabilities: bool = False, masked: bool = False, huge: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Random rows and extreme ones: one class dominating by 30 … √max (float64: … max/2n)
    (p_y → 1 and → 0), all equal, a ±scale spread, tiny logits, zeros, a NaN; as probabilities
    (their softmax) for inputs that must be non-negative. ``masked``: also rows with -∞ at
    classes other than the label."""
    n = CLASS_COUNT
    rows = [rng.normal(0, 3, n) for _ in range(24)]
    # up to √max (where Σz² overflows); in float64 also 1e4 and max/2n (where Σ|z| nearly
    # does: float64 kernels hold no wider accumulator)
    top = float(np.finfo(dtype).max)
    scales = (30.0, 1e3, top**0.5)
    if dtype == np.float64:  # huge=False: the quick check leaves out the costly two
        scales = (30.0, 1e3, 1e4, top**0.5, top / (2 * n)) if huge else (30.0, 1e3, 1e4)
    for scale in scales:
        rows += [np.r_[scale, np.zeros(n - 1)], np.r_[-scale, np.zeros(n - 1)]]
        rows += [np.full(n, scale), np.linspace(-scale, scale, n)]
    rows += [np.full(n, 1e-30), np.r_[1e-30, -1e-30, 0, 2e-30, 0][:n], rng.normal(0, 1e3, n)]
    rows += [np.zeros(n)]
    if masked:  # -∞ (an impossible class) at classes other than the row's label, k mod n
        for k in range(len(rows), len(rows) + 3):
            row = rng.normal(0, 3, n)
            others = [c for c in range(n) if c != k % n]
            row[others[: k % 3 + 1]] = -np.inf
            rows.append(row)
    rows += [np.r_[np.nan, np.zeros(n - 1)]]
    z = np.array(rows, dtype=np.float64)
    if probabilities:  # the same rows through a softmax: exact 0s and 1s, 1e-300, ...
        with np.errstate(invalid="ignore"):
            e = np.exp(z - np.max(z, axis=1, keepdims=True))
            z = e / e.sum(axis=1, keepdims=True)
        z[-1, 0] = np.nan
    y = np.array([k % n for k in range(len(rows))], dtype=np.int64)
    # the dominant class is the label, then (next row) it is not
    y[24 : 24 + 4 * len(scales) : 2] = 0
    return z.astype(dtype), y


def per_sample_values(loss: Loss, name: str, dtype, rng, rows: int) -> np.ndarray:
    """Values of an input with one number per sample: random ones inside its domain, then its
    extremes (0, subnormal, huge where the domain allows)."""
    domain = next(i.domain for i in loss.inputs if i.name == name)
    lo = max(float(domain.inf), -10.0)
    v = lo + rng.uniform(0.1, 10.0, rows)
    curated = [x for x in domain_samples(domain, dtype, rng, 0) if math.isfinite(x)]
    v[-len(curated) :] = curated[-rows:]
    return v.astype(dtype)


def linear_norms(z, y, m: int, dtype, rng) -> list[np.ndarray]:
    """(‖x‖, ‖W_y‖) per row for logits z that a linear layer could produce: cos θ_y = z_y /
    (‖x‖‖W_y‖) cycles through ±1, the boundaries cos(kπ/m) of ψ's pieces, small and random
    values; rows with z_y = 0 get a zero norm (x = 0, then W_y = 0) or random ones. The norms
    and their product stay finite in the dtype: where |z_y|/|cos θ_y| would pass max/4, cos θ_y
    is raised to 4|z_y|/max (a linear layer's norms overflow before its logits do)."""
    cosines = [1.0, -1.0, 1e-3, -1e-3, *(math.cos(k * math.pi / m) for k in range(1, m))]
    w_norm = 10.0 ** rng.uniform(-1, 1, len(z))
    x_norm = np.empty(len(z))
    top = float(np.finfo(dtype).max) / 4
    for i, zy in enumerate(np.asarray(z, np.float64)[np.arange(len(z)), y]):
        cos = cosines[i % len(cosines)] if i % 3 else rng.uniform(-1, 1)
        if zy == 0 or not math.isfinite(zy) or abs(cos) < 1e-12:
            x_norm[i] = (0.0, rng.uniform(0.5, 2))[i % 2]
            w_norm[i] = (w_norm[i], 0.0)[i % 4 == 1]
            continue
        norms = abs(zy) / max(abs(cos), abs(zy) / top)
        x_norm[i] = norms / w_norm[i]
        if x_norm[i] > top:  # split the product evenly
            x_norm[i] = w_norm[i] = math.sqrt(norms)
    return [x_norm.astype(dtype), w_norm.astype(dtype)]
