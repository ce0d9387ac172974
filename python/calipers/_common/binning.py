"""Bin edges under every supported convention.

calipers' own convention (``compat=None``): bins are [e_i, e_{i+1}) with the last bin
closed; equal-width edges are e_i = i/B; equal-mass bins cut the sorted scores at the
first run of tied values ending at or after rank ceil(j n / B), so ties are never split
and the result does not depend on their order (fewer than B bins can come out).
"""

from __future__ import annotations

import numpy as np

from .grid import width_edges

__all__ = ["width_edges", "mass_cuts", "uc_width_bins", "uc_equal_bins", "sklearn_edges"]


def mass_cuts(sorted_scores: np.ndarray, bins: int, sorted_weights: np.ndarray | None = None) -> np.ndarray:
    """Interior cut values for calipers' equal-mass bins (left-closed: x >= cut goes up).

    Bin j ends at the end of the first run of tied scores whose cumulative mass W_run
    satisfies W_run * B >= j * W (exact for integer counts); with ``sorted_weights`` the
    mass is the sample weight."""
    n = sorted_scores.size
    run_ends = np.append(np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1, n)
    if sorted_weights is None:
        cum = run_ends.astype(np.float64)
    else:
        cum = np.cumsum(sorted_weights, dtype=np.float64)[run_ends - 1]
    total = cum[-1]
    targets = np.arange(1, bins, dtype=np.float64) * total
    chosen = np.searchsorted(cum * bins, targets, side="left")
    positions = run_ends[np.minimum(chosen, run_ends.size - 1)]
    positions = np.unique(positions[(positions > 0) & (positions < n)])
    return np.asarray(sorted_scores[positions].astype(np.float64))


def mass_cuts_from_counts(cell_counts: np.ndarray, bins: int) -> np.ndarray:
    """The same rule on a histogram: cut after the first non-empty cell whose cumulative
    count reaches ceil(j n / B). Returns cell indices where new bins start."""
    cum = np.cumsum(cell_counts)
    n = int(cum[-1]) if cum.size else 0
    if n == 0:
        return np.zeros(0, np.int64)
    ends = np.flatnonzero(cell_counts > 0)  # a bin may end after any non-empty cell
    targets = (np.arange(1, bins, dtype=np.int64) * n + bins - 1) // bins
    chosen = ends[np.searchsorted(cum[ends], targets, side="left")]
    starts = np.unique(chosen + 1)
    return np.asarray(starts[(starts < cell_counts.size) & (cum[np.minimum(starts, cum.size - 1) - 1] < n)])


def uc_width_bins(bins: int) -> np.ndarray:
    """uncertainty-calibration ``get_equal_prob_bins``: upper edges i/B, i = 1..B."""
    return np.array([i * 1.0 / bins for i in range(1, bins + 1)])


def uc_equal_bins(scores: np.ndarray, bins: int) -> np.ndarray:
    """uncertainty-calibration ``get_equal_bins``: midpoints between ``np.array_split``
    chunks of the sorted scores, then 1.0, then exact duplicates removed (upper edges,
    right-closed). Computed in float64."""
    s = np.sort(scores.astype(np.float64, copy=False))
    b = min(bins, s.size)
    sizes = np.full(b, s.size // b, dtype=np.int64)
    sizes[: s.size % b] += 1
    ends = np.cumsum(sizes)[:-1]  # first index of each next chunk
    edges = (s[ends - 1] + s[ends]) / 2.0
    return np.unique(np.append(edges, 1.0))


def uc_discrete_bins(scores: np.ndarray) -> np.ndarray:
    """uncertainty-calibration ``get_discrete_bins``: one bin per distinct value, upper edges
    at the midpoints between neighbours, then 1.0 (right-closed)."""
    values = np.unique(scores.astype(np.float64, copy=False))
    return np.append((values[:-1] + values[1:]) / 2.0, 1.0)


def uc_is_discrete(scores: np.ndarray) -> bool:
    """uncertainty-calibration ``is_discrete``: every column has fewer distinct values than
    n / 4 (checked on the whole matrix, whatever the mode)."""
    columns = scores.reshape(len(scores), -1)
    return all(np.unique(columns[:, k]).size < columns.shape[0] / 4.0 for k in range(columns.shape[1]))


def sklearn_edges(scores: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    """``sklearn.calibration.calibration_curve`` edges (B + 1 of them, right-closed)."""
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, bins + 1)
    quantiles = np.linspace(0, 1, bins + 1)
    return np.percentile(scores.astype(np.float64, copy=False), quantiles * 100)
