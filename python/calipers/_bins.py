"""Per-bin statistics of arrays under each binning convention (the backend does the O(n) work)."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from . import binning as _binning
from ._grid import FIELDS, KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL, PART_COARSE, stream_size, width_edges
from ._validate import Checked

COMPATS = (None, "uncertainty-calibration", "sklearn")
BINNINGS = ("width", "mass")
UC_BINNINGS = ("width", "mass", "discrete", "auto")  # compat="uncertainty-calibration" only


@dataclass(frozen=True)
class BinStats:
    """Bins of one stream: edges (len B+1), count, sum of scores, sum of outcomes."""

    edges: np.ndarray
    count: np.ndarray
    sum_score: np.ndarray
    sum_label: np.ndarray


def decode128(lo: np.ndarray, hi: np.ndarray, scale: float) -> np.ndarray:
    """(hi 2^64 + lo) / scale as float64, rounded the same way on every backend."""
    return hi.astype(np.float64) * (2.0**64 / scale) + lo.astype(np.float64) / scale


def coarse_stats(acc: np.ndarray, bins: int, streams: int) -> list[BinStats]:
    from ._grid import UNIT_SCALE

    edges = width_edges(bins)
    out = []
    for row in acc.reshape(streams, stream_size(bins)):
        cells = row[: bins * FIELDS].reshape(bins, FIELDS)
        out.append(BinStats(edges, cells[:, 0].astype(np.int64), decode128(cells[:, 2], cells[:, 3], UNIT_SCALE),
                            cells[:, 1].astype(np.float64)))
    return out


def stream_pairs(c: Checked, backend: ModuleType) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (score, 0/1 outcome) pairs of each stream, as contiguous arrays."""
    if c.kind == KIND_BINARY:
        return [(c.scores, c.labels)]
    if c.kind == KIND_TOP_LABEL:
        conf, correct = backend.top_label(c.scores, c.labels)
        return [(conf, correct)]
    return [(np.ascontiguousarray(c.scores[:, k]), (c.labels == k).view(np.uint8))
            for k in range(c.scores.shape[1])]


def _edge_stats(backend: ModuleType, p: np.ndarray, y: np.ndarray, cuts: np.ndarray, right_closed: bool,
                nbins: int, edges: np.ndarray) -> BinStats:
    count, sum_x, sum_y = backend.binned_stats_edges(p, y, np.ascontiguousarray(cuts, np.float64),
                                                     right_closed, nbins)
    return BinStats(edges, np.asarray(count, np.int64), np.asarray(sum_x), np.asarray(sum_y))


def array_stats(c: Checked, backend: ModuleType, bins: int, binning: str, compat: str | None) -> list[BinStats]:
    if compat is None and binning == "width":
        streams = c.scores.shape[1] if c.kind == KIND_MARGINAL else 1
        acc = np.zeros(streams * stream_size(bins), np.uint64)
        backend.accumulate(acc, bins, streams, PART_COARSE, c.scores, c.labels, c.kind)
        return coarse_stats(acc, bins, streams)
    out = []
    for p, y in stream_pairs(c, backend):
        if compat is None:  # calipers equal-mass, left-closed
            cuts = _binning.mass_cuts(np.sort(p.astype(np.float64, copy=False)), bins)
            edges = np.concatenate([[0.0], cuts, [1.0]])
            out.append(_edge_stats(backend, p, y, cuts, False, cuts.size + 1, edges))
        elif compat == "uncertainty-calibration":
            if binning == "width":
                upper = _binning.uc_width_bins(bins)
            elif binning == "discrete":
                upper = _binning.uc_discrete_bins(p)
            else:
                upper = _binning.uc_equal_bins(p, bins)
            edges = np.concatenate([[min(0.0, float(np.min(p)))], upper])
            out.append(_edge_stats(backend, p, y, upper, True, upper.size, edges))
        else:  # sklearn calibration_curve
            strategy = "uniform" if binning == "width" else "quantile"
            edges = _binning.sklearn_edges(p, bins, strategy)
            out.append(_edge_stats(backend, p, y, edges[1:-1], True, bins, edges))
    return out
