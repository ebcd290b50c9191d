"""Common subexpressions out, then each statement printed in the kernel's dtype.

Deterministic: temporaries are numbered in SymPy's canonical order. Nodes computed as a whole
(`wide`, `exact_sum`) are held out of the CSE, and plain products are put back where they are
used so that the printer chooses their order (`_inline_products`).
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.core.parameters import distribute

from ..definition.primitives import wide
from ..lowering import exact_sum


def _printed(
    exprs: list[sp.Expr],
    dtype: str,
    names: Mapping[sp.Symbol, str],
    data: frozenset,
    printer: type,
    widen: bool = False,
) -> tuple[list[tuple[str, str]], list[str], int]:
    """CSE over the outputs together, then print each statement in ``dtype`` with the
    backend's ``printer`` (a class: ``printer(dtype, names, data, transcendental)``).

    ``widen`` (float32 only): every statement in float64, from the inputs and parameters
    widened, each output rounded to float32 once (see `lowering.float64_in_float32`)."""
    if widen and dtype == "float32":
        symbols = set().union(*(e.free_symbols for e in exprs))
        wide_names = {
            s: printer.widened(names.get(s, printer("float64").doprint(s)))
            for s in sorted(symbols, key=sp.default_sort_key)
        }
        statements, results, ops = _printed_in(
            exprs, "float64", wide_names, data, printer, typed=True
        )
        return statements, [printer.rounded(r, dtype) for r in results], ops
    return _printed_in(exprs, dtype, names, data, printer)


def _printed_in(
    exprs: list[sp.Expr],
    dtype: str,
    names: Mapping[sp.Symbol, str],
    data: frozenset,
    printer_class: type,
    typed: bool = False,
) -> tuple[list[tuple[str, str]], list[str], int]:
    temps = sp.numbered_symbols("_t")
    # a wide(…) is computed from the inputs in float64 (float32 kernels), an exact_sum(…) in
    # double-double: kept out of the CSE, which would share their parts as plain temporaries
    exprs, wides = _held_out(exprs, (wide, exact_sum), "_wide")
    with distribute(False):
        replacements, reduced = _inline_products(*sp.cse(exprs, symbols=temps, order="canonical"))
    # Which temporaries carry data, and which a transcendental value (for the product order).
    dependent, transcendental = set(data), set()
    for t, e in replacements:
        if e.free_symbols & dependent:
            dependent.add(t)
        if printer_class.is_transcendental(e) or e.free_symbols & transcendental:
            transcendental.add(t)
    for w, e in wides.items():
        if e.free_symbols & data:
            dependent.add(w)
        if isinstance(e, wide):
            transcendental.add(w)
    printer = printer_class(dtype, names, frozenset(dependent), frozenset(transcendental))
    printer.typed = typed  # float64 literals of a widened float32 kernel: numba.float64(…)
    for w, e in wides.items():
        printer.names[w] = printer.doprint(e)
    statements = [(str(t), printer.doprint(e)) for t, e in replacements]
    results = [printer.doprint(e) for e in reduced]
    ops = sum(sp.count_ops(e) for _, e in replacements) + sum(sp.count_ops(e) for e in reduced)
    ops += sum(sp.count_ops(e) for e in wides.values())
    return statements, results, int(ops)


def _inline_products(replacements, reduced):
    """Put temporaries that are plain products (β·y, or w·y' with y' = y(1 - ε) + ε/2, a
    polynomial of the symbols) back where they are used.

    CSE would fix the order of such a product; inlined, the printer multiplies data into the
    transcendental factors first (σ·y·β), so a subnormal y cannot make β·y underflow to 0.
    A product costs one multiplication (and a factor that is a sum, its few operations), so
    little is lost.
    """

    def plain_product(e: sp.Expr) -> bool:
        return e.is_Mul and all(
            a.is_Symbol or a.is_Number or (a.is_Add and plain_sum(a)) for a in e.args
        )

    def plain_sum(a: sp.Expr) -> bool:
        return all(t.is_Symbol or t.is_Number or plain_product(t) for t in a.args)

    inline: dict[sp.Symbol, sp.Expr] = {}
    kept = []
    for t, e in replacements:
        e = e.xreplace(inline)
        if plain_product(e):
            inline[t] = e
        else:
            kept.append((t, e))
    # Renumber the survivors so names stay consecutive and deterministic.
    rename = {t: sp.Symbol(f"_t{k}") for k, (t, _) in enumerate(kept)}
    kept = [(rename[t], e.xreplace(rename)) for t, e in kept]
    reduced = [e.xreplace(inline).xreplace(rename) for e in reduced]
    return kept, reduced


def _held_out(exprs: list[sp.Expr], kinds: tuple, prefix: str):
    """``exprs`` with each distinct node of ``kinds`` replaced by a symbol ``<prefix><k>``,
    and the map from those symbols back to the nodes: the CSE sees each such node as an atom
    (computed as a whole, in float64 or double-double), never shares its parts."""
    held: dict[sp.Expr, sp.Symbol] = {}

    def hold(e: sp.Expr) -> sp.Symbol:
        return held.setdefault(e, sp.Symbol(f"{prefix}{len(held)}", real=True))

    out = [e.replace(lambda x: isinstance(x, kinds), hold) for e in exprs]
    return out, {s: e for e, s in held.items()}


def _cse_printed(exprs: list[sp.Expr], printer, prefix: str):
    """CSE over ``exprs`` (temporaries ``<prefix>0``, …), printed by the printer instance."""
    temps = sp.numbered_symbols(prefix, real=True)
    # an exact_sum(…) is one double-double evaluation (see `_held_out`)
    exprs, back = _held_out(exprs, (exact_sum,), "_exact")
    with distribute(False):
        replacements, reduced = sp.cse(exprs, symbols=temps, order="canonical")
    return [(str(t), printer.doprint(e.xreplace(back))) for t, e in replacements], [
        printer.doprint(e.xreplace(back)) for e in reduced
    ]
