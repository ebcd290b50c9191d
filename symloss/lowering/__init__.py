"""From mathematical expressions to the forms kernels compute: a pipeline of named passes.

Each pass maps expressions to equal expressions (equal as real functions, with the kink policy of
`derive`); `lower` runs them in order. The derivatives are taken on the mathematical form first,
so every pass here only changes how a value is computed, never which value.

`lower` runs `pipeline.PASSES`, in this order (module in brackets):

    factor_sums              common factors out of sums                           [cancellation]
    logspace_products        no inf·0 where factors underflow                     [logspace]
    sigmoid_differences      σ(u) - y' near u = 0 through tanh(u/2)               [cancellation]
    exp_differences          e^u - y near u = 0 through expm1(u)                  [cancellation]
    overflow_differences     no inf - inf where e^u - y is -inf                   [limits]
    complement_sums          1 - y' as (1 - y)(1 - ε) + ε/2                       [cancellation]
    underflow_products       no inf·0 where P·e^u is finite                       [limits]
    lorentz_combinations     k·ρ'² + ρ'' as one fraction                          [scaled]
    blend_powers             … times (1 + x²)^k, with one power less on each side [scaled]
    scaled_quotients         v²·log1p_square(u/v) without v² or u/v               [scaled]
    power_forms              (1 + x²)^k as |x|^{2k}·(1 + x⁻²)^k for large |x|     [scaled]
    power_limits             q^γ·F = F where F = ±∞, also where q^γ underflows    [limits]
    data_coefficient_limits  k·F = 0 at k = 0, F = ±∞                             [limits]
    stable_primitives        softplus, σ, log σ, log cosh, logaddexp              [functions]
    c99_functions            log1p / expm1 where plain log / exp lose digits      [functions]
    exponent_terms           a log-space product's exponent as terms, summed exactly [logspace]
    piecewise_forms          Max/Min/Heaviside/sign → Piecewise                   [branches]
    nan_guards               NaN in → NaN out through every branch                [guards]
    nan_constants            … and through outputs that ignore the data           [guards]

The class axis runs its own list, `row_pipeline._class_quantities` (the reductions, a label):
row_reductions, clamped_maxima,
norm_quotients, split_logsumexp [rows]; masked_softmax_differences, softmax_complements,
component_differences, one_hot_differences, unbounded_reductions, zero_coefficient_products,
absent_classes [classes]; exact_quotients, dd_differences [double_double]; branch_quotients,
indicator_products [branches]; margin_roots [cancellation]; and asks `float64_in_float32`
[logspace] which float32 outputs to compute in float64.

The modules, one job each (none imports printing, code generation or the runtime):

    pipeline.py       `lower` and `PASSES` (the elementwise list)
    row_pipeline.py   the class axis's list: its quantities derived, then lowered
    nodes.py          the functions and booleans the printers know (nan_in, is_finite,
                      exact_sum, exp_of_sum, quotient, power_times, ordered_add, limit_mul, …)
    cancellation.py   sums that cancel: exact constants, complements, σ and e^u differences
    logspace.py       products as exp(Σ log f); what float32 kernels compute in float64
    limits.py         ∞ - ∞ and 0·∞ where the result is finite or a limit
    scaled.py         quotients by a scale and powers of 1 + x² (Cauchy, Barron, Lorentz)
    functions.py      primitives by their stable forms; log1p and expm1
    branches.py       Max/Min/Heaviside/sign as Piecewise; products taken into branches
    guards.py         NaN through branches and through outputs that ignore some data
    rows.py           the class axis's row reductions (sums, norms, log-sum-exp, maxima)
    classes.py        passes over the class axis: softmax differences, infinite logits
    double_double.py  sums formed in double-double arithmetic (exact_numerator, dd_code)
    common.py         helpers several modules share (a leaf)

Every name of the former flat module ``symloss/lowering.py`` is importable from here.
"""

from __future__ import annotations

# Besides the passes and nodes of the modules here, the names the flat module held by
# importing them (lowering.held, lowering.sp, ranges_of, …) stay attributes of the package.
from collections.abc import Mapping  # noqa: F401
from functools import lru_cache  # noqa: F401
from types import MappingProxyType  # noqa: F401

import sympy as sp  # noqa: F401
from sympy.codegen.cfunctions import expm1, log1p  # noqa: F401
from sympy.core.parameters import distribute  # noqa: F401
from sympy.logic.boolalg import BooleanFunction  # noqa: F401

from ..definition.axes import c, class_argmax, class_max  # noqa: F401
from ..definition.primitives import (  # noqa: F401
    PRIMITIVES,
    _as_written,
    held,
    log1p_square,
    log_sigmoid,
    logaddexp,
    lorentz_ratio,
    lorentz_slope,
    margin_intercept,
    margin_psi,
    sigmoid,
    wide,
)
from ..definition.ranges import Ranges, ranges_of  # noqa: F401
from ..definition.ranges import lower_bound as _lower_bound  # noqa: F401
from ..definition.ranges import nonnegative as _nonnegative  # noqa: F401
from ..definition.ranges import upper_bound as _upper_bound  # noqa: F401
from .branches import (  # noqa: F401
    _FORMS,
    _heaviside,
    _max,
    _min,
    _piecewise_form,
    _select,
    _sign,
    branch_quotients,
    indicator_products,
    piecewise_forms,
)
from .cancellation import (  # noqa: F401
    _COMPLEMENTS,
    _complement,
    _constant_parts,
    _exact,
    _nonnegative_form,
    _one_sign,
    _rounds_relatively,
    _smaller_error,
    _split_terms,
    complement_sums,
    exact_constant,
    exact_constants,
    exp_differences,
    factor_sums,
    margin_roots,
    sigmoid_differences,
)
from .classes import (  # noqa: F401
    absent_classes,
    component_differences,
    exp_square_differences,
    holds_unbounded,
    masked_softmax_differences,
    one_hot_differences,
    softmax_complements,
    unbounded_reductions,
    zero_coefficient_products,
)
from .common import _EMPTY, _has_primitive  # noqa: F401
from .double_double import (  # noqa: F401
    _rational,
    dd_code,
    dd_differences,
    exact_numerator,
    exact_quotients,
)
from .functions import c99_functions, stable_primitives  # noqa: F401
from .guards import nan_constants, nan_guards  # noqa: F401
from .limits import (  # noqa: F401
    _has_unbounded_argument,
    _may_be_infinite,
    _positive,
    data_coefficient_limits,
    overflow_differences,
    power_limits,
    underflow_products,
)
from .logspace import (  # noqa: F401
    _log_of,
    _log_sum,
    _scaled_power,
    exponent_terms,
    float64_in_float32,
    logspace_products,
)
from .nodes import (  # noqa: F401
    _float_test,
    exact_sum,
    exp_of_sum,
    is_finite,
    is_minus_inf,
    is_positive,
    limit_mul,
    magnitude,
    minus_infinity,
    nan_in,
    ordered_add,
    power_times,
    quotient,
    zero_factor_mul,
)
from .pipeline import PASSES, lower  # noqa: F401
from .rows import (  # noqa: F401
    Reduction,
    _combine_exp,
    _excluding,
    argmax_symbol,
    clamped_maxima,
    norm_quotients,
    row_reductions,
    split_logsumexp,
)
from .scaled import (  # noqa: F401
    _SCALED,
    blend_powers,
    lorentz_blend,
    lorentz_combinations,
    lorentz_fraction,
    power_forms,
    scaled_log1p_square,
    scaled_lorentz_ratio,
    scaled_lorentz_slope,
    scaled_quotients,
)

__all__: list[str] = ["nan_in", "ranges_of", "lower"]
