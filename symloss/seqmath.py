"""The scalar arithmetic of the sequence kernels' dynamic programs, inlined into them.

- ``lse3(a, b, c)`` = log(e^a + e^b + e^c) as m + log1p(e^{u−m} + e^{v−m}), m the largest
  (CTC's cells); ``lse3_direct`` the same as m + log(Σ e^{·−m}) (the soft edit distance's);
  ``shifted_lse3(c, u0, u1, u2)`` for double-double cells: (u_m, log1p(Σ_{i≠m} e^{c(u_i−u_m)})).
- ``two_sum``, ``two_prod``: error-free transformations, a ∘ b = fl(a ∘ b) + e exactly.
- extended double-doubles (h, lo, e) = (h + lo)·2^e with an int64 exponent: ``xnorm``,
  ``xmul``, ``xadd``, and ``xexp(x)`` = e^x without underflow (CTC's linear sweeps).
- ``log_softmax_frame``: log p = (z_c − m) − log1p(Σ_{c≠top} e^{z_c − m}) of one CTC frame.
- ``edit_distance_bits``: the unit-cost edit distance by 64-bit column differences (Myers
  1999, Hyyrö 2003) for a reference of at most 64 symbols.

Every function runs in float64. The kernel modules import this module; their headers carry a
hash of it (`symloss.codegen.render.kernel_library_fingerprint`), because Numba's cache of a
kernel module is keyed by that module's file alone.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import vmath

__all__ = [
    "TABLE",
    "edit_distance_bits",
    "log_softmax_frame",
    "lse3",
    "lse3_direct",
    "shifted_lse3",
    "two_prod",
    "two_sum",
    "xadd",
    "xexp",
    "xmul",
    "xnorm",
]

_cell = numba.njit(error_model="numpy", inline="always")


@_cell
def lse3(a, b, c):
    """log(e^a + e^b + e^c) as m + log1p(e^{u - m} + e^{v - m}), m the largest of the three
    and u, v the others; -inf when all are -inf, NaN when one is NaN."""
    if a != a or b != b or c != c:
        return math.nan
    if a >= b and a >= c:
        m, u, v = a, b, c
    elif b >= c:
        m, u, v = b, a, c
    else:
        m, u, v = c, a, b
    if m == -math.inf:
        return m
    return m + math.log1p(math.exp(u - m) + math.exp(v - m))


@_cell
def two_sum(a, b):
    """(s, e): s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


@_cell
def two_prod(a, b):
    """(p, e): p = fl(a·b) and a·b = p + e exactly, by Dekker's split (|a|, |b| < 1)."""
    p = a * b
    c = 134217729.0 * a
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = 134217729.0 * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


@_cell
def xnorm(h, lo, e):
    """(h + lo)·2^e as (h', lo', e') with |h'| in [1/2, 1) and |lo'| ≤ ulp(h')/2 (frexp and
    ldexp are exact); (0, 0, 0) for 0."""
    s = h + lo
    if s == 0.0:
        return 0.0, 0.0, 0
    lo = lo - (s - h)
    f, k = math.frexp(s)
    return f, math.ldexp(lo, -k), e + k


@_cell
def xmul(ah, al, ae, bh, bl, be):
    """The product of two extended double-double numbers (about 2^-104 relative error)."""
    p, err = two_prod(ah, bh)
    return xnorm(p, err + (ah * bl + al * bh), ae + be)


@_cell
def xadd(ah, al, ae, bh, bl, be):
    """The sum of two extended double-double numbers: the smaller aligned by ldexp."""
    if ah == 0.0:
        return bh, bl, be
    if bh == 0.0:
        return ah, al, ae
    if ae < be:
        ah, al, ae, bh, bl, be = bh, bl, be, ah, al, ae
    shift = max(be - ae, -1100)
    s, err = two_sum(ah, math.ldexp(bh, shift))
    return xnorm(s, err + (al + math.ldexp(bl, shift)), ae)


_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of log 2 (k·_LN2_HI exact for |k| < 2^20;
# beyond, r carries ε·|x|, the conditioning of e^x in x itself)
_LN2_LO = 1.90821492927058770002e-10
XEXP_FLOOR = -1.0e15  # below: taken as e^{-10^15} (exponents then stay far inside int64)


@_cell
def xexp(x):
    """e^x for x ≤ 0 as (h, 0, e) (any x: no underflow), -inf → 0: e^r·2^k, r = x - k·log 2."""
    if x == -math.inf:
        return 0.0, 0.0, 0
    if x > -700.0:
        return xnorm(math.exp(x), 0.0, 0)
    x = max(x, XEXP_FLOOR)
    k = math.floor(x / (_LN2_HI + _LN2_LO))  # by log 2 itself: |r| stays below about 1
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return xnorm(math.exp(r), 0.0, int(k))


@_cell
def log_softmax_frame(z, t, n, lp):
    """lp[t, :] = log_softmax(z[t, n, :]) in float64: (z_c - m) - log1p(Σ_{c≠top} e^{z_c - m})."""
    n_classes = z.shape[2]
    top, m, nan = -1, -math.inf, False
    for c in range(n_classes):
        v = np.float64(z[t, n, c])
        if v > m:
            top, m = c, v
        elif v != v:
            nan = True
    acc = 0.0
    if m > -math.inf:  # else every logit is -inf: the row is NaN (0/0) below
        for c in range(n_classes):
            if c != top:
                acc += math.exp(np.float64(z[t, n, c]) - m)
    shift = math.nan if nan else math.log1p(acc)
    for c in range(n_classes):
        lp[t, c] = (np.float64(z[t, n, c]) - m) - shift


@_cell
def lse3_direct(a, b, c):
    """log(e^a + e^b + e^c), max-shifted; -inf when all are -inf, NaN when one is NaN."""
    if a != a or b != b or c != c:  # max() would pass over a NaN after the first argument
        return math.nan
    m = max(a, b, c)
    if m == -math.inf:
        return m
    return m + math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m))


@_cell
def shifted_lse3(c, u0, u1, u2):
    """(u_m, L) with log(e^{c·u0} + e^{c·u1} + e^{c·u2}) = c·u_m + L, for double-doubles u_i:
    u_m the one of largest c·u_i and L = log1p(Σ_{i≠m} e^{c·(u_i − u_m)}), the differences
    u_i − u_m formed in double-double and rounded once. NaN in any u_i gives L = NaN."""
    x01 = c * vmath.dd_value(vmath.dd_add(u0, vmath.dd_neg(u1)))  # c·(u0 − u1)
    x02 = c * vmath.dd_value(vmath.dd_add(u0, vmath.dd_neg(u2)))
    x12 = c * vmath.dd_value(vmath.dd_add(u1, vmath.dd_neg(u2)))
    if x01 >= 0.0 and x02 >= 0.0:
        return u0, math.log1p(math.exp(-x01) + math.exp(-x02))
    if x12 >= 0.0:
        return u1, math.log1p(math.exp(x01) + math.exp(-x12))
    return u2, math.log1p(math.exp(x02) + math.exp(x12))


_ONE = np.uint64(1)
TABLE = 256  # codes below this find their match mask by table, the others by a scan


@numba.njit(error_model="numpy")
def edit_distance_bits(h, r, peq):
    """Unit-cost edit distance of h and r, len(r) ≤ 64, by 64-bit column differences.
    peq: a zeroed table of 256 masks, left zeroed."""
    m = r.shape[0]
    for j in range(m):
        c = r[j]
        if 0 <= c < TABLE:
            peq[c] |= _ONE << np.uint64(j)
    last = _ONE << np.uint64(m - 1)
    pv = ~np.uint64(0) if m == 64 else (last << _ONE) - _ONE  # all +1: D[i][0] = i
    mv = np.uint64(0)
    score = m
    for i in range(h.shape[0]):
        c = h[i]
        if 0 <= c < TABLE:
            eq = peq[c]
        else:  # matches of a rare code: scan r
            eq = np.uint64(0)
            for j in range(m):
                if r[j] == c:
                    eq |= _ONE << np.uint64(j)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & last:
            score += 1
        elif mh & last:
            score -= 1
        ph = (ph << _ONE) | _ONE  # the top row D[0][j] = j grows by 1 per symbol of h
        mh = mh << _ONE
        pv = mh | ~(xv | ph)
        mv = ph & xv
    for j in range(m):
        c = r[j]
        if 0 <= c < TABLE:
            peq[c] = np.uint64(0)
    return score
