"""Formulas written as strings, parsed without evaluating Python.

``parse_formula("c**2/2*log(1 + ((pred - target)/c)**2)", names={"pred", "target", "c"})``
walks the Python syntax tree of the string and builds the SymPy expression node by node. Only
arithmetic (``+ - * / **``), comparisons, ``and``/``or``/``not``, ``a if cond else b``, numbers,
the declared names, a fixed set of mathematical functions and, for vector inputs, subscripts
such as ``logits[c]`` are accepted. Anything else (attribute access, imports, lambdas,
comprehensions, keyword arguments, unknown names) is rejected with an error that says what was
found and where, before anything is evaluated. Decimal literals become exact rationals
(``0.1`` is 1/10), so derivatives and the verification see the number that was written.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Collection, Mapping

import sympy as sp
from sympy.logic.boolalg import Boolean

from . import primitives
from .axes import C, c, class_max, class_maximum, class_sum

__all__ = ["parse_formula", "FUNCTIONS", "FormulaError"]

MAX_LENGTH = 10_000
FLOAT_MAX = sp.Float("1.7976931348623157e308")  # constants must stay within float64's range


class FormulaError(ValueError):
    """A formula string that is not a formula symloss accepts."""


def _piecewise(*pieces):
    # A condition on a class sum or maximum keeps its bound index c: SymPy would fold the
    # Piecewise inside the sum out of it.
    fold = not any(cond.has(sp.Sum, class_max) for _, cond in pieces)
    return sp.Piecewise(*pieces, evaluate=fold)


def _where(cond, a, b):
    return _piecewise((a, cond), (b, sp.true))


# name → (SymPy callable, accepted argument counts)
FUNCTIONS: Mapping[str, tuple[Callable, tuple[int, ...]]] = {
    "exp": (sp.exp, (1,)),
    "log": (sp.log, (1, 2)),
    "log1p": (lambda x: sp.log(1 + x), (1,)),
    "expm1": (lambda x: sp.exp(x) - 1, (1,)),
    "sqrt": (sp.sqrt, (1,)),
    "abs": (sp.Abs, (1,)),
    "Abs": (sp.Abs, (1,)),
    "sign": (sp.sign, (1,)),
    "max": (sp.Max, (2, 3, 4)),
    "Max": (sp.Max, (2, 3, 4)),
    "min": (sp.Min, (2, 3, 4)),
    "Min": (sp.Min, (2, 3, 4)),
    "where": (_where, (3,)),
    "Heaviside": (lambda x, h0=0: sp.Heaviside(x, h0), (1, 2)),
    "KroneckerDelta": (sp.KroneckerDelta, (2,)),
    "sin": (sp.sin, (1,)),
    "cos": (sp.cos, (1,)),
    "tan": (sp.tan, (1,)),
    "atan": (sp.atan, (1,)),
    "sinh": (sp.sinh, (1,)),
    "cosh": (sp.cosh, (1,)),
    "tanh": (sp.tanh, (1,)),
    "asinh": (sp.asinh, (1,)),
    "erf": (sp.erf, (1,)),
    "erfc": (sp.erfc, (1,)),
    "loggamma": (sp.loggamma, (1,)),
    "lgamma": (sp.loggamma, (1,)),
    "sigmoid": (primitives.sigmoid, (1,)),
    "softplus": (primitives.softplus, (1,)),
    "log_sigmoid": (primitives.log_sigmoid, (1,)),
    "log_cosh": (primitives.log_cosh, (1,)),
    "logaddexp": (primitives.logaddexp, (2,)),
    "log1p_square": (primitives.log1p_square, (1,)),
    "lorentz_ratio": (primitives.lorentz_ratio, (1,)),
    "lorentz_slope": (primitives.lorentz_slope, (1,)),
    "held": (primitives.held, (1,)),
    "wide": (primitives.wide, (1,)),
    "class_sum": (class_sum, (1,)),
    "class_max": (class_maximum, (1,)),
}
CONSTANTS = {"pi": sp.pi, "E": sp.E, "oo": sp.oo, "inf": sp.oo}
_SPECIAL = ("Piecewise", "Sum", "Eq", "Ne", "ITE")  # parsed by form, not called
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_COMPARE = {
    ast.Lt: sp.Lt,
    ast.LtE: sp.Le,
    ast.Gt: sp.Gt,
    ast.GtE: sp.Ge,
    ast.Eq: sp.Eq,
    ast.NotEq: sp.Ne,
}
_DESCRIBE = {
    ast.Attribute: "attribute access",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.Starred: "starred arguments",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.JoinedStr: "an f-string",
    ast.Slice: "a slice",
}


def parse_formula(
    text: str,
    names: Collection[str],
    *,
    vectors: Collection[str] = (),
    indices: Collection[str] = (),
    what: str = "formula",
) -> sp.Expr:
    """The SymPy expression written in ``text``.

    ``names``: the inputs and parameters the formula may use (real symbols of those names);
    ``vectors``: those that are vectors over the class axis, used only as ``v[index]``;
    ``indices``: names allowed as such an index besides the class index ``c`` (a label).
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string or a SymPy expression, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"{what} is {len(text)} characters long; the limit is {MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except RecursionError:
        raise FormulaError(f"{what} is nested too deeply to parse") from None
    except SyntaxError as err:
        raise FormulaError(
            f"{what} {text!r} is not an expression: {err.msg} (column {err.offset})"
        ) from None
    builder = _Builder(text, set(names), set(vectors), set(indices), what)
    try:
        out = builder.expr(tree.body)
    except RecursionError:
        raise FormulaError(f"{what} is nested too deeply to build") from None
    if out.has(sp.zoo, sp.nan):
        raise FormulaError(f"{what} {text!r} is undefined (a division by zero?): {out}")
    outside = out.xreplace({m: sp.Dummy() for m in out.atoms(class_max)}).free_symbols
    if c in outside:
        raise FormulaError(
            f"{what} {text!r}: the class index c is used outside class_sum/class_max (SymPy "
            "moves a condition inside a sum out of it when the sum is compared: write that "
            "sum's body without a condition, e.g. class_sum(s[c]) - s[target])"
        )
    return out


class _Builder:
    def __init__(self, text, names, vectors, indices, what):
        self.text, self.names, self.vectors, self.indices, self.what = (
            text,
            names,
            vectors,
            indices,
            what,
        )
        self.symbols = {nm: sp.Symbol(nm, real=True) for nm in names - vectors}
        self.symbols.update({nm: sp.IndexedBase(nm, real=True) for nm in vectors})
        for nm in indices:
            self.symbols[nm] = sp.Symbol(nm, integer=True, nonnegative=True)

    def fail(self, node: ast.AST, message: str):
        where = ""
        if hasattr(node, "col_offset"):
            segment = ast.get_source_segment(self.text.strip(), node) or ""
            where = f" at column {node.col_offset + 1} ({segment!r})"
        raise FormulaError(f"{self.what} {self.text!r}: {message}{where}")

    def build(self, node: ast.AST):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            kind = _DESCRIBE.get(type(node), type(node).__name__)
            self.fail(node, f"{kind} is not allowed in a formula")
        return method(node)

    # -- leaves ------------------------------------------------------------------------------
    def _Constant(self, node: ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float, complex)):
            self.fail(node, f"{type(v).__name__} literals are not numbers")
        if isinstance(v, complex):
            self.fail(node, "complex numbers are not allowed: a loss is real-valued")
        if isinstance(v, float) and not abs(v) <= float(FLOAT_MAX):
            self.fail(node, "a number beyond float64's range")
        if isinstance(v, int):
            return self.number(node, sp.Integer(v))
        segment = ast.get_source_segment(self.text.strip(), node)
        return sp.Rational(segment.replace("_", "")) if segment else sp.Rational(repr(v))

    def number(self, node, value):
        if value.has(sp.nan, sp.zoo):
            self.fail(node, "undefined (inf - inf, 0·inf, a division by zero)")
        if value.is_Number and abs(value) > FLOAT_MAX:
            self.fail(node, "a constant beyond float64's range")
        return value

    def expr(self, node: ast.AST) -> sp.Expr:
        """A real-valued operand (not a condition)."""
        out = self.build(node)
        if not isinstance(out, sp.Expr):
            self.fail(node, "a condition where a number is expected")
        return out

    def cond(self, node: ast.AST):
        """A condition (a comparison, or and/or/not of them)."""
        out = self.build(node)
        if not isinstance(out, Boolean) or isinstance(out, sp.Expr) or out in (sp.true, sp.false):
            self.fail(node, "a number where a condition (a comparison) is expected")
        return out

    def _Name(self, node: ast.Name):
        nm = node.id
        if nm in self.vectors:
            self.fail(node, f"{nm!r} is a vector: index it, e.g. {nm}[c]")
        if nm in self.symbols:
            return self.symbols[nm]
        if nm in CONSTANTS:
            return CONSTANTS[nm]
        if nm == "c" and self.vectors:
            return c
        if nm == "C" and self.vectors:
            return C
        if nm in FUNCTIONS:
            self.fail(node, f"{nm!r} is a function: call it, e.g. {nm}(x)")
        self.fail(
            node,
            f"unknown name {nm!r}: the formula may use its inputs and parameters "
            f"{sorted(self.names)}, the constants {sorted(CONSTANTS)} and the functions "
            f"{sorted(FUNCTIONS)}",
        )

    # -- operators ---------------------------------------------------------------------------
    def _BinOp(self, node: ast.BinOp):
        if isinstance(node.op, (ast.BitAnd, ast.BitOr)):  # how SymPy prints And / Or
            a, b = self.cond(node.left), self.cond(node.right)
            return sp.And(a, b) if isinstance(node.op, ast.BitAnd) else sp.Or(a, b)
        op = _BINARY.get(type(node.op))
        if op is None:
            self.fail(node, f"operator {type(node.op).__name__} is not allowed (use + - * / **)")
        a, b = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Pow) and a.is_Number and b.is_Number and abs(a) not in (0, 1):
            # decide from the size of the result before SymPy computes it exactly
            if abs(float(b)) * abs(math.log10(abs(float(a)))) > 308:
                self.fail(node, "a numeric power beyond float64's range")
        return self.number(node, op(a, b))

    def _UnaryOp(self, node: ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return sp.Not(self.cond(node.operand))
        operand = self.expr(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        self.fail(node, f"operator {type(node.op).__name__} is not allowed")

    def _Compare(self, node: ast.Compare):
        terms = [self.expr(node.left), *(self.expr(x) for x in node.comparators)]
        out = []
        for op, a, b in zip(node.ops, terms, terms[1:]):
            rel = _COMPARE.get(type(op))
            if rel is None:
                self.fail(node, f"comparison {type(op).__name__} is not allowed")
            # a side holding a class sum keeps its bound index (no folding of its Piecewise)
            out.append(
                rel(a, b, evaluate=not (a.has(sp.Sum, class_max) or b.has(sp.Sum, class_max)))
            )
        return sp.And(*out)

    def _BoolOp(self, node: ast.BoolOp):
        parts = [self.cond(x) for x in node.values]
        return sp.And(*parts) if isinstance(node.op, ast.And) else sp.Or(*parts)

    def _IfExp(self, node: ast.IfExp):
        return _where(self.cond(node.test), self.expr(node.body), self.expr(node.orelse))

    def _Call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name):
            self.fail(node, "only the listed functions can be called, by name")
        nm = node.func.id
        if nm in _SPECIAL and not node.keywords:
            return getattr(self, "_call_" + nm)(node)
        if nm not in FUNCTIONS:
            self.fail(node, f"unknown function {nm!r}: the functions are {sorted(FUNCTIONS)}")
        if node.keywords:
            self.fail(node, f"{nm}() takes no keyword arguments")
        fn, counts = FUNCTIONS[nm]
        if len(node.args) not in counts:
            self.fail(node, f"{nm}() takes {' or '.join(map(str, counts))} argument(s)")
        if nm in ("class_sum", "class_max") and not self.vectors:
            self.fail(node, f"{nm}() needs a vector input (declare it with classes=True)")
        if nm == "where":
            test, a, b = node.args
            return fn(self.cond(test), self.expr(a), self.expr(b))
        return fn(*(self.expr(a) for a in node.args))

    # -- the forms `sympy.sstr` prints (so a printed derivative parses back) ------------------
    def _call_Eq(self, node):
        return self.relation(node, sp.Eq)

    def _call_Ne(self, node):
        return self.relation(node, sp.Ne)

    def _call_ITE(self, node):
        if len(node.args) != 3:
            self.fail(node, "ITE() takes 3 conditions")
        return sp.ITE(*(self.cond(a) for a in node.args))

    def relation(self, node, rel):
        if len(node.args) != 2:
            self.fail(node, f"{node.func.id}() takes 2 arguments")
        return rel(self.expr(node.args[0]), self.expr(node.args[1]))

    def _call_Piecewise(self, node):
        pieces = []
        for arg in node.args:
            if not (isinstance(arg, ast.Tuple) and len(arg.elts) == 2):
                self.fail(node, "Piecewise takes (value, condition) pairs")
            value, test = arg.elts
            last = isinstance(test, ast.Constant) and test.value is True
            pieces.append((self.expr(value), sp.true if last else self.cond(test)))
        if not pieces:
            self.fail(node, "Piecewise takes (value, condition) pairs")
        return _piecewise(*pieces)

    def _call_Sum(self, node):
        limits = node.args[1] if len(node.args) == 2 else None
        if not (
            self.vectors
            and isinstance(limits, ast.Tuple)
            and [ast.unparse(e).replace(" ", "") for e in limits.elts] == ["c", "0", "C-1"]
        ):
            self.fail(node, "Sum(body, (c, 0, C - 1)) is a sum over the class axis only")
        return class_sum(self.expr(node.args[0]))

    def _Subscript(self, node: ast.Subscript):
        if not (isinstance(node.value, ast.Name) and node.value.id in self.vectors):
            self.fail(node, "only vector inputs (classes=True) can be indexed")
        index = node.slice
        if not (isinstance(index, ast.Name) and (index.id == "c" or index.id in self.indices)):
            allowed = ["c", *sorted(self.indices)]
            self.fail(node, f"a vector is indexed by one of {allowed}")
        base = self.symbols[node.value.id]
        return base[c if index.id == "c" else self.symbols[index.id]]
