"""One-shot calibration metrics on arrays.

Input conventions (one rule everywhere):

* 1-D ``scores`` in [0, 1] with 1-D ``labels`` in {0, 1}: a forecast of P(y = 1) and its
  outcome (or a confidence and whether the answer was correct).
* 2-D ``scores`` (n, K) of class probabilities (rows sum to 1 within ``row_sum_atol``)
  with integer ``labels`` in [0, K): ``mode="top-label"`` (confidence = max probability,
  outcome = argmax == label, first maximum wins ties) or ``mode="marginal"`` (class k's
  column against 1[label == k], averaged over classes).

Binning (``compat=None``): bins [e_i, e_{i+1}) with the last bin closed, nothing dropped;
equal-width edges i/B; equal-mass bins never split tied scores (see
:mod:`calipers.binning`). ``compat="uncertainty-calibration"`` and ``compat="sklearn"``
reproduce those libraries' binning bit for bit and check only what they check (no
row-sum check; uncertainty-calibration also accepts scores outside [0, 1], merging
values above the last edge into the last bin). Empty input raises ValueError.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _backend
from . import binning as _binning
from ._bins import BINNINGS, COMPATS, UC_BINNINGS, array_stats, decode128
from ._estimators import NORMS, binned_error, combine_classes, resampled_debiased
from ._grid import KIND_MARGINAL, LOG_SCALE, PART_TOTALS, UNIT_SCALE, stream_size, GRID_CELLS, FIELDS
from ._validate import DEFAULT_ROW_SUM_ATOL, Checked, check, check_bins, check_choice
from .reliability import ReliabilityTable

__all__ = ["ece", "reliability", "brier", "brier_skill_score", "log_loss"]


def _checked(scores: Any, labels: Any, backend: str, mode: str, compat: str | None, nan_policy: str,
             row_sum_atol: float) -> tuple[Checked, Any]:
    check_choice("compat", compat, COMPATS)  # type: ignore[arg-type]
    kernels = _backend.resolve(backend)
    c = check(scores, labels, kernels, mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol,  # type: ignore[arg-type]
              check_range=compat != "uncertainty-calibration", check_rows=compat is None)
    return c, kernels


def ece(scores: Any, labels: Any, *, bins: int = 15, binning: str = "width", norm: str = "l1",
        debiased: bool = False, mode: str = "top-label", compat: str | None = None, seed: Any = None,
        resamples: int = 1000, nan_policy: str = "raise", row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
        backend: str = "auto") -> float:
    """Binned calibration error.

    ``norm="l1"`` is the usual ECE, ``"l2"`` the RMS calibration error and ``"max"`` the
    MCE (largest gap over non-empty bins). ``debiased=True`` (``norm="l2"`` only) applies
    the bias correction of Kumar et al. (2019): each bin with n_j >= 2 contributes
    w_j[(s_j - y_j)^2 - y_j(1 - y_j)/(n_j - 1)], bins with fewer samples contribute
    nothing, and the sum is clipped at 0 before the square root. In marginal mode the
    per-class errors e_k combine as (mean_k e_k^p)^(1/p) (max for ``norm="max"``).

    ``norm="l1", debiased=True`` is Kumar et al.'s heuristic for p != 2
    (uncertainty-calibration's ``normal_debiased_ce``): twice the plugin ECE minus the mean
    ECE of ``resamples`` draws of each bin's frequency from N(y_j, y_j(1 - y_j)/n_j). It is
    **stochastic**: ``seed`` (an int or a ``numpy.random.Generator``) makes it repeatable;
    it can be negative. Empty bins are left out; under ``compat="uncertainty-calibration"``
    any bin with fewer than 2 samples raises ValueError, as the reference does.

    With ``compat="uncertainty-calibration"``, ``ece(p, y, norm="l1")`` equals
    ``calibration.get_ece``, ``binning="mass"`` equals ``get_ece_em``, and
    ``norm="l2", binning="mass", debiased=...`` equals ``lower_bound_scaling_ce``.
    That mode also takes ``binning="discrete"`` (one bin per distinct value:
    ``get_binning_ce``) and ``binning="auto"``, the reference's dispatch in
    ``get_calibration_error``: discrete bins when every column of ``scores`` has fewer than
    n/4 distinct values, else equal-mass bins. So ``ece(P, y, norm="l2", debiased=True,
    binning="auto", mode="marginal", compat="uncertainty-calibration")`` is
    ``get_calibration_error(P, y)``.
    """
    bins = check_bins(bins)
    check_choice("binning", binning, UC_BINNINGS if compat == "uncertainty-calibration" else BINNINGS)
    check_choice("norm", norm, NORMS)
    if debiased and norm == "max":
        raise ValueError("debiased=True is defined for norm='l2' (Kumar et al.'s estimator) and norm='l1' "
                         "(their resampling heuristic); got norm='max'")
    c, kernels = _checked(scores, labels, backend, mode, compat, nan_policy, row_sum_atol)
    if binning == "auto":
        binning = "discrete" if _binning.uc_is_discrete(c.scores) else "mass"
    stats = array_stats(c, kernels, bins, binning, compat)
    if debiased and norm == "l1":
        rng = np.random.default_rng(seed)
        strict = compat == "uncertainty-calibration"
        values = [resampled_debiased(s.count, s.sum_score, s.sum_label, 1.0, rng, resamples, strict) for s in stats]
    else:
        values = [binned_error(s.count, s.sum_score, s.sum_label, norm, debiased) for s in stats]
    return values[0] if len(values) == 1 else combine_classes(values, norm)


def reliability(scores: Any, labels: Any, *, bins: int = 15, binning: str = "width", mode: str = "top-label",
                compat: str | None = None, confidence: float = 0.95, nan_policy: str = "raise",
                row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> ReliabilityTable:
    """Per-bin count, mean score, observed frequency and Wilson interval.

    Empty bins are kept (count 0, NaN means). ``compat="sklearn"``: the non-empty bins'
    ``frequency`` and ``mean_score`` equal ``sklearn.calibration.calibration_curve``'s
    ``prob_true`` and ``prob_pred`` (``binning="width"`` = ``strategy="uniform"``,
    ``"mass"`` = ``"quantile"``). Marginal mode pools the class-wise pairs per bin.
    """
    bins = check_bins(bins)
    check_choice("binning", binning, BINNINGS)
    c, kernels = _checked(scores, labels, backend, mode, compat, nan_policy, row_sum_atol)
    return ReliabilityTable.from_stats(array_stats(c, kernels, bins, binning, compat), confidence)


def totals(c: Checked, kernels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per stream: sum of squared errors, sum of log-loss terms, positives; and n."""
    streams = c.scores.shape[1] if c.kind == KIND_MARGINAL else 1
    acc = np.zeros(streams * stream_size(1), np.uint64)
    kernels.accumulate(acc, 1, streams, PART_TOTALS | 1, c.scores, c.labels, c.kind)
    return totals_from_state(acc, 1, streams)


def totals_from_state(acc: np.ndarray, bins: int, streams: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    rows = acc.reshape(streams, stream_size(bins))
    coarse = rows[:, : bins * FIELDS].reshape(streams, bins, FIELDS)
    tot = rows[:, (bins + GRID_CELLS) * FIELDS:]
    sq = decode128(tot[:, 0], tot[:, 1], UNIT_SCALE)
    ll = decode128(tot[:, 2], tot[:, 3], LOG_SCALE)
    positives = coarse[:, :, 1].sum(axis=1).astype(np.float64)
    n = int(coarse[0, :, 0].sum())
    return sq, ll, positives, n


def brier_from_totals(sq: np.ndarray, n: int) -> float:
    return float(np.mean(sq / n))


def log_loss_from_totals(ll: np.ndarray, n: int) -> float:
    return float(np.mean(ll / n))


def bss_from_totals(sq: np.ndarray, positives: np.ndarray, n: int) -> float:
    base = positives / n
    reference = float(np.sum(base * (1.0 - base)))
    if reference == 0.0:
        warnings.warn("brier_skill_score is undefined when every outcome is the same "
                      "(the climatological Brier score is 0); returning NaN", RuntimeWarning, stacklevel=3)
        return float("nan")
    return 1.0 - float(np.sum(sq / n)) / reference


def brier(scores: Any, labels: Any, *, mode: str = "top-label", nan_policy: str = "raise",
          row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> float:
    """Mean squared error of the (score, outcome) pairs.

    1-D: mean (p - y)^2 (sklearn's ``brier_score_loss``). Top-label: mean (conf - correct)^2.
    Marginal: the class average of mean (p_k - 1[y = k])^2, i.e. sklearn's multiclass
    Brier score divided by K. Sums are exact (fixed point), so a sketch gives the same value.
    """
    c, kernels = _checked(scores, labels, backend, mode, None, nan_policy, row_sum_atol)
    sq, _, _, n = totals(c, kernels)
    return brier_from_totals(sq, n)


def brier_skill_score(scores: Any, labels: Any, *, mode: str = "top-label", nan_policy: str = "raise",
                      row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> float:
    """1 - BS / BS_ref with the in-sample climatology BS_ref = ybar (1 - ybar).

    Marginal mode sums over classes: 1 - sum_k BS_k / sum_k ybar_k (1 - ybar_k), which is
    the standard multiclass skill score against the class frequencies. Returns NaN with a
    RuntimeWarning when all outcomes are equal (KalshiBench returns 0 there instead).
    """
    c, kernels = _checked(scores, labels, backend, mode, None, nan_policy, row_sum_atol)
    sq, _, positives, n = totals(c, kernels)
    return bss_from_totals(sq, positives, n)


def log_loss(scores: Any, labels: Any, *, mode: str = "top-label", nan_policy: str = "raise",
             row_sum_atol: float = DEFAULT_ROW_SUM_ATOL, backend: str = "auto") -> float:
    """Mean negative log-likelihood of the outcomes, -[y log p + (1 - y) log(1 - p)].

    The probability given to the observed outcome is floored at 1e-15 (a score of exactly
    0 for a positive costs 34.5 nats, not infinity). Top-label and marginal modes apply
    the binary log loss to each (score, outcome) pair (marginal averages over classes).
    """
    c, kernels = _checked(scores, labels, backend, mode, None, nan_policy, row_sum_atol)
    _, ll, _, n = totals(c, kernels)
    return log_loss_from_totals(ll, n)
