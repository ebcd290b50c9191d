"""exp, expm1, log, log1p, tanh and sech as straight-line arithmetic that LLVM can vectorize.

Numba calls libm for ``math.exp`` and friends, one scalar call per element (the PyPI llvmlite
has no vector math library), and a single call in a loop keeps the whole loop scalar. These
functions are written with arithmetic, selects and bit operations only, inline into the
kernels, and let a loop of them run on SIMD lanes. float32 arguments are computed in float64
and rounded once.

    exp(x)   = 2^k · (1 + p(r)),        x = k·ln 2 + r, |r| ≤ ln 2 / 2
    expm1(x) = (2^k − 1) + 2^k · p(r)
    log(u)   = k·ln 2 + log(1 + f),     u = 2^k (1 + f), √2/2 ≤ 1 + f < √2
    log1p(x) = log(1 + x) computed as log(u) + (x − (u − 1))/u, u = fl(1 + x)
    tanh(x)  = sgn(x) · (−m)/(2 + m) or 1 − 2e/(1 + e),   e = exp(−2|x|), m = e − 1
    sech(x)  = 2e/(1 + e²),             e = exp(−|x|)

p(r) = r + r²/2! + … + r¹³/13! is Taylor's polynomial of eʳ − 1 (truncation below 4e-18 on
|r| ≤ ln 2 / 2). log(1 + f) = 2s + s·R(s²) with s = f/(2 + f) and R(z) = Σ_{j=1}^{10} 2 z^j/(2j+1),
the series of 2·atanh(s) (truncation below 1e-18 for s² ≤ 0.0295), arranged as
f − f²/2 + s·(f²/2 + R) so that the large terms are exact. ln 2 is split into a head with 32
significant bits, k·LN2_HI exact for |k| < 2^21, and the rest; r is carried as r_hi + r_lo
and the leading sums are made exact (Fast2Sum), so that about one rounding remains. Measured
accuracy (mpmath, tests/test_vmath.py): exp, expm1, log, log1p within 1 ULP in float64 over
the whole range, subnormal results included; tanh within 2.5 and sech within 2; float32
within 0.5 ULP plus float64's error.

Only the kernels use these (through the printer); each also has a plain Python spelling
(``math``'s) for use outside Numba.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = [
    "chunk",
    "chunks",
    "dd",
    "dd_add",
    "dd_mul",
    "dd_neg",
    "dd_value",
    "exp",
    "expm1",
    "log",
    "log1p",
    "reassoc_add",
    "sech",
    "select",
    "tanh",
    "wide",
]

LN2_HI = 6.93147180369123816490e-01  # ln 2 rounded to 32 significant bits (low 21 bits zero)
LN2_LO = 1.90821492927058770002e-10  # ln 2 − LN2_HI, rounded
INV_LN2 = 1.4426950408889634  # 1 / ln 2
SHIFTER = 6755399441055744.0  # 1.5·2^52: adding it rounds to an integer, kept in the low bits
EXP_TAYLOR = tuple(1.0 / math.factorial(j) for j in range(2, 14))  # 1/2!, …, 1/13!
ATANH_SERIES = tuple(2.0 / (2 * j + 1) for j in range(1, 11))  # 2/3, 2/5, …, 2/21
TWO52 = 4503599627370496.0  # 2^52
SQRT_HALF_BITS = 0x3FE6A09E  # high word of √2/2: log's mantissa is brought into [√2/2, √2)
_u64 = np.uint64
# Compiled once per process and inlined by LLVM (forceinline) into each kernel, where the loop
# vectorizer needs them; inlining at Numba's IR level instead gave the same code at twice the
# compile time.
_inline = njit(forceinline=True, error_model="numpy")
_SHIFTER_BITS = _u64(0x4338000000000000)  # the bits of SHIFTER
_TWO52_BITS = _u64(0x4330000000000000)  # the bits of 2^52
_MANTISSA = _u64(0x000FFFFFFFFFFFFF)
_TO_SQRT_HALF = _u64((0x3FF00000 - SQRT_HALF_BITS) << 32)  # moves [√2/2, √2) onto [1, 2)
_SQRT_HALF_HIGH = _u64(SQRT_HALF_BITS << 32)
_1, _52, _1025, _2048 = _u64(1), _u64(52), _u64(1025), _u64(2048)


@intrinsic
def select(typingctx, cond, a, b):
    """`a if cond else b` as one LLVM select: both sides computed, no branch."""
    common = typingctx.unify_types(a, b)
    if common is None:
        return None

    def codegen(context, builder, signature, args):
        c, x, y = args
        c = context.cast(builder, c, signature.args[0], types.boolean)
        x = context.cast(builder, x, signature.args[1], common)
        y = context.cast(builder, y, signature.args[2], common)
        return builder.select(c, x, y)

    return common(cond, a, b), codegen


@intrinsic
def reassoc_add(typingctx, acc, x):
    """acc + x in float64, flagged reassociable: the one operation the loop vectorizer may
    reorder, so that a sum over a loop runs in SIMD lanes (summed lane by lane, then across)
    while every other operation keeps IEEE semantics."""

    def codegen(context, builder, signature, args):
        a = context.cast(builder, args[0], signature.args[0], types.float64)
        b = context.cast(builder, args[1], signature.args[1], types.float64)
        return builder.fadd(a, b, flags=("reassoc",))

    return types.float64(acc, x), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c in float64 with one rounding (LLVM's fma)."""

    def codegen(context, builder, signature, args):
        x, y, z = (context.cast(builder, v, t, types.float64) for v, t in zip(args, signature.args))
        return builder.fma(x, y, z)

    return types.float64(a, b, c), codegen


# -- double-double: a number carried as hi + lo, |lo| ≤ ulp(hi)/2 ----------------------------
# For expressions whose terms cancel (the numerator N'D - ND' of a quotient rule): sums and
# products keep about 106 bits, so only cancellation beyond 2^53 loses digits. A result that
# overflows, or a NaN, falls back to the plain float64 operation (lo is then 0).


@_inline
def dd(x):
    """x as a double-double (exact)."""
    return (float(x), 0.0)


@_inline
def _normalized(s, e):
    hi = s + e
    lo = e - (hi - s)
    ok = math.isfinite(hi) & math.isfinite(lo)
    return (select(ok, hi, s), select(ok, lo, 0.0))


@_inline
def dd_add(x, y):
    """x + y (Knuth's TwoSum of the heads, plus the tails)."""
    s = x[0] + y[0]
    b = s - x[0]
    return _normalized(s, ((x[0] - (s - b)) + (y[0] - b)) + (x[1] + y[1]))


@_inline
def dd_mul(x, y):
    """x·y (the head's product exact through fma, plus the cross terms)."""
    p = x[0] * y[0]
    return _normalized(p, _fma(x[0], y[0], -p) + (x[0] * y[1] + x[1] * y[0]))


@_inline
def dd_neg(x):
    """-x."""
    return (-x[0], -x[1])


@_inline
def dd_div(x, y):
    """x / y (the heads' quotient, corrected by the remainder x - q·y over y)."""
    q = x[0] / y[0]
    r = dd_add(x, dd_neg(dd_mul((q, 0.0), y)))
    return _normalized(q, r[0] / y[0])


@_inline
def dd_value(x):
    """hi + lo rounded to float64."""
    return x[0] + x[1]


@_inline
def dd_exp(x):
    """e^(hi + lo) as e^hi·(1 + lo) (|lo| ≤ ulp(hi)/2: the next term is below ε²); e^hi
    where it is 0 or ∞."""
    e = exp64(x[0])
    return select(math.isfinite(e), e + e * x[1], e)


@_inline
def wide(x):
    """x as a float64 (Numba's float() keeps a float32 a float32): a float32 kernel's power
    q^γ is taken, and left, in float64, where a subnormal float32 q^γ would keep few digits."""
    return np.float64(x)


CHUNK = 4096  # elements per chunk of a parallel sum


@_inline
def chunk(c, n):
    """The index range of chunk c of n elements, as uint64 (no negative-index wraparound for
    Numba to check, which would keep the loop from vectorizing)."""
    start = np.uint64(c) * np.uint64(CHUNK)
    return range(start, min(start + np.uint64(CHUNK), np.uint64(n)))


@_inline
def chunks(n):
    """The number of chunks of n elements."""
    return (n + CHUNK - 1) // CHUNK


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64, as uint64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@intrinsic
def _float(typingctx, b):
    """The float64 whose IEEE bits are the uint64 ``b``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@_inline
def _reduce(x):
    """x = k·ln 2 + r_hi + r_lo, |r| ≤ ln 2 / 2, r_hi exact: (k as a float, k + 2048 as uint64,
    r_hi, eʳ − 1 − r_hi). eʳ − 1 = r + r²·(1/2! + r/3! + … + r¹¹/13!), Horner."""
    t = x * INV_LN2 + SHIFTER
    kd = t - SHIFTER
    kb = _bits(t) - _SHIFTER_BITS + _2048
    r_hi = x - kd * LN2_HI  # exact: k·LN2_HI has 43 bits and is within a factor 2 of x
    r_lo = -kd * LN2_LO
    r = r_hi + r_lo
    c = EXP_TAYLOR
    q = c[11]
    q = c[10] + r * q
    q = c[9] + r * q
    q = c[8] + r * q
    q = c[7] + r * q
    q = c[6] + r * q
    q = c[5] + r * q
    q = c[4] + r * q
    q = c[3] + r * q
    q = c[2] + r * q
    q = c[1] + r * q
    q = c[0] + r * q
    return kd, kb, r_hi, r_lo + (r * r) * q


@_inline
def _sum3(a, b, c):
    """a + b + c rounded about once, for |a| ≥ |b| ≫ |c| (or a = 0): Fast2Sum of a + b, whose
    rounding error is exact, added to c."""
    s = a + b
    return s + ((b - (s - a)) + c)


@_inline
def _scaled(m, kb):
    """m·2^k (k = kb − 2048 ∈ [−1076, 1024]) in two exact halves, so that neither power of two
    overflows and a subnormal result is rounded once."""
    h = kb >> _1
    return (m * _float((h - _1) << _52)) * _float((kb - h - _1) << _52)


@_inline
def _pow2(kb):
    """2^k (k = kb − 2048) for −1022 ≤ k ≤ 1023; garbage elsewhere, for callers to select away."""
    return _float((kb - _1025) << _52)


@_inline
def _expm1_parts(two_k, r_hi, tail):
    """2^k·eʳ − 1 = (2^k − 1) + 2^k·r_hi + 2^k·tail, the leading sum exact."""
    return _sum3(two_k - 1.0, two_k * r_hi, two_k * tail)


@_inline
def _clamp(x):
    """x within [−746, 710], where eˣ is 0 and ∞ beyond (NaN stays NaN). exp and expm1 reduce
    the same clamped x, so that LLVM computes their common part once where both are used."""
    return select(x > 710.0, 710.0, select(x < -746.0, -746.0, x))


@_inline
def exp64(x):
    kd, kb, r_hi, tail = _reduce(_clamp(x))
    return _scaled(_sum3(1.0, r_hi, tail), kb)


@_inline
def expm1_64(x):
    xc = _clamp(x)
    kd, kb, r_hi, tail = _reduce(xc)
    near = _expm1_parts(_pow2(kb), r_hi, tail)  # not selected where 2^k is out of range
    far = _scaled(_sum3(1.0, r_hi, tail), kb)  # k ≥ 1000: eˣ − 1 rounds to eˣ
    y = select(xc < -60.0, -1.0, select(kd < 1000.0, near, far))  # x < −60: eˣ − 1 rounds to −1
    return select(x == 0.0, x, y)  # x = ±0: keeps its sign


@_inline
def _log_parts(u, c):
    """log(u) + c for a normal u > 0 (c a correction much smaller than the result's ULP·|u|)."""
    b = _bits(u) + _TO_SQRT_HALF
    kd = _float((b >> _52) | _TWO52_BITS) - (TWO52 + 1023.0)
    f = _float((b & _MANTISSA) + _SQRT_HALF_HIGH) - 1.0
    s = f / (2.0 + f)
    z = s * s
    a = ATANH_SERIES
    q = a[9]
    q = a[8] + z * q
    q = a[7] + z * q
    q = a[6] + z * q
    q = a[5] + z * q
    q = a[4] + z * q
    q = a[3] + z * q
    q = a[2] + z * q
    q = a[1] + z * q
    q = a[0] + z * q
    half_f2 = 0.5 * f * f
    return s * (half_f2 + z * q) + (kd * LN2_LO + c) - half_f2 + f + kd * LN2_HI


@_inline
def log64(x):
    tiny = x < 2.2250738585072014e-308  # subnormal: scale into the normal range first
    u = select(tiny, x * 18014398509481984.0, x)  # 2^54
    y = _log_parts(select(x > 0.0, u, 1.0), 0.0) - select(tiny, 37.42994775023705, 0.0)
    y = select(x < math.inf, y, math.inf)
    return select(x > 0.0, y, select(x == 0.0, -math.inf, math.nan))


@_inline
def log1p64(x):
    u = 1.0 + x
    positive = u > 0.0
    # the rounding error of u = fl(1 + x), relative to u (exact for u < 2^54; u ≥ 4: from 1)
    c = select(u >= 4.0, 1.0 - (u - x), x - (u - 1.0)) / select(positive, u, 1.0)
    y = _log_parts(select(positive, u, 1.0), select(u >= TWO52 * 4.0, 0.0, c))
    y = select(x < math.inf, y, math.inf)
    y = select(x > -1.0, y, select(x == -1.0, -math.inf, math.nan))
    return select(x == 0.0, x, y)  # x = ±0: keeps its sign


@_inline
def tanh64(x):
    a = abs(x)
    kd, kb, r_hi, tail = _reduce(select(a > 30.0, -60.0, -2.0 * a))  # e^{−2|x|}, k ≥ −87
    two_k = _pow2(kb)
    m = _expm1_parts(two_k, r_hi, tail)  # e^{−2|x|} − 1
    e = two_k * _sum3(1.0, r_hi, tail)  # e^{−2|x|}
    # tanh|x| = −m/(2 + m) near 0, 1 − 2e/(1 + e) beyond tanh = 1/2
    return math.copysign(
        select(a < 0.5493061443340549, -m / (2.0 + m), 1.0 - 2.0 * e / (1.0 + e)), x
    )


@_inline
def sech64(x):
    e = exp64(-abs(x))  # sech x = 2e^{−|x|}/(1 + e^{−2|x|}): no overflow, no cancellation
    return (2.0 * e) / (1.0 + e * e)


def _dispatch(f64):
    """An overload typing rule: float64 as is; float32 in float64, rounded once; integers as
    float64."""

    def typer(x):
        if x == types.float64:
            return lambda x: f64(x)
        if x == types.float32:
            return lambda x: np.float32(f64(np.float64(x)))
        if isinstance(x, types.Integer | types.Boolean):
            return lambda x: f64(np.float64(x))
        return None

    return typer


def exp(x):
    """eˣ (vectorizable in Numba kernels; math.exp from Python)."""
    return math.exp(x)


def expm1(x):
    """eˣ − 1 (vectorizable in Numba kernels; math.expm1 from Python)."""
    return math.expm1(x)


def log(x):
    """ln x (vectorizable in Numba kernels; math.log from Python)."""
    return math.log(x)


def log1p(x):
    """ln(1 + x) (vectorizable in Numba kernels; math.log1p from Python)."""
    return math.log1p(x)


def tanh(x):
    """tanh x (vectorizable in Numba kernels; math.tanh from Python)."""
    return math.tanh(x)


def sech(x):
    """1/cosh x (vectorizable in Numba kernels)."""
    return 1.0 / math.cosh(x) if abs(x) < 710 else 0.0


for _python, _f64 in (
    (exp, exp64),
    (expm1, expm1_64),
    (log, log64),
    (log1p, log1p64),
    (tanh, tanh64),
    (sech, sech64),
):
    overload(_python, jit_options={"forceinline": True})(_dispatch(_f64))
