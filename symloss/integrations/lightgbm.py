"""LightGBM custom objectives and metrics from symloss losses (LightGBM ≥ 4).

    import lightgbm as lgb
    from symloss.integrations.lightgbm import objective, metric

    booster = lgb.train({"objective": objective("huber", delta=2.0)}, train_set,
                        feval=metric("huber", delta=2.0))
    model = lgb.LGBMClassifier(objective=objective("sigmoid_focal", gamma=2.0))

The same object serves the native API (called as ``(preds, dataset)``) and the scikit-learn
API (``(y_true, y_pred)`` or ``(y_true, y_pred, weight)``); sample weights are applied to the
gradient and Hessian. Raw scores start at 0 (LightGBM does not boost from the average for a
custom objective; set ``init_score`` for that). For class-axis losses set ``num_class`` (the
raw scores are then (n, K)); predictions of the model are raw scores: apply the link
(sigmoid, softmax) yourself. Hessian strategies: `symloss.integrations.boosting`.
"""

from __future__ import annotations

import lightgbm as lgb

from .boosting import BoostingLoss

__all__ = ["objective", "metric", "Objective", "Metric"]


def _data(args: tuple):
    """(raw scores, labels, weights) from either calling convention."""
    a, b, *rest = args
    if isinstance(b, lgb.Dataset):  # native: (preds, train_set)
        return a, b.get_label(), b.get_weight()
    return b, a, (rest[0] if rest else None)  # scikit-learn: (y_true, y_pred[, weight])


class Objective(BoostingLoss):
    """A LightGBM objective: ``(preds, dataset)`` or ``(y_true, y_pred[, weight])`` →
    (gradient, Hessian)."""

    def __call__(self, a, b, weight=None):
        raw, label, w = _data((a, b) if weight is None else (a, b, weight))
        return self.grad_hess(raw, label, w)


class Metric(BoostingLoss):
    """A LightGBM evaluation metric: → (name, mean loss, False); lower is better."""

    def __call__(self, a, b, weight=None):
        raw, label, w = _data((a, b) if weight is None else (a, b, weight))
        return self.name, self.value(raw, label, w), False


def objective(name: str, **options) -> Objective:
    """The custom objective of loss ``name``: its parameters, and ``hessian=``, ``floor=``,
    ``hessian_scale=`` (`symloss.integrations.boosting.BoostingLoss`)."""
    return Objective(name, **options)


def metric(name: str, **params) -> Metric:
    """The mean of loss ``name`` at the raw scores, as a ``feval`` / ``eval_metric``."""
    return Metric(name, **params)
