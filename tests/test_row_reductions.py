"""symloss.backends.numba.reductions: each kind's lines, compiled into a one-row Numba kernel,
against independent values: mpmath at 60 digits, exact sums (fractions.Fraction, math.fsum),
Python's max, and hand-known rows (all -inf, a NaN, a skipped class, ties, rows of 1e200)."""

import functools
import math
from fractions import Fraction

import mpmath
import numba
import numpy as np
import pytest

from symloss import vmath
from symloss.backends.numba.reductions import KINDS, reduction_code

EPS = 2.0**-52  # float64's spacing at 1
DIGITS = 60
# the locals each kind leaves (its symbol "s"), returned by the test kernel in this order
OUTPUTS = {
    "logsumexp": ("s_max", "s_top", "s_log1p"),
    "max": ("s", "s_arg"),
    "norm": ("s",),
    "scaled_norm": ("s",),
    "dd_sum": ("s", "s_dd"),
    "sum": ("s",),
}
# the term in c of each kind as the kernels print it: u_c² for a norm, a double-double for dd_sum
BODY = {"norm": "float64(x[i, c]) * float64(x[i, c])", "dd_sum": "vmath.dd(x[i, c])"}
NAMESPACE = {
    "math": math,
    "vmath": vmath,
    "select": vmath.select,
    "float32": np.float32,
    "float64": np.float64,
}


def _compile(reductions, dtype):
    """A Numba kernel row(x, i, k, n_classes) running the reductions' lines over row i of x
    (k: the class a skipping reduction leaves out) and returning their outputs."""
    lines, outputs = [], []
    for kind, symbol, skip in reductions:
        lines += reduction_code(kind, symbol, BODY.get(kind, "x[i, c]"), skip, dtype)
        outputs += [name.replace("s", symbol, 1) for name in OUTPUTS[kind]]
    source = "def row(x, i, k, n_classes):\n" + "".join(f"    {line}\n" for line in lines)
    return _jit(source + f"    return ({', '.join(outputs)},)\n")


@functools.cache
def _jit(source):
    """The source's function, compiled by Numba as the kernels are (once per text: the kinds
    whose lines do not depend on the dtype share it)."""
    namespace = dict(NAMESPACE)
    exec(compile(source, "<row reduction>", "exec"), namespace)
    return numba.njit(error_model="numpy")(namespace["row"])


@functools.cache
def _kernel(kind, dtype, skip):
    return _compile([(kind, "s", "k" if skip else "")], dtype)


def reduce(kind, row, dtype="float64", skip=None, lines="float64"):
    """The outputs of one ``kind`` reduction over ``row`` (an array of ``dtype``), from the
    lines generated for a ``lines`` kernel."""
    x = np.array(row, dtype=dtype).reshape(1, -1)
    f = _kernel(kind, lines, skip is not None)
    return f(x, 0, -1 if skip is None else skip, x.shape[1])


def _mp(row):
    return [mpmath.mpf(float(v)) for v in row]


def lse_parts(row, skip=None):
    """(m, top, log1p(Σ_{c≠top} e^{x_c − m}), log Σ e^{x_c}) over the kept classes, in mpmath."""
    kept = [(c, v) for c, v in enumerate(row) if c != skip]
    m = max(v for _, v in kept)
    top = next(c for c, v in kept if v == m)
    with mpmath.workdps(DIGITS):
        rest = mpmath.fsum(mpmath.exp(mpmath.mpf(float(v)) - float(m)) for c, v in kept if c != top)
        return m, top, mpmath.log1p(rest), float(m) + mpmath.log1p(rest)


def lse_tolerance(row, top):
    """The relative error bound of log1p(Σ_{c≠top} e^{x_c − m}) in float64: each e^{x_c − m}
    within 1 ULP of e^{fl(x_c − m)}, which moves by |x_c − m|·ε/2 from the rounded difference,
    n sums of positive terms and log1p's 1 ULP (d log1p(S) ≤ dS/S · log1p(S))."""
    d = [v - row[top] for c, v in enumerate(row) if c != top and v > -math.inf]
    weights = [math.exp(v) for v in d]
    spread = sum(w * abs(v) for w, v in zip(weights, d)) / sum(weights) if sum(weights) else 0.0
    return EPS * (2 + spread / 2 + len(row) / 2)


def ulps(got, want):
    """|got − want| in units of the float64 spacing at want (want an mpf)."""
    return float(abs(mpmath.mpf(got) - want) / np.spacing(abs(float(want))))


def ulps32(got, want):
    return float(abs(mpmath.mpf(got) - want) / float(np.spacing(np.float32(abs(float(want))))))


def _is_float32(v):
    return float(np.float32(v)) == v


# -- logsumexp -------------------------------------------------------------------------------


def test_logsumexp_against_mpmath(rng):
    rows = list(rng.normal(0.0, 10.0, (30, 7)))
    rows += [[3.0, 3.0, 1.0], [710.0, 709.0, -1e300], [-745.0, -746.0, -800.0], [1.0]]
    for row in rows:
        m, top, log1p = reduce("logsumexp", row)[:3]
        want_m, want_top, want_log1p, want = lse_parts(row)
        assert m == want_m and top == want_top  # the first class attaining the maximum
        assert abs(mpmath.mpf(log1p) - want_log1p) <= lse_tolerance(row, top) * want_log1p
        assert abs(mpmath.mpf(m + log1p) - want) <= 2 * EPS * (abs(m) + log1p)


def test_logsumexp_keeps_the_digits_of_a_dominant_class():
    row = [0.0, -40.0, -40.0]
    m, top, log1p = reduce("logsumexp", row)
    _, _, want_log1p, want = lse_parts(row)
    assert (m, top) == (0.0, 0)
    assert ulps(m + log1p, want) <= 2  # 2e^-40, to the last digits
    assert math.log(sum(math.exp(v) for v in row)) == 0.0  # log Σ e^x loses all of them


def test_logsumexp_of_rows_without_mass():
    for row in ([-math.inf, -math.inf, -math.inf], [-math.inf], []):
        m, _, log1p = reduce("logsumexp", row)
        assert m == -math.inf and log1p == 0.0
    m, top, log1p = reduce("logsumexp", [-math.inf, 2.0, -math.inf])
    assert (m, top, log1p) == (2.0, 1, 0.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logsumexp_propagates_nan(dtype):
    for row in ([1.0, math.nan, 2.0], [math.nan, 1.0, 2.0], [1.0, 2.0, math.nan]):
        m, _, log1p = reduce("logsumexp", row, dtype, lines=dtype)
        assert math.isnan(m + log1p)
    m, _, log1p = reduce("logsumexp", [math.nan, -math.inf], dtype, lines=dtype)
    assert math.isnan(m + log1p)


def test_logsumexp_skips_a_class(rng):
    cases = [
        ([5.0, 0.0, 1.0], 0),  # the largest class left out
        ([5.0, 0.0, 1.0], 2),
        ([2.0, 2.0, 1.0], 0),  # tied with the next: that one is the top, class 0 not counted
        ([math.nan, 0.0, 1.0], 0),  # a NaN in the skipped class does not reach the sum
        ([0.0, math.inf, 1.0], 1),
    ]
    cases += [(row, int(k)) for row, k in zip(rng.normal(0, 5, (10, 6)), rng.integers(0, 6, 10))]
    for row, k in cases:
        m, top, log1p = reduce("logsumexp", row, skip=k)
        want_m, want_top, want_log1p, want = lse_parts(row, skip=k)
        assert (m, top) == (want_m, want_top)
        tolerance = lse_tolerance([v for c, v in enumerate(row) if c != k], top - (top > k))
        assert abs(mpmath.mpf(log1p) - want_log1p) <= tolerance * want_log1p
        assert abs(mpmath.mpf(m + log1p) - want) <= 2 * EPS * (abs(m) + log1p)
    m, _, log1p = reduce("logsumexp", [-math.inf, 3.0, -math.inf], skip=1)
    assert m == -math.inf and log1p == 0.0


def test_logsumexp_float32_rounds_its_log1p_once(rng):
    rows = rng.normal(0.0, 5.0, (20, 6)).astype(np.float32)
    unrounded = 0
    for row in rows:
        m, top, log1p = reduce("logsumexp", row, "float32", lines="float32")
        want_m, want_top, want_log1p, _ = lse_parts([float(v) for v in row])
        assert (m, top) == (want_m, want_top)
        assert _is_float32(log1p) and ulps32(log1p, want_log1p) <= 0.51
        unrounded += not _is_float32(reduce("logsumexp", row, "float32", lines="float64")[2])
    assert unrounded > 0  # the float64 lines leave the float64 value: the rounding is the lines'


def test_two_reductions_in_one_kernel_keep_apart(rng):
    both = _compile([("logsumexp", "a", ""), ("logsumexp", "b", "k")], "float64")
    for row in rng.normal(0, 3, (5, 5)):
        got = both(row.reshape(1, -1), 0, 2, 5)
        assert got == reduce("logsumexp", row) + reduce("logsumexp", row, skip=2)


# -- max -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_max_and_its_first_class(rng, dtype):
    rows = [[1.0, 3.0, 3.0, 2.0], [7.0, 7.0, 7.0], [-math.inf, 0.0, -math.inf], [-2.5]]
    rows += [list(r) for r in rng.integers(0, 4, (20, 6)).astype(float)]  # many ties
    rows += [list(r) for r in rng.normal(0, 1e3, (5, 6))]
    for row in rows:
        row = [float(v) for v in np.array(row, dtype=dtype)]
        assert reduce("max", row, dtype, lines=dtype) == (max(row), row.index(max(row)))
    assert reduce("max", [-math.inf, -math.inf], dtype, lines=dtype)[0] == -math.inf
    for row in ([1.0, math.nan, 3.0], [math.nan, 1.0], [3.0, math.nan], [math.nan]):
        assert math.isnan(reduce("max", row, dtype, lines=dtype)[0])


# -- norm, scaled_norm -----------------------------------------------------------------------


def _norm(row):
    with mpmath.workdps(DIGITS):
        return mpmath.sqrt(mpmath.fsum(v * v for v in _mp(row)))


def test_norm_accumulates_float32_squares_in_float64(rng):
    row = np.array([3e38, -3e38, 1.0], dtype=np.float32)
    (s,) = reduce("norm", row, "float32", lines="float32")
    assert math.isfinite(s) and ulps(s, _norm(row)) <= 1
    with np.errstate(over="ignore"):
        assert np.sqrt(np.sum(row * row)) == np.inf  # squared in float32, it overflows
    for row in rng.normal(0, 10, (10, 7)):
        assert ulps(reduce("norm", row)[0], _norm(row)) <= 2
    assert math.isnan(reduce("norm", [1.0, math.nan])[0])


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1.0])
def test_scaled_norm_of_huge_and_tiny_rows(rng, scale):
    for row in rng.normal(0, 1, (10, 6)) * scale:
        (s,) = reduce("scaled_norm", row)
        assert ulps(s, _norm(row)) <= 2
        naive = math.sqrt(sum(float(u) * float(u) for u in row))  # Σu² over- or underflows
        assert (ulps(naive, _norm(row)) <= 2) == (scale == 1.0)


def test_scaled_norm_special_rows():
    for row in ([3e200, 4e200], [1e300, 1e-300, -1e300], [1e308, 1e308], [1e-310, 3e-320]):
        assert ulps(reduce("scaled_norm", row)[0], _norm(row)) <= 2
    assert reduce("scaled_norm", [5e-324] * 4) == (1e-323,)  # √4 · the least subnormal
    assert reduce("scaled_norm", [0.0, -0.0]) == (0.0,)
    assert reduce("scaled_norm", []) == (0.0,)
    assert reduce("scaled_norm", [1.0, -math.inf]) == (math.inf,)
    assert reduce("scaled_norm", [1.7e308, 1.7e308]) == (math.inf,)  # √2·1.7e308 overflows
    for row in ([math.nan, 1.0], [1.0, math.nan], [math.nan, math.inf], [1e200, math.nan]):
        assert math.isnan(reduce("scaled_norm", row)[0])


# -- dd_sum, sum -----------------------------------------------------------------------------


def _exact(row):
    return sum((Fraction(float(v)) for v in row), Fraction(0))


CANCELLING = [
    [2.0**60, 1.0, -(2.0**60), 2.0**-30],
    [1e16, 3.14159, -1e16, -3.0],
    [0.1] * 10 + [-1.0],
    [1e16, 0.5, 2.0**-40, -1e16, -0.5],
]


def test_dd_sum_is_exact_on_cancelling_terms():
    for row in CANCELLING:
        s, (hi, lo) = reduce("dd_sum", row)
        assert Fraction(hi) + Fraction(lo) == _exact(row)
        assert s == math.fsum(row) == float(_exact(row))
    assert sum(CANCELLING[2]) != math.fsum(CANCELLING[2])  # a float64 sum gets these wrong


def test_dd_sum_error_bound(rng):
    for _ in range(20):
        v = rng.normal(size=6) * 10.0 ** rng.uniform(-8, 12, 6)
        row = rng.permutation(np.concatenate([v, -v * (1 + rng.normal(size=6) * 1e-12)]))
        s, (hi, lo) = reduce("dd_sum", row)
        bound = len(row) * 2.0**-104 * sum(abs(Fraction(float(u))) for u in row)
        assert abs(Fraction(hi) + Fraction(lo) - _exact(row)) <= bound
        assert ulps(s, mpmath.mpf(_exact(row).numerator) / _exact(row).denominator) <= 1


def test_dd_sum_float32_rounds_the_exact_sum_once():
    row = np.array([1e8, 1.0, -1e8, 3e-5], dtype=np.float32)
    s, _ = reduce("dd_sum", row, "float32", lines="float32")
    assert s == float(np.float32(float(_exact(row))))
    assert s != np.sum(row)  # float32 sums lose the 1 next to 1e8
    assert reduce("dd_sum", row, "float32", lines="float64")[0] == float(_exact(row))


def test_dd_sum_special_values():
    assert reduce("dd_sum", [1.0, math.inf])[0] == math.inf
    assert math.isnan(reduce("dd_sum", [math.inf, -math.inf])[0])
    assert math.isnan(reduce("dd_sum", [1.0, math.nan, 2.0])[0])
    assert reduce("dd_sum", [])[0] == 0.0


def test_sum(rng):
    for row in rng.normal(0, 10, (10, 9)):
        (s,) = reduce("sum", row)
        assert abs(s - math.fsum(row)) <= len(row) * EPS * math.fsum(abs(row))
    assert math.isnan(reduce("sum", [1.0, math.nan])[0])
    assert reduce("sum", []) == (0.0,)
    # float32 terms of few bits: their float64 sum is exact, then rounded once to float32
    rows = rng.uniform(0.5, 2.0, (10, 8)).astype(np.float32)
    rounded = 0
    for row in rows:
        exact = math.fsum(float(v) for v in row)
        (s,) = reduce("sum", row, "float32", lines="float32")
        assert s == float(np.float32(exact))
        assert reduce("sum", row, "float32", lines="float64") == (exact,)
        rounded += s != exact
    assert rounded > 0


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="'median'"):
        reduction_code("median", "s", "x[i, c]", "", "float64")
    assert set(KINDS) == set(OUTPUTS)  # every kind is tested here
