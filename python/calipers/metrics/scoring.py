"""Proper scoring rules on arrays: Brier score, Brier skill score and log loss.

For 1-D (score, outcome) input they are the binary rules. For (n, K) probabilities the
default (``mode=None``) is the multiclass rule scikit-learn computes (``brier_score_loss``,
``log_loss``, ``brier_skill_score`` over the class frequencies): the names mean what a user
of those functions expects. ``mode="top-label"`` or ``"marginal"`` gives the rule of the
(confidence, correct) pairs or the class average of the one-vs-rest pairs, the quantities
a :class:`calipers.ReliabilitySketch` of that mode holds.

Sums are exact fixed point (the sketch's totals part), so a sketch gives the same value
as the array functions of its mode.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._common.binstats import decode128
from .._common.grid import (
    FIELDS,
    GRID_CELLS,
    KIND_BINARY,
    KIND_MARGINAL,
    LOG_LOSS_FLOOR,
    LOG_SCALE,
    PART_TOTALS,
    UNIT_SCALE,
    stream_size,
)
from .._common.validate import DEFAULT_ROW_SUM_ATOL, Checked, check_choice
from .binned import checked_input

MODES = (None, "multiclass", "top-label", "marginal")

__all__ = ["brier", "brier_skill_score", "log_loss"]


def totals(c: Checked, kernels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per stream: sum of squared errors, sum of log-loss terms, positives; and n."""
    streams = c.scores.shape[1] if c.kind == KIND_MARGINAL else 1
    acc = np.zeros(streams * stream_size(1), np.uint64)
    kernels.accumulate(acc, 1, streams, PART_TOTALS | 1, c.scores, c.labels, c.kind)
    return totals_from_state(acc, 1, streams)


def totals_from_state(
    acc: np.ndarray, bins: int, streams: int, cells: int = GRID_CELLS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per stream: sums of squared errors and log-loss terms, positives; and n, from a
    state of ``cells`` grid cells per stream."""
    rows = acc.reshape(streams, stream_size(bins, cells))
    coarse = rows[:, : bins * FIELDS].reshape(streams, bins, FIELDS)
    tot = rows[:, (bins + cells) * FIELDS :]
    sq = decode128(tot[:, 0], tot[:, 1], UNIT_SCALE)
    ll = decode128(tot[:, 2], tot[:, 3], LOG_SCALE)
    positives = coarse[:, :, 1].sum(axis=1).astype(np.float64)
    n = int(coarse[0, :, 0].sum())
    return sq, ll, positives, n


def brier_from_totals(sq: np.ndarray, n: int) -> float:
    """Brier score from the exact squared-error totals of n samples (class-averaged)."""
    return float(np.mean(sq / n))


def log_loss_from_totals(ll: np.ndarray, n: int) -> float:
    """Log loss from the exact log-loss totals of n samples (class-averaged)."""
    return float(np.mean(ll / n))


def bss_from_totals(sq: np.ndarray, positives: np.ndarray, n: int) -> float:
    """Brier skill score against the in-sample base rate (NaN with a RuntimeWarning when
    every outcome is the same)."""
    base = positives / n
    reference = float(np.sum(base * (1.0 - base)))
    if reference == 0.0:
        warnings.warn(
            "brier_skill_score is undefined when every outcome is the same "
            "(the climatological Brier score is 0); returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    return 1.0 - float(np.sum(sq / n)) / reference


def _checked(
    scores: Any, labels: Any, mode: str | None, backend: str, nan_policy: str, row_sum_atol: float
) -> tuple[Checked, Any, bool]:
    """Validated input, kernels, and whether the multiclass rule applies (2-D input and
    mode None or 'multiclass': validated as marginal input, every class kept)."""
    check_choice("mode", mode, MODES)  # type: ignore[arg-type]
    multiclass = mode in (None, "multiclass")
    c, kernels = checked_input(
        scores, labels, backend, "marginal" if multiclass else str(mode), None, nan_policy, row_sum_atol
    )
    return c, kernels, multiclass and c.kind != KIND_BINARY


def brier(
    scores: Any,
    labels: Any,
    *,
    mode: str | None = None,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> float:
    """Mean squared error of probabilistic forecasts.

    1-D: mean (p - y)^2 (sklearn's ``brier_score_loss``). (n, K) probabilities, default
    (``mode=None`` or ``"multiclass"``): scikit-learn's multiclass Brier score, the mean over
    rows of sum_k (p_k - 1[y = k])^2, halved when K = 2 (``scale_by_half="auto"``: then it
    equals the 1-D score of P(class 1)). ``mode="top-label"``: mean (conf - correct)^2;
    ``"marginal"``: the class average of mean (p_k - 1[y = k])^2 (the multiclass score / K).
    Sums are exact (fixed point), so a sketch gives the same value as its mode here.
    """
    c, kernels, multiclass = _checked(scores, labels, mode, backend, nan_policy, row_sum_atol)
    sq, _, _, n = totals(c, kernels)
    if multiclass:
        k = sq.size
        return float(np.sum(sq / n)) / (2.0 if k == 2 else 1.0)
    return brier_from_totals(sq, n)


def brier_skill_score(
    scores: Any,
    labels: Any,
    *,
    mode: str | None = None,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> float:
    """1 - BS / BS_ref with the in-sample climatology BS_ref = ybar (1 - ybar).

    (n, K) input, default (``mode=None``, also ``"multiclass"`` and ``"marginal"``): the
    standard multiclass skill score against the class frequencies, 1 - sum_k BS_k / sum_k
    ybar_k (1 - ybar_k); ``mode="top-label"``: the skill of the (confidence, correct) pairs.
    Returns NaN with a RuntimeWarning when all outcomes are equal (KalshiBench returns 0
    there instead).
    """
    c, kernels, _ = _checked(scores, labels, mode, backend, nan_policy, row_sum_atol)
    sq, _, positives, n = totals(c, kernels)
    return bss_from_totals(sq, positives, n)


def log_loss(
    scores: Any,
    labels: Any,
    *,
    mode: str | None = None,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> float:
    """Mean negative log-likelihood of the outcomes.

    1-D: -[y log p + (1 - y) log(1 - p)]. (n, K) probabilities, default (``mode=None`` or
    ``"multiclass"``): scikit-learn's multiclass log loss, the mean of -log p_y (the
    probability given to the true class). The probability given to the observed outcome
    is floored at 1e-15 (a score of exactly 0 for a positive costs 34.5 nats, not
    infinity; scikit-learn floors at the float type's epsilon, 2.2e-16 for float64, so the
    two differ only where that probability is below 1e-15). ``mode="top-label"`` or
    ``"marginal"`` apply the binary log loss to each (score, outcome) pair (marginal
    averages over classes), the quantity a sketch of that mode holds.
    """
    c, kernels, multiclass = _checked(scores, labels, mode, backend, nan_policy, row_sum_atol)
    if multiclass:
        p_true = c.scores[np.arange(c.n), c.labels].astype(np.float64)
        return float(np.mean(-np.log(np.maximum(p_true, LOG_LOSS_FLOOR))))
    _, ll, _, n = totals(c, kernels)
    return log_loss_from_totals(ll, n)
