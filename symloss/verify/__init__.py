"""Check kernels (and any implementation) against the symbolic definition evaluated in high
precision, by one error model (`symloss.verify.model`).

    reference.py    the exact results: the definition in plain mathematics, differentiated
                    here, evaluated by mpmath at escalating precision
    model.py        what passes: forward error, perturbation of differentiable inputs, named
                    exceptions, drops — all counted per row
    sampling.py     the points: extremes, kinks, random values, parameter sets
    elementwise.py, norms.py, classes.py, sequences.py   one driver per family
    sources.py      what is verified: generated kernels or user callables
    torch_source.py the generated PyTorch code, through symloss.integrations.torch
    api.py          verify_loss, verify_torch, verify_implementation, Report
    derivatives.py  the generator's derivatives against finite differences
"""

from .api import Report, table, verify_implementation, verify_loss, verify_torch
from .derivatives import FD_TOLERANCE, check_derivatives
from .model import BOUNDS, DROPS, EXCEPTIONS, PERTURBATION_ULP, Row
from .reference import CLASS_COUNT, ClassReference, Reference
from .ulp import ulp_error

__all__ = [
    "BOUNDS",
    "CLASS_COUNT",
    "DROPS",
    "EXCEPTIONS",
    "FD_TOLERANCE",
    "PERTURBATION_ULP",
    "ClassReference",
    "Reference",
    "Report",
    "Row",
    "check_derivatives",
    "table",
    "ulp_error",
    "verify_implementation",
    "verify_loss",
    "verify_torch",
]
