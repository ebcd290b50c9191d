"""The plan of a class-axis loss: one row (sample) per iteration, the C classes looped inside.

Per static variant and dtype: the row's reductions (max, sum, norm, double-double sums), its
value, the gradient of each differentiable input and, where there is one, the Hessian
diagonal, each CSE'd and printed; then one `RowKernel` per kind (`CLASS_KINDS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..definition.spec import Loss
from ..lowering import dd_code, exact_numerator
from ..lowering.row_pipeline import _class_quantities
from .cse import _cse_printed
from .kernels import _SHORT, DTYPES, Variant, variants


@dataclass(frozen=True)
class RowKind:
    """What one class-axis kernel kind computes per row: ``weighted``: Σ_i w_i·ℓ_i over the
    rows with w_i ≠ 0 (returned); ``value_out``: the array ℓ_i is stored in (None: not
    stored); ``gradient``: the factor the gradients are stored with (None: no gradient);
    ``hessian``: the gradient and the Hessian diagonal instead."""

    doc: str
    weighted: bool = False
    value_out: str | None = None
    gradient: str | None = None
    hessian: bool = False

    @property
    def scaled(self) -> bool:
        return "scale" in (self.gradient or "")

    @property
    def value_only(self) -> bool:
        """Whether the row needs only the reductions its value reads."""
        return self.gradient is None and not self.hessian


CLASS_KINDS = {
    "value_each": RowKind("out[i] = ℓ_i for row i", value_out="out"),
    "value_sum_w": RowKind(
        "Σ_i w_i·ℓ_i over rows with w_i ≠ 0, accumulated in float64", weighted=True
    ),
    "value_grad_each": RowKind(
        "value[i] = ℓ_i and grad_v[i, j] = ∂ℓ_i/∂v_ij for each input v",
        value_out="value",
        gradient="",
    ),
    "value_grad_sum_w": RowKind(
        "Σ_i w_i·ℓ_i; grad_v[i, j] = scale·w_i·∂ℓ_i/∂v_ij (0 where w_i = 0)",
        weighted=True,
        gradient="scale * w_i * ",
    ),
    "grad_hess": RowKind(
        "grad[i, j] = ∂ℓ_i/∂z_ij and hess[i, j] = ∂²ℓ_i/∂z_ij² (the Hessian diagonal)",
        hessian=True,
    ),
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
    value: tuple[list[tuple[str, str]], str]
    row_grads: tuple[list[tuple[str, str]], list[tuple[str, str]]]  # (temporaries, (out, expr))
    grads: tuple[list[tuple[str, str]], list[tuple[str, str]]]  # per component j
    hess: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ((), ())  # grad_hess: j-th g, h
    weighted: bool = False
    value_out: str | None = None
    gradient: str | None = None  # the factor of the stored gradients (None: not computed)
    hessian: bool = False


def _needed(reductions, expr: sp.Expr) -> set:
    """The reduction symbols ``expr`` depends on, directly or through other reductions."""
    needed = set(expr.free_symbols)
    for r in reversed(reductions):
        if needed & set(r.outputs):
            needed |= r.body.free_symbols | {r.symbol}
    return needed


def _row_names(loss: Loss, wide: bool = False) -> dict:
    """Symbol → code of its value in row i (and class c); ``wide``: the data read as float64."""
    from ..definition.spec import C

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


def plan_classes(loss: Loss, printer: type) -> list[RowKernel]:
    """The row kernels of a class-axis loss: static variants × kinds × dtypes, printed by
    ``printer``."""
    kernels = []
    for variant in variants(loss):
        kernels += _plan_class_variant(loss, variant, printer)
    return kernels


def gradient_output(loss: Loss, name: str) -> str:
    """The kernel argument that receives ∂ℓ/∂name: ``grad`` for the first input."""
    return "grad" if name == loss.differentiable[0] else f"grad_{name}"


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


def _plan_class_variant(loss: Loss, variant: Variant, printer_class: type) -> list[RowKernel]:
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
        printer = printer_class(dtype, _row_names(loss))
        wide = printer_class("float64", _row_names(loss, wide=dtype == "float32"))
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
        for kind, spec in CLASS_KINDS.items():
            if spec.hessian and hessian is None:
                continue
            outputs = [*([spec.value_out] if spec.value_out else [])]
            outputs += grad_outputs if spec.gradient is not None else []
            outputs += ["grad", "hess"] if spec.hessian else []
            args = [*vectors, *per_class, *(["rows"] if spec.weighted else []), *scalars]
            args += (["scale"] if spec.scaled else []) + outputs
            kernels.append(
                RowKernel(
                    name=f"{kind}{variant.suffix}_{_SHORT[dtype]}",
                    kind=kind,
                    dtype=dtype,
                    key=(kind, variant.key, dtype),
                    doc=spec.doc,
                    args=args,
                    first=vectors[0],
                    labels=[label] if label else [],
                    reductions=for_value if spec.value_only else printed,
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
                    weighted=spec.weighted,
                    value_out=spec.value_out,
                    gradient=spec.gradient,
                    hessian=spec.hessian,
                )
            )
    return kernels
