"""Per-bin statistics (BinStats), decoding of the sketch's fixed-point sums (with or without
sample weights), the one-pass sums of the one-shot metrics (:func:`fused_sums`), and the
(score, outcome) pairs of each stream of validated input.

Weighted states: every count and sum of a state filled with sample weights carries
``WEIGHT_BITS`` (24) fractional bits (weights are held as round(w 2^24)). A weighted state
that is exactly representable without them (integer weights, or fractional weights whose
sums happen to be whole) is stored without them (:func:`scale_down`): so integer weights give
exactly the bytes of repeated rows, and ``weight_bits`` is 0 or 24.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from .grid import (
    FIELDS,
    KIND_BINARY,
    KIND_MARGINAL,
    KIND_TOP_LABEL,
    LOG_SCALE,
    UNIT_SCALE,
    WEIGHT_BITS,
    stream_size,
    width_edges,
)
from .validate import DEFAULT_ROW_SUM_ATOL, Checked, InputRules, check, check_weight_total, prepare


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


def decode_count(words: np.ndarray, weight_bits: int = 0) -> np.ndarray:
    """Counts (int64) of an unweighted state, or weight sums (float64) of a weighted one."""
    if weight_bits == 0:
        return words.astype(np.int64)
    return words.astype(np.float64) / float(1 << weight_bits)


def coarse_stats(
    acc: np.ndarray, bins: int, streams: int, cells: int | None = None, weight_bits: int = 0, edges: Any = None
) -> list[BinStats]:
    """Bin statistics of each stream of a state (``cells`` grid cells per stream; None: the
    fine grid; ``weight_bits``: 0, or 24 for a weighted state; ``edges``: the bins' edges,
    equal-width by default)."""
    from .grid import GRID_CELLS

    edges = width_edges(bins) if edges is None else edges
    scale = float(1 << weight_bits)
    out = []
    for row in acc.reshape(streams, stream_size(bins, GRID_CELLS if cells is None else cells)):
        part = row[: bins * FIELDS].reshape(bins, FIELDS)
        out.append(
            BinStats(
                edges,
                decode_count(part[:, 0], weight_bits),
                decode128(part[:, 2], part[:, 3], UNIT_SCALE * scale),
                part[:, 1].astype(np.float64) / scale,
            )
        )
    return out


@lru_cache(maxsize=64)
def _field_words(bins: int, streams: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the one-word fields (counts, positives) and of the low words of the
    128-bit sums of a state."""
    size = stream_size(bins, cells)
    starts = np.arange(bins + cells) * FIELDS
    single = np.concatenate([starts, starts + 1])
    low = np.concatenate([starts + 2, (bins + cells) * FIELDS + np.array([0, 2])])
    offsets = np.arange(streams)[:, None] * size
    return (offsets + single[None, :]).ravel(), (offsets + low[None, :]).ravel()


def scale_down(state: np.ndarray, bins: int, streams: int, cells: int) -> tuple[np.ndarray, int]:
    """A weighted state without its 24 fractional bits when every field is a whole multiple
    of 2^24 (then it equals the state of the rows repeated), else unchanged: (state, bits)."""
    single, low = _field_words(bins, streams, cells)
    mask = np.uint64((1 << WEIGHT_BITS) - 1)
    if np.any(state[single] & mask) or np.any(state[low] & mask):
        return state, WEIGHT_BITS
    out = state.copy()
    bits = np.uint64(WEIGHT_BITS)
    out[single] = state[single] >> bits
    out[low] = (state[low] >> bits) | (state[low + 1] << np.uint64(64 - WEIGHT_BITS))
    out[low + 1] = state[low + 1] >> bits
    return out, 0


def scale_up(state: np.ndarray, bins: int, streams: int, cells: int) -> np.ndarray:
    """An unweighted state in the units of a weighted one (every field times 2^24, exact);
    ValueError when a count is too large for 24 more bits (2^40 samples)."""
    single, low = _field_words(bins, streams, cells)
    limit = np.uint64(1 << (64 - WEIGHT_BITS))
    if np.any(state[single] >= limit) or np.any(state[low + 1] >= limit):
        raise ValueError(
            "this state holds more than 2^40 samples: it cannot take fractional sample weights (they need 24 more bits)"
        )
    out = state.copy()
    bits = np.uint64(WEIGHT_BITS)
    out[single] = state[single] << bits
    out[low + 1] = (state[low + 1] << bits) | (state[low] >> np.uint64(64 - WEIGHT_BITS))
    out[low] = state[low] << bits
    return out


@dataclass(frozen=True)
class Sums:
    """The one-pass sums of :func:`fused_sums`: per stream, the bins (count, positives, score
    sum) and the totals (squared errors, log-loss terms), in the layout of a sketch stream
    without a grid."""

    state: np.ndarray
    bins: int
    streams: int
    kind: int
    weight_bits: int

    def stats(self, edges: Any = None) -> list[BinStats]:
        """Per-stream bin statistics."""
        return coarse_stats(self.state, self.bins, self.streams, 0, self.weight_bits, edges)

    def totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Per stream: sum of squared errors, sum of log-loss terms, positives; and n (the
        total weight with sample weights)."""
        rows = self.state.reshape(self.streams, stream_size(self.bins, 0))
        cells = rows[:, : self.bins * FIELDS].reshape(self.streams, self.bins, FIELDS)
        tot = rows[:, self.bins * FIELDS :]
        scale = float(1 << self.weight_bits)
        sq = decode128(tot[:, 0], tot[:, 1], UNIT_SCALE * scale)
        ll = decode128(tot[:, 2], tot[:, 3], LOG_SCALE * scale)
        positives = cells[:, :, 1].sum(axis=1).astype(np.float64) / scale
        count = cells[0, :, 0].sum()
        n = int(count) if self.weight_bits == 0 else float(count) / scale
        return sq, ll, positives, n


def fused_sums(
    scores: Any,
    labels: Any,
    kernels: ModuleType,
    *,
    bins: int,
    parts: int,
    rules: InputRules | None = None,
    checked: Checked | None = None,
    cuts: np.ndarray | None = None,
) -> Sums:
    """Validation, bin index and the asked sums in one pass over the input (the kernel
    ``binned_sums``): the values are checked by the kernel only. When it refuses them, the
    full validation runs once more to word the error exactly as :func:`check` does (raw
    label values and all). ``rules``: the validation options (defaults of :func:`check`);
    ``checked``: input already validated (then it is used as is)."""
    c = checked
    rules = rules if rules is not None else InputRules()
    if c is None:  # with nan_policy="omit" rows are dropped by the values: validate first
        omit = rules.get("nan_policy") == "omit"
        c = check(scores, labels, kernels, **rules) if omit else prepare(scores, labels, **rules)
    # Input validated by the caller keeps its own row-sum rule: only the value checks rerun.
    row_sum_atol = float(rules.get("row_sum_atol", DEFAULT_ROW_SUM_ATOL))
    atol = row_sum_atol if c.kind != KIND_BINARY and checked is None else -1.0
    try:
        state = kernels.binned_sums(c.scores, c.labels, c.weights, bins, c.kind, parts, atol, cuts)
    except ValueError:
        if checked is None:
            check(scores, labels, kernels, **rules)
        raise
    check_weight_total(c.weights)  # the values were valid: now their sum (nothing was kept yet)
    streams = c.scores.shape[1] if c.kind == KIND_MARGINAL else 1
    bits = 0
    if c.weights is not None:
        state, bits = scale_down(np.asarray(state, np.uint64), bins, streams, 0)
    return Sums(np.asarray(state, np.uint64), bins, streams, c.kind, bits)


def stream_pairs(c: Checked, backend: ModuleType) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (score, 0/1 outcome) pairs of each stream, as contiguous arrays."""
    if c.kind == KIND_BINARY:
        return [(c.scores, c.labels)]
    if c.kind == KIND_TOP_LABEL:
        conf, correct = backend.top_label(c.scores, c.labels)
        return [(conf, correct)]
    return [(np.ascontiguousarray(c.scores[:, k]), (c.labels == k).view(np.uint8)) for k in range(c.scores.shape[1])]
