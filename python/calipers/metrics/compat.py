"""Reproductions of the peers' binned calibration errors: ``ece(..., compat="torchmetrics")``
and ``ece(..., compat="netcal")``.

torchmetrics 1.9 (``binary_calibration_error`` / ``multiclass_calibration_error``, norm l1,
l2, max), read from ``torchmetrics/functional/classification/calibration_error.py``:

* binary input: the scores are P(y = 1) against the labels, in the input's dtype; if any
  score lies outside [0, 1] the input is taken for logits and every score goes through a
  sigmoid (``normalize_logits_if_needed``);
* (n, K) input: a softmax over each row if any value lies outside [0, 1] (no row-sum check),
  then confidence = the row maximum (first maximum wins) and correct = argmax == label; the
  confidences and accuracies are cast to **float32**;
* edges = ``torch.linspace(0, 1, bins + 1)`` in that dtype; torch 2.13's CPU kernel computes
  ``start + step * i`` below the midpoint and ``end - step * (steps - 1 - i)`` above it with
  the multiply-add fused (one rounding), reproduced exactly here;
* bin = ``bucketize(conf, edges, right=True) - 1``: a score on an interior edge goes to the
  upper bin and a score of exactly 1.0 to an extra bin of its own (bins + 1 bins in all);
* per-bin counts, confidence and accuracy sums by ``scatter_add_`` (sequential, in the dtype:
  float32 sums are reproduced by sequential float32 additions, and float32 counts stop at
  2^24 as torch's do), means ``nan_to_num``-ed to 0 in empty bins, weights = count / total;
* l1: sum |acc - conf| w; max: the largest |acc - conf| over all bins (empty ones give 0);
  l2: sqrt(sum (acc - conf)^2 w), 0 when that sum is not positive. The float32 sums use
  torch's reduction order (8 lanes, 4-way interleave, tail first), so the float32 result is
  the reference's to the last bit.

netcal 1.4 (``netcal.metrics.ECE``, ``MCE``, ``ACE``), read from
``netcal/metrics/Miscalibration.py``:

* every score is clipped to [eps, 1 - eps] with eps the dtype's machine epsilon;
* binary or multiclass is decided by ``len(np.unique(labels)) <= 2``: binary takes 1-D
  scores, or column 1 of (n, 2) scores, against the labels (netcal refuses (n, K > 2) scores
  then: ValueError here); otherwise confidence = the row maximum, correct = argmax == label;
* edges ``np.linspace(0, 1, bins + 1)``, or with ``binning="mass"`` (netcal's
  ``equal_intervals=False``) ``np.quantile`` of the confidences at those levels with the end
  edges set to 0 and 1 (scipy's ``binned_statistic_dd`` refuses repeated edges, and so does
  this mode); bins are [e_i, e_{i+1}), the last closed. The counts come from
  ``np.histogramdd`` with those edges, the bin means from scipy's ``binned_statistic_dd``,
  which casts the edges to the scores' dtype first: with float32 scores a score next to an
  edge can be counted in one bin and averaged in the next, and so it is here;
* ``norm="l1"``: ECE = sum (n_b / n) |acc_b - conf_b|; ``norm="max"``: MCE, the largest gap
  (empty bins give 0); ``norm="average"``: netcal's ``ACE``, the *unweighted* mean gap over
  non-empty bins (netcal's "average calibration error", not an adaptive ECE).

Both modes accept what their reference accepts where it matters for the numbers (no row-sum
check; torchmetrics' logits, netcal's clipping of scores outside [0, 1]) and refuse what
would make the reference return a silent wrong number: NaN and inf scores, and labels outside
{0, 1} (binary) or [0, K) (classes) raise ValueError.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from .._common.grid import RULE_INF, RULE_LABEL, RULE_NAN
from .._common.validate import prepare, raise_violations

__all__ = ["torchmetrics_edges", "torch_sum_float32", "torchmetrics_ece", "netcal_ece"]

TORCHMETRICS_NORMS = ("l1", "l2", "max")
NETCAL_NORMS = ("l1", "max", "average")
_FLOAT32_COUNT_LIMIT = 2**24  # adding 1.0f to 2^24 rounds back to 2^24


def _round_float32(exact: Fraction) -> np.float32:
    """The float32 nearest to an exact rational (ties to even)."""
    x = np.float32(float(exact))
    best = x
    for cand in (np.nextafter(x, np.float32(-np.inf)), np.nextafter(x, np.float32(np.inf))):
        d_best, d_cand = abs(Fraction(float(best)) - exact), abs(Fraction(float(cand)) - exact)
        if d_cand < d_best or (d_cand == d_best and int(cand.view(np.uint32)) % 2 == 0):
            best = cand
    return np.float32(best)


@lru_cache(maxsize=32)
def torchmetrics_edges(bins: int, dtype: str) -> np.ndarray:
    """``torch.linspace(0, 1, bins + 1, dtype)`` of torch 2.13 on CPU: step = 1/bins rounded
    to the dtype; e_i = step * i below the midpoint (steps // 2) and 1 - step * (bins - i)
    above it, each rounded once (the kernel's multiply-add is fused)."""
    steps = bins + 1
    half = steps // 2
    if dtype == "float32":
        step32 = np.float32(1.0) / np.float32(bins)
        out = np.empty(steps, np.float32)
        out[:half] = step32 * np.arange(half, dtype=np.float32)
        num, den = float(step32).as_integer_ratio()
        for i in range(half, steps):
            out[i] = _round_float32(Fraction(den - num * (steps - 1 - i), den))
        return out
    step = 1.0 / bins
    out64 = np.empty(steps, np.float64)
    out64[:half] = step * np.arange(half, dtype=np.float64)
    num, den = step.as_integer_ratio()
    for i in range(half, steps):
        out64[i] = (den - num * (steps - 1 - i)) / den  # Python int division: correctly rounded
    return out64


def _multi_row_sum(rows: np.ndarray) -> np.ndarray:
    """ATen SumKernel ``multi_row_sum``: cascaded float32 sums of (size, ...) rows."""
    size = rows.shape[0]
    levels = 4
    ceil_log2 = 0 if size <= 1 else int(size - 1).bit_length()
    power = max(4, ceil_log2 // levels)
    step = 1 << power
    mask = step - 1
    acc = np.zeros((levels,) + rows.shape[1:], np.float32)
    i = 0
    while i + step <= size:
        for _ in range(step):
            acc[0] = acc[0] + rows[i]
            i += 1
        for j in range(1, levels):
            acc[j] = acc[j] + acc[j - 1]
            acc[j - 1] = 0
            if i & (mask << (j * power)):
                break
    while i < size:
        acc[0] = acc[0] + rows[i]
        i += 1
    for j in range(1, levels):
        acc[0] = acc[0] + acc[j]
    out: np.ndarray = acc[0]
    return out


def torch_sum_float32(x: np.ndarray) -> np.float32:
    """``torch.sum`` of a contiguous float32 vector on CPU, in its order: lanes of 8 summed
    with a 4-way interleave (cascaded for long vectors), the tail summed first, then the
    lanes; vectors shorter than 8 are summed 4-way. Checked against torch 2.13 on every
    length up to 300 (tests/test_compat_peers.py)."""
    x = np.ascontiguousarray(x, np.float32)
    n = x.size
    vec, ilp = (8, 4) if n >= 8 else (1, 4)
    nvec = n // vec
    rows = x[: nvec * vec].reshape(nvec, vec)
    size_ilp = nvec // ilp
    if size_ilp:
        partial = _multi_row_sum(rows[: size_ilp * ilp].reshape(size_ilp, ilp, vec)).copy()
    else:
        partial = np.zeros((ilp, vec), np.float32)
    for i in range(size_ilp * ilp, nvec):
        partial[0] = partial[0] + rows[i]
    for k in range(1, ilp):
        partial[0] = partial[0] + partial[k]
    total = np.float32(0.0)
    if vec == 1:
        return np.float32(partial[0][0])
    for v in x[nvec * vec :]:
        total = np.float32(total + v)
    for v in partial[0]:
        total = np.float32(total + v)
    return total


def _checked(scores: Any, labels: Any, kernels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Structure, then NaN, inf and labels (the only value rules these modes keep)."""
    c = prepare(scores, labels, mode="top-label")
    s, y = c.scores, c.labels
    if s.ndim == 1:
        counts, firsts = kernels.validate_binary(s, y)
    else:
        counts, firsts = kernels.validate_probs(s, y, 0.0, False)
    shown = np.asarray(labels)
    if shown.shape != y.shape or shown.dtype.kind not in "biuf":
        shown = y
    raise_violations(counts, firsts, s, shown, rules=(RULE_NAN, RULE_INF, RULE_LABEL), atol=0.0)
    return s, y


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        out: np.ndarray = (1.0 / (1.0 + np.exp(-x))).astype(x.dtype, copy=False)
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out: np.ndarray = (e / e.sum(axis=1, keepdims=True)).astype(x.dtype, copy=False)
    return out


def torchmetrics_ece(scores: Any, labels: Any, bins: int, norm: str, kernels: Any) -> float:
    """torchmetrics' binary (1-D) or multiclass ((n, K)) calibration error."""
    s, y = _checked(scores, labels, kernels)
    outside = bool(np.any((s < 0) | (s > 1)))
    if s.ndim == 1:
        p = _sigmoid(s) if outside else s
        conf, acc = p, (y == 1).astype(p.dtype)
    else:
        P = _softmax(s) if outside else s
        top, correct = kernels.top_label(np.ascontiguousarray(P), y)  # max and first argmax == label, one pass
        conf = top.astype(np.float32)
        acc = correct.astype(np.float32)
    dtype = conf.dtype
    edges = torchmetrics_edges(bins, "float32" if dtype == np.float32 else "float64")
    idx = np.searchsorted(edges, conf, side="right") - 1
    nb = bins + 1
    count: np.ndarray
    conf_sum: np.ndarray
    acc_sum: np.ndarray
    if dtype == np.float32:
        count = np.minimum(np.bincount(idx, minlength=nb), _FLOAT32_COUNT_LIMIT).astype(np.float32)
        conf_sum = np.zeros(nb, np.float32)
        np.add.at(conf_sum, idx, conf)  # sequential float32 additions, as scatter_add_
        acc_sum = np.minimum(np.bincount(idx[acc == 1], minlength=nb), _FLOAT32_COUNT_LIMIT).astype(np.float32)
        total = torch_sum_float32(count)
    else:
        count = np.bincount(idx, minlength=nb).astype(np.float64)
        conf_sum = np.bincount(idx, weights=conf, minlength=nb)
        acc_sum = np.bincount(idx, weights=acc, minlength=nb)
        total = count.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        conf_bin = np.nan_to_num(conf_sum / count)
        acc_bin = np.nan_to_num(acc_sum / count)
    prop = count / total
    gap = acc_bin - conf_bin
    if norm == "max":
        return float(np.max(np.abs(gap)))
    terms = np.abs(gap) * prop if norm == "l1" else gap * gap * prop
    value = torch_sum_float32(terms) if dtype == np.float32 else np.sum(terms)
    if norm == "l1":
        return float(value)
    return float(np.sqrt(value)) if value > 0 else 0.0


def netcal_ece(scores: Any, labels: Any, bins: int, binning: str, norm: str, kernels: Any) -> float:
    """netcal's ECE (``norm="l1"``), MCE (``"max"``) or ACE (``"average"``), equal-width or
    (``binning="mass"``) netcal's quantile bins."""
    s, y = _checked(scores, labels, kernels)
    eps = np.finfo(s.dtype).eps
    X = np.clip(s, eps, 1.0 - eps)
    if X.ndim == 1:
        X = X[:, None]
    if len(np.unique(y)) <= 2:  # netcal's rule for a binary problem
        if X.shape[1] > 2:
            raise ValueError(
                "compat='netcal': the labels hold at most 2 distinct values, so netcal treats the problem as "
                f"binary and refuses scores with {X.shape[1]} columns (netcal 1.4 raises RuntimeError)"
            )
        conf = X[:, -1]
        matched = y
    else:
        matched = (np.argmax(X, axis=1) == y).astype(np.int8)
        conf = np.max(X, axis=1)
    conf = np.ascontiguousarray(conf)
    edges = np.linspace(0.0, 1.0, bins + 1)
    if binning == "mass":
        edges = np.quantile(conf, q=edges, axis=0)
        edges[0], edges[-1] = 0.0, 1.0
        if np.min(np.diff(edges)) == 0:
            raise ValueError(
                "compat='netcal', binning='mass': the confidences' quantile edges repeat (tied scores), which "
                "netcal refuses (scipy's binned_statistic_dd: 'The smallest edge difference is numerically 0.')"
            )
    # netcal counts the samples per bin with np.histogramdd (the edges as computed) but takes
    # the bin means from scipy's binned_statistic_dd, which first casts the edges to the
    # scores' dtype: with float32 scores a score next to an edge can count in one bin and
    # average in the next. Both are reproduced.
    edges_mean = np.asarray(edges).astype(conf.dtype)
    if np.min(np.diff(edges_mean)) == 0:
        raise ValueError(
            "compat='netcal': the bin edges repeat in the scores' precision, which netcal refuses "
            "(scipy's binned_statistic_dd: 'The smallest edge difference is numerically 0.')"
        )
    m = np.ascontiguousarray(matched)
    cuts_count = np.ascontiguousarray(np.asarray(edges, np.float64)[1:-1])
    cuts_mean = np.ascontiguousarray(edges_mean.astype(np.float64)[1:-1])
    count = np.asarray(kernels.binned_stats_edges(conf, m, cuts_count, False, bins)[0], np.float64)
    n_mean, sum_conf, sum_acc = kernels.binned_stats_edges(conf, m, cuts_mean, False, bins)
    n_mean = np.asarray(n_mean, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_hist = np.where((count >= 1) & (n_mean > 0), sum_acc / n_mean, 0.0)
        conf_hist = np.where((count >= 1) & (n_mean > 0), sum_conf / n_mean, 0.0)
    deviation = np.abs(acc_hist - conf_hist)
    if norm == "max":
        return float(np.max(deviation))
    if norm == "average":
        return float(np.sum(deviation) / np.count_nonzero(count))
    return float(np.sum(deviation * (count / np.sum(count))))
