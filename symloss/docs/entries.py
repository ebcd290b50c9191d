"""A loss's entry in the reference: its inputs and parameters, its formulas (value,
derivatives, the stable form it is computed by; a recurrence's cell and partials) printed from
the definition, each long formula shown as a main line and named pieces A_k = … within the
page's width."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from ..catalog import ALL
from ..printing import latex_names, latex_of, plain_latex
from .contents import LINE_LIMIT, SECTIONS


@dataclass
class Formula:
    """One displayed equation: lhs = main, where each named piece is defined below it."""

    lhs: str
    main: str
    pieces: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Entry:
    name: str
    doc: str
    kind: str
    inputs: list[tuple[str, str, str, str]]  # (LaTeX symbol, name, role, doc)
    params: list[tuple[str, str, str, str, str]]  # (LaTeX symbol, name, default, range, doc)
    formulas: list[Formula]
    stable: Formula | None = None
    recurrence: list[str] = field(default_factory=list)


def named_pieces(render, expr: sp.Expr, limit: int = LINE_LIMIT) -> tuple[str, list]:
    """``render(expr)`` split into a main line and named pieces A_k, each line within
    ``limit`` characters: the largest subexpression that fits is named first."""
    main, named = split(render, expr, limit)
    return render(main), [(sp.latex(s), render(v)) for s, v in named]


def split(render, expr: sp.Expr, limit: int = LINE_LIMIT) -> tuple[sp.Expr, list]:
    """(main, [(A_k, piece)]): ``expr`` equals main with the pieces substituted, last first."""
    main, named, stuck = expr, [], set()  # stuck: too long, but nothing left to split
    for _ in range(200):
        items = [e for e in [main, *(e for _, e in named)] if e not in stuck]
        lengths = [len(render(e)) for e in items]
        if not items or max(lengths) <= limit:
            break
        e = items[max(range(len(items)), key=lengths.__getitem__)]
        subs = {
            s
            for s in sp.preorder_traversal(e)
            if s is not e
            and isinstance(s, sp.Expr)
            and not s.is_Atom
            and not isinstance(s, sp.Indexed)
            and not (s.is_Mul and s.args[0] == -1 and len(s.args) == 2)
        }
        sized = sorted((len(render(s)), sp.default_sort_key(s), s) for s in subs)
        fitting = [t for t in sized if t[0] <= limit]
        symbol = sp.Symbol(f"A_{len(named) + 1}")
        children = [a.expr if isinstance(a, ExprCondPair) else a for a in e.args]
        children = [a for a in children if isinstance(a, sp.Expr) and not a.is_Atom]
        if fitting and fitting[-1][0] >= limit // 5:
            pick = fitting[-1][2]
            swap = {pick: symbol}
        elif (
            (e.is_Add or e.is_Mul)
            and len(e.args) > 2
            and max(map(len, map(render, e.args))) <= limit
        ):
            # a long sum or product of small terms: name the longest run of terms that fits
            args, n = list(e.args), 2
            while n < len(args) - 1 and len(render(e.func(*args[: n + 1]))) <= limit:
                n += 1
            pick = e.func(*args[:n])
            swap = {e: e.func(symbol, *args[n:])}
        elif children:  # descend: name the longest part, then split that
            pick = max(children, key=lambda a: (len(render(a)), sp.default_sort_key(a)))
            swap = {pick: symbol}
        else:
            stuck.add(e)
            continue
        main = main.xreplace(swap)
        named = [(s, v.xreplace(swap)) for s, v in named] + [(symbol, pick)]
    return main, named


def _formula(loss, lhs: str, expr: sp.Expr) -> Formula:
    main, pieces = named_pieces(lambda e: latex_of(loss, e), expr)
    return Formula(lhs, main, pieces)


def _loss_entry(loss) -> Entry:
    tex = latex_names(loss)
    inputs = [
        (
            tex.get(loss.symbol(i.name), sp.latex(loss.symbol(i.name))),
            i.name,
            "differentiable" if i.differentiable else "constant",
            i.doc,
        )
        for i in loss.inputs
    ]
    params = [
        (p.latex or sp.latex(loss.symbol(k)), k, repr(p.default), sp.latex(p.domain), p.doc)
        for k, p in loss.parameters.items()
    ]
    lhs = r"\ell" if loss.outer is None else "L"
    formulas = [_formula(loss, lhs, loss.expr)]
    for i in loss.inputs:
        if not i.differentiable:
            continue
        v = tex.get(loss.symbol(i.name), i.name)
        if loss.family == "classes":
            v = f"{v}_{{j}}" if i.classes else v
            formulas.append(
                _formula(loss, rf"\frac{{\partial \ell}}{{\partial {v}}}", loss.derivative(i.name))
            )
            continue
        sub = "_{i}" if loss.outer is not None else ""
        formulas.append(
            _formula(
                loss, rf"\frac{{\partial {lhs}}}{{\partial {v}{sub}}}", loss.derivative(i.name, 1)
            )
        )
        formulas.append(
            _formula(
                loss,
                rf"\frac{{\partial^2 {lhs}}}{{\partial {v}{sub}^2}}",
                loss.derivative(i.name, 2),
            )
        )
    stable = None if loss.stable is None else _formula(loss, r"\ell", loss.stable)
    return Entry(loss.name, loss.doc, loss.family, inputs, params, formulas, stable)


def _recurrence_entry(rec) -> Entry:
    params = [
        (sp.latex(sp.Symbol(k)), k, repr(d), sp.latex(dom), "")
        for k, (d, dom) in rec.params.items()
    ]
    formulas = [Formula("V", plain_latex(rec.cell))]
    formulas += [
        Formula(rf"\frac{{\partial V}}{{\partial \mathrm{{{u}}}}}", plain_latex(d))
        for u, d in rec.partials().items()
    ]
    return Entry(
        rec.name, rec.doc, "sequence", [], params, formulas, recurrence=list(rec.equations)
    )


def entries(names=None) -> list[tuple[str, str, list[Entry]]]:
    """(section title, guidance, entries) in document order, for ``names`` (default: all)."""
    specs = {s.name: s for s in ALL if names is None or s.name in names}
    out, seen = [], set()
    for title, members, guidance in SECTIONS:
        chosen = [specs[n] for n in members if n in specs]
        seen |= {s.name for s in chosen}
        if chosen:
            out.append((title, guidance, [_entry(s) for s in chosen]))
    rest = [specs[n] for n in sorted(specs) if n not in seen]
    if rest:
        out.append(("Other losses", "", [_entry(s) for s in rest]))
    return out


def _entry(spec) -> Entry:
    return _loss_entry(spec) if hasattr(spec, "inputs") else _recurrence_entry(spec)
