"""Sequence losses: CTC against brute force and PyTorch, edit distance against a recursion,
the soft edit distance against its recurrence in mpmath and its γ → 0 limit."""

import functools
import itertools
import math

import numpy as np
import pytest

import symloss
from symloss.verify.sequences import ctc_reference, soft_edit_reference

# -- CTC ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_time,n_classes", [(1, 2), (3, 3), (5, 3), (4, 4)])
def test_ctc_equals_the_sum_over_all_alignments(rng, n_time, n_classes):
    for length in range(0, min(3, n_time) + 1):
        target = [int(v) for v in rng.integers(1, n_classes, length)]
        z = rng.normal(0, 2, (n_time, n_classes))
        want_v, want_g = ctc_reference(z, target)
        padded = np.array([target + [1] * (3 - length)])
        v, g = symloss.ctc.value_and_grad(z, padded, [n_time], [length], reduction="sum")
        if math.isinf(want_v):
            assert v == np.inf
            continue
        assert v == pytest.approx(float(want_v), rel=1e-12, abs=1e-14)
        want = np.array([[float(x) for x in row] for row in want_g])
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-13)


def _torch_ctc(z, targets, il, tl, reduction, zero_infinity):
    torch = pytest.importorskip("torch")
    zt = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(
        zt.log_softmax(2),
        torch.tensor(targets),
        torch.tensor(il),
        torch.tensor(tl),
        reduction=reduction,
        zero_infinity=zero_infinity,
    )
    (g,) = torch.autograd.grad(loss.sum(), zt)
    return loss.detach().numpy(), g.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_ctc_matches_pytorch(rng, reduction, zero_infinity, layout):
    n_time, n, n_classes, s_max = 30, 6, 6, 8
    z = rng.normal(0, 3, (n_time, n, n_classes))
    tl = np.array([8, 5, 0, 3, 1, 12 // 2])
    il = np.array([30, 22, 5, 9, 1, 30])
    targets = rng.integers(1, n_classes, (n, s_max))
    targets[0, 1] = targets[0, 0]  # a repeated label
    targets[1, :5] = 2  # all repeats: needs T ≥ 2L - 1
    il[3], tl[3] = 4, 3
    targets[3, :3] = 4  # 4 4 4 in 4 frames: impossible (needs 5)
    if layout == "concatenated":
        args = (np.concatenate([targets[k, : tl[k]] for k in range(n)]), il, tl)
    else:
        args = (targets, il, tl)
    want_v, want_g = _torch_ctc(z, *args, reduction, zero_infinity)
    v, g = symloss.ctc.value_and_grad(z, *args, reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(v, want_v, rtol=1e-9)
    finite = np.isfinite(want_g)
    np.testing.assert_array_equal(np.isfinite(g), finite)  # NaN where PyTorch has NaN
    np.testing.assert_allclose(g[finite], want_g[finite], rtol=1e-9, atol=1e-12)
    assert np.asarray(
        symloss.ctc(z, *args, reduction=reduction, zero_infinity=zero_infinity)
    ) == pytest.approx(v)


@pytest.mark.parametrize("masked", [-1e13, -1e30])
def test_ctc_with_a_class_masked_far_below_matches_pytorch(rng, masked):
    """A class masked by a huge negative logit: its weight e^{z - m} is below any float, and
    the gradient stays finite (it was NaN: the extended exp overflowed below -2.7e12)."""
    z = rng.normal(size=(5, 1, 4))
    z[:, :, 3] = masked
    want_v, want_g = _torch_ctc(z, [[1, 2]], [5], [2], "sum", False)
    v, g = symloss.ctc.value_and_grad(z, [[1, 2]], [5], [2], reduction="sum")
    assert np.isfinite(g).all()
    np.testing.assert_allclose(v, want_v, rtol=1e-12)
    np.testing.assert_allclose(g, want_g, rtol=1e-9, atol=1e-12)


def test_ctc_impossible_alignment_is_inf_or_zero(rng):
    z = rng.normal(size=(3, 1, 4))
    target = np.array([[1, 1, 2]])  # needs 4 frames
    v, g = symloss.ctc.value_and_grad(z, target, [3], [3], reduction="sum")
    assert v == np.inf and np.isnan(g).all()
    v, g = symloss.ctc.value_and_grad(z, target, [3], [3], reduction="sum", zero_infinity=True)
    assert v == 0 and not g.any()


def test_ctc_single_sample_float32_and_large_logits(rng):
    z = (rng.normal(size=(6, 4)) * 1e4).astype(np.float32)
    v, g = symloss.ctc.value_and_grad(z, np.array([1, 2]), 6, 2)
    assert v.dtype == np.float32 and g.dtype == np.float32 and g.shape == z.shape
    assert np.isfinite(v) and np.isfinite(g).all()
    # each frame's gradient is softmax minus a distribution: it sums to 0
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"targets": np.array([[0, 1]])}, "blank"),
        ({"targets": np.array([[1, 5]])}, r"labels in \[0, 4\)"),
        ({"input_lengths": [-1]}, "input_lengths must be non-negative"),
        ({"input_lengths": [9]}, "input_lengths must be at most 5"),
        ({"target_lengths": [3]}, "target_lengths must be at most 2"),
        ({"targets": np.array([[1, 2], [1, 2]])}, "batch size"),
        ({"blank": 4}, r"blank must be in \[0, 4\)"),
        ({"reduction": "avg"}, "reduction"),
    ],
)
def test_ctc_bad_input_is_rejected_before_the_kernel(kwargs, match):
    args = {
        "logits": np.zeros((5, 1, 4)),
        "targets": np.array([[1, 2]]),
        "input_lengths": [5],
        "target_lengths": [2],
    }
    options = {k: kwargs.pop(k) for k in ("blank", "reduction") if k in kwargs}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        symloss.ctc(*args.values(), **options)


# -- edit distance ------------------------------------------------------------------------


def _levenshtein(a, b, costs=(1, 1, 1)):
    """The textbook recursion, memoised: an independent reference."""
    ins, dele, sub = costs

    @functools.cache
    def d(i, j):
        if i == 0:
            return j * ins
        if j == 0:
            return i * dele
        return min(
            d(i - 1, j) + dele, d(i, j - 1) + ins, d(i - 1, j - 1) + sub * (a[i - 1] != b[j - 1])
        )

    return d(len(a), len(b))


def test_edit_distance_equals_the_recursion_on_random_and_adversarial_pairs(rng):
    pairs = [("", ""), ("", "abc"), ("abc", ""), ("same", "same"), ("abc", "xyz")]
    pairs += [("kitten", "sitting"), ("naïve café", "naive cafe"), ("日本語", "日本")]
    for _ in range(60):
        a = "".join(rng.choice(list("abcd"), rng.integers(0, 9)))
        b = "".join(rng.choice(list("abcd"), rng.integers(0, 9)))
        pairs.append((a, b))
    for costs in [(1, 1, 1), (1, 2, 0.5), (0.25, 1, 3)]:
        for a, b in pairs:
            assert symloss.edit_distance(a, b, costs=costs) == _levenshtein(a, b, costs)
        batch = symloss.edit_distance([a for a, _ in pairs], [b for _, b in pairs], costs=costs)
        assert batch.tolist() == [_levenshtein(a, b, costs) for a, b in pairs]


def test_edit_distance_on_lists_arrays_and_padded_batches(rng):
    a, b = [3, 1, 4, 1, 5], [3, 1, 5, 9]
    want = _levenshtein(a, b)
    assert symloss.edit_distance(a, b) == want
    assert symloss.edit_distance(np.array(a), np.array(b)) == want
    # a list of str is a batch of strings
    assert symloss.edit_distance(["xy", "b"], ["y", "b"]).tolist() == [1, 0]
    h = rng.integers(0, 5, (20, 12))
    r = rng.integers(0, 5, (20, 10))
    hl, rl = rng.integers(0, 13, 20), rng.integers(0, 11, 20)
    got = symloss.edit_distance(h, r, hypothesis_lengths=hl, truth_lengths=rl)
    want = [_levenshtein(tuple(h[k, : hl[k]]), tuple(r[k, : rl[k]])) for k in range(20)]
    assert got.tolist() == want


def test_edit_distance_normalize_divides_by_the_truth_length():
    assert symloss.edit_distance("abcd", "abxy", normalize=True) == 0.5
    assert symloss.edit_distance("a", "", normalize=True) == math.inf
    assert symloss.edit_distance("", "", normalize=True) == 0.0


def test_edit_distance_matches_rapidfuzz_on_long_strings(rng):
    levenshtein = pytest.importorskip("rapidfuzz.distance").Levenshtein
    for _ in range(20):
        a = "".join(rng.choice(list("acgt"), 200))
        b = "".join(rng.choice(list("acgt"), 150))
        assert symloss.edit_distance(a, b) == levenshtein.distance(a, b)


def test_bit_parallel_edit_distance_at_the_word_boundary(rng):
    """Unit costs take the 64-bit column form when a side has at most 64 symbols: lengths
    around 64 on either side, code points beyond the 256-entry table (é, 中, an emoji, a lone
    surrogate), symbols of any hashable kind and mismatched lengths, against the recursion."""
    alphabet = ["a", "b", "c", "é", "中", "\U0001f600", "\ud800"]
    pairs = []
    for la, lb in [(63, 64), (64, 64), (65, 64), (64, 65), (1, 64), (64, 1), (0, 64), (70, 66)]:
        for _ in range(3):
            a = "".join(rng.choice(alphabet, la))
            b = "".join(rng.choice(alphabet, lb))
            pairs.append((a, b))
    pairs += [("a" * 64, "a" * 64), ("a" * 64, "b" * 64), ("ab" * 32, "ba" * 32)]
    got = symloss.edit_distance([a for a, _ in pairs], [b for _, b in pairs])
    assert got.tolist() == [_levenshtein(a, b) for a, b in pairs]
    symbols = [frozenset("x"), 2.5, None, 7, -3]  # hashables become negative codes, ints stay
    a = [symbols[k] for k in rng.integers(0, 5, 40)]
    b = [symbols[k] for k in rng.integers(0, 5, 30)]
    assert symloss.edit_distance(a, b) == _levenshtein(a, b)


def test_edit_distance_bad_input():
    with pytest.raises(ValueError, match="costs"):
        symloss.edit_distance("a", "b", costs=(1, -1, 1))
    with pytest.raises(ValueError, match="pairs"):
        symloss.edit_distance(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="hypothesis_lengths must be at most 3"):
        symloss.edit_distance(
            np.zeros((2, 3), int), np.zeros((2, 3), int), hypothesis_lengths=[4, 1]
        )


# -- soft edit distance -------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [1.0, 0.3])
def test_soft_edit_distance_gradient_matches_mpmath_differences(rng, gamma):
    z = rng.normal(0, 2, (4, 3))
    target = [2, 0, 1]
    want_v, want_g = soft_edit_reference(z, target, gamma)
    v, g = symloss.soft_edit_distance.value_and_grad(z, np.array(target), gamma=gamma)
    assert v == pytest.approx(float(want_v), rel=1e-13)
    np.testing.assert_allclose(g, want_g, rtol=1e-9, atol=1e-13)


def _ulps(got, want) -> np.ndarray:
    want = np.asarray(want, np.float64)
    return np.abs(np.asarray(got, np.float64) - want) / np.spacing(np.abs(want))


def test_soft_edit_distance_float64_at_gamma_0_1_within_8_ulp():
    """Carried in float64, D (≈ 3 here) is off by ε·|D| and the soft-min's 1/γ multiplies that
    in every backward weight e^{(V - u)/γ}; a log p near 0 formed as -log(1 + s) and the
    gradient formed as g_c - p_c·Σ_k g_k cancel as well: 24 ULP in ∂/∂z[0, 2] before the DP
    was carried in double-double (the point where `symloss verify` failed)."""
    z = np.array(
        [
            [-0.8728704942864425, -2.339603815545728, 3.478735754260268],
            [-0.9918214568843038, 0.6579392589204042, -0.517145090947848],
        ]
    )
    target = [2, 0, 2, 2]
    want_v, want_g = soft_edit_reference(z, target, 0.1)
    v, g = symloss.soft_edit_distance.value_and_grad(z, np.array(target), gamma=0.1)
    assert _ulps(v, float(want_v)) <= 8
    assert _ulps(g, want_g).max() <= 8, _ulps(g, want_g)


def test_soft_edit_distance_log_probabilities_of_a_dominant_class():
    """log p of a class that dominates its row is -log1p(Σ_{k≠top} e^{z_k - z_top}), near 0:
    -log(Σ_k e^{z_k - z_top}) rounds the sum to 1 + s first (relative error ε/s)."""
    import mpmath

    from symloss.sequences import _log_softmax

    z = np.array([[0.0, -20.0, -25.0], [3.0, -1.0, 2.5]])
    got = _log_softmax(z, 1)
    with mpmath.workdps(50):
        for row, out in zip(z, got):
            total = mpmath.fsum(mpmath.exp(mpmath.mpf(float(x))) for x in row)
            want = [float(mpmath.mpf(float(x)) - mpmath.log(total)) for x in row]
            assert _ulps(out, want).max() <= 2, (out, want)


def _hard(z, target):
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n_time, n_target = len(z), len(target)
    D = np.zeros((n_time + 1, n_target + 1))
    D[:, 0], D[0, :] = np.arange(n_time + 1), np.arange(n_target + 1)
    for i, j in itertools.product(range(1, n_time + 1), range(1, n_target + 1)):
        D[i, j] = min(
            D[i - 1, j] + 1, D[i, j - 1] + 1, D[i - 1, j - 1] + 1 - p[i - 1, target[j - 1]]
        )
    return D[-1, -1]


def test_soft_edit_distance_tends_to_the_hard_dp_as_gamma_goes_to_zero(rng):
    z = rng.normal(0, 2, (6, 4))
    target = np.array([1, 3, 3, 0])
    hard = _hard(z, target)
    gaps = []
    for gamma in (1.0, 0.1, 0.01, 0.001):
        soft = symloss.soft_edit_distance(z, target, gamma=gamma)
        assert soft <= hard + 1e-12  # a soft-min never exceeds the min
        gaps.append(hard - soft)
        assert hard - soft <= gamma * math.log(3) * (len(z) + 1) * (len(target) + 1)
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.05


def test_soft_edit_distance_batch_equals_singles(rng):
    z = rng.normal(size=(3, 5, 4))
    targets = np.array([[1, 2, 3], [0, 0, 0], [3, 2, 1]])
    il, tl = np.array([5, 3, 4]), np.array([3, 1, 2])
    v, g = symloss.soft_edit_distance.value_and_grad(
        z, targets, input_lengths=il, target_lengths=tl, reduction="none"
    )
    for k in range(3):
        vk, gk = symloss.soft_edit_distance.value_and_grad(z[k, : il[k]], targets[k, : tl[k]])
        assert v[k] == pytest.approx(vk, rel=1e-14)
        np.testing.assert_allclose(g[k, : il[k]], gk, rtol=1e-12, atol=1e-15)
        assert not g[k, il[k] :].any()
