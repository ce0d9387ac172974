"""Exact sums of window states over a selection of windows, for every group at once.

The read path needs, per group and overall, the sum of the selected windows' states. The
sums are integers (counts, and 128-bit fixed-point sums carried word to word), so they
are exact in any order and equal to merging the windows' sketches one by one.

* :func:`fold_metric_words`: only the words the metrics read (the equal-width bins and
  the four total words of each stream: ``stream_size(bins, 0)`` words, whatever the grid),
  for every group slot and the overall state;
* :func:`fold_group_rows`: whole group rows (grid cells included, for sketches and the
  smooth ECE);
* :class:`WindowReps` and :class:`RingReps`: the replicates of a selection for any set of
  owners, as a sum over its windows (in window order, as merging sketches adds them) or
  from the ring's running total.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._common.grid import FIELDS
from ..streaming.sketch import _add_state
from .replicates import ReplicateTotals
from .window import Window

__all__ = ["fold_metric_words", "fold_group_rows", "fold_overall", "WindowReps", "RingReps", "metric_width"]


def metric_width(bins: int) -> int:
    """Words per stream that the metrics read: the bins (FIELDS words each), then 4 totals."""
    return bins * FIELDS + 4


def _metric_part(rows: np.ndarray, bins: int) -> np.ndarray:
    """(k, streams, row) states -> (k, streams, metric_width) words (a view without a grid)."""
    if rows.shape[-1] == metric_width(bins):
        return rows
    return np.concatenate([rows[..., : bins * FIELDS], rows[..., -4:]], axis=-1)


def fold_metric_words(
    windows: Sequence[Window], slots: int, bins: int, streams: int, group_words: int
) -> tuple[np.ndarray, np.ndarray]:
    """(groups (slots, streams, width), overall (streams, width)) uint64: the metric words
    summed over ``windows``, exactly (slots beyond a window's capacity add nothing)."""
    width = metric_width(bins)
    groups = np.zeros((slots, streams, width), np.uint64)
    overall = np.zeros((streams, width), np.uint64)
    for win in windows:
        cap = min(win.capacity, slots)
        if cap:
            part = _metric_part(win.group_rows(group_words)[:cap].reshape(cap, streams, -1), bins)
            _add_state(groups[:cap].reshape(-1), np.ascontiguousarray(part).reshape(-1), bins, cap * streams)
        part = _metric_part(win.overall.reshape(1, streams, -1), bins)
        _add_state(overall.reshape(-1), np.ascontiguousarray(part).reshape(-1), bins, streams)
    return groups, overall


def fold_group_rows(windows: Sequence[Window], slots: int, bins: int, streams: int, group_words: int) -> np.ndarray:
    """(slots, group_words) uint64: whole group rows summed over ``windows``, exactly."""
    out = np.zeros((slots, group_words), np.uint64)
    for win in windows:
        cap = min(win.capacity, slots)
        if cap:
            _add_state(out[:cap].reshape(-1), win.groups[: cap * group_words], bins, cap * streams)
    return out


def fold_overall(windows: Sequence[Window], words: int, bins: int, streams: int) -> np.ndarray:
    """The overall state summed over ``windows`` (as merging their sketches gives)."""
    out = np.zeros(words, np.uint64)
    for win in windows:
        _add_state(out, win.overall, bins, streams)
    return out


class WindowReps:
    """Replicates of a selection as the sum over its windows, in window order."""

    def __init__(self, windows: Sequence[Window], replicates: int, units: int) -> None:
        self.windows = [w for w in windows if w.rep_block is not None]
        self.replicates = replicates
        self.units = units

    def gather(self, owners: np.ndarray) -> np.ndarray:
        """(k, 2 bins, R, 2): each owner's replicates summed over the windows (zeros if none)."""
        if len(self.windows) == 1:  # one window: its values as they are (0 + x is x)
            win = self.windows[0]
            assert win.rep_block is not None
            rows = np.fromiter((win.rep_rows.get(int(o), -1) for o in owners.tolist()), np.int64, owners.size)
            if np.all(rows >= 0):
                return win.rep_block[rows]
        out = np.zeros((owners.size, self.units, self.replicates, 2))
        for win in self.windows:
            assert win.rep_block is not None
            rows = np.fromiter((win.rep_rows.get(int(o), -1) for o in owners.tolist()), np.int64, owners.size)
            have = np.flatnonzero(rows >= 0)
            if have.size:
                out[have] += win.rep_block[rows[have]]
        return out


class RingReps:
    """Replicates of the whole ring, or of the ring without some of its windows, from the
    ring's running total (the compensated totals, minus those windows, exactly rounded)."""

    def __init__(self, totals: ReplicateTotals, without: Sequence[Window] = ()) -> None:
        self.totals = totals
        self.without = WindowReps(without, totals.replicates, totals.units)

    def gather(self, owners: np.ndarray) -> np.ndarray:
        """(k, 2 bins, R, 2) totals of the owners over the ring, less the excluded windows."""
        return self.totals.gather(owners, self.without.gather(owners) if self.without.windows else None)
