"""The plan of a sequence loss's DP cell: its value and partials printed per dtype, and the
log-sum-exp and double-double forms the family templates sweep with."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..definition.recurrence import V, logsumexp_form
from ..lowering import dd_code, dd_differences, piecewise_forms
from .kernels import _SHORT, DTYPES


@dataclass
class CellKernel:
    """The printed cell of a recurrence for one dtype: its value and its partials."""

    dtype: str
    short: str
    value: str
    partials: dict[str, str]
    # where the cell is k·lse(…) + rest: the two parts, and the log-space weight of each
    # predecessor (Recurrence.log_weights), for templates that sweep in log space
    lse: str | None = None
    rest: str | None = None
    log_weights: dict[str, str] | None = None
    # where the cell is k·log Σ e^{c·u_i} + rest (Recurrence.shifted_form), for templates that
    # carry the cells in double-double: c, each u_i, V from the largest term's u (shift_dd) and
    # the log1p of the others (spread), and the partials with their exponents' sums of cells
    # formed in double-double (dd_differences)
    shifted: dict | None = None


def _cell_value(rec, printer) -> str:
    """The cell's value: k·lse(a_1, a_2, a_3) + rest where it is a log-sum-exp (max-shifted,
    -inf safe, by the template's ``_lse``), else the cell as printed."""
    form = logsumexp_form(rec.cell)
    if form is None:
        return printer.doprint(piecewise_forms(rec.cell))
    k, total, rest = form
    args = ", ".join(printer.doprint(t.args[0]) for t in sp.Add.make_args(total))
    text = f"_lse({args})" if k == 1 else f"{printer.doprint(k)}*_lse({args})"
    return text if rest == 0 else f"{text} + {printer.doprint(rest)}"


def _cell_parts(rec, printer) -> tuple[str | None, str | None]:
    """(k·lse(a_1, …), rest) of a log-sum-exp cell, printed; (None, None) for any other."""
    form = logsumexp_form(rec.cell)
    if form is None:
        return None, None
    k, total, rest = form
    args = ", ".join(printer.doprint(t.args[0]) for t in sp.Add.make_args(total))
    lse = f"_lse({args})" if k == 1 else f"{printer.doprint(k)}*_lse({args})"
    return lse, printer.doprint(rest)


SHIFT, SPREAD = sp.symbols("shift spread", real=True)


def _shifted_cell(rec, partials, printer) -> dict | None:
    """The printed parts of a cell k·log Σ e^{c·u_i} + rest, cells read as double-doubles
    (``<name>_dd``): the scale c, each u_i, the value k·c·shift + k·spread + rest in
    double-double (shift the u_i of largest c·u_i, spread = log1p(Σ_{i≠m} e^{c·(u_i − u_m)})),
    and the partials from dd_differences."""
    form = rec.shifted_form()
    if form is None:
        return None
    k, scale, terms, rest = form
    cells = frozenset(rec.predecessors)
    value = sp.expand(k * scale) * SHIFT + k * SPREAD + rest
    return {
        "scale": printer.doprint(scale),
        "terms": [dd_code(u, printer, cells) for u in terms],
        "value": dd_code(value, printer, cells | {SHIFT}),
        "partials": {
            str(u): printer.doprint(dd_differences(d, (V, *rec.predecessors)))
            for u, d in partials.items()
        },
    }


def plan_recurrence(rec, printer_class: type) -> list[CellKernel]:
    """The cell of a recurrence printed per dtype by ``printer_class``."""
    partials = rec.partials()
    weights = rec.log_weights()
    kernels = []
    for dtype in DTYPES:
        # a DP cell runs in a serial loop: scalar libm calls are faster than inlined vmath
        printer = printer_class(dtype, {}, vector_math=False)
        lse, rest = _cell_parts(rec, printer)
        kernels.append(
            CellKernel(
                dtype=dtype,
                short=_SHORT[dtype],
                value=_cell_value(rec, printer),
                partials={str(u): printer.doprint(d) for u, d in partials.items()},
                lse=lse,
                rest=rest,
                log_weights=(
                    None
                    if weights is None
                    else {str(u): printer.doprint(w) for u, w in weights.items()}
                ),
                shifted=_shifted_cell(rec, partials, printer),
            )
        )
    return kernels
