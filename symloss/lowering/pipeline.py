"""`lower`: the passes an expression goes through, in order (`PASSES`).

Each entry is (pass, the names of `lower`'s arguments it takes after the expression, in order).
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from ..definition.ranges import Ranges
from .branches import piecewise_forms
from .cancellation import complement_sums, exp_differences, factor_sums, sigmoid_differences
from .common import _EMPTY
from .functions import c99_functions, stable_primitives
from .guards import nan_constants, nan_guards
from .limits import data_coefficient_limits, overflow_differences, power_limits, underflow_products
from .logspace import exponent_terms, logspace_products
from .scaled import blend_powers, lorentz_combinations, power_forms, scaled_quotients

PASSES = (
    (factor_sums, ()),  # common factors out of sums
    (logspace_products, ("ranges",)),  # no inf·0 where factors underflow
    (sigmoid_differences, ("ranges", "centres")),  # σ(u) - y' near u = 0 through tanh(u/2)
    (exp_differences, ("ranges", "centres")),  # e^u - y near u = 0 through expm1(u)
    (overflow_differences, ("ranges",)),  # no inf - inf where e^u - y is -inf
    (complement_sums, ("ranges",)),  # 1 - y' as (1 - y)(1 - ε) + ε/2
    (underflow_products, ("ranges",)),  # no inf·0 where P·e^u is finite
    (lorentz_combinations, ()),  # k·ρ'² + ρ'' as one fraction
    (blend_powers, ()),  # … times (1 + x²)^k, with one power less on each side
    (scaled_quotients, ()),  # v²·log1p_square(u/v) without v² or u/v
    (power_forms, ()),  # (1 + x²)^k as |x|^{2k}·(1 + x⁻²)^k for large |x|
    (power_limits, ("ranges",)),  # q^γ·F = F where F = ±∞, also where q^γ underflows
    (data_coefficient_limits, ("ranges", "varying", "nonzero")),  # k·F = 0 at k = 0, F = ±∞
    (stable_primitives, ()),  # softplus, σ, log σ, log cosh, logaddexp
    (c99_functions, ()),  # log1p / expm1 where plain log / exp lose digits
    (exponent_terms, ()),  # a log-space product's exponent as terms, summed exactly
    (piecewise_forms, ()),  # Max/Min/Heaviside/sign → Piecewise
    (nan_guards, ("data",)),  # NaN in → NaN out through every branch
    (nan_constants, ("data",)),  # … and through outputs that ignore the data
)


def lower(
    expr: sp.Expr,
    ranges: Ranges,
    data: frozenset,
    centres: Mapping = _EMPTY,
    varying: frozenset = frozenset(),
    nonzero: frozenset = frozenset(),
) -> sp.Expr:
    """Run the passes in order, `PASSES` (call under ``distribute(False)``, see `factor_sums`).
    ``centres``: parameter symbols → their default values (see `exact_constant`);
    ``varying``: the differentiable inputs (the rest is exact data)."""
    arguments = {
        "ranges": ranges,
        "data": data,
        "centres": centres,
        "varying": varying,
        "nonzero": nonzero,
    }
    for run, needs in PASSES:
        expr = run(expr, *(arguments[name] for name in needs))
    return expr
