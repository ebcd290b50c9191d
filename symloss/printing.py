"""The LaTeX printer of a loss: its symbols' names, expressions and the display block of its
definition.

(The Numba backend's code printer moved to `symloss.backends.numba.printer`; the name
``symloss.printing.NumbaPrinter`` still resolves there.)
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

__all__ = ["latex_names", "latex_of", "latex_block", "plain_latex"]


def __getattr__(name: str):
    if name == "NumbaPrinter":  # its old home, kept for one release
        from .backends.numba.printer import NumbaPrinter

        return NumbaPrinter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_LATEX = {"pred": r"\hat{y}", "target": "y", "logits": "x", "scores": "f"}


def latex_names(loss) -> dict[sp.Symbol, str]:
    """Symbol → LaTeX: declared names, conventional ones, else SymPy's own."""
    names = {}
    for i in loss.inputs:
        tex = i.latex or DEFAULT_LATEX.get(i.name)
        if tex:
            names[loss.symbol(i.name)] = tex
    for k, p in loss.parameters.items():
        if p.latex:
            names[loss.symbol(k)] = p.latex
    return names


class LossLatexPrinter(LatexPrinter):
    """SymPy's LaTeX with textbook spellings: Heaviside(x, 0) as the indicator [x > 0],
    sign as sgn, and if-then-else conditions as plain logic."""

    def _print_Heaviside(self, expr, exp=None):
        x = expr.args[0]
        at_zero = expr.args[1] if len(expr.args) > 1 else sp.S.Half
        rel = ">" if at_zero == 0 else r"\geq" if at_zero == 1 else None
        if rel is None:
            return super()._print_Heaviside(expr, exp)
        body = r"\left[%s %s 0\right]" % (self._print(x), rel)
        return body if exp is None else r"%s^{%s}" % (body, exp)

    def _print_sign(self, expr, exp=None):
        body = r"\operatorname{sgn}\left(%s\right)" % self._print(expr.args[0])
        return body if exp is None else r"%s^{%s}" % (body, exp)

    def _print_ITE(self, expr):
        return self._print(expr.to_nnf())


def plain_latex(expr: sp.Expr) -> str:
    """LaTeX of an expression outside a loss (a recurrence's cell), textbook spellings."""
    return LossLatexPrinter({"ln_notation": False}).doprint(expr)


def latex_of(loss, expr: sp.Expr) -> str:
    names = latex_names(loss)
    # Indexed inputs of a norm print as ŷ_i: substitute LaTeX-named symbols into the bases.
    indexed = {}
    for s, tex in names.items():
        base = s if isinstance(s, sp.IndexedBase) else sp.IndexedBase(s)
        indexed[base] = sp.IndexedBase(sp.Symbol(tex))
    expr = expr.xreplace(indexed)
    return LossLatexPrinter({"symbol_names": names, "ln_notation": False}).doprint(expr)


def latex_block(loss) -> str:
    """The formula and its derivatives as one ``aligned`` block."""
    wrt = loss.differentiable[0]
    var = latex_names(loss).get(loss.symbol(wrt), wrt)
    if loss.family == "classes":  # the gradient of a vector: its component j
        rows = [(r"\ell", loss.expr)]
        for i in loss.inputs:
            if i.differentiable:
                v = latex_names(loss).get(loss.symbol(i.name), i.name)
                v = f"{v}_{{j}}" if i.classes else v
                rows.append((rf"\frac{{\partial \ell}}{{\partial {v}}}", loss.derivative(i.name)))
        body = " \\\\\n".join(f"{a} &= {latex_of(loss, e)}" for a, e in rows)
        return "\\begin{aligned}\n" + body + "\n\\end{aligned}"
    if loss.outer is None:
        lhs = r"\ell"
        d1 = rf"\frac{{\partial \ell}}{{\partial {var}}}"
        d2 = rf"\frac{{\partial^2 \ell}}{{\partial {var}^2}}"
    else:
        lhs = "L"
        d1 = rf"\frac{{\partial L}}{{\partial {var}_{{i}}}}"
        d2 = rf"\frac{{\partial^2 L}}{{\partial {var}_{{i}}^2}}"
    rows = [
        (lhs, loss.expr),
        (d1, loss.derivative(wrt, 1)),
        (d2, loss.derivative(wrt, 2)),
    ]
    body = " \\\\\n".join(f"{a} &= {latex_of(loss, e)}" for a, e in rows)
    return "\\begin{aligned}\n" + body + "\n\\end{aligned}"
