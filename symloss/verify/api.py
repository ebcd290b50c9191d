"""The entry points: verify a loss's kernels, or any implementation, by the one error model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..definition.spec import Loss
from .classes import verify_classes
from .elementwise import verify_elementwise
from .model import EXCEPTIONS, FailureLimit, Row, failure_limit
from .norms import verify_norm
from .sources import ImplementationSource, KernelSource

__all__ = ["verify_loss", "verify_torch", "verify_implementation", "Report"]


SAMPLES = 40  # random values of an elementwise loss's first input, besides the extremes


def verify_loss(
    loss: Loss,
    kernel,
    dtypes=("float32", "float64"),
    seed: int = 0,
    samples: int = SAMPLES,
    max_failures: int | None = None,
) -> list[Row]:
    """Every kernel of ``loss`` against its definition: value, gradient, Hessian, reductions.
    ``samples``: random values of an elementwise loss's first input (a fifth as many of the
    others) on top of every curated extreme; fewer give a quicker, less thorough check (and
    leave out the float64 class rows at √max and max/2n, whose references are the costliest).
    ``max_failures``: stop once a row has that many failed results (as verify_implementation)."""
    return _verify(loss, KernelSource(kernel), dtypes, seed, samples, max_failures)


def verify_torch(
    loss: Loss,
    dtypes=("float32", "float64"),
    seed: int = 0,
    samples: int = SAMPLES,
    max_failures: int | None = None,
) -> list[Row]:
    """The generated PyTorch code of ``loss`` (on CPU tensors) held to the same references,
    points and error model as the Numba kernels. Its rows name the loss as ``name@torch``."""
    from .torch_source import TorchSource

    rows = _verify(loss, TorchSource(loss.name), dtypes, seed, samples, max_failures)
    for r in rows:
        r.loss = f"{r.loss}@torch"
    return rows


def _verify(loss: Loss, source, dtypes, seed, samples=SAMPLES, max_failures=None) -> list[Row]:
    try:
        with failure_limit(max_failures):
            return _drive(loss, source, dtypes, seed, samples)
    except FailureLimit as stop:  # a verdict, early: the row that failed, its worst point
        return [stop.row]


def _drive(loss: Loss, source, dtypes, seed, samples) -> list[Row]:
    with np.errstate(all="ignore"):
        if loss.family == "norm":
            if not isinstance(source, KernelSource):
                raise ValueError(f"{loss.name}: verify_implementation does not take norms yet")
            return verify_norm(loss, source, dtypes, seed)
        if loss.family == "classes":
            return verify_classes(loss, source, dtypes, seed, huge=samples >= SAMPLES)
        return verify_elementwise(loss, source, dtypes, seed, samples)


class Report:
    """The verdict on an implementation: ``bool(report)`` is True when every row passes;
    ``str(report)`` is the table, with the worst point of each failing row."""

    def __init__(self, loss: str, rows: list[Row]):
        self.loss, self.rows = loss, rows

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if not r.passed]

    def __bool__(self) -> bool:
        return bool(self.rows) and not self.failures

    def __str__(self) -> str:
        return table(self.rows)

    __repr__ = __str__


def table(rows: list[Row]) -> str:
    """The verification table, the worst point of each failing row, and a legend."""
    lines = [Row.HEADER]
    for r in rows:
        lines.append(str(r))
        if not r.passed:
            lines.append(f"    worst at {r.worst_at}")
    failed = [r for r in rows if not r.passed]
    used = sorted({k for r in rows for k in r.excused})
    lines.append(
        "worst: error after the allowances, in ULP of the dtype, against mpmath at 60+ digits; "
        "forward: the worst\nforward error; perturb: results within the bound only at "
        "differentiable inputs moved by ≤ 4 ULP;\nfail: results over the bound "
        "(see symloss.verify.model)."
    )
    for k in used:
        lines.append(f"  {k}: {EXCEPTIONS[k]}")
    lines.append(
        f"FAILED: {len(failed)} of {len(rows)} rows" if failed else f"all passed: {len(rows)} rows"
    )
    return "\n".join(lines)


def verify_implementation(
    loss: str | Loss,
    value: Callable | None = None,
    grad: Callable | None = None,
    hess: Callable | None = None,
    dtypes=("float32", "float64"),
    seed: int = 0,
    samples: int = SAMPLES,
    max_failures: int | None = None,
) -> Report:
    """Hold any implementation of a loss to the gate of the generated kernels.

    ``value``, ``grad``, ``hess``: callables ``f(*inputs, **params)`` on NumPy arrays of one
    dtype, returning per-element results (per sample for class-axis losses; a gradient or
    Hessian diagonal shaped like the inputs). Every parameter is passed by the loss's name,
    defaults included. A callable may raise NotImplementedError for parameter values it does
    not support: those points are dropped and counted. ``samples``: as for ``verify_loss``.
    ``max_failures``: stop once a row has that many failed results (the report then holds that
    row alone, marked as stopped): a quick verdict on an implementation expected to fail."""
    if isinstance(loss, str):
        from ..catalog import BUILTINS

        if loss not in BUILTINS:
            raise ValueError(f"verify_implementation: unknown loss {loss!r}")
        loss = BUILTINS[loss]
    elif not isinstance(loss, Loss):
        raise TypeError(f"loss must be a loss name or a symloss.Loss, got {type(loss).__name__}")
    for dt in dtypes:
        if np.dtype(dt) not in (np.dtype("float32"), np.dtype("float64")):
            raise ValueError(f"dtypes: float32 and float64 only, got {dt!r}")
    source = ImplementationSource(value, grad, hess)
    return Report(loss.name, _verify(loss, source, dtypes, seed, samples, max_failures))
