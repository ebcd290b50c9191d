"""Sequence losses defined by a dynamic programme: the cell formula, symbolically.

A `Recurrence` holds what one DP cell computes from its predecessors (and local costs) as a
SymPy expression. The grid and its sweeps are code shape and live in the templates; the cell's
value and its partial derivatives, which drive the backward (adjoint) sweep, come from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp

__all__ = ["Recurrence", "define_recurrence", "V"]

V = sp.Symbol("V", real=True)  # the cell's own value, in terms of which partials are written


@dataclass(frozen=True, eq=False)
class Recurrence:
    """A DP whose cell is ``cell`` in the symbols ``predecessors`` (cells it reads) and
    ``locals`` (per-cell inputs such as an emission log-probability or a substitution cost).

    ``equations``: the recurrence as LaTeX lines (the cell applied on the grid, the start and
    the result), for ``symloss show`` and the documents. ``params``: scalar parameters of the
    cell (name → (default, domain)). ``family``: which template lays out the grid."""

    name: str
    family: str
    cell: sp.Expr
    predecessors: tuple[sp.Symbol, ...]
    locals: tuple[sp.Symbol, ...]
    equations: tuple[str, ...]
    params: Mapping[str, tuple] = field(default_factory=dict)
    doc: str = ""
    origin: str = ""

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        return (*self.predecessors, *self.locals)

    def partials(self) -> dict[sp.Symbol, sp.Expr]:
        """∂cell/∂u for every predecessor and local u (`symloss.derive.cell_partials`)."""
        from ..derive import cell_partials  # a convenience: the derivation does the work

        return cell_partials(self)

    def log_weights(self) -> dict[sp.Symbol, sp.Expr] | None:
        """log(∂V/∂u) + V - u for every predecessor u (`symloss.derive.cell_log_weights`)."""
        from ..derive import cell_log_weights  # a convenience, as partials

        return cell_log_weights(self)

    def shifted_form(self):
        """(k, c, (u_1, …, u_n), rest) where the cell is k·log Σ_i e^{c·u_i} + rest with one
        scale c free of the predecessors and locals and each u_i a predecessor plus a cost (a
        sum of cells with numeric coefficients, locals and numbers); else None.

        Then V = k·c·u_m + k·log1p(Σ_{i≠m} e^{c·(u_i − u_m)}) + rest, u_m the term of largest
        c·u_i: the cells enter only through k·c·u_m and the differences u_i − u_m, which a
        kernel that carries cells in double-double forms to full relative accuracy (a cell
        of size |D| rounded to float64 is off by ε·|D|, and c = −1/γ amplifies that)."""
        form = logsumexp_form(self.cell)
        if form is None:
            return None
        k, total, rest = form
        args = [sp.expand(t.args[0]) for t in sp.Add.make_args(total)]
        cells = set(self.predecessors)
        scale = next((a.coeff(u) for a in args for u in self.predecessors if a.coeff(u) != 0), None)
        if scale is None or scale.free_symbols & set(self.symbols):
            return None
        terms = tuple(sp.expand(a / scale) for a in args)
        for u in terms:
            if not all(u.coeff(c).is_Number for c in cells) or not (u.free_symbols & cells):
                return None
        return k, scale, terms, rest

    def latex(self) -> str:
        """The recurrence and the cell's partial derivatives, as an aligned LaTeX block."""
        from ..printing import plain_latex  # a convenience, as partials

        lines = [*self.equations, rf"V &= {plain_latex(self.cell)}"]
        for u, d in self.partials().items():
            lines.append(rf"\frac{{\partial V}}{{\partial {sp.latex(u)}}} &= {sp.latex(d)}")
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def logsumexp_form(cell: sp.Expr):
    """(k, Σ_i exp(a_i), rest) when cell = k·log(Σ_i exp(a_i)) + rest, else None."""
    logs = [t for t in sp.Add.make_args(cell) if t.has(sp.log)]
    if len(logs) != 1:
        return None
    k, log = logs[0].as_independent(sp.log, as_Add=False)
    if not isinstance(log, sp.log):
        return None
    if not all(isinstance(t, sp.exp) for t in sp.Add.make_args(log.args[0])):
        return None
    return k, log.args[0], cell - logs[0]


def define_recurrence(
    name: str,
    cell: sp.Expr,
    *,
    family: str,
    predecessors: Sequence[sp.Symbol],
    locals: Sequence[sp.Symbol] = (),
    equations: Sequence[str] = (),
    params: Mapping[str, tuple] | None = None,
    doc: str = "",
) -> Recurrence:
    """A sequence loss from its DP cell; the symbols not among ``predecessors`` and ``locals``
    must be parameters."""
    import sys

    known = {*predecessors, *locals}
    extra = sorted(s.name for s in cell.free_symbols - known if s.name not in (params or {}))
    if extra:
        raise ValueError(f"cell of {name!r} uses {extra}: neither predecessors, locals nor params")
    return Recurrence(
        name=name,
        family=family,
        cell=cell,
        predecessors=tuple(predecessors),
        locals=tuple(locals),
        equations=tuple(equations),
        params=dict(params or {}),
        doc=doc,
        origin=sys._getframe(1).f_globals.get("__name__", ""),
    )
