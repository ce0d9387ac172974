"""Proper scoring rules on arrays: Brier score, Brier skill score and log loss.

For 1-D (score, outcome) input they are the binary rules. For (n, K) probabilities the
default (``mode=None``) is the multiclass rule scikit-learn computes (``brier_score_loss``,
``log_loss``, ``brier_skill_score`` over the class frequencies): the names mean what a user
of those functions expects. ``mode="top-label"`` or ``"marginal"`` gives the rule of the
(confidence, correct) pairs or the class average of the one-vs-rest pairs, the quantities
a :class:`calipers.ReliabilitySketch` of that mode holds.

Sums are exact fixed point (the sketch's totals part), so a sketch gives the same value
as the array functions of its mode. Each takes one pass over the input (``binned_sums``:
validation and only the sums the score needs; the log-loss terms only for :func:`log_loss`)
and ``sample_weight=`` (weighted means; integer weights give exactly the result of repeated
rows).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._common.binstats import decode128, fused_sums
from .._common.grid import (
    FIELDS,
    GRID_CELLS,
    LOG_LOSS_FLOOR,
    LOG_SCALE,
    PART_COARSE,
    PART_SQUARES,
    PART_TOTALS,
    UNIT_SCALE,
    stream_size,
)
from .._common.validate import DEFAULT_ROW_SUM_ATOL, InputRules, check_choice, prepare
from .._kernels import backend as _backend

__all__ = ["brier", "brier_skill_score", "log_loss"]

MODES = (None, "multiclass", "top-label", "marginal")


def _rule(scores: Any, mode: str | None) -> tuple[str, bool]:
    """(the mode the sums are taken in, whether the multiclass rule applies): mode None or
    'multiclass' on (n, K) input takes every class (marginal sums) and combines them as
    scikit-learn does."""
    check_choice("mode", mode, MODES)
    multiclass = mode in (None, "multiclass") and np.ndim(scores) == 2
    return ("marginal" if multiclass else ("top-label" if mode in (None, "multiclass") else str(mode))), multiclass


def _rules(mode: str, nan_policy: str, row_sum_atol: float, sample_weight: Any) -> InputRules:
    return InputRules(mode=mode, nan_policy=nan_policy, row_sum_atol=row_sum_atol, sample_weight=sample_weight)


def totals(
    scores: Any,
    labels: Any,
    rules: InputRules,
    backend: str,
    logs: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per stream: sum of squared errors, sum of log-loss terms (``logs=True`` only),
    positives; and n (the total weight with sample weights), in one pass."""
    parts = PART_COARSE | (PART_TOTALS if logs else PART_SQUARES)
    return fused_sums(scores, labels, _backend.resolve(backend), bins=1, parts=parts, rules=rules).totals()


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
    """Brier score from the exact squared-error totals of n samples (class-averaged)."""
    return float(np.mean(sq / n))


def log_loss_from_totals(ll: np.ndarray, n: float) -> float:
    """Log loss from the exact log-loss totals of n samples (class-averaged)."""
    return float(np.mean(ll / n))


def bss_from_totals(sq: np.ndarray, positives: np.ndarray, n: float) -> float:
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


def brier(
    scores: Any,
    labels: Any,
    *,
    mode: str | None = None,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Mean squared error of probabilistic forecasts (weighted by ``sample_weight``).

    1-D: mean (p - y)^2 (sklearn's ``brier_score_loss``). (n, K) probabilities, default
    (``mode=None`` or ``"multiclass"``): scikit-learn's multiclass Brier score, the mean over
    rows of sum_k (p_k - 1[y = k])^2, halved when K = 2 (``scale_by_half="auto"``: then it
    equals the 1-D score of P(class 1)). ``mode="top-label"``: mean (conf - correct)^2;
    ``"marginal"``: the class average of mean (p_k - 1[y = k])^2 (the multiclass score / K).
    Sums are exact (fixed point), so a sketch gives the same value as its mode here.
    """
    taken, multiclass = _rule(scores, mode)
    sq, _, _, n = totals(scores, labels, _rules(taken, nan_policy, row_sum_atol, sample_weight), backend)
    if multiclass:
        return float(np.sum(sq / n)) / (2.0 if sq.size == 2 else 1.0)
    return brier_from_totals(sq, n)


def brier_skill_score(
    scores: Any,
    labels: Any,
    *,
    mode: str | None = None,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """1 - BS / BS_ref with the in-sample climatology BS_ref = ybar (1 - ybar).

    (n, K) input, default (``mode=None``, also ``"multiclass"`` and ``"marginal"``): the
    standard multiclass skill score against the class frequencies, 1 - sum_k BS_k / sum_k
    ybar_k (1 - ybar_k); ``mode="top-label"``: the skill of the (confidence, correct) pairs.
    Weighted by ``sample_weight``. Returns NaN with a RuntimeWarning when all outcomes are
    equal (KalshiBench returns 0 there instead).
    """
    taken, _ = _rule(scores, mode)
    sq, _, positives, n = totals(scores, labels, _rules(taken, nan_policy, row_sum_atol, sample_weight), backend)
    return bss_from_totals(sq, positives, n)


def log_loss(
    scores: Any,
    labels: Any,
    *,
    mode: str | None = None,
    nan_policy: str = "raise",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Mean negative log-likelihood of the outcomes (weighted by ``sample_weight``).

    1-D: -[y log p + (1 - y) log(1 - p)]. (n, K) probabilities, default (``mode=None`` or
    ``"multiclass"``): scikit-learn's multiclass log loss, the mean of -log p_y (the
    probability given to the true class). The probability given to the observed outcome
    is floored at 1e-15 (a score of exactly 0 for a positive costs 34.5 nats, not
    infinity; scikit-learn floors at the float type's epsilon, 2.2e-16 for float64, so the
    two differ only where that probability is below 1e-15). ``mode="top-label"`` or
    ``"marginal"`` apply the binary log loss to each (score, outcome) pair (marginal
    averages over classes), the quantity a sketch of that mode holds.
    """
    taken, multiclass = _rule(scores, mode)
    if multiclass:  # the one-pass kernel checks the values; then the true class's probability per row
        rules = _rules("marginal", nan_policy, row_sum_atol, sample_weight)
        fused_sums(scores, labels, _backend.resolve(backend), bins=1, parts=PART_COARSE, rules=rules)
        c = prepare(scores, labels, **rules)
        terms = -np.log(np.maximum(c.scores[np.arange(c.n), c.labels].astype(np.float64), LOG_LOSS_FLOOR))
        if c.weights is None:
            return float(np.mean(terms))
        return float(np.sum(c.weights * terms) / np.sum(c.weights))
    _, ll, _, n = totals(scores, labels, _rules(taken, nan_policy, row_sum_atol, sample_weight), backend, logs=True)
    return log_loss_from_totals(ll, n)
