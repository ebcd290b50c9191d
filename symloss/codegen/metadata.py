"""What the runtime reads about a loss, as plain Python literals (no SymPy at run time):
inputs, parameters with their domains as intervals, family, form."""

from __future__ import annotations

import math  # noqa: F401  (math.inf appears in the printed literals' text only)

import sympy as sp

from ..definition.spec import Loss


def _number(x: sp.Expr) -> float:
    return float(x)


def domain_pieces(domain: sp.Set) -> tuple:
    """A SymPy set as ((lo, hi, lo_closed, hi_closed) | (value,), ...) for the runtime."""
    if isinstance(domain, sp.Union):
        return tuple(p for d in domain.args for p in domain_pieces(d))
    if isinstance(domain, sp.Interval):
        return (
            (
                _number(domain.start),
                _number(domain.end),
                not domain.left_open,
                not domain.right_open,
            ),
        )
    if isinstance(domain, sp.FiniteSet):
        return tuple((_number(v),) for v in sorted(domain.args, key=float))
    if domain == sp.S.Reals:
        return ((float("-inf"), float("inf"), False, False),)
    raise ValueError(f"unsupported domain {domain}")


def domain_text(domain: sp.Set) -> str:
    """Human-readable interval notation: (0, inf), [0, 1] or {-1}."""
    parts = []
    for piece in domain_pieces(domain):
        if len(piece) == 1:
            parts.append(f"{{{piece[0]:g}}}")
        else:
            lo, hi, lc, hc = piece
            parts.append(f"{'[' if lc else '('}{lo:g}, {hi:g}{']' if hc else ')'}")
    return " or ".join(parts)


def is_residual(loss: Loss) -> bool:
    """Whether an elementwise loss is an even function of r = x - y alone (the symmetric
    regression losses): then ℓ'(r)/r gives a quadratic majorizer of it, where that ratio does
    not grow with |r| (a gradient-boosting objective's Hessian option)."""
    if loss.family != "elementwise" or len(loss.inputs) != 2:
        return False
    x, y = (loss.symbol(i.name) for i in loss.inputs)
    r = sp.Dummy("r", real=True)
    e = loss.element.xreplace({x: r + y})
    if e.has(y):
        return False
    e = e.rewrite("math").subs({loss.symbol(k): p.default for k, p in loss.parameters.items()})
    odd = e.xreplace({r: -r}) - e  # 0 at 30 digits for |r| from 1e-3 to 1e3
    at = ("1/997", "3/7", "2", "999")
    return all(abs(odd.subs(r, sp.Rational(v)).evalf(30)) < 1e-25 for v in at)


def metadata(loss: Loss) -> dict:
    return {
        "name": loss.name,
        "family": loss.family,
        "doc": loss.doc,
        "inputs": tuple(
            {
                "name": i.name,
                "differentiable": i.differentiable,
                "labels": i.labels,
                "classes": i.classes,
                "by_label": i.by_label,
            }
            for i in loss.inputs
        ),
        "params": tuple(
            {
                "name": k,
                "default": p.default,
                "domain": domain_pieces(p.domain),
                "domain_text": (
                    "False or True"
                    if p.static and isinstance(p.default, bool)
                    else domain_text(p.domain)
                ),
                "broadcast": p.broadcast,
                "static": p.static,
                "per_class": p.per_class,
                "estimate": p.estimate,
                "doc": p.doc,
            }
            for k, p in loss.parameters.items()
        ),
        "homogeneous": loss.homogeneous,
        "residual": is_residual(loss),
        "over": loss.over,
        "frontend": loss.frontend,
        "kind": loss.kind,
        "formula": str(loss.expr),
    }


def _pretty(value, indent: int = 0) -> str:
    """Deterministic, readable Python literal of nested dicts, tuples and plain values."""
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = "".join(f"{pad}{k!r}: {_pretty(v, indent + 4)},\n" for k, v in value.items())
        return "{\n" + items + " " * indent + "}"
    if isinstance(value, tuple):
        if value and isinstance(value[0], dict):
            items = "".join(f"{pad}{_pretty(v, indent + 4)},\n" for v in value)
            return "(\n" + items + " " * indent + ")"
        inner = ", ".join(_pretty(v, indent) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "math.inf" if value > 0 else "-math.inf"
    return repr(value)


def recurrence_metadata(rec) -> dict:
    return {
        "name": rec.name,
        "family": "sequence",
        "kind": rec.family,
        "doc": rec.doc,
        "cell": str(rec.cell),
        "params": tuple(
            {"name": k, "default": d, "domain": domain_pieces(dom), "domain_text": domain_text(dom)}
            for k, (d, dom) in rec.params.items()
        ),
    }
