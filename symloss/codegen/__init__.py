"""Code generation: from a lowered definition to the contexts a backend's templates lay out.

Python decides what goes into a kernel (variants, arguments, CSE'd statements printed in the
kernel's dtype by the backend's printer); the templates only lay the code out. Output is
deterministic: symbols are sorted, CSE temporaries are numbered in canonical order, and nothing
depends on dict or set iteration order.

- `kernels`: the elementwise kernel kinds, variants, the `Kernel` record
- `cse`: common subexpressions, printing in a dtype
- `elementwise`, `rows`, `cells`: the plan of each family (elementwise and norm; the class
  axis, lowered by `symloss.lowering.row_pipeline`; a sequence loss's DP cell)
- `metadata`: what the runtime reads, as plain literals
- `text`: user text made safe for docstrings and comments
- `render`: the Jinja2 environment and the generated files' header
- `layout`: generated Python broken into lines within a width, its syntax tree unchanged
- `files`: generated/ on disk (stale files, writing)
"""

from __future__ import annotations

from ..lowering.row_pipeline import _class_quantities, has_hessian  # noqa: F401
from .cells import SHIFT, SPREAD, CellKernel, plan_recurrence  # noqa: F401
from .cse import _cse_printed, _held_out, _inline_products, _printed, _printed_in  # noqa: F401
from .elementwise import _element_derivatives, plan  # noqa: F401
from .files import _existing, stale, write  # noqa: F401
from .kernels import (  # noqa: F401
    _SHORT,
    DTYPES,
    GROUPS,
    KERNEL_DIR,
    KINDS,
    OUTPUTS,
    Kernel,
    ModulePlan,
    Variant,
    variants,
)
from .metadata import (  # noqa: F401
    _pretty,
    domain_pieces,
    domain_text,
    is_residual,
    metadata,
    recurrence_metadata,
)
from .render import environment, fingerprint, header
from .rows import CLASS_KINDS, RowKernel, gradient_output, plan_classes
from .text import comment_text, docstring_text

__all__ = [
    "CLASS_KINDS",
    "CellKernel",
    "DTYPES",
    "GROUPS",
    "KERNEL_DIR",
    "KINDS",
    "Kernel",
    "ModulePlan",
    "OUTPUTS",
    "RowKernel",
    "SHIFT",
    "SPREAD",
    "Variant",
    "comment_text",
    "docstring_text",
    "domain_pieces",
    "domain_text",
    "environment",
    "fingerprint",
    "gradient_output",
    "has_hessian",
    "header",
    "is_residual",
    "metadata",
    "plan",
    "plan_classes",
    "plan_recurrence",
    "recurrence_metadata",
    "stale",
    "variants",
    "write",
]
