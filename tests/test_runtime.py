"""The runtime contract: names, specs, call conventions, dtypes, reductions, errors, edge cases.

Expected values here come from plain NumPy/`math` formulas of the losses (independent of the
generated kernels) or from the contract itself (shapes, dtypes, error messages).
"""

import math
import subprocess
import sys

import numpy as np
import pytest

import symloss
from symloss.catalog import BUILTINS

ALL = sorted(BUILTINS)
PER_ELEMENT = [n for n in ALL if BUILTINS[n].family != "classes"]  # classes: test_classes.py


def _more(k, like) -> list:
    """Inputs after the second (var of gaussian_nll, target of margin_ranking): ones."""
    return [np.ones_like(np.asarray(like)) for _ in k.inputs[2:]]


def test_names_are_the_sorted_catalogue():
    from symloss.catalog import SEQUENCES

    assert symloss.names() == sorted([*ALL, *SEQUENCES])
    assert {n for n in ALL if BUILTINS[n].family == "elementwise"} >= {"mse", "huber", "hinge"}


def test_get_returns_the_symbolic_spec():
    import sympy as sp

    spec = symloss.get("huber")
    assert spec.name == "huber"
    assert [i.name for i in spec.inputs] == ["pred", "target"]
    assert spec.params == {"delta": 1.0}
    assert isinstance(spec.expr, sp.Expr)
    d = spec.derivative("pred")
    pred, target = sp.symbols("pred target", real=True)
    delta = sp.Symbol("delta", real=True)
    assert d.subs({pred: sp.Rational(1, 4), target: 0, delta: 1}) == sp.Rational(1, 4)
    assert d.subs({pred: -3, target: 0, delta: 2}) == -2
    assert r"\delta" in spec.latex()
    with pytest.raises(ValueError, match="unknown loss 'hubr'.*huber"):
        symloss.get("hubr")


def test_module_level_function_is_the_kernel_object():
    assert symloss.huber is symloss.loss("huber")
    assert "huber" in dir(symloss)
    with pytest.raises(AttributeError):
        symloss.not_a_loss  # noqa: B018


def test_mse_reductions_against_numpy(rng):
    p, t = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    w = rng.uniform(0.5, 2.0, size=(4, 6))
    r2 = (p - t) ** 2
    k = symloss.mse
    np.testing.assert_allclose(k(p, t, reduction="none"), r2, rtol=1e-15)
    np.testing.assert_allclose(k(p, t), r2.mean(), rtol=1e-14)
    np.testing.assert_allclose(k(p, t, reduction="sum"), r2.sum(), rtol=1e-14)
    np.testing.assert_allclose(k(p, t, weight=w), (w * r2).sum() / w.sum(), rtol=1e-14)
    np.testing.assert_allclose(k(p, t, weight=w, reduction="sum"), (w * r2).sum(), rtol=1e-14)
    np.testing.assert_allclose(k(p, t, weight=w, reduction="none"), w * r2, rtol=1e-15)
    # value_and_grad: the gradient of whatever was reduced
    v, g = k.value_and_grad(p, t, weight=w)
    np.testing.assert_allclose(g, 2 * w * (p - t) / w.sum(), rtol=1e-14)
    v, g = k.value_and_grad(p, t, reduction="sum")
    np.testing.assert_allclose(g, 2 * (p - t), rtol=1e-15)
    v, g = k.value_and_grad(p, t, reduction="none")
    assert v.shape == g.shape == p.shape
    g1, h = k.grad_hess(p, t)
    np.testing.assert_allclose(g1, 2 * (p - t), rtol=1e-15)
    np.testing.assert_array_equal(h, np.full(p.shape, 2.0))


def test_target_and_weight_broadcast_to_pred(rng):
    p = rng.normal(size=(3, 5))
    t = rng.normal(size=5)
    w = np.arange(1.0, 4.0)[:, None]
    expected = (w * (p - t) ** 2).sum() / (w.sum() * 5)
    np.testing.assert_allclose(symloss.mse(p, t, weight=w), expected, rtol=1e-14)
    with pytest.raises(ValueError, match=r"target has shape \(4,\).*pred's shape \(3, 5\)"):
        symloss.mse(p, np.zeros(4))
    with pytest.raises(ValueError, match="weight has shape"):
        symloss.mse(p, t, weight=np.ones(2))
    with pytest.raises(ValueError, match="does not broadcast"):
        symloss.mse(np.zeros(5), np.zeros((3, 5)))  # target may not grow pred


@pytest.mark.parametrize("name", PER_ELEMENT)
def test_dtype_rules(name):
    k = symloss.loss(name)
    target = [0.0, 1.0, 1.0] if name != "hinge" else [-1.0, 1.0, 1.0]
    for given, expected in [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int64, np.float64),
        (np.float16, np.float64),
        (bool, np.float64),
    ]:
        p = np.array([0.5, -2, 3]).astype(given)
        more = _more(k, target)
        v, g = k.value_and_grad(p, target, *more)
        assert v.dtype == expected and g.dtype == expected and g.shape == p.shape
        if k.family == "elementwise":
            g, h = k.grad_hess(p, target, *more)
            assert g.dtype == h.dtype == expected
            assert k(p, target, *more, reduction="none").dtype == expected
    # Python lists and scalars
    assert isinstance(k([0.5, -2.0], target[:2], *(m[:2] for m in more)), np.float64)
    assert np.ndim(k(0.5, target[1], *(1.0 for _ in more))) == 0


def test_float32_inputs_keep_float32_targets_and_weights():
    p = np.array([1.5, -0.5], dtype=np.float32)
    out = symloss.huber(p, np.array([0.0, 0.0]), weight=[1, 2], reduction="none")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([1.0, 0.25], dtype=np.float32))


def test_empty_input():
    e = np.zeros(0)
    assert symloss.mse(e, e, reduction="sum") == 0
    assert math.isnan(symloss.mse(e, e))
    assert symloss.mse(e, e, reduction="none").shape == (0,)
    v, g = symloss.mse.value_and_grad(e, e)
    assert math.isnan(v) and g.shape == (0,)
    g, h = symloss.huber.grad_hess(np.zeros((0, 3)), 0.0)
    assert g.shape == h.shape == (0, 3)
    assert symloss.l2(e, e) == 0 and symloss.l1(e, e) == 0


@pytest.mark.parametrize("name", PER_ELEMENT)
def test_nan_gives_nan_for_that_element_only(name):
    k = symloss.loss(name)
    p = np.array([np.nan, 0.5, 0.25])
    t = np.array([1.0, 0.0, 1.0])
    if k.family == "norm":
        v, g = k.value_and_grad(p, t)  # ∂Σ|r|/∂r_j = sign(r_j) needs no other element
        assert np.isnan(v) and np.isnan(g[0])
        assert np.isnan(g).all() == (name == "l2")
        return
    more = _more(k, t)
    v, g = k.value_and_grad(p, t, *more, reduction="none")
    assert np.isnan(v[0]) and np.isnan(g[0])
    assert np.isfinite(v[1:]).all() and np.isfinite(g[1:]).all()
    g, h = k.grad_hess(p, t, *more)
    assert np.isnan(g[0]) and np.isnan(h[0]) and np.isfinite(h[1:]).all()
    assert np.isnan(k(p, t, *more))


def test_extreme_inputs_stay_finite_and_accurate():
    # log_cosh(r) = |r| - log 2 + log1p(exp(-2|r|)): at 1e4 the last term is far below an ULP.
    for r in (1e4, -1e4, 1e300):
        assert symloss.log_cosh(np.array([r]), 0.0) == abs(r) - math.log(2)
    # cross entropy at logits ±1e3: softplus(1e3) = 1e3, softplus(-1e3) = exp(-1e3) ~ 0
    x = np.array([1e3, -1e3, 1e3, -1e3])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    v, g = symloss.sigmoid_cross_entropy.value_and_grad(x, y, reduction="none")
    np.testing.assert_array_equal(v, [0.0, 0.0, 1e3, 1e3])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, -1.0])
    v = symloss.sigmoid_focal(x, y, reduction="none")
    assert np.isfinite(v).all() and v[2] == 0.75 * 1e3 and v[3] == 0.25 * 1e3


def test_l2_does_not_overflow_or_underflow():
    for scale in (1e200, 1e-200, 1e-310):
        a = np.array([3.0, 4.0]) * scale
        np.testing.assert_allclose(symloss.l2(a, 0.0), math.hypot(*a), rtol=1e-15)
        v, g = symloss.l2.value_and_grad(a, 0.0)
        np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-15)
    a32 = np.array([3e30, 4e30], dtype=np.float32)
    assert symloss.l2(a32, 0) == np.float32(5e30)


def test_norm_axis():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(symloss.l1(x, 1.0, axis=0), np.abs(x - 1).sum(axis=0))
    np.testing.assert_allclose(symloss.l2(x, 0.0, axis=(0, 1)), math.sqrt((x**2).sum()), rtol=1e-15)
    np.testing.assert_allclose(symloss.l2(x, 0.0, axis=-1), np.sqrt((x**2).sum(-1)), rtol=1e-15)
    with pytest.raises(ValueError, match="axis must be"):
        symloss.l1(x, 0.0, axis=2)
    with pytest.raises(ValueError, match="repeated"):
        symloss.l1(x, 0.0, axis=(0, 0))
    with pytest.raises(TypeError, match="axis=, not reduction="):
        symloss.l2(x, 0.0, reduction="sum")
    with pytest.raises(TypeError, match="only l1 and l2"):
        symloss.mse(x, 0.0, axis=0)


def test_hinge_labels():
    f = np.array([0.3, -2.0, 0.5])
    signs = np.array([1.0, -1.0, -1.0])
    expected = np.maximum(0, 1 - signs * f)
    np.testing.assert_array_equal(symloss.hinge(f, signs, reduction="none"), expected)
    np.testing.assert_array_equal(symloss.hinge(f, (signs + 1) / 2, reduction="none"), expected)
    np.testing.assert_array_equal(
        symloss.hinge(f, signs, squared=True, reduction="none"), expected**2
    )
    with pytest.raises(ValueError, match=r"target of hinge must hold labels.*0\.5"):
        symloss.hinge(f, [1.0, 0.5, -1.0])
    with pytest.raises(ValueError, match="both 0 and -1"):
        symloss.hinge(f, [1.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="squared must be False or True"):
        symloss.hinge(f, signs, squared=0.5)


def test_balanced_beta_defaults_to_the_fraction_of_negatives(rng):
    x = rng.normal(size=50)
    y = (rng.uniform(size=50) < 0.2).astype(float)
    beta = 1 - y.mean()
    sp_neg, sp_pos = np.logaddexp(0, x), np.logaddexp(0, -x)
    expected = beta * y * sp_pos + (1 - beta) * (1 - y) * sp_neg
    k = symloss.balanced_sigmoid_cross_entropy
    np.testing.assert_allclose(k(x, y, reduction="none"), expected, rtol=1e-14)
    np.testing.assert_allclose(
        k(x, y, beta=0.5, reduction="sum"), 0.5 * (y * sp_pos + (1 - y) * sp_neg).sum(), rtol=1e-14
    )
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\], got 1\.5"):
        k(x, y, beta=1.5)


def test_focal_alpha_minus_one_disables_weighting():
    x, y = np.array([0.3, -1.2]), np.array([1.0, 0.0])
    k = symloss.sigmoid_focal
    np.testing.assert_allclose(
        k(x, y, alpha=-1, gamma=0.0, reduction="none"),
        symloss.sigmoid_cross_entropy(x, y, reduction="none"),
        rtol=1e-15,
    )
    with pytest.raises(ValueError, match="alpha must be in"):
        k(x, y, alpha=-0.5)
    with pytest.raises(ValueError, match="gamma must be in"):
        k(x, y, gamma=-1.0)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: symloss.loss("hubber"), ValueError, "unknown loss 'hubber'.*did you mean huber"),
        (lambda: symloss.huber([1.0], [0.0], delta=0.0), ValueError, r"delta must be in \(0, "),
        (lambda: symloss.huber([1.0], [0.0], delta=-1), ValueError, "delta must be in"),
        (lambda: symloss.huber([1.0], [0.0], delta="1"), TypeError, "delta must be a real"),
        (lambda: symloss.smooth_l1([1.0], [0.0], beta=-0.1), ValueError, "beta must be in"),
        (lambda: symloss.huber([1.0], [0.0], dleta=1), TypeError, "unexpected argument.*dleta"),
        (lambda: symloss.mse([1.0], [0.0], reduction="avg"), ValueError, "reduction must be"),
        (lambda: symloss.mse([1j], [0.0]), TypeError, "pred must be real"),
        (lambda: symloss.mse([1.0], ["a"]), TypeError, "target must be a real numeric"),
        (lambda: symloss.mse([[1.0], [2.0, 3.0]], 0.0), TypeError, "pred must be a real"),
        (lambda: symloss.mse([1.0]), TypeError, "missing input 'target'"),
        (lambda: symloss.mse([1.0], [1.0], [1.0]), TypeError, "takes 2 positional inputs"),
        (
            lambda: symloss.sigmoid_cross_entropy([1.0], [0.5], label_smoothing=2.0),
            ValueError,
            "label_smoothing must be in",
        ),
        (
            lambda: symloss.sigmoid_cross_entropy([1.0, 2.0], [0.5, 1], pos_weight=[1, -1]),
            ValueError,
            "pos_weight must be in .* got -1",
        ),
        (
            lambda: symloss.sigmoid_cross_entropy([1.0, 2.0], [0.5, 1], pos_weight=[1, 2, 3]),
            ValueError,
            "pos_weight has shape",
        ),
        (
            lambda: symloss.balanced_sigmoid_cross_entropy([1.0], [2.0]),
            ValueError,
            "estimated by negative_fraction",
        ),
    ],
)
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_pos_weight_as_an_array_broadcasts(rng):
    x = rng.normal(size=(4, 3))
    y = rng.uniform(size=(4, 3))
    pw = np.array([0.5, 1.0, 4.0])
    expected = pw * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    got = symloss.sigmoid_cross_entropy(x, y, pos_weight=pw, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def test_import_compiles_nothing_and_runtime_never_imports_sympy():
    code = (
        "import sys, symloss\n"
        "print('numba' in sys.modules, 'sympy' in sys.modules,"
        " any(m.startswith('symloss.generated.kernels.') for m in sys.modules))\n"
        "symloss.huber([1.0, 3.0], [0.0, 0.0]); symloss.l2.value_and_grad([1.0], [0.0])\n"
        "symloss.mse.grad_hess([1.0], [0.0]); symloss.names()\n"
        "print('sympy' in sys.modules)\n"
    )
    assert _run(code).split() == ["False", "False", "False", "False"]


def test_symbolic_api_imports_sympy_on_first_use():
    code = "import sys, symloss\nsymloss.get('mse').latex()\nprint('sympy' in sys.modules)"
    assert _run(code) == "True"


def test_out_buffers_receive_the_results():
    """out= writes into the given arrays (returned as they are) the same numbers as a call
    without it; a wrong shape, dtype, layout or reduction is refused by name."""
    rng = np.random.default_rng(7)
    p, t = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    v_ref, g_ref = symloss.huber.value_and_grad(p, t)
    g = np.empty_like(p)
    v, g_out = symloss.huber.value_and_grad(p, t, out=g)
    assert g_out is g and v == v_ref
    np.testing.assert_array_equal(g, g_ref)
    each, grad = np.empty_like(p), np.empty_like(p)
    got = symloss.huber.value_and_grad(p, t, reduction="none", out=(each, grad))
    assert got[0] is each and got[1] is grad
    want = symloss.huber.value_and_grad(p, t, reduction="none")
    np.testing.assert_array_equal(each, want[0])
    np.testing.assert_array_equal(grad, want[1])
    assert symloss.huber(p, t, reduction="none", out=each) is each
    h1, h2 = np.empty_like(p), np.empty_like(p)
    gh = symloss.huber.grad_hess(p, t, out=(h1, h2))
    np.testing.assert_array_equal(gh[1], symloss.huber.grad_hess(p, t)[1])
    for bad, match in [
        (np.empty(15), "shape"),
        (np.empty((3, 5), np.float32), "float64"),
        (np.empty((5, 3)).T, "non-contiguous"),
    ]:
        with pytest.raises(ValueError, match=match):
            symloss.huber.value_and_grad(p, t, out=bad)
    with pytest.raises(TypeError, match="reduction='none'"):
        symloss.huber(p, t, out=each)
    with pytest.raises(TypeError, match="elementwise"):
        symloss.softmax_cross_entropy.value_and_grad(p, [0, 1, 2], out=g)
    with pytest.raises(TypeError, match="pair"):
        symloss.huber.grad_hess(p, t, out=h1)


def test_the_boosting_and_dask_integrations_do_not_import_sympy():
    pytest.importorskip("dask")
    code = (
        "import sys, numpy as np\n"
        "from symloss.integrations.boosting import BoostingLoss\n"
        "from symloss.integrations.dask import function\n"
        "BoostingLoss('huber').grad_hess(np.ones(3), np.zeros(3))\n"
        "function('mse')(np.ones(4), np.zeros(4)).compute(scheduler='sync')\n"
        "print('sympy' in sys.modules)\n"
    )
    assert _run(code) == "False"


def test_a_broadcast_target_is_never_copied_to_full_size():
    import tracemalloc

    from symloss.runtime import BLOCK

    x = np.linspace(-3.0, 3.0, 4 * BLOCK + 12345)
    symloss.mse(x[:10], 0.5)  # compile first
    tracemalloc.start()
    value = symloss.mse(x, 0.5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # blocks of BLOCK elements, not a copy of the target as large as x
    assert peak < 0.75 * x.nbytes, peak / x.nbytes
    assert value == pytest.approx(math.fsum((x - 0.5) ** 2) / x.size, rel=4e-16)
    # per element, the same as with the target written out
    full = symloss.loss("mse").value_and_grad(x, np.full_like(x, 0.5), reduction="none")
    lazy = symloss.loss("mse").value_and_grad(x, 0.5, reduction="none")
    for a, b in zip(full, lazy):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_norm_along_an_axis_keeps_one_array_of_terms(dtype):
    import tracemalloc

    x = np.random.default_rng(3).normal(size=(4000, 1000)).astype(dtype)
    symloss.l2(x[:2], 0.0, axis=1)  # compile first
    tracemalloc.start()
    value = symloss.l2(x, 0.0, axis=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # the terms ℓ in the input's dtype and a block of the broadcast target (it was 4-6×:
    # ℓ and ℓ' in float64 copies, and w·ℓ)
    assert peak < 1.5 * x.nbytes, peak / x.nbytes
    ref = np.sqrt(np.sum(x.astype(np.float64) ** 2, axis=1))
    np.testing.assert_allclose(value, ref.astype(dtype), rtol=2 * np.finfo(dtype).eps)
