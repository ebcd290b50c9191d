"""The exact results a kernel is judged against: the definition in plain mathematics, its
derivatives taken here with SymPy's ``diff`` (not the generator's derivation or lowering, so a
wrong derivation fails), evaluated by mpmath at 60 and 120 digits (and more, up to 1920, until
two agree) and rounded to the kernel's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import numpy as np
import sympy as sp
from sympy.logic.boolalg import BooleanFunction

from ..definition.spec import C, Loss

__all__ = ["PRECISIONS", "plain", "Reference", "ClassReference", "CLASS_COUNT", "rounded"]

PRECISIONS = (60, 120, 240, 480, 960, 1920)
# A result of exactly 0 at two precisions may be a cancellation deeper than both (1 - tanh²r
# at r = 326 is 1e-283): zeros are confirmed at this many digits.
ZERO_DIGITS = 480
# ... except at inputs beyond ±ZERO_CONFIRMED: there a zero is the underflow of e^(-|x|) (1e6
# is far past both dtypes' range for it), and e^x at 480 digits costs up to a second.
ZERO_CONFIRMED = 1e6


def _schedule(values) -> tuple:
    """The precisions to try: at an infinite input only the first two (a limit evaluated at
    ±10^1000 that cancels never converges, and each step costs more; it is dropped, counted)."""
    return PRECISIONS[:2] if any(math.isinf(v) for v in values) else PRECISIONS


# 1 + e^a holds e^a's digits and 1 only with log10(e^|a|) more digits than the result needs:
# with fewer, the 1 is lost alike at every precision that lacks them, and two precisions agree
# on a result without it (σ(x)(1 - σ(x)) as e^{-x}/(1 + e^{-x}) - e^{-2x}/(1 + e^{-x})² is
# exactly 0 at x = -690 at 60 and 120 digits). The first precision gets those digits, for
# exponents up to the log of the dtype's smallest subnormal (a relative e^{-|a|} beyond it is
# below every result of terms of size 1).


def start_digits(exponents, dtype) -> int:
    """The first precision at which to evaluate where the exponentials' arguments are
    ``exponents``: PRECISIONS[0] plus the digits that e^{|a|} spans, up to ``dtype``'s range."""
    span = -math.log(float(np.finfo(dtype).smallest_subnormal))
    finite = [abs(a) for a in exponents if math.isfinite(a)]
    return PRECISIONS[0] + int(min(max(finite, default=0.0), span) / math.log(10))


def starting_at(start: int, precisions: tuple) -> tuple:
    """``precisions`` from ``start`` on (at least two)."""
    if start <= precisions[0]:
        return precisions
    later = tuple(p for p in precisions if p > start)
    return (start, *later) if later else (start, 2 * start)


def confirms_zeros(values) -> bool:
    return all(abs(v) <= ZERO_CONFIRMED for v in values)


CLASS_COUNT = 5  # the sums over classes are written out for this many classes

_PIECEWISE = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside)


def plain(expr: sp.Expr) -> sp.Expr:
    """``expr`` in plain mathematics: each stable primitive as what it means (softplus(x) as
    log(1 + eˣ)), and |x|, max, min, sign and Heaviside as Piecewise, by SymPy's own rewrites.
    For exact arithmetic the way a case is split does not matter."""
    e = expr.rewrite("math")
    return e.replace(lambda a: isinstance(a, _PIECEWISE), lambda a: a.rewrite(sp.Piecewise))


class undefined_at(BooleanFunction):
    """True where an operand of a condition is NaN: the condition is then undecided, and the
    Piecewise that holds it is NaN (a comparison with NaN would silently pick a branch)."""

    def _mpmathcode(self, printer):
        return "(%s)" % " or ".join(f"isnan({printer._print(a)})" for a in self.args)


def nan_undecided(expr: sp.Expr) -> sp.Expr:
    """Each Piecewise gets a first branch (NaN, undefined_at(operands of its conditions))."""

    def guard(pw: sp.Piecewise) -> sp.Expr:
        operands = {
            side
            for _, cond in pw.args
            for rel in cond.atoms(sp.core.relational.Relational)
            for side in (rel.lhs, rel.rhs)
            if not side.is_number
        }
        if not operands:
            return pw
        ordered = sorted(operands, key=sp.default_sort_key)
        return sp.Piecewise((sp.nan, undefined_at(*ordered)), *pw.args)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), guard)


# An infinite input stands for the limit: mpmath's extended arithmetic gives it where no 0·∞ or
# ∞ - ∞ arises; where one does, the input is evaluated at ±10^1000, so far beyond both
# dtypes that 1/x rounds to 0 and a subnormal times it overflows; where several inputs are
# infinite, also with the k-th at ±10^(1000+k): a limit that depends on how they grow is
# undefined.
_HUGE = 1000


def stand_ins(values: list[float]) -> list[list]:
    """The argument lists (mpf) at which to evaluate for ``values`` with infinite entries: one,
    or two where several are infinite."""
    infinite = [k for k, v in enumerate(values) if math.isinf(v)]
    base = [mpmath.mpf(v) for v in values]
    out = []
    for spread in ((0,) * len(infinite), tuple(range(len(infinite)))):
        at = list(base)
        for k, e in zip(infinite, spread):
            at[k] = mpmath.mpf(10) ** (_HUGE + e) * (1 if values[k] > 0 else -1)
        out.append(at)
    return out if len(infinite) > 1 else out[:1]


def derivative(expr: sp.Expr, var, order: int = 1) -> sp.Expr:
    """d^order expr / d var^order of a plain expression, where it exists (a Dirac delta, the
    derivative of a jump, is 0 away from the jump)."""
    for _ in range(order):
        expr = sp.diff(expr, var).replace(sp.DiracDelta, lambda *a: sp.S.Zero)
    return expr


def conditions(expr: sp.Expr) -> list:
    """The relations that select the branches of ``expr``'s Piecewise, in a fixed order."""
    return sorted(expr.atoms(sp.core.relational.Relational), key=sp.default_sort_key)


def mp_function(symbols: list, expr, guard: bool = True) -> Callable:
    """``expr`` as an mpmath function of ``symbols``; ``guard``: NaN where a condition meets a
    NaN."""
    return sp.lambdify(symbols, nan_undecided(expr) if guard else expr, modules="mpmath")


def rounded(v, dtype) -> float:
    """An mpmath number rounded to ``dtype`` (NaN for a complex or NaN number)."""
    if isinstance(v, mpmath.mpc) or (hasattr(v, "imag") and v.imag != 0):
        return math.nan
    if mpmath.isnan(v):
        return math.nan
    return float(np.asarray(float(v)).astype(dtype))


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def at_limits(f: Callable, values: list[float]) -> list:
    """f at ``values``, where an infinite value stands for the limit (see stand_ins); raises
    as f does."""
    literal = [mpmath.mpf(v) for v in values]
    v = f(literal)
    if not any(math.isinf(x) for x in values) or not _isnan(v):
        return v
    results = [f(at) for at in stand_ins(values)]
    return results[0] if len(results) == 1 else _agree(results)


def _isnan(v) -> bool:
    return any(mpmath.isnan(x) for x in (v if isinstance(v, list) else [v]))


def _agree(results: list):
    """The results where two stand-ins give the same, NaN where they differ."""
    first, second = results

    def one(a, b):
        try:
            return (
                a
                if a == b or abs(a - b) <= abs(a) * mpmath.mpf(2) ** (-mpmath.mp.prec // 2)
                else mpmath.nan
            )
        except TypeError:
            return mpmath.nan

    if isinstance(first, list):
        return [one(a, b) for a, b in zip(first, second)]
    return one(first, second)


def converge(
    evaluate: Callable[[int], list], precisions=PRECISIONS, confirm_zeros: bool = True
) -> list | None:
    """``evaluate(dps)`` (results rounded to the dtype) at rising precisions, until two in a row
    agree; where a result is 0 (and ``confirm_zeros``) the agreement must hold at ZERO_DIGITS
    too (skipping ahead to it). None if no two agree."""
    queue, previous = list(precisions), None
    while queue:
        dps = queue.pop(0)
        out = evaluate(dps)
        if previous is not None and all(map(same, previous, out)):
            if dps >= ZERO_DIGITS or not confirm_zeros or not any(v == 0 for v in out):
                return out
            queue = [ZERO_DIGITS, *(p for p in queue if p > ZERO_DIGITS)]
        previous = out
    return None


class Reference:
    """Exact value, gradient and Hessian of an elementwise loss (w.r.t. its first
    differentiable input) for one set of static switches, and the branch of the definition
    taken at a point."""

    def __init__(self, loss: Loss, static: dict | None = None):
        self.loss = loss
        subs = {loss.symbol(k): int(v) for k, v in (static or {}).items()}
        x = loss.symbol(loss.differentiable[0])
        value = plain(loss.element.subs(subs))
        self.exprs = {
            "value": value,
            "grad": derivative(value, x, 1),
            "hess": derivative(value, x, 2),
        }
        self.args = [i.name for i in loss.inputs] + [
            k for k, p in loss.parameters.items() if not p.static
        ]
        self.differentiable = list(loss.differentiable)
        symbols = [loss.symbol(a) for a in self.args]
        self.functions = {q: mp_function(symbols, e) for q, e in self.exprs.items()}
        self._exponents = {
            q: mp_function(
                symbols,
                sp.Tuple(*sorted({a.args[0] for a in e.atoms(sp.exp)}, key=sp.default_sort_key)),
                guard=False,
            )
            for q, e in self.exprs.items()
        }
        self._branches = {
            q: mp_function(symbols, sp.Tuple(*conditions(e))) for q, e in self.exprs.items()
        }
        self._memo: dict = {}
        self.residual = _residual_of(loss)

    def _key(self, what, q, values, dtype=None):
        return (what, q, dtype, *(values[a] for a in self.args))

    def evaluate(self, q: str, values: dict[str, float], dtype) -> float | None:
        """The quantity rounded to ``dtype``; NaN if any input is NaN; None if mpmath does
        not converge."""
        if any(math.isnan(values[a]) for a in self.args):
            return math.nan
        key = self._key("value", q, values, np.dtype(dtype).name)
        if key not in self._memo:
            self._memo[key] = self._evaluate(q, values, dtype)
        return self._memo[key]

    def _evaluate(self, q: str, values: dict[str, float], dtype) -> float | None:
        f = self.functions[q]

        def at(dps: int) -> list:
            with mpmath.workdps(dps):
                try:
                    return [
                        rounded(at_limits(lambda a: f(*a), [values[a] for a in self.args]), dtype)
                    ]
                except (ZeroDivisionError, ValueError, OverflowError):
                    return [math.nan]

        point = [values[a] for a in self.args]
        precisions = _schedule(point)
        if all(math.isfinite(v) for v in point):
            precisions = starting_at(start_digits(self._exponents_at(q, point), dtype), precisions)
        out = converge(at, precisions, confirms_zeros(values.values()))
        return None if out is None else out[0]

    def _exponents_at(self, q: str, point: list[float]) -> list[float]:
        """The arguments of the exponentials in the quantity at the point, at 15 digits (those
        that are real and defined)."""
        out = []
        with mpmath.workdps(15):
            try:
                values = self._exponents[q](*(mpmath.mpf(v) for v in point))
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                return out
            for v in values:
                try:
                    out.append(float(v))
                except TypeError:
                    pass
        return out

    def literal(self, q: str, values: dict[str, float]) -> bool:
        """Whether the formula is undefined (NaN: 0·∞, ∞ - ∞) at an infinite input taken
        literally, in mpmath's extended arithmetic, rather than as a limit."""
        key = self._key("literal", q, values)
        if key not in self._memo:
            with mpmath.workdps(PRECISIONS[0]):
                try:
                    v = self.functions[q](*(mpmath.mpf(values[a]) for a in self.args))
                    self._memo[key] = bool(mpmath.isnan(v))
                except (ZeroDivisionError, ValueError, OverflowError):
                    self._memo[key] = True
        return self._memo[key]

    def branch(self, q: str, values: dict[str, float]) -> tuple:
        """Which way each condition of the definition goes at the point."""
        key = self._key("branch", q, values)
        if key not in self._memo:
            with mpmath.workdps(PRECISIONS[0]):
                try:
                    at = stand_ins([values[a] for a in self.args])[0]
                    self._memo[key] = tuple(bool(c) for c in self._branches[q](*at))
                except (TypeError, ValueError, ZeroDivisionError):
                    self._memo[key] = None
        return self._memo[key]


def _residual_of(loss: Loss) -> tuple[str, str] | None:
    """(x, y) when an elementwise loss of two inputs depends on them only through r = x - y."""
    if len(loss.inputs) != 2 or not loss.inputs[0].differentiable:
        return None
    x, y = (loss.symbol(i.name) for i in loss.inputs)
    r = sp.Dummy("r", real=True)
    if loss.element.xreplace({x: r + y}).has(y):
        return None
    return (loss.inputs[0].name, loss.inputs[1].name)


class ClassReference:
    """Exact value, gradient (and Hessian diagonal) of a class-axis loss for C = CLASS_COUNT
    (and each label, if it has one), from the definition with its sums written out and
    differentiated term by term here. Arguments: the logits, the other vector inputs
    (``data``), the per-sample inputs, the per-class parameters (``vectors``), the scalar
    parameters."""

    def __init__(self, loss: Loss, n: int = CLASS_COUNT, static: dict | None = None):
        self.loss, self.n = loss, n
        z = loss.symbol(loss.differentiable[0])
        self.zs = sp.symbols(f"z0:{n}", real=True)
        self.data = [i.name for i in loss.inputs[1:] if i.classes]
        self.per_sample = [i.name for i in loss.inputs if not i.classes and i.labels is None]
        self.vectors = [k for k, p in loss.parameters.items() if p.per_class]
        self.ws = {k: sp.symbols(f"{k}0:{n}", real=True) for k in (*self.data, *self.vectors)}
        self.scalars = [
            loss.symbol(k) for k, p in loss.parameters.items() if not (p.per_class or p.static)
        ]
        element = loss.element.subs(static or {})
        label = next((i.name for i in loss.inputs if i.labels == "classes"), None)
        if label is not None and not element.has(loss.symbol(label)):
            label = None  # labels only pick table rows (center loss): one reference
        self.labelled = label is not None
        written = {z[k]: self.zs[k] for k in range(n)}
        for name, ws in self.ws.items():
            written.update({loss.symbol(name)[k]: ws[k] for k in range(n)})
        by_name = {i.name: i for i in loss.inputs}
        # the inputs (their positions among the arguments), then the parameters
        self.inputs = [
            *self.zs,
            *(w for k in self.data for w in self.ws[k]),
            *(loss.symbol(k) for k in self.per_sample),
        ]
        differentiable = [True] * n
        differentiable += [by_name[k].differentiable for k in self.data for _ in range(n)]
        differentiable += [by_name[k].differentiable for k in self.per_sample]
        self.perturbable = [k for k, d in enumerate(differentiable) if d]
        self.args = [*self.inputs, *(w for k in self.vectors for w in self.ws[k]), *self.scalars]
        # the gradient: every component of every differentiable input, in argument order
        self.wrt = [
            a
            for i in loss.inputs
            if i.differentiable
            for a in (
                (self.zs if i.name == loss.inputs[0].name else self.ws[i.name])
                if i.classes
                else (loss.symbol(i.name),)
            )
        ]
        self.exprs, self._functions, self._memo = [], {}, {}
        for y in range(n if label else 1):
            e = element.subs({C: n, **({loss.symbol(label): y} if label else {})}).doit()
            self.exprs.append(plain(e.xreplace(written)))

    def _targets(self, q: str, y: int) -> list:
        e = self.exprs[y]
        if q == "hess":
            return [derivative(e, z, 2) for z in self.zs]
        if q == "grad":
            return [derivative(e, a) for a in self.wrt]
        return [e]

    def functions(self, q: str, y: int) -> tuple[list, Callable]:
        """The mpmath functions of the quantity's components, and of its branch conditions."""
        if (q, y) not in self._functions:
            targets = self._targets(q, y)
            branches = sorted({c for t in targets for c in conditions(t)}, key=sp.default_sort_key)
            self._functions[(q, y)] = (
                [mp_function(self.args, t) for t in targets],
                mp_function(self.args, sp.Tuple(*branches)),
            )
        return self._functions[(q, y)]

    def _at(self, f, at: list):
        """f(*at); where it divides by a logit (or probability) that is 0, its limit from
        above, evaluated at 1e-10000 instead of 0."""
        try:
            return f(*at)
        except ZeroDivisionError:
            tiny = mpmath.mpf(10) ** -10000
            return f(*(tiny if k < self.n and a == 0 else a for k, a in enumerate(at)))

    def evaluate(self, q: str, args: list, y: int, dtype) -> np.ndarray | None:
        """The quantity's components rounded to ``dtype`` (NaN where an input is NaN), at
        precisions raised until two agree; None if they never do."""
        key = (q, y, np.dtype(dtype).name, *args)
        if key in self._memo:
            return self._memo[key]
        fs, _ = self.functions(q, y)
        if any(math.isnan(v) for v in args):
            self._memo[key] = np.full(len(fs), math.nan)
            return self._memo[key]
        # 1 + z_c - z_y at z = 1.8e307 is 1 only with more than 307 digits: 60 and 120 agree on
        # 0 (multiclass hinge, triplet margin), and a zero there is not confirmed; start with
        # the digits of the largest input beyond the first precision's
        top = max((abs(float(v)) for v in args if math.isfinite(v)), default=0.0)
        start = PRECISIONS[0] + (int(math.log10(top)) + 1 if top > 1 else 0)
        if q == "hess":  # p(1 - p) with 1 - p ≈ e^{-Δz}: start with the digits 1 - p needs
            spread = max((abs(float(v)) for v in args[: self.n] if math.isfinite(v)), default=0)
            start = max(start, PRECISIONS[0] + int(2 * min(spread, 800.0) / math.log(10)))
        precisions = (start, *(p for p in PRECISIONS if p > start))
        if len(precisions) < 2:
            precisions = (start, 2 * start)

        def one(f, point):
            try:
                return self._at(f, point)
            except (ValueError, OverflowError, ZeroDivisionError):
                return mpmath.nan

        def at(dps: int) -> list:
            with mpmath.workdps(dps):
                values = at_limits(lambda p: [one(f, p) for f in fs], [float(v) for v in args])
                return [rounded(v, dtype) for v in values]

        if any(math.isinf(v) for v in args):
            precisions = precisions[:2]
        out = converge(at, precisions, confirm_zeros=confirms_zeros(args[: len(self.inputs)]))
        result = None if out is None else np.array(out)
        self._memo[key] = result
        return result

    def branch(self, q: str, args: list, y: int) -> tuple | None:
        key = ("branch", q, y, *args)
        if key not in self._memo:
            _, f = self.functions(q, y)
            with mpmath.workdps(PRECISIONS[0]):
                try:
                    at = stand_ins([float(v) for v in args])[0]
                    self._memo[key] = tuple(bool(c) for c in self._at(f, at))
                except (TypeError, ValueError, ZeroDivisionError):
                    self._memo[key] = None
        return self._memo[key]

    def term_scale(self, q: str, args: list, y: int) -> np.ndarray:
        """Σ|t| over the terms t of the sums in each component (`term_sums`), at 60 digits."""
        key = ("scale", q, y)
        if key not in self._functions:
            self._functions[key] = [
                mp_function(self.args, term_sums(t)) for t in self._targets(q, y)
            ]
        with mpmath.workdps(60):
            at = [mpmath.mpf(float(v)) for v in args]
            return np.array([float(self._at(f, at)) for f in self._functions[key]])


def term_sums(e: sp.Expr) -> sp.Expr:
    """Σ|t| over the terms t of the sums in ``e``, through products and piecewise branches:
    the size of what an evaluation of ``e`` adds up, whose rounding ε·Σ|t| survives any
    cancellation between the terms."""
    if isinstance(e, sp.Add | sp.Mul):
        return e.func(*(term_sums(a) for a in e.args))
    if isinstance(e, sp.Piecewise):
        return sp.Piecewise(*((term_sums(x), cond) for x, cond in e.args))
    return sp.Abs(e)
