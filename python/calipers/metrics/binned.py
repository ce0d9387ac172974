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
:mod:`calipers._common.binning`). ``compat="uncertainty-calibration"`` and ``compat="sklearn"``
reproduce those libraries' binning bit for bit and check only what they check (no
row-sum check; uncertainty-calibration also accepts scores outside [0, 1], merging
values above the last edge into the last bin). Empty input raises ValueError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common import binning as _binning
from .._common.binstats import BinStats, coarse_stats, stream_pairs
from .._common.grid import KIND_MARGINAL, PART_COARSE, stream_size
from .._common.validate import DEFAULT_ROW_SUM_ATOL, Checked, check, check_bins, check_choice
from .._kernels import backend as _backend
from .binned_error import NORMS, binned_error, combine_classes, resampled_debiased
from .table import ReliabilityTable

__all__ = ["ece", "reliability", "array_stats"]

COMPATS = (None, "uncertainty-calibration", "sklearn")
BINNINGS = ("width", "mass")
UC_BINNINGS = ("width", "mass", "discrete", "auto")  # compat="uncertainty-calibration" only


def checked_input(
    scores: Any, labels: Any, backend: str, mode: str, compat: str | None, nan_policy: str, row_sum_atol: float
) -> tuple[Checked, Any]:
    """Validate (scores, labels) for a metric under ``compat``'s rules; returns the checked
    input and the resolved kernels."""
    check_choice("compat", compat, COMPATS)  # type: ignore[arg-type]
    kernels = _backend.resolve(backend)
    c = check(
        scores,
        labels,
        kernels,
        mode=mode,
        nan_policy=nan_policy,
        row_sum_atol=row_sum_atol,  # type: ignore[arg-type]
        check_range=compat != "uncertainty-calibration",
        check_rows=compat is None,
    )
    return c, kernels


def ece(
    scores: Any,
    labels: Any,
    *,
    bins: int = 15,
    binning: str = "width",
    norm: str = "l1",
    debiased: bool = False,
    mode: str = "top-label",
    compat: str | None = None,
    seed: Any = None,
    resamples: int = 1000,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> float:
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
        raise ValueError(
            "debiased=True is defined for norm='l2' (Kumar et al.'s estimator) and norm='l1' "
            "(their resampling heuristic); got norm='max'"
        )
    c, kernels = checked_input(scores, labels, backend, mode, compat, nan_policy, row_sum_atol)
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


def reliability(
    scores: Any,
    labels: Any,
    *,
    bins: int = 15,
    binning: str = "width",
    mode: str = "top-label",
    compat: str | None = None,
    confidence: float = 0.95,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> ReliabilityTable:
    """Per-bin count, mean score, observed frequency and Wilson interval.

    Empty bins are kept (count 0, NaN means). ``compat="sklearn"``: the non-empty bins'
    ``frequency`` and ``mean_score`` equal ``sklearn.calibration.calibration_curve``'s
    ``prob_true`` and ``prob_pred`` (``binning="width"`` = ``strategy="uniform"``,
    ``"mass"`` = ``"quantile"``). Marginal mode pools the class-wise pairs per bin.
    """
    bins = check_bins(bins)
    check_choice("binning", binning, BINNINGS)
    c, kernels = checked_input(scores, labels, backend, mode, compat, nan_policy, row_sum_atol)
    return ReliabilityTable.from_stats(array_stats(c, kernels, bins, binning, compat), confidence)


def _edge_stats(
    backend: Any, p: np.ndarray, y: np.ndarray, cuts: np.ndarray, right_closed: bool, nbins: int, edges: np.ndarray
) -> BinStats:
    count, sum_x, sum_y = backend.binned_stats_edges(p, y, np.ascontiguousarray(cuts, np.float64), right_closed, nbins)
    return BinStats(edges, np.asarray(count, np.int64), np.asarray(sum_x), np.asarray(sum_y))


def array_stats(c: Checked, backend: Any, bins: int, binning: str, compat: str | None) -> list[BinStats]:
    """Per-bin statistics of checked input, one BinStats per stream, under the binning and
    compat convention asked for."""
    if compat is None and binning == "width":
        streams = c.scores.shape[1] if c.kind == KIND_MARGINAL else 1
        acc = np.zeros(streams * stream_size(bins), np.uint64)
        backend.accumulate(acc, bins, streams, PART_COARSE, c.scores, c.labels, c.kind)
        return coarse_stats(acc, bins, streams)
    out = []
    for p, y in stream_pairs(c, backend):
        if compat is None:  # calipers equal-mass, left-closed
            cuts = _binning.mass_cuts(np.sort(p.astype(np.float64, copy=False)), bins)
            edges = np.concatenate([[0.0], cuts, [1.0]])
            out.append(_edge_stats(backend, p, y, cuts, False, cuts.size + 1, edges))
        elif compat == "uncertainty-calibration":
            if binning == "width":
                upper = _binning.uc_width_bins(bins)
            elif binning == "discrete":
                upper = _binning.uc_discrete_bins(p)
            else:
                upper = _binning.uc_equal_bins(p, bins)
            edges = np.concatenate([[min(0.0, float(np.min(p)))], upper])
            out.append(_edge_stats(backend, p, y, upper, True, upper.size, edges))
        else:  # sklearn calibration_curve
            strategy = "uniform" if binning == "width" else "quantile"
            edges = _binning.sklearn_edges(p, bins, strategy)
            out.append(_edge_stats(backend, p, y, edges[1:-1], True, bins, edges))
    return out
