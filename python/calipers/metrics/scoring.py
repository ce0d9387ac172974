"""Proper scoring rules on arrays: Brier score, Brier skill score and log loss.

Sums are exact fixed point (the sketch's totals part), so a sketch gives the same value
as the array functions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._common.binstats import decode128
from .._common.grid import FIELDS, GRID_CELLS, KIND_MARGINAL, LOG_SCALE, PART_TOTALS, UNIT_SCALE, stream_size
from .._common.validate import DEFAULT_ROW_SUM_ATOL, Checked
from .binned import checked_input

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
    return float(np.mean(sq / n))


def log_loss_from_totals(ll: np.ndarray, n: int) -> float:
    return float(np.mean(ll / n))


def bss_from_totals(sq: np.ndarray, positives: np.ndarray, n: int) -> float:
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


def brier(
    scores: Any,
    labels: Any,
    *,
    mode: str = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> float:
    """Mean squared error of the (score, outcome) pairs.

    1-D: mean (p - y)^2 (sklearn's ``brier_score_loss``). Top-label: mean (conf - correct)^2.
    Marginal: the class average of mean (p_k - 1[y = k])^2, i.e. sklearn's multiclass
    Brier score divided by K. Sums are exact (fixed point), so a sketch gives the same value.
    """
    c, kernels = checked_input(scores, labels, backend, mode, None, nan_policy, row_sum_atol)
    sq, _, _, n = totals(c, kernels)
    return brier_from_totals(sq, n)


def brier_skill_score(
    scores: Any,
    labels: Any,
    *,
    mode: str = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> float:
    """1 - BS / BS_ref with the in-sample climatology BS_ref = ybar (1 - ybar).

    Marginal mode sums over classes: 1 - sum_k BS_k / sum_k ybar_k (1 - ybar_k), which is
    the standard multiclass skill score against the class frequencies. Returns NaN with a
    RuntimeWarning when all outcomes are equal (KalshiBench returns 0 there instead).
    """
    c, kernels = checked_input(scores, labels, backend, mode, None, nan_policy, row_sum_atol)
    sq, _, positives, n = totals(c, kernels)
    return bss_from_totals(sq, positives, n)


def log_loss(
    scores: Any,
    labels: Any,
    *,
    mode: str = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    backend: str = "auto",
) -> float:
    """Mean negative log-likelihood of the outcomes, -[y log p + (1 - y) log(1 - p)].

    The probability given to the observed outcome is floored at 1e-15 (a score of exactly
    0 for a positive costs 34.5 nats, not infinity). Top-label and marginal modes apply
    the binary log loss to each (score, outcome) pair (marginal averages over classes).
    """
    c, kernels = checked_input(scores, labels, backend, mode, None, nan_policy, row_sum_atol)
    _, ll, _, n = totals(c, kernels)
    return log_loss_from_totals(ll, n)
