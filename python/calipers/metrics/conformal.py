"""Split-conformal thresholds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._common.validate import check_number, finite_values

__all__ = ["conformal_threshold"]


def conformal_threshold(scores: Any, alpha: float) -> float:
    """The split-conformal threshold of calibration nonconformity ``scores`` at level
    ``alpha``: the k-th smallest score with k = ceil((n + 1)(1 - alpha)), the finite-sample
    correction that makes P(new score <= threshold) >= 1 - alpha under exchangeability.
    When k > n (too few calibration scores for that level) the threshold is +inf, never the
    maximum: no finite threshold carries the guarantee. Scores may be any finite reals.

    ``scores`` may also be a :class:`calipers.QuantileSketch` of a stream of scores: the
    threshold is then conservative (never below the exact one; see
    :meth:`QuantileSketch.conformal_threshold`).
    """
    if callable(getattr(scores, "conformal_threshold", None)):  # a QuantileSketch (duck-typed: no import cycle)
        return float(scores.conformal_threshold(alpha))
    s = finite_values(scores, "scores")
    k = conformal_rank(s.size, alpha)
    if k > s.size:
        return math.inf
    return float(np.partition(s, k - 1)[k - 1])


def conformal_rank(n: int, alpha: Any) -> int:
    """k = ceil((n + 1)(1 - alpha)), the rank of the split-conformal threshold among n
    scores (k > n: no finite threshold). 1e-9 absorbs float rounding of (n + 1)(1 - alpha)
    (20 * 0.95 = 19.000000000000004)."""
    check_number("alpha", alpha, 0.0, 1.0, low_open=True, high_open=True)
    return math.ceil((n + 1) * (1.0 - float(alpha)) - 1e-9)
