"""Discrimination and score decompositions reported next to calibration error.

* :func:`auroc`: the area under the ROC curve of the scores for the outcomes (for a
  confidence and its correctness: how well confidence separates right from wrong),
  Mann-Whitney with ties counted 1/2, exact, O(n log n).
* :func:`brier_decomposition`: Murphy's reliability - resolution + uncertainty split of the
  Brier score over the equal-width bins.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.binstats import BinStats, fused_sums, stream_pairs
from .._common.grid import PART_COARSE, PART_SQUARES
from .._common.validate import DEFAULT_ROW_SUM_ATOL, InputRules, check, check_bins
from .._kernels import backend as _backend
from .scoring import brier_from_totals

__all__ = ["auroc", "brier_decomposition", "BrierDecomposition", "auroc_from_counts", "decomposition_from_bins"]


def auroc_from_counts(positives: np.ndarray, negatives: np.ndarray) -> float:
    """AUROC from per-level counts of positives and negatives, levels in ascending score
    order: P(score of a positive > score of a negative) + 1/2 P(tie)."""
    pos = np.asarray(positives, np.float64)
    neg = np.asarray(negatives, np.float64)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        warnings.warn(
            "AUROC is undefined when only one outcome is present; returning NaN", RuntimeWarning, stacklevel=3
        )
        return float("nan")
    below = np.cumsum(neg) - neg  # negatives strictly below each level
    wins = float(np.sum(pos * below)) + 0.5 * float(np.sum(pos * neg))
    return float(wins / (n_pos * n_neg))


def _pairs_auroc(p: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """Mann-Whitney from the positive and negative mass at each distinct score (weights:
    sums of weights; whole weights stay whole in float64, so they equal repeated rows)."""
    if w is not None:
        keep = w > 0
        p, y, w = p[keep], y[keep], w[keep]
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order].astype(np.float64)
    ws = np.ones(ps.size) if w is None else w[order]
    starts = np.flatnonzero(np.concatenate([[True], ps[1:] != ps[:-1]]))
    pos = np.add.reduceat(ys * ws, starts) if ps.size else np.zeros(0)
    mass = np.add.reduceat(ws, starts) if ps.size else np.zeros(0)
    return auroc_from_counts(pos, mass - pos)


def auroc(
    scores: Any,
    labels: Any,
    *,
    mode: str = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Area under the ROC curve of the (score, outcome) pairs, ties counted 1/2.

    1-D input: P(y = 1) scores against the labels. Top-label: the confidence against
    correctness (AUROC of confidence for correct vs wrong). Marginal: the mean over classes
    of the one-vs-rest AUROC. NaN with a RuntimeWarning when an outcome is missing (never 1,
    unlike some tools). ``sample_weight``: each pair counts with its weight (the weighted
    Mann-Whitney statistic).
    """
    kernels = _backend.resolve(backend)
    rules = InputRules(mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol, sample_weight=sample_weight)
    c = check(scores, labels, kernels, **rules)
    values = [_pairs_auroc(np.asarray(p, np.float64), np.asarray(y), c.weights) for p, y in stream_pairs(c, kernels)]
    return values[0] if len(values) == 1 else float(np.mean(values))


@dataclass(frozen=True)
class BrierDecomposition:
    """Murphy (1973) on equal-width bins: ``reliability - resolution + uncertainty`` equals
    the Brier score of the forecasts replaced by their bin means (exact when forecasts are
    constant within bins); ``within_bin`` = Brier - that value, the part the bins hide."""

    reliability: float
    resolution: float
    uncertainty: float
    brier: float

    @property
    def within_bin(self) -> float:
        """Brier score minus its binned decomposition: the part the bins hide."""
        return self.brier - (self.reliability - self.resolution + self.uncertainty)

    @property
    def skill_score(self) -> float:
        """(resolution - reliability) / uncertainty, the binned Brier skill score."""
        return (self.resolution - self.reliability) / self.uncertainty if self.uncertainty else float("nan")


def decomposition_from_bins(stats: list[BinStats], brier: float) -> BrierDecomposition:
    """Per stream (class) terms averaged, like the marginal Brier score (weighted counts
    work the same way)."""
    rel, res, unc = [], [], []
    for s in stats:
        n = float(s.count.sum())
        nz = s.count > 0
        f = s.sum_score[nz] / s.count[nz]
        o = s.sum_label[nz] / s.count[nz]
        w = s.count[nz] / n
        base = float(s.sum_label.sum()) / n
        rel.append(float(np.sum(w * (f - o) ** 2)))
        res.append(float(np.sum(w * (o - base) ** 2)))
        unc.append(base * (1.0 - base))
    return BrierDecomposition(float(np.mean(rel)), float(np.mean(res)), float(np.mean(unc)), brier)


def brier_decomposition(
    scores: Any,
    labels: Any,
    *,
    bins: int = 15,
    mode: str = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> BrierDecomposition:
    """Reliability, resolution and uncertainty of the Brier score over ``bins`` equal-width
    bins (calipers' binning convention); a ReliabilitySketch gives the same numbers. One pass
    gives the bins and the squared errors; ``sample_weight`` weights every term."""
    bins = check_bins(bins)
    rules = InputRules(mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol, sample_weight=sample_weight)
    sums = fused_sums(
        scores, labels, _backend.resolve(backend), bins=bins, parts=PART_COARSE | PART_SQUARES, rules=rules
    )
    sq, _, _, n = sums.totals()
    return decomposition_from_bins(sums.stats(), brier_from_totals(sq, n))
