"""XGBoost custom objectives and metrics from symloss losses (XGBoost ≥ 2).

    import xgboost as xgb
    from symloss.integrations.xgboost import objective, metric

    booster = xgb.train({"base_score": 0.0}, dtrain, obj=objective("log_cosh"),
                        custom_metric=metric("log_cosh"))
    model = xgb.XGBClassifier(objective=objective("softmax_cross_entropy"), num_class=3)

The same object serves ``xgb.train(obj=...)`` (called as ``(predt, dmatrix)``) and the
scikit-learn API (``(y_true, y_pred, sample_weight=...)``); sample weights are applied to the
gradient and Hessian. Raw scores start at ``base_score`` (pass 0 for margins starting at 0).
For class-axis losses the raw scores are (n, K) (``num_class``). Predictions of a model
trained with a custom objective are raw scores. Hessian strategies:
`symloss.integrations.boosting`; XGBoost skips splits whose children's Hessian sum is below
``min_child_weight`` (1 by default), which a zero Hessian would always be.
"""

from __future__ import annotations

import xgboost as xgb

from .boosting import BoostingLoss

__all__ = ["objective", "metric", "Objective", "Metric"]


def _data(a, b, sample_weight):
    if isinstance(b, xgb.DMatrix):  # native: (predt, dmatrix)
        return a, b.get_label(), b.get_weight()
    return b, a, sample_weight  # scikit-learn: (y_true, y_pred)


class Objective(BoostingLoss):
    """An XGBoost objective: ``(predt, dmatrix)`` or ``(y_true, y_pred, sample_weight=)`` →
    (gradient, Hessian)."""

    def __call__(self, a, b, *, sample_weight=None):
        raw, label, w = _data(a, b, sample_weight)
        return self.grad_hess(raw, label, w)


class Metric(BoostingLoss):
    """An XGBoost metric: ``(predt, dmatrix)`` → (name, mean loss) for ``custom_metric``;
    ``(y_true, y_pred)`` → mean loss for the scikit-learn ``eval_metric``."""

    def __init__(self, name: str, **params):
        super().__init__(name, **params)
        self.__name__ = name  # the scikit-learn wrapper names the metric by __name__

    def __call__(self, a, b, *, sample_weight=None):
        raw, label, w = _data(a, b, sample_weight)
        value = self.value(raw, label, w)
        return (self.name, value) if isinstance(b, xgb.DMatrix) else value


def objective(name: str, **options) -> Objective:
    """The custom objective of loss ``name``: its parameters, and ``hessian=``, ``floor=``,
    ``hessian_scale=`` (`symloss.integrations.boosting.BoostingLoss`)."""
    return Objective(name, **options)


def metric(name: str, **params) -> Metric:
    """The mean of loss ``name`` at the raw scores, as ``custom_metric`` / ``eval_metric``."""
    return Metric(name, **params)
