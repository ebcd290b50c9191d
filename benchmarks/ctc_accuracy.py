"""Forward error of the `ctc` kernel against the sum over all alignments in mpmath.

    python benchmarks/ctc_accuracy.py

For small T and C every path of C^T classes whose collapse is the target is enumerated, at 60
and at 120 digits (escalating until both round to the same float); the loss -log P and its
gradient p_t(k) - P(π_t = k)/P are compared with the kernel's, in ULPs of the dtype (the
ordinal distance of the floats, subnormals at their own spacing). Inputs: ordinary random
logits, and confident, correct predictions (one alignment of the target favoured by a margin d
in every frame, so that P → 1 and the loss and many gradient components are tiny). Prints, per
dtype and kind of input, the median and largest errors and the number of negative losses.
"""

from __future__ import annotations

import itertools
import sys

import mpmath
import numpy as np

import symloss


def _collapse(path, blank):
    out, last = [], None
    for k in path:
        if k != last and k != blank:
            out.append(k)
        last = k
    return out


def _enumerate(z, target, blank, dps):
    with mpmath.workdps(dps):
        p = []
        for row in z:
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
            s = mpmath.fsum(e)
            p.append([v / s for v in e])
        n_time, n_classes = z.shape
        total = mpmath.mpf(0)
        at = [[mpmath.mpf(0)] * n_classes for _ in range(n_time)]
        for path in itertools.product(range(n_classes), repeat=n_time):
            if _collapse(path, blank) != list(target):
                continue
            w = mpmath.fprod(p[t][k] for t, k in enumerate(path))
            total += w
            for t, k in enumerate(path):
                at[t][k] += w
        if total == 0:
            return None, None
        value = -mpmath.log(total)
        grad = [[p[t][k] - at[t][k] / total for k in range(n_classes)] for t in range(n_time)]
        return value, grad


def reference(z, target, dtype, blank=0):
    """(loss, grad (T, C)) rounded to dtype, from the enumeration at escalating precision;
    loss is inf and grad None where no alignment exists."""
    dtype = np.dtype(dtype)
    previous = None
    for dps in (60, 120, 240, 480):
        v, g = _enumerate(z, target, blank, dps)
        if v is None:
            return dtype.type(np.inf), None
        got = (
            np.array(float(v), dtype),
            np.array([[float(x) for x in r] for r in g]).astype(dtype),
        )
        # float(mpf) rounds once to float64; to float32 it is rounded twice, which can only
        # matter exactly half-way between two float32 (not met by these inputs)
        if previous is not None and np.array_equal(got[0], previous[0]):
            if np.array_equal(got[1], previous[1]):
                return got
        previous = got
    raise RuntimeError("the enumeration did not converge")


def logit_sensitivity(z, target, blank=0, dps=80):
    """Σ_a ulp(a)·|∂g/∂a| over the logits a, for each gradient component g (T, C): how far
    moving every logit by 1 ULP can move the exact gradient, to first order (central
    differences of the enumeration at ``dps`` digits)."""
    z = np.asarray(z)
    spacing = np.spacing(np.abs(z)).astype(np.float64)
    sens = np.zeros(z.shape)
    with mpmath.workdps(dps):
        for idx in np.ndindex(z.shape):
            h = mpmath.mpf(10) ** (-dps // 3)
            rows = []
            for sign in (1, -1):
                moved = [[mpmath.mpf(float(v)) for v in r] for r in z.astype(np.float64)]
                moved[idx[0]][idx[1]] += sign * h
                rows.append(_enumerate_mp(moved, target, blank)[1])
            d = np.array(
                [[float((u - w) / (2 * h)) for u, w in zip(ru, rw)] for ru, rw in zip(*rows)]
            )
            sens += float(spacing[idx]) * np.abs(d)
    return sens


def _enumerate_mp(z, target, blank):
    """As _enumerate, on logits already in mpmath (at the working precision)."""
    p = []
    for row in z:
        e = [mpmath.exp(v) for v in row]
        s = mpmath.fsum(e)
        p.append([v / s for v in e])
    n_time, n_classes = len(z), len(z[0])
    total = mpmath.mpf(0)
    at = [[mpmath.mpf(0)] * n_classes for _ in range(n_time)]
    for path in itertools.product(range(n_classes), repeat=n_time):
        if _collapse(path, blank) != list(target):
            continue
        w = mpmath.fprod(p[t][k] for t, k in enumerate(path))
        total += w
        for t, k in enumerate(path):
            at[t][k] += w
    return -mpmath.log(total), [
        [p[t][k] - at[t][k] / total for k in range(n_classes)] for t in range(n_time)
    ]


def mixed_error(got, want, sens):
    """The forward error in ULPs where it is at most 8; elsewhere the error left after the
    truth is allowed to move as far as ±4-ULP changes of the logits move it (first order),
    in ULPs of the result: ≤ 8 means within 8 ULP of the truth at some logits ±4 ULP away."""
    forward = ulps(got, want)
    slack = 4.0 * sens
    room = np.abs(got.astype(np.float64) - want.astype(np.float64)) - slack
    unit = np.spacing(np.abs(want)).astype(np.float64)
    return np.where(forward <= 8, forward, np.minimum(forward, np.maximum(room, 0) / unit))


def ulps(got, want):
    """|got - want| in ULPs of their dtype (ordinal distance); inf against a finite truth."""
    got, want = np.asarray(got), np.asarray(want, dtype=np.asarray(got).dtype)
    itype = np.int64 if got.dtype == np.float64 else np.int32
    bits = 63 if got.dtype == np.float64 else 31

    def ordinal(x):
        i = x.view(itype).astype(np.int64)
        mag = i & np.int64((1 << bits) - 1)
        return np.where(i < 0, -mag, mag)

    err = np.abs(ordinal(got) - ordinal(want)).astype(np.float64)
    both_nan = np.isnan(got) & np.isnan(want)
    same_inf = np.isinf(got) & (got == want)
    finite = np.isfinite(got) & np.isfinite(want)
    return np.where(finite, err, np.where(both_nan | same_inf, 0.0, np.inf))


def confident_logits(rng, n_time, n_classes, target, margin, blank=0):
    """Logits N(0, 1) plus ``margin`` on one random alignment of ``target``."""
    ext = [blank]
    for k in target:
        ext += [k, blank]
    while True:  # a random monotone walk through the extended target, from start to end
        s, path = int(rng.integers(0, min(2, len(ext)))), []
        for _ in range(n_time):
            path.append(ext[s])
            moves = [0, 1] + ([2] if s + 2 < len(ext) and ext[s + 2] != ext[s] else [])
            s = min(s + int(rng.choice(moves)), len(ext) - 1)
        if _collapse(path, blank) == list(target):
            break
    z = rng.normal(0, 1, (n_time, n_classes))
    z[np.arange(n_time), path] += margin
    return z


def cases(rng):
    out = []
    for n_time, n_classes in ((3, 3), (4, 3), (5, 3), (4, 4), (6, 3)):
        for scale in (1.0, 3.0, 10.0):
            length = int(rng.integers(1, min(3, (n_time + 1) // 2) + 1))
            target = [int(v) for v in rng.integers(1, n_classes, length)]
            out.append(("ordinary", rng.normal(0, scale, (n_time, n_classes)), target))
        for margin in (8.0, 16.0, 30.0, 60.0, 100.0):
            length = int(rng.integers(1, min(3, (n_time + 1) // 2) + 1))
            target = [int(v) for v in rng.integers(1, n_classes, length)]
            z = confident_logits(rng, n_time, n_classes, target, margin)
            out.append(("confident", z, target))
    return out


def measure(seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = {}
    for kind, z, target in cases(rng):
        for dtype in ("float32", "float64"):
            zz = z.astype(dtype)
            want_v, want_g = reference(zz.astype(np.float64), target, dtype)
            v, g = symloss.ctc.value_and_grad(
                zz, np.array(target), len(z), len(target), reduction="sum"
            )
            row = rows.setdefault(
                (dtype, kind), {"value": [], "grad": [], "mixed": [], "negative": 0}
            )
            row["value"].append(float(ulps(np.asarray(v, dtype), want_v)))
            row["negative"] += int(v < 0)
            if want_g is not None:
                err = ulps(g, want_g)
                row["grad"].extend(err.ravel().tolist())
                if (err > 8).any():  # the mixed criterion, only where it is needed
                    sens = logit_sensitivity(zz, target)
                    err = mixed_error(g, want_g, sens)
                row["mixed"].extend(err.ravel().tolist())
    return rows


def main() -> int:
    rows = measure()
    print("value, grad: forward error in ULPs; mixed: the gradient's error after ±4-ULP moves")
    print("of the logits (> 8: fails); n > 8: components above 8 ULP (forward / mixed)")
    head = ("dtype", "inputs", "value med", "value max", "grad med", "grad p99", "grad max")
    print(("{:8} {:10}" + " {:>10}" * 5).format(*head), f"{'n > 8':>9} {'mixed max':>10}", "loss<0")
    for (dtype, kind), r in sorted(rows.items()):
        v, g, x = (np.array(r[q]) for q in ("value", "grad", "mixed"))
        stats = (np.median(v), v.max(), np.median(g), np.percentile(g, 99), g.max())
        print(
            ("{:8} {:10}" + " {:10.3g}" * 5).format(dtype, kind, *stats),
            f"{int((g > 8).sum()):>4}/{int((x > 8).sum()):<4} {x.max():10.3g} {r['negative']:6d}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
