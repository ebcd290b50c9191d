"""The Numba backend: ``prange``-parallel kernels in float32 and float64, written to
``generated/kernels/`` from ``templates/kernels/``.

Its printer (`printer.NumbaPrinter`) types every literal in the kernel's dtype and prints the
transcendental functions as `symloss.vmath`'s inlinable ones; its plans (`symloss.codegen`)
split value, gradient and Hessian into the kernel kinds the runtime dispatches to.
"""

from __future__ import annotations

import functools

from ...codegen import (
    _pretty,
    fingerprint,
    header,
    metadata,
    plan,
    plan_classes,
    plan_recurrence,
    recurrence_metadata,
)
from ...codegen.layout import wrapped
from ...locations import templates_dir
from ..config import Backend, register
from .printer import NumbaPrinter
from .reductions import reduction_code

__all__ = ["NUMBA"]


@functools.cache
def libraries() -> str:
    """The fingerprint of the kernel libraries every module inlines (symloss.vmath,
    symloss.seqmath), printed in its header: Numba's cache of a module is keyed by the
    module's own file, so a change of a function it inlines must change the file."""
    return "symloss.vmath, symloss.seqmath " + fingerprint("vmath.py", "seqmath.py")


def _elementwise(loss, template: str) -> dict:
    """Per element and reduced values, fused value-and-gradient, gradient-and-Hessian."""
    module = plan(loss, NumbaPrinter)
    return {
        "header": header(template, f"{loss.origin}:{loss.name}", libraries=libraries()),
        "loss": loss,
        "metadata": _pretty(metadata(loss)),
        "kernels": module.kernels,
        "outer": module.outer,
    }


def _classes(loss, template: str) -> dict:
    """One loop per row over the class axis, its reductions first."""
    return {
        "header": header(template, f"{loss.origin}:{loss.name}", libraries=libraries()),
        "loss": loss,
        "metadata": _pretty(metadata(loss)),
        "kernels": plan_classes(loss, NumbaPrinter),
        "reduction_code": reduction_code,
    }


def _recurrence(rec, template: str) -> dict:
    """A DP cell from its definition; the grid and its sweeps from the family's template."""
    return {
        "header": header(template, f"{rec.origin}:{rec.name}", libraries=libraries()),
        "rec": rec,
        "partials": [(str(u), d) for u, d in rec.partials().items()],
        "metadata": _pretty(recurrence_metadata(rec)),
        "kernels": plan_recurrence(rec, NumbaPrinter),
    }


NUMBA = register(
    Backend(
        name="numba",
        templates=templates_dir(),
        output="kernels",
        families={
            "elementwise": "kernels/elementwise.py.jinja",
            "norm": "kernels/elementwise.py.jinja",
            "classes": "kernels/classes.py.jinja",
            "ctc": "kernels/ctc.py.jinja",
            "soft_edit": "kernels/soft_edit.py.jinja",
            "edit": "kernels/edit.py.jinja",
        },
        plan={
            "elementwise": _elementwise,
            "norm": _elementwise,
            "classes": _classes,
            "ctc": _recurrence,
            "soft_edit": _recurrence,
            "edit": _recurrence,
        },
        printer=NumbaPrinter,
        index="kernels/__init__.py.jinja",
        layout=wrapped,
    )
)
