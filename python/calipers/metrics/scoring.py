"""Proper scoring rules on arrays: Brier score, Brier skill score and log loss.

Sums are exact fixed point (the sketch's totals part), so a sketch gives the same value
as the array functions. Each takes one pass over the input (``binned_sums``: validation and
only the sums the score needs; the log-loss terms only for :func:`log_loss`) and
``sample_weight=`` (weighted means; integer weights give exactly the result of repeated rows).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._common.binstats import decode128
from .._common.grid import (
    FIELDS,
    GRID_CELLS,
    LOG_SCALE,
    PART_COARSE,
    PART_SQUARES,
    PART_TOTALS,
    UNIT_SCALE,
    stream_size,
)
from .._common.validate import DEFAULT_ROW_SUM_ATOL
from .._kernels import backend as _backend
from .binned import one_pass

__all__ = ["brier", "brier_skill_score", "log_loss"]


def totals(
    scores: Any,
    labels: Any,
    *,
    mode: str,
    nan_policy: str,
    row_sum_atol: float,
    sample_weight: Any,
    backend: str,
    logs: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per stream: sum of squared errors, sum of log-loss terms (``logs=True`` only),
    positives; and n (the total weight with sample weights), in one pass."""
    sums = one_pass(
        scores,
        labels,
        _backend.resolve(backend),
        bins=1,
        parts=PART_COARSE | (PART_TOTALS if logs else PART_SQUARES),
        mode=mode,
        nan_policy=nan_policy,
        row_sum_atol=row_sum_atol,
        sample_weight=sample_weight,
    )
    return sums.totals()


def totals_from_state(
    acc: np.ndarray, bins: int, streams: int, cells: int = GRID_CELLS, weight_bits: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per stream: sums of squared errors and log-loss terms, positives; and n (the total
    weight of a weighted state), from a state of ``cells`` grid cells per stream."""
    rows = acc.reshape(streams, stream_size(bins, cells))
    coarse = rows[:, : bins * FIELDS].reshape(streams, bins, FIELDS)
    tot = rows[:, (bins + cells) * FIELDS :]
    scale = float(1 << weight_bits)
    sq = decode128(tot[:, 0], tot[:, 1], UNIT_SCALE * scale)
    ll = decode128(tot[:, 2], tot[:, 3], LOG_SCALE * scale)
    positives = coarse[:, :, 1].sum(axis=1).astype(np.float64) / scale
    count = coarse[0, :, 0].sum()
    n = int(count) if weight_bits == 0 else float(count) / scale
    return sq, ll, positives, n


def brier_from_totals(sq: np.ndarray, n: float) -> float:
    return float(np.mean(sq / n))


def log_loss_from_totals(ll: np.ndarray, n: float) -> float:
    return float(np.mean(ll / n))


def bss_from_totals(sq: np.ndarray, positives: np.ndarray, n: float) -> float:
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
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Mean squared error of the (score, outcome) pairs.

    1-D: mean (p - y)^2 (sklearn's ``brier_score_loss``). Top-label: mean (conf - correct)^2.
    Marginal: the class average of mean (p_k - 1[y = k])^2, i.e. sklearn's multiclass
    Brier score divided by K. Sums are exact (fixed point), so a sketch gives the same value.
    """
    sq, _, _, n = totals(
        scores,
        labels,
        mode=mode,
        nan_policy=nan_policy,
        row_sum_atol=row_sum_atol,
        sample_weight=sample_weight,
        backend=backend,
    )
    return brier_from_totals(sq, n)


def brier_skill_score(
    scores: Any,
    labels: Any,
    *,
    mode: str = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """1 - BS / BS_ref with the in-sample climatology BS_ref = ybar (1 - ybar).

    Marginal mode sums over classes: 1 - sum_k BS_k / sum_k ybar_k (1 - ybar_k), which is
    the standard multiclass skill score against the class frequencies. Returns NaN with a
    RuntimeWarning when all outcomes are equal (KalshiBench returns 0 there instead).
    """
    sq, _, positives, n = totals(
        scores,
        labels,
        mode=mode,
        nan_policy=nan_policy,
        row_sum_atol=row_sum_atol,
        sample_weight=sample_weight,
        backend=backend,
    )
    return bss_from_totals(sq, positives, n)


def log_loss(
    scores: Any,
    labels: Any,
    *,
    mode: str = "top-label",
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Mean negative log-likelihood of the outcomes, -[y log p + (1 - y) log(1 - p)].

    The probability given to the observed outcome is floored at 1e-15 (a score of exactly
    0 for a positive costs 34.5 nats, not infinity). Top-label and marginal modes apply
    the binary log loss to each (score, outcome) pair (marginal averages over classes).
    """
    _, ll, _, n = totals(
        scores,
        labels,
        mode=mode,
        nan_policy=nan_policy,
        row_sum_atol=row_sum_atol,
        sample_weight=sample_weight,
        backend=backend,
        logs=True,
    )
    return log_loss_from_totals(ll, n)
