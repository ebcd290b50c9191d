"""The definition stage: a loss as inputs, parameters with domains, and a SymPy formula.

Nothing here imports a later stage (derivation, lowering, code generation, runtime); the
`Loss.derivative`, `Loss.latex` and `Recurrence.partials` conveniences delegate to them.
"""

from .axes import C, S, c, class_argmax, class_max, class_maximum, class_sum
from .recurrence import Recurrence, define_recurrence
from .spec import RESERVED_NAMES, Input, Loss, Param, define

__all__ = [
    "C",
    "S",
    "c",
    "class_argmax",
    "class_max",
    "class_maximum",
    "class_sum",
    "Recurrence",
    "define_recurrence",
    "RESERVED_NAMES",
    "Input",
    "Loss",
    "Param",
    "define",
]
