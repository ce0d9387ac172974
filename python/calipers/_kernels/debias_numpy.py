"""Reference (numpy) kernels of downstream debiasing, re-exported by ``numpy_backend``:
exact Gaussian KDE scores, linear binning, cubic Hermite grid scores (Tweedie's correction,
cpp/include/calipers/tweedie.hpp) and the h-calibration loss with its gradient
(cpp/include/calipers/hcalibration.hpp). Plain array code, written for clarity."""

from __future__ import annotations

import numpy as np

KDE_CUTOFF = 60.0  # exponents more than this below the largest are skipped (tweedie.hpp)
HCAL_BINS = 15
HCAL_UNWEIGHTED, HCAL_ACE = 0, 1


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def check_kde_inputs(points: np.ndarray, weights: np.ndarray | None, queries: np.ndarray, h: float) -> None:
    """The checks of tweedie.hpp kde_score, with its messages (shared by numpy and numba)."""
    if points.size == 0:
        raise ValueError("kde_score needs at least one support point")
    if not (1e-150 <= h <= 1e150):  # h * h must be a normal float64 (tweedie.hpp)
        raise ValueError("kde_score: bandwidth must lie in [1e-150, 1e150] (its square a normal float64)")
    bad = ~np.isfinite(points)
    if bad.any():
        raise ValueError(f"kde_score: support points must be finite (first bad index {_first(bad)})")
    unsorted = points[1:] < points[:-1]
    if unsorted.any():
        raise ValueError(f"kde_score: support points must be sorted ascending (first bad index {_first(unsorted) + 1})")
    if weights is not None:
        if weights.shape != points.shape:
            raise ValueError("weights must be 1-D with one value per support point")
        badw = ~((weights > 0.0) & np.isfinite(weights))
        if badw.any():
            raise ValueError(f"kde_score: weights must be positive and finite (first bad index {_first(badw)})")
    badq = ~np.isfinite(queries)
    if badq.any():
        raise ValueError(f"kde_score: queries must be finite (first bad index {_first(badq)})")


def nearest_index(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query's nearest support point (sorted points; ties go right)."""
    n = points.size
    pos = np.searchsorted(points, queries, side="left")
    right = points[np.minimum(pos, n - 1)] - queries
    left = queries - points[np.maximum(pos - 1, 0)]
    go_left = (pos == n) | ((pos > 0) & (left < right))
    return np.where(go_left, pos - 1, pos)


def kde_score(points, weights, queries, h):  # type: ignore[no-untyped-def]
    """tweedie.hpp kde_score: (log sum_i w_i exp(-(q - x_i)^2 / 2h^2), score) per query.

    Exponents are taken relative to the nearest point x_k (d_k = x_k - q, a_i = x_i - x_k):
    d_i^2 - d_k^2 = a_i (a_i + 2 d_k) and score = d_k / h^2 + sum e_i a_i / (h^2 sum e_i), so
    nothing cancels far from the data and the nearest point is always summed."""
    check_kde_inputs(points, weights, queries, h)
    two_h2 = 2.0 * h * h
    near = nearest_index(points, queries)
    xk = points[near]
    dk = xk - queries
    dmin = np.abs(dk)
    reach = np.sqrt(dmin * dmin + KDE_CUTOFF * two_h2)
    lo = np.minimum(near, np.searchsorted(points, queries - reach, side="left"))
    hi = np.maximum(near + 1, np.searchsorted(points, queries + reach, side="right"))
    shift = dmin * dmin / two_h2
    w = np.ones_like(points) if weights is None else weights
    idx = np.arange(points.size)
    log_sum = np.empty(queries.size)
    score = np.empty(queries.size)
    chunk = max(1, (1 << 22) // points.size)
    for start in range(0, queries.size, chunk):
        sl = slice(start, start + chunk)
        a = points[None, :] - xk[sl, None]
        keep = (idx[None, :] >= lo[sl, None]) & (idx[None, :] < hi[sl, None])
        with np.errstate(over="ignore"):
            expo = -(a * (a + 2.0 * dk[sl, None])) / two_h2
        e = np.where(keep, np.exp(np.where(keep, expo, 0.0)) * w[None, :], 0.0)
        den = e.sum(axis=1)
        log_sum[sl] = np.log(den) - shift[sl]
        score[sl] = dk[sl] / (h * h) + (e * a).sum(axis=1) / (den * h * h)
    return log_sum, score


def linear_binning(points, weights, lo, step, cells):  # type: ignore[no-untyped-def]
    """tweedie.hpp linear_binning: each point's weight split between its two nodes."""
    if cells < 2:
        raise ValueError("cells must be >= 2")
    if not (step > 0.0 and np.isfinite(step) and np.isfinite(lo)):
        raise ValueError("linear_binning: step must be positive and finite")
    t = (points - lo) / step
    outside = ~((t >= 0.0) & (t <= float(cells - 1)))
    if outside.any():
        raise ValueError(f"linear_binning: point {_first(outside)} lies outside the grid")
    k = np.minimum(t.astype(np.int64), cells - 2)
    f = t - k
    w = np.ones_like(points) if weights is None else weights
    return np.bincount(k, w * (1.0 - f), minlength=cells) + np.bincount(k + 1, w * f, minlength=cells)


def _hermite(x: np.ndarray, lo: float, step: float, v: np.ndarray, s: np.ndarray) -> np.ndarray:
    cells = v.size
    t = (x - lo) / step
    inside = (t >= 0.0) & (t <= float(cells - 1))
    k = np.minimum(np.where(inside, t, 0.0).astype(np.int64), cells - 2)
    a = np.where(inside, t, 0.0) - k
    b = 1.0 - a
    out = (1.0 + 2.0 * a) * b * b * v[k] + a * b * b * step * s[k] + a * a * (3.0 - 2.0 * a) * v[k + 1]
    out = out + (-a * a * b) * step * s[k + 1]
    return np.where(inside, out, np.nan)


def check_grid_inputs(lo: float, step: float, values: np.ndarray, slopes: np.ndarray, fd_delta: float) -> None:
    """grid_score's argument rules, worded as the C++ binding words them."""
    if values.size < 2:
        raise ValueError("grid_score needs at least 2 grid nodes")
    if values.shape != slopes.shape:
        raise ValueError("values and slopes must have the same length")
    if not (step > 0.0 and np.isfinite(step) and np.isfinite(lo)):
        raise ValueError("grid_score: step must be positive and finite")
    if not (fd_delta >= 0.0 and np.isfinite(fd_delta)):
        raise ValueError("grid_score: fd_delta must be >= 0 and finite")


def grid_score(queries, lo, step, values, slopes, fd_delta):  # type: ignore[no-untyped-def]
    """tweedie.hpp grid_score: cubic Hermite interpolant, or its central difference."""
    check_grid_inputs(lo, step, values, slopes, fd_delta)
    with np.errstate(invalid="ignore"):
        if fd_delta == 0.0:
            return _hermite(queries, lo, step, values, slopes)
        up = _hermite(queries + fd_delta, lo, step, values, slopes)
        down = _hermite(queries - fd_delta, lo, step, values, slopes)
        return (up - down) / (2.0 * fd_delta)


def check_hcal_inputs(probs: np.ndarray, labels: np.ndarray, window: int, weighting: int) -> None:
    """The checks of hcalibration.hpp, with its messages (shared by numpy and numba)."""
    if probs.ndim != 2:
        raise ValueError("probs must be 2-D (n, K)")
    if labels.ndim != 1 or labels.shape[0] != probs.shape[0]:
        raise ValueError("probs and labels must have the same number of rows")
    if window < 0:
        raise ValueError("window must be >= 0")
    n, K = probs.shape
    if n == 0 or K < 2:
        raise ValueError("h-calibration needs n >= 1 rows and K >= 2 classes")
    if window % 2:
        raise ValueError("h-calibration window must be an even number")
    if weighting not in (HCAL_UNWEIGHTED, HCAL_ACE):
        raise ValueError("h-calibration weighting must be 0 (unweighted) or 1 (ace)")
    y = labels.astype(np.int64)
    bad = (y < 0) | (y >= K)
    if bad.any():
        raise ValueError(f"h-calibration labels must lie in [0, K) (first bad index {_first(bad)})")
    badp = ~((probs >= 0.0) & (probs <= 1.0)).reshape(-1)
    if badp.any():
        raise ValueError(f"h-calibration probabilities must lie in [0, 1] (first bad flat index {_first(badp)})")


def ace_edges() -> np.ndarray:
    """The 16 closed-bin edges b * (1/15), the last exactly 1 (hcalibration.hpp)."""
    edges = np.arange(HCAL_BINS + 1) * (1.0 / HCAL_BINS)
    edges[-1] = 1.0
    return edges


def _window_sum(v: np.ndarray, r: int) -> np.ndarray:
    """sum_{|j - t| <= r} v_j for each t (zero outside): the centered part of the full convolution."""
    return np.convolve(v, np.ones(2 * r + 1))[r : r + v.size]


def hcalibration_loss_grad(probs, labels, window, eps, weighting, leave_one_out, scale, want_grad):  # type: ignore[no-untyped-def]
    """hcalibration.hpp: (loss, d loss / d probs) of the h-calibration objective."""
    check_hcal_inputs(probs, labels, window, weighting)
    n, K = probs.shape
    y = labels.astype(np.int64)
    p = probs.reshape(-1)
    o = (np.arange(K)[None, :] == y[:, None]).reshape(-1).astype(np.float64)
    row_label = np.repeat(y, K)
    order = np.argsort(p + 1e-20, kind="stable")
    edges = ace_edges()
    in_bin = (p[:, None] >= edges[None, :-1]) & (p[:, None] <= edges[None, 1:])  # (M, 15)
    r = window // 2
    subsets = K if leave_one_out else 1
    grad = np.zeros(n * K)
    total = 0.0
    for c in range(subsets):
        members = order[row_label[order] != c] if leave_one_out else order
        m = members.size
        if m == 0:
            raise ValueError("h-calibration: a leave-one-class-out subset is empty (every label is the same class)")
        D = _window_sum(p[members] - o[members], r) / (window + 1)
        if weighting == HCAL_ACE:
            bins = in_bin[members]
            omega = (bins / (bins.sum(axis=0) + 1e-5)).sum(axis=1) / HCAL_BINS
        else:
            omega = np.full(m, 1.0 / m)
        excess = np.abs(D) - eps
        active = excess > 0.0
        total += float(np.sum(np.where(active, omega * excess, 0.0)))
        if want_grad:
            g = np.where(active, np.sign(D) * omega, 0.0)
            np.add.at(grad, members, scale / subsets / (window + 1) * _window_sum(g, r))
    loss = scale * total / subsets
    return loss, (grad.reshape(n, K) if want_grad else np.zeros(0))
