"""Group-wise calibration on arrays: PCE (Yang et al. 2023) and PIECE (Xiong et al. 2023).
(The streaming form, one sketch per group, is :class:`calipers.GroupedSketch`.)

PCE with the mean statistic: ``sum_P w_P sum_G (n_G / n) L(mean y_G, mean f_G)`` over one
or more partitions P of the rows (weights 1/P unless given), with ``L = |.|`` (``norm="l1"``)
or the squared difference (``"l2"``). 1-D scores are P(y = 1) forecasts, (n, K) scores use
the top-label pair (confidence, correct) or, with ``mode="marginal"``, the class average of
the class-wise discrepancies. Special cases: one group gives ``|mean f - mean y|``; the
equal-width confidence bins give the binned ECE; refining a partition never lowers PCE.

PIECE is PCE over the joint bins (confidence bin, proximity bin): confidence in the same
equal-width bins as :func:`calipers.ece` (so PIECE >= ECE), proximity in quantile bins of
the evaluation set's own proximities as scikit-learn's ``KBinsDiscretizer(strategy=
"quantile")`` makes them (percentile edges, bins narrower than 1e-8 dropped,
``searchsorted(edges[1:-1], x, side="right")``), or in fixed ``prox_edges`` taken from a
calibration set so values are comparable across sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._common.binstats import stream_pairs
from .._common.grid import KIND_MARGINAL, width_edges
from .._common.groups import group_keys
from .._common.validate import DEFAULT_ROW_SUM_ATOL, Checked, check, check_bins, check_choice, reject_masked
from .._kernels import backend as _backend

__all__ = ["pce", "piece", "quantile_edges"]


def discrepancy(f: np.ndarray, y: np.ndarray, norm: str) -> np.ndarray:
    """|f - y| (``norm='l1'``) or its square (``'l2'``), element-wise."""
    gap = np.abs(f - y)
    return np.asarray(gap if norm == "l1" else gap * gap)


def _pce_checked(c: Checked, kernels: Any, partitions: list[np.ndarray], weights: np.ndarray, norm: str) -> float:
    """sum_P w_P sum_G (n_G / n) L(mean f_G, mean y_G), class-averaged in marginal mode;
    with sample weights n_G and the means are weighted (``c.weights``)."""
    if c.kind == KIND_MARGINAL:
        f = c.scores.astype(np.float64, copy=False)
        y = np.zeros_like(f)
        y[np.arange(len(f)), c.labels] = 1.0
    else:
        ((p, outcome),) = stream_pairs(c, kernels)
        f, y = p.astype(np.float64, copy=False)[:, None], outcome.astype(np.float64)[:, None]
    sw = c.weights
    n = float(c.n) if sw is None else float(np.sum(sw[sw > 0]))  # without zeros: dropped rows, bit for bit
    if n <= 0:
        raise ValueError("sample_weight must have at least one positive weight")
    total = 0.0
    for w, codes in zip(weights, partitions):
        count = np.bincount(codes, weights=sw).astype(np.float64)
        live = count > 0
        value = 0.0
        for k in range(f.shape[1]):
            fk = f[:, k] if sw is None else sw * f[:, k]
            yk = y[:, k] if sw is None else sw * y[:, k]
            f_mean = np.bincount(codes, weights=fk)[live] / count[live]
            y_mean = np.bincount(codes, weights=yk)[live] / count[live]
            value += float(np.sum(count[live] / n * discrepancy(f_mean, y_mean, norm)))
        total += w * value / f.shape[1]
    return float(total)


def pce(
    scores: Any,
    labels: Any,
    groups: Any,
    *,
    weights: Sequence[float] | None = None,
    norm: str = "l1",
    mode: str = "top-label",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Partitioned calibration error. ``groups``: one group key per row (strings or
    integers, kept apart by type, none missing: the rule of :class:`calipers.GroupedSketch`,
    see :func:`calipers._common.groups.group_keys`), or a list of such columns (several
    partitions, averaged with ``weights``, default equal). ``sample_weight``: per-row weights (group masses and means
    become weighted; zero-weight rows drop out)."""
    check_choice("norm", norm, ("l1", "l2"))
    kernels = _backend.resolve(backend)
    c = check(scores, labels, kernels, mode=mode, row_sum_atol=row_sum_atol, sample_weight=sample_weight)
    several = isinstance(groups, (list, tuple)) and len(groups) > 0 and np.ndim(groups[0]) == 1
    parts = list(groups) if several else [groups]
    codes = [group_keys(g, c.n, f"groups[{i}]" if several else "groups")[1] for i, g in enumerate(parts)]
    w = np.full(len(codes), 1.0 / len(codes)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(codes),) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be {len(codes)} finite non-negative numbers, got {weights!r}")
    return _pce_checked(c, kernels, codes, w, norm)


def quantile_edges(values: Any, bins: int, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """scikit-learn ``KBinsDiscretizer(strategy="quantile")`` edges: percentiles at
    linspace(0, 100, bins + 1), dropping bins narrower than 1e-8. With ``sample_weight`` the
    percentiles are those of the rows repeated by their weights (numpy's linear rule on
    the expanded, sorted values, without expanding; fractional weights by the same formula)."""
    bins = check_bins(bins)
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("proximity values must be finite and non-empty")
    if sample_weight is None:
        edges = np.asarray(np.percentile(v, np.linspace(0, 100, bins + 1)))
    else:
        keep = sample_weight > 0
        order = np.argsort(v[keep], kind="stable")
        vs, cum = v[keep][order], np.cumsum(sample_weight[keep][order])
        total = cum[-1]
        q = np.linspace(0, 100, bins + 1) / 100.0
        virtual = (total - 1.0) * q  # numpy's linear rule, operation for operation
        lo = np.clip(np.floor(virtual), 0.0, max(total - 1.0, 0.0))
        hi = np.clip(np.floor(virtual) + 1.0, 0.0, max(total - 1.0, 0.0))
        a = vs[np.minimum(np.searchsorted(cum, lo, side="right"), vs.size - 1)]  # expanded index -> row
        b = vs[np.minimum(np.searchsorted(cum, hi, side="right"), vs.size - 1)]
        t = virtual - np.floor(virtual)
        diff = b - a
        edges = np.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)
    keep_edges = np.ediff1d(edges, to_begin=np.inf) > 1e-8
    return edges[keep_edges]


def piece(
    scores: Any,
    labels: Any,
    proximity: Any,
    *,
    conf_bins: int = 15,
    prox_bins: int = 10,
    prox_edges: Any = None,
    mode: str = "top-label",
    row_sum_atol: float = DEFAULT_ROW_SUM_ATOL,
    sample_weight: Any = None,
    backend: str = "auto",
) -> float:
    """Proximity-informed expected calibration error (see the module docstring): the
    repo's experiments use ``conf_bins=15, prox_bins=10``. A constant ``proximity`` (no
    quantile bin wider than 1e-8) is one proximity bin, so PIECE is then the ECE. ``sample_weight`` weights the
    cells and the proximity quantiles (as if rows were repeated)."""
    if mode != "top-label":
        raise ValueError(f"piece bins the top-label confidence: mode must be 'top-label', got {mode!r}")
    conf_bins = check_bins(conf_bins)
    kernels = _backend.resolve(backend)
    c = check(scores, labels, kernels, mode="top-label", row_sum_atol=row_sum_atol, sample_weight=sample_weight)
    reject_masked(proximity, "proximity")
    prox = np.asarray(proximity, np.float64).reshape(-1)
    if prox.size != c.n:
        raise ValueError(f"proximity must have one value per row ({c.n}), got {prox.size}")
    if not np.all(np.isfinite(prox)):
        raise ValueError(f"proximity must be finite (first bad index {int(np.argmax(~np.isfinite(prox)))})")
    edges = quantile_edges(prox, prox_bins, c.weights) if prox_edges is None else np.asarray(prox_edges, np.float64)
    if prox_edges is None and edges.size < 2:  # a constant proximity: one bin (KBinsDiscretizer's rule too)
        edges = np.array([-np.inf, np.inf])
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("prox_edges must be increasing, with at least 2 entries")
    ((p, _),) = stream_pairs(c, kernels)
    conf_bin = np.searchsorted(width_edges(conf_bins)[1:-1], p.astype(np.float64), side="right")
    prox_bin = np.searchsorted(edges[1:-1], prox, side="right")
    joint = conf_bin * (edges.size - 1) + prox_bin
    return _pce_checked(c, kernels, [np.unique(joint, return_inverse=True)[1].reshape(-1)], np.ones(1), "l1")
