"""Gradient-boosting objectives: LightGBM and XGBoost train real models with symloss losses.

Where the library has the loss built in, the model trained with the symloss objective must
predict what the built-in one predicts (same data, same seeds, same start); for the focal and
log-cosh losses the training loss must decrease at every round. Skipped without the library.
"""

import numpy as np
import pytest

import symloss
from symloss.integrations.boosting import BoostingLoss

ROUNDS = 40


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n = 1500
    X = rng.normal(size=(n, 5))
    y_reg = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + 0.5 * rng.standard_t(2, n)  # heavy tails
    y_bin = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=n) > 0).astype(float)
    y_cls = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5]).astype(float)
    return X, y_reg, y_bin, y_cls, rng.uniform(0.5, 2.0, n)


def _decreasing(history):
    h = np.asarray(history)
    return bool(np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1])))


# -- library-neutral behaviour --------------------------------------------------------------


def test_hessian_strategies(rng):
    raw, y = np.array([-3.0, -0.5, 0.0, 0.5, 3.0]), np.zeros(5)
    g, h = BoostingLoss("huber", delta=1.0, hessian="exact").grad_hess(raw, y)
    assert list(h) == [0, 1, 1, 1, 0]  # zero beyond δ
    _, h = BoostingLoss("huber", delta=1.0).grad_hess(raw, y)  # auto: the majorizer ℓ'(r)/r
    np.testing.assert_allclose(h, [1 / 3, 1, 1, 1, 1 / 3])
    _, h = BoostingLoss("huber", hessian="floor", floor=0.25).grad_hess(raw, y)
    assert list(h) == [0.25, 1, 1, 1, 0.25]
    _, h = BoostingLoss("log_cosh").grad_hess(raw, y)
    np.testing.assert_allclose(h, np.where(raw != 0, np.tanh(raw) / np.where(raw, raw, 1), 1))
    w = rng.random(5)
    g2, h2 = BoostingLoss("log_cosh").grad_hess(raw, y, w)
    np.testing.assert_allclose(g2, w * np.tanh(raw), rtol=1e-15)
    np.testing.assert_allclose(h2, w * h, rtol=1e-15)


def test_majorizer_lies_above_the_loss(rng):
    # q(s) = ℓ(r) + ℓ'(r)(s - r) + h/2 (s - r)² ≥ ℓ(s) for every s: a Newton step never
    # increases the loss
    for name in ("huber", "log_cosh", "cauchy", "smooth_l1", "general_robust"):
        k = symloss.loss(name)
        r = rng.normal(0, 4, 200)
        g, h = BoostingLoss(name, hessian="majorizer", floor=0.0).grad_hess(r, np.zeros(200))
        s = rng.normal(0, 6, (50, 1))
        q = k(r, 0.0, reduction="none") + g * (s - r) + h / 2 * (s - r) ** 2
        assert np.all(q >= k(np.broadcast_to(s, q.shape), 0.0, reduction="none") - 1e-12), name


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(name="huber", hessian="newton"), ValueError, "hessian must be one of"),
        (dict(name="sigmoid_cross_entropy", hessian="majorizer"), ValueError, "even in r"),
        (dict(name="l2"), ValueError, "norm loss"),
        (dict(name="ctc"), ValueError, "ctc"),
        (dict(name="huber", floor=-1.0), ValueError, "floor must be"),
        (dict(name="huber", hessian_scale=float("nan")), TypeError, "hessian_scale"),
        (dict(name="huber", delta=-1.0), ValueError, "delta must be"),
        (dict(name="hubr"), ValueError, "did you mean huber"),
    ],
)
def test_bad_objectives_are_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        BoostingLoss(**kwargs)


def test_shape_errors_name_what_was_expected():
    with pytest.raises(ValueError, match=r"shape \(n, K\)"):
        BoostingLoss("softmax_cross_entropy").grad_hess(np.zeros(6), np.zeros(6))
    with pytest.raises(ValueError, match="integer class indices"):
        BoostingLoss("softmax_cross_entropy").grad_hess(np.zeros((2, 3)), [0.5, 1])
    with pytest.raises(ValueError, match="multiclass model needs a class-axis loss"):
        BoostingLoss("huber").grad_hess(np.zeros((4, 3)), np.zeros(4))


# -- LightGBM -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lgb():
    return pytest.importorskip("lightgbm")


def _lgb_params(**extra):
    return dict(
        verbose=-1,
        learning_rate=0.1,
        num_leaves=15,
        min_data_in_leaf=20,
        seed=0,
        deterministic=True,
        force_row_wise=True,
        num_threads=2,
        boost_from_average=False,
        **extra,
    )


@pytest.mark.parametrize(
    "builtin, name, options, which",
    [
        # LightGBM's huber passes the Hessian 1 everywhere: the floor 1 over ℓ'' ∈ {0, 1}
        ({"objective": "huber", "alpha": 1.0}, "huber", dict(hessian="floor", floor=1.0), 1),
        ({"objective": "binary"}, "sigmoid_cross_entropy", {}, 2),
        # its multiclass Hessian is K/(K - 1)·p(1 - p)
        (
            {"objective": "multiclass", "num_class": 3},
            "softmax_cross_entropy",
            dict(hessian_scale=1.5),
            3,
        ),
    ],
)
def test_lightgbm_matches_builtin_objectives(lgb, data, builtin, name, options, which):
    from symloss.integrations.lightgbm import objective

    X, y = data[0], data[which]
    train = lgb.Dataset(X, y, free_raw_data=False)
    ours = lgb.train(
        _lgb_params(**{**builtin, "objective": objective(name, **options)}), train, ROUNDS
    )
    theirs = lgb.train(_lgb_params(**builtin), train, ROUNDS)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X, raw_score=True), atol=1e-9)


@pytest.mark.parametrize("name, which, scale", [("log_cosh", 1, 10.0), ("sigmoid_focal", 2, 1.0)])
def test_lightgbm_training_loss_decreases(lgb, data, name, which, scale):
    from symloss.integrations.lightgbm import metric, objective

    X, y = data[0], data[which] * scale
    train = lgb.Dataset(X, y, free_raw_data=False)
    history = {}
    lgb.train(
        _lgb_params(objective=objective(name), metric="None"),
        train,
        ROUNDS,
        valid_sets=[train],
        feval=metric(name),
        callbacks=[lgb.record_evaluation(history)],
    )
    losses = history["training"][name]
    assert _decreasing(losses) and losses[-1] < 0.7 * losses[0], losses


def test_lightgbm_exact_log_cosh_hessian_overshoots(lgb, data):
    """The experiment behind the default: sech²(r) ≪ tanh(r) far from the target, so the
    exact Newton step overshoots and the training loss grows (the majorizer's falls, above)."""
    from symloss.integrations.lightgbm import metric, objective

    X, y = data[0], data[1] * 10
    train = lgb.Dataset(X, y, free_raw_data=False)
    history = {}
    lgb.train(
        _lgb_params(objective=objective("log_cosh", hessian="exact"), metric="None"),
        train,
        10,
        valid_sets=[train],
        feval=metric("log_cosh"),
        callbacks=[lgb.record_evaluation(history)],
    )
    assert not _decreasing(history["training"]["log_cosh"])


def test_lightgbm_sklearn_api_with_weights(lgb, data):
    from symloss.integrations.lightgbm import metric, objective

    X, y, w = data[0], data[1], data[4]
    model = lgb.LGBMRegressor(
        objective=objective("huber", delta=0.5),
        n_estimators=ROUNDS,
        **{k: v for k, v in _lgb_params().items() if k != "verbose"},
        verbose=-1,
    )
    model.fit(
        X,
        y,
        sample_weight=w,
        eval_X=(X,),
        eval_y=(y,),
        eval_sample_weight=[w],
        eval_metric=metric("huber", delta=0.5),
    )
    native = lgb.train(
        _lgb_params(objective=objective("huber", delta=0.5)), lgb.Dataset(X, y, weight=w), ROUNDS
    )
    np.testing.assert_allclose(model.predict(X), native.predict(X), atol=1e-12)
    # the metric: the weighted mean of the loss at the raw scores, from the kernel's formula
    (history,) = model.evals_result_.values()
    reported = history["huber"][-1]
    y, w = (a.astype(np.float32).astype(float) for a in (y, w))  # LightGBM keeps float32
    r = np.abs(model.predict(X) - y)
    each = np.where(r < 0.5, 0.5 * r**2, 0.5 * (r - 0.25))
    assert reported == pytest.approx(np.sum(w * each) / np.sum(w), rel=1e-12)


def test_lightgbm_metric_is_log_loss(lgb, data):
    pytest.importorskip("sklearn")
    from sklearn.metrics import log_loss

    from symloss.integrations.lightgbm import metric

    X, y = data[0], data[2]
    raw = np.random.default_rng(0).normal(size=len(y))
    name, value, higher_better = metric("sigmoid_cross_entropy")(raw, lgb.Dataset(X, y).construct())
    assert (name, higher_better) == ("sigmoid_cross_entropy", False)
    assert value == pytest.approx(log_loss(y, 1 / (1 + np.exp(-raw))), rel=1e-12)


# -- XGBoost --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xgb():
    return pytest.importorskip("xgboost")


def _xgb_params(**extra):
    return dict(eta=0.1, max_depth=4, nthread=2, seed=0, tree_method="hist", **extra)


@pytest.mark.parametrize(
    "builtin, name, options, which",
    [
        # pseudo-Huber δ²(√(1 + (r/δ)²) - 1) is Barron's loss at α = 1, c = δ (δ = 1)
        (
            {"objective": "reg:pseudohubererror", "huber_slope": 1.0, "base_score": 0.0},
            "general_robust",
            dict(alpha=1.0, c=1.0, hessian="exact"),
            1,
        ),
        # binary:logistic floors p(1 - p) at 1e-16
        (
            {"objective": "binary:logistic", "base_score": 0.5},
            "sigmoid_cross_entropy",
            dict(floor=1e-16),
            2,
        ),
        # multi:softprob passes max(2·p(1 - p), 1e-16)
        (
            {"objective": "multi:softprob", "num_class": 3, "base_score": 0.0},
            "softmax_cross_entropy",
            dict(hessian_scale=2.0, floor=0.5e-16),
            3,
        ),
    ],
)
def test_xgboost_matches_builtin_objectives(xgb, data, builtin, name, options, which):
    from symloss.integrations.xgboost import objective

    X, y = data[0], data[which]
    train = xgb.DMatrix(X, y)
    start = {k: v for k, v in builtin.items() if k == "num_class"}
    ours = xgb.train(
        _xgb_params(base_score=0.0, **start), train, ROUNDS, obj=objective(name, **options)
    )
    theirs = xgb.train(_xgb_params(**builtin), train, ROUNDS)
    # XGBoost predicts in float32
    np.testing.assert_allclose(
        ours.predict(train, output_margin=True),
        theirs.predict(train, output_margin=True),
        atol=2e-6,
    )


@pytest.mark.parametrize("name, which, scale", [("log_cosh", 1, 10.0), ("sigmoid_focal", 2, 1.0)])
def test_xgboost_training_loss_decreases(xgb, data, name, which, scale):
    from symloss.integrations.xgboost import metric, objective

    X, y = data[0], data[which] * scale
    train = xgb.DMatrix(X, y)
    history = {}
    xgb.train(
        _xgb_params(base_score=0.0, disable_default_eval_metric=1),
        train,
        ROUNDS,
        obj=objective(name),
        custom_metric=metric(name),
        evals=[(train, "train")],
        evals_result=history,
        verbose_eval=False,
    )
    losses = history["train"][name]
    assert _decreasing(losses) and losses[-1] < 0.8 * losses[0], losses


def test_xgboost_sklearn_api(xgb, data):
    from symloss.integrations.xgboost import metric, objective

    X, y, w = data[0], data[1], data[4]
    model = xgb.XGBRegressor(
        objective=objective("huber"),
        n_estimators=ROUNDS,
        base_score=0.0,
        eval_metric=metric("huber"),
        **_xgb_params(),
    )
    model.fit(X, y, sample_weight=w, eval_set=[(X, y)], sample_weight_eval_set=[w], verbose=False)
    native = xgb.train(
        _xgb_params(base_score=0.0), xgb.DMatrix(X, y, weight=w), ROUNDS, obj=objective("huber")
    )
    np.testing.assert_allclose(model.predict(X), native.predict(xgb.DMatrix(X)), atol=1e-6)
    assert "huber" in model.evals_result()["validation_0"]
    clf = xgb.XGBClassifier(
        objective=objective("softmax_cross_entropy"), n_estimators=ROUNDS, **_xgb_params()
    )
    clf.fit(X, data[3].astype(int))
    assert np.mean(clf.predict(X) == data[3]) > 0.9
