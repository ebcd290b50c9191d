"""symloss.vmath against mpmath: within 1 ULP (float64) and 0.5 ULP plus the float64 error
(float32) over the whole range, special values as IEEE defines them, and the constants from
their definitions."""

import math

import mpmath
import numba
import numpy as np
import pytest

from symloss import vmath

FUNCTIONS = {
    "exp": (vmath.exp, mpmath.exp),
    "expm1": (vmath.expm1, mpmath.expm1),
    "log": (vmath.log, mpmath.log),
    "log1p": (vmath.log1p, mpmath.log1p),
    "tanh": (vmath.tanh, mpmath.tanh),
    "sech": (vmath.sech, mpmath.sech),
}
BOUND64 = {"tanh": 2.5, "sech": 2.0}  # a division and a sum after a 1-ULP function


def _kernel(f):
    @numba.njit
    def apply(x, out):
        for i in range(x.size):
            out[i] = f(x[i])

    return apply


KERNELS = {name: _kernel(f) for name, (f, _) in FUNCTIONS.items()}


def _apply(name, x):
    out = np.empty_like(x)
    KERNELS[name](x, out)
    return out


def _points(name, dtype, rng):
    """Random points over the function's domain, on every scale, plus its edges."""
    finfo = np.finfo(dtype)
    mags = np.exp(rng.uniform(np.log(finfo.tiny / 2**20), np.log(finfo.max), 3000))
    signed = np.concatenate([mags, -mags])
    if name in ("tanh", "sech"):
        x = np.concatenate([signed[np.abs(signed) < 800], rng.normal(0, 3, 3000)])
        edges = [0.0, 1e-300, 0.5, -0.5, 19.0, 20.0, 354.0, 355.0, 372.0, 745.0, 1e-8]
    elif name in ("exp", "expm1"):
        lim = 746.0 if dtype == np.float64 else 104.0
        x = np.concatenate(
            [signed[np.abs(signed) < lim], rng.uniform(-lim, lim, 3000), rng.normal(0, 1, 2000)]
        )
        edges = [0.0, 1e-300, -1e-300, 709.78, 709.79, -708.4, -745.1, -745.2, 88.7, -87.3]
        edges += [-103.9, 0.34657, -0.34657, 0.3466, 1e-8, -1e-8, 40.0, -40.0, 700.0]
    elif name == "log":
        x = np.concatenate([mags, 1 + rng.uniform(-0.5, 0.5, 2000)])
        edges = [1.0, 2.0, 0.5, 5e-324, 2.2250738585072014e-308, 1.7e308, 1.4142135, 0.7071067]
        edges += [float(np.float32(1e-45)), 1 + 1e-15, 1 - 1e-16]
    else:
        x = np.concatenate([mags, -rng.uniform(0, 1, 3000), rng.uniform(-1e-3, 1e-3, 2000)])
        edges = [0.0, -0.5, -1 + 2**-53, -1 + 1e-10, 0.41421356, -0.29289321, 1e-300, 3.0]
        edges += [4.0, 2.0**53, 2.0**54, 1e300, -1e-300, float(np.float32(-1 + 2**-24))]
    with np.errstate(over="ignore"):
        x = np.concatenate([x, np.asarray(edges)]).astype(dtype)
    return x[np.isfinite(x)]


def _ulp_errors(name, x, got):
    reference = FUNCTIONS[name][1]
    dtype = x.dtype.type
    errors = []
    with mpmath.workprec(200):
        for xi, gi in zip(x.tolist(), got.tolist()):
            errors.append(_ulp_error(reference, dtype, xi, gi))
    return np.asarray(errors)


def _ulp_error(reference, dtype, xi, gi):
    """|gi − f(xi)| in units of the last place of f(xi) rounded to dtype."""
    exact = reference(mpmath.mpf(xi))
    with np.errstate(over="ignore"):
        want = dtype(float(exact))
    if not np.isfinite(want) or not np.isfinite(gi):
        return 0.0 if gi == want else math.inf
    ulp = float(np.spacing(np.abs(want))) if want != 0 else float(np.spacing(dtype(0)))
    return float(abs(mpmath.mpf(gi) - exact) / ulp)


@pytest.mark.parametrize("dtype, bound", [(np.float64, 1.0), (np.float32, 0.51)])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_within_the_ulp_bound_against_mpmath(name, dtype, bound):
    bound = BOUND64.get(name, bound) if dtype == np.float64 else bound
    x = _points(name, dtype, np.random.default_rng(11))
    got = _apply(name, x)
    assert got.dtype == dtype
    err = _ulp_errors(name, x, got)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}({x[worst]!r}) = {got[worst]!r}: {err[worst]:.3f} ULP"


SPECIAL = {
    "exp": [(np.inf, np.inf), (-np.inf, 0.0), (np.nan, np.nan), (1000.0, np.inf), (-1000, 0.0)],
    "expm1": [(np.inf, np.inf), (-np.inf, -1.0), (np.nan, np.nan), (-0.0, -0.0), (800, np.inf)],
    "log": [(0.0, -np.inf), (-1.0, np.nan), (np.inf, np.inf), (np.nan, np.nan), (-np.inf, np.nan)],
    "log1p": [(-1.0, -np.inf), (-2.0, np.nan), (np.inf, np.inf), (np.nan, np.nan), (-0.0, -0.0)],
    "tanh": [(np.inf, 1.0), (-np.inf, -1.0), (np.nan, np.nan), (-0.0, -0.0), (1e300, 1.0)],
    "sech": [(np.inf, 0.0), (-np.inf, 0.0), (np.nan, np.nan), (0.0, 1.0), (-1e300, 0.0)],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values(name, dtype):
    x = np.array([a for a, _ in SPECIAL[name]], dtype=dtype)
    want = np.array([b for _, b in SPECIAL[name]], dtype=dtype)
    got = _apply(name, x)
    np.testing.assert_array_equal(got, want)
    signed = ~np.isnan(want)  # zeros keep their sign (a NaN's sign bit is not defined)
    assert list(np.signbit(got[signed])) == list(np.signbit(want[signed]))


def test_constants_from_their_definitions():
    ln2 = mpmath.log(2)
    hi = np.float64(vmath.LN2_HI)
    assert int(hi.view(np.uint64)) & ((1 << 21) - 1) == 0  # k·LN2_HI exact for |k| < 2^21
    assert abs(mpmath.mpf(vmath.LN2_HI) + mpmath.mpf(vmath.LN2_LO) - ln2) < mpmath.mpf(2) ** -85
    assert vmath.INV_LN2 == float(1 / ln2)
    assert vmath.EXP_TAYLOR == tuple(float(1 / mpmath.factorial(j)) for j in range(2, 14))


def test_python_spellings_are_maths():
    for name, (f, ref) in FUNCTIONS.items():
        assert f(0.75) == pytest.approx(float(ref(mpmath.mpf(0.75))), rel=1e-15), name
