"""symloss.seqmath, the sequence kernels' scalar helpers, against independent values: exact
rationals (fractions.Fraction) for the error-free transformations and the extended
double-doubles, mpmath at 60 digits for the log-sum-exps, e^x and log-softmax, and a plain
O(nm) dynamic program for the bit-parallel edit distance."""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from symloss import seqmath

EPS = 2.0**-52  # float64's spacing at 1
DIGITS = 60
NAN, INF = math.nan, math.inf


def _f(x):
    return Fraction(float(x))


def _xvalue(h, lo, e):
    """(h + lo)·2^e exactly."""
    return (_f(h) + _f(lo)) * Fraction(2) ** int(e)


def _relative(got, want):
    return abs(got - want) / abs(want)


# -- error-free transformations ----------------------------------------------------------------


def test_two_sum_is_exact(rng):
    a = rng.normal(size=200) * 2.0 ** rng.integers(-80, 80, 200)
    b = rng.normal(size=200) * 2.0 ** rng.integers(-80, 80, 200)
    inexact = 0
    for x, y in zip(a.tolist(), b.tolist()):
        s, e = seqmath.two_sum(x, y)
        assert s == x + y and _f(s) + _f(e) == _f(x) + _f(y)
        inexact += e != 0.0
    assert inexact > 100  # the pairs do round: e carries what the sum lost


def test_two_prod_is_exact(rng):
    a = rng.uniform(-1, 1, 200) * 2.0 ** rng.integers(-60, 1, 200)
    b = rng.uniform(-1, 1, 200) * 2.0 ** rng.integers(-60, 1, 200)
    for x, y in zip(a.tolist() + [0.5, 1 - 2**-53], b.tolist() + [-0.75, 1 - 2**-53]):
        p, e = seqmath.two_prod(x, y)
        assert p == x * y and _f(p) + _f(e) == _f(x) * _f(y)


# -- extended double-doubles (h + lo)·2^e --------------------------------------------------------


def _normalized(h, lo):
    return 0.5 <= abs(h) < 1.0 and abs(lo) <= 2.0**-54  # |lo| ≤ ulp(h)/2 = 2^-54


def _random_x(rng, n, exponents=10_000):
    """n normalized extended double-doubles: |h| in [1/2, 1), |lo| ≤ 2^-54, e in ±exponents."""
    h = rng.uniform(0.5, 1.0, n) * rng.choice([-1.0, 1.0], n)
    lo = rng.uniform(-1.0, 1.0, n) * 2.0**-54
    e = rng.integers(-exponents, exponents, n)
    return list(zip(h.tolist(), lo.tolist(), e.tolist()))


def test_xnorm_normalizes_exactly(rng):
    h = rng.normal(size=100) * 2.0 ** rng.integers(-500, 500, 100)
    lo = h * rng.uniform(-1.0, 1.0, 100) * 2.0 ** rng.integers(-60, 0, 100)  # |lo| ≤ |h|
    e = rng.integers(-(10**6), 10**6, 100)
    for x in zip(h.tolist(), lo.tolist(), e.tolist()):
        y = seqmath.xnorm(*x)
        assert _normalized(y[0], y[1]) and _xvalue(*y) == _xvalue(*x)
    assert seqmath.xnorm(0.0, 0.0, 7) == (0.0, 0.0, 0)
    assert seqmath.xnorm(0.75, -0.75, 7) == (0.0, 0.0, 0)
    assert seqmath.xnorm(-3.0, 0.0, 2) == (-0.75, 0.0, 4)


def test_xmul_against_fractions(rng):
    xs, ys = _random_x(rng, 100), _random_x(rng, 100)
    for x, y in zip(xs, ys):
        z = seqmath.xmul(*x, *y)
        assert _normalized(z[0], z[1])
        assert _relative(_xvalue(*z), _xvalue(*x) * _xvalue(*y)) <= Fraction(2) ** -100


def test_xadd_against_fractions(rng):
    xs, ys = _random_x(rng, 120), _random_x(rng, 120)
    gaps = [0, 0, 1, 5, 53, 60, 110, 1000, 5000]
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i % 2:  # exponents gapped by a set amount, either way round
            y = (y[0], y[1], x[2] + gaps[i % len(gaps)] * (-1) ** (i // 2))
        if i % 10 == 0:  # cancellation: y ≈ −x
            y = (-x[0], -x[1] * 0.5, x[2])
        z = seqmath.xadd(*x, *y)
        exact = _xvalue(*x) + _xvalue(*y)
        assert _normalized(z[0], z[1])
        scale = abs(_xvalue(*x)) + abs(_xvalue(*y))
        assert abs(_xvalue(*z) - exact) <= Fraction(2) ** -100 * scale
    x = xs[0]
    assert seqmath.xadd(0.0, 0.0, 0, *x) == x and seqmath.xadd(*x, 0.0, 0.0, 0) == x
    assert seqmath.xadd(*x, -x[0], -x[1], x[2]) == (0.0, 0.0, 0)


def _xexp_log(h, lo, e):
    """log((h + lo)·2^e) in mpmath."""
    with mpmath.workdps(DIGITS):
        return mpmath.log(mpmath.mpf(h) + lo) + e * mpmath.log(2)


@pytest.mark.parametrize("x", [-1e4, -745.0, -700.0, -699.9, -1.0, -1e-300, 0.0, -7e5])
def test_xexp_against_mpmath(x):
    h, lo, e = seqmath.xexp(x)
    assert lo == 0.0 and 0.5 <= h < 1.0
    with mpmath.workdps(DIGITS):
        got = mpmath.mpf(h) * mpmath.mpf(2) ** e
        assert abs(got / mpmath.exp(x) - 1) <= 1e-15


@pytest.mark.parametrize(
    "x",
    [
        -1e6,
        -2e12,
        -1e13,  # was (inf, nan, e): k from x/_LN2_HI left r = x - k·log 2 above 709
        -1e30,
    ],
)
def test_xexp_far_below_does_not_underflow(x):
    # beyond |k| = 2^20, r = x − k·log 2 carries ε·|x|, the conditioning of e^x in x itself;
    # below −1e15 the docstring takes e^x as e^{−1e15}
    h, lo, e = seqmath.xexp(x)
    assert lo == 0.0 and 0.5 <= h < 1.0
    target = max(x, -1e15)
    assert abs(_xexp_log(h, lo, e) - target) <= 4 * EPS * abs(target)


def test_xexp_of_minus_inf():
    assert seqmath.xexp(-INF) == (0.0, 0.0, 0)


# -- log-sum-exps ---------------------------------------------------------------------------------


def _lse(*xs):
    with mpmath.workdps(DIGITS):
        return mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(x))) for x in xs))


TRIPLES = [
    (0.0, -40.0, -40.0),  # one term dominates: log1p keeps 2e^-40
    (-40.0, 0.0, -40.0),
    (-40.0, -40.0, 0.0),
    (1.0, 1.0, 1.0),
    (710.0, 709.0, 0.0),  # e^710 overflows: shifted by the largest
    (-800.0, -801.0, -900.0),
    (-INF, 0.5, 3.0),
    (-INF, -INF, 2.0),
    (1e300, -1e300, 0.0),
]


def _triples(rng):
    return TRIPLES + [tuple(t) for t in rng.normal(0, 20, (60, 3)).tolist()]


def test_lse3_against_mpmath(rng):
    for t in _triples(rng):
        got, want = seqmath.lse3(*t), _lse(*t)
        m = max(t)
        assert abs(got - want) <= 2 * EPS * (abs(m) + (float(want) - m)), t
    assert seqmath.lse3(0.0, -40.0, -40.0) > 0.0
    assert seqmath.lse3(INF, 0.0, -INF) == INF
    assert seqmath.lse3_direct(0.0, -40.0, -40.0) == 0.0  # m + log(Σ) loses the small terms


def test_lse3_direct_against_mpmath(rng):
    for t in _triples(rng):
        got, want = seqmath.lse3_direct(*t), _lse(*t)
        assert abs(got - want) <= 4 * EPS * (abs(max(t)) + 1), t


@pytest.mark.parametrize("lse", [seqmath.lse3, seqmath.lse3_direct])
def test_lse3_special_values(lse):
    assert lse(-INF, -INF, -INF) == -INF
    assert lse(-INF, 1.5, -INF) == 1.5
    for t in [(NAN, 1.0, 2.0), (1.0, NAN, 2.0), (1.0, 2.0, NAN), (NAN, -INF, -INF), (NAN,) * 3]:
        assert math.isnan(lse(*t)), t


def test_lse3_propagates_nan_among_minus_inf():
    for t in [(-INF, NAN, -INF), (-INF, -INF, NAN), (NAN, -INF, -INF)]:
        assert math.isnan(seqmath.lse3(*t)), t


def test_lse3_direct_propagates_nan_among_minus_inf():
    for t in [(-INF, NAN, -INF), (-INF, -INF, NAN)]:
        assert math.isnan(seqmath.lse3_direct(*t)), t


def _dd(rng, scale):
    hi = float(rng.normal() * scale)
    return (hi, float(hi * rng.uniform(-0.5, 0.5) * 2.0**-53))


def _shifted_reference(c, us):
    """(index of the largest c·u_i, log1p(Σ_{i≠m} e^{c(u_i − u_m)}), and its error bound) from
    the exact values u_i = hi + lo."""
    with mpmath.workdps(DIGITS):
        u = [mpmath.mpf(hi) + mpmath.mpf(lo) for hi, lo in us]
        m = max(range(3), key=lambda i: c * u[i])
        x = [c * (u[i] - u[m]) for i in range(3) if i != m]
        s = mpmath.fsum(mpmath.exp(v) for v in x)
        # each difference rounded once and multiplied by c: e^x moves by (|x| + 1)·ε
        bound = 2 * EPS * (mpmath.fsum((abs(v) + 1) * mpmath.exp(v) for v in x) + mpmath.log1p(s))
        return m, mpmath.log1p(s), bound + 2.0**-1074  # L may underflow


def test_shifted_lse3_against_mpmath(rng):
    cases = []
    for c in [1.0, -0.5, -10.0, 3.0]:
        for scale in [1.0, 10.0, 1e8]:
            for _ in range(6):
                cases.append((c, tuple(_dd(rng, scale) for _ in range(3))))
    # the tails carry the differences: u ≈ 1e16, whose float64 spacing is 2
    cases.append((1.0, ((1e16, 0.5), (1e16, -0.25), (1e16 + 2, 0.0))))
    cases.append((-1.0, ((1e16, 0.5), (1e16, -0.25), (1e16 + 2, 0.0))))
    for c, us in cases:
        u_m, spread = seqmath.shifted_lse3(c, *us)
        m, want, bound = _shifted_reference(c, us)
        assert u_m == us[m], (c, us)
        assert abs(spread - want) <= bound, (c, us)


def test_shifted_lse3_reads_the_tails():
    us = ((1e16, 0.5), (1e16, -0.25), (1e16 + 2, 0.0))
    _, spread = seqmath.shifted_lse3(1.0, *us)
    assert abs(spread - math.log1p(math.exp(-1.5) + math.exp(-2.25))) <= 2 * EPS * spread
    heads = tuple((hi, 0.0) for hi, _ in us)  # the same cells without their tails differ
    assert seqmath.shifted_lse3(1.0, *heads)[1] != spread


def test_shifted_lse3_propagates_nan():
    # a NaN head (vmath's double-double arithmetic never leaves a NaN tail: it falls back to
    # the float64 operation, lo = 0)
    finite = [(1.0, 2.0**-60), (2.0, 0.0), (0.5, -(2.0**-57))]
    for c in [1.0, -2.0]:
        for i in range(3):
            us = list(finite)
            us[i] = (NAN, 0.0)
            assert math.isnan(seqmath.shifted_lse3(c, *us)[1]), (c, us)


# -- log-softmax of a CTC frame -------------------------------------------------------------------


def lse_tolerance(row):
    """The relative error bound of log1p(Σ_{c≠top} e^{x_c − m}) in float64: e^{x_c − m}
    within 1 ULP of e^{fl(x_c − m)}, which moves by |x_c − m|·ε/2 from the rounded difference,
    n sums of positive terms and log1p's 1 ULP (d log1p(S) ≤ dS/S · log1p(S))."""
    top = row.index(max(row))
    d = [v - row[top] for c, v in enumerate(row) if c != top and v > -INF]
    weights = [math.exp(v) for v in d]
    spread = sum(w * abs(v) for w, v in zip(weights, d)) / sum(weights) if sum(weights) else 0.0
    return EPS * (2 + spread / 2 + len(row) / 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_frame_against_mpmath(rng, dtype):
    t_n, n_n, n_classes = 3, 2, 5
    z = rng.normal(0, 5, (t_n, n_n, n_classes))
    z[1, 1] = [0.0, -40.0, -40.0, -40.0, -40.0]  # a dominant class
    z[2, 0] = [-INF, 1.0, 2.0, -INF, 0.0]  # masked classes
    z[0, 1, 3] = 90.0
    z = z.astype(dtype)
    for n in range(n_n):
        lp = np.full((t_n, n_classes), 7.0)
        for t in range(t_n):
            seqmath.log_softmax_frame(z, t, n, lp)
            assert (lp[t + 1 :] == 7.0).all()  # it writes its frame's row only
            row = [float(v) for v in z[t, n]]
            m = max(row)
            with mpmath.workdps(DIGITS):
                log_total = _lse(*row)
                shift = log_total - m
                for c, v in enumerate(row):
                    if v == -INF:
                        assert lp[t, c] == -INF
                        continue
                    want = mpmath.mpf(v) - log_total
                    tolerance = 2 * EPS * abs(v - m) + lse_tolerance(row) * shift
                    assert abs(lp[t, c] - want) <= tolerance, (t, n, c)
    assert lp[1, 0] < 0.0  # −log1p(4e^-40), not rounded to 0


def test_log_softmax_frame_special_rows():
    z = np.array([[[1.0, NAN, 0.0], [-INF, -INF, -INF]]])
    lp = np.zeros((1, 3))
    seqmath.log_softmax_frame(z, 0, 0, lp)
    assert np.isnan(lp).all()  # a NaN logit: the whole frame
    seqmath.log_softmax_frame(z, 0, 1, lp)
    assert np.isnan(lp).all()  # all -inf: 0/0


# -- edit distance by bit vectors -----------------------------------------------------------------


def levenshtein(h, r):
    """The unit-cost edit distance by the O(nm) table, one row at a time."""
    row = list(range(len(r) + 1))
    for i, a in enumerate(h, 1):
        prev, row[0] = row[0], i
        for j, b in enumerate(r, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a != b))
    return row[-1]


ALPHABETS = {
    "small": [0, 1, 2],
    "codes beyond the table": [0, 5, 255, seqmath.TABLE, 999, 2**40, -3],
}


@pytest.mark.parametrize("alphabet", ALPHABETS.values(), ids=ALPHABETS.keys())
def test_edit_distance_bits_against_the_table(rng, alphabet):
    peq = np.zeros(seqmath.TABLE, dtype=np.uint64)
    for r_n in [1, 2, 17, 63, 64]:
        for h_n in [0, 1, 5, 63, 64, 100]:
            for _ in range(2):
                h = rng.choice(alphabet, h_n).astype(np.int64)
                r = rng.choice(alphabet, r_n).astype(np.int64)
                got = seqmath.edit_distance_bits(h, r, peq)
                assert got == levenshtein(h.tolist(), r.tolist()), (h, r)
                assert not peq.any()  # left zeroed
    r = rng.choice(alphabet, 64).astype(np.int64)
    assert seqmath.edit_distance_bits(r, r, peq) == 0


def test_edit_distance_bits_known_values():
    peq = np.zeros(seqmath.TABLE, dtype=np.uint64)

    def d(h, r):
        return seqmath.edit_distance_bits(np.array(h, np.int64), np.array(r, np.int64), peq)

    assert d([ord(c) for c in "sitting"], [ord(c) for c in "kitten"]) == 3
    assert d([1000 + ord(c) for c in "sitting"], [1000 + ord(c) for c in "kitten"]) == 3
    assert d([7] * 70, [8] * 64) == 70
    assert d([], [3] * 64) == 64
