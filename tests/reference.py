"""Plain reimplementations of calipers' metrics, written from the documented definitions with
nothing but sorting, ``np.searchsorted`` and ``np.bincount`` (no calipers helper is used), so
that an independent computation stands behind every metric (tests/test_references.py).

Conventions (README "Conventions"): bins [e_i, e_{i+1}) with the last bin closed, equal-width
edges i/B, equal-mass bins that end at the end of the run of tied scores holding rank
ceil(j n / B); top-label pairs are (max probability, first argmax == label); marginal
errors combine class-wise as (mean e_k^p)^(1/p) (max for the max norm).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm as normal

LOG_FLOOR = 1e-15


# ------------------------------------------------------------------------------ pairs


def streams(P: np.ndarray, y: np.ndarray, mode: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (score, outcome) streams of an input: 1-D as is, top-label one stream, marginal
    one per class."""
    P = np.asarray(P, np.float64)
    y = np.asarray(y)
    if P.ndim == 1:
        return [(P, y.astype(np.float64))]
    if mode == "top-label":
        return [(P.max(axis=1), (P.argmax(axis=1) == y).astype(np.float64))]
    return [(P[:, k].copy(), (y == k).astype(np.float64)) for k in range(P.shape[1])]


# ------------------------------------------------------------------------------- bins


def width_index(p: np.ndarray, bins: int) -> np.ndarray:
    """Bin of each score: the number of inner edges i/B at or below it."""
    inner = np.array([i / bins for i in range(1, bins)])
    return np.searchsorted(inner, p, side="right")


def mass_cut_values(p: np.ndarray, bins: int) -> np.ndarray:
    """Exact equal-mass cuts by sorting: for j = 1..B-1 the run of ties holding rank
    ceil(j n / B) ends the bin; the cut is the next distinct value (scores >= it go up)."""
    s = np.sort(p)
    n = s.size
    cuts = []
    for j in range(1, bins):
        rank = -(-j * n // bins)  # ceil(j n / B), 1-based
        end = np.searchsorted(s, s[rank - 1], side="right")  # one past the run's last element
        if end < n:
            cuts.append(s[end])
    return np.unique(np.array(cuts, np.float64))


def mass_index(p: np.ndarray, bins: int) -> np.ndarray:
    return np.searchsorted(mass_cut_values(p, bins), p, side="right")


def bin_sums(p: np.ndarray, y: np.ndarray, idx: np.ndarray, nbins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = np.bincount(idx, minlength=nbins).astype(np.float64)
    return count, np.bincount(idx, p, minlength=nbins), np.bincount(idx, y, minlength=nbins)


def error_of_bins(count: np.ndarray, sp: np.ndarray, sy: np.ndarray, norm: str, debiased: bool = False) -> float:
    """One stream's binned error from its per-bin sums."""
    full = count > 0
    n = count.sum()
    c, s, f = count[full], sp[full] / count[full], sy[full] / count[full]
    w = c / n
    if norm == "max":
        return float(np.max(np.abs(s - f)))
    if norm == "l1":
        return float(np.sum(w * np.abs(s - f)))
    if debiased:  # Kumar et al.: bins with >= 2 samples, clipped at 0 once
        two = c >= 2
        total = np.sum(w[two] * ((s[two] - f[two]) ** 2 - f[two] * (1 - f[two]) / (c[two] - 1)))
        return math.sqrt(max(float(total), 0.0))
    return math.sqrt(float(np.sum(w * (s - f) ** 2)))


def combine(values: list[float], norm: str) -> float:
    v = np.array(values)
    if len(v) == 1:
        return float(v[0])
    if norm == "max":
        return float(v.max())
    if norm == "l2":
        return float(np.sqrt(np.mean(v**2)))
    return float(np.mean(v))


def ece(
    P: np.ndarray,
    y: np.ndarray,
    *,
    bins: int = 15,
    binning: str = "width",
    norm: str = "l1",
    debiased: bool = False,
    mode: str = "top-label",
) -> float:
    values = []
    for p, o in streams(P, y, mode):
        idx = width_index(p, bins) if binning == "width" else mass_index(p, bins)
        nb = bins if binning == "width" else int(idx.max()) + 1
        values.append(error_of_bins(*bin_sums(p, o, idx, nb), norm, debiased))
    return combine(values, norm)


# ------------------------------------------------------------------- reliability table


def wilson(k: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    z = normal.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ph = k / n
        center = (ph + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return center - half, center + half


def reliability(
    P: np.ndarray, y: np.ndarray, *, bins: int = 15, binning: str = "width", mode: str = "top-label"
) -> dict[str, np.ndarray]:
    """Per-bin count, mean score, frequency and Wilson 95% interval; marginal mode pools
    the class-wise pairs bin by bin (equal-width only)."""
    total = None
    for p, o in streams(P, y, mode):
        idx = width_index(p, bins) if binning == "width" else mass_index(p, bins)
        nb = bins if binning == "width" else int(idx.max()) + 1
        sums = np.array(bin_sums(p, o, idx, nb))
        total = sums if total is None else total + sums
    count, sp, sy = total
    with np.errstate(invalid="ignore", divide="ignore"):
        lower, upper = wilson(sy, count, 0.95)
        return {"count": count, "mean_score": sp / count, "frequency": sy / count, "lower": lower, "upper": upper}


# ------------------------------------------------------------------------ scoring rules


def brier(P: np.ndarray, y: np.ndarray, mode: str | None = None) -> float:
    P = np.asarray(P, np.float64)
    if P.ndim == 1 or mode in ("top-label", "marginal"):
        return float(np.mean([np.mean((p - o) ** 2) for p, o in streams(P, y, mode or "top-label")]))
    onehot = np.eye(P.shape[1])[y]
    value = float(np.mean(np.sum((P - onehot) ** 2, axis=1)))
    return value / 2 if P.shape[1] == 2 else value


def log_loss(P: np.ndarray, y: np.ndarray, mode: str | None = None) -> float:
    P = np.asarray(P, np.float64)
    if P.ndim == 1 or mode in ("top-label", "marginal"):
        out = []
        for p, o in streams(P, y, mode or "top-label"):
            q = np.where(o == 1, p, 1 - p)
            out.append(np.mean(-np.log(np.maximum(q, LOG_FLOOR))))
        return float(np.mean(out))
    return float(np.mean(-np.log(np.maximum(P[np.arange(len(y)), y], LOG_FLOOR))))


def brier_skill_score(P: np.ndarray, y: np.ndarray, mode: str | None = None) -> float:
    """1 - BS / BS_ref against the in-sample climatology; (n, K) input: summed over the
    classes (the multiclass form), or the (confidence, correct) pairs with mode="top-label"."""
    P = np.asarray(P, np.float64)
    pairs = streams(P, y, "top-label" if mode == "top-label" else "marginal")
    bs = sum(np.mean((p - o) ** 2) for p, o in pairs)
    ref = sum(np.mean(o) * (1 - np.mean(o)) for _, o in pairs)
    return float(1 - bs / ref)


def auroc(P: np.ndarray, y: np.ndarray, mode: str = "top-label") -> float:
    """P(score of a positive > score of a negative) + 1/2 P(tie), counted per positive
    with a binary search among the sorted negatives; marginal: the class mean."""
    out = []
    for p, o in streams(P, y, mode):
        pos, neg = p[o == 1], np.sort(p[o == 0])
        below = np.searchsorted(neg, pos, side="left")
        ties = np.searchsorted(neg, pos, side="right") - below
        out.append((below.sum() + 0.5 * ties.sum()) / (pos.size * neg.size))
    return float(np.mean(out))


def pce(
    P: np.ndarray,
    y: np.ndarray,
    partitions: list[np.ndarray],
    *,
    weights: list[float] | None = None,
    norm: str = "l1",
    mode: str = "top-label",
) -> float:
    """sum_P w_P sum_G (n_G / n) L(mean f_G, mean y_G), class-averaged in marginal mode."""
    w = [1 / len(partitions)] * len(partitions) if weights is None else weights
    total = 0.0
    for wp, groups in zip(w, partitions):
        _, codes = np.unique(np.asarray(groups), return_inverse=True)
        pairs = streams(P, y, mode)
        value = 0.0
        for p, o in pairs:
            count, sp, sy = bin_sums(p, o, codes, int(codes.max()) + 1)
            gap = np.abs(sp - sy) / count
            value += float(np.sum(count / count.sum() * (gap if norm == "l1" else gap * gap)))
        total += wp * value / len(pairs)
    return total


def brier_decomposition(P: np.ndarray, y: np.ndarray, bins: int = 15, mode: str = "top-label") -> tuple[float, ...]:
    """Murphy's reliability, resolution and uncertainty over equal-width bins, class-averaged."""
    rel, res, unc = [], [], []
    for p, o in streams(P, y, mode):
        count, sp, sy = bin_sums(p, o, width_index(p, bins), bins)
        full = count > 0
        n = count.sum()
        f, obs, w = sp[full] / count[full], sy[full] / count[full], count[full] / n
        base = sy.sum() / n
        rel.append(np.sum(w * (f - obs) ** 2))
        res.append(np.sum(w * (obs - base) ** 2))
        unc.append(base * (1 - base))
    return float(np.mean(rel)), float(np.mean(res)), float(np.mean(unc))


# --------------------------------------------------------- the sketch's fine grid, restated


def fine_cell_key(p: np.ndarray) -> np.ndarray:
    """An order-preserving key of the documented fine grid (README): cells uniform in the
    binary exponent and top 6 mantissa bits of t = min(p, 1 - p), down to 2^-32 (smaller t
    share one cell), mirrored above 1/2. Computed with frexp, not with calipers' bit code."""
    low = p <= 0.5
    t = np.where(low, p, 1.0 - p)
    mant, ex = np.frexp(t)  # t = mant 2^ex, mant in [0.5, 1)
    e = ex - 1  # t in [2^e, 2^(e+1))
    sub = np.floor((2 * mant - 1) * 64).astype(np.int64)
    cell = (e + 32) * 64 + sub + 1  # e in [-32, -2]: 1 .. 1984
    cell = np.where(e >= -1, 1984, cell)  # t = 1/2 joins the top cell of [1/4, 1/2)
    cell = np.where(t < 2.0**-32, 0, cell)  # also t = 0
    return np.where(low, cell, 3969 - cell)  # above 1/2: mirrored, ascending in p


def cell_mass_index(p: np.ndarray, bins: int) -> np.ndarray:
    """The sketch's documented equal-mass rule: bin j ends at the end of the cell holding
    rank ceil(j n / B) (whole cells, never split)."""
    key = fine_cell_key(p)
    s = np.sort(key)
    n = s.size
    ends = []
    for j in range(1, bins):
        rank = -(-j * n // bins)
        ends.append(s[rank - 1])  # the cell of that rank: the bin ends after it
    ends = np.unique(np.array(ends))
    ends = ends[ends < s[-1]]  # a boundary after the last non-empty cell closes nothing
    return np.searchsorted(ends, key, side="left")
