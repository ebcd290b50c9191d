"""The symbolic definition of a loss: inputs, parameters, formula; and `define`, which builds one.

A loss is written once, as a SymPy expression in mathematical form, through `define`. Everything
else (derivatives, LaTeX, kernels, verification) is derived from the `Loss` it returns.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from .axes import C, S, c, class_argmax, class_max, class_maximum, class_sum
from .primitives import adopt_primitives
from .ranges import nonnegative, ranges_of

__all__ = [
    "Input",
    "Param",
    "Loss",
    "define",
    "class_sum",
    "class_maximum",
    "class_max",
    "class_argmax",
    "c",
    "C",
    "RESERVED_NAMES",
]

# Names the generated kernels and the runtime use for their own arguments and locals.
# The class-axis names are free in a loss without vector inputs.
CLASS_AXIS_NAMES = frozenset({"c", "C", "j", "mask"})
RESERVED_NAMES = (
    frozenset(
        {"weight", "reduction", "axis", "out", "value", "grad", "hess", "scale", "acc", "i", "n"}
        | {"S"}
    )
    | CLASS_AXIS_NAMES
)


@dataclass(frozen=True)
class Input:
    """An array input of the loss, broadcast to the shape of the first input.

    ``labels="signs"`` declares targets in {-1, +1}; targets all in {0, 1} are mapped to 2y - 1
    as TensorFlow does, and anything else is rejected at runtime. ``labels="classes"`` declares
    an integer class index in [0, C) per sample (written ``target`` in the formula, and used to
    pick components, ``logits[target]``). ``classes=True`` declares a vector of C components
    per sample (written ``logits[c]`` inside `class_sum`, ``logits[target]`` outside).
    ``by_label=True`` (with ``classes=True``): the caller passes a table with one such vector
    per class (centers (K, D)) and each sample uses the row of its label; the gradient of a
    row is summed back into the table. An input of a class-axis loss that is neither a vector
    nor a label is one number per sample.
    """

    name: str
    differentiable: bool = False
    domain: sp.Set = sp.S.Reals
    latex: str | None = None
    labels: str | None = None
    doc: str = ""
    classes: bool = False
    by_label: bool = False


@dataclass(frozen=True)
class Param:
    """A scalar parameter with a default and a valid range (a SymPy set).

    ``broadcast=True``: an array broadcast to the inputs' shape is accepted too (kernels get a
    variant that reads it per element). ``static=True``: a boolean switch, substituted at
    generation time, each value giving its own kernels; a static parameter whose default is
    an int takes the integers of its domain (a FiniteSet) instead. ``estimate``: the name of a
    runtime estimator used when the value is None (e.g. ``"negative_fraction"`` of the target).
    """

    default: Any
    domain: sp.Set = sp.S.Reals
    latex: str | None = None
    doc: str = ""
    broadcast: bool = False
    static: bool = False
    estimate: str | None = None
    per_class: bool = False  # a vector of C values (written ``weight[c]``), or one scalar

    @property
    def values(self) -> tuple:
        """The values a static parameter takes, one kernel set each."""
        if isinstance(self.default, bool):
            return (False, True)
        return tuple(int(v) for v in sorted(self.domain))


LABEL_CONVENTIONS = {"signs": sp.FiniteSet(-1, 1), "classes": sp.Range(0, sp.oo)}
ESTIMATORS = {"negative_fraction": "mean(1 - target)"}


@dataclass(frozen=True, eq=False)
class Loss:
    """A loss defined symbolically; built by `define`, never mutated.

    ``element`` is the per-element loss ℓ in the input and parameter symbols. When ``outer`` is
    set (an expression in the symbol ``S``), the loss is g(S) with S = Σ_i w_i ℓ_i over the reduced
    elements (the l1 and l2 norms); otherwise it is ℓ per element, reduced by mean or sum.
    """

    name: str
    inputs: tuple[Input, ...]
    parameters: Mapping[str, Param]
    element: sp.Expr
    outer: sp.Expr | None = None
    homogeneous: int | None = None
    stable: sp.Expr | None = None  # an equal form the value kernels compute instead
    doc: str = ""
    origin: str = ""
    over: str = "classes"  # vector inputs run along axis 1 ("classes") or all non-batch axes
    frontend: str | None = None  # "linear": the public inputs are (x, weight, target)
    kind: str | None = None  # one of several forms, chosen by kind= (loss ``<base>_<kind>``)
    accuracy: str = "componentwise"  # or "terms": how `symloss verify` scales errors
    symbols: Mapping[str, sp.Symbol] = field(default_factory=dict)

    # -- the contract of symloss.get(name) -------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """Parameter name → default."""
        return {k: p.default for k, p in self.parameters.items()}

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def differentiable(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs if i.differentiable)

    @property
    def family(self) -> str:
        if any(i.classes for i in self.inputs):
            return "classes"
        return "elementwise" if self.outer is None else "norm"

    def symbol(self, name: str) -> sp.Symbol:
        try:
            return self.symbols[name]
        except KeyError:
            raise KeyError(f"{self.name} has no input or parameter named {name!r}") from None

    @property
    def expr(self) -> sp.Expr:
        """The formula: ℓ per element, or g(Σ_i ℓ_i) for a norm."""
        if self.outer is None:
            return self.element
        return self.outer.subs(S, self.indexed_sum())

    def derivative(self, wrt: str | None = None, order: int = 1) -> sp.Expr:
        """∂^order/∂wrt^order of the per-element loss (for a norm: of g(Σ ℓ) w.r.t. element i).

        A convenience for users: the derivation stage (`symloss.derive.loss_derivative`) does
        the work; the definition stage itself never calls it."""
        from ..derive import loss_derivative

        return loss_derivative(self, self.check_wrt(wrt), order)

    def latex(self) -> str:
        """LaTeX of the formula and of each derivative, one ``\\begin{aligned}`` block."""
        from ..printing import latex_block  # a convenience, as derivative

        return latex_block(self)

    # -- helpers ---------------------------------------------------------------------------
    def check_wrt(self, wrt: str | None) -> str:
        """The differentiable input named wrt (the first one when None)."""
        if wrt is None:
            return self.differentiable[0]
        if wrt not in self.differentiable:
            raise ValueError(
                f"wrt must be one of the differentiable inputs {self.differentiable} of "
                f"{self.name}, got {wrt!r}"
            )
        return wrt

    def index_map(self) -> dict[sp.Symbol, sp.Expr]:
        """Each input x ↦ x[i], the i-th element of a norm's sum."""
        i = sp.Symbol("i", integer=True)
        return {self.symbols[x.name]: sp.IndexedBase(self.symbols[x.name])[i] for x in self.inputs}

    def indexed_sum(self) -> sp.Expr:
        """Σ_{i=1}^{n} ℓ(x[i]), what a norm's S stands for."""
        i, n = sp.Symbol("i", integer=True), sp.Symbol("n", integer=True, positive=True)
        return sp.Sum(self.element.subs(self.index_map()), (i, 1, n))

    def __repr__(self) -> str:
        return f"<symloss.Loss {self.name}: {self.expr}>"


def _symbol(name: str, vector: bool, inputs: Sequence[Input]):
    """The canonical symbol of an input or parameter: a vector over classes is an IndexedBase,
    a class label an integer, anything else real."""
    if vector:
        return sp.IndexedBase(name, real=True)
    if any(i.name == name and i.labels == "classes" for i in inputs):
        return sp.Symbol(name, integer=True, nonnegative=True)
    return sp.Symbol(name, real=True)


def _as_input(spec: str | Input, first: bool) -> Input:
    if isinstance(spec, Input):
        return spec
    if isinstance(spec, str):
        return Input(spec, differentiable=first)
    raise TypeError(f"inputs must be names or symloss.Input objects, got {spec!r}")


def _as_param(name: str, spec: Any) -> Param:
    if isinstance(spec, Param):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return Param(float(spec))
    raise TypeError(
        f"params[{name!r}] must be a number (the default) or a symloss.Param, got {spec!r}"
    )


MAX_NAME_LENGTH = 64


def _check_name(kind: str, name: str, allow_weight: bool = False, vectors: bool = True) -> None:
    if not (isinstance(name, str) and name.isidentifier()) or name.startswith("_"):
        raise ValueError(
            f"{kind} name must be a Python identifier not starting with _, got {name!r}"
        )
    if len(name) > MAX_NAME_LENGTH:  # a file name, and a symbol in generated code
        raise ValueError(
            f"{kind} name must have at most {MAX_NAME_LENGTH} characters, got {len(name)}"
        )
    if not vectors and name in CLASS_AXIS_NAMES:
        return
    if name in RESERVED_NAMES and not (allow_weight and name == "weight"):
        raise ValueError(f"{kind} name {name!r} is reserved (reserved: {sorted(RESERVED_NAMES)})")


def _check_default(name: str, p: Param) -> None:
    if p.static:
        if isinstance(p.default, bool):
            return
        if not (
            isinstance(p.default, int)
            and isinstance(p.domain, sp.FiniteSet)
            and all(v.is_Integer for v in p.domain)
            and p.default in p.domain
        ):
            raise ValueError(
                f"static parameter {name!r} must default to False or True, or to an int in "
                "its domain, a FiniteSet of integers"
            )
        return
    if p.default is None:
        if p.estimate not in ESTIMATORS:
            raise ValueError(
                f"parameter {name!r} defaults to None, which needs estimate= one of "
                f"{sorted(ESTIMATORS)}"
            )
        return
    if not (isinstance(p.default, (int, float)) and math.isfinite(p.default)):
        raise ValueError(f"default of {name!r} must be a finite number, got {p.default!r}")
    if p.domain.contains(sp.Float(p.default)) is not sp.true:
        raise ValueError(f"default {p.default!r} of {name!r} is outside its range {p.domain}")


def own_symbols(expr: sp.Expr, symbols: Mapping[str, sp.Basic], what: str, why: str) -> sp.Expr:
    """``expr`` with each symbol and vector replaced by the one of the same name in ``symbols``
    (which carries the assumptions); any other name but the class index c and count C is an
    error: "<what> uses [names], <why>"."""
    plain = [s for s in expr.free_symbols if not isinstance(s, sp.Indexed)]
    unknown = sorted(s.name for s in plain if s.name not in symbols and s not in (c, C))
    if unknown:
        raise ValueError(f"{what} uses {unknown}, {why}")
    mapping = {s: symbols[s.name] for s in plain if s.name in symbols}
    for b in expr.atoms(sp.IndexedBase):
        if isinstance(symbols.get(b.name), sp.IndexedBase):
            mapping[b] = symbols[b.name]
    return expr.xreplace(mapping)


def _builtin_names() -> frozenset[str]:
    """The built-in losses' names, as the generated kernels' package lists them."""
    from symloss.generated import kernels

    return frozenset(getattr(kernels, "NAMES", ()))


def _as_formula(formula, what: str, names, vectors, labels) -> sp.Expr:
    """A SymPy expression as given, or parsed from a string (see `symloss.definition.parse`)."""
    if isinstance(formula, str):
        from .parse import parse_formula

        return parse_formula(formula, names, vectors=vectors, indices=labels, what=what)
    if not isinstance(formula, sp.Expr):
        raise TypeError(
            f"{what} must be a SymPy expression or a string, got {type(formula).__name__}"
        )
    return formula


# Functions whose derivative SymPy cannot give (or is zero almost everywhere and useless).
_NOT_DIFFERENTIABLE = (sp.floor, sp.ceiling, sp.frac, sp.Mod, sp.re, sp.im, sp.arg, sp.conjugate)


def _adopt(element: sp.Expr, symbols, ins, pars) -> sp.Expr:
    """Stable primitives for the patterns `adopt_primitives` knows, using the domains."""
    domains = {i.name: i.domain for i in ins if not i.classes}
    domains.update({k: p.domain for k, p in pars.items() if not p.per_class and not p.static})
    ranges = ranges_of(symbols, domains)
    return adopt_primitives(element, lambda e: nonnegative(e, ranges))


def _check_real_and_differentiable(name: str, formula: sp.Expr) -> None:
    if formula.has(sp.zoo, sp.nan):
        raise ValueError(f"formula of {name!r} is undefined (a division by zero?): {formula}")
    if formula.has(sp.I) or any(n.is_extended_real is False for n in formula.atoms(sp.Number)):
        raise ValueError(f"formula of {name!r} is complex-valued ({formula}): a loss is real")
    for pw in formula.atoms(sp.Piecewise):
        if pw.args[-1].cond is not sp.true:
            raise ValueError(
                f"formula of {name!r} is undefined where no condition of {pw} holds: give "
                "Piecewise a last piece (value, True)"
            )
    bad = sorted({type(f).__name__ for f in formula.atoms(*_NOT_DIFFERENTIABLE)})
    undefined = sorted({str(f.func) for f in formula.atoms(sp.core.function.AppliedUndef)})
    if bad or undefined:
        what = ", ".join(bad + [f"undefined function {u}" for u in undefined])
        raise ValueError(
            f"formula of {name!r} is not differentiable: it uses {what}, which has no derivative "
            "symloss can generate"
        )


def define(
    name: str,
    formula: sp.Expr | str,
    *,
    inputs: Sequence[str | Input] = ("pred", "target"),
    params: Mapping[str, Any] | None = None,
    outer: sp.Expr | None = None,
    homogeneous: int | None = None,
    over: str = "classes",
    stable: sp.Expr | str | None = None,
    frontend: str | None = None,
    kind: str | None = None,
    accuracy: str = "componentwise",
    doc: str = "",
) -> Loss:
    """Define a loss from its per-element formula: a SymPy expression in mathematical form, or
    a string such as ``"c**2/2*log(1 + ((pred - target)/c)**2)"``, parsed by
    `symloss.definition.parse` without evaluating Python (only arithmetic, comparisons,
    ``a if cond else b``, numbers, the inputs and parameters, and a fixed set of functions).
    Names of built-in losses are taken; complex-valued formulas and functions without a
    derivative are rejected.

    Symbols in ``formula`` are matched by name to ``inputs`` and ``params``; they are replaced
    by real symbols owned by the returned `Loss`. ``outer``, an expression in ``S``, turns the
    loss into g(Σ ℓ) (a norm). ``homogeneous=k`` declares L(c·x) = c^k·L(x) for c > 0, checked
    here, which lets the runtime rescale sums that would overflow. For losses with vector
    inputs, ``over="classes"`` (the default) takes the vector along axis 1 of (N, C, d1, …)
    arrays, one per sample position (as PyTorch's cross_entropy); ``over="sample"`` takes all
    non-batch axes of each sample as one vector (as the Dice loss). ``stable``: a form equal
    to ``formula`` that the value kernels compute instead, where the formula itself would
    lose digits; derivatives, LaTeX and the verification's reference use ``formula``, so the
    verification checks that the two agree. ``frontend="linear"``: a loss on the logits of a
    linear layer, defined in the inputs ``(logits, target, x_norm, w_norm)`` (f = Wᵀx, ‖x‖ and
    ‖W_y‖) and called as ``(x, weight, target)``: the runtime forms those inputs with BLAS and
    takes the gradient through them to x and W. ``kind``: this loss is one of several forms
    of a loss, called as ``<base>(..., kind=...)``; the form named ``<base>_<kind>`` is chosen
    (the base loss's own kind is its default). ``accuracy="terms"``: the verification allows
    each value or gradient component an error of a few ε·Σ|t| over the terms t of its
    formula (what any evaluation of that sum makes) instead of its componentwise
    conditioning; for distances, whose zeros and small differences are differences of norms
    (parallel vectors in cosine_distance, far anchors in triplet_margin).
    """
    if frontend not in (None, "linear"):
        raise ValueError(f"frontend must be None or 'linear', got {frontend!r}")
    if accuracy not in ("componentwise", "terms"):
        raise ValueError(f"accuracy must be 'componentwise' or 'terms', got {accuracy!r}")
    if over not in ("classes", "sample"):
        raise ValueError(f"over must be 'classes' or 'sample', got {over!r}")
    _check_name("loss", name)
    origin = sys._getframe(1).f_globals.get("__name__", "")
    if not origin.startswith("symloss.catalog") and name in _builtin_names():
        raise ValueError(f"{name!r} is the name of a built-in loss: choose another name")
    ins = tuple(_as_input(s, k == 0) for k, s in enumerate(inputs))
    if not ins or not ins[0].differentiable:
        raise ValueError("the first input must exist and be differentiable")
    pars = {k: _as_param(k, v) for k, v in (params or {}).items()}
    names = [i.name for i in ins] + list(pars)
    for role, nm in [("input", i.name) for i in ins] + [("parameter", p) for p in pars]:
        # Class-axis losses take PyTorch's weight= (per-class weights) as a parameter.
        _check_name(
            role,
            nm,
            allow_weight=role == "parameter" and pars[nm].per_class,
            vectors=any(i.classes for i in ins) or any(p.per_class for p in pars.values()),
        )
    if len(set(names)) != len(names):
        raise ValueError(f"input and parameter names must be distinct, got {names}")
    for k, p in pars.items():
        _check_default(k, p)
    if frontend == "linear" and [(i.name, i.differentiable) for i in ins] != [
        ("logits", True),
        ("target", False),
        ("x_norm", True),
        ("w_norm", True),
    ]:
        raise ValueError(
            "frontend='linear' needs the inputs logits (differentiable), target, x_norm and "
            "w_norm (differentiable)"
        )
    for i in ins:
        if i.by_label and not i.classes:
            raise ValueError(f"input {i.name!r}: by_label=True needs classes=True")
        if i.labels is not None and i.labels not in LABEL_CONVENTIONS:
            raise ValueError(f"labels of {i.name!r} must be one of {sorted(LABEL_CONVENTIONS)}")

    vectors = {i.name for i in ins if i.classes} | {k for k, p in pars.items() if p.per_class}
    symbols = {nm: _symbol(nm, nm in vectors, ins) for nm in names}
    labels = {i.name for i in ins if i.labels == "classes"}
    formula = _as_formula(formula, "formula", names, vectors, labels)
    if stable is not None:
        stable = _as_formula(stable, "stable", names, vectors, labels)
    neither = f"which are neither inputs {[i.name for i in ins]} nor parameters {list(pars)}"
    owned = own_symbols(formula, symbols, f"formula of {name!r}", neither)
    _check_real_and_differentiable(name, formula)
    element = _adopt(owned, symbols, ins, pars)
    if stable is not None:
        stable = own_symbols(stable, symbols, f"stable form of {name!r}", "unknown to the formula")
    if outer is not None:
        extra = sorted(s.name for s in outer.free_symbols if s.name != "S")
        if extra:
            raise ValueError(f"outer must be an expression in S only, it also uses {extra}")
        outer = outer.xreplace({s: S for s in outer.free_symbols})

    loss = Loss(
        name=name,
        inputs=ins,
        parameters=pars,
        element=element,
        outer=outer,
        stable=stable,
        homogeneous=homogeneous,
        doc=doc,
        origin=origin,
        over=over,
        frontend=frontend,
        kind=kind,
        accuracy=accuracy,
        symbols=symbols,
    )
    if homogeneous is not None and not is_homogeneous(loss, homogeneous):
        raise ValueError(f"{name} is not homogeneous of degree {homogeneous} in its inputs")
    return loss


def is_homogeneous(loss: Loss, degree: int) -> bool:
    """True when L(c·x) = c^degree·L(x) for c > 0, with x all of the loss's inputs."""
    k = sp.Symbol("k", positive=True)
    scaled = {loss.symbol(i.name): k * loss.symbol(i.name) for i in loss.inputs}
    ratio = sp.simplify(loss.element.xreplace(scaled) / loss.element)
    if loss.outer is None:
        return sp.simplify(ratio - k**degree) == 0
    if ratio.free_symbols - {k}:
        return False
    return sp.simplify(loss.outer.subs(S, ratio * S) - k**degree * loss.outer) == 0
