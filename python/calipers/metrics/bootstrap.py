"""Bootstrap confidence intervals for any metric, with a fast path for binned ECEs.

``bootstrap_ci(metric, *arrays)`` resamples rows with replacement ``n_resamples`` times and
recomputes ``metric`` (any function of the arrays: every metric of this package, or yours).

The fast path (``calipers.ece`` with equal-width bins on 1-D or top-label input, any norm,
debiased l2 included) never touches the samples after one O(n) pass (C++ ``unit_stats``):
each (bin, outcome) unit keeps its count, score sum and sum of squares. A resample draws the
units' counts from the multinomial of the row resampling, which gives counts and positives
exactly as a row resample would; given a unit's count N, the sum of its resampled scores
has mean N m and variance N v (m, v the unit's score mean and variance), and is drawn from
the normal with those moments, clipped to the bin. 1000 resamples of 10^6 samples cost one
pass plus O(1000 x bins).

The streaming version lives in :class:`calipers.ReliabilitySketch` (``replicates=R``): a
Poisson bootstrap whose unit counts are Poisson(n_u) per update (the sum of independent
Poisson(1) sample weights), with the same normal score sums. Replicates add under merge.
An update draws only for the units it touches (R draws per touched unit, R normals more
for units of two samples or more), so a batch of n pairs costs O(R x min(n, 2 bins)):
CalibrationMonitor batches its records and pays a few microseconds per record at R = 200.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._common.binstats import stream_pairs
from .._common.grid import width_edges
from .._common.validate import (
    DEFAULT_ROW_SUM_ATOL,
    as_weights,
    check,
    check_bins,
    check_choice,
    check_int,
    check_number,
    check_weight_values,
)
from .._kernels import backend as _backend
from .binned_error import binned_error_rows

__all__ = ["bootstrap_ci", "BootstrapInterval"]

METHODS = ("percentile", "basic")


@dataclass(frozen=True)
class BootstrapInterval:
    """``low``/``high`` bound a ``confidence`` interval around ``estimate``; ``replicates``
    holds the resampled values (``fast`` tells which path made them)."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    replicates: np.ndarray = field(repr=False)
    fast: bool = False

    def __iter__(self) -> Any:
        return iter((self.low, self.high))


def interval(estimate: float, replicates: np.ndarray, confidence: float, method: str, fast: bool) -> BootstrapInterval:
    """Percentile: the replicates' alpha/2 and 1 - alpha/2 quantiles. Basic (reverse
    percentile, uncertainty-calibration's choice): 2 estimate minus them."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return BootstrapInterval(estimate, float("nan"), float("nan"), confidence, method, replicates, fast)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    if method == "basic":
        lo, hi = 2.0 * estimate - hi, 2.0 * estimate - lo
    return BootstrapInterval(float(estimate), float(lo), float(hi), confidence, method, replicates, fast)


def check_interval_args(n_resamples: Any, confidence: Any, method: str) -> int:
    """Check ``n_resamples``, ``confidence`` and ``method`` (TypeError/ValueError); returns
    n_resamples as an int."""
    n_resamples = check_int("n_resamples", n_resamples, 1, 10_000_000)
    check_number("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    check_choice("method", method, METHODS)
    return int(n_resamples)


def unit_bounds(bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper score bound of each (bin, outcome) unit: unit 2b and 2b + 1 lie in bin b."""
    edges = width_edges(bins)
    return np.repeat(edges[:-1], 2), np.repeat(edges[1:], 2)


def unit_draws(
    count: np.ndarray, total: np.ndarray, sumsq: np.ndarray, draws: np.ndarray, bins: int, rng: np.random.Generator
) -> np.ndarray:
    """Score sums of resampled units: normal with the exact conditional mean and variance
    given the drawn counts ``draws`` (R, 2B), clipped to each unit's bin."""
    safe = np.where(count > 0, count, 1)
    mean = total / safe
    var = np.maximum(sumsq / safe - mean * mean, 0.0)
    sums = draws * mean + np.sqrt(draws * var) * rng.standard_normal(draws.shape)
    lo, hi = unit_bounds(bins)
    return np.asarray(np.clip(sums, draws * lo, draws * hi))


def replicate_errors(draws: np.ndarray, sums: np.ndarray, norm: str, debiased: bool) -> np.ndarray:
    """ECE of each replicate from its unit counts and score sums (units 2b: y = 0, 2b + 1: y = 1)."""
    count = draws[:, 0::2] + draws[:, 1::2]
    return binned_error_rows(count, sums[:, 0::2] + sums[:, 1::2], draws[:, 1::2].astype(np.float64), norm, debiased)


def poisson_draws(
    count: np.ndarray,
    total: np.ndarray,
    sumsq: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    replicates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(R, m, 2) replicate increments of m non-empty units (count > 0) with score bounds
    [lo, hi]: Poisson(n_u) counts (the sum of the unit's samples' Poisson(1) weights) and
    normal score sums with the exact conditional moments given them, clipped to the bounds.

    Only touched units cost anything: R draws per unit, plus R normals for units of two
    samples or more (a unit of one sample has variance 0, its sum is draws x score).
    """
    n_u = count.astype(np.float64)
    draws = rng.poisson(n_u, size=(replicates, n_u.size)).astype(np.float64)
    mean = total / n_u
    sums = draws * mean
    multi = np.flatnonzero(n_u >= 2)
    if multi.size:
        var = np.maximum(sumsq[multi] / n_u[multi] - mean[multi] * mean[multi], 0.0)
        sums[:, multi] += np.sqrt(draws[:, multi] * var) * rng.standard_normal((replicates, multi.size))
    out = np.empty((replicates, n_u.size, 2))
    out[:, :, 0] = draws
    out[:, :, 1] = np.clip(sums, draws * lo, draws * hi)
    return out


def poisson_replicates(
    stats: tuple[np.ndarray, np.ndarray, np.ndarray], bins: int, replicates: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One update's replicate increments: the indices of the (bin, outcome) units it
    touches and their (R, m, 2) increments (:func:`poisson_draws`). Units it does not touch
    get nothing (Poisson(0) = 0), so they are skipped: the cost is O(R x touched units),
    not O(R x 2 bins), and does not depend on the batch size."""
    count, total, sumsq = stats
    units = np.flatnonzero(count)
    lo, hi = unit_bounds(bins)
    draws = poisson_draws(count[units], total[units], sumsq[units], lo[units], hi[units], replicates, rng)
    return units, draws


_FAST_KEYS = {"bins", "binning", "norm", "debiased", "mode", "backend", "row_sum_atol"}


def _fast_eligible(metric: Callable[..., Any], arrays: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    from .binned import ece

    if metric is not ece or len(arrays) != 2 or not set(kwargs) <= _FAST_KEYS:
        return False
    if kwargs.get("binning", "width") != "width" or kwargs.get("mode", "top-label") != "top-label":
        return False
    return not (kwargs.get("debiased", False) and kwargs.get("norm", "l1") != "l2")


def _fast_replicates(
    arrays: tuple[Any, ...], kwargs: dict[str, Any], n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    kernels = _backend.resolve(kwargs.get("backend", "auto"))
    bins = check_bins(kwargs.get("bins", 15))
    c = check(
        arrays[0], arrays[1], kernels, mode="top-label", row_sum_atol=kwargs.get("row_sum_atol", DEFAULT_ROW_SUM_ATOL)
    )
    ((p, y),) = stream_pairs(c, kernels)
    count, total, sumsq = kernels.unit_stats(p, y, bins)
    n = int(count.sum())
    draws = rng.multinomial(n, count / n, size=n_resamples)
    sums = unit_draws(count, total, sumsq, draws, bins, rng)
    return replicate_errors(draws, sums, kwargs.get("norm", "l1"), bool(kwargs.get("debiased", False)))


def bootstrap_ci(
    metric: Callable[..., Any],
    *arrays: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Any = None,
    method: str = "percentile",
    fast: bool = True,
    sample_weight: Any = None,
    **kwargs: Any,
) -> BootstrapInterval:
    """Bootstrap interval of ``metric(*arrays, **kwargs)``.

    Rows of every array are resampled together (``n_resamples`` times, with replacement,
    from ``seed``: an int or a ``numpy.random.Generator``). ``method="percentile"`` takes
    the replicates' quantiles; ``"basic"`` reflects them around the estimate (the
    reverse-percentile interval of uncertainty-calibration's
    ``get_calibration_error_uncertainties``). ``calipers.ece`` with equal-width bins on
    1-D or top-label input takes the fast path described in :mod:`calipers.bootstrap`
    (``fast=False`` forces row resampling). Replicates where the metric is undefined (NaN)
    are left out of the quantiles.

    ``sample_weight``: the estimate is ``metric(*arrays, sample_weight=w, **kwargs)``; the
    rows with a positive weight are the resampling units and each resampled row keeps its
    weight (the usual bootstrap of a weighted estimator), so zero-weight rows are exactly
    dropped rows, with the same draws. Integer weights are not frequency weights here: the
    estimate equals that of the repeated rows, the interval resamples the original rows.
    The metric must take ``sample_weight=`` (every calipers metric does); the fast path is
    not used with weights.
    """
    n_resamples = check_interval_args(n_resamples, confidence, method)
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample")
    rng = np.random.default_rng(seed)
    data = [np.asarray(a) for a in arrays]
    n = len(data[0]) if data[0].ndim else 0
    weights = None
    if sample_weight is not None:
        weights = as_weights(sample_weight, n)
        check_weight_values(weights)
        assert weights is not None
        if not np.any(weights > 0):
            raise ValueError("sample_weight must have at least one positive weight")
        kwargs = {**kwargs, "sample_weight": weights}
    estimate = float(metric(*arrays, **kwargs))
    if weights is None and fast and _fast_eligible(metric, arrays, kwargs):
        return interval(estimate, _fast_replicates(arrays, kwargs, n_resamples, rng), confidence, method, True)
    for i, a in enumerate(data):
        if a.ndim == 0 or len(a) != n:
            raise ValueError(f"bootstrap_ci: array {i} has {0 if a.ndim == 0 else len(a)} rows, array 0 has {n}")
    if n == 0:
        raise ValueError("bootstrap_ci: the arrays are empty")
    live = np.arange(n) if weights is None else np.flatnonzero(weights > 0)
    m = live.size
    replicates = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = live[rng.integers(0, m, m)]
        if weights is not None:
            kwargs["sample_weight"] = weights[idx]
        replicates[r] = metric(*(a[idx] for a in data), **kwargs)
    return interval(estimate, replicates, confidence, method, False)
