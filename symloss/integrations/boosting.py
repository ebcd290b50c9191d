"""Per-sample gradients and Hessians of a loss for gradient boosting, library-neutral.

A booster fits each tree to the Newton step -Σg/Σh of its leaves, so it needs h > 0. The
derived Hessian is exact but can be 0 (MAE; Huber beyond δ; the hinge), tiny where the
gradient is not (log-cosh and the robust losses far from the target: sech²(r) against
tanh(r)), or negative (the focal losses, non-convex in the logit). ``hessian=`` chooses what
is passed instead:

* ``"majorizer"``: for losses even in r = ŷ - y (mse, mae, huber, smooth_l1, log_cosh,
  cauchy, general_robust), h = ℓ'(r)/r, the curvature of the quadratic that touches ℓ at r
  and lies above it everywhere (ℓ'(r)/r does not grow with |r| for these losses). A Newton
  step on it never increases the loss (iteratively reweighted least squares), and where
  ℓ'' > 0 near r = 0 it equals ℓ''. At r = 0 the exact ℓ''(0) is used.
* ``"floor"``: h = max(ℓ'', floor): the exact Hessian where it is at least ``floor``.
* ``"exact"``: ℓ'' as derived, whatever its sign.

The default, ``"auto"``, is ``"majorizer"`` where it applies and ``"floor"`` elsewhere, with
``floor=1e-6``; every strategy but "exact" also applies the floor. Chosen by experiment
(``tests/test_boosting.py`` trains on the same data with each): with the exact Hessian,
log-cosh's Newton steps tanh(r)/sech²(r) overshoot by e^{2|r|} and the training loss
oscillates; with a floor they are bounded by |g|/floor but still overshoot; the majorizer's
steps decrease the training loss at every round. For the classification losses the exact
Hessian is positive except for the focal losses, where the floor keeps the few negative
entries from reversing a leaf's step.

``hessian_scale`` multiplies the Hessian passed (a smaller step): LightGBM's own multiclass
objective uses K/(K - 1)·p(1 - p), XGBoost's multi:softprob 2·p(1 - p), while the exact
diagonal is p(1 - p); pass the library's factor to reproduce its built-in objective.
"""

from __future__ import annotations

import math

import numpy as np

from ..runtime import loss as _loss
from .common import kernel_for

__all__ = ["BoostingLoss", "HESSIAN_STRATEGIES"]

HESSIAN_STRATEGIES = ("auto", "majorizer", "floor", "exact")


class BoostingLoss:
    """A loss as a boosting objective: ``grad_hess(raw, label, weight)`` on raw scores
    (margins) and ``value(raw, label, weight)``, the weighted mean, for evaluation.

    Elementwise losses take raw scores (n,); class-axis losses (n, K) with integer labels.
    """

    def __init__(
        self,
        name: str,
        hessian: str = "auto",
        floor: float = 1e-6,
        hessian_scale: float = 1.0,
        **params,
    ):
        self.name = name
        kernel_for(name, params, "a boosting objective")
        if len(self.kernel.inputs) != 2:
            raise ValueError(
                f"{name} takes inputs {self.kernel.inputs}: a boosting objective "
                "needs a loss of (raw score, label)"
            )
        if hessian not in HESSIAN_STRATEGIES:
            raise ValueError(
                f"hessian must be one of {', '.join(HESSIAN_STRATEGIES)}, got {hessian!r}"
            )
        if hessian == "majorizer" and not self.kernel.residual:
            raise ValueError(
                f"hessian='majorizer' needs a loss even in r = pred - target; "
                f"{name} is not (use 'floor' or 'exact')"
            )
        for what, v in (("floor", floor), ("hessian_scale", hessian_scale)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"{what} must be a finite real number, got {v!r}")
        if floor < 0 or hessian_scale <= 0:
            raise ValueError(
                f"floor must be ≥ 0 and hessian_scale > 0, got {floor!r} and {hessian_scale!r}"
            )
        if hessian == "auto":
            hessian = "majorizer" if self.kernel.residual else "floor"
        self.hessian, self.floor, self.hessian_scale = hessian, float(floor), float(hessian_scale)
        self.params = params
        self.multiclass = self.kernel.family == "classes"

    @property
    def kernel(self):
        """The loss's kernel object (looked up by name: the objective pickles and deep-copies
        as its name and parameters, as LightGBM and process pools need)."""
        return _loss(self.name)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name!r}, hessian={self.hessian!r}{extra})"

    def _inputs(self, raw, label):
        raw = np.asarray(raw, dtype=np.float64)
        label = np.asarray(label)
        if self.multiclass:
            if raw.ndim != 2:
                raise ValueError(
                    f"{self.name} needs raw scores of shape (n, K) (K classes: "
                    f"num_class / num_classes set), got shape {raw.shape}"
                )
            as_int = label.astype(np.int64)
            if label.shape != raw.shape[:1] or np.any(as_int != label):
                raise ValueError(
                    f"labels must be {raw.shape[0]} integer class indices, got "
                    f"shape {label.shape} {label.dtype}"
                )
            return raw, as_int
        raw = raw.reshape(-1)
        label = label.astype(np.float64).reshape(-1)
        if label.shape != raw.shape:
            raise ValueError(
                f"labels have {label.size} values for {raw.size} raw scores (a "
                f"multi-output or multiclass model needs a class-axis loss)"
            )
        return raw, label

    def grad_hess(self, raw, label, weight=None) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample (w·ℓ', w·h) at the raw scores, h by the Hessian strategy, float64."""
        raw, label = self._inputs(raw, label)
        g, h = self.kernel.grad_hess(raw, label, **self.params)
        if self.hessian == "majorizer":
            r = raw - label
            with np.errstate(divide="ignore", invalid="ignore"):
                h = np.where(r != 0, g / r, h)
        if self.hessian != "exact":
            h = np.maximum(h, self.floor)  # NaN stays NaN
        if self.hessian_scale != 1.0:
            h = h * self.hessian_scale
        if weight is not None and np.size(weight):
            w = np.asarray(weight, dtype=np.float64)
            w = w[:, None] if self.multiclass else w
            g, h = g * w, h * w
        return g, h

    def value(self, raw, label, weight=None) -> float:
        """The loss's mean at the raw scores (weighted by ``weight``)."""
        raw, label = self._inputs(raw, label)
        if weight is not None and np.size(weight):
            if self.multiclass:  # per-sample weights, not the per-class weight parameter
                ell = self.kernel(raw, label, reduction="none", **self.params)
                w = np.asarray(weight, dtype=np.float64)
                return float(np.sum(w * ell) / np.sum(w))
            return float(self.kernel(raw, label, weight=weight, **self.params))
        return float(self.kernel(raw, label, **self.params))
