"""Property-based tests (Hypothesis) of every elementwise loss: shapes, dtypes, layouts
(Fortran order, negative strides, non-contiguous views, read-only arrays, scalar targets),
NaN and ±∞ anywhere, parameters at the ends of their ranges. Every result is judged by the
gate's own error model (`symloss.verify`) against mpmath on the definition; malformed calls
must raise a TypeError or ValueError that names the argument.

Deterministic (``derandomize``): the same examples in every run, so CI cannot flake.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import symloss
from symloss.catalog import ALL as _ALL
from symloss.verify.elementwise import _check_points, reference
from symloss.verify.sampling import domain_samples
from symloss.verify.sources import KernelSource

hypothesis = pytest.importorskip("hypothesis")
ALL = {s.name: s for s in _ALL}
st = hypothesis.strategies

ELEMENTWISE = sorted(
    n for n, s in ALL.items() if s.family == "elementwise" and not getattr(s, "frontend", None)
)
# Known failures of the gate itself (tests/test_kernels.py): not judged here.
SKIP_DTYPES = {"sigmoid_focal": ("float64",)}
# Known failures found by this suite, listed in the README's "Not passing yet": parameter
# values left out of the draw, as (loss, parameter, value): reason. (general_robust at c = 1e-30
# was one: float32 r/c overflowed, and float32 kernels now take that loss in float64.)
SKIP_PARAMS: dict = {}
SETTINGS = hypothesis.settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
LAYOUTS = ("contiguous", "fortran", "reversed", "strided", "readonly")


def laid_out(values: np.ndarray, shape: tuple, layout: str) -> np.ndarray:
    """``values`` (1-D) as an array of ``shape`` in ``layout``, the same in logical order."""
    a = values.reshape(shape)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "reversed":
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if layout == "strided":
        wide = np.empty(shape[:-1] + (2 * shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
    return a


class LaidOutSource(KernelSource):
    """The kernel called on the points laid out as drawn; results back in point order."""

    def __init__(self, kernel, shape, layouts, scalars):
        super().__init__(kernel)
        self.shape, self.layouts, self.scalars = shape, layouts, scalars

    def outputs(self, inputs, params, dtype, rng) -> dict:
        args = [
            a.dtype.type(a[0]) if s else laid_out(a, self.shape, lay)
            for a, lay, s in zip(inputs, self.layouts, self.scalars)
        ]
        k, flat = self.kernel, (lambda r: np.asarray(r).reshape(-1))
        v_none = k(*args, reduction="none", **params)
        v_fused, g_fused = k.value_and_grad(*args, reduction="none", **params)
        g, h = k.grad_hess(*args, **params)
        assert np.shape(v_none) == self.shape and np.shape(g) == self.shape
        return {
            "value": [flat(v_none), flat(v_fused)],
            "grad": [flat(g_fused), flat(g)],
            "hess": [flat(h)],
        }


@st.composite
def calls(draw, name: str):
    spec = ALL[name]
    dtype = draw(
        st.sampled_from(["float32", "float64"]).filter(lambda d: d not in SKIP_DTYPES.get(name, ()))
    )
    dt = np.dtype(dtype).type
    n = draw(st.integers(1, 6))
    shape = draw(st.sampled_from([(n,), (1, n), (n, 1)] + ([(2, n // 2)] if n % 2 == 0 else [])))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    at, layouts, scalars = {}, [], []
    for i, inp in enumerate(spec.inputs):
        pool = domain_samples(inp.domain, dt, rng, 4)
        scalar = i > 0 and draw(st.booleans()) and draw(st.booleans())  # a broadcast scalar
        values = (
            [draw(st.sampled_from(pool))] * n
            if scalar
            else draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        )
        at[inp.name] = np.asarray(values, dt)
        layouts.append(draw(st.sampled_from(LAYOUTS)))
        scalars.append(scalar)
    params, static = {}, {}
    for k, p in spec.parameters.items():
        if p.static:
            static[k] = draw(st.sampled_from(p.values))
            continue
        lo, hi = float(p.domain.inf), float(p.domain.sup)
        choices = [p.default] if p.default is not None else []
        choices += [v for v in (lo, hi) if math.isfinite(v) and p.domain.contains(v) is sp.true]
        choices += [v for v in (1e-30, 0.5, 3.0, 1e30) if p.domain.contains(v) is sp.true]
        choices = [c for c in choices if math.isfinite(float(np.asarray(c, dt)))]
        choices = [c for c in choices if (name, k, c) not in SKIP_PARAMS]
        params[k] = draw(st.sampled_from(choices))
    return dtype, shape, at, layouts, scalars, params, static


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_call_is_within_the_gate_in_any_layout(name):
    spec, kernel = ALL[name], symloss.loss(name)

    @SETTINGS
    @hypothesis.given(calls(name))
    def check(call):
        dtype, shape, at, layouts, scalars, params, static = call
        rows: dict = {}
        ref = reference(spec, tuple(sorted(static.items())))
        source = LaidOutSource(kernel, shape, layouts, scalars)
        _check_points(
            spec,
            source,
            ref,
            params,
            static,
            np.dtype(dtype).type,
            at,
            rows,
            np.random.default_rng(0),
        )
        failed = [f"{r}  worst at {r.worst_at}" for r in rows.values() if not r.passed]
        assert not failed, "\n".join(failed)

    check()


BAD_ARGUMENTS = [
    ("pred", "abc", TypeError),
    ("pred", np.array([1 + 2j]), TypeError),
    ("pred", [[1.0, 2.0], [3.0]], TypeError),
    ("target", np.zeros(7), ValueError),
    ("weight", np.zeros(5), ValueError),
    ("reduction", "average", ValueError),
]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_malformed_calls_name_the_argument(name):
    kernel = symloss.loss(name)
    first, second = kernel.inputs[0], kernel.inputs[1] if len(kernel.inputs) > 1 else None
    valid = {}  # a value inside each input's domain
    for i in ALL[name].inputs:
        ok = [v for v in (0.5, 1.0, 0.0, -1.0) if i.domain.contains(v) is sp.true]
        valid[i.name] = ok[0]

    @SETTINGS
    @hypothesis.given(st.sampled_from(BAD_ARGUMENTS), st.sampled_from(["value", "grad", "hess"]))
    def check(bad, entry):
        what, value, error = bad
        args = {i.name: np.full(3, valid[i.name]) for i in ALL[name].inputs}
        kw = {}
        if what == "pred":
            args[first], label = value, first
        elif what == "target":
            if second is None:
                return
            args[second], label = value, second
        elif what == "weight":
            kw["weight"], label = value, "weight"
        else:
            kw["reduction"], label = value, "reduction"
        if entry == "hess":
            if "reduction" in kw or "weight" in kw:
                return
            call = lambda: kernel.grad_hess(*args.values(), **kw)  # noqa: E731
        elif entry == "grad":
            call = lambda: kernel.value_and_grad(*args.values(), **kw)  # noqa: E731
        else:
            call = lambda: kernel(*args.values(), **kw)  # noqa: E731
        with pytest.raises(error) as info:
            call()
        assert label in str(info.value), str(info.value)

    check()


# -- class-axis losses: layouts, shapes and NaN placement ------------------------------------

CLASSES = sorted(
    n for n, s in ALL.items() if s.family == "classes" and not getattr(s, "frontend", None)
)


# Known failures found by this suite, in the README's "Not passing yet": where a NaN does not
# make the sample's value NaN, against the README's rule.
NAN_IGNORED = {
    "kl_divergence": "a NaN pred where the target is 0: the term p·(log p - log q) is 0 at p = 0 "
    "whatever q",
}


@st.composite
def class_calls(draw, name: str):
    spec = ALL[name]
    dtype = np.dtype(draw(st.sampled_from(["float32", "float64"]))).type
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    tables = any(i.by_label for i in spec.inputs)
    spatial = () if tables or spec.over == "sample" else draw(st.sampled_from([(), (2,)]))
    shape, samples = (n, c, *spatial), (n, *spatial)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    k = 3 if tables else c  # classes a label may name: table rows, or the class axis
    args = []
    for inp in spec.inputs:
        if inp.labels == "classes":
            labels = draw(
                st.lists(
                    st.integers(0, k - 1),
                    min_size=int(np.prod(samples)),
                    max_size=int(np.prod(samples)),
                )
            )
            args.append(np.array(labels, np.int64).reshape(samples))
            continue
        size = (k, c) if inp.by_label else shape
        pool = domain_samples(inp.domain, dtype, rng, 4)
        values = draw(
            st.lists(
                st.sampled_from(pool), min_size=int(np.prod(size)), max_size=int(np.prod(size))
            )
        )
        args.append(np.asarray(values, dtype).reshape(size))
    layouts = [draw(st.sampled_from(LAYOUTS)) for _ in args]
    return args, layouts


def _outputs(kernel, args):
    value, grad = kernel.value_and_grad(*args, reduction="none")
    grads = grad if isinstance(grad, tuple) else (grad,)
    return [np.asarray(value), *map(np.asarray, grads)]


@pytest.mark.parametrize("name", CLASSES)
def test_class_axis_results_do_not_depend_on_layout(name):
    kernel = symloss.loss(name)

    @SETTINGS
    @hypothesis.given(class_calls(name))
    def check(call):
        args, layouts = call
        laid = [laid_out(a.reshape(-1), a.shape, lay) for a, lay in zip(args, layouts)]
        for a, b in zip(_outputs(kernel, args), _outputs(kernel, laid)):
            np.testing.assert_array_equal(a, b)

    check()


@pytest.mark.parametrize("name", CLASSES)
def test_a_nan_in_one_sample_leaves_the_others_alone(name):
    kernel = symloss.loss(name)

    @SETTINGS
    @hypothesis.given(class_calls(name), st.integers(0, 3))
    def check(call, which):
        args, _ = call
        x = args[0].copy()
        i = which % x.shape[0]
        x[i].flat[0] = np.nan  # sample i's first input (its first position, if spatial)
        clean, spoiled = _outputs(kernel, args)[0], _outputs(kernel, [x, *args[1:]])[0]
        at = (i,) + (0,) * (np.ndim(spoiled) - 1)
        if not (name in NAN_IGNORED and args[1][i].flat[0] == 0):
            assert np.isnan(spoiled[at]), (spoiled, at)
        others = np.ones(np.shape(spoiled), bool)
        others[at] = False
        np.testing.assert_array_equal(clean[others], spoiled[others])

    check()


# -- sequence losses: layouts, and the edit distance against a plain DP -------------------------


def levenshtein(h: list, r: list, insert: float, delete: float, substitute: float) -> float:
    """The textbook DP: D[i][j] = cost of turning h[:i] into r[:j] (insert from r, delete
    from h)."""
    d = [[0.0] * (len(r) + 1) for _ in range(len(h) + 1)]
    for i in range(1, len(h) + 1):
        d[i][0] = d[i - 1][0] + delete
    for j in range(1, len(r) + 1):
        d[0][j] = d[0][j - 1] + insert
    for i in range(1, len(h) + 1):
        for j in range(1, len(r) + 1):
            same = h[i - 1] == r[j - 1]
            d[i][j] = min(
                d[i - 1][j] + delete,
                d[i][j - 1] + insert,
                d[i - 1][j - 1] + (0.0 if same else substitute),
            )
    return d[len(h)][len(r)]


def padded(seqs: list, width: int, layout: str) -> np.ndarray:
    a = np.full((len(seqs), max(width, 1)), 7, np.int64)  # 7: padding, never a symbol
    for k, s in enumerate(seqs):
        a[k, : len(s)] = s
    return laid_out(a.reshape(-1), a.shape, layout)


sequences = st.lists(st.integers(0, 3), max_size=6)


@SETTINGS
@hypothesis.given(
    st.lists(st.tuples(sequences, sequences), min_size=1, max_size=4),
    st.sampled_from([(1.0, 1.0, 1.0), (0.5, 2.0, 1.0), (1.0, 1.0, 3.0)]),
    st.sampled_from(LAYOUTS),
    st.sampled_from(LAYOUTS),
)
def test_edit_distance_of_padded_batches_in_any_layout_is_the_plain_dp(pairs, costs, lh, lr):
    hyps, refs = [list(h) for h, _ in pairs], [list(r) for _, r in pairs]
    width = max(len(s) for s in hyps + refs)
    got = symloss.edit_distance(
        padded(hyps, width, lh),
        padded(refs, width, lr),
        costs=costs,
        hypothesis_lengths=[len(s) for s in hyps],
        truth_lengths=[len(s) for s in refs],
    )
    want = [levenshtein(h, r, *costs) for h, r in pairs]
    np.testing.assert_array_equal(got, want)


@SETTINGS
@hypothesis.given(
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(2, 4),
    st.sampled_from(LAYOUTS),
    st.sampled_from(["float32", "float64"]),
    st.integers(0, 2**16),
)
def test_ctc_and_soft_edit_distance_do_not_depend_on_layout(n, t, c, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(t, n, c)).astype(dtype)
    s = min(t, 2)
    targets = rng.integers(1, c, size=(n, s))
    lengths = (np.full(n, t), rng.integers(0, s + 1, size=n))
    ctc = symloss.loss("ctc")
    for a, b in zip(
        ctc.value_and_grad(z, targets, *lengths, reduction="none"),
        ctc.value_and_grad(
            laid_out(z.reshape(-1), z.shape, layout), targets, *lengths, reduction="none"
        ),
    ):
        np.testing.assert_array_equal(a, b)
    soft = symloss.loss("soft_edit_distance")
    zz = np.ascontiguousarray(np.moveaxis(z, 1, 0))  # (N, T, C)
    for a, b in zip(
        soft.value_and_grad(zz, targets, reduction="none"),
        soft.value_and_grad(laid_out(zz.reshape(-1), zz.shape, layout), targets, reduction="none"),
    ):
        np.testing.assert_array_equal(a, b)
