"""Calibration-error formulas on per-bin statistics (shared by arrays and sketches).

Bin j holds n_j pairs with mean score s_j and outcome frequency y_j; w_j = n_j / n.
  l1:  sum_j w_j |s_j - y_j|
  l2:  sqrt(sum_j w_j (s_j - y_j)^2)
  max: max over non-empty bins of |s_j - y_j|
  debiased l2 (Kumar et al. 2019; Broecker 2012): sum over bins with n_j >= 2 of
       w_j [(s_j - y_j)^2 - y_j (1 - y_j) / (n_j - 1)], clipped at 0 once, then sqrt.
  resampled lp (debiased, p != 2; Kumar et al.'s heuristic, uncertainty-calibration's
       ``normal_debiased_ce``): with the plugin value c and sigma_j = sqrt(y_j (1 - y_j) / n_j),
       draw R = 1000 resamples y~_j ~ N(y_j, sigma_j), c_r = (sum_j w_j |y~_j - s_j|^p)^(1/p),
       and return 2c - mean_r c_r (not clipped: it can be negative). Stochastic.
Marginal (class-wise) errors combine per-class values e_k as (mean_k e_k^p)^(1/p),
or max_k e_k for the max norm (clipping is per class, as uncertainty-calibration does).
"""

from __future__ import annotations

import numpy as np

NORMS = ("l1", "l2", "max")


def binned_error(count: np.ndarray, sum_score: np.ndarray, sum_label: np.ndarray, norm: str, debiased: bool) -> float:
    """The calibration error of one stream's bins (see the module docstring for each norm)."""
    count = np.asarray(count, dtype=np.float64)
    n = count.sum()
    if n == 0:
        return float("nan")
    nz = count > 0
    mean_s = np.zeros_like(count)
    mean_y = np.zeros_like(count)
    mean_s[nz] = sum_score[nz] / count[nz]
    mean_y[nz] = sum_label[nz] / count[nz]
    gap = mean_s - mean_y
    w = count / n
    if norm == "max":
        return float(np.max(np.abs(gap[nz])))
    if norm == "l1":
        return float(np.sum(w * np.abs(gap)))
    if debiased:
        ok = count >= 2
        term = np.zeros_like(count)
        term[ok] = gap[ok] ** 2 - mean_y[ok] * (1.0 - mean_y[ok]) / (count[ok] - 1.0)
        return float(np.sqrt(max(float(np.sum(w * term)), 0.0)))
    return float(np.sqrt(np.sum(w * gap**2)))


def binned_error_rows(
    count: np.ndarray, sum_score: np.ndarray, sum_label: np.ndarray, norm: str, debiased: bool
) -> np.ndarray:
    """:func:`binned_error` of each row of (R, B) arrays (bootstrap replicates) at once."""
    count = np.asarray(count, dtype=np.float64)
    n = count.sum(axis=1, keepdims=True)
    nz = count > 0
    safe = np.where(nz, count, 1.0)
    gap = np.where(nz, (sum_score - sum_label) / safe, 0.0)
    w = count / np.where(n > 0, n, 1.0)
    with np.errstate(invalid="ignore"):
        if norm == "max":
            out = np.max(np.where(nz, np.abs(gap), -np.inf), axis=1)
        elif norm == "l1":
            out = np.sum(w * np.abs(gap), axis=1)
        elif debiased:
            ok = count >= 2
            mean_y = sum_label / safe
            term = np.where(ok, gap**2 - mean_y * (1.0 - mean_y) / np.where(ok, count - 1.0, 1.0), 0.0)
            out = np.sqrt(np.maximum(np.sum(w * term, axis=1), 0.0))
        else:
            out = np.sqrt(np.sum(w * gap**2, axis=1))
    return np.where(n[:, 0] > 0, out, np.nan)


def resampled_debiased(
    count: np.ndarray,
    sum_score: np.ndarray,
    sum_label: np.ndarray,
    power: float,
    rng: np.random.Generator,
    resamples: int = 1000,
    strict_bins: bool = False,
) -> float:
    """The normal-resampling bias correction for an lp error (see the module docstring).
    Empty bins carry weight 0 and are left out; ``strict_bins`` raises, as
    uncertainty-calibration does, when any bin (empty ones too) has fewer than 2 samples."""
    count = np.asarray(count, dtype=np.float64)
    if strict_bins and np.min(count) <= 1:
        raise ValueError(
            "every bin must have at least 2 samples for the resampled debiased estimator "
            "(uncertainty-calibration's rule); use debiased=False or fewer bins"
        )
    n = count.sum()
    if n == 0:
        return float("nan")
    nz = count > 0
    c, s, y = count[nz], sum_score[nz] / count[nz], sum_label[nz] / count[nz]
    w = c / n
    plugin = float(np.sum(w * np.abs(s - y) ** power) ** (1.0 / power))
    sigma = np.sqrt(y * (1.0 - y) / c)
    draws = rng.normal(loc=y, scale=sigma, size=(resamples, y.size))
    resampled = np.sum(w * np.abs(draws - s) ** power, axis=1) ** (1.0 / power)
    return 2.0 * plugin - float(np.mean(resampled))


def combine_classes(values: list[float], norm: str) -> float:
    """Class-wise errors combined as (mean e_k^p)^(1/p), or their max for ``norm='max'``."""
    v = np.asarray(values, dtype=np.float64)
    if norm == "max":
        return float(np.max(v))
    if norm == "l2":
        return float(np.sqrt(np.mean(v**2)))
    return float(np.mean(v))
