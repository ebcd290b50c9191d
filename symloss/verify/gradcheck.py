"""Check a gradient worked out by hand (a formula, or a function in someone's code) against
the derivative of the definition, taken here by SymPy (`gradcheck_truth`), not by the
derivation stage that the generated kernels come from.

``verify_gradient(loss, candidate, wrt=...)`` returns a `GradientReport`; ``bool(report)`` is the
verdict and ``str(report)`` says how it was reached:

* a candidate formula (a SymPy expression or a string, parsed as in `symloss.define`) is first
  compared symbolically (`gradcheck_symbolic`): the difference, with every primitive in plain
  mathematics and |x|, sign, max, min and Heaviside as Piecewise, is folded into one
  Piecewise and each branch simplified; zero in every branch (branches on an equality, a kink
  where the derivative is a convention, excepted) is a proof. Otherwise both are evaluated in
  mpmath at 50 digits at random points, the parameters sampled over their valid range (not
  only the default), and the largest difference decides, with the point as a counterexample;
* a candidate callable ``f(pred, target, **params)`` on NumPy arrays is evaluated at random
  and extreme float64 points and compared with the truth evaluated in mpmath at those exact
  points: it passes when |f - ∂ℓ| ≤ rtol·|∂ℓ| + atol everywhere the derivative is finite
  (`gradcheck_elementwise`).

Elementwise losses: the candidate is ∂ℓ/∂wrt per element. Norms (l1, l2): a formula in the
inputs and ``S`` = Σ ℓ (g'(S)·ℓ'), a callable returns the gradient of the norm of its arrays.
Class-axis losses (`gradcheck_classes`): the candidate is the component ∂ℓ/∂v_j of one
sample, a formula in ``j``, ``c``, the label and the vectors (``exp(logits[j])/class_sum(
exp(logits[c])) - (1 if j == target else 0)``), checked numerically with C = 5 against the
definition's sums written out and differentiated term by term; a callable takes one batch
(N, C) and returns the gradient of the sum over samples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from ..definition.spec import Loss
from .gradcheck_classes import callable_classes, formula_classes
from .gradcheck_elementwise import callable_elementwise, formula_elementwise
from .gradcheck_points import AGREE
from .gradcheck_points import DIGITS as DIGITS
from .gradcheck_report import GradientReport
from .gradcheck_symbolic import SYMBOLIC_SECONDS as SYMBOLIC_SECONDS
from .gradcheck_symbolic import assumed, candidate_expr, prove
from .gradcheck_truth import truth as _truth  # the truth by family (tests print it)

__all__ = ["verify_gradient", "GradientReport"]


def verify_gradient(
    loss: str | Loss,
    candidate: str | sp.Expr | Callable,
    *,
    wrt: str | None = None,
    points: int = 300,
    seed: int = 0,
    rtol: float = 1e-7,
    atol: float = 1e-12,
    symbolic: bool = True,
) -> GradientReport:
    """Is ``candidate`` the derivative of ``loss`` (a name or a `symloss.Loss`) w.r.t.
    ``wrt`` (default: the first differentiable input)? See the module docstring for how each
    kind of candidate is decided; ``rtol``/``atol`` apply to callables only."""
    spec = _spec(loss)
    wrt = spec.check_wrt(wrt)
    rng = np.random.default_rng(seed)
    if callable(candidate) and not isinstance(candidate, (str, sp.Basic)):
        if spec.family == "classes":
            return callable_classes(spec, wrt, candidate, rng, rtol, atol)
        return callable_elementwise(spec, wrt, candidate, rng, points, rtol, atol)
    expr = candidate_expr(spec, candidate)
    notes = []
    if symbolic:
        proved, notes = prove(_truth(spec, wrt), expr, assumed(spec))
        if proved:
            how = (
                "proved equal to the derivative of the definition by simplifying their "
                "difference (branch by branch), with every parameter a symbol"
            )
            return GradientReport(spec.name, wrt, True, "symbolic", how, notes=notes)
    compare = formula_classes if spec.family == "classes" else formula_elementwise
    worst, worst_at, used, how = compare(spec, wrt, expr, rng, points)
    ok = worst <= AGREE
    tried = "not proved symbolically; " if symbolic else ""
    return GradientReport(
        spec.name,
        wrt,
        ok,
        "numeric",
        f"{tried}{how}: largest relative difference {worst:.3g}",
        points=used,
        worst_error=worst,
        counterexample=None if ok else worst_at,
        notes=notes,
    )


def _spec(loss) -> Loss:
    """The definition named ``loss`` (or ``loss`` itself); sequence losses are refused."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        from .. import get

        spec = get(loss)
        if not isinstance(spec, Loss):
            raise TypeError(
                f"{loss} is a sequence loss (a dynamic programme): its gradient has no closed "
                "form to compare with; `symloss verify` checks it against brute force"
            )
        return spec
    raise TypeError(f"loss must be a name or a symloss.Loss, got {type(loss).__name__}")
