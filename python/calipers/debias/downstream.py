"""Downstream estimates from (corrected) predictions: a weighted mean, the contrast of two
group means and the average treatment effect (Horvitz-Thompson or Hajek), each with an
optional percentile-bootstrap interval.

The functions take any values; the corrections' :meth:`~calipers.debias.base.Correction.mean`,
``contrast`` and ``ate`` call them on corrected predictions and report the naive
(uncorrected) value beside the estimate. The bootstrap resamples the rows given here with
replacement (``calipers.bootstrap_ci``); a correction's fit is held fixed, so the interval
covers downstream sampling only, not the calibration split's own noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.reals import real_values
from .._common.validate import as_labels, check_choice, finite_values, refuse_any
from ..calibration.base import check_weights
from ..metrics.bootstrap import bootstrap_ci

__all__ = ["DownstreamEstimate", "mean", "contrast", "ate", "ESTIMATORS"]

ESTIMATORS = ("hajek", "horvitz-thompson")


@dataclass(frozen=True)
class DownstreamEstimate:
    """A downstream estimate: ``estimate`` (from corrected predictions), ``naive`` (the same
    statistic of the uncorrected predictions, None for plain values) and, with a bootstrap,
    the ``confidence`` interval ``[low, high]`` from ``n_resamples`` percentile replicates."""

    estimate: float
    naive: float | None = None
    low: float | None = None
    high: float | None = None
    confidence: float | None = None
    n_resamples: int = 0

    def __float__(self) -> float:
        return self.estimate


def _bootstrap_args(bootstrap: Any, confidence: Any) -> int:
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap must be a number of resamples >= 0, got {bootstrap!r}")
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    return int(bootstrap)


def _with_interval(
    stat: Any, arrays: tuple[np.ndarray, ...], bootstrap: int, confidence: float, seed: Any, naive: float | None
) -> DownstreamEstimate:
    estimate = float(stat(*arrays))
    if not bootstrap:
        return DownstreamEstimate(estimate, naive)
    ci = bootstrap_ci(stat, *arrays, n_resamples=bootstrap, confidence=confidence, seed=seed, fast=False)
    return DownstreamEstimate(estimate, naive, ci.low, ci.high, confidence, bootstrap)


# ------------------------------------------------------------------ the statistics


def _mean_stat(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(np.sum(weights))
    return float(np.sum(weights * values) / total) if total > 0 else math.nan


def _contrast_stat(values: np.ndarray, second: np.ndarray) -> float:
    first = ~second
    if not first.any() or not second.any():
        return math.nan
    return float(np.mean(values[second]) - np.mean(values[first]))


def _ate_stat(values: np.ndarray, treated: np.ndarray, propensity: np.ndarray, hajek: bool) -> float:
    if not treated.any() or treated.all():
        return math.nan
    e = propensity if propensity.size else np.full(values.size, np.mean(treated))
    wt = np.where(treated, 1.0 / e, 0.0)
    wc = np.where(treated, 0.0, 1.0 / (1.0 - e))
    if hajek:
        return float(np.sum(wt * values) / np.sum(wt) - np.sum(wc * values) / np.sum(wc))
    return float(np.mean(wt * values - wc * values))


# ------------------------------------------------------------------ checks


def check_values(values: Any, name: str = "predictions") -> np.ndarray:
    """A non-empty 1-D array of finite float64 values within +-1e100 (see
    :func:`calipers._common.reals.real_values`)."""
    return real_values(values, name)


def group_mask(groups: Any, n: int, levels: tuple[Any, Any] | None) -> np.ndarray:
    """True for rows of the second level, False for the first; every row must be one of them."""
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"groups must be 1-D with one entry per prediction ({n}), got shape {g.shape}")
    if levels is None:
        uniq = np.unique(g)
        if uniq.size != 2:
            raise ValueError(
                f"groups must hold exactly two distinct values for a contrast, got {uniq.size}; pass levels=(a, b)"
            )
        levels = (uniq[0], uniq[1])
    if len(levels) != 2 or levels[0] == levels[1]:
        raise ValueError(f"levels must be two distinct group values, got {levels!r}")
    first, second = g == levels[0], g == levels[1]
    other = ~(first | second)
    if other.any():
        raise ValueError(
            f"groups must be one of the levels {levels!r}: {int(other.sum())} value(s) are not, "
            f"first at index {int(np.argmax(other))}"
        )
    if not first.any() or not second.any():
        raise ValueError(f"both levels {levels!r} need at least one row")
    return np.asarray(second, dtype=bool)


def treatment_mask(treatment: Any, n: int) -> np.ndarray:
    """Treatment indicators (0/1 or bool) as a bool mask; both arms must be present."""
    t = as_labels(treatment, "treatment")
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"treatment must be 1-D with one entry per prediction ({n}), got shape {t.shape}")
    refuse_any((t != 0) & (t != 1), "treatment must be 0 or 1")
    treated = t.astype(bool)
    if treated.all() or not treated.any():
        raise ValueError("treatment needs both treated (1) and control (0) rows")
    return treated


def propensity_values(propensity: Any, n: int) -> np.ndarray:
    """Propensities strictly inside (0, 1), or an empty array for None (the treated share)."""
    if propensity is None:
        return np.zeros(0)
    e = finite_values(propensity, "propensity")
    if e.shape[0] != n:
        raise ValueError(f"propensity must have one entry per prediction ({n}), got {e.shape[0]}")
    bad = (e <= 0.0) | (e >= 1.0)
    if bad.any():
        raise ValueError(
            f"propensity must lie strictly inside (0, 1): {int(bad.sum())} value(s) do not, "
            f"first at index {int(np.argmax(bad))}"
        )
    return e


# ------------------------------------------------------------------ public functions


def mean(
    values: Any,
    weights: Any = None,
    *,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: Any = None,
    naive: float | None = None,
) -> DownstreamEstimate:
    """(Weighted) mean of ``values``; ``bootstrap=R`` adds an R-replicate percentile interval."""
    v = check_values(values, "values")
    w = check_weights(weights, v.size)
    R = _bootstrap_args(bootstrap, confidence)
    return _with_interval(_mean_stat, (v, np.ones(v.size) if w is None else w), R, confidence, seed, naive)


def contrast(
    values: Any,
    groups: Any,
    *,
    levels: tuple[Any, Any] | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: Any = None,
    naive: float | None = None,
) -> DownstreamEstimate:
    """Mean of the second group minus mean of the first. ``groups`` holds two distinct values
    (sorted order decides which is second) or pick them with ``levels=(first, second)``.
    Bootstrap replicates that lose a group are left out of the interval."""
    v = check_values(values, "values")
    second = group_mask(groups, v.size, levels)
    R = _bootstrap_args(bootstrap, confidence)
    return _with_interval(_contrast_stat, (v, second), R, confidence, seed, naive)


def ate(
    values: Any,
    treatment: Any,
    propensity: Any = None,
    *,
    estimator: str = "hajek",
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: Any = None,
    naive: float | None = None,
) -> DownstreamEstimate:
    """Average treatment effect by inverse propensity weighting.

    Horvitz-Thompson: ``mean(T v / e - (1 - T) v / (1 - e))``; Hajek: the difference of the
    two arms' weighted means with weights ``1/e`` and ``1/(1 - e)`` (unshrink's
    ``debiased_ate`` with those weights). ``propensity=None`` uses the treated share for
    every row, which makes both the difference of the arm means."""
    check_choice("estimator", estimator, ESTIMATORS)
    v = check_values(values, "values")
    treated = treatment_mask(treatment, v.size)
    e = propensity_values(propensity, v.size)
    R = _bootstrap_args(bootstrap, confidence)
    hajek = estimator == "hajek"
    if e.size:
        stat = lambda vv, tt, ee: _ate_stat(vv, tt, ee, hajek)
        return _with_interval(stat, (v, treated, e), R, confidence, seed, naive)
    stat2 = lambda vv, tt: _ate_stat(vv, tt, np.zeros(0), hajek)
    return _with_interval(stat2, (v, treated), R, confidence, seed, naive)
