"""Per-bin statistics (BinStats), decoding of the sketch's fixed-point sums, and the
(score, outcome) pairs of each stream of validated input."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .grid import FIELDS, KIND_BINARY, KIND_TOP_LABEL, stream_size, width_edges
from .validate import Checked


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


def coarse_stats(acc: np.ndarray, bins: int, streams: int, cells: int | None = None) -> list[BinStats]:
    """Equal-width bin statistics of each stream of a state (``cells`` grid cells per
    stream; None: the fine grid)."""
    from .grid import GRID_CELLS, UNIT_SCALE

    edges = width_edges(bins)
    out = []
    for row in acc.reshape(streams, stream_size(bins, GRID_CELLS if cells is None else cells)):
        cells = row[: bins * FIELDS].reshape(bins, FIELDS)
        out.append(
            BinStats(
                edges,
                cells[:, 0].astype(np.int64),
                decode128(cells[:, 2], cells[:, 3], UNIT_SCALE),
                cells[:, 1].astype(np.float64),
            )
        )
    return out


def stream_pairs(c: Checked, backend: ModuleType) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (score, 0/1 outcome) pairs of each stream, as contiguous arrays."""
    if c.kind == KIND_BINARY:
        return [(c.scores, c.labels)]
    if c.kind == KIND_TOP_LABEL:
        conf, correct = backend.top_label(c.scores, c.labels)
        return [(conf, correct)]
    return [(np.ascontiguousarray(c.scores[:, k]), (c.labels == k).view(np.uint8)) for k in range(c.scores.shape[1])]
