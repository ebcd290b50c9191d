"""Interval hulls of the declared domains, and the bounds of an expression over them.

A definition declares each input's and parameter's domain; the hull (an `AccumBounds`) lets
interval arithmetic decide signs (is this coefficient ≥ 0 wherever the loss is defined?).
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.calculus.accumulationbounds import AccumBounds

__all__ = ["Ranges", "ranges_of", "lower_bound", "upper_bound", "nonnegative"]

Ranges = Mapping[sp.Symbol, AccumBounds]


def ranges_of(symbols: Mapping[str, sp.Symbol], domains: Mapping[str, sp.Set]) -> dict:
    """Interval hull of each symbol's domain, for interval arithmetic on coefficients."""
    return {symbols[k]: AccumBounds(d.inf, d.sup) for k, d in domains.items()}


def lower_bound(expr: sp.Expr, ranges: Ranges):
    value = expr.xreplace(dict(ranges))
    if isinstance(value, AccumBounds):
        return value.min
    return value if value.is_number else None


def nonnegative(expr: sp.Expr, ranges: Ranges) -> bool:
    lo = lower_bound(expr, ranges)
    return lo is not None and bool(lo >= 0)


def upper_bound(expr: sp.Expr, ranges: Ranges):
    value = expr.xreplace(dict(ranges))
    if isinstance(value, AccumBounds):
        return value.max
    return value if value.is_number else None
