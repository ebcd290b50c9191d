"""Helpers the passes of several modules share (a leaf: it imports no other module here)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import sympy as sp

from ..definition.primitives import PRIMITIVES

_EMPTY: Mapping = MappingProxyType({})


def _has_primitive(expr: sp.Expr) -> bool:
    return expr.has(*PRIMITIVES, sp.exp)
