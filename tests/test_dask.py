"""Losses over Dask arrays of 10 chunks equal the in-memory kernels to 1e-12 relative, on the
threaded scheduler and on a distributed LocalCluster of separate processes. Skipped without
dask (the cluster test without distributed)."""

import numpy as np
import pytest

import symloss

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

REL = 1e-12


def _cases(rng):
    p = rng.normal(0, 2, (1000, 30))
    t = rng.normal(size=(1000, 30))
    w = rng.uniform(0.1, 2.0, (1000, 30))
    z = rng.normal(0, 3, (1000, 7))
    y = rng.integers(0, 7, 1000)
    y[::17] = -100  # ignored samples
    return [
        ("huber", dict(delta=0.5), (p, t), w, (100, 30)),
        ("log_cosh", {}, (p, t), None, (100, 15)),  # 10 × 2 blocks
        (
            "sigmoid_cross_entropy",
            dict(label_smoothing=0.1),
            (p, (t > 0).astype(float)),
            w,
            (100, 30),
        ),
        (
            "softmax_cross_entropy",
            dict(label_smoothing=0.1),
            (z, y),
            rng.uniform(0.5, 2, 7),
            (100, 7),
        ),
        ("softmax_focal", dict(gamma=2.0), (z, y), None, (100, 7)),
    ]


def _check(scheduler, rng):
    from symloss.integrations.dask import function

    for name, params, (a, b), weight, chunks in _cases(rng):
        A = da.from_array(a, chunks=chunks)
        B = da.from_array(b, chunks=chunks[: b.ndim])
        W = weight if weight is None or weight.ndim == 1 else da.from_array(weight, chunks=chunks)
        assert A.npartitions >= 10
        f = function(name, **params)
        for reduction in ("mean", "sum", "none"):
            lazy = f.value_and_grad(A, B, reduction=reduction, weight=W)
            value, grad = dask.compute(*lazy, scheduler=scheduler)
            want_v, want_g = symloss.loss(name).value_and_grad(
                a, b, reduction=reduction, weight=weight, **params
            )
            assert grad.shape == a.shape and grad.dtype == want_g.dtype
            np.testing.assert_allclose(value, want_v, rtol=REL, atol=0, err_msg=name)
            np.testing.assert_allclose(grad, want_g, rtol=REL, atol=1e-300, err_msg=name)
        value = f(A, B, weight=W).compute(scheduler=scheduler)
        want = symloss.loss(name)(a, b, weight=weight, **params)
        np.testing.assert_allclose(value, want, rtol=REL, err_msg=name)


def test_threaded_scheduler_equals_in_memory(rng):
    _check("threads", rng)


def test_local_cluster_of_processes_equals_in_memory(rng):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        _check(None, rng)  # the client's cluster


def test_errors_name_the_argument(rng):
    from symloss.integrations.dask import function

    with pytest.raises(ValueError, match="sequence loss"):
        function("ctc")
    A = da.zeros((10, 3), chunks=5)
    with pytest.raises(ValueError, match="does not broadcast"):
        function("mse").value_and_grad(A, da.zeros((4,)))
    with pytest.raises(ValueError, match="reduction must be"):
        function("mse")(A, A, reduction="avg")
    with pytest.raises(ValueError, match="samples along axis 0"):
        function("softmax_cross_entropy")(A, da.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="delta must be"):  # before any block runs
        function("huber", delta=-1.0)


def test_one_sample_of_a_class_loss_has_the_in_memory_shapes(rng):
    from symloss.integrations.dask import function

    z = rng.normal(size=5)
    for reduction in ("mean", "none"):
        lazy = function("softmax_cross_entropy").value_and_grad(
            da.from_array(z), 2, reduction=reduction
        )
        value, grad = dask.compute(*lazy, scheduler="threads")
        want_v, want_g = symloss.softmax_cross_entropy.value_and_grad(z, 2, reduction=reduction)
        assert np.shape(value) == np.shape(want_v) and grad.shape == want_g.shape == (5,)
        np.testing.assert_allclose(value, want_v, rtol=REL)
        np.testing.assert_allclose(grad, want_g, rtol=REL)
