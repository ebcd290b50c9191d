"""A class-axis row's reductions as Numba loops over ``c in range(n_classes)``.

Each function returns the lines (indented relative to the row's body) that leave the
reduction's value, and what the lowered expressions read besides, in the row's locals:

- ``logsumexp`` s: m = max_c v_c, its class top, and s_log1p = log1p(Σ_{c≠top} e^{v_c − m}),
  so that log Σ_c e^{v_c} = m + s_log1p keeps its digits where one class dominates; all −∞
  (or no class) gives m = −∞ and s_log1p = 0; a NaN term makes m NaN.
- ``max`` s: the largest term and s_arg, the first class attaining it; a NaN term gives NaN.
- ``norm`` s = √(Σ_c u_c) accumulated in float64 (a float32 row's squares cannot overflow).
- ``scaled_norm`` s = √(Σ_c u_c²) in float64 with u scaled by 2^−e, e the exponent of
  max_c |u_c| (exact): finite and accurate for rows of 1e200 or of 1e−200.
- ``dd_sum`` s: Σ_c u_c in double-double (s_dd), for the exact numerators that read it.
- ``sum`` s = Σ_c u_c accumulated in float64 and rounded once.

``skip`` (the code of a class, or "") leaves that class out of a log-sum-exp.
"""

from __future__ import annotations

__all__ = ["KINDS", "reduction_code"]


def _in(dtype: str, text: str) -> str:
    """text rounded to the kernel's dtype (float64 work, a float32 kernel)."""
    return f"float32({text})" if dtype == "float32" else text


def _logsumexp(s: str, body: str, skip: str, dtype: str) -> list[str]:
    lines = [
        f"{s}_top, {s}_max, {s}_nan = -1, -math.inf, False",
        "for c in range(n_classes):",
        f"    v = {body}",
    ]
    if skip:
        lines += [f"    if c == {skip}:  # this sum leaves the class out", "        v = -math.inf"]
    kept = f"(c != {s}_top)" + (f" & (c != {skip})" if skip else "")
    return lines + [
        f"    if v > {s}_max:",
        f"        {s}_top, {s}_max = c, v",
        "    elif v != v:",
        f"        {s}_nan = True",
        f"acc_{s} = 0.0",
        f"if {s}_max > -math.inf:  # else every term is 0, or there are none",
        "    for c in range(n_classes):  # branch-free, a sum in SIMD lanes",
        f"        _e = vmath.exp({body} - {s}_max)",
        f"        _kept = {kept}",
        f"        acc_{s} = vmath.reassoc_add(acc_{s}, select(_kept, _e, {_in(dtype, '0.0')}))",
        f"if {s}_nan:",
        f"    {s}_max = math.nan",
        f"{s}_log1p = {_in(dtype, f'vmath.log1p(acc_{s})')}",
    ]


def _max(s: str, body: str, skip: str, dtype: str) -> list[str]:
    return [
        f"{s}, {s}_arg, {s}_nan = -math.inf, -1, False",
        "for c in range(n_classes):",
        f"    v = {body}",
        f"    if v > {s}:  # strictly: the first class attaining the maximum",
        f"        {s}, {s}_arg = v, c",
        "    elif v != v:",
        f"        {s}_nan = True",
        f"if {s}_nan:",
        f"    {s} = math.nan",
    ]


def _accumulated(s: str, body: str) -> list[str]:
    """acc_s = Σ_c body in float64, the sum in SIMD lanes."""
    return [
        f"acc_{s} = 0.0",
        "for c in range(n_classes):",
        f"    acc_{s} = vmath.reassoc_add(acc_{s}, {body})",
    ]


def _norm(s: str, body: str, skip: str, dtype: str) -> list[str]:
    return [*_accumulated(s, body), f"{s} = math.sqrt(acc_{s})  # float64: its powers stay finite"]


def _dd_sum(s: str, body: str, skip: str, dtype: str) -> list[str]:
    return [
        f"{s}_dd = (0.0, 0.0)  # double-double: an exact numerator reads it",
        "for c in range(n_classes):",
        f"    {s}_dd = vmath.dd_add({s}_dd, {body})",
        f"{s} = {_in(dtype, f'vmath.dd_value({s}_dd)')}",
    ]


def _scaled_norm(s: str, body: str, skip: str, dtype: str) -> list[str]:
    return [
        f"{s}_top = 0.0",
        "for c in range(n_classes):",
        f"    {s}_top = max({s}_top, abs({body}))  # NaN: in the sum",
        f"{s}_e = 0",
        f"if 0.0 < {s}_top < math.inf:  # scaled by 2^-e, exactly: Σu² cannot over- or underflow",
        f"    {s}_e = min(max(math.frexp({s}_top)[1], -1020), 1020)",
        f"{s}_s = math.ldexp(1.0, -{s}_e)",
        f"acc_{s} = 0.0",
        "for c in range(n_classes):",
        f"    _u = ({body}) * {s}_s",
        f"    acc_{s} = vmath.reassoc_add(acc_{s}, _u * _u)",
        f"{s} = math.sqrt(acc_{s}) * math.ldexp(1.0, {s}_e)",
    ]


def _sum(s: str, body: str, skip: str, dtype: str) -> list[str]:
    return [*_accumulated(s, body), f"{s} = {_in(dtype, f'acc_{s}')}"]


KINDS = {
    "logsumexp": _logsumexp,
    "max": _max,
    "norm": _norm,
    "dd_sum": _dd_sum,
    "scaled_norm": _scaled_norm,
    "sum": _sum,
}


def reduction_code(kind: str, symbol: str, body: str, skip: str, dtype: str) -> list[str]:
    """The lines of one row reduction (``kind`` one of `KINDS`), ``body`` its term in c."""
    if kind not in KINDS:
        raise ValueError(f"unknown row reduction {kind!r}: expected one of {sorted(KINDS)}")
    return KINDS[kind](symbol, body, skip, dtype)
