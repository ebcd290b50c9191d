"""Render loss definitions into Numba kernel modules through the Jinja templates.

Python decides what goes into a kernel (variants, arguments, CSE'd statements, printed in the
kernel's dtype); the templates in ``templates/kernels/`` only lay the code out. Output is
deterministic: symbols are sorted, CSE temporaries are numbered in canonical order, and nothing
depends on dict or set iteration order.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2
import sympy as sp
from sympy.core.parameters import distribute

from . import __version__, derive
from .definition.primitives import wide
from .definition.recurrence import V, logsumexp_form
from .definition.spec import Loss
from .locations import generated_dir, templates_dir
from .lowering import (
    absent_classes,
    branch_quotients,
    c99_functions,
    clamped_maxima,
    component_differences,
    dd_code,
    dd_differences,
    exact_numerator,
    exact_quotients,
    exact_sum,
    float64_in_float32,
    indicator_products,
    lower,
    margin_roots,
    masked_softmax_differences,
    nan_guards,
    norm_quotients,
    one_hot_differences,
    piecewise_forms,
    ranges_of,
    row_reductions,
    softmax_complements,
    split_logsumexp,
    stable_primitives,
    unbounded_reductions,
    zero_coefficient_products,
)
from .printing import NumbaPrinter
from .variants import static_parts, variant_key

__all__ = ["plan", "plan_classes", "plan_recurrence", "metadata", "write", "stale", "KERNEL_DIR"]

KERNEL_DIR = "kernels"
DTYPES = ("float32", "float64")
_SHORT = {"float32": "f32", "float64": "f64"}

# kind → (group of quantities it computes, weighted?, one-line docstring)
KINDS = {
    "value_each": ("value", False, "out[i] = ℓ_i"),
    "value_sum": ("value", False, "Σ_i ℓ_i, accumulated in float64"),
    "value_sum_w": ("value", True, "Σ_i w_i·ℓ_i, accumulated in float64"),
    "value_grad_each": ("value_grad", False, "value[i] = ℓ_i and grad[i] = ∂ℓ_i/∂x_i"),
    "value_grad_sum": ("value_grad", False, "Σ_i ℓ_i; grad[i] = scale·∂ℓ_i/∂x_i, in one pass"),
    "value_grad_sum_w": (
        "value_grad",
        True,
        "Σ_i w_i·ℓ_i; grad[i] = scale·w_i·∂ℓ_i/∂x_i, in one pass",
    ),
    "grad_hess": ("grad_hess", False, "grad[i] = ∂ℓ_i/∂x_i and hess[i] = ∂²ℓ_i/∂x_i²"),
}
GROUPS = {"value": ("value",), "value_grad": ("value", "grad"), "grad_hess": ("grad", "hess")}
OUTPUTS = {
    "value_each": ("out",),
    "value_grad_each": ("value", "grad"),
    "value_grad_sum": ("grad",),
    "value_grad_sum_w": ("grad",),
    "grad_hess": ("grad", "hess"),
}


@dataclass(frozen=True)
class Variant:
    """One kernel set: static switches substituted, broadcast parameters read per element."""

    static: Mapping[str, bool | int]
    arrays: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return variant_key(static_parts(self.static), self.arrays)

    @property
    def suffix(self) -> str:
        return "".join("__" + part.replace("[]", "_array").replace("=", "_") for part in self.key)


@dataclass
class Kernel:
    """Everything a template needs to lay out one kernel function."""

    name: str
    kind: str
    dtype: str
    key: tuple
    doc: str
    arrays: list[str]
    scalars: list[str]
    outputs: tuple[str, ...]
    loads: list[tuple[str, str]]
    statements: list[tuple[str, str]]
    results: dict[str, str]
    ops: int
    weighted: bool = False

    @property
    def args(self) -> list[str]:
        extra = ["scale"] if self.kind in ("value_grad_sum", "value_grad_sum_w") else []
        return self.arrays + self.scalars + extra + list(self.outputs)


@dataclass
class ModulePlan:
    loss: Loss
    kernels: list[Kernel] = field(default_factory=list)
    outer: list[tuple[str, str]] = field(default_factory=list)


def variants(loss: Loss) -> list[Variant]:
    statics = [k for k, p in loss.parameters.items() if p.static]
    broadcast = [k for k, p in loss.parameters.items() if p.broadcast]
    out = []
    for values in itertools.product(*(loss.parameters[k].values for k in statics)):
        for n in range(len(broadcast) + 1):
            for arrays in itertools.combinations(broadcast, n):
                out.append(Variant(dict(zip(statics, values)), tuple(arrays)))
    return out


def _element_derivatives(loss: Loss) -> dict[str, sp.Expr]:
    x = loss.symbol(loss.differentiable[0])
    return {
        "value": loss.element if loss.stable is None else loss.stable,
        "grad": derive.derivative(loss.element, x, 1),
        "hess": derive.derivative(loss.element, x, 2),
    }


def _printed(
    exprs: list[sp.Expr],
    dtype: str,
    names: Mapping[sp.Symbol, str],
    data: frozenset,
    widen: bool = False,
) -> tuple[list[tuple[str, str]], list[str], int]:
    """CSE over the outputs together, then print each statement in ``dtype``.

    ``widen`` (float32 only): every statement in float64, from the inputs and parameters
    widened, each output rounded to float32 once (see `lowering.float64_in_float32`)."""
    if widen and dtype == "float32":
        symbols = set().union(*(e.free_symbols for e in exprs))
        wide_names = {
            s: f"numba.float64({names.get(s, NumbaPrinter('float64').doprint(s))})"
            for s in sorted(symbols, key=sp.default_sort_key)
        }
        statements, results, ops = _printed_in(exprs, "float64", wide_names, data, typed=True)
        return statements, [f"float32({r})" for r in results], ops
    return _printed_in(exprs, dtype, names, data)


def _printed_in(
    exprs: list[sp.Expr],
    dtype: str,
    names: Mapping[sp.Symbol, str],
    data: frozenset,
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
        if NumbaPrinter.is_transcendental(e) or e.free_symbols & transcendental:
            transcendental.add(t)
    for w, e in wides.items():
        if e.free_symbols & data:
            dependent.add(w)
        if isinstance(e, wide):
            transcendental.add(w)
    printer = NumbaPrinter(dtype, names, frozenset(dependent), frozenset(transcendental))
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


def plan(loss: Loss) -> ModulePlan:
    """Decide every kernel of a loss: variants × kinds × dtypes."""
    quantities = _element_derivatives(loss)
    domains = {i.name: i.domain for i in loss.inputs}
    domains.update({k: p.domain for k, p in loss.parameters.items()})
    ranges = ranges_of(loss.symbols, domains)
    # where coefficients are split for exact rounding (lowering.exact_constant)
    centres = {
        loss.symbol(k): sp.nsimplify(p.default, rational=True)
        for k, p in loss.parameters.items()
        if not p.static and isinstance(p.default, (int, float)) and math.isfinite(p.default)
    }
    varying = frozenset(loss.symbol(i.name) for i in loss.inputs if i.differentiable)
    nonzero = frozenset(loss.symbol(k) for k, d in domains.items() if d.contains(0) is sp.false)
    module = ModulePlan(loss)
    for variant in variants(loss):
        static = {loss.symbol(k): int(v) for k, v in variant.static.items()}
        data_names = [i.name for i in loss.inputs] + list(variant.arrays)
        data = frozenset(loss.symbol(k) for k in data_names)
        scalars = [
            k for k, p in loss.parameters.items() if not p.static and k not in variant.arrays
        ]
        names = {loss.symbol(k): f"{k}_i" for k in data_names}
        with distribute(False):
            lowered = {
                q: lower(e.subs(static), ranges, data, centres, varying, nonzero)
                for q, e in sorted(quantities.items())
            }
            widened = {
                q for q, e in quantities.items() if float64_in_float32(e.subs(static), ranges)
            }
        for dtype in DTYPES:
            groups = {
                g: _printed(
                    [lowered[q] for q in qs], dtype, names, data, widen=bool(widened & set(qs))
                )
                for g, qs in GROUPS.items()
            }
            for kind, (group, weighted, doc) in KINDS.items():
                statements, results, ops = groups[group]
                arrays = list(data_names) + (["weight"] if weighted else [])
                loads = [(f"{a}_i" if a != "weight" else "w_i", a) for a in arrays]
                module.kernels.append(
                    Kernel(
                        name=f"{kind}{variant.suffix}_{_SHORT[dtype]}",
                        kind=kind,
                        dtype=dtype,
                        key=(kind, variant.key, dtype),
                        doc=doc,
                        arrays=arrays,
                        scalars=scalars,
                        outputs=OUTPUTS.get(kind, ()),
                        loads=loads,
                        statements=statements,
                        results=dict(zip(GROUPS[group], results)),
                        ops=ops,
                        weighted=weighted,
                    )
                )
    if loss.outer is not None:
        printer = NumbaPrinter("float64", {derive.S: "S"})
        for order, fname in enumerate(("outer", "outer_d1", "outer_d2")):
            g = loss.outer if order == 0 else derive.outer_derivative(loss.outer, order)
            doc = f"g{'′' * order}(S) = {g}" if order else f"g(S) = {g}, the loss from S = Σ w·ℓ"
            module.outer.append((fname, printer.doprint(lower(g, {}, frozenset())), doc))
    return module


# -- class-axis losses: one row (sample) per iteration, loops over the C classes inside -------

CLASS_KINDS = {
    "value_each": "out[i] = ℓ_i for row i",
    "value_sum_w": "Σ_i w_i·ℓ_i over rows with w_i ≠ 0, accumulated in float64",
    "value_grad_each": "value[i] = ℓ_i and grad_v[i, j] = ∂ℓ_i/∂v_ij for each input v",
    "value_grad_sum_w": "Σ_i w_i·ℓ_i; grad_v[i, j] = scale·w_i·∂ℓ_i/∂v_ij (0 where w_i = 0)",
    "grad_hess": "grad[i, j] = ∂ℓ_i/∂z_ij and hess[i, j] = ∂²ℓ_i/∂z_ij² (the Hessian diagonal)",
}


@dataclass
class RowKernel:
    """A class-axis kernel: per-row reductions, the row's value, then the gradients: of each
    per-sample scalar input once per row, of the vector inputs component by component."""

    name: str
    kind: str
    dtype: str
    key: tuple
    doc: str
    args: list[str]
    first: str
    labels: list[str]
    reductions: list[tuple[str, str, str, str]]  # (kind, symbol, body in c, class skipped)
    value_reductions: list[tuple[str, str, str, str]]  # those the value needs
    value: tuple[list[tuple[str, str]], str]
    row_grads: tuple[list[tuple[str, str]], list[tuple[str, str]]]  # (temporaries, (out, expr))
    grads: tuple[list[tuple[str, str]], list[tuple[str, str]]]  # per component j
    hess: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ((), ())  # grad_hess: j-th g, h


def _needed(reductions, expr: sp.Expr) -> set:
    """The reduction symbols ``expr`` depends on, directly or through other reductions."""
    needed = set(expr.free_symbols)
    for r in reversed(reductions):
        if needed & set(r.outputs):
            needed |= r.body.free_symbols | {r.symbol}
    return needed


def _row_names(loss: Loss, wide: bool = False) -> dict:
    """Symbol → code of its value in row i (and class c); ``wide``: the data read as float64."""
    from .definition.spec import C

    names: dict = {C: "n_classes_f"}
    for i in loss.inputs:
        if i.classes:
            names[loss.symbol(i.name)] = f"{i.name}[i, {{}}]"
        elif i.labels == "classes":
            names[loss.symbol(i.name)] = f"{i.name}_i"
        else:  # one number per sample
            names[loss.symbol(i.name)] = f"{i.name}[i]"
    for k, p in loss.parameters.items():
        if p.per_class:
            names[loss.symbol(k)] = f"{k}[{{}}]"
    if wide:
        names = {s: f"float64({v})" if s != C else v for s, v in names.items()}
    return names


def _held_out(exprs: list[sp.Expr], kinds: tuple, prefix: str):
    """``exprs`` with each distinct node of ``kinds`` replaced by a symbol ``<prefix><k>``,
    and the map from those symbols back to the nodes: the CSE sees each such node as an atom
    (computed as a whole, in float64 or double-double), never shares its parts."""
    held: dict[sp.Expr, sp.Symbol] = {}

    def hold(e: sp.Expr) -> sp.Symbol:
        return held.setdefault(e, sp.Symbol(f"{prefix}{len(held)}", real=True))

    out = [e.replace(lambda x: isinstance(x, kinds), hold) for e in exprs]
    return out, {s: e for e, s in held.items()}


def _cse_printed(exprs: list[sp.Expr], printer: NumbaPrinter, prefix: str):
    temps = sp.numbered_symbols(prefix, real=True)
    # an exact_sum(…) is one double-double evaluation (see `_held_out`)
    exprs, back = _held_out(exprs, (exact_sum,), "_exact")
    with distribute(False):
        replacements, reduced = sp.cse(exprs, symbols=temps, order="canonical")
    return [(str(t), printer.doprint(e.xreplace(back))) for t, e in replacements], [
        printer.doprint(e.xreplace(back)) for e in reduced
    ]


def plan_classes(loss: Loss) -> list[RowKernel]:
    """The row kernels of a class-axis loss: static variants × kinds × dtypes."""
    kernels = []
    for variant in variants(loss):
        kernels += _plan_class_variant(loss, variant)
    return kernels


def has_hessian(loss: Loss) -> bool:
    """Whether a class-axis loss gets a ``grad_hess`` kernel (the Hessian diagonal, what a
    gradient-boosting objective takes): one differentiable input, the class vector."""
    first = loss.inputs[0]
    return loss.frontend is None and loss.differentiable == (first.name,) and first.classes


def gradient_output(loss: Loss, name: str) -> str:
    """The kernel argument that receives ∂ℓ/∂name: ``grad`` for the first input."""
    return "grad" if name == loss.differentiable[0] else f"grad_{name}"


def _class_quantities(loss: Loss, static: Mapping[sp.Symbol, int]):
    """Per-row reductions, value and gradient (of each differentiable input: per component
    for a vector, once per row for a per-sample scalar) of one static variant, lowered."""
    label = next((i.name for i in loss.inputs if i.labels == "classes"), None)
    element = loss.element.subs(static)
    computed = element if loss.stable is None else loss.stable.subs(static)
    wrt = [loss.symbol(nm) for nm in loss.differentiable]
    with distribute(False):
        gradients = [derive.component_derivative(element, v) for v in wrt]
        # ∂/∂z_j of the j-th component: the Hessian diagonal; none where it would be the
        # derivative of an argmax (Crammer–Singer: no closed form)
        hessian = derive.component_derivative(gradients[0], wrt[0]) if has_hessian(loss) else None
        if hessian is not None and hessian.has(sp.Derivative):
            hessian = None
        gradients += [hessian] if hessian is not None else []
        reductions, (value, *gradients) = row_reductions([computed, *gradients])
        gradients = [norm_quotients(clamped_maxima(g), reductions) for g in gradients]
        gradients = [masked_softmax_differences(g, reductions) for g in gradients]
        if label is not None:
            gradients = [one_hot_differences(g, loss.symbol(label), derive.j) for g in gradients]
        gradients = [softmax_complements(g, reductions) for g in gradients]
    # Outside distribute(False), so that -(m + l) distributes to -m - l before grouping.
    value, *gradients = split_logsumexp([value, *gradients], reductions)
    # 0·(-log p_c) = 0 where a coefficient is exactly 0 and the logit is -∞ (a masked class)
    unbounded = unbounded_reductions(reductions)
    varying = {getattr(s, "label", s) for s in wrt} | {
        o for r in reductions for o in (r.symbol, *r.outputs)
    }
    value, *gradients = [
        zero_coefficient_products(e, unbounded, varying) for e in [value, *gradients]
    ]
    if loss.inputs[0].classes:  # e^{z_j}/Σ_{c≠y} e^{z_c} = 0 where z_j = -∞
        component = loss.symbol(loss.inputs[0].name)[derive.j]
        gradients = [absent_classes(g, reductions, component) for g in gradients]
    # the data, and the sums of it: a condition on a norm is NaN-guarded as one on the data
    data = frozenset(loss.symbol(i.name).label for i in loss.inputs if i.classes) | {
        r.symbol for r in reductions if r.kind in ("sum", "norm")
    }

    def branch_free(e: sp.Expr) -> sp.Expr:  # Max, Heaviside, … as NaN-guarded selects
        e = c99_functions(stable_primitives(margin_roots(component_differences(e))))
        return nan_guards(indicator_products(branch_quotients(piecewise_forms(e))), data)

    for r in reductions:
        (r.body,) = split_logsumexp([r.body], reductions)
        r.body = zero_coefficient_products(r.body, unbounded, varying)
        r.body = branch_free(r.body)
    sums = {r.symbol for r in reductions if r.kind == "sum"}

    def lowered(e: sp.Expr) -> sp.Expr:
        return exact_quotients(branch_free(e), sums)

    hessian = lowered(gradients.pop()) if hessian is not None else None
    gradients = dict(zip(loss.differentiable, map(lowered, gradients)))
    return reductions, branch_free(value), gradients, hessian, label


def _double_double_sums(reductions, exprs) -> set:
    """The row sums that exact numerators in ``exprs`` read, and the sums those sums read."""
    needed = set()
    for e in exprs:
        for atom in e.atoms(exact_numerator):
            needed |= atom.sums
    for r in reversed(reductions):
        if r.symbol in needed:
            needed |= {s.symbol for s in reductions if s.kind == "sum"} & r.body.free_symbols
    return needed


def _norm_form(r, dtype: str, printer, wide) -> tuple[str, str, str]:
    """(kind, symbol, printed body) of a reduction. A float32 norm is accumulated from float64
    terms, which cannot over- or underflow; a float64 norm √Σ_c u_c² is "scaled_norm", with u
    as its body: Σ_c (u_c·2^-e)² with 2^e near max_c |u_c| (exact), then √·2^e, so that it is
    finite and accurate wherever ‖u‖ is (rows of 1e200, or of 1e-200)."""
    body = r.body
    if r.kind == "norm" and dtype == "float64" and body.is_Pow and body.exp == 2:
        return "scaled_norm", str(r.symbol), printer.doprint(body.base)
    return r.kind, str(r.symbol), (wide if r.kind == "norm" else printer).doprint(body)


def _plan_class_variant(loss: Loss, variant: Variant) -> list[RowKernel]:
    static = {loss.symbol(k): int(v) for k, v in variant.static.items()}
    reductions, value, gradients, hessian, label = _class_quantities(loss, static)
    vectors = [i.name for i in loss.inputs]
    per_class = [k for k, p in loss.parameters.items() if p.per_class]
    scalars = [k for k, p in loss.parameters.items() if not (p.per_class or p.static)]
    is_vector = {i.name: i.classes for i in loss.inputs}
    row_wrt = [nm for nm in gradients if not is_vector[nm]]
    component_wrt = [nm for nm in gradients if is_vector[nm]]
    grad_outputs = [gradient_output(loss, nm) for nm in loss.differentiable]
    kernels = []
    for dtype in DTYPES:
        printer = NumbaPrinter(dtype, _row_names(loss))
        wide = NumbaPrinter("float64", _row_names(loss, wide=dtype == "float32"))
        printed = [
            (
                *_norm_form(r, dtype, printer, wide),
                "" if r.exclude is None else printer.doprint(r.exclude),
            )
            for r in reductions
        ]
        needed = _needed(reductions, value)
        for_value = [p for p, r in zip(printed, reductions) if r.symbol in needed]
        # the gradient kernels' sums that exact numerators read: accumulated in double-double
        exact = _double_double_sums(reductions, [*gradients.values(), hessian or sp.S.Zero])
        printed = [
            ("dd_sum", sym, dd_code(r.body, printer, frozenset(exact)), skip)
            if r.symbol in exact
            else (kind, sym, body, skip)
            for (kind, sym, body, skip), r in zip(printed, reductions)
        ]
        value_code = _cse_printed([value], printer, "_v")
        value_code = (value_code[0], value_code[1][0])
        row_temps, row_exprs = _cse_printed([gradients[nm] for nm in row_wrt], printer, "_r")
        temps, exprs = _cse_printed([gradients[nm] for nm in component_wrt], printer, "_g")
        hess = ((), ())
        if hessian is not None:
            h_temps, h_exprs = _cse_printed([gradients[vectors[0]], hessian], printer, "_h")
            hess = (h_temps, list(zip(("grad", "hess"), h_exprs)))
        for kind, doc in CLASS_KINDS.items():
            if kind == "grad_hess" and hessian is None:
                continue
            weighted = kind.endswith("_w")
            outputs = {
                "value_each": ["out"],
                "value_sum_w": [],
                "value_grad_each": ["value", *grad_outputs],
                "value_grad_sum_w": grad_outputs,
                "grad_hess": ["grad", "hess"],
            }[kind]
            args = [*vectors, *per_class, *(["rows"] if weighted else []), *scalars]
            args += (["scale"] if kind == "value_grad_sum_w" else []) + outputs
            kernels.append(
                RowKernel(
                    name=f"{kind}{variant.suffix}_{_SHORT[dtype]}",
                    kind=kind,
                    dtype=dtype,
                    key=(kind, variant.key, dtype),
                    doc=doc,
                    args=args,
                    first=vectors[0],
                    labels=[label] if label else [],
                    reductions=printed,
                    value_reductions=for_value,
                    value=value_code,
                    row_grads=(
                        row_temps,
                        [(gradient_output(loss, nm), e) for nm, e in zip(row_wrt, row_exprs)],
                    ),
                    grads=(
                        temps,
                        [(gradient_output(loss, nm), e) for nm, e in zip(component_wrt, exprs)],
                    ),
                    hess=hess,
                )
            )
    return kernels


# -- metadata the runtime reads (plain Python literals, no SymPy) ---------------------------


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


# -- rendering -------------------------------------------------------------------------------


def _escaped(ch: str) -> str:
    return ascii(ch)[1:-1]  # \x00, \u2028, \ud800: the character as an escape


def docstring_text(text) -> str:
    """Text as the body of a triple-quoted docstring, read back as the same text: backslashes
    escaped, a quote escaped where it follows a quote or ends the text (no \"\"\" can close
    the string), control, separator and surrogate characters other than newline and tab as
    escapes. User text (a definition's doc, its formula) reaches generated code only so."""
    text, out = str(text), []
    for k, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"' and (k + 1 == len(text) or (k and text[k - 1] == '"')):
            out.append('\\"')
        elif ch in "\n\t" or not _breaks_text(ch):
            out.append(ch)
        else:
            out.append(_escaped(ch))
    return "".join(out)


def comment_text(text) -> str:
    """Text on one comment line: every character that could end the line (or the file's
    encoding) as an escape."""
    return "".join(_escaped(ch) if _breaks_text(ch) else ch for ch in str(text))


def _breaks_text(ch: str) -> bool:
    """A control, surrogate or line/paragraph separator character: it could end a line of
    source, or the file's encoding."""
    return unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")


@lru_cache(maxsize=8)
def environment(root: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment over a template folder (default: the project's templates/)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["docstring"] = docstring_text
    env.filters["comment"] = comment_text
    return env


# The kernel templates whose modules import symloss.vmath (the DP cells of ctc print libm's
# functions: their loops are serial; the soft edit distance's use vmath's double-doubles).
INLINES_VMATH = frozenset({"elementwise", "classes", "edit", "soft_edit"})


def header(template: str, source: str, vmath: bool = False) -> dict:
    return {
        "generator": f"symloss {__version__}",
        "template": template,
        "source": source,
        "sympy": sp.__version__,
        "vmath": vmath_fingerprint() if vmath else None,
    }


@functools.cache
def vmath_fingerprint() -> str:
    """A hash of symloss/vmath.py, printed in every kernel module: Numba's cache is keyed by
    the module's own file, so a change of the functions it inlines must change the file."""
    return hashlib.sha256((Path(__file__).parent / "vmath.py").read_bytes()).hexdigest()[:16]


# -- sequence losses: a DP cell from its definition, the grid from a template per family -------


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


def _cell_value(rec, printer: NumbaPrinter) -> str:
    """The cell's value: k·lse(a_1, a_2, a_3) + rest where it is a log-sum-exp (max-shifted,
    -inf safe, by the template's ``_lse``), else the cell as printed."""
    form = logsumexp_form(rec.cell)
    if form is None:
        return printer.doprint(piecewise_forms(rec.cell))
    k, total, rest = form
    args = ", ".join(printer.doprint(t.args[0]) for t in sp.Add.make_args(total))
    text = f"_lse({args})" if k == 1 else f"{printer.doprint(k)}*_lse({args})"
    return text if rest == 0 else f"{text} + {printer.doprint(rest)}"


def _cell_parts(rec, printer: NumbaPrinter) -> tuple[str | None, str | None]:
    """(k·lse(a_1, …), rest) of a log-sum-exp cell, printed; (None, None) for any other."""
    form = logsumexp_form(rec.cell)
    if form is None:
        return None, None
    k, total, rest = form
    args = ", ".join(printer.doprint(t.args[0]) for t in sp.Add.make_args(total))
    lse = f"_lse({args})" if k == 1 else f"{printer.doprint(k)}*_lse({args})"
    return lse, printer.doprint(rest)


SHIFT, SPREAD = sp.symbols("shift spread", real=True)


def _shifted_cell(rec, partials, printer: NumbaPrinter) -> dict | None:
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


def plan_recurrence(rec) -> list[CellKernel]:
    partials = rec.partials()
    weights = rec.log_weights()
    kernels = []
    for dtype in DTYPES:
        # a DP cell runs in a serial loop: scalar libm calls are faster than inlined vmath
        printer = NumbaPrinter(dtype, {}, vector_math=False)
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


def _existing(out: Path, files: Mapping[str, str]) -> set[str]:
    """The .py files under out in the folders that files writes to (and out itself)."""
    folders = {Path(rel).parent for rel in files} | {Path(".")}
    found = [p for f in folders for p in (out / f).glob("*.py")]
    return {p.relative_to(out).as_posix() for p in found}


def stale(files: Mapping[str, str], out: Path | None = None) -> list[str]:
    """Paths under ``out`` that differ from ``files``, are missing, or should not exist."""
    out = out or generated_dir()
    bad = []
    for rel, text in files.items():
        path = out / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            bad.append(rel)
    bad += sorted(_existing(out, files) - set(files))
    return sorted(bad)


def write(files: Mapping[str, str], out: Path | None = None) -> list[str]:
    """Write ``files`` under ``out``, remove kernel files no definition produces; return changes."""
    out = out or generated_dir()
    changed = stale(files, out)
    for rel in changed:
        path = out / rel
        if rel in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[rel], encoding="utf-8")
        else:
            path.unlink()
    return changed
