"""The runtime of the sequence losses: argument checking and reductions around the generated
DP kernels (`generated/kernels/ctc.py`, `soft_edit_distance.py`, `edit_distance.py`).

Every label, length and shape is checked here before a kernel runs: the kernels do not check
bounds. NumPy only; no SymPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arguments import REDUCTIONS, as_real_array, float_dtype

__all__ = ["CTC", "SoftEditDistance", "EditDistance"]


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """z - m - log1p(Σ_{k≠top} e^{z_k - m}), m = z_top the largest: the largest term of the
    sum, exactly 1, is left out of it, so that log p of a dominant class (near 0) keeps its
    relative accuracy; log(Σ_k e^{z_k - m}) rounds the sum to 1 + s first, an error of ε/s
    relative in log p and in 1 - p = -expm1(log p). A row without a finite maximum (±inf,
    NaN) is shifted by 0 and summed whole."""
    m = np.max(z, axis=axis, keepdims=True)
    finite = np.isfinite(m)
    m = np.where(finite, m, 0)
    shifted = z - m
    e = np.exp(shifted)
    np.put_along_axis(e, np.expand_dims(np.argmax(z, axis=axis), axis), 0.0, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sum = np.log1p(np.sum(e, axis=axis, keepdims=True))
        if not finite.all():  # the left-out term is e^{z_top} there, not 1
            whole = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
            log_sum = np.where(finite, log_sum, whole)
    return shifted - log_sum


def _int_array(value, what: str) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "iu" and not (a.size == 0 and a.dtype.kind == "f"):
        raise TypeError(f"{what} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def _lengths(value, what: str, n: int, limit: int, limit_what: str) -> np.ndarray:
    a = _int_array(value, what)
    if a.ndim == 0:
        a = np.full(n, int(a))
    if a.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},) (one per sample), got {a.shape}")
    if (a < 0).any():
        raise ValueError(f"{what} must be non-negative, got {int(a[a < 0][0])}")
    if (a > limit).any():
        raise ValueError(f"{what} must be at most {limit} ({limit_what}), got {int(a.max())}")
    return a


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _labels(targets, target_lengths, n: int, n_classes: int, blank: int | None):
    """Padded (n, S) int64 labels and their lengths, from padded (n, S) or concatenated 1-D
    targets; labels in [0, C) and (for CTC) not the blank."""
    t = _int_array(targets, "targets")
    if t.ndim == 1:  # concatenated, as PyTorch allows
        lengths = _lengths(target_lengths, "target_lengths", n, t.shape[0], "the targets' size")
        if int(lengths.sum()) != t.shape[0]:
            raise ValueError(
                f"concatenated targets have {t.shape[0]} labels but target_lengths sum to "
                f"{int(lengths.sum())}"
            )
        padded = np.zeros((n, int(lengths.max(initial=0))), np.int64)
        ends = np.cumsum(lengths)
        for k in range(n):
            padded[k, : lengths[k]] = t[ends[k] - lengths[k] : ends[k]]
    elif t.ndim == 2:
        if t.shape[0] != n:
            raise ValueError(f"targets has {t.shape[0]} rows; expected {n} (the batch size)")
        lengths = _lengths(target_lengths, "target_lengths", n, t.shape[1], "targets.shape[1]")
        padded = t
    else:
        raise ValueError(f"targets must be (N, S) padded or 1-D concatenated, got {t.shape}")
    used = np.arange(padded.shape[1])[None, :] < lengths[:, None]
    bad = used & ((padded < 0) | (padded >= n_classes))
    if bad.any():
        raise ValueError(f"targets must hold labels in [0, {n_classes}), got {int(padded[bad][0])}")
    if blank is not None and (used & (padded == blank)).any():
        raise ValueError(f"targets must not contain the blank label {blank}")
    return np.ascontiguousarray(np.where(used, padded, 0)), lengths


class _Sequence:
    """A sequence loss backed by a generated module with RECURRENCE and KERNELS."""

    def __init__(self, module):
        self._module = module
        meta = module.RECURRENCE
        self.name: str = meta["name"]
        self.family = "sequence"
        self.__doc__ = f"{meta['doc']}\n\nCell: {meta['cell']}"
        self.params = {p["name"]: p["default"] for p in meta["params"]}

    def __repr__(self) -> str:
        return f"<symloss sequence loss {self.name}>"


class CTC(_Sequence):
    """``ctc(logits, targets, input_lengths, target_lengths, blank=0, reduction="mean",
    zero_infinity=False)`` with PyTorch ``ctc_loss`` semantics on logits (T, N, C) (or (T, C)
    for one sample): log-softmax is applied inside, so log-probabilities may be passed too."""

    def __call__(self, logits, targets, input_lengths, target_lengths, **kw):
        return self._run(logits, targets, input_lengths, target_lengths, grad=False, **kw)

    def value_and_grad(self, logits, targets, input_lengths, target_lengths, **kw):
        """(value, ∂value/∂logits), the gradient shaped like the logits."""
        return self._run(logits, targets, input_lengths, target_lengths, grad=True, **kw)

    def _run(
        self,
        logits,
        targets,
        input_lengths,
        target_lengths,
        *,
        grad: bool,
        blank: int = 0,
        reduction: str = "mean",
        zero_infinity: bool = False,
    ):
        reduction = _check_reduction(reduction)
        z = as_real_array(logits, "logits")
        dtype = float_dtype(z)
        single = z.ndim == 2
        if single:
            z = z[:, None, :]
            targets = np.asarray(targets)[None] if np.ndim(targets) == 1 else targets
        if z.ndim != 3 or z.shape[2] == 0:
            raise ValueError(f"logits must have shape (T, N, C) or (T, C), got {np.shape(logits)}")
        n_time, n, n_classes = z.shape
        if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)):
            raise TypeError(f"blank must be an integer, got {blank!r}")
        if not 0 <= blank < n_classes:
            raise ValueError(f"blank must be in [0, {n_classes}), got {blank}")
        if not isinstance(zero_infinity, (bool, np.bool_)):
            raise TypeError(f"zero_infinity must be False or True, got {zero_infinity!r}")
        t_len = _lengths(input_lengths, "input_lengths", n, n_time, "logits.shape[0]")
        labels, s_len = _labels(targets, target_lengths, n, n_classes, blank)
        ext = np.full((n, 2 * labels.shape[1] + 1), blank, np.int64)
        ext[:, 1::2] = labels
        # the kernel takes the log-softmax itself, in float64 (log p near 0 keeps its digits)
        z = np.ascontiguousarray(z, dtype)
        loss = np.empty(n, dtype)
        g = np.zeros(z.shape, dtype)
        kernel = self._module.KERNELS[dtype.name]
        kernel(z, ext, 2 * s_len + 1, t_len, blank, bool(zero_infinity), grad, loss, g)
        if reduction == "none":
            value, scale = loss, np.ones(n)
        elif reduction == "sum":
            value, scale = dtype.type(np.sum(loss, dtype=np.float64)), np.ones(n)
        else:  # PyTorch: each loss over its target length (at least 1), then the batch mean
            per = 1.0 / np.maximum(s_len, 1) / n if n else np.ones(0)
            value = dtype.type(np.sum(loss * per, dtype=np.float64)) if n else dtype.type(math.nan)
            scale = per
        if single and reduction == "none":
            value = value[0]
        if not grad:
            return value
        g *= scale.astype(dtype)[None, :, None]
        return value, (g[:, 0] if single else g)


class SoftEditDistance(_Sequence):
    """``soft_edit_distance(logits, target, gamma=1.0)`` between class scores (T, C) and a label
    sequence (S,), or a batch: logits (N, T, C), target (N, S) padded, with ``input_lengths``
    and ``target_lengths``; ``reduction`` over the batch ("mean", "sum", "none")."""

    def __call__(self, logits, target, **kw):
        return self._run(logits, target, grad=False, **kw)

    def value_and_grad(self, logits, target, **kw):
        """(value, ∂value/∂logits), the gradient shaped like the logits."""
        return self._run(logits, target, grad=True, **kw)

    def _run(
        self,
        logits,
        target,
        *,
        grad: bool,
        gamma: float = 1.0,
        input_lengths=None,
        target_lengths=None,
        reduction: str = "mean",
    ):
        reduction = _check_reduction(reduction)
        z = as_real_array(logits, "logits")
        dtype = float_dtype(z)
        single = z.ndim == 2
        if single:
            z, target = z[None], np.asarray(target)[None]
            if np.ndim(target) != 2:
                raise ValueError(f"target must be a 1-D label sequence, got {np.shape(target)[1:]}")
        if z.ndim != 3 or z.shape[2] == 0:
            raise ValueError(f"logits must have shape (T, C) or (N, T, C), got {np.shape(logits)}")
        n, n_time, n_classes = z.shape
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)):
            raise TypeError(f"gamma must be a real number, got {gamma!r}")
        if not (gamma > 0 and math.isfinite(gamma)):
            raise ValueError(f"gamma must be in (0, inf), got {gamma!r}")
        t_len = (
            np.full(n, n_time, np.int64)
            if input_lengths is None
            else _lengths(input_lengths, "input_lengths", n, n_time, "logits' time axis")
        )
        if target_lengths is None:
            target_lengths = np.full(n, np.shape(target)[-1] if np.ndim(target) == 2 else 0)
        labels, s_len = _labels(target, target_lengths, n, n_classes, None)
        # log-probabilities in float64 for either dtype: rounded to float32, log p carries an
        # absolute error ε·|log p| into every p = e^{log p} of the DP and its gradient
        log_probs = np.ascontiguousarray(_log_softmax(z.astype(np.float64), 2))
        value = np.empty(n, np.float64)
        g = np.zeros(z.shape, dtype)
        kernel = self._module.KERNELS[dtype.name]
        kernel(log_probs, labels, t_len, s_len, float(gamma), grad, value, g)
        value = value.astype(dtype)
        scale = 1.0 / n if (reduction == "mean" and n) else 1.0
        if reduction == "none":
            out = value[0] if single else value
        elif n == 0 and reduction == "mean":
            out = dtype.type(math.nan)
        else:
            out = dtype.type(np.sum(value, dtype=np.float64) * scale)
        if not grad:
            return out
        if reduction != "none":
            g *= dtype.type(scale)
        return out, (g[0] if single else g)


class EditDistance(_Sequence):
    """``edit_distance(hypothesis, truth, normalize=False, costs=(1, 1, 1))``: Levenshtein
    distance with (insert, delete, substitute) costs between two sequences (str, list, 1-D
    integer array) or between batches of pairs (lists of sequences, or padded 2-D integer
    arrays with ``hypothesis_lengths`` / ``truth_lengths``). ``normalize=True`` divides by the
    truth length, as ``tf.edit_distance``; an empty truth then gives inf (0 if the hypothesis
    is empty too)."""

    def __call__(
        self,
        hypothesis,
        truth,
        *,
        normalize: bool = False,
        costs: Sequence[float] = (1, 1, 1),
        hypothesis_lengths=None,
        truth_lengths=None,
    ):
        costs = self._costs(costs)
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"normalize must be True or False, got {normalize!r}")
        one_h, one_r = _one_sequence(hypothesis, "hypothesis"), _one_sequence(truth, "truth")
        if one_h != one_r:
            kinds = {True: "one sequence", False: "a batch of sequences"}
            raise TypeError(
                f"hypothesis is {kinds[one_h]} but truth is {kinds[one_r]}: give two sequences "
                "or two batches"
            )
        single = one_h
        if single and (hypothesis_lengths is not None or truth_lengths is not None):
            raise TypeError(
                "hypothesis_lengths and truth_lengths are for batches (lists of sequences or "
                "padded 2-D arrays), not for one pair of sequences"
            )
        lengths = hypothesis_lengths is not None or truth_lengths is not None
        # strings, the common case, converted without a Python loop
        h_strings = r_strings = None
        if isinstance(hypothesis, str) == isinstance(truth, str) and not lengths:
            # a str, or lists of str (a list of one-character str is a batch, [] one sequence)
            if not single or isinstance(hypothesis, str):
                h_strings = _concat_strings(hypothesis)
                r_strings = _concat_strings(truth) if h_strings is not None else None
        if r_strings is not None:
            (h_data, h_off), (r_data, r_off) = h_strings, r_strings
        else:
            if single:
                hyp, ref = [_codes(hypothesis, "hypothesis")], [_codes(truth, "truth")]
            else:
                hyp = _batch(hypothesis, "hypothesis", hypothesis_lengths)
                ref = _batch(truth, "truth", truth_lengths)
            hyp, ref = _common_codes(hyp, ref)
            (h_data, h_off), (r_data, r_off) = _concat(hyp), _concat(ref)
        pairs = len(h_off) - 1
        if len(r_off) - 1 != pairs:
            raise ValueError(
                f"hypothesis has {pairs} sequences but truth has {len(r_off) - 1}: pairs needed"
            )
        out = np.empty(pairs, np.float64)
        insert, delete, substitute = costs
        if costs == (1.0, 1.0, 1.0):  # bit-parallel where a side has at most 64 symbols
            self._module.KERNELS["unit"](h_data, h_off, r_data, r_off, out)
        else:
            self._module.KERNELS["float64"](
                h_data, h_off, r_data, r_off, delete, insert, substitute, out
            )
        if normalize:
            lengths = np.diff(r_off).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.where(
                    lengths > 0,
                    out / np.where(lengths > 0, lengths, 1),
                    np.where(out > 0, np.inf, 0.0),
                )
        return float(out[0]) if single else out

    @staticmethod
    def _costs(costs) -> tuple[float, float, float]:
        if isinstance(costs, (str, bytes)):
            raise TypeError(
                f"costs must be three numbers (insert, delete, substitute), got {costs!r}"
            )
        try:
            values = tuple(float(c) for c in costs)
        except (TypeError, ValueError):
            raise TypeError(
                f"costs must be three numbers (insert, delete, substitute), got {costs!r}"
            ) from None
        if len(values) != 3 or not all(math.isfinite(c) and c >= 0 for c in values):
            raise ValueError(
                f"costs must be three finite non-negative numbers (insert, delete, substitute), "
                f"got {costs!r}"
            )
        return values


def _is_sequence(x: Any) -> bool:
    """One sequence: a str, a 1-D array, or a list/tuple of scalars (not of sequences)."""
    if isinstance(x, str):
        return True
    if isinstance(x, np.ndarray):
        return x.ndim == 1
    if isinstance(x, (list, tuple)):
        return all(not isinstance(e, (list, tuple, str, np.ndarray)) for e in x)
    return False


def _one_sequence(x: Any, what: str) -> bool:
    """True for one sequence, False for a batch (a list or tuple of sequences, a padded 2-D
    array), else a TypeError naming the argument."""
    if _is_sequence(x):
        return True
    if isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.ndim == 2):
        return False
    raise TypeError(
        f"{what} must be a sequence, a list of sequences or a padded 2-D integer array, got "
        f"{type(x).__name__}" + (f" of shape {x.shape}" if isinstance(x, np.ndarray) else "")
    )


def _codes(seq, what: str) -> list:
    if isinstance(seq, str):  # characters are symbols of their own: "a" is not 97
        return list(seq)
    a = np.asarray(seq)
    if a.ndim != 1:
        raise ValueError(f"{what} must be a sequence (str, list or 1-D array), got shape {a.shape}")
    if a.size and a.dtype.kind not in "iub":
        return list(seq)  # any hashable symbols: mapped to codes below
    return a.astype(np.int64).tolist()


def _batch(x, what: str, lengths) -> list:
    if isinstance(x, np.ndarray) and x.ndim == 2:
        if x.dtype.kind not in "iu":
            raise TypeError(f"{what} must hold integers, got dtype {x.dtype}")
        n = x.shape[0]
        lens = (
            np.full(n, x.shape[1])
            if lengths is None
            else _lengths(lengths, f"{what}_lengths", n, x.shape[1], f"{what}.shape[1]")
        )
        return [x[k, : lens[k]].astype(np.int64).tolist() for k in range(n)]
    if isinstance(x, (list, tuple)):
        seqs = [_codes(s, f"{what}[{k}]") for k, s in enumerate(x)]
        if lengths is None:
            return seqs
        longest = max(map(len, seqs), default=0)
        lens = _lengths(lengths, f"{what}_lengths", len(seqs), longest, f"the longest {what}")
        for k, (seq, m) in enumerate(zip(seqs, lens)):
            if m > len(seq):
                raise ValueError(f"{what}_lengths[{k}] is {int(m)}, but {what}[{k}] has {len(seq)}")
        return [seq[:m] for seq, m in zip(seqs, lens)]
    raise TypeError(
        f"{what} must be a sequence, a list of sequences or a padded 2-D integer array, "
        f"got {type(x).__name__}"
    )


def _common_codes(hyp: list, ref: list):
    """Integer codes for every symbol: ints as they are; with any other hashable among them,
    every distinct symbol numbered (equal symbols, 7 and 7.0 say, share a code)."""
    if all(isinstance(s, (int, np.integer)) for seq in (*hyp, *ref) for s in seq):
        return hyp, ref
    table: dict = {}
    for seq in (*hyp, *ref):
        for s in seq:
            table.setdefault(s, len(table))
    return [[table[s] for s in q] for q in hyp], [[table[s] for s in q] for q in ref]


def _concat_strings(x) -> tuple[np.ndarray, np.ndarray] | None:
    """Code points of a str or of a list/tuple of them, concatenated, with offsets; None for
    anything else."""
    seqs = [x] if isinstance(x, str) else x
    if not isinstance(seqs, (list, tuple)):
        return None
    try:
        text = "".join(seqs)
    except TypeError:  # not all str
        return None
    codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), np.uint32)
    return codes.astype(np.int64), _offsets(seqs)


def _offsets(seqs) -> np.ndarray:
    """Where each sequence starts in their concatenation, then where the last one ends."""
    off = np.zeros(len(seqs) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, seqs), np.int64, len(seqs)), out=off[1:])
    return off


def _concat(seqs: list) -> tuple[np.ndarray, np.ndarray]:
    off = _offsets(seqs)
    data = np.fromiter((v for s in seqs for v in s), np.int64, count=int(off[-1]))
    return data, off


FRONTENDS = {"ctc": CTC, "soft_edit": SoftEditDistance, "edit": EditDistance}
